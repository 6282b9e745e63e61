"""The one object every hook receives.

Hooks run on the controller, in ``ccci run`` and in ``ansible-playbook`` alike. The
context is frozen so a hook cannot change what later hooks and checks see, and it
reaches into the app's containers through testinfra, on the local or a remote host.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import testinfra


@dataclass(frozen=True)
class CommandResult:
    """Exit code and output of a command run inside a service's container."""

    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class Snapshot:
    """A restic snapshot of the app's volumes, readable by BACKUP_VERIFY.

    Reads go through restic on the swarm host with the repository's password file;
    the password itself never reaches the controller.
    """

    id: str
    repository: str
    password_file: str
    paths: tuple[str, ...]
    stack: str
    host_spec: str = "local://"
    volumes_root: str = "/var/lib/docker/volumes"

    def volume_path(self, volume: str, path: str = "") -> str:
        """Host path of ``path`` inside the compose volume ``volume``."""
        base = f"{self.volumes_root}/{self.stack}_{volume}/_data"
        return f"{base}/{path.lstrip('/')}" if path else base

    def read(self, path: str) -> bytes:
        """The content of one file in the snapshot (a host path, see volume_path)."""
        host = testinfra.get_host(self.host_spec)
        result = host.run(
            f"RESTIC_PASSWORD_FILE={shlex.quote(self.password_file)} restic --quiet "
            f"-r {shlex.quote(self.repository)} dump {shlex.quote(self.id)} {shlex.quote(path)}"
        )
        if result.rc != 0:
            raise FileNotFoundError(f"{path} in snapshot {self.id}: {result.stderr.strip()}")
        return result.stdout_bytes

    def read_volume_file(self, volume: str, path: str) -> bytes:
        """The content of ``path`` inside compose volume ``volume`` in the snapshot."""
        return self.read(self.volume_path(volume, path))


@dataclass(frozen=True)
class HookCtx:
    """What a hook may know about the live app (never secret values)."""

    domain: str
    base_url: str
    meta: Mapping[str, Any]
    deps: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    op: str = ""
    stack: str = ""
    host_spec: str = "local://"
    snapshot: Snapshot | None = None

    @cached_property
    def host(self) -> testinfra.host.Host:
        """The swarm host, as a testinfra host.

        ``host_spec`` is ``local://``, or for a remote host ``ansible://<host>?...``
        (testinfra's Ansible backend, so the inventory's key file, user, port and
        become apply) or ``ssh://...``: see the collection's ``module_utils.controller``.
        """
        return testinfra.get_host(self.host_spec)

    def container_id(self, service: str) -> str:
        """The id of a running task container of ``service`` (a compose service name)."""
        filters = (
            f"--filter label=com.docker.swarm.service.name={self.stack}_{service} "
            "--filter status=running"
        )
        out = self.host.check_output(f"docker ps --quiet {filters}")
        ids = out.split()
        if not ids:
            raise LookupError(f"no running container for service {service!r} in {self.stack}")
        return ids[0]

    def exec(self, service: str, command: str, *, user: str | None = None) -> CommandResult:
        """Run ``command`` with ``sh -c`` inside ``service``'s running container."""
        as_user = f"--user {shlex.quote(user)} " if user else ""
        cid = self.container_id(service)
        result = self.host.run(
            f"docker exec {as_user}{cid} sh -c {shlex.quote(command)}"
        )
        return CommandResult(result.rc, result.stdout, result.stderr)
