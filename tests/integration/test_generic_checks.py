"""The generic checks on a live notes app: all pass while it is healthy, and each fails
naming the culprit once something is broken for real (a leaked secret, a killed task, a
replica count it cannot reach, another version).

One app is deployed per worker for the module (``ccci run example-notes --tiers install
--keep``) and torn down with ``ccci teardown``. Tests that break the app repair it
before they end; the healthy-app tests come first, as later ones leave task history
behind. The secret's value never enters this process as text: shell commands on the host
move it (into a variable's environment, a file), and the checks' messages are searched
for it through ``SecretValue``, whose repr hides it, with assertions on the boolean.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

from ccci.config import HookCtx, load_recipe_config
from ccci.context import RunContext, load_run
from ccci.functional import generic
from ccci.functional.generic import (
    check_converged,
    check_health,
    check_secrets_hidden,
    check_stable_tasks,
    check_version_label,
    deploy_settled,
    last_deploy,
)
from ccci.functional.plugin import AppSession
from ccci.hooks import make_ctx
from ccci.ingress import of_run, reach
from ccci.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration



@dataclass
class Live:
    """The kept notes app of this module, and what the checks are given."""

    run_dir: Path
    context: RunContext
    app: HookCtx

    @property
    def stack(self) -> str:
        return self.context.stack

    def service(self, name: str) -> str:
        return f"{self.stack}_{name}"

    @contextlib.contextmanager
    def http(self) -> Iterator[requests.Session]:
        """A session reaching the app by its name through the proxy, its CA trusted."""
        reached, bundle = of_run(self.context.host["ingress"], self.run_dir)
        with reach(reached, bundle), AppSession(self.app.base_url) as session:
            yield session

    def all_checks(self) -> dict[str, list[str]]:
        """Every generic check's problems, called as generic.py's tests call them."""
        with self.http() as http:
            health = check_health(http, self.app.meta["HEALTH_PATH"], self.app.meta["HEALTH_OK"])
        return {
            "converged": check_converged(self.app.host, self.stack,
                                         self.context.target["services"]),
            "stable_tasks": check_stable_tasks(self.app.host, self.stack,
                                               deploy_settled(last_deploy(self.run_dir))),
            "health": health,
            "version_label": check_version_label(self.app.host, self.stack, self.context.version),
            "secrets_hidden": self.secrets_problems(),
        }

    def secrets_problems(self) -> list[str]:
        return check_secrets_hidden(self.app.host, self.stack, self.context.target["secrets"],
                                    self.run_dir)


def ccci_env(recipes_dir: Path, runs: Path) -> dict[str, str]:
    return {**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
            "CCCI_RUNS_DIR": str(runs)}


def ccci(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccci.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=900, check=False)


def run_dirs(runs: Path) -> list[Path]:
    """The run directories of a runs folder (its dashboard, ``_dashboard``, is none)."""
    return [p for p in runs.iterdir() if RunDir(p).has_context()] if runs.is_dir() else []


@pytest.fixture(scope="module")
def notes(recipes_dir, tmp_path_factory, docker_client) -> Iterator[Live]:
    runs = tmp_path_factory.mktemp("generic-checks") / "runs"
    env = ccci_env(recipes_dir, runs)
    try:
        proc = ccci(env, "run", "example-notes", "--tiers", "install", "--keep")
        assert proc.returncode == 0, f"the install failed:\n{proc.stdout[-3000:]}{proc.stderr}"
        [run_dir] = run_dirs(runs)
        context = load_run(run_dir)
        config = load_recipe_config(context.recipe, Path(context.config_root))
        yield Live(run_dir, context, make_ctx(context, config, "functional", "local://"))
    finally:
        failed = []
        for run_dir in run_dirs(runs):
            down = ccci(env, "teardown", str(run_dir))
            if down.returncode != 0:
                failed.append(f"{run_dir}: {down.stdout}{down.stderr}")
        assert not failed, "teardown failed:\n" + "\n".join(failed)


def docker(*args: str) -> str:
    """Run docker; a failure names the command, never its output."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300,
                          check=False)
    code = proc.returncode
    assert code == 0, f"docker {args[0]} {args[1]} failed (exit {code})"
    return proc.stdout


def shell(script: str) -> None:
    """A shell script on the host, its output discarded (it may carry the value)."""
    code = subprocess.run(["sh", "-c", f"set -e; {script}"], capture_output=True,
                          timeout=300, check=False).returncode
    assert code == 0, f"a shell step failed (exit {code})"


def running_containers(live: Live, service: str) -> list[str]:
    return docker("ps", "--quiet", "--no-trunc", "--filter",
                  f"label=com.docker.swarm.service.name={live.service(service)}",
                  "--filter", "status=running").split()


def running_container(live: Live, service: str) -> str:
    ids = running_containers(live, service)
    assert ids, f"no running container of {service}"
    return ids[0]


def db_password(live: Live) -> generic.SecretValue:
    """db_password's value as the app's container shows it, hidden from every repr."""
    values, problems = generic.stack_secrets(live.app.host, live.stack,
                                             live.context.target["secrets"])
    assert problems == []
    [secret] = [v for v in values if v.name == "db_password"]
    assert secret.searchable
    return secret


def cat_secret(live: Live) -> str:
    """A shell command printing db_password's value, for scripts on the host."""
    return f"docker exec {running_container(live, 'app')} cat /run/secrets/db_password"


def wait_until(what: str, done: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(1)


def wait_healthy(live: Live) -> None:
    """Converged and answering HEALTH_PATH again, after a test broke something."""
    wait_until("the stack converges", lambda: check_converged(
        live.app.host, live.stack, live.context.target["services"]) == [])

    def healthy() -> bool:
        with live.http() as http:
            return check_health(http, live.app.meta["HEALTH_PATH"], [200], timeout=5) == []

    wait_until("the app answers HEALTH_PATH", healthy)


# -- the healthy app: first, before anything leaves task history -------------------------


# The screenshot check needs the browser: the functional tier's own tests prove it
# (tests/integration/test_functional_tier.py); here the checks that judge the swarm.
SWARM_CHECKS = tuple(name for name in generic.CHECKS if name != "screenshot")
NO_BROWSER = {"screenshot": "the stand-in fixtures have no browser"}


def test_every_check_passes_on_the_healthy_app(notes):
    assert notes.all_checks() == {name: [] for name in SWARM_CHECKS}
    # The secret check searched for a real value, and the health check can fail.
    mounts = generic.secret_mounts(generic.stack_services(notes.app.host, notes.stack),
                                   notes.context.target["secrets"])
    values, problems = generic.read_secrets(notes.app.host, mounts)
    assert problems == []
    assert [(v.name, v.length, v.searchable) for v in values] == [("db_password", 32, True)]
    with notes.http() as http:
        assert check_health(http, "/no-such-page", [200]) == [
            "GET /no-such-page answered 404 Not Found, not one of HEALTH_OK [200]"]


FIXTURES = '''
"""The functional plugin's fixtures, as far as generic.py uses them; GENERIC_OVERRIDES
changes the run's plan (``version``, the target's ``http_service``)."""
import dataclasses, json, os
from pathlib import Path
from types import MappingProxyType

import pytest
import requests

from ccci.config import load_recipe_config
from ccci.context import load_run
from ccci.functional.plugin import AppSession
from ccci.hooks import make_ctx
from ccci.ingress import enter, of_run

RUN_DIR = Path(os.environ["GENERIC_RUN_DIR"])
OVERRIDES = json.loads(os.environ["GENERIC_OVERRIDES"])


@pytest.fixture(scope="session")
def run_dir():
    return RUN_DIR


@pytest.fixture(scope="session")
def run_context():
    context = load_run(RUN_DIR)
    if "version" in OVERRIDES:
        context = dataclasses.replace(context, version=OVERRIDES["version"])
    if "http_service" in OVERRIDES:
        target = {**context.target, "http_service": OVERRIDES["http_service"]}
        context = dataclasses.replace(context, plans={**context.plans, "target": target})
    return context


@pytest.fixture(scope="session")
def app(run_context):
    config = load_recipe_config(run_context.recipe, Path(run_context.config_root))
    ctx = make_ctx(run_context, config, "functional", "local://")
    meta = {**ctx.meta, "EXPECTED_NA": json.loads(os.environ["GENERIC_EXPECTED_NA"])}
    return type(ctx)(**{**ctx.__dict__, "meta": MappingProxyType(meta)})


@pytest.fixture(scope="session")
def http(run_context, app):
    if not app.base_url:  # as ccci's plugin does
        raise RuntimeError("the app serves no HTTP: no http fixture")
    enter(*of_run(run_context.host["ingress"], RUN_DIR))
    return AppSession(app.base_url)
'''


def run_generic_module(live: Live, tmp_path: Path, expected_na: dict[str, str],
                       overrides: dict | None = None) -> dict:
    """generic.py in a pytest session of its own, with stand-in fixtures: each test's
    outcome (and skip message) from its junit report."""
    tmp_path.mkdir(parents=True)
    (tmp_path / "generic_fixtures.py").write_text(textwrap.dedent(FIXTURES))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    report = tmp_path / "report.xml"
    env = {**os.environ, "GENERIC_RUN_DIR": str(live.run_dir),
           "GENERIC_EXPECTED_NA": json.dumps(expected_na),
           "GENERIC_OVERRIDES": json.dumps(overrides or {}),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path),
                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "generic_fixtures", "-p", "no:cacheprovider",
         "--import-mode=importlib", "-c", str(tmp_path / "pytest.ini"), "--rootdir",
         str(tmp_path), f"--junitxml={report}", str(Path(generic.__file__))],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    assert report.is_file(), f"pytest wrote no report:\n{proc.stdout}{proc.stderr}"
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        found = [(kind, case.find(kind)) for kind in ("skipped", "failure", "error")]
        outcomes[case.get("name")] = next(
            ((kind, element.get("message")) for kind, element in found if element is not None),
            ("passed", None))
    return outcomes


def test_the_checks_run_as_a_pytest_module_and_honour_expected_na(notes, tmp_path):
    outcomes = run_generic_module(notes, tmp_path / "all", NO_BROWSER)
    assert outcomes == {**{f"test_{name}": ("passed", None) for name in SWARM_CHECKS},
                        "test_screenshot": ("skipped", "declared not applicable: the "
                                            "stand-in fixtures have no browser")}
    declared = run_generic_module(notes, tmp_path / "declared",
                                  {"health": "no web UI", "secrets_hidden": "tested elsewhere",
                                   **NO_BROWSER})
    assert declared["test_health"] == ("skipped", "declared not applicable: no web UI")
    assert declared["test_secrets_hidden"] == (
        "skipped", "declared not applicable: tested elsewhere")
    assert declared["test_converged"] == ("passed", None)


def test_health_and_version_label_skip_saying_why_when_they_cannot_apply(notes, tmp_path):
    outcomes = run_generic_module(notes, tmp_path / "plan", {},
                                  {"http_service": None, "version": None})
    assert outcomes["test_screenshot"] == ("skipped", generic.health_skip_reason(None))
    assert outcomes["test_health"] == ("skipped", generic.health_skip_reason(None))
    status, message = outcomes["test_version_label"]
    assert (status, message.startswith("the version under test is untagged")) == (
        "skipped", True)
    assert outcomes["test_converged"] == outcomes["test_secrets_hidden"] == ("passed", None)


def test_version_label_names_both_versions(notes):
    other = replace(notes.context, version="9.9.9+0.0.0")
    key = f"coop-cloud.{notes.stack}.version"
    assert check_version_label(notes.app.host, notes.stack, other.version) == [
        f"service app is labelled version {notes.context.version} ({key}), but the version "
        "under test is 9.9.9+0.0.0"]


# -- broken for real ---------------------------------------------------------------------


def test_secrets_hidden_names_the_variable_holding_a_leaked_value(notes):
    secret = db_password(notes)
    app = notes.service("app")
    try:
        # `--env-add LEAK` takes the value from docker's environment, not its command line.
        shell(f"LEAK=$({cat_secret(notes)}); export LEAK; "
              f"docker service update --quiet --env-add LEAK {app}")
        problems = notes.secrets_problems()
        leaked = secret.found_in("\n".join(problems))
        assert not leaked, "a problem message holds the secret's value"
        assert ("secret db_password appears in the environment of service app (variable LEAK)"
                in problems)
    finally:
        docker("service", "update", "--quiet", "--env-rm", "LEAK", app)
        wait_healthy(notes)
    assert not [p for p in notes.secrets_problems() if "environment" in p]


def test_secrets_hidden_names_a_service_that_logged_the_value(notes):
    secret = db_password(notes)
    # The app's own stdout (its PID 1's), so the value reaches Docker's log of the task.
    docker("exec", running_container(notes, "app"), "sh", "-c",
           "echo connecting with $(cat /run/secrets/db_password) > /proc/1/fd/1")
    problems = notes.secrets_problems()
    leaked = secret.found_in("\n".join(problems))
    assert not leaked, "a problem message holds the secret's value"
    assert [p for p in problems if p.startswith(
        "secret db_password appears in the logs of service app (1 line(s)")]
    assert not [p for p in problems if "logs of service db" in p]


def test_secrets_hidden_names_a_run_file_holding_the_value(notes):
    secret = db_password(notes)
    leak = notes.run_dir / "ansible" / "artifacts" / "leak-test" / "stdout"
    leak.parent.mkdir(parents=True)
    try:
        shell(f"{{ echo 'TASK [debug]'; printf 'ok: '; {cat_secret(notes)}; }} "
              f"> {shlex.quote(str(leak))}")
        problems = notes.secrets_problems()
        leaked = secret.found_in("\n".join(problems))
        assert not leaked, "a problem message holds the secret's value"
        assert f"secret db_password appears in file {leak}" in problems
    finally:
        leak.unlink(missing_ok=True)
        leak.parent.rmdir()
    assert not [p for p in notes.secrets_problems() if "appears in file" in p]


def test_stable_tasks_names_a_killed_task_and_its_exit(notes):
    killed = running_container(notes, "app")
    docker("kill", killed)
    try:
        wait_until("swarm replaces the killed task",
                   lambda: running_containers(notes, "app") not in ([], [killed]))
        problems = check_stable_tasks(notes.app.host, notes.stack,
                                      deploy_settled(last_deploy(notes.run_dir)))
        [app] = [p for p in problems if p.startswith("service app: ")]
        assert "tasks in slot 1" in app
        assert "task: non-zero exit (137)" in app
        assert not [p for p in problems if p.startswith("service db: ")]
    finally:
        wait_healthy(notes)


def test_converged_names_a_service_that_cannot_reach_its_replicas(notes):
    app = notes.service("app")
    docker("service", "update", "--quiet", "--detach", "--replicas", "2",
           "--replicas-max-per-node", "1", app)
    try:
        found: list[str] = []

        def short() -> bool:
            found[:] = check_converged(notes.app.host, notes.stack,
                                       notes.context.target["services"])
            return any(p.startswith("service app runs 1 of 2 replicas") and "no suitable node"
                       in p for p in found)

        # The scheduler words its error on the pending task a moment after it exists.
        wait_until("converged sees app short of a replica, and why", short, timeout=60)
        [problem] = [p for p in found if p.startswith("service app runs")]
        assert "(max 1 per node)" in problem
        assert "not running: app.2 pending: no suitable node" in problem
        assert not [p for p in found if "service db" in p]
    finally:
        docker("service", "update", "--quiet", "--replicas", "1", "--replicas-max-per-node", "0",
               app)
        wait_healthy(notes)
