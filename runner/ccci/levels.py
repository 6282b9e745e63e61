"""The level ladder: how far up the lifecycle a recipe is known to work.

L0 install failed, L1 install, L2 upgrade, L3 backup and restore, L4 functional,
L5 lint. A tier skipped with a stated reason is climbed past; a failed tier, or a
tier that did not run, stops the climb. Install is never climbed past: a run that
deployed nothing has no level above L0, whatever the reason for the skip.
"""

from __future__ import annotations

from collections.abc import Mapping

TIERS = ("install", "upgrade", "backup", "restore", "functional", "lint")
# A quick run (``ccci run --quick``): the tiers a pull request gets fast feedback from.
# Its level is partial: it never climbs past the upgrade it did not run (L1 at most).
QUICK_TIERS = ("install", "functional")
RUNGS: tuple[tuple[str, ...], ...] = (
    ("install",),
    ("upgrade",),
    ("backup", "restore"),
    ("functional",),
    ("lint",),
)


def _climbable(tier: str, status: str, reason: str) -> bool:
    if tier == "install":
        return status == "passed"
    return status == "passed" or (status == "skipped" and bool(reason.strip()))


def level(statuses: Mapping[str, tuple[str, str]]) -> int:
    """The level reached, from ``{tier: (status, reason)}``; a missing tier did not run."""
    reached = 0
    for rung in RUNGS:
        for tier in rung:
            status, reason = statuses.get(tier, ("not_run", ""))
            if not _climbable(tier, status, reason):
                return reached
        reached += 1
    return reached
