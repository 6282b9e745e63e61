"""The record of a run's backups: every attempt, its snapshot and why it failed.

A backup is only trusted once verified; each failed verification reruns the whole
backup, pre-hooks included. The record is what results.json reports and what the
restore stage reads to find the snapshot to restore.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BACKUPS_FILE = "backups.json"


def load_backups(run_dir: Path) -> list[dict[str, Any]]:
    """Every backup of the run, oldest first."""
    path = run_dir / BACKUPS_FILE
    return json.loads(path.read_text())["backups"] if path.is_file() else []


def record_backup(run_dir: Path, backup: dict[str, Any]) -> None:
    """Append one backup (with all its attempts) to the run's record."""
    backups = [*load_backups(run_dir), backup]
    (run_dir / BACKUPS_FILE).write_text(
        json.dumps({"backups": backups}, indent=2, sort_keys=True) + "\n"
    )


def last_good_snapshot(run_dir: Path) -> str | None:
    """The snapshot of the newest verified backup, the one a restore uses."""
    for backup in reversed(load_backups(run_dir)):
        if backup.get("ok"):
            return backup["snapshot_id"]
    return None
