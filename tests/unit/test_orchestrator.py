"""The orchestrator's decisions: which tiers run, in what order, gates, exit codes.

Stage playbooks are replaced by a scripted runner (the edge of this unit); the plan is
real: the bundled example recipes are materialized as git repositories and planned.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccci.ansible import StageRun
from ccci.examples import materialize_all
from ccci.orchestrator import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Orchestrator,
    RunRequest,
)
from ccci.progress import Progress
from ccci.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recipes(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("recipes")
    materialize_all(ROOT / "examples" / "recipes", dest)
    return dest


@pytest.fixture(autouse=True)
def _dirs(recipes, tmp_path, monkeypatch):
    monkeypatch.setenv("CCCI_RECIPES_DIR", str(recipes))
    monkeypatch.setenv("CCCI_RUNS_DIR", str(tmp_path / "runs"))


class ScriptedRunner:
    """Plays each stage as scripted: its status, and the records a real stage leaves."""

    def __init__(self, outcomes: dict[str, str], on_stage=None) -> None:
        self.outcomes = outcomes
        self.on_stage = on_stage
        self.stages: list[str] = []
        self.run_dir: Path | None = None

    def __call__(self, project_root, run_dir, progress, *, inventory=None, cancel=None):
        self.run_dir = Path(run_dir)
        return self

    def run(self, stage, playbook, extravars, *, cancellable=True):
        assert playbook == f"playbooks/{stage}.yml"
        assert extravars == {"run_dir": str(self.run_dir)}
        self.stages.append(stage)
        status = self.outcomes.get(stage, "successful")
        record = RunDir(self.run_dir)
        if stage != "teardown":
            record.record_tier(stage, "started")
            if status == "successful":
                record.record_tier(stage, "passed")
        if stage == "backup" and status == "successful":
            record.record_backup({"ok": True, "snapshot_id": "snap"})
        if self.on_stage:
            self.on_stage(stage)
        failures = [] if status == "successful" else [{"task": "t", "msg": f"{stage} broke"}]
        return StageRun(stage, status, 0 if status == "successful" else 2, 0.1, failures)


def _run(request: RunRequest, runner: ScriptedRunner) -> tuple[object, dict]:
    orchestrator = Orchestrator(request, Progress(live=False), runner_factory=runner)
    result, path = orchestrator.run()
    return result, json.loads(path.read_text())


def _statuses(results: dict) -> dict[str, str]:
    return {name: tier["status"] for name, tier in results["tiers"].items()}


def test_tiers_run_in_ladder_order_then_teardown():
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-notes", tiers=("restore", "install", "backup")),
                           runner)
    assert runner.stages == ["install", "backup", "restore", "teardown"]
    assert _statuses(results) == {"install": "passed", "backup": "passed", "restore": "passed"}
    assert result.exit_code == EXIT_OK and results["level"] == 1  # upgrade not asked for


def test_a_failed_install_blocks_the_rest_and_still_tears_down():
    runner = ScriptedRunner({"install": "failed"})
    result, results = _run(RunRequest("example-notes"), runner)
    assert runner.stages == ["install", "teardown"]
    assert results["tiers"]["install"]["reason"] == "t: install broke"
    for tier in ("upgrade", "backup", "restore"):
        assert results["tiers"][tier] == {**results["tiers"][tier], "status": "not_run",
                                          "reason": "no live app: install failed"}
    assert result.exit_code == EXIT_FAILED and results["level"] == 0


def test_a_failed_backup_blocks_restore_only():
    runner = ScriptedRunner({"backup": "failed"})
    result, results = _run(RunRequest("example-notes"), runner)
    assert runner.stages == ["install", "upgrade", "backup", "teardown"]
    assert results["tiers"]["restore"]["status"] == "not_run"
    assert "no verified backup" in results["tiers"]["restore"]["reason"]
    assert result.exit_code == EXIT_FAILED and results["level"] == 2


def test_a_failed_teardown_fails_the_run():
    runner = ScriptedRunner({"teardown": "failed"})
    result, results = _run(RunRequest("example-site", tiers=("install",)), runner)
    assert _statuses(results) == {"install": "passed"}
    assert results["teardown"]["status"] == "failed"
    assert result.exit_code == EXIT_FAILED == results["exit_code"]


def test_keep_skips_the_teardown():
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-site", tiers=("install",), keep=True), runner)
    assert runner.stages == ["install"]
    assert results["teardown"] is None and result.exit_code == EXIT_OK


def test_an_interrupt_stops_later_tiers_and_exits_130():
    runner = ScriptedRunner({})
    orchestrator = Orchestrator(RunRequest("example-notes"), Progress(live=False),
                                runner_factory=runner)
    runner.on_stage = lambda stage: stage == "install" and orchestrator.interrupt(2, None)
    result, path = orchestrator.run()
    results = json.loads(path.read_text())
    assert runner.stages == ["install", "teardown"]
    assert {results["tiers"][t]["reason"] for t in ("upgrade", "backup", "restore")} == {
        "interrupted"}
    assert result.exit_code == EXIT_INTERRUPTED


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (RunRequest("example-site", tiers=("install", "bogus")), "unknown or unavailable tier"),
        (RunRequest("no-such-recipe"), "unknown recipe 'no-such-recipe'"),
        (RunRequest("../etc"), "recipe name"),
    ],
)
def test_bad_input_is_refused_before_any_stage(request_, message):
    runner = ScriptedRunner({})
    result, results = _run(request_, runner)
    assert runner.stages == []
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in results["error"]
    assert {t["status"] for t in results["tiers"].values()} == {"not_run"}
