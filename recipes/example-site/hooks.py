"""Hooks of the static-site example: readiness means the volume is served; the data
marker is a file in the content volume."""

from __future__ import annotations

import requests

from ccci.config import HookCtx
from ccci.markers import Marker

_MARKER_FILE = "ccci-marker.txt"


def _marker_text(ctx: HookCtx) -> str:
    return f"ccci marker {ctx.stack} {ctx.op}"


def _write_marker(ctx: HookCtx) -> Marker:
    text = _marker_text(ctx)
    written = ctx.exec("app", f"printf '%s\\n' '{text}' > /var/www/html/{_MARKER_FILE}")
    if not written.ok:
        raise RuntimeError(f"could not write the marker: {written.stderr}")
    return Marker.http(f"/{_MARKER_FILE}", text, "marker file in the content volume")


def READY_PROBE(ctx: HookCtx) -> bool:
    """Ready when nginx serves the seeded index page from the content volume."""
    page = requests.get(f"{ctx.base_url}/", timeout=5)
    version = requests.get(f"{ctx.base_url}/version", timeout=5)
    return page.ok and "<h1>example-site" in page.text and version.text.startswith("example-site")


def pre_upgrade(ctx: HookCtx) -> Marker:
    """Write a marker file into the content volume; the site must still serve it."""
    return _write_marker(ctx)


def pre_backup(ctx: HookCtx) -> Marker:
    """Write a marker file the backup must carry."""
    return _write_marker(ctx)


def BACKUP_VERIFY(ctx: HookCtx) -> bool:
    """The snapshot holds the marker file with the text written before the backup."""
    assert ctx.snapshot is not None
    content = ctx.snapshot.read_volume_file("content", _MARKER_FILE).decode()
    return content.strip() == f"ccci marker {ctx.stack} backup"


def pre_restore(ctx: HookCtx) -> None:
    """Delete the marker file, so only the restore can bring it back."""
    removed = ctx.exec("app", f"rm /var/www/html/{_MARKER_FILE}")
    if not removed.ok:
        raise RuntimeError(f"could not remove the marker: {removed.stderr}")
