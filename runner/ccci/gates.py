"""Tier gates: whether a tier can run on this run's app, and if not, why.

``ccci run`` asks before each tier; the stage playbooks ask through the
``ccci.recipe.run_context`` action (``tier=``) before they change anything. Both get
the same answer in the same words because both ask this function, and it judges only
from the plan and the run's records, not from who ran the earlier stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccci.context import RunContext
from ccci.rundir import RunDir

SKIPPED, NOT_RUN = "skipped", "not_run"
ONE_FRESH_DEPLOY = "this run already made its one fresh deploy; upgrade it or start a new run"
NO_LIVE_APP = "no live app: install failed"
NOT_BACKUP_CAPABLE = "not backup-capable: no service has backupbot.backup=true"
NO_VERIFIED_BACKUP = "no verified backup: the backup tier did not pass"


@dataclass(frozen=True)
class Gate:
    """A closed gate: the tier is ``skipped`` (not applicable) or ``not_run`` (blocked)."""

    status: str
    reason: str


def gate(tier: str, context: RunContext, run_dir: RunDir) -> Gate | None:
    """Why ``tier`` cannot run now, or None when it can."""
    if tier in context.expected_na:
        return Gate(SKIPPED, f"declared not applicable: {context.expected_na[tier]}")
    if tier == "lint":  # reads the recipe's files: no app needed, nothing deployed
        return None
    tiers = run_dir.tiers()
    if tier == "install":
        return Gate(NOT_RUN, ONE_FRESH_DEPLOY) if tiers.started("install") else None
    if tiers.started("install") and not tiers.passed("install"):
        return Gate(NOT_RUN, NO_LIVE_APP)
    closed = planned_out(tier, context)
    if closed:
        return closed
    if tier == "restore" and run_dir.backups().last_good_snapshot is None:
        return Gate(NOT_RUN, NO_VERIFIED_BACKUP)
    return None


def planned_out(tier: str, context: RunContext) -> Gate | None:
    """The part of the gate the plan alone decides: a tier declared not applicable, an
    upgrade without a release to start from, a backup of an app without backupbot."""
    if tier in context.expected_na:
        return Gate(SKIPPED, f"declared not applicable: {context.expected_na[tier]}")
    if tier == "upgrade" and not context.upgrade_path:
        return Gate(SKIPPED, context.upgrade_skip)
    if tier in ("backup", "restore") and not context.target["backup_services"]:
        return Gate(SKIPPED, NOT_BACKUP_CAPABLE)
    return None
