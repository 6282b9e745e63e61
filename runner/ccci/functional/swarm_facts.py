"""What the swarm says about a stack, asked through the Docker CLI on the swarm host.

The generic checks (``ccci.functional.generic``) judge plain data; this module fetches
it. Every command goes through a testinfra host (``HookCtx.host``), so the same code
works on the local host and, later, over SSH or Ansible on a remote one.

Docker's answers can hold a leaked secret (a service's environment, its logs), and
testinfra logs every command's output at debug level: each query here runs with the
``testinfra`` logger silenced, and errors quote Docker's stderr only for commands whose
stderr cannot carry the app's own output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from testinfra.backend.base import CommandResult
from testinfra.host import Host

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_LABEL = "com.docker.swarm.service.name"
# Longest piece of Docker's stderr an error message quotes.
STDERR_QUOTE = 300


class DockerQueryError(RuntimeError):
    """A Docker CLI query on the swarm host failed; the message says which and why."""


@dataclass(frozen=True)
class LiveService:
    """One service of the stack as the swarm runs it now."""

    id: str
    name: str  # the compose service name, e.g. ``app``
    full_name: str  # the swarm service name, ``<stack>_app``
    mode: str  # as ``docker service ls`` prints it: replicated, global, replicated job...
    replicas: str  # as ``docker service ls`` prints it: ``1/1``, ``1/2 (max 1 per node)``
    spec: dict[str, Any] = field(default_factory=dict)
    update_status: dict[str, Any] = field(default_factory=dict)

    @property
    def container_spec(self) -> dict[str, Any]:
        return (self.spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}

    @property
    def is_global(self) -> bool:
        return "Global" in (self.spec.get("Mode") or {}) or self.mode.startswith("global")

    @property
    def is_job(self) -> bool:
        return self.mode.endswith("job")


@contextlib.contextmanager
def _silent_testinfra() -> Iterator[None]:
    """testinfra logs whole command results (stdout included) at debug level."""
    logger = logging.getLogger("testinfra")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def docker(host: Host, *args: str, check: bool = True, quote_stderr: bool = True
           ) -> CommandResult:
    """Run ``docker <args>`` on the host; DockerQueryError when it fails and ``check``.

    ``quote_stderr=False`` for commands whose stderr is the app's (logs, exec).
    """
    command = "docker " + " ".join(shlex.quote(a) for a in args)
    with _silent_testinfra():
        result = host.run(command)
    if check and result.rc != 0:
        raise DockerQueryError(f"`docker {' '.join(args[:2])} …` failed: "
                               + (_stderr(result) if quote_stderr else f"exit code {result.rc}"))
    return result


def _stderr(result: CommandResult) -> str:
    text = " ".join(result.stderr.split())
    return (text[:STDERR_QUOTE] + "…" if len(text) > STDERR_QUOTE else text) or (
        f"exit code {result.rc}")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Docker's ``--format '{{json .}}'`` output: one object a line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def inspect(host: Host, kind: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """``docker inspect --type <kind>`` of ``ids``; objects that vanished meanwhile (a
    task the reaper removed) are left out rather than failing the whole query."""
    if not ids:
        return []
    result = docker(host, "inspect", "--type", kind, *ids, check=False)
    try:
        found = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        found = None
    if not isinstance(found, list) or (result.rc != 0 and not found):
        raise DockerQueryError(f"`docker inspect --type {kind}` failed: {_stderr(result)}")
    return found


def stack_services(host: Host, stack: str) -> list[LiveService]:
    """Every service of ``stack``, with its spec, update status and replica summary."""
    listed = json_lines(docker(host, "service", "ls", "--filter", f"label={STACK_LABEL}={stack}",
                               "--format", "{{json .}}").stdout)
    specs = {s["Spec"]["Name"]: s for s in inspect(host, "service", [s["Name"] for s in listed])}
    services = []
    for row in listed:
        full = row["Name"]
        raw = specs.get(full)
        if raw is None:  # removed between the two queries
            continue
        services.append(LiveService(
            id=raw["ID"], name=full.removeprefix(f"{stack}_"), full_name=full,
            mode=str(row.get("Mode", "")), replicas=str(row.get("Replicas", "")),
            spec=raw.get("Spec") or {}, update_status=raw.get("UpdateStatus") or {},
        ))
    return sorted(services, key=lambda s: s.name)


def service_tasks(host: Host, services: Sequence[LiveService]) -> list[dict[str, Any]]:
    """Every task swarm still remembers for ``services`` (``docker inspect`` records:
    CreatedAt, Slot, NodeID, DesiredState, Status with Timestamp, Err and exit code)."""
    if not services:
        return []
    ids = docker(host, "service", "ps", "--quiet", "--no-trunc",
                 *[s.full_name for s in services]).stdout.split()
    return inspect(host, "task", sorted(set(ids)))


def pending_tasks(host: Host, service: LiveService) -> list[dict[str, Any]]:
    """Tasks meant to run that are not running, as ``docker service ps`` words them."""
    rows = json_lines(docker(host, "service", "ps", "--no-trunc", "--filter",
                             "desired-state=running", "--format", "{{json .}}",
                             service.full_name).stdout)
    return [r for r in rows if not str(r.get("CurrentState", "")).startswith("Running")]


def running_containers(host: Host, service: LiveService) -> list[str]:
    """Ids of the service's running task containers on this host."""
    return docker(host, "ps", "--quiet", "--no-trunc", "--filter",
                  f"label={SERVICE_LABEL}={service.full_name}",
                  "--filter", "status=running").stdout.split()


def service_logs(host: Host, service: LiveService, tail: int) -> bytes:
    """The last ``tail`` log lines of each of the service's tasks, stdout and stderr.

    DockerQueryError without Docker's stderr: it is the app's stderr stream.
    """
    result = docker(host, "service", "logs", "--no-trunc", "--tail", str(tail),
                    service.full_name, check=False)
    if result.rc != 0:
        raise DockerQueryError(f"`docker service logs {service.name}` failed with exit code "
                               f"{result.rc}")
    return result.stdout_bytes + b"\n" + result.stderr_bytes


def read_container_file(host: Host, container: str, path: str) -> bytes:
    """A file as the container sees it: ``cat`` inside it, else (an image without
    ``cat``) through ``/proc/<pid>/root`` on the host, which needs root there.

    ``docker cp`` is no fallback: for a secret it copies the empty mount point, not the
    tmpfs file mounted over it (measured with Docker 20.10).
    """
    inside = docker(host, "exec", container, "cat", "--", path, check=False)
    if inside.rc == 0:
        return inside.stdout_bytes
    pid = docker(host, "inspect", "--type", "container", "--format", "{{.State.Pid}}",
                 container).stdout.strip()
    seen_from_host = f"/proc/{pid}/root/{path.lstrip('/')}"
    with _silent_testinfra():
        outside = host.run(f"cat -- {shlex.quote(seen_from_host)}")
    if outside.rc == 0:
        return outside.stdout_bytes
    raise DockerQueryError(
        f"cat {path} in container {container[:12]} failed (exit code {inside.rc}), and "
        f"through /proc/{pid}/root on the host too: {_stderr(outside)}")
