"""Generic checks: what ccci proves about every recipe's live app in the functional tier.

ccci loads this file by path into the functional pytest session, next to the recipe's
own tests; it lives outside ``tests/`` so the project's own test runs never collect it.
The fixtures (``app``, ``run_context``, ``run_dir``, ``http``) come from ccci's plugin.

Each check is a plain function taking explicit arguments and returning the problems it
found, one sentence each, so it can be called without pytest; the ``test_*`` functions
at the end are thin wrappers. Each check has a stable name a recipe can declare not
applicable in its CI config (``EXPECTED_NA: {name: reason}``): converged, stable_tasks,
health, version_label, secrets_hidden.

No secret value ever leaves ``SecretValue``: it is compared in memory, and problems say
where a value appeared, never what it is.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from testinfra.host import Host

from ccci.config import HookCtx, RecipeConfig
from ccci.config.registry import GENERIC_CHECKS
from ccci.context import RunContext
from ccci.functional.swarm_facts import (
    DockerQueryError,
    LiveService,
    pending_tasks,
    read_container_file,
    running_containers,
    service_logs,
    service_tasks,
    stack_services,
)
from ccci.rundir import DeployEntry, RunDir

CHECKS = GENERIC_CHECKS  # the EXPECTED_NA names, one test_<name> each
# Secret values shorter than this are not searched: they match by chance too easily.
MIN_SECRET_LENGTH = 8
LOG_TAIL = 5000
MAX_FILE_BYTES = 20 * 1024 * 1024
HEALTH_TIMEOUT = 30.0


class GenericCheckNote(UserWarning):
    """Something a check could not look at, said without failing it."""


# -- EXPECTED_NA -------------------------------------------------------------------------


def not_applicable_reason(name: str, expected_na: Mapping[str, Any] | None) -> str | None:
    """The reason the CI config gives for declaring check ``name`` not applicable."""
    reason = (expected_na or {}).get(name)
    return str(reason) if reason is not None else None


def skip_if_declared(name: str, meta: Mapping[str, Any]) -> None:
    """Skip the running test when the CI config's EXPECTED_NA names the check."""
    reason = not_applicable_reason(name, meta.get("EXPECTED_NA"))
    if reason is not None:
        pytest.skip(f"declared not applicable: {reason}")


# -- time --------------------------------------------------------------------------------

_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?(?:\s+[A-Za-z]{1,6})?(?:\s+m=[+-][\d.]+)?$"
)


def parse_time(value: str | None) -> datetime | None:
    """A Docker or ccci timestamp as an aware UTC datetime; None for blank or zero time.

    Accepts RFC 3339 with nanoseconds (``2026-11-28T09:26:51.71200196Z``, API records),
    Go's ``2026-11-28 09:26:51.712 +0000 UTC`` (CLI templates), any offset, and ccci's
    records, which are UTC written without a zone (``now(utc=true).isoformat()``).
    """
    if value is None or not str(value).strip():
        return None
    match = _TIME.match(str(value).strip())
    if not match:
        raise ValueError(f"not a timestamp Docker or ccci writes: {value!r}")
    base = datetime.fromisoformat(f"{match['date']}T{match['time']}")
    if base.year <= 1:
        return None  # Go's zero time: "0001-01-01T00:00:00Z"
    micro = int((match["frac"] or "0")[:6].ljust(6, "0"))
    zone = match["zone"] or "Z"
    if zone == "Z":
        tz = UTC
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(-offset if zone[0] == "-" else offset)
    return base.replace(microsecond=micro, tzinfo=tz).astimezone(UTC)


def _clock(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "an unknown time"


# -- converged ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Replicas:
    """``docker service ls``'s REPLICAS column: running/desired, and a job's completions."""

    running: int
    desired: int
    completed: int | None = None
    total: int | None = None
    note: str = ""


_REPLICAS = re.compile(r"^(?P<running>\d+)/(?P<desired>\d+)\s*(?:\((?P<note>[^)]*)\))?$")
_COMPLETED = re.compile(r"(?P<done>\d+)/(?P<total>\d+) completed")


def parse_replicas(text: str) -> Replicas:
    """``1/1``, ``1/2 (max 1 per node)``, ``0/1 (1/1 completed)``; ValueError otherwise."""
    match = _REPLICAS.match(text.strip())
    if not match:
        raise ValueError(f"not a replica count: {text!r}")
    note = (match["note"] or "").strip()
    done = _COMPLETED.search(note)
    return Replicas(int(match["running"]), int(match["desired"]),
                    int(done["done"]) if done else None, int(done["total"]) if done else None,
                    note)


UPDATE_PROBLEMS = {
    "updating": "an update is still in progress",
    "paused": "its update is paused",
    "rollback_started": "its update failed and is being rolled back",
    "rollback_paused": "its update failed and its rollback is paused",
    "rollback_completed": "its last update failed and was rolled back",
}


def service_convergence(name: str, mode: str, replicas: str,
                        update_status: Mapping[str, Any] | None = None) -> list[str]:
    """Why one service has not converged: wrong task count or an unfinished update.

    Replicated: running == replicas (``0/0`` is fine); global: one task on each node
    it is eligible for (Docker's desired count); a job: all its completions done.
    """
    try:
        count = parse_replicas(replicas)
    except ValueError:
        return [f"service {name}: cannot read its replica count {replicas!r}"]
    problems = []
    note = f" ({count.note})" if count.note else ""
    if mode.endswith("job"):
        if count.total is not None and (count.completed or 0) < count.total:
            problems.append(f"job {name} completed {count.completed} of {count.total} "
                            f"runs ({count.running} running)")
    elif count.running != count.desired:
        wants = ("tasks it wants (global: one per eligible node)" if mode.startswith("global")
                 else "replicas")
        problems.append(f"service {name} runs {count.running} of {count.desired} {wants}{note}")
    state = (update_status or {}).get("State")
    if state in UPDATE_PROBLEMS:
        message = (update_status or {}).get("Message")
        problems.append(f"service {name}: {UPDATE_PROBLEMS[state]}"
                        + (f" ({message})" if message else ""))
    return problems


def describe_pending(rows: Iterable[Mapping[str, Any]], stack: str) -> str:
    """``app.2 pending: no suitable node (...)`` for each task not running."""
    parts = []
    for row in rows:
        name = str(row.get("Name", "")).removeprefix(f"{stack}_")
        state = (str(row.get("CurrentState", "")).split() or ["?"])[0].lower()
        error = str(row.get("Error", "")).strip().strip('"')
        parts.append(f"{name} {state}" + (f": {error}" if error else ""))
    return "; ".join(parts)


def check_converged(host: Host, stack: str, planned_services: Sequence[str]) -> list[str]:
    """Every planned service is deployed, and every service of the stack runs the tasks it
    wants with no update pending; each problem names the service and what its tasks say."""
    services = stack_services(host, stack)
    live = {s.name for s in services}
    problems = [f"service {name} of the plan is not deployed in stack {stack}"
                for name in planned_services if name not in live]
    for service in services:
        found = service_convergence(service.name, service.mode, service.replicas,
                                    service.update_status)
        if found:
            pending = describe_pending(pending_tasks(host, service), stack)
            if pending:
                found[0] += f"; not running: {pending}"
        problems.extend(found)
    return problems


# -- stable_tasks ------------------------------------------------------------------------

# Task states that mean the task ended on its own (or never started), not that swarm
# stopped it for an update or a scale-down (``shutdown``).
DIED_STATES = frozenset({"failed", "rejected", "orphaned", "complete"})


@dataclass(frozen=True)
class TaskRecord:
    """What stable_tasks needs of one swarm task."""

    id: str
    service: str
    place: str  # "slot 1", or "node <id>" for a global service
    created: datetime | None
    state: str
    changed: datetime | None  # Status.Timestamp: when it reached ``state``
    error: str = ""
    exit_code: int | None = None
    job: bool = False

    def died_since(self, since: datetime) -> bool:
        """The task ended on its own at or after ``since`` (a job may complete)."""
        died = self.state in DIED_STATES and not (self.job and self.state == "complete")
        return died and self.changed is not None and self.changed >= since


def task_record(raw: Mapping[str, Any], service: str, *, per_node: bool = False,
                job: bool = False) -> TaskRecord:
    """A ``docker inspect`` task as a TaskRecord; global services are placed by node."""
    status = raw.get("Status") or {}
    exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
    slot = raw.get("Slot")
    place = f"node {raw.get('NodeID', '?')}" if per_node or not slot else f"slot {slot}"
    return TaskRecord(
        id=str(raw.get("ID", "")), service=service, place=place,
        created=parse_time(raw.get("CreatedAt")), state=str(status.get("State", "")),
        changed=parse_time(status.get("Timestamp")), error=str(status.get("Err") or ""),
        exit_code=exit_code if isinstance(exit_code, int) else None, job=job,
    )


def describe_death(task: TaskRecord) -> str:
    """``task abc123 failed at <time>: task: non-zero exit (137)``."""
    text = f"task {task.id[:12]} {task.state} at {_clock(task.changed)}"
    if task.error:
        text += f": {task.error}"
    if task.exit_code and f"({task.exit_code})" not in task.error:
        text += f" (exit code {task.exit_code})"
    return text


def replaced_tasks(tasks: Iterable[TaskRecord], since: datetime) -> list[str]:
    """Each service slot (or node) whose task died or was replaced since ``since``.

    A slot's tasks since then are those created since and those that ended on their own
    since (the task running when the window opened is older than it); more than one, or
    any that died, means the slot did not keep one task. Swarm stopping a task for an
    update (``shutdown``) is not a death.
    """
    slots: dict[tuple[str, str], list[TaskRecord]] = {}
    for task in tasks:
        slots.setdefault((task.service, task.place), []).append(task)
    problems = []
    for (service, place), group in sorted(slots.items()):
        seen = [t for t in group
                if (t.created is not None and t.created >= since) or t.died_since(since)]
        dead = sorted((t for t in seen if t.died_since(since)),
                      key=lambda t: t.changed or since)
        if len(seen) <= 1 and not dead:
            continue
        last = (f"last failure: {describe_death(dead[-1])}" if dead
                else "none failed: replaced by service updates")
        tasks = f"{len(seen)} task" + ("s" if len(seen) != 1 else "")
        problems.append(f"service {service}: {tasks} in {place} since "
                        f"{_clock(since)} ({len(dead)} died); {last}")
    return problems


def last_deploy(run_dir: Path | str) -> DeployEntry:
    """The run's last recorded deploy; LookupError when it records none."""
    deploys = RunDir(run_dir).deploys().deploys
    if not deploys:
        raise LookupError(f"{run_dir} records no deploy")
    return deploys[-1]


def deploy_settled(entry: DeployEntry) -> datetime:
    """When a deploy's convergence was judged: its start plus the convergence wait.

    Restarts during the wait (an app exiting until its database is up) are the deploy's
    business, judged by its convergence; the stability window opens when it ends. The
    wait is measured from after ``docker stack deploy`` returned, so this is at most that
    command's duration early, never late.
    """
    started = parse_time(entry.started)
    if started is None:
        raise ValueError(f"the {entry.op} deploy record has no start time")
    if entry.converged and entry.elapsed:
        return started + timedelta(seconds=float(entry.elapsed))
    return started


def check_stable_tasks(host: Host, stack: str, since: datetime) -> list[str]:
    """Since ``since``, every slot of every service kept its one task: none died, none
    was replaced; each problem names the service, the count and the last failure."""
    services = {s.id: s for s in stack_services(host, stack)}
    records = []
    for raw in service_tasks(host, list(services.values())):
        service = services.get(str(raw.get("ServiceID")))
        if service is not None:
            records.append(task_record(raw, service.name, per_node=service.is_global,
                                       job=service.is_job))
    return replaced_tasks(records, since)


# -- health ------------------------------------------------------------------------------


def health_skip_reason(http_service: str | None) -> str | None:
    """Why the health check cannot apply: the recipe serves no HTTP."""
    if http_service:
        return None
    return ("the recipe has no HTTP service (no traefik loadbalancer port label on any "
            "service): nothing answers HEALTH_PATH")


def check_health(http: requests.Session, path: str, ok_statuses: Sequence[int],
                 timeout: float = HEALTH_TIMEOUT) -> list[str]:
    """``GET path`` through the app's session answers a status in ``ok_statuses``.

    Redirects are not followed, as in the install tier's probe: a 302 counts only when
    HEALTH_OK lists it. The body is never quoted (an app may echo anything).
    """
    try:
        answer = http.get(path, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return [f"GET {path} got no answer: {type(exc).__name__}: {exc}"]
    if answer.status_code in ok_statuses:
        return []
    return [f"GET {path} answered {answer.status_code} {answer.reason}, not one of "
            f"HEALTH_OK {list(ok_statuses)}"]


# -- version_label -----------------------------------------------------------------------


def version_label_problems(labels: Mapping[str, Mapping[str, str]], stack: str,
                           version: str) -> list[str]:
    """Every service carrying ``coop-cloud.<stack>.version`` says ``version``, and at
    least one carries it (abra reads the deployed version from it)."""
    key = f"coop-cloud.{stack}.version"
    carried = {svc: svc_labels[key] for svc, svc_labels in labels.items() if key in svc_labels}
    if not carried:
        return [f"no service of stack {stack} carries the label {key}; the version under "
                f"test is {version} (Co-op Cloud puts the label on the main service)"]
    return [f"service {svc} is labelled version {value} ({key}), but the version under "
            f"test is {version}" for svc, value in sorted(carried.items()) if value != version]


def check_version_label(host: Host, stack: str, version: str) -> list[str]:
    """The live services' version label is the version under test."""
    labels = {s.name: s.spec.get("Labels") or {} for s in stack_services(host, stack)}
    return version_label_problems(labels, stack, version)


# -- secrets_hidden ----------------------------------------------------------------------


class SecretValue:
    """A secret's value, compared in memory and never shown: every repr, str and pickle
    of it hides the value, so a traceback or a log cannot carry it."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, raw: bytes) -> None:
        self.name = name
        self._value = raw.strip()  # a file written with echo ends with a newline

    def __repr__(self) -> str:
        return f"<secret {self.name}: {self.length} characters, hidden>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a secret value is not pickled")

    @property
    def length(self) -> int:
        return len(self._value.decode("utf-8", "replace"))

    @property
    def searchable(self) -> bool:
        """Long enough that finding it means it leaked, not a coincidence."""
        return self.length >= MIN_SECRET_LENGTH

    def found_in(self, haystack: str | bytes) -> bool:
        data = haystack.encode("utf-8", "surrogateescape") if isinstance(haystack, str) \
            else haystack
        return self.searchable and self._value in data

    def lines_with(self, data: bytes) -> int:
        """How many lines of ``data`` contain the value."""
        return sum(1 for line in data.splitlines() if self.found_in(line))

    def redact(self, text: str) -> str:
        """``text`` with the value replaced by ``<secret NAME>``."""
        if not self.searchable:
            return text
        return text.replace(self._value.decode("utf-8", "surrogateescape"),
                            f"<secret {self.name}>")


def redact(text: str, values: Iterable[SecretValue]) -> str:
    """``text`` without any of ``values``: for reports that copy what an app printed
    (a failed test's service logs), which must not spread a leak further."""
    for value in values:
        text = value.redact(text)
    return text


Mounts = dict[str, list[tuple[LiveService, str]]]


def secret_mounts(services: Sequence[LiveService],
                  planned_secrets: Sequence[Mapping[str, Any]]) -> Mounts:
    """Each secret the services mount, by the plan's name (else Docker's), with every
    (service, path in its containers) that mounts it."""
    names = {s.get("docker_name"): s.get("name") for s in planned_secrets}
    mounts: Mounts = {}
    for service in services:
        for ref in service.container_spec.get("Secrets") or []:
            docker_name = str(ref.get("SecretName", ""))
            target = str((ref.get("File") or {}).get("Name") or docker_name)
            path = target if target.startswith("/") else f"/run/secrets/{target}"
            mounts.setdefault(str(names.get(docker_name) or docker_name), []).append(
                (service, path))
    return mounts


def _read_one(host: Host, name: str, service: LiveService, path: str,
              reasons: list[str]) -> SecretValue | None:
    """The value as one of the service's running containers shows it; else None, with
    why appended to ``reasons``."""
    containers = running_containers(host, service)
    if not containers:
        reasons.append(f"service {service.name} has no running container")
    for container in containers:
        try:
            return SecretValue(name, read_container_file(host, container, path))
        except DockerQueryError as exc:
            reasons.append(f"service {service.name}: {exc}")
    return None


def read_secrets(host: Host, mounts: Mounts) -> tuple[list[SecretValue], list[str]]:
    """Each secret's value, read inside a running container that mounts it, and a
    problem for each secret no container would show."""
    values, problems = [], []
    for name, places in sorted(mounts.items()):
        reasons: list[str] = []
        value = None
        for service, path in places:
            value = _read_one(host, name, service, path, reasons)
            if value is not None:
                break
        if value is None:
            problems.append(f"secret {name} could not be read, so it was not searched for: "
                            + "; ".join(reasons))
        else:
            values.append(value)
    return values, problems


def stack_secrets(host: Host, stack: str, planned_secrets: Sequence[Mapping[str, Any]]
                  ) -> tuple[list[SecretValue], list[str]]:
    """The values of every secret the stack's services mount (e.g. to ``redact`` a
    report), and a problem for each that could not be read."""
    return read_secrets(host, secret_mounts(stack_services(host, stack), planned_secrets))


def _which(secret: SecretValue, entries: Mapping[str, str]) -> list[str]:
    return sorted(key for key, value in entries.items()
                  if secret.found_in(key) or secret.found_in(value))


def env_leaks(secrets: Sequence[SecretValue],
              environments: Mapping[str, Sequence[str]]) -> list[str]:
    """Where a value appears in a service's environment (``KEY=value`` entries)."""
    problems = []
    for service, entries in sorted(environments.items()):
        pairs = dict(entry.partition("=")[::2] for entry in entries)
        for secret in secrets:
            found = _which(secret, pairs)
            if found:
                problems.append(f"secret {secret.name} appears in the environment of service "
                                f"{service} (variable {', '.join(found)})")
    return problems


def label_leaks(secrets: Sequence[SecretValue],
                labels: Mapping[str, Mapping[str, Mapping[str, str]]]) -> list[str]:
    """Where a value appears in labels: ``{service: {"service labels": {...}, ...}}``."""
    problems = []
    for service, kinds in sorted(labels.items()):
        for kind, entries in sorted(kinds.items()):
            for secret in secrets:
                found = _which(secret, entries)
                if found:
                    problems.append(f"secret {secret.name} appears in the {kind} of service "
                                    f"{service} (label {', '.join(found)})")
    return problems


def log_leaks(secrets: Sequence[SecretValue], logs: Mapping[str, bytes], tail: int) -> list[str]:
    """Where a value appears in a service's logs, with how many lines hold it."""
    problems = []
    for service, data in sorted(logs.items()):
        for secret in secrets:
            lines = secret.lines_with(data)
            if lines:
                problems.append(f"secret {secret.name} appears in the logs of service {service} "
                                f"({lines} line(s) of the last {tail} of each task)")
    return problems


@dataclass
class FileSearch:
    """Secret names found in files, and the files not searched."""

    hits: list[tuple[str, Path]] = field(default_factory=list)
    too_large: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    searched: int = 0

    def problems(self) -> list[str]:
        return [f"secret {name} appears in file {path}" for name, path in self.hits]


def find_in_files(root: Path, secrets: Sequence[SecretValue],
                  max_bytes: int = MAX_FILE_BYTES) -> FileSearch:
    """Search every regular file under ``root``, binary ones too, for each value.

    Symbolic links are not followed (they may point anywhere); files over ``max_bytes``
    are listed as not searched. Returns names and paths only, never the value.
    """
    search = FileSearch()
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode):
                    continue
                if info.st_size > max_bytes:
                    search.too_large.append(path)
                    continue
                data = path.read_bytes()
            except OSError:
                search.unreadable.append(path)
                continue
            search.searched += 1
            search.hits.extend((s.name, path) for s in secrets if s.found_in(data))
    return search


def _note(message: str) -> None:
    warnings.warn(GenericCheckNote(message), stacklevel=3)


def _searchable(values: list[SecretValue]) -> list[SecretValue]:
    for short in (v for v in values if not v.searchable):
        _note(f"secret {short.name} is shorter than {MIN_SECRET_LENGTH} characters: "
              "not searched for (it would match by chance)")
    return [v for v in values if v.searchable]


def _spec_leaks(values: Sequence[SecretValue], services: Sequence[LiveService]) -> list[str]:
    environments = {s.name: s.container_spec.get("Env") or [] for s in services}
    labels = {s.name: {"service labels": s.spec.get("Labels") or {},
                       "container labels": s.container_spec.get("Labels") or {}}
              for s in services}
    return env_leaks(values, environments) + label_leaks(values, labels)


def _log_leaks(host: Host, values: Sequence[SecretValue], services: Sequence[LiveService],
               tail: int) -> list[str]:
    problems, logs = [], {}
    for service in services:
        try:
            logs[service.name] = service_logs(host, service, tail)
        except DockerQueryError as exc:
            problems.append(f"the logs of service {service.name} could not be searched: {exc}")
    return problems + log_leaks(values, logs, tail)


def _file_leaks(run_dir: Path, values: Sequence[SecretValue], max_bytes: int) -> list[str]:
    search = find_in_files(run_dir, values, max_bytes)
    if search.too_large:
        _note(f"{len(search.too_large)} file(s) of {run_dir} over {max_bytes // 2**20} MiB "
              f"were not searched: {', '.join(str(p) for p in search.too_large[:5])}")
    if search.unreadable:
        _note(f"{len(search.unreadable)} file(s) of {run_dir} could not be read: "
              f"{', '.join(str(p) for p in search.unreadable[:5])}")
    return search.problems()


def check_secrets_hidden(host: Host, stack: str, planned_secrets: Sequence[Mapping[str, Any]],
                         run_dir: Path | str, *, log_tail: int = LOG_TAIL,
                         max_file_bytes: int = MAX_FILE_BYTES) -> list[str]:
    """No secret value the stack mounts appears in a service's environment or labels
    (service and container), in its last ``log_tail`` log lines, or in any file of the
    run directory. Values shorter than MIN_SECRET_LENGTH characters are not searched
    (a match would likely be chance); a secret that cannot be read is a problem."""
    services = stack_services(host, stack)
    values, problems = read_secrets(host, secret_mounts(services, planned_secrets))
    values = _searchable(values)  # warns about the others
    if values:
        problems += _spec_leaks(values, services)
        problems += _log_leaks(host, values, services, log_tail)
        problems += _file_leaks(Path(run_dir), values, max_file_bytes)
    return problems


# -- the tests ccci runs -----------------------------------------------------------------


def test_converged(app: HookCtx, run_context: RunContext) -> None:
    """Every service of the stack runs as many tasks as it wants, with no update pending."""
    skip_if_declared("converged", app.meta)
    problems = check_converged(app.host, app.stack, run_context.target["services"])
    assert not problems, "\n".join(problems)


def test_stable_tasks(app: HookCtx, run_dir: Path) -> None:
    """No task died or was replaced since the last deploy converged."""
    skip_if_declared("stable_tasks", app.meta)
    problems = check_stable_tasks(app.host, app.stack, deploy_settled(last_deploy(run_dir)))
    assert not problems, "\n".join(problems)


def test_health(app: HookCtx, run_context: RunContext, request: pytest.FixtureRequest) -> None:
    """HEALTH_PATH answers with a status in HEALTH_OK."""
    skip_if_declared("health", app.meta)
    reason = health_skip_reason(run_context.target["http_service"])
    if reason:
        pytest.skip(reason)
    # Asked for only now: the plugin's http fixture errors for an app without HTTP.
    http = request.getfixturevalue("http")
    problems = check_health(http, app.meta["HEALTH_PATH"], app.meta["HEALTH_OK"])
    assert not problems, "\n".join(problems)


def test_version_label(app: HookCtx, run_context: RunContext) -> None:
    """The services' coop-cloud.<stack>.version label is the version under test."""
    skip_if_declared("version_label", app.meta)
    if run_context.version is None:
        pytest.skip("the version under test is untagged: no coop-cloud.<stack>.version "
                    "label in its compose files and no release tag at its commit")
    problems = check_version_label(app.host, app.stack, run_context.version)
    assert not problems, "\n".join(problems)


def test_secrets_hidden(app: HookCtx, run_context: RunContext, run_dir: Path) -> None:
    """No secret value shows in a service's environment, labels or logs, or in a run file."""
    skip_if_declared("secrets_hidden", app.meta)
    problems = check_secrets_hidden(app.host, app.stack, run_context.target["secrets"], run_dir)
    assert not problems, "\n".join(problems)


def test_screenshot(app: HookCtx, run_context: RunContext,
                    request: pytest.FixtureRequest) -> None:
    """The front page in a real browser, after the recipe's SCREENSHOT hook drove it."""
    skip_if_declared("screenshot", app.meta)
    reason = health_skip_reason(run_context.target["http_service"])
    if reason:
        pytest.skip(reason)
    # Asked for only now: no browser starts for a recipe without a web page.
    page = request.getfixturevalue("page")
    page.goto("/")
    recipe_config: RecipeConfig = request.getfixturevalue("recipe_config")
    drive = recipe_config.hooks.get("SCREENSHOT")
    if drive is not None:
        drive(page, app)
    shot = request.getfixturevalue("screenshot")(page, "front-page")
    assert shot["size"] > 0 and shot["width"] > 0, f"an empty screenshot: {shot}"
