"""One run: plan, the selected tiers against one live app, teardown, results.

The orchestrator decides and records; every change to the host happens in a stage
playbook of the collection. Teardown runs in a ``finally`` block, after Ctrl-C and
SIGTERM too, unless the user asked to keep the app.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccci import paths
from ccci.ansible import PlaybookRunner, StageRun
from ccci.backups import last_good_snapshot, load_backups
from ccci.context import RunContext, create_run, new_run_id
from ccci.errors import CcciError
from ccci.hooks import deploy_state
from ccci.levels import TIERS
from ccci.markers import load_markers
from ccci.names import RECIPE_NAME
from ccci.progress import Progress
from ccci.results import RunResult, TierResult, write_junit, write_results

AVAILABLE_TIERS = ("install", "upgrade", "backup", "restore")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class RunRequest:
    """What the user asked for."""

    recipe: str
    ref: str | None = None
    stages: tuple[str, ...] = AVAILABLE_TIERS
    keep: bool = False
    repo: str | None = None
    domain: str | None = None
    inventory: str | None = None
    upgrade_from: int | None = None


class _Interrupt:
    """Turns SIGINT/SIGTERM into a flag the running playbook is cancelled by."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None


@contextmanager
def _signals_to(handler: _Interrupt) -> Iterator[None]:
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_request(request: RunRequest) -> None:
    """Refuse tiers this ccci cannot run, before anything else happens."""
    unknown = [s for s in request.stages if s not in AVAILABLE_TIERS]
    if unknown:
        raise CcciError(
            f"unknown or unavailable tier(s): {', '.join(unknown)}; "
            f"available: {', '.join(AVAILABLE_TIERS)}"
        )


class Orchestrator:
    """Runs one request end to end and returns its result."""

    def __init__(self, request: RunRequest, progress: Progress | None = None) -> None:
        self.request = request
        self.progress = progress or Progress()
        self.interrupt = _Interrupt()

    def run(self) -> tuple[RunResult, Path]:
        request = self.request
        result = RunResult(recipe=request.recipe, ref=request.ref, started=_now())
        started = time.monotonic()
        run_id = result.run_id = new_run_id()
        safe_name = request.recipe if RECIPE_NAME.match(request.recipe) else "invalid"
        run_dir = paths.runs_root() / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{safe_name}-{run_id}"
        with _signals_to(self.interrupt):
            try:
                check_request(request)
                context = create_run(
                    request.recipe, request.ref, repo=request.repo, domain=request.domain,
                    run_id=run_id, run_dir=run_dir,
                    upgrade="upgrade" in request.stages, upgrade_from=request.upgrade_from,
                )
            except CcciError as exc:
                return self._refused(result, exc, run_dir, started)
            self._describe(result, context)
            runner = PlaybookRunner(
                paths.project_root(), Path(context.run_dir), self.progress,
                inventory=request.inventory, cancel=lambda: self.interrupt.requested,
            )
            try:
                self._tiers(result, context, runner)
            finally:
                if request.keep:
                    self.progress.info(
                        "keeping the app; tear it down with: ansible-playbook "
                        f"playbooks/teardown.yml -e run_dir={context.run_dir}"
                    )
                else:
                    self._teardown(result, context, runner)
        return self._finish(result, Path(context.run_dir), started)

    def _refused(
        self, result: RunResult, exc: Exception, run_dir: Path, started: float
    ) -> tuple[RunResult, Path]:
        """Record why the run was refused; nothing was deployed."""
        result.error = str(exc)
        result.exit_code = EXIT_BAD_INPUT
        result.run_dir = str(run_dir)
        refused = TierResult("not_run", "run refused before deploy")
        result.tiers = {tier: refused for tier in self.request.stages}
        self.progress.info(f"error: {exc}")
        return self._finish(result, run_dir, started)

    def _describe(self, result: RunResult, context: RunContext) -> None:
        result.run_id = context.run_id
        result.run_dir = context.run_dir
        result.commit = context.commit
        result.version = context.version
        result.domain = context.domain
        result.stack = context.stack
        self.progress.info(
            f"run {context.run_id}: {context.recipe} at {context.commit[:10]} "
            f"({context.version or 'untagged'}) as {context.domain}"
        )

    def _stage(
        self, runner: PlaybookRunner, stage: str, context: RunContext, *, cancellable: bool = True
    ) -> StageRun:
        return runner.run(stage, f"playbooks/{stage}.yml", {"run_dir": context.run_dir},
                          cancellable=cancellable)

    def _tiers(self, result: RunResult, context: RunContext, runner: PlaybookRunner) -> None:
        # Tiers run in ladder order whatever order they were asked in.
        for tier in sorted(self.request.stages, key=TIERS.index):
            if self.interrupt.requested:
                result.tiers[tier] = TierResult("not_run", "interrupted")
                continue
            blocked = self._blocked(tier, result, context)
            if blocked:
                result.tiers[tier] = blocked
                continue
            stage = self._stage(runner, tier, context)
            result.tiers[tier] = self._verdict(tier, stage, context)

    @staticmethod
    def _blocked(tier: str, result: RunResult, context: RunContext) -> TierResult | None:
        """Why ``tier`` cannot run (skipped with a reason, or not run), or None."""
        if tier in context.expected_na:
            return TierResult("skipped", f"declared not applicable: {context.expected_na[tier]}")
        install = result.tiers.get("install")
        if tier != "install" and install and install.status != "passed":
            return TierResult("not_run", "no live app: install failed")
        if tier == "upgrade" and not context.upgrade_path:
            return TierResult("skipped", context.upgrade_skip)
        if tier in ("backup", "restore") and not context.target["backup_services"]:
            return TierResult("skipped", "not backup-capable: no service has backupbot.backup=true")
        backup = result.tiers.get("backup")
        if tier == "restore" and (backup is None or backup.status != "passed"):
            return TierResult("not_run", "no verified backup: the backup tier did not pass")
        return None

    def _verdict(self, tier: str, stage: StageRun, context: RunContext) -> TierResult:
        run_dir = Path(context.run_dir)
        state = deploy_state(run_dir)
        details: dict[str, Any] = {"artifacts": stage.artifact_dir}
        deploys = state.get("deploys", [])
        if tier == "install" and deploys:
            details["deploy"] = deploys[0]
            details["published_port"] = state.get("published_port")
        markers = load_markers(run_dir)
        if tier == "upgrade":
            details.update(upgrade_details(context, deploys, markers))
        if tier == "backup":
            backups = load_backups(run_dir)
            details["backup"] = backups[-1] if backups else None
            details["marker"] = markers["seeded"].get("backup")
        if tier == "restore":
            details["snapshot_id"] = last_good_snapshot(run_dir)
            details["marker_checks"] = [c for c in markers["checks"] if c["seeded_by"] == "backup"]
        if stage.failures:
            details["failures"] = stage.failures
        if stage.status == "canceled":
            return TierResult("failed", "interrupted", stage.duration, details)
        status = "passed" if stage.ok else "failed"
        return TierResult(status, stage.reason(), stage.duration, details)

    def _teardown(self, result: RunResult, context: RunContext, runner: PlaybookRunner) -> None:
        """Teardown is never cancelled: a second Ctrl-C must not leave the app behind."""
        stage = self._stage(runner, "teardown", context, cancellable=False)
        status = "passed" if stage.ok else "failed"
        result.teardown = TierResult(status, stage.reason(), stage.duration,
                                     {"failures": stage.failures} if stage.failures else {})

    def _finish(self, result: RunResult, folder: Path, started: float) -> tuple[RunResult, Path]:
        state = deploy_state(folder) if folder.is_dir() else {}
        deploys = state.get("deploys", [])
        result.fresh_deploys = sum(1 for d in deploys if d.get("op") == "install")
        if result.fresh_deploys > 1 and not result.error:
            result.error = f"the run made {result.fresh_deploys} fresh deploys; one is allowed"
        converged = [d for d in deploys if d.get("converged")]
        if converged:
            result.version_deployed = converged[-1].get("version")
        result.finished = _now()
        result.duration = round(time.monotonic() - started, 3)
        if not result.exit_code:
            failed = any(t.status in ("failed", "error") for t in result.tiers.values())
            failed = failed or bool(result.error)
            failed = failed or (result.teardown is not None and result.teardown.status != "passed")
            result.exit_code = EXIT_FAILED if failed else EXIT_OK
            if self.interrupt.requested:
                result.exit_code = EXIT_INTERRUPTED
        path = write_results(result, folder)
        write_junit(result, folder)
        return result, path


def upgrade_details(
    context: RunContext, deploys: list[dict[str, Any]], markers: dict[str, Any]
) -> dict[str, Any]:
    """Base, target, each hop and the marker checks, for results.json."""
    return {
        "base_version": context.upgrade_path[0] if context.upgrade_path else None,
        "target_version": context.version,
        "target_commit": context.commit,
        "hops": [d for d in deploys if d.get("op") == "upgrade"],
        "marker": markers.get("seeded", {}).get("upgrade"),
        "marker_checks": [c for c in markers.get("checks", []) if c["seeded_by"] == "upgrade"],
    }


def summary(result: RunResult) -> str:
    """A few lines for the end of the run."""
    lines = [f"{result.recipe}: level L{result.level}"]
    for name, tier in result.tiers.items():
        reason = f" ({tier.reason})" if tier.reason else ""
        lines.append(f"  {name:<10} {tier.status}{reason}")
    if result.teardown:
        lines.append(f"  {'teardown':<10} {result.teardown.status}")
    if result.error:
        lines.append(f"  error: {result.error}")
    return "\n".join(lines)

