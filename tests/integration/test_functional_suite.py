"""A functional session against a live app: every fixture reaches the real thing.

example-notes is installed once for the module (``ccci run --tiers install --keep``),
a small suite is written next to it and run by ``run_suite`` as the functional tier
runs a recipe's tests; the app is torn down at the end with ``ccci teardown``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccci.functional.browser import PNG_MAGIC
from ccci.functional.session import BROWSER_DIR, SuiteResult, TestOutcome, run_suite

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

SUITE = '''
import time
import uuid

import pytest


def test_http_lists_and_adds_notes(http):
    listed = http.get("/notes")
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    created = http.post("/notes", data=f"functional {uuid.uuid4()}".encode())
    assert created.status_code == 201
    assert created.json()["body"].startswith("functional ")


def test_host_lists_the_stack(host, app):
    names = host.check_output("docker service ls --format '{{.Name}}'").split()
    assert f"{app.stack}_app" in names and f"{app.stack}_db" in names


def test_service_runs_in_the_db_container(service):
    db = service("db")
    count = db.check_output("runuser -u postgres -- psql -tAc 'select count(*) from notes' notes")
    assert int(count) >= 1
    assert db.file("/var/lib/postgresql").is_directory


def test_page_shows_health(page, screenshot):
    page.goto("/health")
    assert page.locator("body").inner_text().strip() == "ok"
    shot = screenshot(page, "health")
    assert shot["width"] > 0 and shot["url"].endswith("/health")


@pytest.mark.requires_deps("mail")
def test_sends_mail(deps):
    assert deps["mail"]


def test_page_check_that_fails(page, http):
    http.get("/notes")  # a line in the app's log
    page.goto("/health")
    text = page.locator("body").inner_text().strip()
    assert text == "not ok", "the health page should say not ok"


def test_hangs():
    time.sleep(120)


def test_hangs_in_the_browser(page):
    page.goto("/health")
    page.wait_for_timeout(120_000)


def test_after_the_hangs(http, page):
    assert http.get("/health").text == "ok\\n"
    page.goto("/health")
    assert "ok" in page.content()
'''


def _ccci(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ccci.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=900, check=False)


@pytest.fixture(scope="module")
def notes_run(recipes_dir: Path, docker_client, tmp_path_factory) -> Iterator[Path]:
    """example-notes installed and kept for the module; torn down after it."""
    base = tmp_path_factory.mktemp("functional-suite")
    env = {**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
           "CCCI_RUNS_DIR": str(base / "runs")}
    run = _ccci(env, "run", "example-notes", "--tiers", "install", "--keep")
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("results: ")]
    assert lines, f"ccci printed no results path:\n{run.stdout}{run.stderr}"
    results = json.loads(Path(lines[-1].removeprefix("results: ")).read_text())
    try:
        assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
        yield Path(results["run_dir"])
    finally:
        down = _ccci(env, "teardown", results["run_dir"])
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]


@pytest.fixture(scope="module")
def suite(notes_run: Path, tmp_path_factory) -> SuiteResult:
    folder = tmp_path_factory.mktemp("notes-suite")
    (folder / "test_notes_live.py").write_text(textwrap.dedent(SUITE))
    # A test's timeout covers its fixtures, and the first browser test starts Chromium:
    # 8 s leaves room for that on a CI host busy with other runs (3 s did not, beside
    # two other integration suites); the hanging tests wait 120 s, far beyond it.
    return run_suite(notes_run, [folder], test_timeout=8, session_timeout=300)


def _tests(result: SuiteResult) -> dict[str, TestOutcome]:
    return {t.name: t for t in result.tests}


def test_each_fixture_reaches_the_live_app(suite):
    outcomes = {name: (t.outcome, t.message) for name, t in _tests(suite).items()}
    assert {k: v for k, v in outcomes.items() if v[0] == "passed"} == {
        name: ("passed", "") for name in (
            "test_http_lists_and_adds_notes", "test_host_lists_the_stack",
            "test_service_runs_in_the_db_container", "test_page_shows_health",
            "test_after_the_hangs")
    }, outcomes
    assert outcomes["test_sends_mail"] == (
        "skipped", "needs dependency mail, absent from this run")
    assert not suite.timed_out and suite.error == "" and suite.exit_code == 1


def test_a_failed_test_carries_the_stack_logs_and_the_page(suite, notes_run):
    failed = _tests(suite)["test_page_check_that_fails"]
    assert failed.outcome == "failed"
    assert "the health page should say not ok" in failed.message
    assert "assert 'ok' == 'not ok'" in failed.message
    stack = json.loads((notes_run / "context.json").read_text())["stack"]
    assert set(failed.logs) == {"app", "db"}
    assert f"{stack}_app" in failed.logs["app"] and "GET /notes" in failed.logs["app"]
    assert f"{stack}_db" in failed.logs["db"]
    assert all(len(text.splitlines()) <= 20 for text in failed.logs.values())
    shot = failed.screenshot
    assert shot and Path(shot["path"]) == (
        notes_run / "screenshots" / "test_notes_live-test_page_check_that_fails-failed.png")
    assert Path(shot["path"]).read_bytes().startswith(PNG_MAGIC)
    assert shot["url"].endswith("/health") and shot["nodeid"] == failed.nodeid


def test_screenshots_are_listed_with_their_test(suite, notes_run):
    listed = {(Path(s["path"]).name, s["nodeid"].split("::")[-1]) for s in suite.screenshots}
    assert listed == {
        ("test_notes_live-test_page_shows_health-health.png", "test_page_shows_health"),
        ("test_notes_live-test_page_check_that_fails-failed.png", "test_page_check_that_fails"),
        ("test_notes_live-test_hangs_in_the_browser-failed.png", "test_hangs_in_the_browser"),
    }
    assert all(Path(s["path"]).is_file() for s in suite.screenshots)
    assert not (notes_run / BROWSER_DIR).exists()


def test_a_hanging_test_is_stopped_and_the_session_goes_on(suite):
    tests = _tests(suite)
    for name in ("test_hangs", "test_hangs_in_the_browser"):
        assert tests[name].outcome == "timeout", tests[name]
        assert tests[name].message == "stopped after 8 s (TEST_TIMEOUT)"
        assert set(tests[name].logs) == {"app", "db"}
    assert tests["test_after_the_hangs"].outcome == "passed"
