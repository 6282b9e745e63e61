"""The janitor's controller-side steps: dead_runs picks the runs, run_record ends them.

The registry is real (a tmp ``CCCI_STATE_DIR``): a run saved without a lock is dead,
one registered by this process is alive.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible import constants as C
from ansible_collections.ccci.recipe.plugins.action import dead_runs, run_record

from ccci import active_runs
from ccci.rundir import RunDir


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("CCCI_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state" / "runs").mkdir(parents=True)


def save(run_id: str, tmp_path: Path, host: str = "local") -> active_runs.RunEntry:
    entry = active_runs.new_entry(run_id, host, str(tmp_path / run_id), stack=f"s_{run_id}")
    active_runs.save(entry)
    return entry


@pytest.fixture
def find(make_action):
    def go(task_vars: dict | None = None, **args) -> dict:
        action = make_action(dead_runs.ActionModule, "ccci.recipe.dead_runs", args)
        return action.run(task_vars=task_vars or {})

    return go


def test_the_default_inventory_reaps_local_runs(find, tmp_path):
    dead = save("dead1", tmp_path)
    save("far1", tmp_path, host="/elsewhere/inventory.yml")
    result = find({"ansible_inventory_sources": list(C.DEFAULT_HOST_LIST)})
    assert result["changed"] is False
    assert "local" in result["hosts"]
    [run] = result["runs"]
    assert (run["run_id"], run["reason"], run["stack"]) == ("dead1", f"process {dead.pid} is gone",
                                                            "s_dead1")
    assert run["context"] is None
    assert [r["run_id"] for r in result["reported"]] == ["far1"]


def test_another_inventory_reaps_its_own_runs(find, tmp_path):
    save("dead1", tmp_path)
    save("far1", tmp_path, host=str(tmp_path / "inventory.yml"))
    result = find({"ansible_inventory_sources": [str(tmp_path / "inventory.yml")]})
    assert [r["run_id"] for r in result["runs"]] == ["far1"]
    assert find(host="local")["runs"][0]["run_id"] == "dead1"


def test_a_live_run_is_never_returned(find, tmp_path):
    entry = active_runs.new_entry("alive1", "local", str(tmp_path / "alive1"))
    with active_runs.register(entry):
        assert find(host="local", expired=True)["runs"] == []


@pytest.fixture
def end(make_action, tmp_path):
    def go(**args) -> dict:
        action = make_action(run_record.ActionModule, "ccci.recipe.run_record",
                             {"run_dir": str(tmp_path / "run"), **args})
        return action.run(task_vars={})

    return go


def test_a_reaped_run_is_recorded_and_forgotten(end, tmp_path):
    save("gone1", tmp_path)
    (tmp_path / "run").mkdir()
    result = end(run_id="gone1", reaped="process 9 is gone", unregister=True)
    assert result["changed"] is True
    assert (result["run_id"], result["unregistered"]) == ("gone1", "gone1")
    assert result["reaped"]["reason"] == "process 9 is gone"
    assert RunDir(tmp_path / "run").results()["reaped"] == result["reaped"]
    assert active_runs.runs() == []


def test_unregister_takes_the_run_id_from_the_context(end, tmp_path):
    save("ctx1", tmp_path)
    RunDir(tmp_path / "run").save_context({"run_id": "ctx1"})
    result = end(unregister="yes")
    assert result["unregistered"] == "ctx1" and "reaped" not in result
    assert active_runs.runs() == []


def test_an_unsafe_run_id_is_refused(end, tmp_path):
    save("keep1", tmp_path)
    result = end(run_id="../runs/keep1", unregister=True)
    assert result["failed"] is True and "not a plain run id" in result["msg"]
    assert [r.entry.run_id for r in active_runs.runs()] == ["keep1"]


def test_unregister_without_a_context_or_run_id_fails(end):
    result = end(unregister=True)
    assert result["failed"] is True and "no context.json" in result["msg"]
