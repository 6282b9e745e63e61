"""Data markers: what a hook seeds before an upgrade or a backup, checked afterwards.

A marker crosses process boundaries (it is seeded in one playbook run and checked in
another, by ``ccci run`` or by hand), so it is data, not a callable, kept in the run's
``markers.json`` (``ccci.rundir``): either a text an HTTP path must contain, or a
text a command inside a service's container must print. A green tier with lost data
is the worst outcome ccci can have; the check is strict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import requests

from ccci.config.hookctx import HookCtx


@dataclass(frozen=True)
class Marker:
    """Proof that seeded data is still there: ``contains`` must appear in the probe."""

    contains: str
    description: str
    http_path: str | None = None
    service: str | None = None
    command: str | None = None

    @classmethod
    def http(cls, path: str, contains: str, description: str | None = None) -> Marker:
        """The app must serve ``contains`` at ``path``."""
        return cls(contains, description or f"{contains!r} at {path}", http_path=path)

    @classmethod
    def exec(
        cls, service: str, command: str, contains: str, description: str | None = None
    ) -> Marker:
        """``command`` run in ``service``'s container must print ``contains``."""
        return cls(
            contains, description or f"{contains!r} from `{command}` in {service}",
            service=service, command=command,
        )

    def __post_init__(self) -> None:
        if not self.contains:
            raise ValueError("a marker needs a non-empty text to look for")
        if (self.http_path is None) == (self.service is None or self.command is None):
            raise ValueError("a marker is either an HTTP path or a service command")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def probe(self, ctx: HookCtx) -> tuple[bool, str]:
        """Look for the marker in the live app; returns (found, what was seen)."""
        if self.http_path is not None:
            # By the app's name, as a browser: the probe's process resolves it to the
            # host's loopback and trusts the proxy's CA (ccci.hooks.reach_app).
            response = requests.get(f"{ctx.base_url}{self.http_path}", timeout=10)
            seen = f"HTTP {response.status_code}"
            return response.ok and self.contains in response.text, seen
        result = ctx.exec(self.service or "", self.command or "")
        seen = f"exit {result.rc}"
        return result.ok and self.contains in result.stdout, seen
