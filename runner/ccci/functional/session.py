"""One functional session: pytest in a child process of its own, bounded in time.

The recipe's tests and ccci's generic checks are code ccci does not control: a test may
hang, ignore signals, start processes or crash the interpreter. So the session runs in
a child process leading a process group of its own, killed whole when the session
outlives its limit or the caller goes away, and what it did is read back from the JSON
report its plugin (``ccci.functional.plugin``) rewrites after every test. A killed
session still says which tests passed, and which one was running when it was stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import testinfra

from ccci.context import load_run
from ccci.errors import BadInput
from ccci.rundir import SCREENSHOTS

# The child's environment: what the plugin reads.
RUN_DIR_ENV = "CCCI_RUN_DIR"
HOST_SPEC_ENV = "CCCI_HOST_SPEC"
# The controller port forwarded to a remote host's app port (ccci.forward), if any.
APP_PORT_ENV = "CCCI_APP_PORT"
REPORT_ENV = "CCCI_FUNCTIONAL_REPORT"
# The pid of the process that started the session: the session dies with it.
PARENT_ENV = "CCCI_FUNCTIONAL_PARENT"

# Under the run directory: the session's report, its output, and what tests saved.
SESSION_DIR = "functional"
REPORT_FILE = "report.json"
OUTPUT_FILE = "pytest.log"
SCREENSHOTS_DIR = SCREENSHOTS
BROWSER_DIR = "browser"

REPORT_SCHEMA = 1
FAILED = ("failed", "error", "timeout")
LOG_LINES = 20  # last lines of each service's log kept with a failed test
# Chromium aborts its connections when the host's interfaces change, and on a swarm host
# other runs' containers come and go all the time (each adds a veth): a test failing
# with this error is run once more (pytest-rerunfailures); any other failure stands.
# When the cut comes while a redirect is followed, Playwright reports only that
# Chromium's error page replaced the navigation, without the net:: error.
RERUN_ON = 'ERR_NETWORK_CHANGED|interrupted by another navigation to "chrome-error://'
RERUNS = 1
LOG_COMMAND_LIMIT = 15  # seconds one `docker service logs` may take
MESSAGE_LINES = 20
MESSAGE_BYTES = 2048
LONGREPR_BYTES = 8 * 1024
TERM_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a session past its limit
OUTPUT_TAIL = 30  # lines of the session's output quoted in a session-level error


@dataclass
class TestOutcome:
    """What one test did, as the session's report says."""

    __test__ = False  # not a test class, for pytest's collection of modules importing it

    nodeid: str
    name: str
    file: str
    outcome: str  # passed, failed, error, skipped, timeout
    duration: float
    # failure: the assertion or exception text; skip: the reason; timeout: the limit.
    message: str = ""
    longrepr: str = ""
    # failure or timeout only: the last lines of each service of the stack.
    logs: dict[str, str] = field(default_factory=dict)
    # a failed test that used ``page``: the page at the failure ({"error": ...} if none).
    screenshot: dict[str, Any] | None = None
    # from ccci's own generic checks (ccci/functional/generic.py)
    generic: bool = False
    # attempts run again because the host's network changed under the browser
    # (RERUN_ON), and what the last such attempt said
    reruns: int = 0
    rerun_message: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestOutcome:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED


@dataclass
class SuiteResult:
    """The whole session: every test reported, and whether the session itself ended well."""

    tests: list[TestOutcome]
    exit_code: int
    duration: float
    timed_out: bool = False  # killed at session_timeout
    error: str = ""  # a session-level problem: collection error, crash, no report
    # every screenshot taken, by tests or by the plugin, each with its test's nodeid
    screenshots: list[dict[str, Any]] = field(default_factory=list)
    # the session's own output (pytest's terminal report), for people
    output: str = ""

    @property
    def ok(self) -> bool:
        return not (self.error or self.timed_out or any(t.failed for t in self.tests))


# -- text helpers, shared with the plugin ----------------------------------------------


def first_lines(text: str, count: int = MESSAGE_LINES) -> str:
    """The first ``count`` lines of ``text``, within MESSAGE_BYTES: a message to read."""
    lines = text.strip().splitlines()
    cut = f"\n… ({len(lines) - count} more lines)" if len(lines) > count else ""
    return trim("\n".join(lines[:count]) + cut, MESSAGE_BYTES)


def trim(text: str, limit: int = LONGREPR_BYTES) -> str:
    """``text`` within ``limit`` bytes of UTF-8: its start and its end, where a traceback
    has the test's code and the error."""
    data = text.encode()
    if len(data) <= limit:
        return text
    note = "\n… {} bytes cut …\n"
    head_size = limit // 4
    tail_size = limit - head_size - len(note.format(len(data)).encode())
    head = data[:head_size].decode(errors="ignore")
    tail = data[-tail_size:].decode(errors="ignore")
    return head + note.format(len(data) - head_size - tail_size) + tail


def safe_name(text: str, limit: int = 120) -> str:
    """A file name made of ``text``: letters, digits, dot, dash and underscore."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in text).strip("._")
    return cleaned[:limit] or "unnamed"


def stack_logs(host: Any, stack: str, services: Iterable[str],
               lines: int = LOG_LINES) -> dict[str, str]:
    """The last ``lines`` log lines of each service of ``stack`` (stdout and stderr, as
    ``docker service logs`` prints them), read through the testinfra ``host``.

    Never raises: a failed test's report must not be lost to a log that cannot be read.
    testinfra's logger is silenced meanwhile: it logs each command's output, and an
    app's log can hold what the run must not spread.
    """
    logs: dict[str, str] = {}
    logger = logging.getLogger("testinfra")
    was_disabled, logger.disabled = logger.disabled, True
    try:
        for service in services:
            logs[service] = _service_log(host, f"{stack}_{service}", lines)
    finally:
        logger.disabled = was_disabled
    return logs


def _service_log(host: Any, name: str, lines: int) -> str:
    try:
        result = host.run(f"timeout {LOG_COMMAND_LIMIT} docker service logs --tail {lines} "
                          f"--no-task-ids {shlex.quote(name)} 2>&1")
    except Exception as exc:
        return f"(the logs could not be read: {type(exc).__name__}: {exc})"
    text = "\n".join(result.stdout.splitlines()[-lines:])
    if result.rc != 0:
        text += f"\n(docker service logs exited with {result.rc})"
    return text.strip()


def run_logs(run_dir: Path, host_spec: str) -> dict[str, str]:
    """``stack_logs`` of the run's stack (the services of the version under test)."""
    try:
        context = load_run(run_dir)
    except BadInput:  # no run, nothing deployed: no logs
        return {}
    try:
        return stack_logs(testinfra.get_host(host_spec), context.stack,
                          context.target.get("services", []))
    except Exception as exc:
        return {"": f"(the logs could not be read: {type(exc).__name__}: {exc})"}


# -- the session -----------------------------------------------------------------------


def run_suite(
    run_dir: Path, test_paths: list[Path], *, host_spec: str = "local://",
    test_timeout: float = 60, session_timeout: float = 600,
    env: Mapping[str, str] | None = None, app_port: int | None = None,
) -> SuiteResult:
    """Run ``test_paths`` as one pytest session against the run's app, and report it.

    Each test may take ``test_timeout`` seconds (pytest-timeout, then the next test);
    the session ``session_timeout`` seconds, after which its process group is killed
    (SIGTERM, then SIGKILL) and the test that was running is reported as timed out.
    The session's output goes to ``<run_dir>/functional/pytest.log``. ``app_port`` is
    the controller port forwarded to a remote host's app (``ccci.forward``).
    """
    run_dir = Path(run_dir).resolve()
    started = time.monotonic()
    if not test_paths:
        return SuiteResult([], 0, 0.0, error="no test file to run")
    folder = run_dir / SESSION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    report, output = folder / REPORT_FILE, folder / OUTPUT_FILE
    report.unlink(missing_ok=True)
    command = pytest_command(test_paths, test_timeout)
    environ = child_env(run_dir, host_spec, report,
                        {**(env or {}), **({APP_PORT_ENV: str(app_port)} if app_port else {})})
    with output.open("wb") as out:
        proc = subprocess.Popen(command, cwd=run_dir, env=environ, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        timed_out = not _exited(proc.pid, session_timeout)
        if timed_out:
            _signal_group(proc.pid, signal.SIGTERM)
            _exited(proc.pid, TERM_GRACE)
    finally:
        _signal_group(proc.pid, signal.SIGKILL)  # what the tests left behind, too
        code = proc.wait()
    return read_result(report, output, run_dir, host_spec, code=code, timed_out=timed_out,
                       session_timeout=session_timeout, duration=time.monotonic() - started)


def pytest_command(test_paths: list[Path], test_timeout: float) -> list[str]:
    """The child's command line: no ini file (``-c`` the null device, so neither ccci's
    pyproject.toml nor a recipe's config applies), no plugin but pytest-timeout and
    ccci's (and pytest-rerunfailures, for RERUN_ON only), the rootdir the test files'
    common folder (node ids are relative to it; no
    conftest.py above it is read)."""
    paths = [Path(p).resolve() for p in test_paths]
    rootdir = os.path.commonpath([p if p.is_dir() else p.parent for p in paths])
    return [
        sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", rootdir,
        "--confcutdir", rootdir,
        "-p", "no:cacheprovider", "-p", "pytest_timeout", "-p", "pytest_rerunfailures",
        "-p", "ccci.functional.plugin",
        f"--timeout={test_timeout:g}", "--timeout-method=signal",
        f"--reruns={RERUNS}", f"--only-rerun={RERUN_ON}",
        "--continue-on-collection-errors", "--color=no", "-v", "-rfEs",
        "-o", "console_output_style=classic",
        *map(str, paths),
    ]


def child_env(run_dir: Path, host_spec: str, report: Path,
              extra: Mapping[str, str] | None) -> dict[str, str]:
    """This process's environment without pytest's variables (``PYTEST_ADDOPTS`` would
    bring options in), ``extra``, and what the plugin reads."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    environ.update(extra or {})
    environ.update({
        RUN_DIR_ENV: str(run_dir),
        HOST_SPEC_ENV: host_spec,
        REPORT_ENV: str(report),
        PARENT_ENV: str(os.getpid()),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        # no __pycache__ written next to a recipe's tests
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return environ


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for the child to end, without reaping it: while it is a
    zombie its process group id cannot be reused, so killing the group stays safe."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return _exited_polling(pid, timeout)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(max(0, int(timeout * 1000))))
    finally:
        os.close(pidfd)


def _exited_polling(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


# -- reading the report back -----------------------------------------------------------


def read_report(path: Path) -> dict[str, Any] | None:
    """The plugin's report, or None when the session wrote none (or none readable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_result(
    report_path: Path, output: Path, run_dir: Path, host_spec: str, *, code: int,
    timed_out: bool, session_timeout: float, duration: float,
) -> SuiteResult:
    """The SuiteResult of an ended session, from its report and how it ended."""
    report = read_report(report_path)
    tail = _tail(output)
    result = SuiteResult([], code, round(duration, 3), timed_out=timed_out, output=str(output))
    if report is None:
        how = _how_it_ended(code, timed_out, session_timeout)
        result.error = f"the session wrote no report ({how}); its output ends:\n{tail}"
        return result
    # a session that finished at its limit, before the kill, was not stopped
    result.timed_out = timed_out and not report.get("finished")
    result.tests = [TestOutcome.from_dict(t) for t in report.get("tests", [])]
    result.screenshots = list(report.get("screenshots", []))
    problems = [f"could not collect {e.get('nodeid') or 'the tests'}: {e.get('message', '')}"
                for e in report.get("collect_errors", [])]
    running = _unfinished_test(report, result.tests)
    if result.timed_out or not report.get("finished"):
        problems.insert(0, _stopped(result, report, running, session_timeout, run_dir,
                                    host_spec))
    elif code not in (0, 1):
        problems.append(_bad_exit(code, tail))
    elif code == 1 and not problems and not any(t.failed for t in result.tests):
        problems.append(f"pytest exited with 1 but reported no failed test; its output "
                        f"ends:\n{tail}")
    result.error = "\n".join(problems)
    return result


def _unfinished_test(report: dict[str, Any], tests: list[TestOutcome]) -> dict[str, Any] | None:
    """The test the report says was running, unless it was reported since."""
    current = report.get("current")
    if not current or any(t.nodeid == current.get("nodeid") for t in tests):
        return None
    return current


def _stopped(result: SuiteResult, report: dict[str, Any], running: dict[str, Any] | None,
             session_timeout: float, run_dir: Path, host_spec: str) -> str:
    """Say how a session that did not finish ended; the test it was running becomes a
    ``timeout`` (killed at the limit) or an ``error`` (the session died under it)."""
    how = _how_it_ended(result.exit_code, result.timed_out, session_timeout)
    left = len(report.get("collected", [])) - len(result.tests) - (1 if running else 0)
    not_run = f"; {left} collected tests did not run" if left > 0 else ""
    if running is None:
        return f"{how} outside any test{not_run}"
    stopped = TestOutcome(
        nodeid=running["nodeid"], name=running.get("name", running["nodeid"]),
        file=running.get("file", ""), generic=bool(running.get("generic")),
        outcome="timeout" if result.timed_out else "error",
        duration=round(max(0.0, time.time() - float(running.get("started", time.time()))), 3),
        message=f"{how} while this test ran",
        logs=run_logs(run_dir, host_spec),
    )
    result.tests.append(stopped)
    return f"{how} while {stopped.nodeid} ran{not_run}"


def _how_it_ended(code: int, timed_out: bool, session_timeout: float) -> str:
    if timed_out:
        return f"the session was stopped after {session_timeout:g} s (FUNCTIONAL_TIMEOUT)"
    if code < 0:
        return f"the session was killed by {signal.Signals(-code).name}"
    return f"the session ended with exit code {code}"


def _bad_exit(code: int, tail: str) -> str:
    """A finished session's exit code other than passed (0) or failed (1), in words."""
    meaning = {
        2: "the session was interrupted",
        3: "pytest hit an internal error",
        4: "pytest refused its command line",
        5: "no tests were collected",
    }.get(code, f"pytest exited with {code}")
    return f"{meaning}; its output ends:\n{tail}" if code != 5 else meaning


def _tail(output: Path, count: int = OUTPUT_TAIL) -> str:
    try:
        lines = output.read_text(errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join(lines[-count:]) or "(no output)"
