"""A contract stand-in for the Drone API v1.

Drone cannot be installed here, so ccci's Drone client is tested against this small
server, built from Drone's API documentation (and its handlers' behaviour),
implementing exactly the endpoints ccci calls and nothing more:

- ``POST /api/repos/{owner}/{name}/builds?branch=<b>[&commit=<sha>]&<KEY>=<value>...``
  -> 200 the new build ``{id, number, status: "pending", event: "custom", ref,
  target, after, params, ...}``; every query parameter other than ``branch``,
  ``commit`` and ``access_token`` becomes a build parameter. As in Drone 2.x, a request
  with a body loses the query's parameters (they are read only when the body is
  empty). Without ``branch`` the repository's default branch is built; 404 for a
  repository Drone does not know.
- ``GET /api/repos/{owner}/{name}/builds?page=<n>&per_page=<m>`` -> 200 ``[build]``,
  newest first; ``per_page`` outside 1..100 means 25.

Every request needs ``Authorization: Bearer <token>`` (else 401) and is recorded (see
``recording.Recorded``). Builds can be added in any status (``add_build``) and moved
(``set_status``); ``fail`` makes every call answer an error status.
"""

from __future__ import annotations

import re
from typing import Any

from tests.contract.recording import Answer, FakeServer, Recorded, Route

REPO = "/api/repos/([^/]+)/([^/]+)/builds"
RESERVED = ("branch", "commit", "access_token")


class FakeDrone(FakeServer):
    auth_scheme = "Bearer"

    def __init__(self, token: str, repos: tuple[str, ...] = ("coop-cloud/ccci",),
                 default_branch: str = "main") -> None:
        super().__init__(token)
        self.default_branch = default_branch
        self.builds: dict[str, list[dict[str, Any]]] = {slug: [] for slug in repos}
        self._next_id = 40

    # -- set-up

    def add_build(self, slug: str, status: str = "running",
                  params: dict[str, str] | None = None, branch: str = "main",
                  commit: str = "c0ffee" * 6 + "c0ff") -> dict[str, Any]:
        with self.lock:
            builds = self.builds.setdefault(slug, [])
            self._next_id += 1
            build = {"id": self._next_id, "repo_id": 1, "number": len(builds) + 1,
                     "status": status, "event": "custom", "action": "",
                     "trigger": "ccci-bot", "ref": f"refs/heads/{branch}",
                     "source": branch, "target": branch, "before": commit, "after": commit,
                     "params": dict(params or {}), "created": 1_796_000_000,
                     "link": f"https://git.example.org/{slug}/commit/{commit}"}
            builds.append(build)
        return build

    def set_status(self, slug: str, number: int, status: str) -> None:
        with self.lock:
            next(b for b in self.builds[slug] if b["number"] == number)["status"] = status

    def created(self, slug: str = "coop-cloud/ccci") -> list[dict[str, Any]]:
        """The builds created through the API (not set up by the test)."""
        return [b for b in self.builds.get(slug, []) if b.get("created_by_api")]

    # -- the API

    def routes(self) -> list[Route]:
        return [("POST", re.compile(REPO), self._create), ("GET", re.compile(REPO), self._list)]

    def _create(self, req: Recorded, owner: str, name: str) -> Answer:
        slug = f"{owner}/{name}"
        if slug not in self.builds:
            return 404, {"message": "Not Found"}
        params = {} if req.body else {k: v for k, v in req.query.items()
                                       if k not in RESERVED and v}
        branch = req.query.get("branch") or self.default_branch
        build = self.add_build(slug, "pending", params, branch,
                               req.query.get("commit") or "ab" * 20)
        build["created_by_api"] = True
        return 200, {k: v for k, v in build.items() if k != "created_by_api"}

    def _list(self, req: Recorded, owner: str, name: str) -> Answer:
        slug = f"{owner}/{name}"
        if slug not in self.builds:
            return 404, {"message": "Not Found"}
        try:
            page, limit = int(req.query.get("page", 1)), int(req.query.get("per_page", 25))
        except ValueError:
            page, limit = 1, 25
        limit = limit if 1 <= limit <= 100 else 25
        offset = 0 if page <= 1 else (page - 1) * limit
        newest = list(reversed(self.builds[slug]))[offset:offset + limit]
        return 200, [{k: v for k, v in b.items() if k != "created_by_api"} for b in newest]
