"""A small client of the Drone API v1: start a custom build, list the active ones.

Endpoints (under ``<drone_url>``, header ``Authorization: Bearer <token>``):

- ``POST /api/repos/{owner}/{name}/builds?branch=<b>[&commit=<sha>]&<KEY>=<value>...``
  creates a custom build; every query parameter other than ``branch``, ``commit`` and
  ``access_token`` becomes a build parameter (an environment variable of the pipeline).
  The request has no body on purpose: Drone 2.x reads the parameters from the query
  only when the body is empty. Without ``commit``, Drone builds the branch's head.
- ``GET /api/repos/{owner}/{name}/builds?page=1&per_page=100`` lists the latest builds,
  newest first, each with ``number``, ``status`` and ``params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from ccci.ci.config import Secret
from ccci.ci.forge import scrub

TIMEOUT = 15.0
# Statuses of a build that is queued or running: a second one for the same head waits
# behind it for nothing. (blocked: waiting for approval; waiting_on_dependencies: queued.)
ACTIVE_STATUSES = ("pending", "running", "blocked", "waiting_on_dependencies")
RESERVED_PARAMS = ("branch", "commit", "access_token")
LIST_SIZE = 100  # Drone's largest page


class DroneError(Exception):
    """A Drone call failed: ``status`` is the HTTP status (None: no answer at all)."""

    def __init__(self, method: str, endpoint: str, status: int | None, detail: str) -> None:
        self.method, self.endpoint, self.status, self.detail = method, endpoint, status, detail
        super().__init__(f"drone: {method} {endpoint}: " + (
            f"HTTP {status}: {detail}" if status else f"unreachable: {detail}"))


def _slug_path(slug: str) -> str:
    owner, _, name = slug.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"a Drone repository is owner/name, not {slug!r}")
    return f"/api/repos/{quote(owner, safe='')}/{quote(name, safe='')}/builds"


class DroneClient:
    """Drone at ``base_url`` with ``token`` (a user or machine account's API token)."""

    def __init__(self, base_url: str, token: Secret | str, *, timeout: float = TIMEOUT,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token.reveal() if isinstance(token, Secret) else token
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"DroneClient({self.base_url!r})"

    def _call(self, method: str, endpoint: str, query: Mapping[str, str]) -> Any:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            response = self._session.request(
                method, self.base_url + endpoint, params=dict(query), headers=headers,
                timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise DroneError(method, endpoint, None,
                             scrub(f"{type(exc).__name__}: {exc}", self._token)) from None
        if not 200 <= response.status_code < 300:
            detail = response.text or response.reason or ""
            raise DroneError(method, endpoint, response.status_code,
                             scrub(detail, self._token))
        try:
            return response.json()
        except ValueError:
            raise DroneError(method, endpoint, response.status_code,
                             "the answer is not JSON") from None

    def create_build(self, slug: str, branch: str, commit: str | None = None,
                     params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Start a custom build of ``slug`` (owner/name) on ``branch`` (its head, or
        ``commit`` of it) with ``params`` as build parameters; the build as Drone
        returns it (``number``, ``status``, ...)."""
        params = dict(params or {})
        clash = sorted(set(params) & set(RESERVED_PARAMS))
        if clash:
            raise ValueError(f"build parameters may not be named {', '.join(clash)}")
        query = {"branch": branch, **({"commit": commit} if commit else {}), **params}
        build = self._call("POST", _slug_path(slug), query)
        if not isinstance(build, dict) or "number" not in build:
            raise DroneError("POST", _slug_path(slug), 200, "the answer is not a build")
        return build

    def builds(self, slug: str) -> list[dict[str, Any]]:
        """The latest builds of ``slug`` (up to LIST_SIZE), newest first."""
        data = self._call("GET", _slug_path(slug), {"page": "1", "per_page": str(LIST_SIZE)})
        return [b for b in data or [] if isinstance(b, dict)]

    def active_builds(self, slug: str) -> list[dict[str, Any]]:
        """The builds of ``slug`` queued or running (ACTIVE_STATUSES), with ``params``
        (always a dict)."""
        return [{**b, "params": b.get("params") or {}} for b in self.builds(slug)
                if b.get("status") in ACTIVE_STATUSES]
