"""The generic checks' pure parts, and their glue against a scripted Docker CLI.

Secret values here are random per test and never written into an assertion's message:
a test computes ``leaked = value in text`` and asserts on the boolean.
"""

from __future__ import annotations

import ast
import json
import logging
import pickle
import secrets
import shlex
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import testinfra

from ccci.config.registry import GENERIC_CHECKS
from ccci.functional import generic, swarm_facts
from ccci.functional.generic import (
    GenericCheckNote,
    SecretValue,
    TaskRecord,
    check_converged,
    check_health,
    check_secrets_hidden,
    check_stable_tasks,
    deploy_settled,
    describe_pending,
    env_leaks,
    find_in_files,
    health_skip_reason,
    label_leaks,
    last_deploy,
    log_leaks,
    parse_replicas,
    parse_time,
    replaced_tasks,
    secret_mounts,
    service_convergence,
    skip_if_declared,
    task_record,
    version_label_problems,
)
from ccci.functional.plugin import AppSession
from ccci.functional.swarm_facts import LiveService
from ccci.rundir import DeployEntry, RunDir

SINCE = datetime(2026, 11, 28, 9, 40, tzinfo=UTC)


def new_value() -> str:
    return secrets.token_hex(16)


# -- time --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "2026-11-28T09:26:51.71200196Z",  # the Engine API (nanoseconds)
    "2026-11-28T10:26:51.712001+01:00",  # an offset
    "2026-11-28T04:26:51.712001-0500",  # an offset without a colon
    "2026-11-28 09:26:51.71200196 +0000 UTC",  # Go's time.String(), CLI templates
    "2026-11-28 09:26:51.71200196 +0000 UTC m=+0.001",  # with the monotonic reading
    "2026-11-28T09:26:51.712001",  # ccci's deploy record: UTC without a zone
    "2026-11-28T09:26:51.712001+00:00",
])
def test_timestamps_in_every_format_are_the_same_instant(text):
    assert parse_time(text) == datetime(2026, 11, 28, 9, 26, 51, 712001, tzinfo=UTC)


@pytest.mark.parametrize("text", [None, "", "0001-01-01T00:00:00Z",
                                  "0001-01-01 00:00:00 +0000 UTC"])
def test_blank_and_zero_times_are_none(text):
    assert parse_time(text) is None


def test_a_relative_time_is_refused():
    with pytest.raises(ValueError, match="Running 19 seconds ago"):
        parse_time("Running 19 seconds ago")


# -- converged ---------------------------------------------------------------------------


def test_replica_counts_are_parsed():
    assert parse_replicas("1/1") == generic.Replicas(1, 1)
    assert parse_replicas("1/2 (max 1 per node)") == generic.Replicas(1, 2, note="max 1 per node")
    assert parse_replicas("0/1 (1/1 completed)") == generic.Replicas(0, 1, 1, 1, "1/1 completed")
    with pytest.raises(ValueError):
        parse_replicas("one of two")


def test_a_converged_service_has_no_problem():
    assert service_convergence("app", "replicated", "1/1", {"State": "completed"}) == []
    assert service_convergence("worker", "replicated", "0/0") == []
    assert service_convergence("agent", "global", "3/3") == []
    assert service_convergence("migrate", "replicated job", "0/1 (1/1 completed)") == []


def test_a_service_short_of_tasks_is_named_with_its_counts():
    assert service_convergence("app", "replicated", "1/2 (max 1 per node)") == [
        "service app runs 1 of 2 replicas (max 1 per node)"]
    [problem] = service_convergence("agent", "global", "1/2")
    assert "agent runs 1 of 2" in problem and "one per eligible node" in problem
    [problem] = service_convergence("migrate", "replicated job", "0/1 (0/1 completed)")
    assert "job migrate completed 0 of 1" in problem


def test_an_unfinished_update_is_not_converged_even_at_full_count():
    problems = service_convergence("app", "replicated", "1/1",
                                   {"State": "paused", "Message": "update paused due to failure"})
    assert problems == ["service app: its update is paused (update paused due to failure)"]
    assert service_convergence("app", "replicated", "1/1", {"State": "rollback_completed"})


def test_an_unreadable_replica_count_is_a_problem_not_a_crash():
    assert service_convergence("app", "replicated", "") == [
        "service app: cannot read its replica count ''"]


def test_pending_tasks_say_why():
    rows = [{"Name": "s_app.2", "CurrentState": "Pending 2 seconds ago",
             "Error": '"no suitable node (max replicas per node limit exceed)"'}]
    assert describe_pending(rows, "s") == (
        "app.2 pending: no suitable node (max replicas per node limit exceed)")


# -- stable_tasks ------------------------------------------------------------------------


def raw_task(task_id: str, created: str, state: str, changed: str, *, slot: int = 1,
             node: str = "node1", err: str = "", exit_code: int = 0) -> dict:
    """A task as ``docker inspect --type task`` returns it (the fields the check reads)."""
    return {"ID": task_id, "CreatedAt": created, "Slot": slot, "NodeID": node,
            "DesiredState": "running" if state == "running" else "shutdown",
            "Status": {"State": state, "Timestamp": changed, "Err": err,
                       "ContainerStatus": {"ExitCode": exit_code}}}


def records(*tasks: dict, service: str = "app", **kwargs) -> list[TaskRecord]:
    return [task_record(t, service, **kwargs) for t in tasks]


def test_a_slot_that_kept_its_task_is_stable():
    tasks = records(raw_task("a" * 25, "2026-11-28T09:30:00.1Z", "running",
                             "2026-11-28T09:30:05Z"))
    assert replaced_tasks(tasks, SINCE) == []


def test_a_task_killed_after_the_deploy_is_named_with_its_exit():
    tasks = records(
        raw_task("old" + "a" * 22, "2026-11-28T09:30:00.123456789Z", "failed",
                 "2026-11-28 09:45:00.5 +0000 UTC", err="task: non-zero exit (137)",
                 exit_code=137),
        raw_task("new" + "b" * 22, "2026-11-28T10:45:06+01:00", "running",
                 "2026-11-28T09:45:10Z"),
    )
    [problem] = replaced_tasks(tasks, SINCE)
    assert problem.startswith("service app: 2 tasks in slot 1 since 2026-11-28T09:40:00Z (1 died)")
    assert "last failure: task oldaaaaaaaaa failed at 2026-11-28T09:45:00Z: " \
           "task: non-zero exit (137)" in problem


def test_an_offset_is_not_mistaken_for_utc():
    """10:30+01:00 is 09:30Z, before the window: read naively it would be after it."""
    tasks = records(
        raw_task("x" * 25, "2026-11-28T10:30:00+01:00", "failed", "2026-11-28T10:35:00+01:00",
                 err="task: non-zero exit (1)", exit_code=1),
        raw_task("y" * 25, "2026-11-28T10:35:05+01:00", "running", "2026-11-28T10:35:09+01:00"),
    )
    assert replaced_tasks(tasks, SINCE) == []


def test_restarts_before_the_window_are_the_deploys_business():
    tasks = records(
        raw_task("c1" * 12 + "c", "2026-11-28T09:30:00Z", "failed", "2026-11-28T09:31:00Z",
                 err="task: non-zero exit (1)", exit_code=1),
        raw_task("c2" * 12 + "c", "2026-11-28T09:31:05Z", "running", "2026-11-28T09:31:09Z"),
    )
    assert replaced_tasks(tasks, SINCE) == []


def test_one_update_after_the_deploy_is_fine_two_are_replacements():
    old = raw_task("o" * 25, "2026-11-28T09:30:00Z", "shutdown", "2026-11-28T09:41:00Z")
    first = raw_task("f" * 25, "2026-11-28T09:41:00Z", "shutdown", "2026-11-28T09:42:00Z")
    second = raw_task("s" * 25, "2026-11-28T09:42:00Z", "running", "2026-11-28T09:42:03Z")
    assert replaced_tasks(records(old, {**first, "Status": {
        **first["Status"], "State": "running"}}), SINCE) == []
    [problem] = replaced_tasks(records(old, first, second), SINCE)
    assert "2 tasks in slot 1" in problem and "(0 died)" in problem
    assert "replaced by service updates" in problem


def test_a_task_that_died_and_is_not_replaced_yet_counts():
    tasks = records(raw_task("d" * 25, "2026-11-28T09:30:00Z", "complete",
                             "2026-11-28T09:50:00Z"))
    [problem] = replaced_tasks(tasks, SINCE)
    assert "1 task in slot 1" in problem and "(1 died)" in problem


def test_a_job_completing_is_not_a_death():
    tasks = records(raw_task("j" * 25, "2026-11-28T09:41:00Z", "complete",
                             "2026-11-28T09:42:00Z"), job=True)
    assert replaced_tasks(tasks, SINCE) == []


def test_global_services_are_judged_per_node():
    node_a = raw_task("a" * 25, "2026-11-28T09:41:00Z", "running", "2026-11-28T09:41:02Z",
                      slot=0, node="nodeA")
    node_b = raw_task("b" * 25, "2026-11-28T09:41:00Z", "running", "2026-11-28T09:41:02Z",
                      slot=0, node="nodeB")
    assert replaced_tasks(records(node_a, node_b, service="agent", per_node=True), SINCE) == []
    again = {**node_b, "ID": "c" * 25, "CreatedAt": "2026-11-28T09:50:00Z"}
    [problem] = replaced_tasks(records(node_a, node_b, again, service="agent", per_node=True),
                               SINCE)
    assert problem.startswith("service agent: 2 tasks in node nodeB")


def test_the_window_opens_when_the_last_deploy_converged(tmp_path):
    run = RunDir(tmp_path)
    run.record_deploy(DeployEntry(op="install", plan="target", started="2026-11-28T09:26:50.5"),
                      published_port=None, stack="s")
    run.record_deploy(DeployEntry(op="redeploy", plan="target", converged=True, elapsed=2.5,
                                  started="2026-11-28T09:26:59.25"),
                      published_port=None, stack="s")
    entry = last_deploy(tmp_path)
    assert entry.op == "redeploy"
    assert deploy_settled(entry) == datetime(2026, 11, 28, 9, 27, 1, 750000, tzinfo=UTC)
    unconverged = DeployEntry(op="install", plan="target", started="2026-11-28T09:26:50.5")
    assert deploy_settled(unconverged) == datetime(2026, 11, 28, 9, 26, 50, 500000, tzinfo=UTC)


def test_a_run_without_deploys_says_so(tmp_path):
    with pytest.raises(LookupError, match="records no deploy"):
        last_deploy(tmp_path)


# -- health ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/health": 200, "/moved": 302, "/broken": 500}.get(self.path, 404)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/health")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass



@pytest.fixture
def local_app() -> Iterator[AppSession]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield AppSession(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


def test_health_passes_on_an_ok_status(local_app):
    assert check_health(local_app, "/health", [200]) == []


def test_health_names_the_status_and_health_ok(local_app):
    assert check_health(local_app, "/broken", [200, 204]) == [
        "GET /broken answered 500 Internal Server Error, not one of HEALTH_OK [200, 204]"]


def test_a_redirect_is_judged_itself_not_followed(local_app):
    assert check_health(local_app, "/moved", [200]) == [
        "GET /moved answered 302 Found, not one of HEALTH_OK [200]"]
    assert check_health(local_app, "/moved", [302]) == []


def test_no_answer_is_a_problem():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_port
    server.server_close()  # nothing listens there now
    [problem] = check_health(AppSession(f"http://127.0.0.1:{port}"), "/health", [200],
                             timeout=5)
    assert problem.startswith("GET /health got no answer: ConnectionError")


def test_health_does_not_apply_without_an_http_service():
    assert "no HTTP service" in health_skip_reason(None)
    assert health_skip_reason("app") is None


# -- version_label -----------------------------------------------------------------------


def test_the_version_label_matches():
    labels = {"app": {"coop-cloud.s.version": "1.2.0+0.3.0"}, "db": {}}
    assert version_label_problems(labels, "s", "1.2.0+0.3.0") == []


def test_another_version_names_both():
    labels = {"app": {"coop-cloud.s.version": "1.1.0+0.2.0"}}
    assert version_label_problems(labels, "s", "1.2.0+0.3.0") == [
        "service app is labelled version 1.1.0+0.2.0 (coop-cloud.s.version), but the version "
        "under test is 1.2.0+0.3.0"]


def test_no_version_label_at_all_is_a_problem():
    [problem] = version_label_problems({"app": {"coop-cloud.other.version": "1"}}, "s", "1.0.0+1")
    assert "no service of stack s carries the label coop-cloud.s.version" in problem


# -- secrets: values stay hidden ---------------------------------------------------------


def test_a_secret_value_never_shows_in_its_repr_str_or_pickle():
    value = new_value()
    secret = SecretValue("db_password", value.encode() + b"\n")
    shown = repr(secret) + str(secret) + repr([secret]) + f"{secret}"
    leaked = value in shown
    assert not leaked, "the value shows in the repr or str of SecretValue"
    assert repr(secret) == "<secret db_password: 32 characters, hidden>"
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(secret)


def test_a_value_is_found_without_its_trailing_newline():
    value = new_value()
    secret = SecretValue("s", (value + "\n").encode())
    # Booleans first: a failing assertion must not print the value it was given.
    in_text = secret.found_in(f"PASSWORD={value}")
    in_bytes = secret.found_in(b"x" + value.encode() + b"y")
    in_a_part = secret.found_in(value[:-1])
    assert (in_text, in_bytes, in_a_part) == (True, True, False)


def test_a_report_is_redacted_of_every_value():
    value, other = new_value(), new_value()
    values = [SecretValue("db_password", value.encode()), SecretValue("pin", b"1234")]
    text = generic.redact(f"connecting with {value} as {other}, pin 1234\n{value}", values)
    leaked = value in text
    assert not leaked, "the value survived redaction"
    kept = text == (f"connecting with <secret db_password> as {other}, pin 1234\n"
                    "<secret db_password>")
    assert kept, "redaction changed more than the value (short values are left alone)"


def test_short_values_are_not_searched():
    secret = SecretValue("pin", b"1234567")
    assert not secret.searchable
    assert not secret.found_in("the pin is 1234567")
    assert SecretValue("eight", b"12345678").found_in("12345678")


def test_leaks_are_named_by_variable_label_and_log_without_the_value():
    value = new_value()
    secret = SecretValue("db_password", value.encode())
    problems = (
        env_leaks([secret], {"app": ["PORT=8080", f"LEAK=x{value}x"], "db": ["A=b"]})
        + label_leaks([secret], {"app": {"service labels": {"ok": "1"},
                                         "container labels": {"debug.pw": value}}})
        + log_leaks([secret], {"app": f"start\nconnecting with {value}\nok\n".encode(),
                               "db": b"ready\n"}, 5000)
    )
    leaked = value in "\n".join(problems)
    assert not leaked, "a problem message holds the value"
    assert problems == [
        "secret db_password appears in the environment of service app (variable LEAK)",
        "secret db_password appears in the container labels of service app (label debug.pw)",
        "secret db_password appears in the logs of service app (1 line(s) of the last 5000 of "
        "each task)",
    ]


def test_values_are_found_in_a_tree_of_files_and_only_named(tmp_path):
    value = new_value()
    other = new_value()
    secrets_ = [SecretValue("db_password", value.encode()), SecretValue("api_key", other.encode())]
    stdout = tmp_path / "ansible" / "artifacts" / "1-install" / "stdout"
    stdout.parent.mkdir(parents=True)
    stdout.write_text(f"TASK [x]\nok: {value}\n")
    binary = tmp_path / "dump.bin"
    binary.write_bytes(b"\x00\xff" * 100 + value.encode() + b"\x00" * 10)
    (tmp_path / "clean.txt").write_text("nothing to see\n")
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * 2048 + value.encode())
    outside = tmp_path.parent / f"outside-{tmp_path.name}"
    outside.write_text(value)
    (tmp_path / "link").symlink_to(outside)

    search = find_in_files(tmp_path, secrets_, max_bytes=1024)

    leaked = value in repr(search) + "\n".join(search.problems())
    assert not leaked, "the file search returned the value"
    assert sorted(search.hits) == sorted([("db_password", stdout), ("db_password", binary)])
    assert search.too_large == [big]
    assert search.searched == 3  # stdout, dump.bin, clean.txt; not the link, not big.log
    assert f"secret db_password appears in file {stdout}" in search.problems()
    outside.unlink()


def test_secret_mounts_use_the_plans_names_and_targets():
    app = live_service("app", secrets=[secret_ref("s_db_password_v1", "db_password")])
    db = live_service("db", secrets=[secret_ref("s_db_password_v1", "/etc/pw"),
                                     secret_ref("s_unplanned_v1", "unplanned")])
    mounts = secret_mounts([app, db], [{"name": "db_password", "docker_name": "s_db_password_v1"}])
    assert {name: [(svc.name, path) for svc, path in places] for name, places in mounts.items()} \
        == {"db_password": [("app", "/run/secrets/db_password"), ("db", "/etc/pw")],
            "s_unplanned_v1": [("db", "/run/secrets/unplanned")]}


# -- EXPECTED_NA -------------------------------------------------------------------------


def test_a_check_declared_not_applicable_is_skipped_with_the_reason():
    with pytest.raises(pytest.skip.Exception, match=r"^declared not applicable: no web UI$"):
        skip_if_declared("health", {"EXPECTED_NA": {"health": "no web UI"}})
    skip_if_declared("health", {"EXPECTED_NA": {"backup": "stateless"}})
    skip_if_declared("health", {})


def test_every_check_is_a_test_and_declarable_in_expected_na():
    tree = ast.parse(Path(generic.__file__).read_text())
    tests = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
             and node.name.startswith("test_")}
    assert tests == {f"test_{name}" for name in generic.CHECKS}
    assert generic.CHECKS == GENERIC_CHECKS
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in tests:
            docstring = ast.get_docstring(node) or ""
            assert docstring and "\n" not in docstring, f"{node.name} needs a one-line docstring"


# -- the testinfra log -------------------------------------------------------------------


def test_command_output_stays_out_of_testinfras_debug_log(caplog):
    host = testinfra.get_host("local://")
    marker = new_value()
    with caplog.at_level(logging.DEBUG, logger="testinfra"):
        host.run(f"echo {marker}")
        assert marker in caplog.text  # testinfra logs output: what the silencing is for
        caplog.clear()
        with swarm_facts._silent_testinfra():
            host.run(f"echo {marker}")
    leaked = marker in caplog.text
    assert not leaked, "testinfra logged a command's output while silenced"


# -- the glue, against a scripted Docker CLI ---------------------------------------------


@dataclass
class Result:
    rc: int = 0
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode()

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode()


class ScriptedHost:
    """Answers the commands the checks run, as a testinfra host would; ``answer`` maps the
    argv to a Result (None: Docker's "no such object")."""

    def __init__(self, answer: Callable[[list[str]], Result | None]) -> None:
        self.answer = answer
        self.commands: list[list[str]] = []

    def run(self, command: str) -> Result:
        argv = shlex.split(command)
        self.commands.append(argv)
        return self.answer(argv) or Result(1, b"", b"Error: No such object")


def secret_ref(docker_name: str, target: str) -> dict:
    return {"SecretName": docker_name, "File": {"Name": target}}


def live_service(name: str, *, secrets: list[dict] = (), env: list[str] = (),
                 replicas: str = "1/1", mode: str = "replicated") -> LiveService:
    spec = {"Name": f"s_{name}", "Labels": {"coop-cloud.s.version": "1.0.0+1"},
            "Mode": {"Global": {}} if mode == "global" else {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {"ContainerSpec": {"Env": list(env), "Secrets": list(secrets)}}}
    return LiveService(id=f"id-{name}", name=name, full_name=f"s_{name}", mode=mode,
                       replicas=replicas, spec=spec)


class Swarm:
    """A scripted stack ``s``: its services, their containers, a secret file, logs."""

    def __init__(self, services: list[LiveService], secret: bytes, *, cat: bool = True,
                 logs: bytes = b"", containers: bool = True) -> None:
        self.services = {s.full_name: s for s in services}
        self.secret, self.cat, self.logs, self.containers = secret, cat, logs, containers
        self.tasks: list[dict] = []
        self.pending: list[dict] = []

    def __call__(self, argv: list[str]) -> Result | None:
        words = " ".join(argv[:3])
        name = argv[-1]
        if words == "docker service ls":
            return Result(stdout_bytes="\n".join(json.dumps(
                {"Name": s.full_name, "Mode": s.mode, "Replicas": s.replicas})
                for s in self.services.values()).encode())
        if argv[:4] == ["docker", "inspect", "--type", "service"]:
            return Result(stdout_bytes=json.dumps([{"ID": s.id, "Spec": s.spec} for s in
                                                   self.services.values()]).encode())
        return self._tasks(argv, words) or self._containers(argv, words, name)

    def _tasks(self, argv: list[str], words: str) -> Result | None:
        if words == "docker service ps" and "--quiet" in argv:
            return Result(stdout_bytes="\n".join(t["ID"] for t in self.tasks).encode())
        if words == "docker service ps":
            return Result(stdout_bytes="\n".join(json.dumps(r) for r in self.pending).encode())
        if argv[:4] == ["docker", "inspect", "--type", "task"]:
            return Result(stdout_bytes=json.dumps(self.tasks).encode())
        return None

    def _containers(self, argv: list[str], words: str, name: str) -> Result | None:
        if argv[:2] == ["docker", "ps"]:
            service = next(a for a in argv if "service.name=" in a).split("=")[-1]
            return Result(stdout_bytes=f"cid-{service}\n".encode() if self.containers else b"")
        if argv[:2] == ["docker", "exec"]:
            return Result(stdout_bytes=self.secret) if self.cat else Result(
                126, b"", b'exec: "cat": executable file not found in $PATH')
        if argv[:4] == ["docker", "inspect", "--type", "container"]:
            return Result(stdout_bytes=b"4242\n")
        if argv[:2] == ["cat", "--"] and name.startswith("/proc/4242/root/run/secrets/"):
            return Result(stdout_bytes=self.secret)
        if words == "docker service logs":
            return Result(stdout_bytes=self.logs, stderr_bytes=b"")
        return None


PLANNED = [{"name": "db_password", "docker_name": "s_db_password_v1"}]


def notes_swarm(value: str, **kwargs) -> Swarm:
    mount = [secret_ref("s_db_password_v1", "db_password")]
    return Swarm([live_service("app", secrets=mount, env=kwargs.pop("env", ["PORT=8080"])),
                  live_service("db", secrets=mount)], value.encode(), **kwargs)


def test_secrets_hidden_names_every_place_a_value_leaked(tmp_path):
    value = new_value()
    swarm = notes_swarm(value, env=["PORT=8080", f"LEAK={value}"],
                        logs=f"password is {value}\n".encode())
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "stdout").write_text(value)
    problems = check_secrets_hidden(ScriptedHost(swarm), "s", PLANNED, tmp_path)
    leaked = value in "\n".join(problems)
    assert not leaked, "a problem message holds the value"
    assert problems == [
        "secret db_password appears in the environment of service app (variable LEAK)",
        "secret db_password appears in the logs of service app (1 line(s) of the last 5000 of "
        "each task)",
        "secret db_password appears in the logs of service db (1 line(s) of the last 5000 of "
        "each task)",
        f"secret db_password appears in file {tmp_path / 'artifacts' / 'stdout'}",
    ]


def test_a_clean_app_has_no_problem_and_the_value_was_really_read(tmp_path):
    value = new_value()
    host = ScriptedHost(notes_swarm(value))
    assert check_secrets_hidden(host, "s", PLANNED, tmp_path) == []
    assert ["docker", "exec", "cid-s_app", "cat", "--", "/run/secrets/db_password"] \
        in host.commands


def test_an_image_without_cat_is_read_through_proc(tmp_path):
    value = new_value()
    swarm = notes_swarm(value, cat=False, env=[f"LEAK={value}"])
    problems = check_secrets_hidden(ScriptedHost(swarm), "s", PLANNED, tmp_path)
    leaked = value in "\n".join(problems)
    assert not leaked, "a problem message holds the value"
    assert problems == [
        "secret db_password appears in the environment of service app (variable LEAK)"]


def test_a_secret_that_cannot_be_read_is_a_problem(tmp_path):
    swarm = notes_swarm(new_value(), containers=False)
    assert check_secrets_hidden(ScriptedHost(swarm), "s", PLANNED, tmp_path) == [
        "secret db_password could not be read, so it was not searched for: service app has "
        "no running container; service db has no running container"]


def test_a_short_secret_is_noted_not_searched(tmp_path):
    swarm = notes_swarm("1234567", env=["PIN=1234567"])
    with pytest.warns(GenericCheckNote, match="db_password is shorter than 8 characters"):
        assert check_secrets_hidden(ScriptedHost(swarm), "s", PLANNED, tmp_path) == []


def test_converged_names_a_missing_service_and_a_short_one_with_its_pending_task():
    swarm = Swarm([live_service("app", replicas="1/2 (max 1 per node)")], b"")
    swarm.pending = [{"Name": "s_app.2", "CurrentState": "Pending 3 seconds ago",
                      "Error": '"no suitable node (max replicas per node limit exceed)"'}]
    assert check_converged(ScriptedHost(swarm), "s", ["app", "db"]) == [
        "service db of the plan is not deployed in stack s",
        "service app runs 1 of 2 replicas (max 1 per node); not running: app.2 pending: "
        "no suitable node (max replicas per node limit exceed)",
    ]


def test_stable_tasks_reads_the_services_tasks():
    swarm = Swarm([live_service("app")], b"")
    swarm.tasks = [
        {**raw_task("k" * 25, "2026-11-28T09:30:00Z", "failed", "2026-11-28T09:45:00Z",
                    err="task: non-zero exit (137)", exit_code=137), "ServiceID": "id-app"},
        {**raw_task("r" * 25, "2026-11-28T09:45:05Z", "running", "2026-11-28T09:45:09Z"),
         "ServiceID": "id-app"},
        {**raw_task("z" * 25, "2026-11-28T09:45:05Z", "running", "2026-11-28T09:45:09Z"),
         "ServiceID": "id-gone"},
    ]
    [problem] = check_stable_tasks(ScriptedHost(swarm), "s", SINCE)
    assert problem.startswith("service app: 2 tasks in slot 1")
    assert check_stable_tasks(ScriptedHost(swarm), "s", SINCE + timedelta(hours=1)) == []
