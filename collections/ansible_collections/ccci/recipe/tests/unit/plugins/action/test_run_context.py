"""The run_context action: load (or make) a run's context and ask a tier gate.

The plan is real: the bundled example recipes are materialized as git repositories
in tmp and a run is made with ``ccci.context.create_run``; records go through RunDir.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.ccci.recipe.plugins.action import run_context

from ccci import gates
from ccci.context import create_run
from ccci.rundir import RunDir

ROOT = Path(__file__).resolve().parents[8]


pytestmark = pytest.mark.usefixtures("isolated_run_dirs")


@pytest.fixture
def ask(make_action):
    """``ask(**args)``: the action's result."""

    def go(**args) -> dict:
        action = make_action(run_context.ActionModule, "ccci.recipe.run_context", args)
        return action.run(task_vars={})

    return go


@pytest.fixture
def site(tmp_path):
    """A fresh run of example-site, as ``ccci run`` makes it before any stage."""
    return create_run("example-site", run_dir=tmp_path / "run")


def passed(run_dir: str, *tiers: str) -> None:
    for tier in tiers:
        RunDir(run_dir).record_tier(tier, "started")
        RunDir(run_dir).record_tier(tier, "passed")


def test_open_gate_returns_the_loaded_context(ask, site):
    result = ask(run_dir=site.run_dir, tier="install")
    assert not result.get("failed")
    assert "gate" not in result
    assert result["changed"] is False
    assert (result["run_id"], result["run_dir"]) == (site.run_id, site.run_dir)
    assert result["context"] == site.as_dict()
    assert result["role_vars"]


def test_install_gate_closes_once_install_started(ask, site):
    RunDir(site.run_dir).record_tier("install", "started")
    result = ask(run_dir=site.run_dir, tier="install")
    assert result["failed"] is True
    assert result["gate"] == {"status": "not_run", "reason": gates.ONE_FRESH_DEPLOY}
    assert result["msg"] == f"install not run: {gates.ONE_FRESH_DEPLOY}"
    assert result["run_id"] == site.run_id  # the context still comes back


def test_failed_install_closes_the_later_tiers(ask, site):
    RunDir(site.run_dir).record_tier("install", "started")
    result = ask(run_dir=site.run_dir, tier="backup")
    assert result["gate"] == {"status": "not_run", "reason": gates.NO_LIVE_APP}
    assert result["msg"] == f"backup not run: {gates.NO_LIVE_APP}"


def test_restore_waits_for_a_verified_backup(ask, site):
    passed(site.run_dir, "install", "backup")
    RunDir(site.run_dir).record_backup({"ok": False, "snapshot_id": None})
    closed = ask(run_dir=site.run_dir, tier="restore")
    assert closed["msg"] == f"restore not run: {gates.NO_VERIFIED_BACKUP}"
    RunDir(site.run_dir).record_backup({"ok": True, "snapshot_id": "snap1"})
    opened = ask(run_dir=site.run_dir, tier="restore")
    assert not opened.get("failed")
    assert "gate" not in opened


def test_tier_declared_not_applicable_is_skipped(ask, tmp_path):
    config_root = tmp_path / "config"
    (config_root / "example-site").mkdir(parents=True)
    (config_root / "example-site" / "meta.yml").write_text(
        "EXPECTED_NA:\n  backup: the site is rebuilt from git\n")
    context = create_run("example-site", run_dir=tmp_path / "run", config_root=config_root)
    passed(context.run_dir, "install")
    result = ask(run_dir=context.run_dir, tier="backup")
    reason = "declared not applicable: the site is rebuilt from git"
    assert result["gate"] == {"status": "skipped", "reason": reason}
    assert result["msg"] == f"backup skipped: {reason}"


def test_without_a_run_dir_a_recipe_is_needed(ask, tmp_path):
    result = ask(run_dir=str(tmp_path / "nothing"), tier="install")
    assert result["failed"] is True
    assert result["msg"].startswith("no run context: pass recipe=NAME")


def test_a_manual_run_is_created_and_its_install_gate_is_open(ask, tmp_path):
    result = ask(recipe="example-notes", run_dir=str(tmp_path / "manual"), tier="install")
    assert not result.get("failed")
    assert result["changed"] is True
    assert result["run_dir"] == str((tmp_path / "manual").resolve())
    assert result["context"]["recipe"] == "example-notes"
    assert RunDir(result["run_dir"]).has_context()
    again = ask(run_dir=result["run_dir"])
    assert again["changed"] is False
    assert again["run_id"] == result["run_id"]
