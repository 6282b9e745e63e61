"""What a run leaves for CI: junit.xml counts that match its test cases, results.json."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ccci.results import RunResult, TierResult, write_junit, write_results
from ccci.rundir import SCHEMA_VERSION, RunDir


def junit(result: RunResult, tmp_path: Path) -> ET.Element:
    return ET.parse(write_junit(result, RunDir(tmp_path))).getroot()


def counts(suite: ET.Element) -> dict[str, int]:
    return {key: int(suite.get(key, "-1")) for key in ("tests", "failures", "errors", "skipped")}


def elements(suite: ET.Element) -> dict[str, int]:
    """The same counts, taken from the test cases themselves."""
    cases = suite.findall("testcase")
    return {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }


def mixed() -> RunResult:
    return RunResult(
        recipe="example-notes", ref=None, duration=12.5,
        tiers={
            "install": TierResult("passed", duration=3.0),
            "upgrade": TierResult("failed", "marker lost\nexpected 'x' at /marker", 2.0),
            "backup": TierResult("error", "restic crashed"),
            "restore": TierResult("not_run", "no verified backup: the backup tier did not pass"),
            "functional": TierResult("skipped", "declared not applicable: no tests"),
            "lint": TierResult("not_run"),
        },
        teardown=TierResult("failed", "volume left behind", 1.0),
    )


def test_counts_of_a_mixed_run(tmp_path):
    suite = junit(mixed(), tmp_path)
    assert counts(suite) == {"tests": 7, "failures": 2, "errors": 1, "skipped": 3}
    assert counts(suite) == elements(suite)
    by_name = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(by_name) == ["install", "upgrade", "backup", "restore", "functional", "lint",
                             "teardown"]
    failure = by_name["upgrade"].find("failure")
    assert failure is not None
    assert failure.get("message") == "marker lost"
    assert failure.text == "marker lost\nexpected 'x' at /marker"
    assert by_name["lint"].find("skipped").get("message") == "not_run"
    assert by_name["install"].get("time") == "3.000"
    assert suite.get("time") == "12.500"


def test_a_run_level_error_is_a_test_case_with_its_text(tmp_path):
    """A refused run marks every tier not_run; the reason must not vanish from JUnit."""
    result = mixed()
    result.error = "compose file compose.yml needs X, which nothing sets\nmore"
    suite = junit(result, tmp_path)
    assert counts(suite) == {"tests": 8, "failures": 2, "errors": 2, "skipped": 3}
    assert counts(suite) == elements(suite)
    [plan] = [c for c in suite.findall("testcase") if c.get("name") == "plan"]
    error = plan.find("error")
    assert error is not None and error.text == result.error
    assert error.get("message") == "compose file compose.yml needs X, which nothing sets"


def test_refused_run(tmp_path):
    refused = TierResult("not_run", "run refused before deploy")
    result = RunResult(recipe="r", ref="9.9.9", error="ref '9.9.9' does not exist",
                       tiers={"install": refused, "upgrade": refused})
    suite = junit(result, tmp_path)
    assert counts(suite) == {"tests": 3, "failures": 0, "errors": 1, "skipped": 2}
    assert counts(suite) == elements(suite)


@pytest.mark.parametrize("error", ["", "interrupted before planning"])
def test_a_run_without_tiers(tmp_path, error):
    suite = junit(RunResult(recipe="r", ref=None, error=error), tmp_path)
    assert counts(suite) == elements(suite)
    assert counts(suite)["errors"] == (1 if error else 0)


def test_results_json(tmp_path):
    result = mixed()
    path = write_results(result, RunDir(tmp_path))
    data = json.loads(path.read_text())
    assert path == tmp_path / "results.json"
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["level"] == 1, "the failed upgrade stops the climb at install"
    assert data["tiers"]["upgrade"] == {
        "status": "failed", "reason": "marker lost\nexpected 'x' at /marker",
        "duration": 2.0, "details": {}}
    assert data["teardown"]["status"] == "failed"
    assert data["recipe"] == "example-notes" and data["error"] == ""
    assert RunDir(tmp_path).results()["level"] == 1


def two_apps() -> RunResult:
    result = mixed()
    for tier, app in (("install", "fresh"), ("upgrade", "upgraded"), ("backup", "upgraded"),
                      ("restore", "upgraded")):
        result.tiers[tier].details["app"] = app
    result.teardown.details["apps"] = {"fresh": "passed", "upgraded": "failed"}
    result.apps = {
        "fresh": {"domain": "n-a.ccci.test", "first_version": "1.1.0",
                  "version_deployed": "1.1.0"},
        "upgraded": {"domain": "n-b.ccci.test", "first_version": "1.0.0",
                     "version_deployed": "1.1.0"},
    }
    return result


def test_with_two_apps_each_case_names_its_app(tmp_path):
    suite = junit(two_apps(), tmp_path)
    assert counts(suite) == elements(suite)
    by_name = {case.get("name"): case for case in suite.findall("testcase")}
    assert by_name["install"].get("classname") == "example-notes.fresh"
    assert by_name["restore"].get("classname") == "example-notes.upgraded"
    assert by_name["teardown"].get("classname") == "example-notes.both"
    properties = {p.get("name"): p.get("value")
                  for p in by_name["upgrade"].find("properties")}
    assert properties == {"app": "upgraded", "app.domain": "n-b.ccci.test",
                          "app.first_version": "1.0.0", "app.version_deployed": "1.1.0"}
    # JUnit's schema wants the properties before the verdict
    assert [child.tag for child in by_name["upgrade"]] == ["properties", "failure"]


def test_with_one_app_cases_keep_the_recipe_as_class(tmp_path):
    result = two_apps()
    del result.apps["upgraded"]
    suite = junit(result, tmp_path)
    assert {case.get("classname") for case in suite.findall("testcase")} == {"example-notes"}
    assert all(case.find("properties") is None for case in suite.findall("testcase"))
