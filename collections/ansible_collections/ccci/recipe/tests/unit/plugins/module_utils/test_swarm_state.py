"""Unit tests of the pure convergence logic, with Docker API shaped dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ansible_collections.ccci.recipe.plugins.module_utils import swarm_state as ss

STACK = "app_example_com"
NODE = "vglw6cywnh7qpltvha09yke42"
SINCE = ss.parse_timestamp("2026-11-27T08:34:00Z")


def container_spec(image: str = "ccci-test/debian:bookworm", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "Image": image,
        "Labels": {"com.docker.stack.namespace": STACK},
        "Args": ["sh", "-c", "exec sleep infinity"],
        "Privileges": {"CredentialSpec": None, "SELinuxContext": None},
        "Healthcheck": {
            "Test": ["CMD", "test", "-f", "/tmp/healthy"],
            "Interval": 1000000000,
            "Timeout": 1000000000,
            "StartPeriod": 30000000000,
            "Retries": 3,
        },
        "Isolation": "default",
    }
    spec.update(extra)
    return spec


def make_service(
    name: str = "app",
    *,
    replicas: int | None = 1,
    global_mode: bool = False,
    image: str = "ccci-test/debian:bookworm",
    labels: dict[str, str] | None = None,
    update: dict[str, str] | None = None,
    restart: dict[str, Any] | None = None,
    constraints: list[str] | None = None,
    env: list[str] | None = None,
) -> dict[str, Any]:
    mode = {"Global": {}} if global_mode else {"Replicated": {"Replicas": replicas}}
    cspec = container_spec(image)
    if env:
        cspec["Env"] = env
    template: dict[str, Any] = {
        "ContainerSpec": cspec,
        "Resources": {},
        "Placement": {"Constraints": constraints} if constraints else {},
        "Networks": [{"Target": "upe54vnxrcb7qwb9fwtxfqrvx", "Aliases": [name]}],
        "ForceUpdate": 0,
        "Runtime": "container",
    }
    if restart:
        template["RestartPolicy"] = restart
    service: dict[str, Any] = {
        "ID": f"svc{name}0000000000000000",
        "Version": {"Index": 51},
        "CreatedAt": "2026-11-27T08:33:58.841029319Z",
        "UpdatedAt": "2026-11-27T08:33:58.841029319Z",
        "Spec": {
            "Name": f"{STACK}_{name}",
            "Labels": {
                "com.docker.stack.image": image,
                "com.docker.stack.namespace": STACK,
                **(labels or {}),
            },
            "TaskTemplate": template,
            "Mode": mode,
            "EndpointSpec": {"Mode": "dnsrr"},
        },
        "Endpoint": {"Spec": {}},
    }
    if update:
        service["UpdateStatus"] = {
            "StartedAt": "2026-11-27T08:40:30.338504234Z",
            **update,
        }
    return service


_counter = iter(range(1, 10_000))


def make_task(
    service: dict[str, Any],
    state: str = "running",
    *,
    desired: str = "running",
    at: str = "2026-11-27T08:34:03.957726845Z",
    err: str | None = None,
    exit_code: int = 0,
    slot: int | None = 1,
    node: str = NODE,
    container: str | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    n = next(_counter)
    template = service["Spec"]["TaskTemplate"]
    task_spec = copy.deepcopy(spec if spec is not None else template)
    task_spec.pop("Runtime", None)  # the API omits it on tasks
    status: dict[str, Any] = {
        "Timestamp": at,
        "State": state,
        "Message": "started" if state in ("running", "failed") else state,
        "PortStatus": {},
    }
    if err:
        status["Err"] = err
    if state not in ("new", "pending", "assigned", "preparing", "ready", "rejected"):
        status["ContainerStatus"] = {
            "ContainerID": container or f"{n:064x}",
            "PID": 4242 if state == "running" else 0,
            "ExitCode": exit_code,
        }
    elif state == "rejected":
        status["ContainerStatus"] = {"ContainerID": "", "PID": 0, "ExitCode": 0}
    task: dict[str, Any] = {
        "ID": f"task{n:021d}",
        "Version": {"Index": 60 + n},
        "CreatedAt": "2026-11-27T08:33:58.843227229Z",
        "UpdatedAt": at,
        "Labels": {},
        "Spec": task_spec,
        "ServiceID": service["ID"],
        "NodeID": node,
        "Status": status,
        "DesiredState": desired,
    }
    if slot is not None:
        task["Slot"] = slot
    return task


def make_node(
    node_id: str = NODE,
    *,
    role: str = "manager",
    state: str = "ready",
    availability: str = "active",
    labels: dict[str, str] | None = None,
    hostname: str = "vm",
) -> dict[str, Any]:
    return {
        "ID": node_id,
        "Spec": {"Role": role, "Availability": availability, "Labels": labels or {}},
        "Description": {
            "Hostname": hostname,
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Engine": {"EngineVersion": "20.10.24+dfsg1", "Labels": {}},
        },
        "Status": {"State": state, "Addr": "127.0.0.1"},
    }


def judge(services, tasks, tracker=None, **kwargs):
    tracker = tracker or ss.FailureTracker(since=SINCE)
    return ss.judge_stack(STACK, services, tasks, tracker, **kwargs), tracker


# ------------------------------------------------------------------------ basics


def test_parse_timestamp_nanoseconds_and_epoch():
    assert ss.parse_timestamp("2026-11-27T08:34:03.957726845Z") == pytest.approx(
        ss.parse_timestamp("2026-11-27T08:34:03Z") + 0.957726845
    )
    assert ss.parse_timestamp("2026-11-27T09:34:03+01:00") == ss.parse_timestamp(
        "2026-11-27T08:34:03Z"
    )
    assert ss.parse_timestamp("1764232443.5") == 1764232443.5
    assert ss.parse_timestamp(12) == 12.0
    assert ss.parse_timestamp("0001-01-01T00:00:00Z") is None
    assert ss.parse_timestamp("") is None
    with pytest.raises(ValueError):
        ss.parse_timestamp("yesterday")


def test_converged_healthy_stack_reports_version_and_services():
    app = make_service("app", labels={f"coop-cloud.{STACK}.version": "1.2.0+3.4"})
    db = make_service("db", image="ccci-test/postgres:16")
    verdict, _ = judge([app, db], [make_task(app), make_task(db)])
    assert verdict.status == ss.CONVERGED
    assert verdict.version == "1.2.0+3.4"
    names = [s.name for s in verdict.services]
    assert names == [f"{STACK}_app", f"{STACK}_db"]
    assert verdict.services[1].as_dict()["image"] == "ccci-test/postgres:16"
    assert all(s.running == s.desired == 1 for s in verdict.services)


def test_empty_stack_is_an_error():
    with pytest.raises(ValueError, match=f"no services in stack {STACK}"):
        judge([], [])


def test_starting_task_is_not_converged():
    app = make_service()
    verdict, _ = judge([app], [make_task(app, "starting")])
    assert verdict.status == ss.PENDING
    assert "starting" in verdict.services[0].reason


def test_fresh_deploy_without_tasks_is_pending():
    app = make_service(replicas=2)
    verdict, _ = judge([app], [make_task(app, "preparing", slot=1)])
    assert verdict.status == ss.PENDING
    assert verdict.services[0].reason.startswith("1/2 tasks scheduled")


def test_unhealthy_container_blocks_convergence():
    app = make_service()
    task = make_task(app, container="c" * 64)
    verdict, _ = judge([app], [task], unhealthy={"c" * 64})
    assert verdict.status == ss.PENDING
    assert "unhealthy" in verdict.services[0].reason
    verdict, _ = judge([app], [task], unhealthy={"d" * 64})
    assert verdict.status == ss.CONVERGED


def test_replicas_zero_converges_once_nothing_runs():
    worker = make_service("worker", replicas=0)
    old = make_task(worker, "shutdown", desired="shutdown", exit_code=137)
    verdict, _ = judge([worker], [old])
    assert verdict.status == ss.CONVERGED
    assert verdict.services[0].desired == 0
    stopping = make_task(worker, "running", desired="shutdown")
    verdict, _ = judge([worker], [stopping])
    assert verdict.status == ss.PENDING
    assert "still stopping" in verdict.services[0].reason


def test_too_many_tasks_is_not_converged():
    app = make_service(replicas=1)
    verdict, _ = judge([app], [make_task(app, slot=1), make_task(app, slot=2)])
    assert verdict.status == ss.PENDING


def test_restart_delay_task_desired_ready_is_pending():
    app = make_service()
    failed = make_task(
        app, "failed", desired="shutdown", err="task: non-zero exit (1)", exit_code=1
    )
    waiting = make_task(app, "ready", desired="ready")
    verdict, tracker = judge([app], [failed, waiting])
    assert verdict.status == ss.PENDING
    assert tracker.count(f"{STACK}_app") == 1


# ------------------------------------------------------------------ update status


def test_stop_first_update_with_all_replicas_running_is_not_converged():
    """N/N running while UpdateStatus says updating (e.g. the monitor period)."""
    app = make_service(
        replicas=2,
        env=["X=2"],
        update={"State": "updating", "Message": "update in progress"},
    )
    tasks = [make_task(app, slot=1), make_task(app, slot=2)]
    verdict, _ = judge([app], tasks)
    report = verdict.services[0]
    assert report.running == report.desired == 2
    assert verdict.status == ss.PENDING
    assert report.reason == "update updating: update in progress"


def test_tasks_of_an_older_spec_are_not_converged():
    """The spec changed but swarm has not set UpdateStatus yet: old tasks all run."""
    old = make_service(replicas=1)
    new = make_service(replicas=1, env=["X=2"], update={"State": "completed"})
    stale = make_task(old)  # made from the old template
    verdict, _ = judge([new], [stale])
    assert verdict.status == ss.PENDING
    assert "outdated spec" in verdict.services[0].reason
    verdict, _ = judge([new], [make_task(new)])
    assert verdict.status == ss.CONVERGED


def test_task_spec_comparison_ignores_runtime_and_empty_fields():
    app = make_service()
    task = make_task(app)
    task["Spec"]["Resources"] = {"Limits": {}}
    task["Spec"].pop("ForceUpdate")
    assert ss.task_is_current(task, app)
    task["Spec"]["ContainerSpec"]["Image"] = "other:1"
    assert not ss.task_is_current(task, app)


def test_update_completed_converges():
    app = make_service(update={"State": "completed", "Message": "update completed"})
    verdict, _ = judge([app], [make_task(app)])
    assert verdict.status == ss.CONVERGED
    assert verdict.services[0].update_state == "completed"


def test_paused_update_fails_at_once_with_its_message():
    message = "update paused due to failure or early termination of task rfqubsb3etm8c99xsgqj93jir"
    app = make_service(update={"State": "paused", "Message": message})
    verdict, _ = judge([app], [make_task(app)])
    assert verdict.status == ss.FAILED
    assert verdict.failed[0].reason == f"update paused: {message}"


@pytest.mark.parametrize("state", ["rollback_paused", "rollback_started", "rollback_completed"])
def test_rollbacks_are_failures(state):
    app = make_service(update={"State": state, "Message": "rollback completed"})
    verdict, _ = judge([app], [make_task(app)])
    assert verdict.status == ss.FAILED
    assert "rollback completed" in verdict.failed[0].reason


def test_one_failed_service_fails_the_stack_even_if_others_converge():
    good = make_service("app")
    bad = make_service("db", update={"State": "paused", "Message": "paused"})
    verdict, _ = judge([good, bad], [make_task(good), make_task(bad)])
    assert verdict.status == ss.FAILED
    assert [r.name for r in verdict.failed] == [f"{STACK}_db"]


# ----------------------------------------------------------------- crash loops


def crash(service, second: int, code: int = 1) -> dict[str, Any]:
    return make_task(
        service,
        "failed",
        desired="shutdown",
        at=f"2026-11-27T08:34:{second:02d}.724587546Z",
        err=f"task: non-zero exit ({code})",
        exit_code=code,
    )


def test_crash_loop_counts_failures_across_polls_and_fails_at_the_threshold():
    app = make_service()
    name = f"{STACK}_app"
    tracker = ss.FailureTracker(since=SINCE)
    first = [crash(app, 1), make_task(app, "ready", desired="ready")]
    verdict, _ = judge([app], first, tracker)
    assert verdict.status == ss.PENDING
    assert tracker.count(name) == 1
    # the same failure seen again is not counted twice
    verdict, _ = judge([app], first, tracker)
    assert tracker.count(name) == 1
    second = [*first, crash(app, 7)]
    verdict, _ = judge([app], second, tracker)
    assert verdict.status == ss.PENDING
    # swarm reaped the first failure (retention limit): still remembered
    third = [second[2], crash(app, 13, code=3), make_task(app, "starting")]
    verdict, _ = judge([app], third, tracker)
    assert verdict.status == ss.FAILED
    assert tracker.count(name) == 3
    assert tracker.last(name).error == "task: non-zero exit (3)"
    assert "task: non-zero exit (3)" in verdict.failed[0].reason


def test_failures_before_since_are_not_counted():
    app = make_service()
    old = make_task(
        app, "failed", desired="shutdown", at="2026-11-27T08:30:00Z", err="task: non-zero exit (1)"
    )
    verdict, tracker = judge([app], [old, make_task(app)])
    assert verdict.status == ss.CONVERGED
    assert tracker.count(f"{STACK}_app") == 0


def test_orchestrator_shutdown_with_exit_137_is_not_a_failure():
    """An old task stopped during an update reports shutdown + 137 (SIGKILL)."""
    app = make_service()
    stopped = make_task(
        app, "shutdown", desired="shutdown", at="2026-11-27T08:36:09Z", exit_code=137
    )
    verdict, tracker = judge([app], [stopped, make_task(app)], max_task_failures=1)
    assert verdict.status == ss.CONVERGED
    assert tracker.count(f"{STACK}_app") == 0


def test_exit_zero_of_a_long_running_service_counts():
    app = make_service()
    done = make_task(app, "complete", desired="shutdown", at="2026-11-27T08:34:05Z")
    verdict, tracker = judge([app], [done], max_task_failures=1)
    assert verdict.status == ss.FAILED
    assert "exited with code 0" in tracker.last(f"{STACK}_app").error


def test_rejected_no_such_image():
    app = make_service(image="ccci-test/nonexistent:nope")
    err = "No such image: ccci-test/nonexistent:nope"
    tasks = [
        make_task(app, "rejected", desired="shutdown", at=f"2026-11-27T08:34:0{i}Z", err=err)
        for i in range(1, 4)
    ]
    verdict, tracker = judge([app], tasks)
    assert verdict.status == ss.FAILED
    assert tracker.last(f"{STACK}_app").error == err
    assert err in verdict.failed[0].reason


def test_restart_condition_none_fails_on_first_failure():
    app = make_service(restart={"Condition": "none"})
    verdict, _ = judge([app], [crash(app, 2)], max_task_failures=5)
    assert verdict.status == ss.FAILED


def test_max_attempts_caps_the_threshold():
    app = make_service(restart={"Condition": "on-failure", "MaxAttempts": 1})
    assert ss.failure_threshold(app, 3) == 2
    windowed = make_service(restart={"Condition": "any", "MaxAttempts": 1, "Window": 10**10})
    assert ss.failure_threshold(windowed, 3) == 3


# ------------------------------------------------------------------ global mode


def test_global_mode_one_task_per_eligible_node():
    agent = make_service("agent", global_mode=True, constraints=["node.labels.ci==yes"])
    nodes = [
        make_node("n1", labels={"ci": "yes"}),
        make_node("n2", labels={"ci": "YES"}),  # constraint values match case-insensitively
        make_node("n3", labels={"ci": "no"}),
        make_node("n4", labels={"ci": "yes"}, availability="drain"),
        make_node("n5", labels={"ci": "yes"}, state="down"),
    ]
    t1 = make_task(agent, node="n1", slot=None)
    t2 = make_task(agent, "starting", node="n2", slot=None)
    verdict, _ = judge([agent], [t1, t2], nodes=nodes)
    report = verdict.services[0]
    assert report.mode == "global"
    assert report.desired == 2
    assert verdict.status == ss.PENDING
    t2 = make_task(agent, node="n2", slot=None)
    verdict, _ = judge([agent], [t1, t2], nodes=nodes)
    assert verdict.status == ss.CONVERGED


def test_global_mode_without_node_list_uses_placed_tasks():
    agent = make_service("agent", global_mode=True)
    verdict, _ = judge([agent], [make_task(agent, slot=None)], nodes=None)
    assert verdict.status == ss.CONVERGED
    assert verdict.services[0].desired == 1


def test_node_constraints():
    node = make_node(role="manager", hostname="vm")
    assert ss.node_matches(node, ["node.role==manager", "node.hostname != other"])
    assert not ss.node_matches(node, ["node.role == worker"])
    assert not ss.node_matches(node, ["node.labels.missing==x"])
    assert ss.node_matches(node, ["node.labels.missing!=x"])


# --------------------------------------------------------------- labels and logs


def test_timeout_label_and_durations():
    app = make_service("app", labels={f"coop-cloud.{STACK}.timeout": "120"})
    db = make_service("db", labels={f"coop-cloud.{STACK}.timeout": "5m"})
    bad = make_service("x", labels={f"coop-cloud.{STACK}.timeout": "soon"})
    assert ss.stack_timeout_label([app], STACK) == 120
    assert ss.stack_timeout_label([app, db, bad], STACK) == 300
    assert ss.stack_timeout_label([bad], STACK) is None
    assert ss.parse_duration("1h30m") == 5400


def test_last_log_lines_orders_tasks_and_strips_timestamps():
    raw = (
        b"2026-11-27T08:34:06.564201819Z second\n"
        b"2026-11-27T08:34:00.769414984Z first\n"
        b"2026-11-27T08:34:12.346215642Z third\r\n"
    )
    assert ss.last_log_lines(raw, 2) == ["second", "third"]
    assert ss.last_log_lines(raw, 20) == ["first", "second", "third"]
    assert ss.last_log_lines(b"", 5) == []


def test_failed_update_names_the_error_of_the_task_it_blames():
    app = make_service(update={"State": "rollback_started", "Message": "placeholder"})
    culprit = crash(app, 16, code=2)
    app["UpdateStatus"]["Message"] = (
        f"update rolled back due to failure or early termination of task {culprit['ID']}"
    )
    verdict, _ = judge([app], [culprit, make_task(app, "ready", desired="ready")])
    assert verdict.status == ss.FAILED
    assert verdict.failed[0].reason.endswith("(task error: task: non-zero exit (2))")


def test_update_in_progress_reason_names_the_stuck_task():
    app = make_service(update={"State": "updating", "Message": "update in progress"})
    stuck = make_task(
        app,
        "pending",
        slot=1,
        err="no suitable node (host-mode port already in use on 1 node)",
    )
    verdict, _ = judge([app], [stuck, make_task(app, slot=1)])
    assert verdict.status == ss.PENDING
    assert "host-mode port already in use" in verdict.services[0].reason


def _without_healthcheck() -> dict[str, Any]:
    service = make_service()
    del service["Spec"]["TaskTemplate"]["ContainerSpec"]["Healthcheck"]
    return service


def test_running_without_healthcheck_must_settle_first():
    """A process that exits right after starting is briefly `running`; that is no convergence."""
    service = _without_healthcheck()
    task = make_task(service, at="2026-11-27T08:34:00Z")
    started = ss.parse_timestamp("2026-11-27T08:34:00Z")
    young = ss.judge_service(service, [task], now=started + 1, min_running=3.0)
    assert young.status == ss.PENDING
    assert "not yet 3s (no healthcheck)" in young.reason
    settled = ss.judge_service(service, [task], now=started + 4, min_running=3.0)
    assert settled.status == ss.CONVERGED


def test_running_with_healthcheck_counts_at_once():
    service = make_service()
    task = make_task(service, at="2026-11-27T08:34:00Z")
    started = ss.parse_timestamp("2026-11-27T08:34:00Z")
    report = ss.judge_service(service, [task], now=started + 0.1, min_running=3.0)
    assert report.status == ss.CONVERGED


def test_judge_stack_passes_min_running_on_to_each_service():
    """The module calls judge_stack, not judge_service: a min_running dropped on the way
    would call a crash loop (briefly ``running``) converged."""
    service = _without_healthcheck()
    task = make_task(service, at="2026-11-27T08:34:00Z")
    started = ss.parse_timestamp("2026-11-27T08:34:00Z")
    young, _ = judge([service], [task], now=started + 1, min_running=3.0)
    assert young.status == ss.PENDING
    assert "running for 1.0s, not yet 3s (no healthcheck)" in young.services[0].reason
    settled, _ = judge([service], [task], now=started + 4, min_running=3.0)
    assert settled.status == ss.CONVERGED


def test_judge_stack_without_now_does_not_wait_for_min_running():
    """Without ``now`` there is no age to compare: min_running cannot apply."""
    service = _without_healthcheck()
    verdict, _ = judge([service], [make_task(service)], min_running=3.0)
    assert verdict.status == ss.CONVERGED


# ------------------------------------------- crash loops versus dependencies starting


def at(second: float) -> float:
    """Epoch seconds of 08:34:<second> on the test day (SINCE is 08:34:00)."""
    return SINCE + second


def restarting(service) -> dict[str, Any]:
    """The replacement task swarm holds back for the restart delay."""
    return make_task(service, "ready", desired="ready", slot=1)


def test_failures_while_another_service_starts_do_not_count():
    """An app that exits until its database is up is not a crash loop (issue 10 item 8)."""
    db, app = make_service("db"), make_service("app")
    name = f"{STACK}_app"
    tracker = ss.FailureTracker(since=SINCE)
    booting = make_task(db, "starting", at="2026-11-27T08:34:01Z")
    crashes = [crash(app, 1), crash(app, 7), crash(app, 13), crash(app, 19)]
    verdict, _ = judge([db, app], [booting, *crashes, restarting(app)], tracker, now=at(20))
    assert verdict.status == ss.PENDING
    assert tracker.count(name) == 0 and tracker.total(name) == 4
    report = {r.name: r for r in verdict.services}[name]
    assert report.task_failures == 0 and report.task_failures_seen == 4
    assert "4 task failure(s) not counted: other services were still starting" in report.reason


def test_failures_count_once_every_other_service_converged():
    db, app = make_service("db"), make_service("app")
    name = f"{STACK}_app"
    tracker = ss.FailureTracker(since=SINCE)
    booting = make_task(db, "starting", at="2026-11-27T08:34:01Z")
    early = [crash(app, 1), crash(app, 7), crash(app, 13)]
    verdict, _ = judge([db, app], [booting, *early, restarting(app)], tracker, now=at(14))
    assert verdict.status == ss.PENDING
    healthy = make_task(db, at="2026-11-27T08:34:20Z")
    verdict, _ = judge([db, app], [healthy, *early, restarting(app)], tracker, now=at(20.5))
    assert verdict.status == ss.PENDING  # the waived failures stay waived
    assert tracker.count(name) == 0
    later = [*early, crash(app, 25), crash(app, 31)]
    verdict, _ = judge([db, app], [healthy, *later, restarting(app)], tracker, now=at(32))
    assert verdict.status == ss.PENDING and tracker.count(name) == 2
    verdict, _ = judge(
        [db, app], [healthy, *later, crash(app, 37, code=3)], tracker, now=at(38)
    )
    assert verdict.status == ss.FAILED
    [failed] = verdict.failed
    assert failed.name == name and failed.task_failures == 3 and failed.task_failures_seen == 6
    assert "3 task failure(s) while every other service was converged" in failed.reason
    assert "task: non-zero exit (3)" in failed.reason


def test_app_that_connects_once_the_database_is_up_converges():
    db, app = make_service("db"), make_service("app")
    tracker = ss.FailureTracker(since=SINCE)
    crashes = [crash(app, 1), crash(app, 7), crash(app, 13), crash(app, 19)]
    booting = make_task(db, "starting", at="2026-11-27T08:34:01Z")
    judge([db, app], [booting, *crashes, restarting(app)], tracker, now=at(20))
    healthy = make_task(db, at="2026-11-27T08:34:21Z")
    up = make_task(app, at="2026-11-27T08:34:26Z")
    verdict, _ = judge([db, app], [healthy, *crashes, up], tracker, now=at(27))
    assert verdict.status == ss.CONVERGED
    assert verdict.services[0].task_failures_seen == 4


def test_failures_stop_counting_while_another_service_is_down_again():
    db, app = make_service("db"), make_service("app")
    name = f"{STACK}_app"
    tracker = ss.FailureTracker(since=SINCE)
    healthy = make_task(db, at="2026-11-27T08:34:00.5Z")
    two = [crash(app, 1), crash(app, 7)]
    judge([db, app], [healthy, *two, restarting(app)], tracker, now=at(8))
    assert tracker.count(name) == 2  # the first look's window starts at since
    rebooting = make_task(db, "starting", at="2026-11-27T08:34:09Z")
    judge([db, app], [rebooting, *two, restarting(app)], tracker, now=at(9.5))
    more = [*two, crash(app, 13), crash(app, 19), crash(app, 25)]
    verdict, _ = judge([db, app], [rebooting, *more, restarting(app)], tracker, now=at(26))
    assert verdict.status == ss.PENDING
    # the window closed at the look that saw db down (9.5): later failures are waived
    assert tracker.count(name) == 2 and tracker.total(name) == 5


def test_two_crash_loops_do_not_shield_each_other():
    """Nothing is still starting: every pending service keeps failing, so fail fast."""
    app, worker = make_service("app"), make_service("worker")
    tracker = ss.FailureTracker(since=SINCE)
    tasks = [crash(s, sec) for s in (app, worker) for sec in (1, 7, 13)]
    verdict, _ = judge([app, worker], [tasks[0], tasks[3]], tracker, now=at(3))
    assert verdict.status == ss.PENDING
    verdict, _ = judge([app, worker], tasks, tracker, now=at(14))
    assert verdict.status == ss.FAILED
    assert len(verdict.failed) == 2
    assert all("no service is still starting" in r.reason for r in verdict.failed)
    assert all(r.task_failures == 0 and r.task_failures_seen == 3 for r in verdict.failed)


def test_a_starting_service_keeps_a_crashing_one_waiting_until_it_converges():
    """Only a service that is not itself failing holds the others' counting back."""
    db, app = make_service("db"), make_service("app")
    tracker = ss.FailureTracker(since=SINCE)
    booting = make_task(db, "starting", at="2026-11-27T08:34:01Z")
    crashes = [crash(app, s) for s in (1, 7, 13, 19, 25, 31)]
    verdict, _ = judge([db, app], [booting, *crashes, restarting(app)], tracker, now=at(32))
    assert verdict.status == ss.PENDING


def test_lone_crash_loop_reason_counts_since_the_deploy():
    app = make_service()
    tasks = [crash(app, 1), crash(app, 7), crash(app, 13)]
    verdict, _ = judge([app], tasks, now=at(14))
    assert verdict.status == ss.FAILED
    assert "3 task failure(s) since the deploy; last:" in verdict.failed[0].reason


def test_a_running_task_whose_container_exited_is_not_converged():
    """Swarm may say running for seconds after the process died; the engine knows."""
    service = {"Spec": {"TaskTemplate": {"ContainerSpec": {}}}}
    task = {"Status": {"State": "running", "Timestamp": "2026-01-01T00:00:00Z",
                       "ContainerStatus": {"ContainerID": "c1"}},
            "DesiredState": "running", "Spec": {}}
    far_later = 1_900_000_000.0
    good, problems = ss.classify_active(service, [task], {"c1": "exited"}, far_later, 3.0)
    assert good == [] and problems and problems[0].endswith("container is exited")
