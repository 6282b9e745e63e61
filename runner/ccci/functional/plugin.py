"""The pytest plugin of a functional session: fixtures reaching the live app, and a report.

Loaded by ``ccci.functional.session`` with ``-p ccci.functional.plugin`` into a pytest
process of its own. At configure time it loads the run (``CCCI_RUN_DIR``) and makes
this process reach the app as a browser would (the run's names resolve to the host's
loopback, the proxy's CA is trusted: ``ccci.ingress.reach``). Recipe suites and the
generic checks get the fixtures below by name; the plugin writes every test's outcome
to the JSON file ``CCCI_FUNCTIONAL_REPORT`` names, rewritten after each test, so a
session killed halfway still tells what it did.

Without a planned run (no ``context.json`` in ``CCCI_RUN_DIR``, or no ``CCCI_RUN_DIR``)
plain tests still run and are reported; the fixtures that need the run fail with
``NoRun``, saying so.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import testinfra
from pytest_timeout import PYTEST_FAILURE_MESSAGE
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ccci import ingress
from ccci.config import HookCtx, RecipeConfig
from ccci.containers import container_host
from ccci.context import RunContext, load_run
from ccci.errors import CcciError
from ccci.functional.generic import SecretValue, redact, stack_secrets
from ccci.functional.session import (
    APP_PORT_ENV,
    BROWSER_DIR,
    HOST_SPEC_ENV,
    PARENT_ENV,
    REPORT_ENV,
    REPORT_SCHEMA,
    RUN_DIR_ENV,
    SCREENSHOTS_DIR,
    TestOutcome,
    first_lines,
    safe_name,
    stack_logs,
    trim,
)
from ccci.functional.tier import GENERIC_FILE
from ccci.hooks import load_deps, make_ctx

OP = "functional"
# pytest-timeout's own words when it stops a test ("Timeout (>2.0s) from pytest-timeout.")
_TIMEOUT_TEXT = re.compile(re.escape(PYTEST_FAILURE_MESSAGE).replace("%s", r"(?P<s>[0-9.]+)"))
HTTP_TIMEOUT = (5, 30)  # connect, read: seconds, for a request of `http` that sets none
SCREENSHOT_LIMIT_MS = 10_000  # a failed test's screenshot must not hang the session
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_PARENT_CHECK = 1.0  # seconds between checks that the session's starter still runs


class NoRun(CcciError):
    """A fixture needs the run, and the session has none (or cannot read it)."""


# -- the report ------------------------------------------------------------------------


class Recorder:
    """The session's state: the run, and what every test did, written as JSON."""

    def __init__(self, report: Path | None, run_dir: Path | None, host_spec: str,
                 app_port: int | None = None) -> None:
        self.report = report
        self.run_dir = run_dir
        self.host_spec = host_spec
        self.app_port = app_port
        self.context: RunContext | None = None
        self.problem = ""
        self.tests: dict[str, TestOutcome] = {}
        self.current: dict[str, Any] | None = None
        self.collected: list[str] = []
        self.collect_errors: list[dict[str, str]] = []
        self.screenshots: list[dict[str, Any]] = []
        # The stack's secret values, read at the first failure (ccci.functional.generic).
        self.secrets: list[SecretValue] | None = None
        self.started = time.time()
        self.finished = False
        self.exitstatus: int | None = None

    @classmethod
    def from_env(cls) -> Recorder:
        report, run_dir = os.environ.get(REPORT_ENV), os.environ.get(RUN_DIR_ENV)
        port = os.environ.get(APP_PORT_ENV)
        recorder = cls(Path(report) if report else None, Path(run_dir) if run_dir else None,
                       os.environ.get(HOST_SPEC_ENV) or "local://", int(port) if port else None)
        recorder.load_run()
        return recorder

    def load_run(self) -> None:
        """Read the run's context; on failure keep the reason for the fixtures to raise."""
        if self.run_dir is None:
            self.problem = f"no run: {RUN_DIR_ENV} is not set"
            return
        try:
            self.context = load_run(self.run_dir)
        except (CcciError, OSError, TypeError, ValueError) as exc:
            self.problem = f"no run in {self.run_dir}: {exc}"

    def enter_ingress(self) -> None:
        """Reach the app by its names for the rest of this process (``ccci.ingress``);
        when that fails, the fixtures needing the run say why."""
        if self.context is None:
            return
        try:
            reached, bundle = ingress.of_run(self.context.host["ingress"], self.context.run_dir,
                                             self.app_port)
        except (CcciError, OSError, KeyError, TypeError) as exc:
            self.context, self.problem = None, f"the app of {self.run_dir} cannot be reached: {exc}"
            return
        ingress.enter(reached, bundle)

    def reached(self) -> ingress.Ingress:
        """The run's ingress as this session reaches it (a remote host's forward)."""
        context = self.require_run()[1]
        return ingress.Ingress.from_dict(context.host["ingress"]).seen_at(self.app_port)

    def require_run(self) -> tuple[Path, RunContext]:
        if self.context is None or self.run_dir is None:
            raise NoRun(f"this fixture needs a deployed run, and the session has none: "
                        f"{self.problem}")
        return self.run_dir, self.context

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": REPORT_SCHEMA,
            "pid": os.getpid(),
            "run_dir": str(self.run_dir or ""),
            "run_problem": self.problem,
            "started": self.started,
            "collected": self.collected,
            "collect_errors": self.collect_errors,
            "current": self.current,
            "tests": [asdict(t) for t in self.tests.values()],
            "screenshots": self.screenshots,
            "finished": self.finished,
            "exitstatus": self.exitstatus,
        }

    def write(self) -> None:
        """Replace the report at once: a reader (or a kill) never sees half of it."""
        if self.report is None:
            return
        self.report.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.report.with_name(f".{self.report.name}.{os.getpid()}")
        tmp.write_text(json.dumps(self.as_dict(), indent=1, default=str))
        os.replace(tmp, self.report)

    # -- hooks (the recorder is registered as a plugin) --------------------------------

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append({"nodeid": report.nodeid,
                                        "message": first_lines(report.longreprtext),
                                        "longrepr": trim(report.longreprtext)})
            self.write()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = [item.nodeid for item in session.items]
        self.write()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[Any]:
        """Outermost around each test: pytest-timeout's alarm is off again when
        ``finish`` reads the logs of a failed test."""
        self.start(item)
        try:
            return (yield)
        finally:
            self.finish(item)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Iterator[Any]:
        report = yield
        with _alarm_paused():
            self.record(item, call, report)
        return report

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self.finished, self.exitstatus = True, int(exitstatus)
        self.write()

    # -- one test --------------------------------------------------------------------

    def start(self, item: pytest.Item) -> None:
        self.current = {"nodeid": item.nodeid, "name": item.name, "file": _file_of(item),
                        "generic": _is_generic(item), "started": time.time()}
        self.write()

    def record(self, item: pytest.Item, call: pytest.CallInfo[None],
               report: pytest.TestReport) -> None:
        """Fold one phase (setup, call, teardown) into the test's outcome."""
        entry = self.tests.get(item.nodeid)
        attempt = getattr(item, "execution_count", 1) - 1
        if entry is not None and report.when == "setup" and attempt > entry.reruns:
            # pytest-rerunfailures runs the test again (RERUN_ON): a new attempt
            entry = self.tests[item.nodeid] = TestOutcome(
                nodeid=item.nodeid, name=item.name, file=_file_of(item), outcome="passed",
                duration=entry.duration, generic=entry.generic, reruns=attempt,
                rerun_message=entry.message)
        if entry is None:
            entry = self.tests[item.nodeid] = TestOutcome(
                nodeid=item.nodeid, name=item.name, file=_file_of(item), outcome="passed",
                duration=0.0, generic=_is_generic(item))
        entry.duration = round(entry.duration + report.duration, 3)
        if report.skipped and entry.outcome == "passed":
            entry.outcome, entry.message = "skipped", _skip_reason(report)
        elif report.failed and not entry.failed:
            self._fail(entry, item, call, report)

    def _fail(self, entry: TestOutcome, item: pytest.Item, call: pytest.CallInfo[None],
              report: pytest.TestReport) -> None:
        seconds = _timeout_seconds(call)
        if seconds is not None:
            source = "timeout marker" if item.get_closest_marker("timeout") else "TEST_TIMEOUT"
            entry.outcome, entry.message = "timeout", f"stopped after {seconds:g} s ({source})"
        else:
            entry.outcome = "failed" if report.when == "call" else "error"
            entry.message = _failure_message(call, report)
        entry.longrepr = trim(report.longreprtext)
        fixtures = getattr(item, "funcargs", {}) if report.when != "teardown" else {}
        page = fixtures.get("page")
        if page is not None:
            entry.screenshot = self.failure_screenshot(item.nodeid, page)

    def finish(self, item: pytest.Item) -> None:
        """After the test's last phase: a failed test gets the stack's last log lines."""
        entry = self.tests.get(item.nodeid)
        if entry is not None and entry.failed:
            entry.logs = self.logs()
        self.current = None
        self.write()

    def logs(self) -> dict[str, str]:
        """The services' last log lines, any secret value of the stack replaced by its
        name: an app that logs a secret must not have ccci copy it into the report."""
        if self.context is None:
            return {}
        try:
            host = testinfra.get_host(self.host_spec)
        except Exception as exc:
            return {"": f"(the logs could not be read: {type(exc).__name__}: {exc})"}
        logs = stack_logs(host, self.context.stack, self.context.target.get("services", []))
        if self.secrets is None:
            try:
                self.secrets, _unread = stack_secrets(host, self.context.stack,
                                                      self.context.target.get("secrets", []))
            except Exception as exc:  # unreadable: keep no logs rather than risk a leak
                return {"": f"(logs left out: the secrets to hide could not be read: "
                            f"{type(exc).__name__})"}
        return {service: redact(text, self.secrets) for service, text in logs.items()}

    # -- screenshots -----------------------------------------------------------------

    def screenshot(self, nodeid: str, name: str, page: Any, *, full_page: bool = True
                   ) -> dict[str, Any]:
        """A PNG of ``page`` in ``<run_dir>/screenshots``, listed in the report."""
        from ccci.functional.browser import screenshot

        run_dir, _ = self.require_run()
        path = run_dir / SCREENSHOTS_DIR / f"{safe_name(_test_part(nodeid))}-{safe_name(name)}.png"
        shot = screenshot(page, path, full_page=full_page)
        entry = {**shot, "nodeid": nodeid, "name": name}
        self.screenshots.append(entry)
        return entry

    def failure_screenshot(self, nodeid: str, page: Any) -> dict[str, Any]:
        """The page as the failed test left it; ``{"error": why}`` when there is none."""
        try:
            page.set_default_timeout(SCREENSHOT_LIMIT_MS)
            return self.screenshot(nodeid, "failed", page)
        except Exception as exc:
            return {"error": f"no screenshot of the page: {type(exc).__name__}: "
                             f"{first_lines(str(exc), 3)}"}


def _file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _test_part(nodeid: str) -> str:
    """``test_x-test_name[param]`` of ``dir/test_x.py::test_name[param]``, for file names."""
    file, _, rest = nodeid.partition("::")
    return f"{Path(file).stem}-{rest.replace('::', '-')}"


def _is_generic(item: pytest.Item) -> bool:
    return Path(str(item.path)).resolve() == GENERIC_FILE.resolve()


def _timeout_seconds(call: pytest.CallInfo[None]) -> float | None:
    """The limit pytest-timeout stopped the test at, or None when it did not."""
    if call.excinfo is None or not call.excinfo.errisinstance(pytest.fail.Exception):
        return None
    found = _TIMEOUT_TEXT.search(str(call.excinfo.value))
    return float(found["s"]) if found else None


def _failure_message(call: pytest.CallInfo[None], report: pytest.TestReport) -> str:
    """What failed, in the exception's own words (the assertion with pytest's
    explanation), else pytest's report of it (a missing fixture, a strict xpass)."""
    if call.excinfo is not None and not call.excinfo.errisinstance(pytest.FixtureLookupError):
        return first_lines(call.excinfo.exconly())
    return first_lines(report.longreprtext)


def _skip_reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return f"expected to fail: {report.wasxfail}".rstrip(": ")
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return first_lines(report.longreprtext)


@contextlib.contextmanager
def _alarm_paused() -> Iterator[None]:
    """Hold the test's pytest-timeout alarm while the plugin works, then re-arm what was
    left of it: the alarm must stop a test, not the plugin's reporting."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left)


def _recorder(config: pytest.Config) -> Recorder:
    return config.stash[_STATE]


_STATE = pytest.StashKey[Recorder]()


# -- the session dies with whoever started it --------------------------------------------


def _die_with_parent(parent: int) -> None:
    """End the session's process group (tests, browsers, what they started) when the
    process that started the session ends, or on SIGTERM.

    Two signs, either is enough: Linux's parent-death signal, and a thread that sees
    this process handed to another parent (also when the main thread is stuck).
    """
    signal.signal(signal.SIGTERM, lambda *_: _end_own_group())
    with contextlib.suppress(OSError, AttributeError):  # prctl is Linux only
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="ccci-parent-watch").start()
    if os.getppid() != parent:  # it ended before the signal was asked for
        _end_own_group()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK)
    _end_own_group()


def _end_own_group() -> None:
    """SIGKILL this process's group when it leads one (run_suite made it), else exit."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(143)


# -- hooks -----------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires_deps(*names): skip the test unless the run has each dependency "
        "app (the recipe's DEPS) named")
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit():
        _die_with_parent(int(parent))
    recorder = Recorder.from_env()
    config.stash[_STATE] = recorder
    config.pluginmanager.register(recorder, "ccci-functional-recorder")
    recorder.enter_ingress()
    recorder.write()


def pytest_report_header(config: pytest.Config) -> list[str]:
    recorder = _recorder(config)
    if recorder.context is None:
        return [f"ccci functional: {recorder.problem}"]
    context = recorder.context
    return [f"ccci functional: {context.recipe} {context.version or context.commit[:12]} "
            f"at {context.domain} (stack {context.stack}), run {recorder.run_dir}"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``requires_deps``: a test needing a dependency the run lacks is skipped, saying
    which (the skip points at the test, as a skip mark's does)."""
    present = None
    for item in items:
        names = [name for mark in item.iter_markers("requires_deps") for name in mark.args]
        if names and present is None:
            present = load_deps()
        missing = [name for name in names if name not in (present or {})]
        if missing:
            item.add_marker(pytest.mark.skip(
                reason=f"needs dependency {missing[0]}, absent from this run"))


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def run_dir(pytestconfig: pytest.Config) -> Path:
    """The run's directory."""
    return _recorder(pytestconfig).require_run()[0]


@pytest.fixture(scope="session")
def run_context(pytestconfig: pytest.Config) -> RunContext:
    """The run's plan: recipe, domain, stack, the version under test (``.version``)."""
    return _recorder(pytestconfig).require_run()[1]


@pytest.fixture(scope="session")
def recipe_config(run_context: RunContext) -> RecipeConfig:
    """The recipe's CI config (``.get(KEY)``, ``.resolved()``, ``.hooks``)."""
    return run_context.recipe_config()


@pytest.fixture(scope="session")
def app(pytestconfig: pytest.Config, run_context: RunContext,
        recipe_config: RecipeConfig) -> HookCtx:
    """The hook context of the live app (op ``functional``): domain, base_url, exec..."""
    recorder = _recorder(pytestconfig)
    return make_ctx(run_context, recipe_config, OP, recorder.host_spec,
                    app_port=recorder.app_port)


@pytest.fixture(scope="session")
def deps(app: HookCtx) -> Any:
    """Credentials of the dependency apps of the run (``DEPS``), by name."""
    return app.deps


@pytest.fixture(scope="session")
def host(app: HookCtx) -> Any:
    """The swarm host, as a testinfra host."""
    return app.host


class AppSession(requests.Session):
    """A requests session bound to the app: a relative URL is joined to ``base_url``
    (an absolute one is used as it is), each request has a timeout unless it sets one,
    and only what a starting or reloading app causes is retried, for a few seconds:
    connection errors and the proxy's 502/503/504 (for idempotent methods)."""

    def __init__(self, base_url: str, timeout: Any = HTTP_TIMEOUT) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        adapter = HTTPAdapter(max_retries=Retry(
            total=5, connect=5, read=0, other=0, status=3, backoff_factor=0.2, backoff_max=2,
            status_forcelist=(502, 503, 504), raise_on_status=False,
            respect_retry_after_header=False))
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        text = url.decode() if isinstance(url, bytes) else str(url)
        return super().request(method, urljoin(self.base_url, text), *args, **kwargs)


@pytest.fixture(scope="session")
def http(app: HookCtx) -> Iterator[AppSession]:
    """``requests`` bound to the app: ``http.get("/health")``."""
    if not app.base_url:
        raise NoRun("the app serves no HTTP (its plan has no web service): no http fixture")
    with AppSession(app.base_url) as session:
        yield session


@pytest.fixture(scope="session")
def service(app: HookCtx) -> Callable[[str], Any]:
    """``service(name)``: a testinfra host inside the running container of the compose
    service ``name``, on the swarm host whether local or remote (``ccci.containers``)."""

    def inside(name: str) -> Any:
        return container_host(app.host, app.container_id(name))

    return inside


@pytest.fixture(scope="session")
def browser(pytestconfig: pytest.Config, run_dir: Path) -> Iterator[Any]:
    """Debian's chromium (Playwright), started on first use, trusting the proxy's CA and
    resolving the run's names to the controller's loopback."""
    from ccci.functional.browser import open_browser

    reached = _recorder(pytestconfig).reached()
    ca = Path(reached.ca_controller) if reached.ca_controller else None
    profile = run_dir / BROWSER_DIR
    try:
        with open_browser(reached, ca_file=ca, profile_dir=profile) as opened:
            yield opened
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any, pytestconfig: pytest.Config) -> Iterator[Any]:
    """A new page whose base URL is the app's: ``page.goto("/")``. A test that fails
    with it gets a screenshot of the page as it was."""
    from ccci.functional.browser import new_page

    opened = new_page(browser, _recorder(pytestconfig).reached())
    yield opened
    with contextlib.suppress(Exception):
        opened.context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., dict[str, Any]]:
    """``screenshot(page, name)``: a PNG of the page in the run's ``screenshots/``
    (named after the test and ``name``), listed in the report; returns its path, size,
    URL and dimensions."""
    recorder = _recorder(request.config)

    def take(page: Any, name: str, *, full_page: bool = True) -> dict[str, Any]:
        return recorder.screenshot(request.node.nodeid, name, page, full_page=full_page)

    return take
