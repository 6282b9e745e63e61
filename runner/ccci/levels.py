"""The level ladder: how far up the lifecycle a recipe is known to work.

L0 install failed, L1 install, L2 upgrade, L3 backup and restore, L4 functional,
L5 lint. A tier skipped with a stated reason is climbed past; a failed tier, or a
tier that did not run, stops the climb.
"""

from __future__ import annotations

from collections.abc import Mapping

TIERS = ("install", "upgrade", "backup", "restore", "functional", "lint")
RUNGS: tuple[tuple[str, ...], ...] = (
    ("install",),
    ("upgrade",),
    ("backup", "restore"),
    ("functional",),
    ("lint",),
)
CLIMBABLE = ("passed", "skipped")


def level(statuses: Mapping[str, tuple[str, str]]) -> int:
    """The level reached, from ``{tier: (status, reason)}``."""
    reached = 0
    for rung in RUNGS:
        for tier in rung:
            status, reason = statuses.get(tier, ("not_run", ""))
            if status not in CLIMBABLE or (status == "skipped" and not reason):
                return reached
        reached += 1
    return reached
