# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker and restic calls shared by the backupbot_backup and backupbot_restore modules.

Runs on the swarm host. The pure label logic lives in ``backupbot``; this module is
the part that talks to the Docker API and runs restic.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils import labels
from ansible_collections.ccci.recipe.plugins.module_utils.backupbot import (
    DEFAULT_VOLUMES_ROOT,
    HookedOutcome,
    HookRun,
    HookRunner,
    Plan,
    PlanError,
    ServicePlan,
    elapsed,
    plan_stack,
    restic_env,
    tail,
)
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import (
    DOCKER_ARGS,
    APIError,
    DockerException,
    connect,
)

OUTPUT_LINES = 20
T = TypeVar("T")


class Swarm:
    """The Docker API calls of the backupbot modules: services, task containers, exec."""

    def __init__(self, docker_host: str | None, timeout: int) -> None:
        # Reads of a hook's output must not time out before the hook does.
        self.api = connect(docker_host, timeout).api

    def services(self, stack: str) -> list[dict[str, Any]]:
        return self.api.services(filters={"label": labels.selector(labels.STACK_NAMESPACE, stack)})

    def containers(
        self, services: list[ServicePlan]
    ) -> tuple[dict[str, tuple[str, str]], list[str]]:
        """The running task container (id, name) of each service on this node, and errors."""
        node = (self.api.info().get("Swarm") or {}).get("NodeID")
        found: dict[str, tuple[str, str]] = {}
        errors: list[str] = []
        for service in services:
            tasks = self.api.tasks(filters={"service": service.id or service.name})
            candidates = sorted(
                (
                    t
                    for t in tasks
                    if t.get("DesiredState") == "running"
                    and t["Status"]["State"] == "running"
                    and t.get("NodeID") == node
                ),
                key=lambda t: t.get("Slot") or 0,
            )
            for task in candidates:
                cid = ((task["Status"].get("ContainerStatus") or {}).get("ContainerID")) or ""
                if not cid:
                    continue
                try:
                    info = self.api.inspect_container(cid)
                except APIError:
                    continue
                if (info.get("State") or {}).get("Running"):
                    found[service.name] = (cid, info["Name"].lstrip("/"))
                    break
            if service.name not in found:
                latest = sorted(tasks, key=lambda t: t.get("UpdatedAt") or "", reverse=True)[:3]
                seen = "; ".join(
                    f"{t['Status']['State']} (desired {t.get('DesiredState')})"
                    + (f": {t['Status']['Err']}" if t["Status"].get("Err") else "")
                    for t in latest
                )
                errors.append(
                    f"service {service.name} has no running task container on this node "
                    f"(latest tasks: {seen or 'none'})"
                )
        return found, errors

    def exec(
        self, container: str, command: str, timeout: int
    ) -> tuple[int | None, bytes, str | None]:
        """Run ``sh -c command`` in ``container``: (exit code, output, error).

        The hook's stderr goes to its stdout: Docker copies the two streams of an exec
        concurrently, so reading them apart loses the order of the lines.
        """
        argv = ["sh", "-c", f"exec 2>&1\n{command}"]
        exec_id = self.api.exec_create(container, argv, stdout=True, stderr=True)["Id"]
        box: dict[str, Any] = {}

        def start() -> None:
            try:
                box["output"] = self.api.exec_start(exec_id, stream=False, demux=False)
            except (APIError, DockerException, OSError) as exc:
                box["error"] = f"reading its output failed: {exc}"

        reader = threading.Thread(target=start, daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            stopped = self._kill(exec_id, container)
            reader.join(5)
            return None, box.get("output") or b"", f"timed out after {timeout}s; {stopped}"
        if "error" in box:
            return None, b"", box["error"]
        rc = self.api.exec_inspect(exec_id).get("ExitCode")
        return rc, box.get("output") or b"", None

    def _kill(self, exec_id: str, container: str) -> str:
        """Kill a hook's process and its descendants when they are visible from here."""
        try:
            pid = int(self.api.exec_inspect(exec_id).get("Pid") or 0)
            init = int(self.api.inspect_container(container)["State"]["Pid"] or 0)
            same_ns = os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
        except (APIError, DockerException, OSError, ValueError, KeyError):
            return "it may still be running in the container (its process is not visible here)"
        if not pid or not same_ns:
            return "it may still be running in the container (its process is not visible here)"
        victims = [pid, *_descendants(pid)]
        for victim in victims:
            with contextlib.suppress(OSError):
                os.kill(victim, signal.SIGKILL)
        return f"killed it ({len(victims)} process(es))"


def _descendants(pid: int) -> list[int]:
    """Host pids of the processes below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    result: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        result.append(child)
        todo.extend(children.get(child, []))
    return result


class Restic:
    """restic against one repository, the password passed by file."""

    def __init__(self, binary: str, repository: str, password_file: str) -> None:
        self.binary = binary
        self.repository = repository
        self.env = restic_env(os.environ, password_file)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "--repo", self.repository, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def stream(
        self, consume: Callable[[IO[bytes]], T], *args: str
    ) -> tuple[T | None, str | None]:
        """Run restic with its stdout handed to ``consume``: (what it returned, error).

        For output too big to hold (``restic dump`` of a volume). stderr goes to a
        temporary file so a chatty restic cannot block on a full pipe; what ``consume``
        leaves unread is drained, so restic never dies of a broken pipe.
        """
        argv = [self.binary, "--repo", self.repository, *args]
        with tempfile.TemporaryFile() as errors, subprocess.Popen(
            argv, env=self.env, stdout=subprocess.PIPE, stderr=errors
        ) as proc:
            assert proc.stdout is not None
            value: T | None = None
            failure = None
            try:
                value = consume(proc.stdout)
            except (OSError, ValueError, tarfile.TarError) as exc:
                failure = f"reading its output failed: {exc}"
            for _ in iter(lambda: proc.stdout.read(1024 * 1024), b""):
                pass
            rc = proc.wait()
            errors.seek(0)
            stderr = errors.read().decode("utf-8", errors="replace")
        if rc != 0:
            done = subprocess.CompletedProcess(argv, rc, "", stderr)
            return None, self.error(done, f"restic {args[0]}")
        return (None, f"restic {args[0]}: {failure}") if failure else (value, None)

    @staticmethod
    def error(proc: subprocess.CompletedProcess[str], what: str) -> str:
        lines = tail(proc.stderr, OUTPUT_LINES) or tail(proc.stdout, OUTPUT_LINES)
        text = f"{what} failed (exit code {proc.returncode})"
        return text + (":\n" + "\n".join(f"  {ln}" for ln in lines) if lines else "")


def repository_state(repository: str) -> str:
    """C(ready), C(absent) or C(foreign) (a non-empty folder without a restic config)."""
    path = Path(repository)
    if (path / "config").is_file():
        return "ready"
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        return "foreign"
    return "absent"


def service_entries(
    plan: Plan,
    containers: dict[str, tuple[str, str]],
    hooks: HookedOutcome | None,
    phase: str,
) -> list[dict[str, Any]]:
    """The ``services`` result entries: each service, its container and its ``phase`` hooks."""
    entries = []
    for service in plan.services:
        entry: dict[str, Any] = {
            "name": service.name,
            "container": containers.get(service.name, ("", ""))[1],
            "volumes": service.volumes,
            "excluded": service.excluded,
        }
        for when in ("pre", "post"):
            if hooks is not None:
                entry[f"{when}_hook"] = hooks.hook_dict(service, phase, when)
            else:
                command = service.hook(phase, when)
                entry[f"{when}_hook"] = (
                    None
                    if command is None
                    else HookRun(service.name, labels.HOOKS[(phase, when)], command).as_dict()
                )
        entries.append(entry)
    return entries


def hook_runner(swarm: Swarm, containers: dict[str, tuple[str, str]], timeout: int) -> HookRunner:
    """Runs a service's hook in its task container, as a HookRun."""

    def run_hook(service: ServicePlan, label: str, command: str) -> HookRun:
        cid, cname = containers[service.name]
        hook_started = time.monotonic()
        try:
            rc, output, error = swarm.exec(cid, command, timeout)
        except (APIError, DockerException) as exc:
            rc, output, error = None, b"", f"could not run it in container {cname}: {exc}"
        return HookRun(
            service.name,
            label,
            command,
            cname,
            rc,
            tail(output, OUTPUT_LINES),
            time.monotonic() - hook_started,
            error,
        )

    return run_hook


# Options both backupbot modules take (documented in doc_fragments/backupbot.py and,
# for the connection, doc_fragments/docker.py).
COMMON_ARGS: dict[str, dict[str, Any]] = {
    "stack": {"type": "str", "required": True},
    "repository": {"type": "path", "required": True},
    "password_file": {"type": "path", "required": True, "no_log": False},
    "volumes_root": {"type": "path", "default": DEFAULT_VOLUMES_ROOT},
    "hook_timeout": {"type": "int", "default": 300},
    **DOCKER_ARGS,
}


def common_problem(params: dict[str, Any], password_pending: bool = False) -> str | None:
    """What is wrong with the common options before anything runs, if anything.

    ``password_pending``: the password file does not exist yet and is not needed to
    exist (check mode of a backup that would create it).
    """
    if not params["stack"].strip():
        return "stack must not be empty"
    if params["hook_timeout"] <= 0:
        return "hook_timeout must be positive"
    password_file = params["password_file"]
    if password_pending:
        return None
    if not (os.path.isfile(password_file) and os.access(password_file, os.R_OK)):
        return f"password_file {password_file} does not exist or is not a readable file"
    return None


def plan_with_containers(
    params: dict[str, Any], op: str, warn: Any
) -> tuple[Swarm, Plan, dict[str, tuple[str, str]], list[str]]:
    """Swarm client, the label plan, each labelled service's container, and errors.

    Raises PlanError for bad labels and ``RuntimeError`` naming ``op`` for Docker errors.
    """
    try:
        swarm = Swarm(params["docker_host"], params["hook_timeout"] + 60)
        plan = plan_stack(swarm.services(params["stack"]), params["stack"], params["volumes_root"])
        for warning in plan.warnings:
            warn(warning)
        containers, errors = swarm.containers(plan.services)
    except (APIError, DockerException) as exc:
        raise RuntimeError(
            f"Docker API error while planning the {op} of stack {params['stack']}: {exc}"
        ) from exc
    return swarm, plan, containers, errors


class ModuleRun:
    """One call of a backupbot module: its result, how it ends, and what both share."""

    def __init__(self, module: AnsibleModule, result: dict[str, Any]) -> None:
        self.module = module
        self.params: dict[str, Any] = module.params
        self.started = time.monotonic()
        self.result = result

    def finish(self, failed_msg: str | None = None) -> NoReturn:
        """Exit (or fail with ``failed_msg``) with the result and the time taken."""
        self.result["duration"] = elapsed(self.started)
        if failed_msg:
            self.module.fail_json(msg=failed_msg, **self.result)
        self.module.exit_json(**self.result)

    def plan(self, op: str) -> tuple[Swarm, Plan, dict[str, tuple[str, str]]]:
        """Plan ``op`` (backup/restore) from the labels; fail unless every service has a
        running task container on this node."""
        try:
            swarm, plan, containers, errors = plan_with_containers(
                self.params, op, self.module.warn
            )
        except (PlanError, RuntimeError) as exc:
            self.finish(str(exc))
        self.result["services"] = service_entries(plan, containers, None, op)
        if errors:
            self.finish("\n".join(errors))
        return swarm, plan, containers

    def restic(self) -> Restic:
        """restic on the target against the module's repository."""
        binary = self.module.get_bin_path("restic", required=True)
        return Restic(binary, self.params["repository"], self.params["password_file"])
