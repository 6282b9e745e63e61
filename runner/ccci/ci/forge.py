"""A small client of the Gitea API v1 (which Forgejo serves too): what the bridge and
the answer at the end of a run need, nothing more.

Endpoints (under ``<forge_url>/api/v1``, header ``Authorization: token <token>``):

- ``GET  /repos/{owner}/{repo}/collaborators/{user}/permission``
- ``GET  /repos/{owner}/{repo}/pulls/{index}``
- ``GET  /repos/{owner}/{repo}/issues/{index}/comments``  (not paginated by the API)
- ``POST /repos/{owner}/{repo}/issues/{index}/comments``  ``{"body"}``
- ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``    ``{"body"}``
- ``POST /repos/{owner}/{repo}/statuses/{sha}``           ``{"state", "target_url",
  "description", "context"}``

Every call has a timeout. A failure is a ForgeError naming the method, the endpoint
(without the host) and the HTTP status; the token never appears in it, even when the
server echoes it back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from ccci.ci.http_api import ApiClient, ApiError

# The commit status context of ccci's runs on a recipe's pull requests.
STATUS_CONTEXT = "ccci"
STATUS_STATES = ("pending", "success", "failure", "error", "warning")
# Permissions that may start a run ("owner": what Gitea reports for a repository's owner).
WRITE_PERMISSIONS = ("write", "admin", "owner")


class ForgeError(ApiError):
    """A forge call failed: ``status`` is the HTTP status (None: no answer at all)."""

    SERVICE = "forge"


def _part(value: str | int) -> str:
    return quote(str(value), safe="")


class ForgeClient(ApiClient):
    """Gitea/Forgejo API v1 at ``base_url`` (the forge's root URL) with ``token``."""

    ERROR = ForgeError
    AUTH_SCHEME = "token"
    PREFIX = "/api/v1"
    EMPTY_OK = True

    def _detail(self, response: requests.Response) -> str:
        return _message(response)

    def permission(self, owner: str, repo: str, user: str) -> str:
        """``user``'s access to the repository: none, read, write, admin or owner.

        A user the forge does not know (404) has "none"."""
        endpoint = f"/repos/{_part(owner)}/{_part(repo)}/collaborators/{_part(user)}/permission"
        try:
            data = self._call("GET", endpoint)
        except ForgeError as exc:
            if exc.status == 404:
                return "none"
            raise
        return str((data or {}).get("permission") or "none")

    def pull(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """The pull request: ``state``, ``head`` {``sha``, ``ref``}, ``merged``, ..."""
        data = self._call("GET", f"/repos/{_part(owner)}/{_part(repo)}/pulls/{int(number)}")
        if not isinstance(data, dict):
            raise ForgeError("GET", f"/repos/{owner}/{repo}/pulls/{number}", 200,
                             "the answer is not a pull request")
        return data

    def comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """Every comment of issue or pull request ``number``, oldest first."""
        data = self._call(
            "GET", f"/repos/{_part(owner)}/{_part(repo)}/issues/{int(number)}/comments")
        return [c for c in data or [] if isinstance(c, dict)]

    def create_comment(self, owner: str, repo: str, number: int, body: str) -> dict[str, Any]:
        return self._call(
            "POST", f"/repos/{_part(owner)}/{_part(repo)}/issues/{int(number)}/comments",
            json={"body": body}) or {}

    def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> dict[str, Any]:
        return self._call(
            "PATCH", f"/repos/{_part(owner)}/{_part(repo)}/issues/comments/{int(comment_id)}",
            json={"body": body}) or {}

    def set_status(self, owner: str, repo: str, sha: str, state: str,
                   target_url: str | None = None, description: str = "",
                   context: str = STATUS_CONTEXT) -> dict[str, Any]:
        """Set commit status ``context`` of ``sha`` to ``state`` (one of STATUS_STATES)."""
        if state not in STATUS_STATES:
            raise ValueError(f"commit status state {state!r} is not one of {STATUS_STATES}")
        body = {"state": state, "target_url": target_url or "",
                "description": description[:140], "context": context}
        return self._call(
            "POST", f"/repos/{_part(owner)}/{_part(repo)}/statuses/{_part(sha)}", json=body) or {}


def _message(response: requests.Response) -> str:
    """The forge's own error message (Gitea: ``{"message": ...}``), else the text."""
    try:
        data = response.json()
    except ValueError:
        return response.text or response.reason or ""
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return response.text
