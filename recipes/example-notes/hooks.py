"""Hooks of the notes example: readiness means a note round-trips through PostgreSQL."""

from __future__ import annotations

import requests

from ccci.config import HookCtx
from ccci.markers import Marker


def _url(ctx: HookCtx, path: str) -> str:
    return f"{ctx.base_url}{path}"


def READY_PROBE(ctx: HookCtx) -> bool:
    """Ready when the app lists notes and the database accepts a query inside its container."""
    notes = requests.get(_url(ctx, "/notes"), headers={"Host": ctx.domain}, timeout=5)
    if not notes.ok or not isinstance(notes.json(), list):
        return False
    db = ctx.exec("db", "runuser -u postgres -- psql -tAc 'select 1' notes")
    return db.ok and db.stdout.strip() == "1"


def pre_install(ctx: HookCtx) -> None:
    """A fresh install must start from empty volumes: refuse leftover data of this stack."""
    leftover = ctx.host.check_output(
        f"docker volume ls --quiet --filter name=^{ctx.stack}_"
    ).split()
    if leftover:
        raise RuntimeError(f"volumes of {ctx.stack} already exist: {leftover}")


def _seed_note(ctx: HookCtx) -> Marker:
    """Add a note through the app; the row must be in PostgreSQL afterwards."""
    text = f"ccci marker {ctx.stack} {ctx.op}"
    response = requests.post(_url(ctx, "/notes"), data=text.encode(),
                             headers={"Host": ctx.domain}, timeout=10)
    response.raise_for_status()
    query = "select body from notes"
    return Marker.exec("db", f"runuser -u postgres -- psql -tA -c '{query}' notes", text,
                       "note row in the notes table")


def pre_upgrade(ctx: HookCtx) -> Marker:
    """Seed a note before upgrading."""
    return _seed_note(ctx)
