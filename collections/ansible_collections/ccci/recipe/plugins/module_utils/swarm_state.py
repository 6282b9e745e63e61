# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge whether a Docker Swarm stack has converged, from plain API dicts.

Everything here works on the JSON shapes the Docker Engine API returns for
``GET /services``, ``GET /tasks`` and ``GET /nodes`` (as decoded by the Docker SDK
for Python), so it can be unit-tested without Docker.

Facts this logic relies on (measured on Docker 20.10, API 1.41):

* A task whose container has a healthcheck stays ``starting`` until the first
  healthy probe; its ``Status.Timestamp`` for ``running`` is the moment it turned
  healthy.
* While a crashed task waits for its restart delay the replacement task has
  ``DesiredState: ready``; only after the delay does it become ``running``.
* During an update ``UpdateStatus.State`` stays ``updating`` for the monitor period
  (default 5 s) after the last new task is running: N/N running is not converged.
* A task the orchestrator stops (update, scale-down) ends in ``shutdown``, with the
  container's exit code (137 if it ignored SIGTERM). Only a container that exits on
  its own ends in ``failed`` (non-zero) or ``complete`` (zero); swarm's kill of an
  unhealthy container is ``failed`` too. So ``shutdown`` is never counted as a crash.
* The task reaper keeps only ``TaskHistoryRetentionLimit`` (default 5) tasks per
  slot: failures have to be remembered across polls, not recounted each time.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ansible_collections.ccci.recipe.plugins.module_utils import labels

# Task states counted as a crash (or an unexpected exit for a long-running service).
FAILED_STATES = frozenset({"failed", "rejected"})
# UpdateStatus states.
UPDATE_IN_PROGRESS = frozenset({"updating"})
UPDATE_FAILED = frozenset({"paused", "rollback_paused", "rollback_started", "rollback_completed"})

_TS_RE = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
_LOG_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}) ?")
_CONSTRAINT_RE = re.compile(r"^\s*(?P<key>[\w.\-/]+)\s*(?P<op>==|!=)\s*(?P<value>.*?)\s*$")


# --------------------------------------------------------------------------- time


def parse_timestamp(value: Any) -> float | None:
    """Parse a Docker RFC 3339 timestamp (nanoseconds allowed) or an epoch number.

    Returns seconds since the epoch, or None for empty values and Docker's zero time.
    A timestamp without a zone is taken as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    match = _TS_RE.match(text)
    if not match:
        raise ValueError(f"not an ISO 8601 timestamp or epoch seconds: {text!r}")
    base = datetime.fromisoformat(match.group("base").replace(" ", "T"))
    if base.year <= 1:
        return None  # Docker's zero time: "0001-01-01T00:00:00Z"
    tz = match.group("tz") or "Z"
    if tz == "Z":
        base = base.replace(tzinfo=UTC)
    else:
        tz = tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
        base = datetime.fromisoformat(base.isoformat() + tz)
    frac = match.group("frac") or "0"
    return base.timestamp() + float(f"0.{frac}")


# ------------------------------------------------------------------ service facts


def service_name(service: dict[str, Any]) -> str:
    return str(service.get("Spec", {}).get("Name") or service.get("ID", "?"))


def service_labels(service: dict[str, Any]) -> dict[str, str]:
    return dict(service.get("Spec", {}).get("Labels") or {})


def service_mode(service: dict[str, Any]) -> str:
    """One of replicated, global, replicated-job, global-job."""
    mode = service.get("Spec", {}).get("Mode") or {}
    if "Global" in mode:
        return "global"
    if "ReplicatedJob" in mode:
        return "replicated-job"
    if "GlobalJob" in mode:
        return "global-job"
    return "replicated"


def service_image(service: dict[str, Any]) -> str:
    spec = service.get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec") or {}
    return str(spec.get("Image") or "")


def update_state(service: dict[str, Any]) -> tuple[str | None, str]:
    status = service.get("UpdateStatus") or {}
    return status.get("State") or None, str(status.get("Message") or "")


def restart_policy(service: dict[str, Any]) -> dict[str, Any]:
    return service.get("Spec", {}).get("TaskTemplate", {}).get("RestartPolicy") or {}


def label_value(services: list[dict[str, Any]], key: str) -> str | None:
    """The value of a service label, from whichever service carries it."""
    for service in sorted(services, key=service_name):
        value = service_labels(service).get(key)
        if value not in (None, ""):
            return str(value)
    return None


def parse_duration(value: str) -> float:
    """Seconds from "300", "300s", "5m", "1h30m" or "1.5"."""
    text = str(value).strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r}")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def stack_timeout_label(services: list[dict[str, Any]], stack: str) -> float | None:
    """The largest valid ``coop-cloud.<stack>.timeout`` label among the services."""
    key = labels.coop_cloud(stack, "timeout")
    found: list[float] = []
    for service in services:
        raw = service_labels(service).get(key)
        if raw in (None, ""):
            continue
        try:
            seconds = parse_duration(raw)
        except ValueError:
            continue
        if seconds > 0:
            found.append(seconds)
    return max(found) if found else None


# --------------------------------------------------------------------- task facts


def task_state(task: dict[str, Any]) -> str:
    return str((task.get("Status") or {}).get("State") or "")


def task_error(task: dict[str, Any]) -> str:
    status = task.get("Status") or {}
    err = str(status.get("Err") or "")
    if err:
        return err
    state = status.get("State")
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    if state == "complete":
        return f"task: exited with code {code or 0} (a service task is not expected to exit)"
    return str(status.get("Message") or state or "")


def task_container_id(task: dict[str, Any]) -> str:
    return str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID") or "")


def _prune(value: Any) -> Any:
    """Drop empty values recursively so absent and empty compare equal."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", 0, False, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


# Fields of the task spec not worth a "stale task" verdict: the API omits Runtime on
# tasks, and swarm keeps a task whose node still satisfies changed placement.
_IGNORED_SPEC_KEYS = ("Runtime", "Placement")


def _comparable_spec(spec: dict[str, Any]) -> dict[str, Any]:
    spec = {k: v for k, v in (spec or {}).items() if k not in _IGNORED_SPEC_KEYS}
    networks = spec.get("Networks")
    if isinstance(networks, list):
        spec["Networks"] = sorted(networks, key=lambda n: str(n.get("Target", "")))
    return _prune(spec)


def task_is_current(task: dict[str, Any], service: dict[str, Any]) -> bool:
    """True when the task was made from the service's current task template.

    The API does not expose the spec version a task was made from, so this compares
    the task's Spec with the service's TaskTemplate (as swarm itself does to decide
    whether a task is dirty).
    """
    if "Spec" not in task:
        return True
    template = service.get("Spec", {}).get("TaskTemplate") or {}
    return _comparable_spec(task["Spec"]) == _comparable_spec(template)


def task_failure_time(task: dict[str, Any]) -> float | None:
    return parse_timestamp((task.get("Status") or {}).get("Timestamp"))


def is_counted_failure(task: dict[str, Any], mode: str) -> bool:
    """A crash: failed, rejected, or (for a long-running service) exited at all."""
    state = task_state(task)
    if state in FAILED_STATES:
        return True
    return state == "complete" and not mode.endswith("-job")


# ------------------------------------------------------------------- node facts


def node_attributes(node: dict[str, Any]) -> dict[str, str]:
    spec = node.get("Spec") or {}
    desc = node.get("Description") or {}
    attrs = {
        "node.id": str(node.get("ID") or ""),
        "node.hostname": str(desc.get("Hostname") or ""),
        "node.role": str(spec.get("Role") or ""),
        "node.platform.os": str((desc.get("Platform") or {}).get("OS") or ""),
        "node.platform.arch": str((desc.get("Platform") or {}).get("Architecture") or ""),
    }
    for key, value in (spec.get("Labels") or {}).items():
        attrs[f"node.labels.{key}"] = str(value)
    for key, value in ((desc.get("Engine") or {}).get("Labels") or {}).items():
        attrs[f"engine.labels.{key}"] = str(value)
    return attrs


def node_matches(node: dict[str, Any], constraints: list[str]) -> bool:
    """Evaluate swarm placement constraints (== / !=, case-insensitive values)."""
    attrs = node_attributes(node)
    for constraint in constraints or []:
        match = _CONSTRAINT_RE.match(constraint)
        if not match:
            continue  # swarm would have refused it; do not guess
        key, op, value = match.group("key"), match.group("op"), match.group("value")
        actual = attrs.get(key)
        if key.startswith(("node.labels.", "engine.labels.")) and actual is None:
            equal = False
        else:
            equal = (actual or "").casefold() == value.casefold()
        if equal != (op == "=="):
            return False
    return True


def eligible_nodes(service: dict[str, Any], nodes: list[dict[str, Any]]) -> set[str]:
    """IDs of ready, active nodes that satisfy the service's placement constraints."""
    placement = service.get("Spec", {}).get("TaskTemplate", {}).get("Placement") or {}
    constraints = list(placement.get("Constraints") or [])
    result: set[str] = set()
    for node in nodes:
        if (node.get("Status") or {}).get("State") != "ready":
            continue
        if (node.get("Spec") or {}).get("Availability", "active") != "active":
            continue
        if node_matches(node, constraints):
            result.add(str(node.get("ID")))
    return result


# ---------------------------------------------------------------- failure memory


@dataclass
class TaskFailure:
    task_id: str
    state: str
    error: str
    exit_code: int | None
    timestamp: float


# A counting window: from when every other service of the stack was seen converged
# until one was seen not converged (None while it lasts).
Window = tuple[float, float | None]


@dataclass
class FailureTracker:
    """Remembers task failures per service across polls, and when they count.

    A failure is seen when its Status.Timestamp (the moment the task failed, was
    rejected or exited) is at or after ``since``. Remembering task IDs matters: swarm
    reaps old tasks, so a listing may no longer show earlier failures.

    A seen failure counts towards a crash loop only when it happened inside one of
    the service's windows, while every other service of the stack had converged:
    many apps exit until their database accepts connections and rely on swarm to
    restart them, and such failures say nothing about the app until the database is
    up. ``progress`` is the last moment a service newly converged, which lets a stack
    where nothing is starting any more fail fast too (see ``stalled``).
    """

    since: float | None = None
    seen: dict[str, dict[str, TaskFailure]] = field(default_factory=dict)
    windows: dict[str, list[Window]] = field(default_factory=dict)
    converged: set[str] = field(default_factory=set)
    progress: float | None = None
    looked: bool = False

    def observe(self, service: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        name = service_name(service)
        mode = service_mode(service)
        bucket = self.seen.setdefault(name, {})
        for task in tasks:
            if not is_counted_failure(task, mode):
                continue
            when = task_failure_time(task)
            if when is None or (self.since is not None and when < self.since):
                continue
            task_id = str(task.get("ID"))
            if task_id in bucket:
                continue
            status = task.get("Status") or {}
            code = (status.get("ContainerStatus") or {}).get("ExitCode")
            bucket[task_id] = TaskFailure(
                task_id=task_id,
                state=task_state(task),
                error=task_error(task),
                exit_code=code if isinstance(code, int) else None,
                timestamp=when,
            )

    def advance(self, reports: list[ServiceReport], clock: float) -> None:
        """Open or close each service's counting window after one look at the stack.

        Windows change at the look that sees the change (polls are 0.5 s apart). At
        the first look an open window starts at ``since``: failures between the deploy
        and the module's start count as they always did.
        """
        start = (self.since if self.since is not None else -math.inf) if not self.looked else clock
        converged = {r.name for r in reports if r.converged}
        if not self.looked:
            self.progress = start
        elif converged - self.converged:
            self.progress = clock
        for report in reports:
            others_ok = all(o.converged for o in reports if o.name != report.name)
            windows = self.windows.setdefault(report.name, [])
            is_open = bool(windows) and windows[-1][1] is None
            if others_ok and not is_open:
                windows.append((start, None))
            elif is_open and not others_ok:
                windows[-1] = (windows[-1][0], clock)
        self.converged = converged
        self.looked = True

    def _counts(self, name: str, failure: TaskFailure) -> bool:
        return any(
            begin <= failure.timestamp and (end is None or failure.timestamp < end)
            for begin, end in self.windows.get(name, [])
        )

    def count(self, name: str) -> int:
        """Failures that count: those while every other service had converged."""
        return sum(1 for f in self.seen.get(name, {}).values() if self._counts(name, f))

    def total(self, name: str) -> int:
        """Every failure seen since ``since``, counted or not."""
        return len(self.seen.get(name, {}))

    def since_progress(self, name: str) -> int:
        """Failures since the last moment a service of the stack newly converged."""
        floor = self.progress if self.progress is not None else -math.inf
        return sum(1 for f in self.seen.get(name, {}).values() if f.timestamp >= floor)

    def last(self, name: str) -> TaskFailure | None:
        failures = self.seen.get(name) or {}
        if not failures:
            return None
        return max(failures.values(), key=lambda f: f.timestamp)

    def stalled(self, reports: list[ServiceReport], thresholds: dict[str, int]) -> bool:
        """Whether every pending service keeps failing while nothing else converges.

        Counting only while the rest of the stack has converged would let two crash
        loops (an app and a worker that exits without it) shield each other until the
        timeout. When every service still pending has failed its threshold since the
        last time a service converged, no service is still starting: fail them.
        """
        pending = [r for r in reports if r.status == PENDING]
        return bool(pending) and all(
            self.since_progress(r.name) >= thresholds[r.name] for r in pending
        )


def failure_threshold(service: dict[str, Any], max_task_failures: int) -> int:
    """How many counted failures fail the service.

    Swarm gives up restarting after ``RestartPolicy.MaxAttempts`` restarts (when no
    window is set), and never restarts with condition ``none``: waiting longer than
    that only waits for the timeout.
    """
    policy = restart_policy(service)
    condition = policy.get("Condition") or "any"
    threshold = max(1, int(max_task_failures))
    if condition == "none":
        return 1
    attempts = int(policy.get("MaxAttempts") or 0)
    if attempts > 0 and not policy.get("Window"):
        threshold = min(threshold, attempts + 1)
    return threshold


# ---------------------------------------------------------------------- verdicts

CONVERGED = "converged"
PENDING = "pending"
FAILED = "failed"


@dataclass
class ServiceReport:
    name: str
    id: str
    mode: str
    desired: int
    running: int
    update_state: str | None
    image: str
    status: str = PENDING
    reason: str = ""
    problems: list[str] = field(default_factory=list)
    task_failures: int = 0
    task_failures_seen: int = 0

    @property
    def converged(self) -> bool:
        return self.status == CONVERGED

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "mode": self.mode,
            "desired": self.desired,
            "running": self.running,
            "update_state": self.update_state,
            "image": self.image,
            "converged": self.converged,
            "status": self.status,
            "reason": self.reason,
            "problems": list(self.problems),
            "task_failures": self.task_failures,
            "task_failures_seen": self.task_failures_seen,
        }


def _short(task: dict[str, Any]) -> str:
    slot = task.get("Slot")
    node = str(task.get("NodeID") or "")[:12]
    where = f".{slot}" if slot else (f"@{node}" if node else "")
    return f"task {str(task.get('ID', '?'))[:12]}{where}"


def _describe_pending(task: dict[str, Any]) -> str:
    status = task.get("Status") or {}
    state = status.get("State") or "?"
    detail = status.get("Err") or status.get("Message") or ""
    text = f"{_short(task)} is {state}"
    if detail and detail != state:
        text += f" ({detail})"
    return text


def _update_culprit(message: str, tasks: list[dict[str, Any]]) -> str:
    """The error of the task an UpdateStatus message blames, if still listed."""
    match = re.search(r"\btask ([0-9a-z]{6,})", message)
    if not match:
        return ""
    for task in tasks:
        if str(task.get("ID", "")).startswith(match.group(1)):
            err = str((task.get("Status") or {}).get("Err") or "")
            return f"task error: {err}" if err else ""
    return ""


def has_healthcheck(service: dict[str, Any]) -> bool:
    """Whether the service spec defines a healthcheck (then ``running`` means healthy)."""
    spec = (service.get("Spec", {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
    test = (spec.get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def classify_active(
    service: dict[str, Any],
    active: list[dict[str, Any]],
    unhealthy: frozenset[str] | set[str],
    now: float | None,
    min_running: float,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Split the tasks desired running into good ones and a problem line for each other.

    Without a healthcheck a task must have been running ``min_running`` seconds at
    ``now``: a process that exits right after starting is briefly ``running`` too.
    """
    problems: list[str] = []
    good: list[dict[str, Any]] = []
    settle = min_running if now is not None and not has_healthcheck(service) else 0.0
    for task in active:
        since = parse_timestamp((task.get("Status") or {}).get("Timestamp"))
        if task_state(task) != "running":
            problems.append(_describe_pending(task))
        elif settle and since is not None and now - since < settle:
            problems.append(
                f"{_short(task)} running for {now - since:.1f}s, "
                f"not yet {settle:g}s (no healthcheck)"
            )
        elif not task_is_current(task, service):
            problems.append(f"{_short(task)} runs an outdated spec")
        elif task_container_id(task) and task_container_id(task) in unhealthy:
            state = unhealthy.get(task_container_id(task), "unhealthy") \
                if isinstance(unhealthy, dict) else "unhealthy"
            problems.append(f"{_short(task)} container is {state}")
        else:
            good.append(task)
    return good, problems


def stopping_problems(tasks: list[dict[str, Any]]) -> list[str]:
    """A line for each task the orchestrator is still stopping."""
    return [
        f"{_short(task)} is still stopping"
        for task in tasks
        if task.get("DesiredState") in ("shutdown", "remove")
        and task_state(task) in ("running", "starting")
    ]


@dataclass
class Placement:
    """How a service's tasks cover what it asks for, before the update status is read."""

    desired: int
    ok: bool
    good: list[dict[str, Any]]
    problems: list[str]


def place_replicated(
    service: dict[str, Any],
    active: list[dict[str, Any]],
    good: list[dict[str, Any]],
    problems: list[str],
) -> Placement:
    """Exactly ``Replicas`` tasks desired running, all of them good."""
    spec_mode = service.get("Spec", {}).get("Mode") or {}
    desired = int((spec_mode.get("Replicated") or {}).get("Replicas", 1))
    if len(active) < desired:
        problems.insert(0, f"{len(active)}/{desired} tasks scheduled to run")
    elif len(active) > desired:
        problems.insert(0, f"{len(active)} tasks scheduled to run, {desired} desired")
    ok = len(active) == desired and len(good) == desired
    return Placement(desired, ok, good, problems)


def place_global(
    service: dict[str, Any],
    tasks: list[dict[str, Any]],
    active: list[dict[str, Any]],
    good: list[dict[str, Any]],
    problems: list[str],
    nodes: list[dict[str, Any]] | None,
) -> Placement:
    """One good task on each eligible node (the placed nodes when ``nodes`` is None)."""
    if nodes is None:
        targets = {str(t.get("NodeID")) for t in tasks if t.get("DesiredState") == "running"}
    else:
        targets = eligible_nodes(service, nodes)
    good_per_node: dict[str, int] = {}
    for task in good:
        node = str(task.get("NodeID"))
        good_per_node[node] = good_per_node.get(node, 0) + 1
    missing = [n for n in sorted(targets) if good_per_node.get(n, 0) != 1]
    ok = not missing and all(str(t.get("NodeID")) not in targets or t in good for t in active)
    if missing:
        problems.insert(0, f"no healthy running task on node(s) {', '.join(missing)}")
    return Placement(len(targets), ok, good, problems)


def place_job(
    service: dict[str, Any],
    mode: str,
    tasks: list[dict[str, Any]],
    problems: list[str],
    nodes: list[dict[str, Any]] | None,
) -> Placement:
    """Jobs converge when the current iteration's tasks completed."""
    spec_mode = service.get("Spec", {}).get("Mode") or {}
    job = spec_mode.get("ReplicatedJob") or {}
    if mode == "replicated-job":
        desired = int(job.get("TotalCompletions") or job.get("MaxConcurrent") or 1)
    else:
        desired = len(eligible_nodes(service, nodes)) if nodes is not None else 1
    iteration = ((service.get("JobStatus") or {}).get("JobIteration") or {}).get("Index")
    done = [
        t
        for t in tasks
        if task_state(t) == "complete"
        and task_is_current(t, service)
        and (iteration is None or (t.get("JobIteration") or {}).get("Index") == iteration)
    ]
    ok = len(done) >= desired
    problems = [p for p in problems if "still stopping" in p]
    if not ok:
        problems.insert(0, f"{len(done)}/{desired} job tasks completed")
    return Placement(desired, ok, done, problems)


def settle_status(
    report: ServiceReport, placed_ok: bool, message: str, tasks: list[dict[str, Any]]
) -> None:
    """Set the report's status and reason from its update status and placement."""
    state = report.update_state
    if state in UPDATE_FAILED:
        report.status = FAILED
        if state == "rollback_completed":
            report.reason = f"update failed and was rolled back: {message}"
        elif state == "rollback_started":
            report.reason = f"update failed, rolling back: {message}"
        else:
            report.reason = f"update {state}: {message}"
        culprit = _update_culprit(message, tasks)
        if culprit:
            report.reason += f" ({culprit})"
    elif state in UPDATE_IN_PROGRESS:
        report.status = PENDING
        head = f"update {state}: {message}" if message else f"update {state}"
        report.reason = "; ".join([head, *report.problems[:3]])
    elif placed_ok and not report.problems:
        report.status = CONVERGED
    else:
        report.status = PENDING
        report.reason = "; ".join(report.problems[:3]) or "not converged"


def judge_service(
    service: dict[str, Any],
    tasks: list[dict[str, Any]],
    *,
    nodes: list[dict[str, Any]] | None = None,
    unhealthy: frozenset[str] | set[str] = frozenset(),
    now: float | None = None,
    min_running: float = 0.0,
) -> ServiceReport:
    """Judge one service from its tasks (only this service's tasks).

    ``nodes`` is the node list (needed for global mode; when None the nodes the
    orchestrator already placed tasks on are used). ``unhealthy`` holds the IDs of
    local containers whose Health.Status is unhealthy (or maps IDs to a state such as
    ``exited``: the engine knows a process died before swarm's task state says so).
    Without a healthcheck a task must have been running ``min_running`` seconds at
    ``now``.
    """
    mode = service_mode(service)
    state, message = update_state(service)
    active = [t for t in tasks if t.get("DesiredState") == "running"]
    good, problems = classify_active(service, active, unhealthy, now, min_running)
    problems += stopping_problems(tasks)
    if mode == "replicated":
        placement = place_replicated(service, active, good, problems)
    elif mode == "global":
        placement = place_global(service, tasks, active, good, problems, nodes)
    else:
        placement = place_job(service, mode, tasks, problems, nodes)
    running = [t for t in active if task_state(t) == "running"]
    report = ServiceReport(
        name=service_name(service),
        id=str(service.get("ID", "")),
        mode=mode,
        desired=placement.desired,
        running=len(placement.good) if mode.endswith("-job") else len(running),
        update_state=state,
        image=service_image(service),
        problems=placement.problems,
    )
    settle_status(report, placement.ok, message, tasks)
    return report


@dataclass
class StackVerdict:
    status: str
    services: list[ServiceReport]
    failed: list[ServiceReport]
    version: str | None

    @property
    def converged(self) -> bool:
        return self.status == CONVERGED

    @property
    def pending(self) -> list[ServiceReport]:
        return [s for s in self.services if s.status == PENDING]


def tasks_by_service(tasks: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        grouped.setdefault(str(task.get("ServiceID")), []).append(task)
    return grouped


def apply_failures(
    report: ServiceReport, tracker: FailureTracker, threshold: int, stalled: bool, alone: bool
) -> None:
    """Fail a service whose failures reached its threshold; else say what was waived.

    The reason says which rule failed it, so a maintainer reading a failed install
    knows whether the rest of the stack was up when the service kept failing.
    """
    report.task_failures = tracker.count(report.name)
    report.task_failures_seen = tracker.total(report.name)
    if report.status == FAILED:
        return
    last = tracker.last(report.name)
    error = last.error if last else "unknown"
    if report.task_failures >= threshold:
        report.status = FAILED
        when = "since the deploy" if alone else "while every other service was converged"
        report.reason = f"{report.task_failures} task failure(s) {when}; last: {error}"
    elif stalled and report.status == PENDING:
        report.status = FAILED
        report.reason = (
            f"{tracker.since_progress(report.name)} task failure(s) since a service last "
            f"converged, and no service is still starting (every one not converged keeps "
            f"failing); last: {error}"
        )
    elif report.status == PENDING and report.task_failures_seen > report.task_failures:
        waived = report.task_failures_seen - report.task_failures
        report.reason += (
            f"; {waived} task failure(s) not counted: other services were still starting"
        )


def judge_stack(
    stack: str,
    services: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    tracker: FailureTracker,
    *,
    max_task_failures: int = 3,
    nodes: list[dict[str, Any]] | None = None,
    unhealthy: frozenset[str] | set[str] = frozenset(),
    now: float | None = None,
    min_running: float = 0.0,
) -> StackVerdict:
    """Judge a whole stack and update ``tracker`` with the failures seen now.

    A service's failures count towards ``max_task_failures`` only while every other
    service has converged (FailureTracker): a crash loop is not a dependency still
    starting. ``now`` (default: the wall clock) times the counting windows.
    """
    if not services:
        raise ValueError(f"no services in stack {stack}")
    grouped = tasks_by_service(tasks)
    judged: list[tuple[dict[str, Any], ServiceReport]] = []
    for service in sorted(services, key=service_name):
        own = grouped.get(str(service.get("ID")), [])
        tracker.observe(service, own)
        report = judge_service(
            service, own, nodes=nodes, unhealthy=unhealthy, now=now, min_running=min_running
        )
        judged.append((service, report))
    reports = [report for _, report in judged]
    tracker.advance(reports, now if now is not None else time.time())
    thresholds = {r.name: failure_threshold(s, max_task_failures) for s, r in judged}
    stalled = tracker.stalled(reports, thresholds)
    for report in reports:
        apply_failures(report, tracker, thresholds[report.name], stalled, len(reports) == 1)
    failed = [r for r in reports if r.status == FAILED]
    if failed:
        status = FAILED
    elif all(r.converged for r in reports):
        status = CONVERGED
    else:
        status = PENDING
    version = label_value(services, labels.coop_cloud(stack, "version"))
    return StackVerdict(status=status, services=reports, failed=failed, version=version)


# -------------------------------------------------------------------------- logs


def strip_log_timestamp(line: str) -> str:
    return _LOG_TS_RE.sub("", line, count=1)


def last_log_lines(raw: bytes | str, count: int) -> list[str]:
    """The last ``count`` lines of timestamped service log output, in time order.

    Service logs interleave tasks (each tail'ed separately), so lines are ordered by
    their timestamp before cutting, then the timestamps are removed.
    """
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    lines = [ln.rstrip("\r") for ln in raw.split("\n") if ln.strip()]
    keyed: list[tuple[float, int, str]] = []
    for index, line in enumerate(lines):
        match = _LOG_TS_RE.match(line)
        when = 0.0
        if match:
            try:
                when = parse_timestamp(match.group(0).strip()) or 0.0
            except ValueError:
                when = 0.0
        keyed.append((when, index, line))
    keyed.sort()
    if count <= 0:
        return []
    return [strip_log_timestamp(line) for _, _, line in keyed[-count:]]
