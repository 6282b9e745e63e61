"""A remote swarm host for the tests: Debian's sshd on a loopback port of its own.

The swarm behind it is this machine's (there is one Docker engine here), but the
controller reaches it the way it reaches a real remote host: over SSH with a key
file made by the test (root login by key only, the host key pinned in a
known_hosts file of the test's own), from an inventory with ``ansible_host``,
``ansible_port``, ``ansible_user`` and ``ansible_ssh_private_key_file``. The tests
run ccci with ``DOCKER_HOST`` naming a socket that does not exist, so anything that
talks to Docker without going through SSH fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

SSHD = "/usr/sbin/sshd"
NO_DOCKER = "unix:///nonexistent/ccci-controller-has-no-docker.sock"


@dataclass
class SshHost:
    """One running sshd and what a controller needs to reach it."""

    name: str
    port: int
    folder: Path
    key_file: Path
    known_hosts: Path
    proc: subprocess.Popen[bytes]

    def hostvars(self, **extra: object) -> dict[str, object]:
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key_file),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts} "
                                       "-o StrictHostKeyChecking=yes",
            # The host's own Python, with the python3-docker the host role installs.
            "ansible_python_interpreter": "/usr/bin/python3",
            **extra,
        }

    def inventory(self, path: Path, **extra: object) -> Path:
        """An inventory whose swarm group is this host alone."""
        path.write_text(yaml.safe_dump(
            {"swarm": {"hosts": {self.name: self.hostvars(**extra)}}}))
        return path

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-p", str(self.port), "-i", str(self.key_file), "-o", "BatchMode=yes",
             "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
             "root@127.0.0.1", command],
            capture_output=True, text=True, timeout=60, check=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True)


def start_ssh_host(folder: Path, name: str = "sshhost") -> SshHost:
    """Start sshd on a free loopback port with keys made here; AssertionError naming
    the cause when it does not come up (scripts/bootstrap installs openssh-server)."""
    assert shutil.which("ssh") and os.path.exists(SSHD), \
        "openssh-server is missing: scripts/bootstrap installs it"
    folder.mkdir(parents=True, exist_ok=True)
    host_key, client_key = folder / "host_ed25519", folder / "client_ed25519"
    _keygen(host_key)
    _keygen(client_key)
    authorized = folder / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text())
    authorized.chmod(0o600)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    for _attempt in range(3):
        port = _free_port()
        config = folder / "sshd_config"
        config.write_text("\n".join([
            "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {host_key}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {authorized}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no",
            # The test's folders are not root-only the way ~/.ssh is.
            "StrictModes no", "AllowTcpForwarding yes", "MaxStartups 100:30:200",
            "MaxSessions 100", "Subsystem sftp internal-sftp", "",
        ]))
        log = (folder / "sshd.log").open("ab")
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        known = folder / "known_hosts"
        public = Path(f"{host_key}.pub").read_text().split()[:2]
        known.write_text(f"[127.0.0.1]:{port} {' '.join(public)}\n")
        host = SshHost(name, port, folder, client_key, known, proc)
        if _answers(host):
            return host
        host.stop()
    raise AssertionError(f"sshd did not come up: {(folder / 'sshd.log').read_text()[-2000:]}")


def _answers(host: SshHost, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and host.proc.poll() is None:
        if host.ssh("true").returncode == 0:
            return True
        time.sleep(0.2)
    return False
