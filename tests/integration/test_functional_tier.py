"""The functional tier on the real swarm: the recipe's suite and the generic checks,
a broken test and a hanging one, the generic checks skipped in CI, the manual playbook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.integration.helpers import run_objects

ROOT = Path(__file__).resolve().parents[2]
GENERIC = {"test_converged", "test_stable_tasks", "test_health", "test_version_label",
           "test_secrets_hidden", "test_screenshot"}
PNG = b"\x89PNG\r\n\x1a\n"

BROKEN_TESTS = '''
import time


def test_the_heading_says_hello(page):
    page.goto("/")
    assert page.locator("h1").inner_text() == "hello", "the front page's heading"


def test_waits_forever(http):
    time.sleep(600)


def test_after_the_hang_still_runs(http):
    assert http.get("/health").ok
'''


def _config(tmp_path: Path, recipe: str, *, tests: str | None = None,
            meta: str = "") -> Path:
    """A copy of the enrolled CI configs, with a test file and meta lines added."""
    root = tmp_path / "config"
    shutil.copytree(ROOT / "recipes", root)
    if tests:
        (root / recipe / "tests" / "test_broken.py").write_text(tests)
    if meta:
        with (root / recipe / "meta.yml").open("a") as f:
            f.write(meta)
    return root


def _tests(results: dict) -> dict[str, dict]:
    return {t["nodeid"].split("::")[-1]: t
            for t in results["tiers"]["functional"]["details"]["tests"]}


def _assert_clean(call, docker_client) -> None:
    assert call.results["teardown"]["status"] == "passed", call.results["teardown"]
    for app in call.apps:
        assert run_objects(docker_client, app["run_id"], app["stack"]) == {}


def test_right_after_install_the_suite_and_the_generic_checks_pass(ccci, docker_client):
    call = ccci("run", "example-site", "--tiers", "install,functional")
    results = call.results
    assert call.rc == 0, call.output
    functional = results["tiers"]["functional"]
    assert functional["status"] == "passed", functional
    tests = _tests(results)
    assert set(tests) >= GENERIC
    assert all(t["generic"] for name, t in tests.items() if name in GENERIC)
    own = {name for name, t in tests.items() if not t["generic"]}
    assert own == {"test_the_front_page_is_the_seeded_index",
                   "test_every_response_names_the_deployed_version",
                   "test_a_page_put_in_the_content_volume_is_served",
                   "test_the_browser_sees_the_title_and_heading"}
    assert {t["outcome"] for t in tests.values()} == {"passed"}
    [shot] = functional["details"]["screenshots"]
    assert Path(shot["path"]).read_bytes()[:8] == PNG and shot["size"] > 1000
    assert shot["url"] == f"https://{results['domain']}:18443/"
    assert not [w for w in results["warnings"] if w["code"].startswith("CCCI-W70")]
    cases = ET.parse(Path(results["run_dir"]) / "junit.xml").getroot().iter("testcase")
    functional_cases = [c for c in cases if c.get("classname") == "example-site.functional"]
    assert len(functional_cases) == len(tests)
    _assert_clean(call, docker_client)


def test_a_broken_test_fails_the_tier_with_its_message_logs_and_screenshot(
        ccci, docker_client, tmp_path):
    config = _config(tmp_path, "example-site", tests=BROKEN_TESTS, meta="TEST_TIMEOUT: 5\n")
    call = ccci("run", "example-site", "--tiers", "install,functional",
                env={"CCCI_CONFIG_DIR": str(config)})
    results = call.results
    assert call.rc == 1, call.output
    functional = results["tiers"]["functional"]
    assert functional["status"] == "failed"
    assert "2 of " in functional["reason"] and "test_the_heading_says_hello" in functional["reason"]
    tests = _tests(results)
    broken = tests["test_the_heading_says_hello"]
    assert broken["outcome"] == "failed"
    assert "the front page's heading" in broken["message"]
    assert "'example-site' == 'hello'" in broken["message"].replace('"', "'")
    [logs] = broken["logs"].values()
    assert logs.strip(), "the app's last log lines"
    assert Path(broken["screenshot"]["path"]).read_bytes()[:8] == PNG
    hung = tests["test_waits_forever"]
    assert hung["outcome"] == "timeout" and hung["duration"] < 30
    assert "5" in hung["message"]
    assert tests["test_after_the_hang_still_runs"]["outcome"] == "passed"
    assert tests["test_the_browser_sees_the_title_and_heading"]["outcome"] == "passed"
    junit = ET.parse(Path(results["run_dir"]) / "junit.xml").getroot()
    [case] = [c for c in junit.iter("testcase") if c.get("name").endswith("says_hello")]
    assert "the front page's heading" in case.find("failure").get("message")
    assert results["level"] == 1
    _assert_clean(call, docker_client)


def test_generic_checks_skipped_in_ci_are_said_loudly_and_recorded(ccci, docker_client):
    call = ccci("run", "example-site", "--tiers", "install,functional",
                env={"CCCI_SKIP_GENERIC": "1"})
    results = call.results
    assert call.rc == 0, call.output
    assert "CCCI_SKIP_GENERIC is set in CI" in call.output
    assert results["tiers"]["functional"]["details"]["generic_skipped"] is True
    assert [w["code"] for w in results["warnings"]
            if w["code"].startswith("CCCI-W70")] == ["CCCI-W701"]
    assert not GENERIC & set(_tests(results))
    _assert_clean(call, docker_client)


def test_the_manual_playbook_runs_the_same_tier(recipes_dir, tmp_path, docker_client):
    env = {**os.environ, "CCCI_RECIPES_DIR": str(recipes_dir),
           "CCCI_RUNS_DIR": str(tmp_path / "runs"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def playbook(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ansible-playbook", *args], cwd=ROOT, env=env, text=True,
                              capture_output=True, timeout=600, check=False)

    done = playbook("playbooks/functional.yml", "-e", "recipe=example-site")
    [run_dir] = (tmp_path / "runs").iterdir()
    try:
        assert done.returncode == 0, done.stdout[-3000:]
        assert f"tests and screenshots: {run_dir}/functional.json" in done.stdout
        from ccci.rundir import RunDir

        record = RunDir(run_dir).functional()
        assert record and record["ok"] is True
        assert {t["nodeid"].split("::")[-1] for t in record["tests"]} >= GENERIC
    finally:
        down = playbook("playbooks/teardown.yml", "-e", f"run_dir={run_dir}")
        assert down.returncode == 0, down.stdout[-3000:]
