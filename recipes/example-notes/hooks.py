"""Hooks of the notes example: readiness means a note round-trips through PostgreSQL."""

from __future__ import annotations

import requests

from ccci.config import HookCtx
from ccci.markers import Marker


def _url(ctx: HookCtx, path: str) -> str:
    return f"{ctx.base_url}{path}"


def READY_PROBE(ctx: HookCtx) -> bool:
    """Ready when the app lists notes and the database accepts a query inside its container."""
    notes = requests.get(_url(ctx, "/notes"), timeout=5)
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
    response = requests.post(_url(ctx, "/notes"), data=text.encode(), timeout=10)
    response.raise_for_status()
    query = "select body from notes"
    return Marker.exec("db", f"runuser -u postgres -- psql -tA -c '{query}' notes", text,
                       "note row in the notes table")


def pre_upgrade(ctx: HookCtx) -> Marker:
    """Seed a note before upgrading."""
    return _seed_note(ctx)


def pre_backup(ctx: HookCtx) -> Marker:
    """Seed a note the backup must carry."""
    return _seed_note(ctx)


def BACKUP_VERIFY(ctx: HookCtx) -> bool:
    """The dump in the snapshot is complete and holds the note seeded before the backup.

    pg_dump writes its closing comment last, so a dump cut short by a crash or a full
    disk lacks it even when it is not empty.
    """
    assert ctx.snapshot is not None
    dump = ctx.snapshot.read_volume_file("postgres", "backup.sql").decode(errors="replace")
    if "-- PostgreSQL database dump complete" not in dump:
        raise ValueError(f"backup.sql is incomplete ({len(dump)} bytes, no closing line)")
    return f"ccci marker {ctx.stack} backup" in dump


def pre_restore(ctx: HookCtx) -> None:
    """Delete every note, so only the restore can bring the marker back."""
    deleted = ctx.exec("db", "runuser -u postgres -- psql -tA -c 'delete from notes' notes")
    if not deleted.ok:
        raise RuntimeError(f"could not delete the notes: {deleted.stderr}")


def SCREENSHOT(page, ctx: HookCtx) -> None:
    """Show the front page with a note in the list, added through the form."""
    page.get_by_label("New note").fill(f"screenshot of {ctx.domain}")
    with page.expect_navigation():  # the list shown after the form's POST and redirect
        page.get_by_role("button", name="Add").click()
