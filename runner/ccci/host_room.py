"""Whether the swarm host has room to deploy a run's two apps at the same time.

A full run deploys two apps (ccci.apps). Side by side they cost hardly more wall time
than one; on a host already carrying other runs' apps, or short of memory, starting
both at once only slows every app's convergence towards its timeout, so the run
deploys them one after the other instead. The count comes from the registry of active
runs (each app is an entry, kept apps too: they still occupy the host); memory is only
known for the local host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ccci import active_runs

APPS_PER_CPU = 2
MIN_FREE_MB = 1024


@dataclass(frozen=True)
class Room:
    """The answer, and the reason when there is no room, for the run's output."""

    both: bool
    reason: str = ""


def capacity() -> int:
    """Apps one host carries at once: ``CCCI_HOST_MAX_APPS``, else two per CPU."""
    configured = os.environ.get("CCCI_HOST_MAX_APPS")
    return int(configured) if configured else APPS_PER_CPU * (os.cpu_count() or 1)


def free_memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The local host's MemAvailable in MiB, None when it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def room_for_both(host: str, *, local: bool) -> Room:
    """Room for the run's two apps together on ``host``, whose entries are registered."""
    apps = sum(1 for run in active_runs.runs() if run.entry.host == host)
    limit = capacity()
    if apps > limit:
        return Room(False, f"{apps} apps registered on {host}, room for {limit} "
                           "(CCCI_HOST_MAX_APPS)")
    needed = int(os.environ.get("CCCI_MIN_FREE_MB") or MIN_FREE_MB)
    free = free_memory_mb() if local else None
    if free is not None and free < needed:
        return Room(False, f"{free} MiB of memory available on {host}, less than "
                           f"{needed} MiB (CCCI_MIN_FREE_MB)")
    return Room(True)
