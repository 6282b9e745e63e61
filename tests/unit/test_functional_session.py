"""The functional session runner and its pytest plugin, without a live app.

Suites are written here into a temporary folder and run by ``run_suite`` in a pytest
child of its own, as the functional tier runs a recipe's tests. Plain tests need no
run; the fixtures are exercised on a run planned on a bundled example (nothing
deployed), reached in direct mode at a small HTTP server of the test's own on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from ccci.context import create_run
from ccci.functional import plugin
from ccci.functional.session import (
    LONGREPR_BYTES,
    OUTPUT_FILE,
    REPORT_FILE,
    SESSION_DIR,
    SuiteResult,
    TestOutcome,
    run_suite,
    safe_name,
    stack_logs,
    trim,
)

PLAIN_SUITE = '''
import time

import pytest


def test_passes():
    assert 1 + 1 == 2


def test_fails_with_an_assertion():
    notes = ["a", "b"]
    assert len(notes) == 3, "three notes expected"


@pytest.mark.skip(reason="not on this app")
def test_skipped():
    pass


def test_sleeps_past_its_limit():
    time.sleep(30)


def test_runs_after_the_timeout():
    pass


@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_to_fail():
    assert False


def test_huge_failure():
    raise ValueError("a long line " * 1_000 + "\\n" + "one of many lines\\n" * 5_000)


def test_needs_the_run(app):
    pass


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_setup_error(broken):
    pass
'''


def write_suite(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def by_name(result: SuiteResult) -> dict[str, TestOutcome]:
    return {t.name: t for t in result.tests}


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (an orphan nobody reaps here) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def wait_gone(pids: list[int], within: float = 10.0) -> list[int]:
    """The pids still alive after waiting up to ``within`` s for them to end."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


# -- plain tests, no run --------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[SuiteResult, Path]:
    """One session of the plain suite plus a file that cannot be collected."""
    base = tmp_path_factory.mktemp("plain")
    suite = write_suite(base / "suite", {
        "test_plain.py": PLAIN_SUITE,
        "test_broken.py": "import a_module_nobody_wrote\n",
    })
    run_dir = base / "run"
    run_dir.mkdir()
    return run_suite(run_dir, [suite], test_timeout=2, session_timeout=120), run_dir


def test_every_test_is_reported_with_its_outcome(plain):
    result, _ = plain
    outcomes = {name: t.outcome for name, t in by_name(result).items()}
    assert outcomes == {
        "test_passes": "passed",
        "test_fails_with_an_assertion": "failed",
        "test_skipped": "skipped",
        "test_sleeps_past_its_limit": "timeout",
        "test_runs_after_the_timeout": "passed",
        "test_expected_to_fail": "skipped",
        "test_huge_failure": "failed",
        "test_needs_the_run": "error",
        "test_setup_error": "error",
    }
    assert not result.ok and result.exit_code == 1 and not result.timed_out
    assert {t.file for t in result.tests} == {"test_plain.py"}
    assert not any(t.generic for t in result.tests)


def test_a_failure_says_what_failed(plain):
    tests = by_name(plain[0])
    failed = tests["test_fails_with_an_assertion"]
    assert "three notes expected" in failed.message
    assert "assert 2 == 3" in failed.message
    assert "len(notes) == 3" in failed.longrepr
    assert failed.logs == {}  # no run, so no stack whose logs to read
    assert "fixture broke" in tests["test_setup_error"].message
    assert tests["test_skipped"].message == "not on this app"
    assert tests["test_expected_to_fail"].message == "expected to fail: known bug"


def test_a_test_past_its_limit_is_stopped_and_the_session_goes_on(plain):
    tests = by_name(plain[0])
    stopped = tests["test_sleeps_past_its_limit"]
    assert stopped.message == "stopped after 2 s (TEST_TIMEOUT)"
    assert 2 <= stopped.duration < 30
    assert tests["test_runs_after_the_timeout"].outcome == "passed"


def test_a_collection_error_is_the_sessions_error(plain):
    result, _ = plain
    assert "could not collect test_broken.py" in result.error
    assert "a_module_nobody_wrote" in result.error


def test_fixtures_needing_the_run_say_there_is_none(plain):
    message = by_name(plain[0])["test_needs_the_run"].message
    assert "NoRun" in message and "holds no context.json" in message


def test_long_failures_are_trimmed(plain):
    huge = by_name(plain[0])["test_huge_failure"]
    assert 0 < len(huge.longrepr.encode()) <= LONGREPR_BYTES
    assert "bytes cut" in huge.longrepr
    assert len(huge.message.splitlines()) <= 23 and len(huge.message.encode()) <= 2048
    assert huge.message.startswith("ValueError: a long line")


def test_the_report_and_the_output_are_in_the_run_dir(plain):
    result, run_dir = plain
    report = json.loads((run_dir / SESSION_DIR / REPORT_FILE).read_text())
    assert report["finished"] and report["exitstatus"] == 1 and report["current"] is None
    assert [t["nodeid"] for t in report["tests"]] == [t.nodeid for t in result.tests]
    assert len(report["collected"]) == 9
    assert report["collect_errors"][0]["nodeid"] == "test_broken.py"
    assert result.output == str(run_dir / SESSION_DIR / OUTPUT_FILE)
    assert "test_plain.py::test_passes PASSED" in Path(result.output).read_text()


# -- how a session ends -----------------------------------------------------------------


HANGING_SUITE = '''
import os
import signal
import subprocess
import time
from pathlib import Path


def test_first():
    pass


def test_stuck():
    sleeper = subprocess.Popen(["sleep", "600"])
    Path(os.environ["PIDS_FILE"]).write_text(f"{os.getpid()} {sleeper.pid}")
    signal.signal(signal.SIGALRM, signal.SIG_IGN)  # pytest-timeout's alarm goes unheard
    time.sleep(600)


def test_never_reached():
    pass
'''


def test_a_session_past_its_limit_is_killed_whole(tmp_path):
    suite = write_suite(tmp_path / "suite", {"test_hang.py": HANGING_SUITE})
    pids_file = tmp_path / "pids"
    # the limit leaves room for pytest's start on a loaded host: test_stuck must be running
    result = run_suite(tmp_path, [suite], test_timeout=1, session_timeout=12,
                       env={"PIDS_FILE": str(pids_file)})
    assert result.timed_out and not result.ok
    assert result.error == ("the session was stopped after 12 s (FUNCTIONAL_TIMEOUT) while "
                            "test_hang.py::test_stuck ran; 1 collected tests did not run")
    tests = by_name(result)
    assert tests["test_first"].outcome == "passed"  # reported before the kill: kept
    assert tests["test_stuck"].outcome == "timeout"
    assert "FUNCTIONAL_TIMEOUT" in tests["test_stuck"].message
    assert "test_never_reached" not in tests
    pids = [int(p) for p in pids_file.read_text().split()]
    assert wait_gone(pids, within=0) == []  # the session and the sleep it started


def test_a_crashed_session_names_the_test_it_ran(tmp_path):
    suite = write_suite(tmp_path / "suite", {"test_crash.py": '''
        import os
        import signal

        def test_ok():
            pass

        def test_kills_the_interpreter():
            os.kill(os.getpid(), signal.SIGKILL)
    '''})
    result = run_suite(tmp_path, [suite], test_timeout=10, session_timeout=60)
    assert not result.timed_out and not result.ok and result.exit_code == -signal.SIGKILL
    assert result.error.startswith("the session was killed by SIGKILL while "
                                   "test_crash.py::test_kills_the_interpreter ran")
    assert [(t.name, t.outcome) for t in result.tests] == [
        ("test_ok", "passed"), ("test_kills_the_interpreter", "error")]


def test_a_session_without_tests_is_an_error(tmp_path):
    suite = write_suite(tmp_path / "suite", {"test_empty.py": "X = 1\n"})
    result = run_suite(tmp_path, [suite])
    assert result.exit_code == 5 and result.tests == []
    assert result.error == "no tests were collected" and not result.ok
    assert run_suite(tmp_path, []).error == "no test file to run"


def test_the_session_dies_with_its_caller(tmp_path):
    suite = write_suite(tmp_path / "suite", {"test_hang.py": HANGING_SUITE})
    pids_file = tmp_path / "pids"
    caller = subprocess.Popen([
        sys.executable, "-c",
        "import sys; from pathlib import Path; from ccci.functional.session import run_suite; "
        f"run_suite(Path({str(tmp_path)!r}), [Path({str(suite)!r})], test_timeout=600, "
        f"session_timeout=600, env={{'PIDS_FILE': {str(pids_file)!r}}})",
    ])
    try:
        deadline = time.monotonic() + 60
        while not pids_file.exists() or len(pids_file.read_text().split()) < 2:
            assert time.monotonic() < deadline, "the suite never reached its hanging test"
            assert caller.poll() is None, "the caller ended early"
            time.sleep(0.1)
        pids = [int(p) for p in pids_file.read_text().split()]
        caller.kill()  # SIGKILL: the caller runs no cleanup
        caller.wait()
        assert wait_gone(pids) == []
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()


def test_no_outer_pytest_config_reaches_the_session(tmp_path, monkeypatch):
    """Neither ccci's own pyproject (``-p ccci.testing``), PYTEST_ADDOPTS, an ini file next
    to the tests nor a conftest.py above them changes the session (the suite's own
    conftest.py is read); the child gets the run's environment."""
    write_suite(tmp_path, {"conftest.py": "raise RuntimeError('a conftest above was read')\n"})
    suite = write_suite(tmp_path / "suite", {
        "pytest.ini": "[pytest]\naddopts = -p plugin_that_does_not_exist\n",
        "conftest.py": """
            import pytest

            @pytest.fixture
            def recipe_helper():
                return "from the suite's own conftest"
        """,
        "test_env.py": '''
            import os
            from pathlib import Path

            def test_environment(request, recipe_helper):
                assert recipe_helper == "from the suite's own conftest"
                assert Path.cwd() == Path(os.environ["CCCI_RUN_DIR"])
                assert os.environ["CCCI_HOST_SPEC"] == "local://"
                assert os.environ["EXTRA"] == "given"
                assert os.environ["CCCI_FUNCTIONAL_REPORT"].endswith("report.json")
                assert request.config.inipath is None or str(request.config.inipath) \\
                    == os.devnull
                assert not request.config.pluginmanager.has_plugin("ccci.testing")
                assert not request.config.pluginmanager.has_plugin("xdist")
        '''})
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p another_missing_plugin")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = run_suite(run_dir, [suite], env={"EXTRA": "given"})
    assert [(t.name, t.outcome) for t in result.tests] == [("test_environment", "passed")], \
        result.tests or result.error
    assert result.ok and not list(suite.rglob("__pycache__"))


# -- the fixtures, on a planned run ---------------------------------------------------


class _App(BaseHTTPRequestHandler):
    """Stands in for the app: echoes the request; /flaky answers 503 twice first."""

    flaky_calls = 0

    def do_GET(self) -> None:
        if self.path == "/flaky":
            type(self).flaky_calls += 1
            if type(self).flaky_calls <= 2:
                self._send(503, b"starting")
                return
        self._send(200, f"{self.headers['Host']} {self.path}".encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def app_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def planned_run(isolated_run_dirs: Path, app_server: int) -> Path:
    """example-site planned in direct mode, its port the stand-in app's."""
    context = create_run("example-site", run_dir=isolated_run_dirs / "run",
                         ingress_mode="direct", published_port=app_server)
    return Path(context.run_dir)


FIXTURES_SUITE = '''
import os
from pathlib import Path

import pytest
import requests


def test_the_run(run_dir, run_context, recipe_config, app):
    assert run_dir == Path(os.environ["CCCI_RUN_DIR"])
    assert run_context.recipe == recipe_config.recipe == "example-site"
    assert app.op == "functional" and app.domain == run_context.domain
    assert app.base_url == f"http://{run_context.domain}:{os.environ['APP_PORT']}"
    assert recipe_config.get("HEALTH_PATH") == "/health"


def test_http_joins_relative_urls_to_the_app(http, app):
    answer = http.get("/some/path?x=1")
    assert answer.status_code == 200
    assert answer.text == f"{app.domain}:{os.environ['APP_PORT']} /some/path?x=1"
    assert http.get("relative").text.endswith(" /relative")


def test_http_passes_absolute_urls_through(http):
    answer = http.get(f"http://127.0.0.1:{os.environ['APP_PORT']}/abs")
    assert answer.text == f"127.0.0.1:{os.environ['APP_PORT']} /abs"


def test_http_retries_a_starting_app(http):
    assert http.get("/flaky").status_code == 200


def test_plain_requests_reach_the_app_by_its_name(app):
    assert requests.get(app.base_url + "/plain", timeout=5).text.endswith(" /plain")


def test_deps(deps, app):
    assert dict(deps) == {"mail": {"smtp_host": "mail.example"}} and deps is app.deps


@pytest.mark.requires_deps("mail")
def test_with_mail():
    pass


@pytest.mark.requires_deps("mail", "ldap")
def test_with_ldap():
    pass


def test_service_goes_through_the_swarm_host(service):
    # The host is ssh://127.0.0.1:1 here: the container is looked up over that SSH
    # connection (refused), never with the controller's own docker.
    with pytest.raises(RuntimeError, match="port 1: Connection refused"):
        service("app")
'''


def test_the_fixtures_reach_the_app_of_the_run(planned_run, app_server, tmp_path):
    suite = write_suite(tmp_path / "suite", {"test_fixtures.py": FIXTURES_SUITE})
    deps_file = tmp_path / "deps.json"
    deps_file.write_text(json.dumps({"mail": {"smtp_host": "mail.example"}}))
    result = run_suite(planned_run, [suite], host_spec="ssh://127.0.0.1:1",
                       env={"APP_PORT": str(app_server), "CCCI_DEPS_FILE": str(deps_file)})
    outcomes = {t.name: (t.outcome, t.message) for t in result.tests}
    assert outcomes == {
        "test_the_run": ("passed", ""),
        "test_http_joins_relative_urls_to_the_app": ("passed", ""),
        "test_http_passes_absolute_urls_through": ("passed", ""),
        "test_http_retries_a_starting_app": ("passed", ""),
        "test_plain_requests_reach_the_app_by_its_name": ("passed", ""),
        "test_deps": ("passed", ""),
        "test_with_mail": ("passed", ""),
        "test_with_ldap": ("skipped", "needs dependency ldap, absent from this run"),
        "test_service_goes_through_the_swarm_host": ("passed", ""),
    }, result.error
    assert result.ok and _App.flaky_calls == 3


# -- small pieces -----------------------------------------------------------------------


def test_only_ccci_own_generic_file_is_generic(tmp_path):
    ours = SimpleNamespace(path=Path(plugin.__file__).with_name("generic.py"))
    other = SimpleNamespace(path=tmp_path / "generic.py")
    assert plugin._is_generic(ours) and not plugin._is_generic(other)


def test_trim_keeps_the_start_and_the_end():
    text = "start " + "é" * 10_000 + " end"
    cut = trim(text, 1000)
    assert len(cut.encode()) <= 1000 and cut.startswith("start ") and cut.endswith(" end")
    assert trim("short", 1000) == "short"


def test_safe_names():
    assert safe_name("test_x.py::test_a[1/2 ok]") == "test_x.py__test_a_1_2_ok"
    assert safe_name("../..") == "unnamed"


class _FakeHost:
    """Answers ``docker service logs`` as testinfra's host.run would, per service."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command: str) -> SimpleNamespace:
        self.commands.append(command)
        if "s_broken" in command:
            raise ConnectionError("host unreachable")
        if "s_gone" in command:
            return SimpleNamespace(rc=1, stdout="no such service: s_gone\n")
        return SimpleNamespace(rc=0, stdout="".join(f"s_app.1@h | line {i}\n" for i in range(30)))


def test_stack_logs_keep_the_last_lines_and_never_raise():
    host = _FakeHost()
    logs = stack_logs(host, "s", ["app", "gone", "broken"])
    assert logs["app"].splitlines() == [f"s_app.1@h | line {i}" for i in range(10, 30)]
    assert logs["gone"] == "no such service: s_gone\n(docker service logs exited with 1)"
    assert logs["broken"] == "(the logs could not be read: ConnectionError: host unreachable)"
    assert host.commands[0] == ("timeout 15 docker service logs --tail 20 --no-task-ids "
                                "s_app 2>&1")


# -- a network change under the browser ---------------------------------------------------


RERUN_SUITE = '''
import os
from pathlib import Path


def test_cut_once_by_a_network_change():
    flag = Path(os.environ["FLAG_DIR"]) / "cut"
    if not flag.exists():
        flag.write_text("once")
        raise RuntimeError("Page.goto: net::ERR_NETWORK_CHANGED at https://app.ccci.test/")


def test_cut_once_while_following_a_redirect():
    flag = Path(os.environ["FLAG_DIR"]) / "cut-redirect"
    if not flag.exists():
        flag.write_text("once")
        raise RuntimeError('Page.goto: Navigation to "https://app.ccci.test/go" is '
                           'interrupted by another navigation to "chrome-error://chromewebdata/"')


def test_fails_for_real():
    assert False, "the note is not listed"
'''


def test_only_a_test_cut_by_a_network_change_runs_again(tmp_path):
    """Chromium drops its connections when the host's interfaces change (other runs'
    containers starting): that failure gets one more attempt; no other does."""
    suite = write_suite(tmp_path / "suite", {"test_net.py": RERUN_SUITE})
    result = run_suite(tmp_path, [suite], test_timeout=30, session_timeout=60,
                       env={"FLAG_DIR": str(tmp_path)})
    tests = by_name(result)
    cut = tests["test_cut_once_by_a_network_change"]
    assert (cut.outcome, cut.reruns) == ("passed", 1)
    assert "ERR_NETWORK_CHANGED" in cut.rerun_message
    redirect = tests["test_cut_once_while_following_a_redirect"]
    assert (redirect.outcome, redirect.reruns) == ("passed", 1)
    assert "chrome-error://chromewebdata/" in redirect.rerun_message
    real = tests["test_fails_for_real"]
    assert (real.outcome, real.reruns) == ("failed", 0)
    assert "the note is not listed" in real.message
