"""The run_record action: roles append deploys and tier events, and read the state back.

The records are real (``ccci.rundir`` in a tmp run dir) and read back through RunDir.
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.ccci.recipe.plugins.action import run_record

from ccci.rundir import RunDir

EMPTY = {"published_port": None, "live_plan": None, "deploys": 0, "fresh_deploys": 0,
         "version_deployed": None, "last_good_snapshot": None, "tiers": {}}


@pytest.fixture
def record(make_action, tmp_path):
    """``record(**args)``: the action's result for the run dir ``tmp_path``."""

    def go(**args) -> dict:
        action = make_action(run_record.ActionModule, "ccci.recipe.run_record",
                             {"run_dir": str(tmp_path), **args})
        return action.run(task_vars={})

    return go


def deploy(op: str, plan: str, **fields) -> dict:
    return {"op": op, "plan": plan, "commit": "abc123", **fields}


def test_nothing_to_record_returns_the_empty_state(record, tmp_path):
    result = record()
    assert result == {"changed": False, "state": EMPTY}
    assert list(tmp_path.iterdir()) == []


def test_a_deploy_is_appended_and_counted(record, tmp_path):
    first = record(deploy=deploy("install", "1.1.0+0.2.0", version="1.1.0+0.2.0",
                                 converged=True, elapsed=12.5, timeout=300),
                   published_port="20417", stack="notes_example_com")
    assert first["changed"] is True
    assert first["state"] == {**EMPTY, "published_port": 20417, "deploys": 1,
                              "live_plan": "1.1.0+0.2.0",
                              "fresh_deploys": 1, "version_deployed": "1.1.0+0.2.0"}
    second = record(deploy=deploy("upgrade", "target", version="1.2.0+0.3.0"),
                    published_port=20417, stack="notes_example_com")
    # the upgrade did not converge: the version deployed is still the install's
    assert second["state"]["deploys"] == 2
    assert second["state"]["live_plan"] == "target"
    assert second["state"]["fresh_deploys"] == 1
    assert second["state"]["version_deployed"] == "1.1.0+0.2.0"
    saved = RunDir(tmp_path).deploys()
    assert (saved.stack, saved.published_port) == ("notes_example_com", 20417)
    assert [(d.op, d.plan, d.converged, d.elapsed) for d in saved.deploys] == [
        ("install", "1.1.0+0.2.0", True, 12.5), ("upgrade", "target", False, None)]


def test_tier_events_give_each_tiers_latest(record, tmp_path):
    assert record(tier="install")["state"]["tiers"] == {"install": "started"}
    assert record(tier="install", status="passed")["state"]["tiers"] == {
        "install": "passed"}
    state = record(tier="backup", status="started")["state"]
    assert state["tiers"] == {"install": "passed", "backup": "started"}
    events = RunDir(tmp_path).tiers().events
    assert [(e.tier, e.status) for e in events] == [
        ("install", "started"), ("install", "passed"), ("backup", "started")]
    assert all(e.at for e in events)


def test_deploy_and_tier_in_one_call(record, tmp_path):
    result = record(deploy=deploy("install", "target"), published_port=8080, stack="s",
                    tier="install", status="passed")
    assert result["state"]["deploys"] == 1
    assert result["state"]["tiers"] == {"install": "passed"}


def test_a_deploy_through_the_proxy_has_no_published_port(record, tmp_path):
    result = record(deploy=deploy("install", "target"), published_port=None, stack="s")
    assert result["state"]["published_port"] is None and result["state"]["deploys"] == 1
    assert RunDir(tmp_path).deploys().published_port is None


def test_checks_and_the_access_log_are_kept(record, tmp_path):
    probe = {"op": "install", "plan": "target", "mode": "traefik", "ok": False,
             "elapsed": 1.5, "probes": [{"url": "https://a.ccci.test:18443/", "status": 404}]}
    assert record(probe=probe)["changed"] is True
    [kept] = RunDir(tmp_path).probes().of("install")
    assert (kept.ok, kept.probes[0]["status"], bool(kept.at)) == (False, 404, True)
    assert record(access_log=['{"RequestHost":"a.ccci.test"}'])["changed"] is True
    assert RunDir(tmp_path).access_log_path().read_text() == '{"RequestHost":"a.ccci.test"}\n'


def test_state_reports_the_last_good_snapshot(record, tmp_path):
    RunDir(tmp_path).record_backup({"ok": True, "snapshot_id": "snap1"})
    RunDir(tmp_path).record_backup({"ok": False, "snapshot_id": None})
    assert record()["state"]["last_good_snapshot"] == "snap1"


@pytest.mark.parametrize(("args", "error"), [
    ({"deploy": deploy("install", "target", colour="red"), "published_port": 1,
      "stack": "s"}, "colour"),
    ({"deploy": {"op": "install"}, "published_port": 1, "stack": "s"}, "plan"),
    ({"deploy": deploy("install", "target")}, "stack"),
    ({"probe": {"op": "install", "plan": "target", "mode": "traefik", "ok": True,
                "colour": "red"}}, "colour"),
    ({"deploy": deploy("install", "target"), "published_port": "http", "stack": "s"},
     "http"),
    ({"tier": "install", "status": "failed"}, "'started' or 'passed', not 'failed'"),
])
def test_bad_input_fails_naming_the_run_dir(record, tmp_path, args, error):
    result = record(**args)
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot record in {tmp_path}: ")
    assert error in result["msg"]
    assert "state" not in result
    assert RunDir(tmp_path).state() == EMPTY


def test_unknown_option_is_refused(record):
    with pytest.raises(AnsibleActionFail, match=r"Invalid options.*: port"):
        record(port=1)
