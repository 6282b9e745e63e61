"""A swarm host's run capacity: at most ``ccci_capacity`` runs deploy on it at once.

Scale-out is Drone's job (one runner per swarm host, the runner's capacity the
host's), not a scheduler of ccci's; this is the host's own guard, for runs started by
hand, by two runners sharing a host, or by a runner configured too wide. A slot is a
lease (``ccci.leases``) under the controller's state folder, keyed by the host's
address, held by the run's process: it frees itself when the process dies, SIGKILL
included. When every slot is taken the run waits, saying so, up to the queue timeout,
then fails as an infrastructure failure so the CI retries it later. Slots are shared
by the runs of one controller (its state folder); controllers sharing a host must
split its capacity between them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from ccci import paths
from ccci.errors import Unavailable
from ccci.inventory import SwarmHost
from ccci.leases import Lease, holder_of

DEFAULT_QUEUE_TIMEOUT = 1200  # seconds a run waits for a slot: CCCI_QUEUE_TIMEOUT
POLL = 1.0


class HostFull(Unavailable):
    """Every slot of the host stayed taken for the queue timeout: nothing was deployed."""


def queue_timeout() -> float:
    return float(os.environ.get("CCCI_QUEUE_TIMEOUT") or DEFAULT_QUEUE_TIMEOUT)


def slots_folder(host: SwarmHost) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", host.address)
    return paths.state_root() / "leases" / "hosts" / safe


def holders(host: SwarmHost) -> list[str]:
    """The run ids holding the host's slots now, for messages."""
    found = []
    for number in range(1, host.capacity + 1):
        path = slots_folder(host) / f"slot-{number}.lock"
        if path.exists():
            found.append(str(holder_of(path).get("run_id", "?")))
    return found


def try_slot(host: SwarmHost, run_id: str) -> Lease | None:
    """A free slot of the host for ``run_id``, or None when all are taken."""
    folder = slots_folder(host)
    for number in range(1, host.capacity + 1):
        lease = Lease.take(folder / f"slot-{number}.lock", str(number),
                           {"run_id": run_id, "pid": os.getpid(), "host": host.address})
        if lease is not None:
            return lease
    return None


def take_slot(host: SwarmHost, run_id: str, *, timeout: float | None = None,
              say: Callable[[str], None] = lambda _line: None,
              cancelled: Callable[[], bool] = lambda: False) -> Lease:
    """A slot of ``host``, waiting for one up to ``timeout`` seconds (the queue timeout);
    HostFull when none came free, or when ``cancelled`` says the run was interrupted."""
    limit = queue_timeout() if timeout is None else timeout
    deadline = time.monotonic() + limit
    waited = False
    while True:
        lease = try_slot(host, run_id)
        if lease is not None:
            if waited:
                say(f"host {host.name}: a slot came free, run {run_id} goes on")
            return lease
        if not waited:
            say(f"host {host.name} is full: {host.capacity} run(s) at once (ccci_capacity), "
                f"held by {', '.join(holders(host)) or 'runs finishing'}; waiting up to "
                f"{limit:g} s for a slot (CCCI_QUEUE_TIMEOUT)")
            waited = True
        if cancelled():
            raise HostFull(f"interrupted while waiting for a slot on host {host.name}")
        if time.monotonic() >= deadline:
            raise HostFull(f"host {host.name} stayed full ({host.capacity} run(s) at once, "
                           f"ccci_capacity) for {limit:g} s (CCCI_QUEUE_TIMEOUT): nothing "
                           "was deployed; retry the run later")
        time.sleep(min(POLL, max(deadline - time.monotonic(), 0.05)))
