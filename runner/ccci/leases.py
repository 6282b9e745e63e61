"""Leases: a published port or an app domain claimed by one run at a time.

Several ``ccci run`` processes on one CI host plan at the same moment; without a
claim they all pick the first free port and queue on "port already in use". A lease
is a lock file under the controller's state folder, ``flock``ed by the process that
holds it, so it dies with its holder (SIGKILL included) and needs no cleanup to be
free again. A port is also checked against what is really bound, since a kept app or
a killed run's leftovers hold their port after their process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

from ccci import paths
from ccci.errors import BadInput

DEFAULT_PORT_RANGE = (20000, 29999)


class Lease:
    """An exclusive claim, held while its lock file is open; a context manager."""

    def __init__(self, path: Path, fd: int, value: str) -> None:
        self.path = path
        self.fd = fd
        self.value = value

    @classmethod
    def take(cls, path: Path, value: str, holder: dict[str, object]) -> Lease | None:
        """Claim ``path`` for ``holder`` (written into it), or None when someone holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            if _same_file(fd, path):
                break
            os.close(fd)  # released and removed while we opened it: try the new file
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode())
        return cls(path, fd, value)

    def release(self) -> None:
        """Remove the lock file while still holding it, then let go."""
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def holder_of(path: Path) -> dict[str, object]:
    """Who holds (or last held) a lease, for messages; empty when unknown."""
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def is_held(path: Path) -> bool:
    """Whether a live process holds the lock at ``path``; the file is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def port_bound_locally(port: int) -> bool:
    """Whether something on this machine already listens on ``port`` (any address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is free
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def lease_port(
    run_id: str,
    port_range: tuple[int, int] = DEFAULT_PORT_RANGE,
    *,
    in_use: Callable[[int], bool] = port_bound_locally,
    exclude: frozenset[int] = frozenset(),
) -> Lease:
    """The first port of the range nobody leases, uses or reserved (``exclude``)."""
    start, end = port_range
    folder = paths.state_root() / "leases" / "ports"
    for port in range(start, end + 1):
        if port in exclude:
            continue
        lease = Lease.take(folder / f"{port}.lock", str(port), {"run_id": run_id,
                                                                 "pid": os.getpid()})
        if lease is None:
            continue
        if in_use(port):
            lease.release()
            continue
        return lease
    raise BadInput(f"no free port left in {start}-{end}: every one is leased or in use")


def lease_domain(domain: str, run_id: str) -> Lease:
    """The app domain for this run alone; BadInput naming the run that holds it."""
    path = paths.state_root() / "leases" / "domains" / f"{domain}.lock"
    lease = Lease.take(path, domain, {"run_id": run_id, "pid": os.getpid()})
    if lease is None:
        holder = holder_of(path)
        raise BadInput(
            f"domain {domain} is in use by run {holder.get('run_id', '?')} "
            f"(pid {holder.get('pid', '?')}); choose another --domain"
        )
    return lease
