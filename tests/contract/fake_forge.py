"""A contract stand-in for the Gitea API v1 (which Forgejo serves too).

Gitea and Forgejo cannot be installed here, so ccci's forge client is tested against
this small server, built from the API's documentation (the swagger of Gitea's
``/api/v1``), implementing exactly the endpoints ccci calls and nothing more:

- ``GET   /api/v1/repos/{owner}/{repo}/collaborators/{user}/permission``
  -> 200 ``{"permission": "none"|"read"|"write"|"admin"|"owner", "role_name", "user"}``;
  404 for a user the forge does not know
- ``GET   /api/v1/repos/{owner}/{repo}/pulls/{index}``
  -> 200 ``{number, state, merged, head {sha, ref, label}, base {ref}, html_url}``; 404
- ``GET   /api/v1/repos/{owner}/{repo}/issues/{index}/comments`` -> 200 ``[comment]``,
  oldest first, not paginated
- ``POST  /api/v1/repos/{owner}/{repo}/issues/{index}/comments`` ``{"body"}``
  -> 201 comment ``{id, body, user {login}, html_url, created_at, updated_at}``;
  422 without a string body
- ``PATCH /api/v1/repos/{owner}/{repo}/issues/comments/{id}`` ``{"body"}`` -> 200
  comment; 404 for a comment not in the repository; 403 when the token's user is
  neither its poster nor able to write to the repository (Gitea's rule)
- ``POST  /api/v1/repos/{owner}/{repo}/statuses/{sha}``
  ``{"state", "target_url", "description", "context"}`` -> 201 status; 422 for a
  state not in pending, success, error, failure, warning

Every request needs ``Authorization: token <token>`` (else 401) and is recorded (see
``recording.Recorded``). Repositories, permissions, pull requests and comments are set
up by the test; ``fail`` makes every call answer an error status.
"""

from __future__ import annotations

import re
from typing import Any

from tests.contract.recording import Answer, FakeServer, Recorded, Route

API = "/api/v1/repos/([^/]+)/([^/]+)"
STATES = ("pending", "success", "error", "failure", "warning")
WRITERS = ("write", "admin", "owner")


class FakeForge(FakeServer):
    auth_scheme = "token"

    def __init__(self, token: str, bot: str = "ccci-bot", bot_permission: str = "write"):
        super().__init__(token)
        self.bot = bot  # the user the token belongs to
        self.bot_permission = bot_permission
        self.permissions: dict[tuple[str, str], str] = {}  # (repo, user) -> permission
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._next_id = 1000

    # -- set-up

    def set_permission(self, repo: str, user: str, permission: str) -> None:
        self.permissions[(repo.lower(), user.lower())] = permission

    def add_pull(self, repo: str, number: int, sha: str, *, state: str = "open",
                 ref: str = "topic") -> dict[str, Any]:
        pull = {"id": number + 500, "number": number, "state": state,
                "merged": False, "title": f"PR {number}",
                "html_url": f"{self.url}/{repo}/pulls/{number}",
                "head": {"sha": sha, "ref": ref, "label": ref},
                "base": {"ref": "main", "label": "main"}}
        self.pulls[(repo.lower(), number)] = pull
        self.comments.setdefault((repo.lower(), number), [])
        return pull

    def add_comment(self, repo: str, number: int, body: str, user: str) -> dict[str, Any]:
        with self.lock:
            self._next_id += 1
            comment = {"id": self._next_id, "body": body, "user": {"login": user},
                       "html_url": f"{self.url}/{repo}/pulls/{number}#issuecomment-"
                                   f"{self._next_id}",
                       "created_at": "2026-11-28T12:00:00Z", "updated_at": "2026-11-28T12:00:00Z"}
            self.comments.setdefault((repo.lower(), number), []).append(comment)
        return comment

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self.comments.get((repo.lower(), number), [])

    def statuses_of(self, repo: str, sha: str) -> list[dict[str, Any]]:
        return self.statuses.get((repo.lower(), sha), [])

    # -- the API

    def routes(self) -> list[Route]:
        return [
            ("GET", re.compile(API + "/collaborators/([^/]+)/permission"), self._permission),
            ("GET", re.compile(API + r"/pulls/(\d+)"), self._pull),
            ("GET", re.compile(API + r"/issues/(\d+)/comments"), self._list_comments),
            ("POST", re.compile(API + r"/issues/(\d+)/comments"), self._create_comment),
            ("PATCH", re.compile(API + r"/issues/comments/(\d+)"), self._edit_comment),
            ("POST", re.compile(API + "/statuses/([^/]+)"), self._status),
        ]

    def _permission(self, _req: Recorded, owner: str, repo: str, user: str) -> Answer:
        found = self.permissions.get((f"{owner}/{repo}".lower(), user.lower()))
        if found is None:
            return 404, {"message": f"user does not exist [name: {user}]"}
        return 200, {"permission": found, "role_name": found, "user": {"login": user}}

    def _pull(self, _req: Recorded, owner: str, repo: str, number: str) -> Answer:
        pull = self.pulls.get((f"{owner}/{repo}".lower(), int(number)))
        return (200, pull) if pull else (404, {"message": "pull request does not exist"})

    def _issue(self, owner: str, repo: str, number: str) -> list[dict[str, Any]] | None:
        return self.comments.get((f"{owner}/{repo}".lower(), int(number)))

    def _list_comments(self, _req: Recorded, owner: str, repo: str, number: str) -> Answer:
        found = self._issue(owner, repo, number)
        return (200, list(found)) if found is not None else (404, {"message": "not found"})

    def _create_comment(self, req: Recorded, owner: str, repo: str, number: str) -> Answer:
        if self._issue(owner, repo, number) is None:
            return 404, {"message": "issue does not exist"}
        if not isinstance(req.json, dict) or not isinstance(req.json.get("body"), str):
            return 422, {"message": "[Body]: Required"}
        return 201, self.add_comment(f"{owner}/{repo}", int(number), req.json["body"],
                                     self.bot)

    def _edit_comment(self, req: Recorded, owner: str, repo: str, ident: str) -> Answer:
        comment = next((c for (name, _), thread in self.comments.items()
                        if name == f"{owner}/{repo}".lower()
                        for c in thread if c["id"] == int(ident)), None)
        if comment is None:
            return 404, {"message": "comment does not exist"}
        if comment["user"]["login"] != self.bot and self.bot_permission not in WRITERS:
            return 403, None
        if not isinstance(req.json, dict) or not isinstance(req.json.get("body"), str):
            return 422, {"message": "[Body]: Required"}
        comment["body"] = req.json["body"]
        comment["updated_at"] = "2026-11-28T13:00:00Z"
        return 200, comment

    def _status(self, req: Recorded, owner: str, repo: str, sha: str) -> Answer:
        data = req.json if isinstance(req.json, dict) else {}
        if data.get("state") not in STATES:
            return 422, {"message": f"invalid state {data.get('state')!r}"}
        status = {"id": len(self.statuses) + 1, "state": data["state"],
                  "target_url": data.get("target_url", ""),
                  "description": data.get("description", ""),
                  "context": data.get("context", "default")}
        self.statuses.setdefault((f"{owner}/{repo}".lower(), sha), []).append(status)
        return 201, status
