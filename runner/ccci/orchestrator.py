"""One run: plan, the selected tiers against one live app, teardown, results.

The orchestrator decides and records; every change to the host happens in a stage
playbook of the collection, and whether a tier may run at all is ``ccci.gates``'s
answer, the same one the playbooks get. Teardown runs in a ``finally`` block, after
Ctrl-C and SIGTERM too, unless the user asked to keep the app.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccci import active_runs, ingress, paths
from ccci.ansible import PlaybookRunner, StageRun
from ccci.apps import (
    FRESH,
    UPGRADED,
    App,
    base_broken,
    merge_functional,
    tier_chains,
    upgraded_domain,
)
from ccci.context import RunContext, create_run, default_domain, find_recipe_repo, new_run_id
from ccci.errors import BadInput, CcciError, Unavailable
from ccci.failures import HARNESS, INFRASTRUCTURE, classify_stage
from ccci.findings import finding
from ccci.functional.tier import GENERIC_FILE, SKIP_GENERIC
from ccci.functional.tier import summary as functional_summary
from ccci.gates import gate
from ccci.git import fetch_pull_head, pull_head_ref
from ccci.host_room import room_for_both
from ccci.host_slots import take_slot
from ccci.inventory import SwarmHost, choose_host, swarm_hosts
from ccci.janitor import janitor_pass, registry_host
from ccci.leases import lease_domain, lease_port, port_bound_locally
from ccci.levels import QUICK_TIERS, TIERS
from ccci.names import RECIPE_NAME, check_domain, check_recipe_name
from ccci.progress import Progress
from ccci.report.dashboard import update_dashboard
from ccci.report.run_report import write_run_report
from ccci.results import RunResult, TierResult, write_junit, write_results
from ccci.routing import router_from_dict
from ccci.rundir import RunDir
from ccci.shared_stage import PLAYBOOK as SHARED_PLAYBOOK
from ccci.shared_stage import shared_tiers, split_duration, stage_name
from ccci.trust import DENY, TrustPolicy

AVAILABLE_TIERS = ("install", "upgrade", "backup", "restore", "functional", "lint")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
# Only infrastructure failed (registry, network, host): a CI job may retry the run.
EXIT_INFRASTRUCTURE = 3
RunnerFactory = Callable[..., PlaybookRunner]


@dataclass
class RunRequest:
    """What the user asked for."""

    recipe: str
    ref: str | None = None
    tiers: tuple[str, ...] = AVAILABLE_TIERS
    keep: bool = False
    repo: str | None = None
    domain: str | None = None
    inventory: str | None = None
    # The swarm host of the inventory to deploy on; needed when it has several.
    host: str | None = None
    upgrade_from: int | None = None
    # How the app is reached (ccci.ingress): through the host's proxy, or a published port.
    ingress: str = ingress.TRAEFIK
    extra_domains: tuple[str, ...] = ()
    # Install and functional only (QUICK_TIERS): fast feedback, a partial level. With the
    # default tiers, quick selects its own; with any other selection it is refused.
    quick: bool = False
    # The CI build the run is part of (ccci.drone_env.DroneBuild.ci_record), recorded.
    ci: dict[str, Any] = field(default_factory=dict)
    # Whether the recipe repository's own .ccci/ code may run here (ccci.trust).
    trust: TrustPolicy = DENY
    # The pull request whose head to fetch into the recipe repository first, when the
    # ref is not there (a Drone build of a !testme); without a ref, its head is tested.
    pull_request: int | None = None

    def __post_init__(self) -> None:
        if self.quick and self.tiers == AVAILABLE_TIERS:
            self.tiers = QUICK_TIERS


class _Interrupt:
    """Turns SIGINT/SIGTERM/SIGHUP into a flag the running playbook is cancelled by."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None


@contextmanager
def _signals_to(handler: _Interrupt) -> Iterator[None]:
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # a closed terminal too
    previous = {s: signal.signal(s, handler) for s in handled}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_request(request: RunRequest) -> None:
    """Refuse a tier list that would test nothing or something twice, before anything."""
    if request.quick and tuple(request.tiers) != QUICK_TIERS:
        raise BadInput(
            f"a quick run runs the {' and '.join(QUICK_TIERS)} tiers only; it cannot be "
            f"combined with a selection of tiers ({', '.join(request.tiers) or 'none'})"
        )
    if not request.tiers:
        raise BadInput(f"no tier selected; choose among {', '.join(AVAILABLE_TIERS)}")
    unknown = [t for t in request.tiers if t not in AVAILABLE_TIERS]
    if unknown:
        raise BadInput(
            f"unknown or unavailable tier(s): {', '.join(unknown)}; "
            f"available: {', '.join(AVAILABLE_TIERS)}"
        )
    twice = sorted({t for t in request.tiers if request.tiers.count(t) > 1})
    if twice:
        raise BadInput(f"tier(s) selected more than once: {', '.join(twice)}")


def check_inventory(inventory: str | None, host: str | None = None) -> SwarmHost:
    """The swarm host the run deploys on; BadInput when there is none, or several and
    ``host`` names none of them."""
    return choose_host(swarm_hosts(paths.project_root(), inventory), host, inventory)


def deploys_anything(tiers: tuple[str, ...]) -> bool:
    """Whether the tiers need a live app (lint alone reads the recipe and deploys nothing)."""
    return any(tier != "lint" for tier in tiers)


class Orchestrator:
    """Runs one request end to end and returns its result."""

    def __init__(
        self, request: RunRequest, progress: Progress | None = None,
        runner_factory: RunnerFactory = PlaybookRunner,
    ) -> None:
        self.request = request
        self.progress = progress or Progress()
        self.interrupt = _Interrupt()
        self.runner_factory = runner_factory
        self.host: SwarmHost | None = None  # the swarm host, once the plan chose it

    def run(self) -> tuple[RunResult, Path]:
        request = self.request
        result = RunResult(recipe=request.recipe, ref=request.ref, started=_now(),
                           quick=request.quick, ci=dict(request.ci))
        started = time.monotonic()
        run_id = result.run_id = new_run_id()
        safe_name = request.recipe if RECIPE_NAME.match(request.recipe) else "invalid"
        run_dir = paths.runs_root() / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{safe_name}-{run_id}"
        with _signals_to(self.interrupt), ExitStack() as held:
            try:
                apps = self._plan(run_id, run_dir, held)
            except CcciError as exc:  # the upgraded app may have been planned already
                shutil.rmtree(run_dir / UPGRADED, ignore_errors=True)
                return self._refused(result, exc, run_dir, started)
            self._announce(result, apps)
            for app in apps:
                app.runner = self.runner_factory(
                    paths.project_root(), Path(app.context.run_dir), self.progress,
                    inventory=request.inventory, cancel=lambda: self.interrupt.requested,
                    limit=self.host.name if request.inventory and self.host else None,
                )
            try:
                self._tiers(result, apps)
            finally:
                self._keep_or_teardown(result, apps)
            return self._finish(result, apps, started)

    def _plan(self, run_id: str, run_dir: Path, held: ExitStack) -> list[App]:
        """Check the request, then plan, lease and register the run's apps.

        With the upgrade tier, the upgraded app is planned first: when the recipe has
        a release to upgrade from, the fresh app is planned beside it; otherwise the
        one app is planned with the upgrade's skip reason, as before. Everything taken
        here is held in ``held`` until the run is over, so two runs started together
        never share a domain or a port.
        """
        request = self.request
        check_request(request)
        check_recipe_name(request.recipe)
        domain = check_domain(request.domain or default_domain(request.recipe, run_id))
        self.host = check_inventory(request.inventory, request.host)
        if request.pull_request is not None:
            self._fetch_pull_request(request.pull_request)
        if deploys_anything(request.tiers):  # bad input is refused before any wait
            held.enter_context(take_slot(self.host, run_id, say=self.progress.info,
                                         cancelled=lambda: self.interrupt.requested))
        self._janitor_pass()
        upgraded = None
        if "upgrade" in request.tiers:
            upgraded = self._plan_upgraded(domain, run_dir, held)
        fresh = self._plan_app(run_id, domain, run_dir, held,
                               upgrade="upgrade" in request.tiers and upgraded is None)
        self._register(fresh, held)
        return [App(FRESH, fresh)] + ([App(UPGRADED, upgraded)] if upgraded else [])

    def _fetch_pull_request(self, number: int) -> None:
        """Bring the pull request's head into the recipe repository; without a ref the
        run tests that head."""
        request = self.request
        source = find_recipe_repo(request.recipe, request.repo)
        if fetch_pull_head(source, number, request.ref):
            self.progress.info(f"fetched pull request #{number} into {source}")
        if request.ref is None:
            request.ref = pull_head_ref(number)

    def _plan_upgraded(self, domain: str, run_dir: Path, held: ExitStack
                       ) -> RunContext | None:
        """The upgraded app, or None (nothing taken) when there is nothing to upgrade
        from or the upgrade is declared not applicable."""
        request = self.request
        up_id = new_run_id()
        up_domain = check_domain(upgraded_domain(domain) if request.domain
                                 else default_domain(request.recipe, up_id))
        with ExitStack() as taken:
            context = self._plan_app(up_id, up_domain, run_dir / UPGRADED, taken,
                                     upgrade=True)
            if context.upgrade_path:
                held.enter_context(taken.pop_all())
                self._register(context, held)
                return context
        shutil.rmtree(run_dir / UPGRADED, ignore_errors=True)
        return None

    def _plan_app(self, run_id: str, domain: str, run_dir: Path, held: ExitStack, *,
                  upgrade: bool) -> RunContext:
        """Lease one app's domain and port, and plan it."""
        request = self.request
        held.enter_context(lease_domain(domain, run_id))
        port = self._lease_port(run_id, held)
        context = create_run(
            request.recipe, request.ref, repo=request.repo, domain=domain,
            run_id=run_id, run_dir=run_dir, published_port=port,
            upgrade=upgrade, upgrade_from=request.upgrade_from,
            ingress_mode=request.ingress, extra_domains=request.extra_domains,
            trust=request.trust,
        )
        return context

    def _register(self, context: RunContext, held: ExitStack) -> None:
        """Register a planned app as an active run, for its life (the janitor's view)."""
        entry = active_runs.new_entry(
            context.run_id, self._registry_host(), context.run_dir,
            stack=context.stack, domain=context.domain,
            port=context.host.get("published_port"),
        )
        held.enter_context(active_runs.register(entry))
        held.callback(self._unregister, entry)

    def _registry_host(self) -> str:
        return registry_host(self.request.inventory, self.host.name if self.host else None)

    def _lease_port(self, run_id: str, held: ExitStack) -> int | None:
        """The run's published port, leased for its life: direct ingress only (through
        the proxy the app publishes none)."""
        if ingress.check_mode(self.request.ingress) != ingress.DIRECT:
            return None
        local = self.request.inventory is None
        port = held.enter_context(lease_port(
            run_id, exclude=active_runs.reserved_ports(),
            in_use=port_bound_locally if local else lambda _port: False,
        ))
        return int(port.value)

    def _janitor_pass(self) -> None:
        """Reap runs that died on this host before leasing: their ports come free."""
        report = janitor_pass(self.request.inventory, progress=self.progress)
        for line in [] if report.quiet else report.lines():
            self.progress.info(line)

    def _unregister(self, entry: active_runs.RunEntry) -> None:
        """A kept app stays registered (as kept); a torn-down run leaves the registry."""
        if self.request.keep:
            entry.kept = True
            active_runs.save(entry)
        else:
            active_runs.forget(entry.run_id)

    def _refused(
        self, result: RunResult, exc: Exception, run_dir: Path, started: float
    ) -> tuple[RunResult, Path]:
        """Record why the run was refused; nothing was deployed."""
        result.error = str(exc)
        result.exit_code = EXIT_BAD_INPUT
        result.run_dir = str(run_dir)
        refused = TierResult("not_run", "run refused before deploy")
        result.tiers = {tier: refused for tier in self.request.tiers}
        if isinstance(exc, Unavailable):  # not the input: the CI may retry
            result.exit_code = EXIT_INFRASTRUCTURE
            first = self.request.tiers[0]
            result.tiers[first] = TierResult("error", str(exc), failure_kind=INFRASTRUCTURE)
        self.progress.info(f"error: {exc}")
        return self._finish(result, run_dir, started)

    def _warn(self, result: RunResult, warnings: list[dict[str, Any]]) -> None:
        """Show and keep warnings found while the run goes on."""
        result.warnings.extend(warnings)
        for warning in warnings:
            self.progress.info(f"warning: {warning['code']} {warning['message']}")

    def _announce(self, result: RunResult, apps: list[App]) -> None:
        """Copy the run's identity into the result and say what is being tested.

        The fresh app is the run's face (its id, directory and domain); the upgraded
        one is announced beside it, and its planning warnings join the fresh app's.
        """
        context = apps[0].context
        result.run_id = context.run_id
        result.run_dir = context.run_dir
        result.commit = context.commit
        result.version = context.version
        result.domain = context.domain
        result.stack = context.stack
        result.repo_code = dict(context.repo_code)
        reached = ingress.Ingress.from_dict(context.host["ingress"])
        result.ingress = {"mode": reached.mode, "base_url": reached.base_url,
                          "names": reached.names}
        self.progress.info(
            f"run {context.run_id}: {context.recipe} at {context.commit[:10]} "
            f"({context.version or 'untagged'}) as {context.domain}"
        )
        if self.request.quick:
            self.progress.info(f"quick run: the {' and '.join(QUICK_TIERS)} tiers only; "
                               "the level it reaches is partial")
        if os.environ.get(SKIP_GENERIC) and "functional" in self.request.tiers:
            loud = os.environ.get("CI", "").lower() == "true"
            self.progress.info(
                ("!!! WARNING: CCCI_SKIP_GENERIC is set in CI: the functional tier's generic "
                 "checks will not run; results.json records it. Unset it: it is for local "
                 "development only. !!!") if loud else
                "note: CCCI_SKIP_GENERIC is set: the generic checks will not run")
        warnings = list(context.warnings)
        for app in apps[1:]:
            self.progress.info(
                f"upgraded app {app.context.run_id}: {app.context.upgrade_path[0]} "
                f"upgraded to the version under test, as {app.context.domain}")
            warnings += [w for w in app.context.warnings if w not in warnings]
        self._warn(result, warnings)

    def _stage(
        self, runner: PlaybookRunner, stage: str, context: RunContext, *,
        cancellable: bool = True, extra: dict[str, Any] | None = None,
    ) -> StageRun:
        return runner.run(stage, f"playbooks/{stage}.yml",
                          {"run_dir": context.run_dir, **(extra or {})},
                          cancellable=cancellable)

    def _tiers(self, result: RunResult, apps: list[App]) -> None:
        """Each app's tiers in ladder order, whatever order they were asked in; with two
        apps, the two chains run side by side when the host has room (the fresh one:
        install, functional; the upgraded one: upgrade, backup, restore, its generic
        checks), else one after the other."""
        tiers = sorted(self.request.tiers, key=TIERS.index)
        chains = tier_chains(tiers, apps)
        together = len(apps) > 1 and all(chains.values())
        if together:
            room = room_for_both(self._registry_host(),
                                 local=bool(self.host and self.host.local))
            result.side_by_side = together = room.both
            if not room.both:
                self.progress.info(f"deploying the apps one after the other: {room.reason}")
        if together:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ccci-app") as pool:
                running = [pool.submit(self._chain, app, chains[app.role]) for app in apps]
                verdicts = [job.result() for job in running]
        else:
            verdicts = [self._chain(app, chains[app.role]) for app in apps]
        by_app = dict(zip((app.role for app in apps), verdicts, strict=True))
        for tier in tiers:
            if tier == "functional" and tier in by_app.get(UPGRADED, {}):
                result.tiers[tier] = merge_functional(by_app[FRESH][tier],
                                                      by_app[UPGRADED][tier])
            else:
                result.tiers[tier] = next(v[tier] for v in by_app.values() if tier in v)
        self._warn(result, redeploy_warnings(apps[0].record)
                   + functional_warnings(apps[0].record))

    def _chain(self, app: App, tiers: list[str]) -> dict[str, TierResult]:
        """One app's tiers in order; the upgraded app's generic checks only after its
        upgrade passed (else they would check the base release)."""
        verdicts: dict[str, TierResult] = {}
        for index, tier in enumerate(tiers):
            if tier in verdicts:  # judged in a shared stage
                continue
            upgrade = verdicts.get("upgrade")
            if app.role == UPGRADED and tier == "functional" and (
                    upgrade is None or upgrade.status != "passed"):
                verdicts[tier] = TierResult("not_run", "the upgrade did not pass",
                                            details={"app": app.role})
                continue
            verdicts.update(self._shared(tiers[index:], app))
            if tier not in verdicts:
                verdicts[tier] = self._gated(tier, app)
        return verdicts

    def _shared(self, tiers: list[str], app: App) -> dict[str, TierResult]:
        """The leading ``tiers`` that can share one stage, run in it (ccci.shared_stage):
        verdicts for those it passed and the one it failed in; the rest are left."""
        shared = shared_tiers(tiers, app.context)
        if not shared or self.interrupt.requested or gate(shared[0], app.context, app.record):
            return {}
        assert app.runner is not None
        name = stage_name(shared)
        try:
            stage = app.runner.run(name, SHARED_PLAYBOOK,
                                   {"run_dir": app.context.run_dir, "tiers": shared})
            return self._shared_verdicts(shared, stage, app)
        except Exception as exc:  # any bug of ccci's, recorded as such
            self.progress.info(f"error: ccci failed in the {name} stage: {exc!r}")
            return {shared[0]: harness_error(f"ccci failed in the {name} stage", exc)}

    def _shared_verdicts(self, shared: list[str], stage: StageRun, app: App
                         ) -> dict[str, TierResult]:
        """Passed tiers from the records, then the first that did not pass from the
        stage, as if it had had a stage of its own."""
        record = app.record.tiers()
        verdicts: dict[str, TierResult] = {}
        for tier in shared:
            if record.passed(tier):
                details = {"artifacts": stage.artifact_dir,
                           **tier_details(tier, app.context, app.record)}
                verdict = TierResult("passed", "", 0.0, details)
            elif record.latest().get(tier) == "started":
                verdict = self._verdict(tier, stage, app.context)
            else:
                break  # never started: judged on its own
            verdict.details["app"] = app.role
            if tier == "upgrade":
                base_broken(verdict, app)
            verdicts[tier] = verdict
            if verdict.status != "passed":
                break
        seconds = split_duration(list(verdicts), record, stage.duration, time.time())
        for tier, verdict in verdicts.items():
            verdict.duration = seconds[tier]
        return verdicts

    def _gated(self, tier: str, app: App) -> TierResult:
        """The tier on ``app``, unless interrupted or its gate is closed."""
        if self.interrupt.requested:
            return TierResult("not_run", "interrupted")
        closed = gate(tier, app.context, app.record)
        if closed:
            return TierResult(closed.status, closed.reason, details={"app": app.role})
        assert app.runner is not None
        extra = {"generic_only": True} if (tier, app.role) == ("functional", UPGRADED) else {}
        verdict = self._tier(tier, app.context, app.runner, extra)
        verdict.details["app"] = app.role
        if tier == "upgrade":
            base_broken(verdict, app)
        return verdict

    def _tier(self, tier: str, context: RunContext, runner: PlaybookRunner,
              extra: dict[str, Any] | None = None) -> TierResult:
        """One tier's stage and verdict; a crash of ccci's own code is a harness error.

        The run goes on to the next tier and to teardown, and results.json says where
        ccci broke, instead of a traceback and no record.
        """
        try:
            return self._verdict(tier, self._stage(runner, tier, context, extra=extra),
                                 context)
        except Exception as exc:  # any bug of ccci's, recorded as such
            self.progress.info(f"error: ccci failed in the {tier} tier: {exc!r}")
            return harness_error(f"ccci failed in the {tier} tier", exc)

    def _verdict(self, tier: str, stage: StageRun, context: RunContext) -> TierResult:
        details: dict[str, Any] = {"artifacts": stage.artifact_dir}
        details.update(tier_details(tier, context, RunDir(context.run_dir)))
        if stage.failures:
            details["failures"] = stage.failures
        if stage.status == "canceled":
            return TierResult("failed", "interrupted", stage.duration, details,
                              failure_kind=INFRASTRUCTURE)
        if stage.ok and not RunDir(context.run_dir).tiers().passed(tier):
            return TierResult("failed", f"the {tier} stage ended without recording that the "
                              "tier passed: no evidence", stage.duration, details,
                              failure_kind=HARNESS)
        if stage.ok:
            return TierResult("passed", "", stage.duration, details)
        return failed_tier(stage, details)

    def _keep_or_teardown(self, result: RunResult, apps: list[App]) -> None:
        if self.request.keep:
            for app in apps:
                self.progress.info(f"keeping the {app.role} app; tear it down with: "
                                   f"ccci teardown {app.context.run_dir}")
            return
        # Never cancelled: a second Ctrl-C must not leave the app behind. Both apps'
        # teardowns run together; the run's teardown passes when both do.
        with ThreadPoolExecutor(max_workers=len(apps), thread_name_prefix="ccci-down") as pool:
            verdicts = list(pool.map(self._teardown, apps))
        failed = [v for v in verdicts if v.status != "passed"]
        result.teardown = failed[0] if failed else verdicts[0]
        if len(apps) > 1:
            result.teardown.details["apps"] = {
                app.role: v.status for app, v in zip(apps, verdicts, strict=True)}

    def _teardown(self, app: App) -> TierResult:
        assert app.runner is not None
        try:
            stage = self._stage(app.runner, "teardown", app.context, cancellable=False)
        except Exception as exc:  # the run's record must still be written
            return harness_error(f"ccci failed in the teardown of the {app.role} app", exc)
        details = {"failures": stage.failures} if stage.failures else {}
        return (TierResult("passed", "", stage.duration, details) if stage.ok
                else failed_tier(stage, details))

    def _finish(self, result: RunResult, apps: list[App] | Path, started: float
                ) -> tuple[RunResult, Path]:
        """Write results.json and junit.xml in the run's (the fresh app's) directory."""
        if isinstance(apps, Path):  # refused: no app was planned
            record, apps = RunDir(apps), []
        else:
            record = apps[0].record
        if apps and record.has_context():
            result.fresh_deploys = sum(len(app.record.deploys().fresh) for app in apps)
            result.version_deployed = record.deploys().version_deployed
            result.apps = {app.role: app.summary() for app in apps}
        result.finished = _now()
        result.duration = round(time.monotonic() - started, 3)
        if not result.exit_code:
            result.exit_code = exit_code(result, interrupted=self.interrupt.requested)
        path = write_results(result, record)
        write_junit(result, record)
        self._write_reports(record)
        return result, path

    def _write_reports(self, record: RunDir) -> None:
        """report.html, summary.md and badge.svg of the run, then the dashboard over all
        runs; neither changes the verdict, a failure is only said."""
        try:
            write_run_report(record.path)
        except Exception as exc:  # a report must never fail a run
            self.progress.info(f"warning: report.html not written: {type(exc).__name__}: {exc}")
        problem = update_dashboard(paths.runs_root())
        if problem:
            self.progress.info(f"warning: {problem}")


def describe_app(app: dict[str, Any]) -> str:
    """One app in a line: its domain and each deploy's version and convergence time."""
    steps = []
    for deploy in app.get("deploys") or []:
        took = f" in {deploy['elapsed']:.1f} s" if deploy.get("elapsed") is not None else ""
        state = f"converged{took}" if deploy.get("converged") else "did not converge"
        version = deploy.get("version") or deploy.get("expected_version") or "untagged"
        steps.append(f"{deploy['op']} {version} {state}")
    return f"{app.get('domain')}: " + ("; ".join(steps) or "not deployed")


def failed_tier(stage: StageRun, details: dict[str, Any]) -> TierResult:
    """A failed stage's verdict: its reason, with the kind and hint ``ccci.failures`` gives."""
    reason = stage.reason()
    found = classify_stage(stage.status, stage.failures, reason)
    return TierResult("failed", reason, stage.duration, details,
                      failure_kind=found.kind, hint=found.hint)


def harness_error(where: str, exc: Exception) -> TierResult:
    """A crash of ccci's own code, with its traceback in the details for the bug report."""
    trace = "".join(traceback.format_exception(exc)).rstrip()
    return TierResult("error", f"{where}: {type(exc).__name__}: {exc}",
                      details={"traceback": trace}, failure_kind=HARNESS,
                      hint="a bug in ccci: report it with this run's results.json")


def exit_code(result: RunResult, *, interrupted: bool) -> int:
    """0 passed; 3 only infrastructure failed (retry); 1 otherwise failed; 130 interrupted.

    A teardown that did not pass counts as a failure of its kind; a run-level error
    (refused input) is set before this is asked.
    """
    if interrupted:
        return EXIT_INTERRUPTED
    if result.error:
        return EXIT_FAILED
    if not result.failed_tiers:
        return EXIT_OK
    return EXIT_INFRASTRUCTURE if result.failure_kind == INFRASTRUCTURE else EXIT_FAILED


def redeploy_warnings(record: RunDir) -> list[dict[str, Any]]:
    """CCCI-W601 when deploying the same version again changed services."""
    redeploy = record.redeploy()
    if redeploy is None or redeploy.idempotent:
        return []
    return [finding("deploy.not-idempotent", "deploying the same version again changed "
                    f"{redeploy.describe()}").as_dict()]


def functional_warnings(record: RunDir) -> list[dict[str, Any]]:
    """CCCI-W701 when the generic checks were skipped, W702 when only they ran."""
    functional = record.functional()
    if not functional or not functional.get("files"):
        return []
    if functional.get("generic_skipped"):
        return [finding("functional.generic-skipped", "CCCI_SKIP_GENERIC is set: the "
                        "generic checks of the functional tier did not run").as_dict()]
    if all(f == str(GENERIC_FILE) for f in functional["files"]):
        return [finding("functional.no-suite", "no tests/test_*.py in the recipe's CI "
                        "config: the functional tier ran the generic checks only").as_dict()]
    return []


def tier_details(tier: str, context: RunContext, record: RunDir) -> dict[str, Any]:
    """What results.json shows about a tier that ran, from the run's records."""
    if tier == "functional":
        return functional_summary(record.functional())
    if tier == "lint":
        return record.lint() or {}
    if tier == "install":
        deploys = record.deploys()
        fresh = deploys.fresh
        redeploy = record.redeploy()
        return {"deploy": asdict(fresh[0]) if fresh else None,
                "published_port": deploys.published_port,
                "idempotence": asdict(redeploy) if redeploy else None,
                **route_details(context, record, "install")}
    if tier == "upgrade":
        return upgrade_details(context, record)
    markers = record.markers()
    if tier == "backup":
        backups = record.backups().backups
        return {"backup": backups[-1] if backups else None,
                "marker": markers.seeded.get("backup")}
    if tier == "restore":
        return {"snapshot_id": record.backups().last_good_snapshot,
                "marker_checks": [asdict(c) for c in markers.checks_of("backup")],
                "probes": [p for r in record.probes().of("restore") for p in r.probes]}
    return {}


def route_details(context: RunContext, record: RunDir, op: str) -> dict[str, Any]:
    """The ingress, the routers of the plan checked, and every request of the checks of
    ``op`` (url, status, seconds), for results.json."""
    rounds = record.probes().of(op)
    plan = rounds[-1].plan if rounds else context.first_plan
    names = context.host["ingress"]["names"]
    routers = [router_from_dict(r) for r in context.plans[plan].get("routers") or []]
    return {
        "ingress": context.host["ingress"]["mode"],
        "routers": [{**asdict(r), "probed": any(r.matches(n) for n in names)} for r in routers],
        "probes": [p for r in rounds for p in r.probes],
    }


def upgrade_details(context: RunContext, record: RunDir) -> dict[str, Any]:
    """Base, target, each hop and the marker checks, for results.json."""
    markers = record.markers()
    return {
        "base_version": context.upgrade_path[0] if context.upgrade_path else None,
        "target_version": context.version,
        "target_commit": context.commit,
        "hops": [asdict(d) for d in record.deploys().deploys if d.op == "upgrade"],
        "probes": [p for r in record.probes().of("upgrade") for p in r.probes],
        "marker": markers.seeded.get("upgrade"),
        "marker_checks": [asdict(c) for c in markers.checks_of("upgrade")],
    }


def summary(result: RunResult) -> str:
    """A few lines for the end of the run."""
    lines = [f"{result.recipe}: level {result.level_text}"]
    if result.quick:
        left = [tier for tier in AVAILABLE_TIERS if tier not in QUICK_TIERS]
        lines.append(f"  quick run: {', '.join(left)} not run; the level is partial "
                     "(a run without --quick gives the full level)")
    lines += [f"  {role} app: {describe_app(app)}" for role, app in result.apps.items()
              if len(result.apps) > 1]
    tiers = dict(result.tiers)
    if result.teardown:
        tiers["teardown"] = result.teardown
    for name, tier in tiers.items():
        kind = f" [{tier.failure_kind}]" if tier.failed and tier.failure_kind else ""
        reason = f" ({tier.reason})" if tier.reason else ""
        app = result.app_of(tier)
        on = f"{app:<9}" if app else ""
        lines.append(f"  {name:<10} {on}{tier.status}{kind}{reason}")
        if tier.failed and tier.hint:
            lines.append(f"  {'':<10} how to fix: {tier.hint}")
    if result.error:
        lines.append(f"  error: {result.error}")
    if result.exit_code == EXIT_INFRASTRUCTURE:
        lines.append("  only infrastructure failed (registry, network, host): "
                     f"exit {EXIT_INFRASTRUCTURE}, worth a retry")
    return "\n".join(lines)

