"""Hooks of the static-site example: readiness means the volume is served."""

from __future__ import annotations

import requests

from ccci.config import HookCtx


def READY_PROBE(ctx: HookCtx) -> bool:
    """Ready when nginx serves the seeded index page from the content volume."""
    page = requests.get(f"{ctx.base_url}/", headers={"Host": ctx.domain}, timeout=5)
    version = requests.get(f"{ctx.base_url}/version", headers={"Host": ctx.domain}, timeout=5)
    return page.ok and "<h1>example-site" in page.text and version.text.startswith("example-site")

