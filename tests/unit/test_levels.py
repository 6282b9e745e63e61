"""The level ladder, from tier verdicts alone."""

import pytest

from ccci.levels import TIERS, level


def test_ladder():
    assert level({"install": ("failed", "x")}) == 0
    assert level({"install": ("passed", "")}) == 1
    assert level({"install": ("passed", ""), "upgrade": ("skipped", "only one version")}) == 2
    assert level({"install": ("passed", ""), "upgrade": ("skipped", "")}) == 1
    both = {"install": ("passed", ""), "upgrade": ("passed", ""),
            "backup": ("passed", ""), "restore": ("failed", "marker lost")}
    assert level(both) == 2
    both["restore"] = ("passed", "")
    assert level(both) == 3


ALL_PASSED = {tier: ("passed", "") for tier in TIERS}


def test_nothing_ran_is_l0():
    assert level({}) == 0


def test_every_tier_passed_is_l5():
    assert level(ALL_PASSED) == 5


@pytest.mark.parametrize("reason", ["declared not applicable: no app", ""])
def test_a_skipped_install_is_never_climbed_past(reason):
    """No verdict without evidence: a run that deployed nothing stays at L0."""
    statuses = {**ALL_PASSED, "install": ("skipped", reason)}
    assert level(statuses) == 0


@pytest.mark.parametrize("status", ["failed", "error", "not_run", "running"])
def test_anything_but_passed_or_skipped_stops_the_climb(status):
    assert level({**ALL_PASSED, "functional": (status, "x")}) == 3


def test_a_blank_reason_is_no_reason():
    assert level({**ALL_PASSED, "upgrade": ("skipped", "  \n")}) == 1


def test_a_tier_missing_from_the_verdicts_did_not_run():
    statuses = dict(ALL_PASSED)
    del statuses["upgrade"]
    assert level(statuses) == 1


def test_both_backup_and_restore_make_l3():
    base = {"install": ("passed", ""), "upgrade": ("passed", "")}
    assert level({**base, "backup": ("passed", "")}) == 2, "restore missing"
    na = ("skipped", "not backup-capable: no service has backupbot.backup=true")
    assert level({**base, "backup": na, "restore": na}) == 3
    assert level({**base, "backup": ("passed", ""), "restore": ("skipped", "")}) == 2


def test_lint_alone_does_not_lift_a_run_stopped_earlier():
    assert level({**ALL_PASSED, "restore": ("failed", "marker lost")}) == 2


def test_unknown_tiers_are_ignored():
    assert level({**ALL_PASSED, "bogus": ("failed", "x")}) == 5
