"""The registry of active runs on this controller: what the janitor and ``ccci ls`` read.

A run registers before anything deploys and holds a lease on its own entry for as
long as its process lives, so "is this run alive?" is answered by the lock, not by a
pid that may have been reused. A finished run removes its entry after teardown; a
run whose process died (SIGKILL, a lost CI machine) leaves an entry with nobody
holding it, which the janitor reaps. A run kept with ``--keep`` stays registered as
kept: it is nobody's leftover until someone tears it down.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ccci import paths
from ccci.leases import Lease, is_held

DEFAULT_DEADLINE = timedelta(hours=3)


@dataclass
class RunEntry:
    """One registered run."""

    run_id: str
    pid: int
    host: str
    run_dir: str
    started: str
    deadline: str
    stack: str = ""
    domain: str = ""
    port: int | None = None
    kept: bool = False

    def past_deadline(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) > datetime.fromisoformat(self.deadline)


@dataclass
class ActiveRun:
    """A registered run and whether a live process holds it."""

    entry: RunEntry
    alive: bool

    @property
    def state(self) -> str:
        if self.alive:
            return "running"
        return "kept" if self.entry.kept else "dead"


def _folder() -> Path:
    return paths.state_root() / "runs"


def new_entry(run_id: str, host: str, run_dir: str, **facts: object) -> RunEntry:
    """An entry for this process, with the deadline after which it counts as stuck."""
    now = datetime.now(UTC)
    seconds = int(os.environ.get("CCCI_RUN_DEADLINE") or DEFAULT_DEADLINE.total_seconds())
    return RunEntry(run_id=run_id, pid=os.getpid(), host=host, run_dir=run_dir,
                    started=now.isoformat(timespec="seconds"),
                    deadline=(now + timedelta(seconds=seconds)).isoformat(timespec="seconds"),
                    **facts)  # type: ignore[arg-type]


def register(entry: RunEntry) -> Lease:
    """Write the entry and hold its lock; release the returned lease when the run ends."""
    folder = _folder()
    lease = Lease.take(folder / f"{entry.run_id}.lock", entry.run_id, {"pid": entry.pid})
    if lease is None:
        raise RuntimeError(f"run {entry.run_id} is already registered by a live process")
    save(entry)
    return lease


def save(entry: RunEntry) -> None:
    path = _folder() / f"{entry.run_id}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(entry), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def forget(run_id: str) -> None:
    """Remove a run from the registry (its teardown is done, or it was reaped)."""
    for suffix in (".json", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            (_folder() / f"{run_id}{suffix}").unlink()


def runs() -> list[ActiveRun]:
    """Every registered run, oldest first, with whether its process still holds it."""
    names = {f.name for f in fields(RunEntry)}
    found = []
    for path in sorted(_folder().glob("*.json")) if _folder().is_dir() else ():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        entry = RunEntry(**{k: v for k, v in data.items() if k in names})
        found.append(ActiveRun(entry, is_held(_folder() / f"{entry.run_id}.lock")))
    return sorted(found, key=lambda r: r.entry.started)


def reserved_ports() -> frozenset[int]:
    """Ports of registered runs: a kept or dead run's app may still publish its port."""
    return frozenset(r.entry.port for r in runs() if r.entry.port)
