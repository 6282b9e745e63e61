"""The remote swarm host's app port, forwarded to the controller's loopback over SSH.

Hooks, marker probes and the functional tier run on the controller and reach the app
by its names on 127.0.0.1 (``ccci.ingress``). On the local host that is the proxy's
(or the published) port itself; on a remote host nothing listens there, so for the
length of one call an ``ssh -N -L`` forwards a free controller port to the port on
the host's own loopback, and the call is told that port. The SSH command is built from
the options Ansible's ssh connection uses for the host (``SshRoute``), so a forward
goes where every task goes: same address, port, user, key file and ssh arguments.

A fresh connection per call, not Ansible's ControlMaster: a forward asked of a master
stays open as long as the master, after the caller is gone.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ccci.context import load_run
from ccci.errors import CcciError
from ccci.ingress import LOOPBACK, Ingress

CONNECT_TIMEOUT = 15  # seconds for ssh to log in and open the forward
ATTEMPTS = 3  # a free port taken by someone else in between: pick another


class ForwardError(CcciError):
    """The forward could not be opened: the host is unreachable, or refuses the key."""


@dataclass(frozen=True)
class SshRoute:
    """How Ansible's ssh connection reaches the host, enough to open a forward."""

    host: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    # ssh_args, ssh_common_args and ssh_extra_args, in Ansible's order.
    args: tuple[str, ...] = field(default_factory=tuple)
    executable: str = "ssh"
    host_key_checking: bool = True

    @classmethod
    def from_options(cls, options: dict[str, object]) -> SshRoute:
        """From the ssh connection plugin's resolved options (``get_option`` values)."""
        args: list[str] = []
        for name in ("ssh_args", "ssh_common_args", "ssh_extra_args"):
            args += shlex.split(str(options.get(name) or ""))
        port = options.get("port")
        return cls(
            host=str(options["host"]), port=int(str(port)) if port else None,
            user=str(options["remote_user"]) if options.get("remote_user") else None,
            key_file=str(options["private_key_file"]) if options.get("private_key_file") else None,
            args=tuple(args), executable=str(options.get("ssh_executable") or "ssh"),
            host_key_checking=bool(options.get("host_key_checking", True)),
        )

    def command(self, *request: str) -> list[str]:
        """``ssh`` with ``request`` (e.g. ``-N -L …``) and the route's options.

        ssh keeps the first value it reads for an option, so ccci's own come first:
        no ControlMaster (see the module docstring), never a password prompt.
        """
        argv = [self.executable, "-o", "ControlMaster=no", "-o", "ControlPath=none",
                "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
        if not self.host_key_checking:
            argv += ["-o", "StrictHostKeyChecking=no"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.key_file:
            argv += ["-i", self.key_file]
        if self.user:
            argv += ["-l", self.user]
        return [*argv, *request, *self.args, self.host]

    def describe(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port or 22}"


def free_port() -> int:
    """A port nothing listens on at this moment (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


@contextlib.contextmanager
def forward(route: SshRoute, remote_port: int, *, timeout: float = CONNECT_TIMEOUT,
            ) -> Iterator[int]:
    """The controller port that reaches ``remote_port`` on the host's loopback, for the
    block's length; ForwardError with ssh's own words when it cannot be opened."""
    errors: list[str] = []
    for _ in range(ATTEMPTS):
        local = free_port()
        proc = _spawn(route, local, remote_port)
        try:
            if _wait_open(proc, local, timeout):
                yield local
                return
            errors.append(_why(proc, timeout))
        finally:
            _stop(proc)
        if "Address already in use" not in errors[-1]:
            break
    raise ForwardError(f"cannot forward port {remote_port} of {route.describe()} to the "
                       f"controller over SSH: {errors[-1]}")


def _spawn(route: SshRoute, local: int, remote_port: int) -> subprocess.Popen[bytes]:
    request = ("-N", "-o", "ExitOnForwardFailure=yes",
               "-L", f"{LOOPBACK}:{local}:{LOOPBACK}:{remote_port}")
    return subprocess.Popen(route.command(*request), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_open(proc: subprocess.Popen[bytes], local: int, timeout: float) -> bool:
    """Whether ssh opened the forward: it listens, and is still alive (a port taken by
    someone else in between makes it exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if _listening(local):
            time.sleep(0.05)
            return proc.poll() is None
        time.sleep(0.05)
    return False


def _why(proc: subprocess.Popen[bytes], timeout: float) -> str:
    if proc.poll() is None:
        return f"no forward after {timeout:g} s"
    _stop(proc)
    text = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()
             and not ln.startswith("Warning: Permanently added")]
    return "; ".join(lines[-3:]) or f"ssh exited with {proc.returncode}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def to_app(run_dir: Path | str, ssh_options: Mapping[str, object] | None,
           ) -> contextlib.AbstractContextManager[int | None]:
    """The controller port reaching the run's app on a remote host (its ingress port,
    forwarded); None, nothing opened, on the local host (``ssh_options`` None) or for an
    app that serves no HTTP."""
    if ssh_options is None:
        return contextlib.nullcontext(None)
    context = load_run(Path(run_dir))
    if not context.target.get("http_service"):
        return contextlib.nullcontext(None)
    port = Ingress.from_dict(context.host["ingress"]).port
    return forward(SshRoute.from_options(dict(ssh_options)), port)
