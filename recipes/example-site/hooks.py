"""Hooks of the static-site example: readiness means the volume is served."""

from __future__ import annotations

import requests

from ccci.config import HookCtx
from ccci.markers import Marker


def READY_PROBE(ctx: HookCtx) -> bool:
    """Ready when nginx serves the seeded index page from the content volume."""
    page = requests.get(f"{ctx.base_url}/", headers={"Host": ctx.domain}, timeout=5)
    version = requests.get(f"{ctx.base_url}/version", headers={"Host": ctx.domain}, timeout=5)
    return page.ok and "<h1>example-site" in page.text and version.text.startswith("example-site")



def pre_upgrade(ctx: HookCtx) -> Marker:
    """Write a marker file into the content volume; the site must still serve it."""
    text = f"ccci marker {ctx.stack} {ctx.op}"
    written = ctx.exec("app", f"printf '%s\\n' '{text}' > /var/www/html/ccci-marker.txt")
    if not written.ok:
        raise RuntimeError(f"could not write the marker: {written.stderr}")
    return Marker.http("/ccci-marker.txt", text, "marker file in the content volume")
