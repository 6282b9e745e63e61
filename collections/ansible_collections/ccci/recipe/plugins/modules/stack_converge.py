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
    were rejected or exited after O(since), with the last task error and the last
    O(log_lines) log lines of the service.
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
        O(since).
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
  docker_host:
    description:
      - The Docker daemon to talk to, for example V(unix:///var/run/docker.sock).
      - Defaults to the E(DOCKER_HOST) environment (TLS settings included), else the
        local unix socket.
    type: str
attributes:
  check_mode:
    support: full
    details: Looks at the stack once and reports its state; never waits or fails on it.
  diff_mode:
    support: none
notes:
  - Must run on a swarm manager node; container health is only checked for
    containers on that node.
  - Pull or build images before deploying; a pull inside the timeout makes it lie.
requirements:
  - Docker SDK for Python (C(docker)) >= 5.0
  - Docker API >= 1.41
author:
  - ccci developers
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
      description: Counted task failures since O(since).
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
      description: Counted task failures of the service.
      type: int
"""

import math
import threading
import time
import traceback
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.ccci.recipe.plugins.module_utils.swarm_state import (
    STACK_NAMESPACE_LABEL,
    UPDATE_FAILED,
    FailureTracker,
    ServiceReport,
    judge_stack,
    last_log_lines,
    parse_timestamp,
    service_mode,
    stack_timeout_label,
)

try:
    import docker
    from docker.errors import APIError, DockerException, NotFound
    from docker.utils import kwargs_from_env

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

LOG_FETCH_SECONDS = 10.0


class Swarm:
    """The few Docker API calls the module needs."""

    def __init__(self, docker_host: str | None) -> None:
        if docker_host:
            self.api = docker.APIClient(base_url=docker_host, version="auto", timeout=60)
        else:
            kwargs = kwargs_from_env()
            kwargs.setdefault("base_url", "unix:///var/run/docker.sock")
            self.api = docker.APIClient(version="auto", timeout=60, **kwargs)

    def services(self, stack: str) -> list[dict[str, Any]]:
        return self.api.services(filters={"label": f"{STACK_NAMESPACE_LABEL}={stack}"})

    def tasks(self, services: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [s["ID"] for s in services]
        return self.api.tasks(filters={"service": ids}) if ids else []

    def nodes(self) -> list[dict[str, Any]] | None:
        try:
            return self.api.nodes()
        except APIError:
            return None

    def unhealthy_containers(self, stack: str) -> set[str]:
        containers = self.api.containers(
            filters={"label": f"{STACK_NAMESPACE_LABEL}={stack}", "health": "unhealthy"}
        )
        return {c["Id"] for c in containers}

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
    last = tracker.last(report.name)
    if report.update_state in UPDATE_FAILED:
        error = report.reason
    else:
        error = last.error if last else report.reason
    return {"service": report.name, "error": error, "logs": logs, "count": report.task_failures}


def format_failure(entry: dict[str, Any]) -> str:
    text = f"service {entry['service']} failed: {entry['error']}"
    if entry["count"]:
        text += f" ({entry['count']} task failure(s))"
    if entry["logs"]:
        text += "\nlast log lines:\n" + "\n".join(f"  {line}" for line in entry["logs"])
    else:
        text += "\n(no log lines)"
    return text


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "stack": {"type": "str", "required": True},
            "timeout": {"type": "int"},
            "default_timeout": {"type": "int", "default": 300},
            "max_task_failures": {"type": "int", "default": 3},
            "min_running": {"type": "float", "default": 3.0},
            "poll_interval": {"type": "float", "default": 0.5},
            "log_lines": {"type": "int", "default": 20},
            "since": {"type": "str"},
            "docker_host": {"type": "str"},
        },
        supports_check_mode=True,
    )
    started = time.time()
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)

    params = module.params
    stack: str = params["stack"]
    if params["max_task_failures"] < 1:
        module.fail_json(msg="max_task_failures must be at least 1")
    if params["poll_interval"] <= 0:
        module.fail_json(msg="poll_interval must be positive")
    if params["timeout"] is not None and params["timeout"] <= 0:
        module.fail_json(msg="timeout must be positive")
    try:
        since = parse_timestamp(params["since"]) if params["since"] else None
    except ValueError as exc:
        module.fail_json(msg=f"since: {exc}")
    if since is None:
        since = started

    result: dict[str, Any] = {
        "changed": False,
        "converged": False,
        "status": "pending",
        "failures": [],
        "version": None,
        "since": since,
        "started": started,
    }

    def finish(failed_msg: str | None = None, **extra: Any) -> NoReturn:
        result.update(extra)
        result["elapsed"] = round(time.time() - started, 3)
        if failed_msg:
            module.fail_json(msg=failed_msg, **result)
        module.exit_json(**result)

    try:
        swarm = Swarm(params["docker_host"])
    except DockerException as exc:
        finish(f"cannot talk to Docker: {exc}")

    tracker = FailureTracker(since=since)
    deadline: float | None = None

    while True:
        try:
            services = swarm.services(stack)
            if not services:
                finish(f"no services in stack {stack}")
            if deadline is None:
                if params["timeout"] is not None:
                    timeout, source = float(params["timeout"]), "param"
                else:
                    label = stack_timeout_label(services, stack)
                    if label is not None:
                        timeout, source = label, "label"
                    else:
                        timeout, source = float(params["default_timeout"]), "default"
                result["timeout"] = math.ceil(timeout)
                result["timeout_source"] = source
                deadline = started + timeout
            tasks = swarm.tasks(services)
            needs_nodes = any(service_mode(s).startswith("global") for s in services)
            nodes = swarm.nodes() if needs_nodes else None
            unhealthy = swarm.unhealthy_containers(stack)
        except (APIError, DockerException) as exc:
            finish(f"Docker API error while watching stack {stack}: {exc}")

        verdict = judge_stack(
            stack,
            services,
            tasks,
            tracker,
            max_task_failures=params["max_task_failures"],
            nodes=nodes,
            unhealthy=unhealthy,
            now=time.time(),
            min_running=params["min_running"],
        )
        result["services"] = [s.as_dict() for s in verdict.services]
        result["version"] = verdict.version
        result["status"] = verdict.status
        result["converged"] = verdict.converged

        if module.check_mode:
            result["failures"] = [failure_entry(s, tracker, []) for s in verdict.failed]
            finish()

        if verdict.converged:
            finish()

        if verdict.failed:
            entries = [
                failure_entry(s, tracker, swarm.logs(s.id, params["log_lines"]))
                for s in verdict.failed
            ]
            result["failures"] = entries
            finish("\n".join(format_failure(e) for e in entries))

        now = time.time()
        if deadline is not None and now >= deadline:
            pending = verdict.pending
            entries = [
                {
                    "service": s.name,
                    "error": f"not converged: {s.reason}",
                    "logs": swarm.logs(s.id, params["log_lines"]),
                    "count": s.task_failures,
                }
                for s in pending
            ]
            result["failures"] = entries
            head = f"stack {stack} did not converge within {result['timeout']}s"
            finish(
                head + "\n" + "\n".join(format_failure(e) for e in entries),
                status="timeout",
            )
        time.sleep(min(params["poll_interval"], max(0.0, (deadline or now) - now)) or 0.01)


if __name__ == "__main__":
    main()
