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

from ccci.ci.http_api import ApiClient, ApiError

# Statuses of a build that is queued or running: a second one for the same head waits
# behind it for nothing. (blocked: waiting for approval; waiting_on_dependencies: queued.)
ACTIVE_STATUSES = ("pending", "running", "blocked", "waiting_on_dependencies")
RESERVED_PARAMS = ("branch", "commit", "access_token")
LIST_SIZE = 100  # Drone's largest page


class DroneError(ApiError):
    """A Drone call failed: ``status`` is the HTTP status (None: no answer at all)."""

    SERVICE = "drone"


def _slug_path(slug: str) -> str:
    owner, _, name = slug.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"a Drone repository is owner/name, not {slug!r}")
    return f"/api/repos/{quote(owner, safe='')}/{quote(name, safe='')}/builds"


class DroneClient(ApiClient):
    """Drone at ``base_url`` with ``token`` (a user or machine account's API token)."""

    ERROR = DroneError
    AUTH_SCHEME = "Bearer"

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
        build = self._call("POST", _slug_path(slug), params=dict(query))
        if not isinstance(build, dict) or "number" not in build:
            raise DroneError("POST", _slug_path(slug), 200, "the answer is not a build")
        return build

    def builds(self, slug: str) -> list[dict[str, Any]]:
        """The latest builds of ``slug`` (up to LIST_SIZE), newest first."""
        data = self._call("GET", _slug_path(slug),
                          params={"page": "1", "per_page": str(LIST_SIZE)})
        return [b for b in data or [] if isinstance(b, dict)]

    def active_builds(self, slug: str) -> list[dict[str, Any]]:
        """The builds of ``slug`` queued or running (ACTIVE_STATUSES), with ``params``
        (always a dict)."""
        return [{**b, "params": b.get("params") or {}} for b in self.builds(slug)
                if b.get("status") in ACTIVE_STATUSES]
