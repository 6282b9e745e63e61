"""The level ladder and which tiers can run, from tier verdicts alone."""

from ccci.context import RunContext
from ccci.levels import level
from ccci.orchestrator import Orchestrator
from ccci.results import RunResult, TierResult


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


def _context(**extra) -> RunContext:
    target = {"backup_services": extra.pop("backup_services", ["db"])}
    return RunContext(
        run_id="r", recipe="x", ref="HEAD", commit="c", version="1.0.0+1", run_dir="/tmp/r",
        repo="/tmp/x", config_root="/tmp/c", domain="x.ccci.test", stack="x_ccci_test",
        overlay=None, plans={"target": target}, **extra)


def _blocked(tier, tiers=None, **extra):
    result = RunResult(recipe="x", ref=None, tiers=tiers or {})
    return Orchestrator._blocked(tier, result, _context(**extra))


def test_blocked_tiers_say_why():
    passed = TierResult("passed")
    assert _blocked("upgrade", {"install": TierResult("failed")}).status == "not_run"
    skip = _blocked("upgrade", {"install": passed}, upgrade_skip="no published version below x")
    assert (skip.status, skip.reason) == ("skipped", "no published version below x")
    na = _blocked("backup", {"install": passed}, backup_services=[])
    assert na.status == "skipped" and "not backup-capable" in na.reason
    declared = _blocked("backup", {"install": passed}, expected_na={"backup": "stateless"})
    assert declared.reason == "declared not applicable: stateless"
    no_backup = _blocked("restore", {"install": passed, "backup": TierResult("failed")})
    assert no_backup.status == "not_run"
    assert _blocked("restore", {"install": passed, "backup": passed}) is None
