#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: stack_converge
short_description: Wait until a Docker Swarm stack has converged, failing fast on crashes
version_added: "0.1.0"
description:
  - Polls the services and tasks of a swarm stack (services labelled
    C(com.docker.stack.namespace=<stack>)) and returns as soon as every service has
    converged.
  - A replicated service has converged when exactly its desired number of tasks are
    desired C(running) and are C(running), run the current spec, and their local
    container is not C(unhealthy); a global service needs one such task per ready,
    active node that satisfies its placement constraints; a service with 0 replicas
    has converged when none of its tasks still runs.
  - The service's C(UpdateStatus) must be absent or C(completed). C(updating) is not
    converged yet (swarm keeps it for the update monitor period after the last new
    task runs, so N/N running tasks during an update is not convergence).
    C(paused), C(rollback_paused), C(rollback_started) and C(rollback_completed)
    fail at once, with the update status message.
  - Fails fast when a service accumulates O(max_task_failures) tasks that failed,
    were rejected or exited after O(since) while every other service of the stack had
    converged, with the last task error and the last O(log_lines) log lines of the
    service. Failures while another service is still starting are not counted; many
    apps exit until their database accepts connections and rely on swarm to restart
    them. Such an app is bounded by the timeout instead.
  - When every service that has not converged reached its threshold since a service
    last converged (nothing is still starting, e.g. two crash loops), those services
    fail at once too.
  - On timeout, fails with the state of each service that has not converged and the
    logs of those services.
  - Never changes anything. Runs on a swarm manager and talks to the Docker API
    through the Docker SDK for Python.
options:
  stack:
    description: The swarm stack namespace (the name given to C(docker stack deploy)).
    type: str
    required: true
  timeout:
    description:
      - Seconds to wait for convergence.
      - When omitted, the C(coop-cloud.<stack>.timeout) label on any of the stack's
        services (the largest if several carry it), else O(default_timeout).
    type: int
  default_timeout:
    description: Seconds to wait when neither O(timeout) nor the timeout label is set.
    type: int
    default: 300
  max_task_failures:
    description:
      - Fail as soon as one service has this many tasks that failed, were rejected
        or exited (a long-running service's task exiting with code 0 counts) since
        O(since), counting only failures while every other service of the stack had
        converged (a lone service's failures always count).
      - Tasks the orchestrator stops (state C(shutdown), e.g. old tasks during an
        update) are never counted, whatever their exit code.
      - A service with restart condition C(none), or with C(max_attempts) and no
        window, fails once swarm stops restarting it.
    type: int
    default: 3
  min_running:
    description:
      - Seconds a task of a service without a healthcheck must have been running to
        count. A process that exits right after starting is briefly C(running) too;
        with a healthcheck, swarm only reports C(running) once the task is healthy.
    type: float
    default: 3
  poll_interval:
    description: Seconds between two looks at the stack.
    type: float
    default: 0.5
  log_lines:
    description: How many of a failing service's last log lines to return.
    type: int
    default: 20
  since:
    description:
      - Only count task failures that happened at or after this moment (the task
        status timestamp), as an ISO 8601 timestamp (without a zone it is UTC) or
        epoch seconds.
      - Defaults to the moment the module started. Pass the time of the deploy to
        also count crashes that happened before the module started.
    type: str
extends_documentation_fragment:
  - ccci.recipe.docker
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Looks at the stack once and reports its state; never waits or fails on it.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Must run on a swarm manager node; container health is only checked for
    containers on that node.
  - Pull or build images before deploying; a pull inside the timeout makes it lie.
author:
  - ccci developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Deploy the stack
  community.docker.docker_stack:
    name: "{{ stack_name }}"
    compose: ["{{ checkout }}/compose.yml"]
    resolve_image: never
  register: deploy_result

- name: Wait for the stack to converge
  ccci.recipe.stack_converge:
    stack: "{{ stack_name }}"
    since: "{{ deploy_started }}"
  register: converge_result

- name: Wait at most two minutes, failing on the first crash
  ccci.recipe.stack_converge:
    stack: example_com
    timeout: 120
    max_task_failures: 1

- name: Report the state of a stack without waiting
  ccci.recipe.stack_converge:
    stack: example_com
  check_mode: true
  register: stack_state
"""

RETURN = r"""
converged:
  description: Whether every service of the stack converged.
  returned: always
  type: bool
  sample: true
status:
  description: >-
    C(converged); C(pending) (check mode, not converged yet); C(failed) (a service
    failed); C(timeout).
  returned: always
  type: str
  sample: converged
services:
  description: The state of each service of the stack, sorted by name.
  returned: when the stack has services
  type: list
  elements: dict
  contains:
    name:
      description: Service name.
      type: str
      sample: example_com_app
    mode:
      description: C(replicated), C(global), C(replicated-job) or C(global-job).
      type: str
      sample: replicated
    desired:
      description: Desired number of running tasks (eligible nodes for global mode).
      type: int
      sample: 1
    running:
      description: Tasks desired running that are running.
      type: int
      sample: 1
    update_state:
      description: The service's UpdateStatus state, null when it never updated.
      type: str
      sample: completed
    image:
      description: The image of the service spec.
      type: str
      sample: nginx:1.27
    converged:
      description: Whether this service converged.
      type: bool
      sample: true
    status:
      description: C(converged), C(pending) or C(failed).
      type: str
      sample: converged
    reason:
      description: Why the service is not converged or failed (empty otherwise).
      type: str
      sample: "0/1 tasks scheduled to run"
    problems:
      description: One line per task that keeps the service from converging.
      type: list
      elements: str
    task_failures:
      description: >-
        Task failures since O(since) that count towards O(max_task_failures): those
        while every other service had converged.
      type: int
      sample: 0
    task_failures_seen:
      description: >-
        Every task failure since O(since), including those while another service was
        still starting.
      type: int
      sample: 0
elapsed:
  description: Seconds from the module start to its return.
  returned: always
  type: float
  sample: 4.21
timeout:
  description: The timeout used, in seconds.
  returned: when the stack has services
  type: int
  sample: 300
timeout_source:
  description: Where the timeout came from, C(param), C(label) or C(default).
  returned: when the stack has services
  type: str
  sample: label
version:
  description: Value of the C(coop-cloud.<stack>.version) label, from whichever service carries it.
  returned: always
  type: str
  sample: 1.2.0+3.4
started:
  description: When the module started (epoch seconds); it returned at RV(started) + RV(elapsed).
  returned: always
  type: float
  sample: 1764232437.9
since:
  description: The moment from which task failures were counted (epoch seconds).
  returned: always
  type: float
  sample: 1764232438.5
failures:
  description: The services that failed, with the last task error and log lines.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: Service name.
      type: str
    error:
      description: The last task error (C(Status.Err)), or the update status message.
      type: str
      sample: "task: non-zero exit (1)"
    logs:
      description: The service's last log lines, timestamps removed, oldest first.
      type: list
      elements: str
    count:
      description: >-
        Task failures of the service since O(since), counted towards
        O(max_task_failures) or not (RV(services[].task_failures_seen)).
      type: int
"""

import math
import threading
import time
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils import labels
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import (
    DOCKER_ARGS,
    APIError,
    DockerException,
    NotFound,
    connect,
    require_docker,
)
from ansible_collections.ccci.recipe.plugins.module_utils.swarm_state import (
    UPDATE_FAILED,
    FailureTracker,
    ServiceReport,
    StackVerdict,
    judge_stack,
    last_log_lines,
    parse_timestamp,
    service_mode,
    stack_timeout_label,
)

LOG_FETCH_SECONDS = 10.0

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "stack": {"type": "str", "required": True},
    "timeout": {"type": "int"},
    "default_timeout": {"type": "int", "default": 300},
    "max_task_failures": {"type": "int", "default": 3},
    "min_running": {"type": "float", "default": 3.0},
    "poll_interval": {"type": "float", "default": 0.5},
    "log_lines": {"type": "int", "default": 20},
    "since": {"type": "str"},
    **DOCKER_ARGS,
}


class Swarm:
    """The few Docker API calls the module needs, on a low-level ``docker.APIClient``."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def services(self, stack: str) -> list[dict[str, Any]]:
        return self.api.services(filters={"label": labels.selector(labels.STACK_NAMESPACE, stack)})

    def tasks(self, services: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [s["ID"] for s in services]
        return self.api.tasks(filters={"service": ids}) if ids else []

    def nodes(self) -> list[dict[str, Any]] | None:
        """The node list, or None on a worker (global services then use placed tasks)."""
        try:
            return self.api.nodes()
        except APIError:
            return None

    def unhealthy_containers(self, stack: str) -> dict[str, str]:
        """Local containers of the stack that are unhealthy or already exited.

        Under load swarm can report a task ``running`` for seconds after its process
        exited; the engine knows at once, so an exited container is never converged.
        """
        selector = labels.selector(labels.STACK_NAMESPACE, stack)
        bad: dict[str, str] = {}
        for state, filters in (("exited", {"status": ["exited", "dead"]}),
                               ("unhealthy", {"health": "unhealthy"})):
            for container in self.api.containers(all=True,
                                                 filters={"label": selector, **filters}):
                bad[container["Id"]] = state
        return bad

    def logs(self, service_id: str, lines: int) -> list[str]:
        """The last lines of a service's logs, bounded in time (a node may hang)."""
        if lines <= 0:
            return []
        chunks: list[bytes] = []
        errors: list[str] = []

        def read() -> None:
            try:
                stream = self.api.service_logs(
                    service_id, stdout=True, stderr=True, timestamps=True, tail=lines
                )
                for chunk in stream:
                    chunks.append(chunk if isinstance(chunk, bytes) else str(chunk).encode())
            except (APIError, NotFound, DockerException) as exc:
                errors.append(str(exc))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(LOG_FETCH_SECONDS)
        result = last_log_lines(b"".join(chunks), lines)
        if errors:
            result.append(f"(ccci: could not read logs: {errors[0]})")
        elif reader.is_alive():
            result.append(f"(ccci: log read stopped after {LOG_FETCH_SECONDS:.0f}s)")
        return result


def failure_entry(
    report: ServiceReport, tracker: FailureTracker, logs: list[str]
) -> dict[str, Any]:
    """A RV(failures) entry: the update status message, else the last task error."""
    last = tracker.last(report.name)
    if report.update_state in UPDATE_FAILED:
        error = report.reason
    else:
        error = last.error if last else report.reason
    return {
        "service": report.name,
        "error": error,
        "logs": logs,
        "count": report.task_failures_seen,
    }


def format_failure(entry: dict[str, Any]) -> str:
    text = f"service {entry['service']} failed: {entry['error']}"
    if entry["count"]:
        text += f" ({entry['count']} task failure(s))"
    if entry["logs"]:
        text += "\nlast log lines:\n" + "\n".join(f"  {line}" for line in entry["logs"])
    else:
        text += "\n(no log lines)"
    return text


def params_problem(params: dict[str, Any]) -> str | None:
    """What is wrong with the numeric options, if anything."""
    if params["max_task_failures"] < 1:
        return "max_task_failures must be at least 1"
    if params["poll_interval"] <= 0:
        return "poll_interval must be positive"
    if params["timeout"] is not None and params["timeout"] <= 0:
        return "timeout must be positive"
    return None


def choose_timeout(
    params: dict[str, Any], services: list[dict[str, Any]], stack: str
) -> tuple[float, str]:
    """The timeout and where it came from: the option, the recipe's label, the default."""
    if params["timeout"] is not None:
        return float(params["timeout"]), "param"
    label = stack_timeout_label(services, stack)
    if label is not None:
        return label, "label"
    return float(params["default_timeout"]), "default"


class Convergence:
    """One module call: look at the stack until it converged, failed or timed out."""

    def __init__(self, module: AnsibleModule, started: float, since: float) -> None:
        self.module = module
        self.params = module.params
        self.stack: str = module.params["stack"]
        self.started = started
        self.tracker = FailureTracker(since=since)
        self.deadline: float | None = None
        self.result: dict[str, Any] = {
            "changed": False,
            "converged": False,
            "status": "pending",
            "failures": [],
            "version": None,
            "since": since,
            "started": started,
        }

    def finish(self, failed_msg: str | None = None, **extra: Any) -> NoReturn:
        """Exit (or fail with ``failed_msg``) with the result and the time taken."""
        self.result.update(extra)
        self.result["elapsed"] = round(time.time() - self.started, 3)
        if failed_msg:
            self.module.fail_json(msg=failed_msg, **self.result)
        self.module.exit_json(**self.result)

    def look(self, swarm: Swarm) -> StackVerdict:
        """Read the stack once, judge it and put the verdict in the result."""
        try:
            services = swarm.services(self.stack)
            if not services:
                self.finish(f"no services in stack {self.stack}")
            if self.deadline is None:
                timeout, source = choose_timeout(self.params, services, self.stack)
                self.result.update(timeout=math.ceil(timeout), timeout_source=source)
                self.deadline = self.started + timeout
            tasks = swarm.tasks(services)
            needs_nodes = any(service_mode(s).startswith("global") for s in services)
            nodes = swarm.nodes() if needs_nodes else None
            unhealthy = swarm.unhealthy_containers(self.stack)
        except (APIError, DockerException) as exc:
            self.finish(f"Docker API error while watching stack {self.stack}: {exc}")
        verdict = judge_stack(
            self.stack,
            services,
            tasks,
            self.tracker,
            max_task_failures=self.params["max_task_failures"],
            nodes=nodes,
            unhealthy=unhealthy,
            now=time.time(),
            min_running=self.params["min_running"],
        )
        self.result.update(
            services=[s.as_dict() for s in verdict.services],
            version=verdict.version,
            status=verdict.status,
            converged=verdict.converged,
        )
        return verdict

    def fail(self, swarm: Swarm, verdict: StackVerdict) -> NoReturn:
        """Fail with the failed services' last task errors and logs."""
        lines = self.params["log_lines"]
        entries = [failure_entry(s, self.tracker, swarm.logs(s.id, lines)) for s in verdict.failed]
        self.result["failures"] = entries
        self.finish("\n".join(format_failure(e) for e in entries))

    def time_out(self, swarm: Swarm, verdict: StackVerdict) -> NoReturn:
        """Fail with the state and logs of every service that has not converged."""
        entries = [
            {
                "service": s.name,
                "error": f"not converged: {s.reason}",
                "logs": swarm.logs(s.id, self.params["log_lines"]),
                "count": s.task_failures_seen,
            }
            for s in verdict.pending
        ]
        self.result["failures"] = entries
        head = f"stack {self.stack} did not converge within {self.result['timeout']}s"
        self.finish(head + "\n" + "\n".join(format_failure(e) for e in entries), status="timeout")

    def run(self, swarm: Swarm) -> NoReturn:
        """Poll until a verdict; check mode reports the first look without waiting."""
        while True:
            verdict = self.look(swarm)
            if self.module.check_mode:
                self.result["failures"] = [
                    failure_entry(s, self.tracker, []) for s in verdict.failed
                ]
                self.finish()
            if verdict.converged:
                self.finish()
            if verdict.failed:
                self.fail(swarm, verdict)
            now = time.time()
            deadline = self.deadline if self.deadline is not None else now
            if now >= deadline:
                self.time_out(swarm, verdict)
            time.sleep(min(self.params["poll_interval"], deadline - now) or 0.01)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    started = time.time()
    require_docker(module)
    problem = params_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        since = parse_timestamp(module.params["since"]) if module.params["since"] else None
    except ValueError as exc:
        module.fail_json(msg=f"since: {exc}")
    convergence = Convergence(module, started, started if since is None else since)
    try:
        swarm = Swarm(connect(module.params["docker_host"]).api)
    except DockerException as exc:
        convergence.finish(f"cannot talk to Docker: {exc}")
    convergence.run(swarm)


if __name__ == "__main__":
    main()
