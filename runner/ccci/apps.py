"""The apps of one run: a fresh install of the version under test, and an upgraded one.

"Install passed" must mean that the version under test installs, and "upgrade passed"
that the previous release upgrades into it. One app cannot prove both, so a run that
selects the upgrade tier, and has a release to upgrade from, deploys two: the fresh
app (the install tier, later the functional tier) and the upgraded app (the base
release, upgraded; then backup and restore, whose data predates the upgrade). Each app
is a run of its own to the roles: its own run id, directory, domain, stack, leases and
registry entry, so the stage playbooks, the gates, teardown and the janitor work on
one app as they always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ccci.ansible import PlaybookRunner
from ccci.context import RunContext
from ccci.failures import BASE, INFRASTRUCTURE
from ccci.results import TierResult
from ccci.rundir import RunDir

FRESH, UPGRADED = "fresh", "upgraded"
# Tiers that run on the upgraded app when there is one.
ON_UPGRADED = frozenset({"upgrade", "backup", "restore"})


@dataclass
class App:
    """One app of the run and the runner of its stage playbooks."""

    role: str
    context: RunContext
    runner: PlaybookRunner | None = None

    @property
    def record(self) -> RunDir:
        return RunDir(self.context.run_dir)

    def summary(self) -> dict[str, Any]:
        """What results.json says about the app."""
        deploys = self.record.deploys() if self.record.has_context() else None
        return {
            "run_id": self.context.run_id,
            "run_dir": self.context.run_dir,
            "domain": self.context.domain,
            "stack": self.context.stack,
            "first_version": self.context.plans[self.context.first_plan].get("version"),
            "version_deployed": deploys.version_deployed if deploys else None,
            "deploys": [{"op": d.op, "plan": d.plan, "version": d.version,
                         "expected_version": d.expected_version,
                         "converged": d.converged, "elapsed": d.elapsed}
                        for d in (deploys.deploys if deploys else [])],
        }


def app_for(tier: str, apps: list[App]) -> App:
    """The app a tier runs on: the upgraded one for upgrade, backup and restore."""
    upgraded = [app for app in apps if app.role == UPGRADED]
    return upgraded[0] if upgraded and tier in ON_UPGRADED else apps[0]


def tier_chains(tiers: list[str], apps: list[App]) -> dict[str, list[str]]:
    """Each app's tiers, in the order given. The functional tier runs on the fresh app;
    on the upgraded app too, as its generic checks only (the recipe's tests are about
    the version under test as a new user installs it)."""
    chains = {app.role: [t for t in tiers if app_for(t, apps) is app] for app in apps}
    if UPGRADED in chains and "functional" in tiers:
        chains[UPGRADED].append("functional")
    return chains


def merge_functional(fresh: TierResult, upgraded: TierResult) -> TierResult:
    """The functional tier of a two-app run: the fresh app's verdict, failed also when
    the upgraded app's generic checks failed; the upgraded app's details beside."""
    merged = TierResult(fresh.status, fresh.reason, fresh.duration, dict(fresh.details),
                        fresh.failure_kind, fresh.hint)
    merged.details[UPGRADED] = {"status": upgraded.status, "reason": upgraded.reason,
                                **upgraded.details}
    if upgraded.failed and not fresh.failed:
        merged.status, merged.failure_kind, merged.hint = (
            upgraded.status, upgraded.failure_kind, upgraded.hint)
        merged.reason = f"the upgraded app's generic checks: {upgraded.reason}"
    elif upgraded.failed:
        merged.reason += f"; and the upgraded app's generic checks: {upgraded.reason}"
    return merged


def upgraded_domain(domain: str) -> str:
    """The upgraded app's domain next to a domain the user chose: ``a-up.example.test``."""
    first, _, rest = domain.partition(".")
    return f"{first}-up.{rest}"


def base_broken(verdict: TierResult, app: App) -> None:
    """An upgrade whose base release never came up fails as the base's fault, naming it.

    The upgraded app installs the base first; if that did not pass, the version under
    test was never deployed there (infrastructure failures keep their kind).
    """
    if verdict.status != "failed" or app.record.tiers().passed("install"):
        return
    if verdict.failure_kind == INFRASTRUCTURE or not app.context.upgrade_path:
        return
    base = app.context.upgrade_path[0]
    verdict.reason = f"the base release {base} does not deploy: {verdict.reason}"
    verdict.failure_kind = BASE
    verdict.hint = (f"not the change under test: {base} fails on its own. Pin another base "
                    "with UPGRADE_BASE_VERSION, or patch it in the recipe's compose.ccci.yml")
