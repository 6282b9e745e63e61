"""Tier gates: one answer, from the plan and the run's records, for every entry point."""

from __future__ import annotations

from ccci.context import RunContext
from ccci.gates import NO_LIVE_APP, NO_VERIFIED_BACKUP, ONE_FRESH_DEPLOY, gate
from ccci.rundir import RunDir


def _context(run_dir, **extra) -> RunContext:
    target = {"backup_services": extra.pop("backup_services", ["db"])}
    return RunContext(
        run_id="r", recipe="x", ref="HEAD", commit="c", version="1.0.0+1",
        run_dir=str(run_dir), repo="/tmp/x", config_root="/tmp/c", domain="x.ccci.test",
        stack="x_ccci_test", overlay=None, plans={"target": target}, host={},
        **{"upgrade_path": ["0.9.0+1"], **extra})


def _installed(tmp_path, passed: bool = True) -> RunDir:
    record = RunDir(tmp_path)
    record.record_tier("install", "started")
    if passed:
        record.record_tier("install", "passed")
    return record


def test_install_runs_once_per_run(tmp_path):
    record = RunDir(tmp_path)
    assert gate("install", _context(tmp_path), record) is None
    record.record_tier("install", "started")
    closed = gate("install", _context(tmp_path), record)
    assert (closed.status, closed.reason) == ("not_run", ONE_FRESH_DEPLOY)


def test_a_failed_install_blocks_every_later_tier(tmp_path):
    record = _installed(tmp_path, passed=False)
    for tier in ("upgrade", "backup", "restore"):
        assert gate(tier, _context(tmp_path), record).reason == NO_LIVE_APP


def test_later_tiers_may_install_first(tmp_path):
    """A stage that installs first (backup.yml on a new run) is not blocked."""
    assert gate("backup", _context(tmp_path), RunDir(tmp_path)) is None


def test_not_applicable_tiers_are_skipped_with_the_reason(tmp_path):
    record = _installed(tmp_path)
    skip = gate("upgrade", _context(tmp_path, upgrade_path=[],
                                     upgrade_skip="no published version below x"), record)
    assert (skip.status, skip.reason) == ("skipped", "no published version below x")
    na = gate("backup", _context(tmp_path, backup_services=[]), record)
    assert na.status == "skipped" and "not backup-capable" in na.reason
    declared = gate("backup", _context(tmp_path, expected_na={"backup": "stateless"}), record)
    assert (declared.status, declared.reason) == ("skipped", "declared not applicable: stateless")


def test_restore_needs_a_verified_backup(tmp_path):
    record = _installed(tmp_path)
    assert gate("restore", _context(tmp_path), record).reason == NO_VERIFIED_BACKUP
    record.record_backup({"ok": False, "snapshot_id": None})
    assert gate("restore", _context(tmp_path), record).status == "not_run"
    record.record_backup({"ok": True, "snapshot_id": "abc"})
    assert gate("restore", _context(tmp_path), record) is None


def test_open_gates(tmp_path):
    record = _installed(tmp_path)
    assert gate("upgrade", _context(tmp_path), record) is None
    assert gate("backup", _context(tmp_path), record) is None
