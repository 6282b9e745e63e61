"""Which tiers share one stage, and how its time is split among them."""

from __future__ import annotations

from datetime import UTC, datetime

from ccci.rundir import TierEvent, Tiers
from ccci.shared_stage import shared_tiers, split_duration, tier_seconds
from tests.unit.test_gates import _context


def test_upgrade_backup_and_restore_share_a_stage(tmp_path):
    tiers = ["upgrade", "backup", "restore", "functional"]
    assert shared_tiers(tiers, _context(tmp_path)) == ["upgrade", "backup", "restore"]


def test_a_tier_the_plan_rules_out_ends_the_shared_run(tmp_path):
    no_backup = _context(tmp_path, backup_services=[])
    assert shared_tiers(["upgrade", "backup", "restore"], no_backup) == []
    no_base = _context(tmp_path, upgrade_path=[], upgrade_skip="no earlier release")
    assert shared_tiers(["upgrade", "backup", "restore"], no_base) == []
    assert shared_tiers(["backup", "restore"], no_base) == ["backup", "restore"]
    declared = _context(tmp_path, expected_na={"restore": "data is rebuilt"})
    assert shared_tiers(["upgrade", "backup", "restore"], declared) == ["upgrade", "backup"]


def test_one_tier_alone_or_others_keep_their_own_stage(tmp_path):
    assert shared_tiers(["upgrade"], _context(tmp_path)) == []
    assert shared_tiers(["functional", "backup", "restore"], _context(tmp_path)) == []
    assert shared_tiers(["install", "upgrade"], _context(tmp_path)) == []


def _at(seconds: float) -> str:
    return datetime.fromtimestamp(1_800_000_000 + seconds, UTC).isoformat(
        timespec="milliseconds")


def test_the_first_tier_carries_the_stage_start_and_a_failed_one_runs_to_the_end():
    events = [("install", "started", 1), ("install", "passed", 5), ("upgrade", "started", 6),
              ("upgrade", "passed", 18), ("backup", "started", 18.25),
              ("backup", "passed", 23.75), ("restore", "started", 24)]
    record = Tiers([TierEvent(tier, status, _at(at)) for tier, status, at in events])
    ended = 1_800_000_000 + 27.5
    assert tier_seconds(record, "backup", ended) == 5.5
    assert tier_seconds(record, "restore", ended) == 3.5
    assert tier_seconds(record, "lint", ended) == 0.0
    split = split_duration(["upgrade", "backup", "restore"], record, 30.0, ended)
    assert split == {"upgrade": 21.0, "backup": 5.5, "restore": 3.5}
    assert split_duration([], record, 30.0, ended) == {}
