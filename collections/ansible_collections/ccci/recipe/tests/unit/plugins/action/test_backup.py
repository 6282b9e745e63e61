"""The backup action's retry loop: host step, BACKUP_VERIFY, settle, record.

Only the edges are faked: ``execute_module`` (the host: ``backupbot_backup`` and
``stack_converge`` results as those modules return them), ``run_hook`` as the action
module imported it, and ``time.sleep``. The record is real and read back through
``ccci.rundir.RunDir``.
"""

from __future__ import annotations

import inspect

import pytest
from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.action import backup as backup_action

from ccci import hooks
from ccci.errors import CcciError
from ccci.hooks import HookOutcome
from ccci.rundir import RunDir

BACKUP = "ccci.recipe.backupbot_backup"
CONVERGE = "ccci.recipe.stack_converge"
LOCAL = {"ansible_connection": "local", "inventory_hostname": "localhost"}
PATHS = [
    {"service": "s_db", "volume": "data", "source": "s_data", "subpath": "dump.sql",
     "path": "/var/lib/docker/volumes/s_data/_data/dump.sql", "kind": "file", "size": 9},
    {"service": "s_app", "volume": "files", "source": "s_files", "subpath": "",
     "path": "/var/lib/docker/volumes/s_files/_data", "kind": "dir", "size": 40},
]


def made(snapshot: str, total: int = 100, added: int = 10) -> dict:
    """What ``backupbot_backup`` returns after a snapshot was made."""
    return {"changed": True, "snapshot_id": snapshot, "short_id": snapshot[:8],
            "total_bytes": total, "data_added": added, "paths": PATHS}


def broke(msg: str) -> dict:
    """What ``backupbot_backup`` returns when a hook or restic failed."""
    return {"failed": True, "msg": msg, "snapshot_id": None, "short_id": None,
            "total_bytes": None, "data_added": None, "paths": PATHS}


class Edges:
    """The host, BACKUP_VERIFY and the clock, scripted, with every call in one log."""

    def __init__(self, backups: list[dict], verdicts: list = (), converged=None) -> None:
        self.backups = list(backups)
        self.verdicts = list(verdicts)
        self.converged = converged or {"changed": False, "converged": True}
        self.log: list[tuple] = []
        self.module_args: list[dict] = []
        self.verify_calls: list[inspect.BoundArguments] = []

    def execute_module(self, *args, **kwargs) -> dict:
        call = inspect.signature(ActionBase._execute_module).bind(None, *args, **kwargs)
        name, module_args = call.arguments["module_name"], call.arguments["module_args"]
        self.log.append(("module", name))
        self.module_args.append(module_args)
        if name == BACKUP:
            return self.backups.pop(0)
        assert name == CONVERGE
        return self.converged

    def run_hook(self, *args, **kwargs) -> HookOutcome:
        call = inspect.signature(hooks.run_hook).bind(*args, **kwargs)
        self.verify_calls.append(call)
        self.log.append(("verify", call.arguments["snapshot"]["id"]))
        verdict = self.verdicts.pop(0) if self.verdicts else HookOutcome(True, True, True)
        if isinstance(verdict, Exception):
            raise verdict
        return verdict

    def sleep(self, seconds: float) -> None:
        self.log.append(("sleep", seconds))


@pytest.fixture
def run(make_action, monkeypatch, tmp_path):
    """``run(edges, **args)``: the action's result; the run dir is ``tmp_path``."""

    def go(edges: Edges, **args) -> dict:
        monkeypatch.setattr(backup_action, "run_hook", edges.run_hook)
        monkeypatch.setattr(backup_action, "has_hook", lambda _run_dir, _name: True)
        monkeypatch.setattr(backup_action.time, "sleep", edges.sleep)
        monkeypatch.setattr(backup_action, "execute_module",
                            lambda _action, name, module_args, task_vars: edges.execute_module(
                                module_name=name, module_args=module_args, task_vars=task_vars))
        task_args = {"run_dir": str(tmp_path), "stack": "s", "repository": "/r/run1",
                     "password_file": "/r/run1.pw", "tags": ["ccci.run=run1"],
                     "settle_timeout": 120, **args}
        action = make_action(backup_action.ActionModule, "ccci.recipe.backup",
                             {k: v for k, v in task_args.items() if v is not None})
        return action.run(task_vars=LOCAL)

    return go


def test_first_attempt_good_is_recorded_without_settling(run, tmp_path):
    edges = Edges([made("snap1", total=2048, added=512)])
    result = run(edges)
    assert not result.get("failed")
    assert result["changed"] is True
    assert edges.log == [("module", BACKUP), ("verify", "snap1")]
    backup = result["backup"]
    assert (backup["ok"], backup["snapshot_id"]) == (True, "snap1")
    assert (backup["total_bytes"], backup["data_added"]) == (2048, 512)
    [attempt] = backup["attempts"]
    assert attempt["attempt"] == 1 and attempt["ok"] and attempt["reason"] == ""
    assert "settled" not in attempt
    record = RunDir(tmp_path).backups()
    assert record.backups == [backup]
    assert record.last_good_snapshot == "snap1"


def test_host_gets_only_module_args_and_verify_gets_the_snapshot(run, tmp_path):
    edges = Edges([made("snap1")])
    run(edges, hook_timeout=30, volumes_root=None, attempts=2, retry_delay=0)
    assert edges.module_args == [{
        "stack": "s", "repository": "/r/run1", "password_file": "/r/run1.pw",
        "tags": ["ccci.run=run1"], "hook_timeout": 30,
    }]
    [call] = edges.verify_calls
    assert call.args == (tmp_path, "BACKUP_VERIFY", "backup")
    assert call.kwargs["host_spec"] == "local://"
    assert call.kwargs["require_true"] is True
    assert call.kwargs["snapshot"] == {
        "id": "snap1", "repository": "/r/run1", "password_file": "/r/run1.pw",
        "paths": tuple(p["path"] for p in PATHS),
    }


def test_recipe_without_backup_verify_counts_as_verified(run, tmp_path):
    result = run(Edges([made("snap1")], verdicts=[HookOutcome(called=False, ok=True)]))
    assert not result.get("failed")
    assert RunDir(tmp_path).backups().last_good_snapshot == "snap1"


def test_module_failure_settles_then_retries(run, tmp_path):
    edges = Edges([broke("pre-hook of s_db exited 1"), made("snap2")])
    result = run(edges, retry_delay=5)
    assert not result.get("failed")
    assert edges.log == [
        ("module", BACKUP), ("sleep", 5.0), ("module", CONVERGE),
        ("module", BACKUP), ("verify", "snap2"),
    ]
    assert edges.module_args[1] == {"stack": "s", "timeout": 120}
    first, second = result["backup"]["attempts"]
    assert (first["ok"], first["reason"], first["settled"]) == (
        False, "pre-hook of s_db exited 1", True)
    assert first["snapshot_id"] is None
    assert (second["attempt"], second["ok"], second["snapshot_id"]) == (2, True, "snap2")
    assert "settled" not in second
    assert result["backup"]["snapshot_id"] == "snap2"
    assert RunDir(tmp_path).backups().last_good_snapshot == "snap2"


def test_a_stack_that_does_not_settle_is_recorded(run):
    edges = Edges([broke("restic: repository locked"), made("snap2")],
                  converged={"failed": True, "msg": "not converged within 120 s"})
    result = run(edges)
    first = result["backup"]["attempts"][0]
    assert first["settled"] is False
    assert result["backup"]["ok"] is True


def test_backup_verify_failure_settles_then_retries(run, tmp_path):
    edges = Edges([made("snap1"), made("snap2")],
                  verdicts=[HookOutcome(True, False, False, error="marker missing")])
    result = run(edges)
    assert not result.get("failed")
    assert edges.log == [
        ("module", BACKUP), ("verify", "snap1"), ("sleep", 2.0), ("module", CONVERGE),
        ("module", BACKUP), ("verify", "snap2"),
    ]
    first, _ = result["backup"]["attempts"]
    assert first["reason"] == "BACKUP_VERIFY: marker missing"
    assert first["snapshot_id"] == "snap1" and first["ok"] is False
    assert result["backup"]["snapshot_id"] == "snap2"
    assert RunDir(tmp_path).backups().last_good_snapshot == "snap2"


def test_backup_verify_error_is_a_failed_attempt(run):
    edges = Edges([made("snap1"), made("snap2")],
                  verdicts=[CcciError("the run dir holds no context")])
    result = run(edges)
    assert result["backup"]["attempts"][0]["reason"] == (
        "BACKUP_VERIFY: the run dir holds no context")
    assert result["backup"]["ok"] is True


def test_all_attempts_failing_fails_with_the_last_reason(run, tmp_path):
    bad = HookOutcome(True, False, False, error="marker missing")
    edges = Edges([broke("restic: repository locked"), made("snap2"), made("snap3")],
                  verdicts=[bad, bad])
    result = run(edges)
    assert result["failed"] is True
    assert result["msg"] == "backup failed after 3 attempt(s): BACKUP_VERIFY: marker missing"
    backup = result["backup"]
    assert backup["ok"] is False
    assert backup["snapshot_id"] is None  # the last attempt made snap3, unverified
    assert [a["attempt"] for a in backup["attempts"]] == [1, 2, 3]
    assert [a["reason"] for a in backup["attempts"]] == [
        "restic: repository locked", "BACKUP_VERIFY: marker missing",
        "BACKUP_VERIFY: marker missing"]
    assert all(a["settled"] for a in backup["attempts"][:2])
    assert edges.backups == []
    record = RunDir(tmp_path).backups()
    assert record.backups == [backup]
    assert record.last_good_snapshot is None


def test_attempts_bounds_the_loop(run):
    edges = Edges([broke("one"), broke("two"), made("never")])
    result = run(edges, attempts=2)
    assert result["msg"] == "backup failed after 2 attempt(s): two"
    assert len(edges.backups) == 1


def test_a_failed_backup_keeps_the_earlier_good_snapshot(run, tmp_path):
    run(Edges([made("snap1")]))
    result = run(Edges([broke("x")], verdicts=[]), attempts=1)
    assert result["failed"] is True
    record = RunDir(tmp_path).backups()
    assert [b["ok"] for b in record.backups] == [True, False]
    assert record.last_good_snapshot == "snap1"


@pytest.mark.parametrize("settle_timeout", [None, 0, ""])
def test_settle_timeout_is_required(run, tmp_path, settle_timeout):
    edges = Edges([made("snap1")])
    result = run(edges, settle_timeout=settle_timeout)
    assert result["failed"] is True
    assert result["msg"] == "settle_timeout is required"
    assert edges.log == []
    assert RunDir(tmp_path).backups().backups == []


def test_verification_warnings_and_comparison_are_recorded(run, tmp_path):
    """An empty volume is a warning of the attempt and of the backup, never a failure."""
    warning = ("/v/s_up/_data (service s_app, volume up): "
               "empty at backup: restoring it proves nothing")
    compared = [dict(PATHS[1], compare={"files": 2, "bytes": 40, "hashed": 2, "mismatches": []})]
    good = dict(made("snap1"), paths=compared, verify_warnings=[warning], hash_limit=1024)
    result = run(Edges([good]))
    assert not result.get("failed")
    [attempt] = result["backup"]["attempts"]
    assert attempt["warnings"] == [warning] and attempt["hash_limit"] == 1024
    assert attempt["paths"][0]["compare"]["hashed"] == 2
    assert result["backup"]["warnings"] == [warning]
    assert RunDir(tmp_path).backups().backups[0]["warnings"] == [warning]


def test_hash_limit_is_passed_to_the_host(run):
    edges = Edges([made("snap1")])
    run(edges, hash_limit=4096)
    assert edges.module_args[0]["hash_limit"] == 4096
