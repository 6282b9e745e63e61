"""The janitor: reap runs whose process died, tear a run down by hand, list what is left.

A run killed with SIGKILL (or on a CI machine that vanished) cannot tear itself down:
its stack, volumes, secrets, restic repository and host folder stay, holding ports
and disk. The registry of active runs (``ccci.active_runs``) knows such a run by a
lock nobody holds. The reaping is ``playbooks/janitor.yml``, so ``ccci janitor`` and
``ansible-playbook`` do the same: the ``ccci.recipe.dead_runs`` action asks
``dead_runs`` here which runs to reap, the teardown role removes each one and
``ccci.recipe.run_record`` marks it reaped (``mark_reaped``) and forgets it. This
module also runs that playbook (``janitor_pass``: ``ccci janitor`` and the pass before
each run), tears one run down (``teardown_run``) and lists runs and leftovers (``ls``).

It only ever acts on registered runs that no live process holds: a live run is
reported when past its deadline, never touched; objects without a run label, or
labelled for a run the registry does not know, are never removed (``ccci ls`` shows
the latter, so a person decides).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccci import active_runs, paths
from ccci.active_runs import ActiveRun, RunEntry
from ccci.ansible import PlaybookRunner, StageRun, run_module_on_hosts
from ccci.context import load_run
from ccci.errors import BadInput, CcciError
from ccci.inventory import GROUP, swarm_hosts
from ccci.leases import Lease, holder_of
from ccci.names import RUN_LABEL
from ccci.progress import Progress
from ccci.report.run_report import write_run_report
from ccci.results import RunResult, TierResult
from ccci.rundir import RecordError, RunDir, now

REAPER = "janitor"
LOCAL = "local"
PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]+$")
KEEP_PASSES = 20  # janitor passes whose ansible artifacts are kept for inspection
# `ccci janitor` waits this long for a pass already at work (a starting run's, on its
# own host) before giving up; the pass before each run does not wait.
BY_HAND_WAIT = 600.0
LOCK_POLL = 0.5
DOCKER_KINDS = ("services", "containers", "volumes", "secrets", "configs", "networks")
RunnerFactory = Callable[..., PlaybookRunner]


# -- which runs to reap --------------------------------------------------------------


def registry_host(inventory: str | None, hostname: str | None = None) -> str:
    """How the registry names a run's swarm host: ``local`` for the default inventory,
    else ``<inventory path>#<host>`` (the host's name in that inventory).

    ``ccci run`` registers its runs with this, so the janitor of an inventory finds
    exactly the runs deployed through it, each on its own host.
    """
    if inventory is None:
        return LOCAL
    path = str(Path(inventory).resolve())
    return f"{path}#{hostname}" if hostname else path


def split_host(registered: str) -> tuple[str, str | None]:
    """A registry host as (inventory or ``local``, the host's name or None)."""
    inventory, _, hostname = registered.partition("#")
    return inventory, hostname or None


def host_keys(sources: Iterable[str], default_sources: Iterable[str]) -> frozenset[str]:
    """The registry hosts an Ansible inventory stands for (the action's view of a pass)."""
    given = sorted(os.path.abspath(s) for s in sources)
    keys = set(given)
    if given and given == sorted(os.path.abspath(s) for s in default_sources):
        keys.add(LOCAL)
    return frozenset(keys)


def on_host(entry: RunEntry, keys: frozenset[str], hostname: str | None = None) -> bool:
    """Whether the run was deployed through one of the inventories ``keys``, on the host
    ``hostname`` of it (any host when None, or when the entry names none)."""
    inventory, registered_name = split_host(entry.host)
    if hostname and registered_name and registered_name != hostname:
        return False
    return inventory in keys or (inventory != LOCAL and os.path.abspath(inventory) in keys)


@dataclass
class Verdict:
    """What the janitor makes of one registered run, and why."""

    run_id: str
    state: str  # running, dead, kept (ActiveRun.state)
    reap: bool
    reason: str
    host: str = LOCAL


def judge(run: ActiveRun, *, expired: bool, at: datetime) -> Verdict | None:
    """Reap a dead run, or a kept one past its deadline when ``expired``; None: no news."""
    entry = run.entry
    late = entry.past_deadline(at)

    def verdict(reap: bool, reason: str) -> Verdict:
        return Verdict(entry.run_id, run.state, reap, reason, entry.host)

    if run.alive:
        return verdict(False, f"running past its deadline {entry.deadline} (pid {entry.pid} "
                              "is alive): left alone") if late else None
    if not entry.kept:
        return verdict(True, f"process {entry.pid} is gone")
    if late and expired:
        return verdict(True, f"kept past its deadline {entry.deadline}; "
                             f"process {entry.pid} is gone")
    if late:
        return verdict(False, f"kept past its deadline {entry.deadline}: "
                              "`ccci janitor --expired` reaps it")
    return None


@dataclass
class DeadRun:
    """A run to reap, with its context when the run saved one (the teardown role's input)."""

    run_id: str
    run_dir: str
    stack: str
    reason: str
    context: dict[str, Any] | None = None
    context_error: str = ""


def _context_of(run_dir: str) -> tuple[dict[str, Any] | None, str]:
    try:
        return load_run(run_dir).as_dict(), ""
    except (CcciError, OSError, ValueError, TypeError) as exc:
        return None, str(exc)


def survey(
    keys: frozenset[str], *, expired: bool = False, hostname: str | None = None,
) -> tuple[list[tuple[RunEntry, Verdict]], list[Verdict]]:
    """Runs of the inventories ``keys`` (of their host ``hostname`` only, when given) to
    reap, and verdicts reported but acted on by nobody.

    A dead run of another host is reported with the inventory that reaps it.
    """
    at = datetime.now(UTC)
    to_reap: list[tuple[RunEntry, Verdict]] = []
    reported: list[Verdict] = []
    for run in active_runs.runs():
        verdict = judge(run, expired=expired, at=at)
        if verdict is None:
            continue
        here = on_host(run.entry, keys, hostname)
        if verdict.reap and here:
            to_reap.append((run.entry, verdict))
        elif verdict.reap:
            inventory = split_host(run.entry.host)[0]
            reported.append(Verdict(verdict.run_id, verdict.state, False,
                                    f"{verdict.reason}; reap it with --inventory {inventory}",
                                    run.entry.host))
        elif here:
            reported.append(verdict)
    return to_reap, reported


def dead_runs(
    keys: frozenset[str], *, expired: bool = False, hostname: str | None = None,
) -> tuple[list[DeadRun], list[Verdict]]:
    """The runs a janitor pass on the hosts ``keys`` reaps, and the ones it only reports.

    A run that just finished removes its entry, then its lock: between the two it looks
    dead. The registry is read twice, and only runs dead both times are reaped.
    """
    to_reap, reported = survey(keys, expired=expired, hostname=hostname)
    still_dead = {r.entry.run_id for r in active_runs.runs() if not r.alive}
    found = []
    for entry, verdict in to_reap:
        if entry.run_id not in still_dead or not PLAIN_ID.match(entry.run_id):
            continue
        context, error = _context_of(entry.run_dir)
        found.append(DeadRun(entry.run_id, entry.run_dir, entry.stack, verdict.reason,
                             context, error))
    return found, reported


# -- what a reaped run's results say -------------------------------------------------


def _unfinished_result(record: RunDir, run_id: str, reason: str) -> RunResult:
    """Results for a run that died before writing its own, from the records it left."""
    try:
        context = record.context_data()
    except RecordError:
        context = {}
    # The run's process died (a killed job, a lost machine): not the recipe's doing.
    interrupted = TierResult("failed", f"interrupted: {reason}", failure_kind="infrastructure")
    tiers = {tier: TierResult("passed") if status == "passed" else interrupted
             for tier, status in record.tiers().latest().items()}
    deploys = record.deploys()
    return RunResult(
        recipe=context.get("recipe", ""), ref=context.get("ref"), run_id=run_id,
        run_dir=str(record.path), commit=context.get("commit", ""),
        version=context.get("version"), version_deployed=deploys.version_deployed,
        domain=context.get("domain", ""), stack=context.get("stack", ""),
        started=context.get("created", ""), finished=now(),
        fresh_deploys=len(deploys.fresh), tiers=tiers,
        error=f"the run's process died before it wrote its results ({reason})",
        exit_code=1,
    )


def mark_reaped(run_dir: str | Path, run_id: str, reason: str) -> dict[str, str] | None:
    """Record in the run's results that the janitor reaped it; None when its folder is gone.

    Results the run already wrote are kept as they are (``reaped`` is added); a run
    that died before writing any gets results from its records, with exit code 1.
    """
    record = RunDir(run_dir)
    if not record.path.is_dir():
        return None
    reaped = {"at": now(), "by": REAPER, "reason": reason}
    data = record.results() or _unfinished_result(record, run_id, reason).to_dict()
    data["reaped"] = reaped
    if data.get("exit_code") is None:
        data["exit_code"] = 1
    record.save_results(data)
    # The report says it was reaped; results.json, written above, is the record.
    with contextlib.suppress(Exception):
        write_run_report(record.path)
    return reaped


# -- a janitor pass ------------------------------------------------------------------


@dataclass
class JanitorReport:
    """What one janitor pass found and did."""

    reaped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    reported: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""
    errors: list[str] = field(default_factory=list)
    artifacts: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    @property
    def quiet(self) -> bool:
        """Nothing reaped, failed, reported or skipped: a pass before a run need not say it."""
        return not (self.reaped or self.failed or self.reported or self.errors or self.skipped)

    def lines(self) -> list[str]:
        """What a person reads: one line per run, and what went wrong."""
        if self.skipped:
            return [f"janitor: {self.skipped}"]
        lines = [f"reaped {r['run_id']}: {r['reason']}" for r in self.reaped]
        lines += [f"NOT reaped {r['run_id']}: {r['reason']} (still registered)"
                  for r in self.failed]
        lines += [f"left alone {r['run_id']} ({r['state']}): {r['reason']}" for r in self.reported]
        lines += [f"error: {e}" for e in self.errors]
        if self.artifacts and not self.ok:
            lines.append(f"janitor artifacts: {self.artifacts}")
        return lines or ["janitor: nothing to reap"]


class _Watch(Progress):
    """Progress that also keeps the janitor's own task results: what it found and reaped."""

    def __init__(self, shown: Progress) -> None:
        super().__init__(shown.stream, shown.live)
        self.found: dict[str, Any] = {}
        self.reaped: dict[str, dict[str, Any]] = {}

    def event(self, event: dict[str, Any]) -> None:
        super().event(event)
        if event.get("event") != "runner_on_ok":
            return
        data = event.get("event_data", {})
        res = data.get("res") or {}
        action = str(data.get("task_action", ""))
        if action.endswith("dead_runs"):
            self.found = res
        elif action.endswith("run_record") and res.get("unregistered"):
            self.reaped[res["unregistered"]] = res.get("reaped") or {}


def _pass_dir(kind: str) -> Path:
    """A fresh folder for one pass's ansible-runner data; older passes beyond a few go."""
    folder = paths.state_root() / kind
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.getpid()}"
    old = sorted(p for p in folder.glob("*-*") if p.is_dir()) if folder.is_dir() else []
    for stale in old[:max(0, len(old) - KEEP_PASSES + 1)]:
        shutil.rmtree(stale, ignore_errors=True)
    path = folder / stamp
    path.mkdir(parents=True, exist_ok=True)
    return path


def _nothing_to_reap(expired: bool) -> bool:
    """Whether no run of any host needs reaping: then no playbook (and no Ansible start)."""
    at = datetime.now(UTC)
    return not any((v := judge(r, expired=expired, at=at)) and v.reap
                   for r in active_runs.runs())


def _report(watch: _Watch, stage: StageRun) -> JanitorReport:
    report = JanitorReport(artifacts=stage.artifact_dir,
                           reported=list(watch.found.get("reported", [])))
    for run in watch.found.get("runs", []):
        done = {"run_id": run["run_id"], "reason": run["reason"], "run_dir": run["run_dir"]}
        (report.reaped if run["run_id"] in watch.reaped else report.failed).append(done)
    report.errors = [f"{f['task']}: {f['msg']}" for f in stage.failures]
    if not watch.found and not stage.ok:
        report.errors.append(stage.reason())
    return report


def janitor_pass(
    inventory: str | None = None,
    *,
    expired: bool = False,
    wait: float = 0.0,
    progress: Progress | None = None,
    runner_factory: RunnerFactory = PlaybookRunner,
) -> JanitorReport:
    """One janitor pass on the swarm host(s) of ``inventory`` (None: the default one).

    This is the pass to run before each ``ccci run``: cheap when no registered run is
    dead (the registry is read, no playbook runs), skipped when another pass is still at
    work after ``wait`` seconds, and never raising for a run it could not reap (that run
    stays registered).
    """
    if _nothing_to_reap(expired):
        _, reported = survey(frozenset({registry_host(inventory)}), expired=expired)
        return JanitorReport(reported=[asdict(v) for v in reported])
    lock = paths.state_root() / "janitor.lock"
    lease = _take_when_free(lock, wait)
    if lease is None:
        pid = holder_of(lock).get("pid", "?")
        return JanitorReport(skipped=f"another janitor pass (pid {pid}) is at work")
    with lease:
        watch = _Watch(progress or Progress())
        runner = runner_factory(
            paths.project_root(), _pass_dir("janitor"), watch,
            inventory=str(Path(inventory).resolve()) if inventory else None,
        )
        stage = runner.run("janitor", "playbooks/janitor.yml", {"expired": expired},
                           cancellable=False)
    return _report(watch, stage)


def _take_when_free(lock: Path, wait: float) -> Lease | None:
    """The janitor's lease, waiting up to ``wait`` seconds for another pass to end: a
    pass covers the hosts of its own inventory only, so a pass asked for by hand must
    not give way to the one a starting run makes on another host."""
    deadline = time.monotonic() + wait
    while True:
        lease = Lease.take(lock, REAPER, {"pid": os.getpid()})
        if lease is not None or time.monotonic() >= deadline:
            return lease
        time.sleep(LOCK_POLL)


# -- one run torn down by hand -------------------------------------------------------


def find_run(target: str) -> tuple[Path, ActiveRun | None]:
    """The run directory ``target`` names (a run directory or a run id), and its entry."""
    registered = {r.entry.run_id: r for r in active_runs.runs()}
    path = Path(target).expanduser()
    if RunDir(path).has_context():
        context = _context_of(str(path))[0] or {}
        return path.resolve(), registered.get(context.get("run_id", ""))
    if not PLAIN_ID.match(target):
        raise BadInput(f"{target} is neither a run directory (no context) nor a run id")
    if target in registered:
        return Path(registered[target].entry.run_dir), registered[target]
    found = [p for p in paths.runs_root().glob(f"*-{target}") if RunDir(p).has_context()]
    if len(found) != 1:
        raise BadInput(f"no run {target}: not in the registry of active runs and "
                       f"{len(found) or 'no'} run directories in {paths.runs_root()} match it")
    return found[0], None


def teardown_run(
    target: str,
    *,
    inventory: str | None = None,
    progress: Progress | None = None,
    runner_factory: RunnerFactory = PlaybookRunner,
) -> StageRun:
    """Tear a run down (``playbooks/teardown.yml``, which also unregisters it).

    Refuses a run whose process is alive: it tears itself down when it ends. The run's
    registered host is used when no inventory is given.
    """
    run_dir, run = find_run(target)
    if run is not None and run.alive:
        raise BadInput(f"run {run.entry.run_id} is running (pid {run.entry.pid}); it tears "
                       "itself down when it ends: stop it rather than tear it down under it")
    if not RunDir(run_dir).has_context():
        raise BadInput(f"{run_dir} holds no run context; `ccci janitor` removes by run label "
                       "what such a run left once its process is gone")
    registered, hostname = split_host(run.entry.host) if run is not None else (LOCAL, None)
    if inventory is None and registered != LOCAL:
        inventory = registered
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.getpid()}"
    runner = runner_factory(paths.project_root(), run_dir / "teardowns" / stamp,
                            progress or Progress(), inventory=inventory,
                            **({"limit": hostname} if hostname else {}))
    return runner.run("teardown", "playbooks/teardown.yml", {"run_dir": str(run_dir)},
                      cancellable=False)


# -- what is registered, and what is left on the swarm hosts -------------------------

LISTING_MODULE = "ccci.recipe.labelled_objects"


@dataclass
class HostLeftovers:
    """What one swarm host holds of runs the registry does not know."""

    host: str
    runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # id → kind → names
    error: str = ""  # why the host was not listed (then ``runs`` says nothing)

    def lines(self) -> list[str]:
        """``leftovers on <host>: ...``, then one line per unknown run."""
        if self.error:
            return [f"leftovers on {self.host}: {self.error}"]
        if not self.runs:
            return [f"leftovers on {self.host}: none, every object with a run label belongs "
                    "to a registered run"]
        return [f"leftovers on {self.host}: objects labelled for a run the registry does not "
                "know (a killed manual run, or one running by hand right now):"] + [
            f"  {run_id}  " + "; ".join(_listing(k, v) for k, v in kinds.items())
            for run_id, kinds in self.runs.items()]


def _registered() -> set[str]:
    return {r.entry.run_id for r in active_runs.runs()}


def _unknown(objects: dict[str, dict[str, list[str]]], registered: set[str]
             ) -> dict[str, dict[str, list[str]]]:
    """The listed objects of runs not in ``registered``, by run id then kind (in
    ``DOCKER_KINDS`` order)."""
    return {run_id: {kind: sorted(kinds[kind]) for kind in DOCKER_KINDS if kinds.get(kind)}
            for run_id, kinds in sorted(objects.items()) if run_id and run_id not in registered}


def _why_not(result: dict[str, Any]) -> str:
    msg = " ".join(str(result.get("msg") or "the listing failed").split())
    return f"not reachable ({msg})" if result.get("unreachable") else f"not listed ({msg})"


def leftovers(inventory: str | None = None) -> list[HostLeftovers]:
    """Per swarm host of ``inventory`` (None: the default one), the Docker objects with a
    run label of no registered run, by run id then kind.

    Each host lists its own objects (``ccci.recipe.labelled_objects`` through Ansible),
    never the controller's Docker; a host that cannot be listed says why in ``error``.
    BadInput when the inventory cannot be read.
    """
    root = paths.project_root()
    resolved = str(Path(inventory).resolve()) if inventory else None
    hosts = [host.name for host in swarm_hosts(root, resolved)]
    # A run registered before or after the listing (one starting, one ending) is known.
    registered = _registered()
    results = run_module_on_hosts(LISTING_MODULE, {"label": RUN_LABEL}, hosts,
                                  project_root=root, inventory=resolved)
    registered |= _registered()
    found = []
    for host in hosts:
        result = results[host]
        if result.get("failed"):
            found.append(HostLeftovers(host, error=_why_not(result)))
        else:
            found.append(HostLeftovers(host, _unknown(result.get("objects") or {}, registered)))
    return found


def _app(entry: RunEntry) -> str:
    context, _ = _context_of(entry.run_dir)
    recipe = (context or {}).get("recipe", "?")
    return f"{recipe} {entry.domain}".strip()


def run_rows(runs: Sequence[ActiveRun], at: datetime | None = None) -> list[list[str]]:
    """``ccci ls`` rows: state is running, dead or kept, with ``expired`` past the deadline."""
    rows = []
    for run in runs:
        entry = run.entry
        state = run.state + (", expired" if entry.past_deadline(at) else "")
        rows.append([entry.run_id, state, str(entry.pid), entry.started, entry.deadline,
                     _app(entry), str(entry.port or "-"), entry.host, entry.run_dir])
    return rows


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in [header, *rows])


def ls(inventory: str | None = None) -> str:
    """The registered runs, then what each swarm host of ``inventory`` (None: the default
    one) holds of runs the registry does not know, as text."""
    header = ["RUN", "STATE", "PID", "STARTED", "DEADLINE", "APP", "PORT", "HOST", "RUN DIR"]
    rows = run_rows(active_runs.runs())
    lines = [table(header, rows) if rows else "no registered run"]
    try:
        found = leftovers(inventory)
    except CcciError as exc:
        lines.append(f"leftovers: not listed ({exc})")
        return "\n".join(lines)
    if not found:
        where = f"inventory {inventory}" if inventory else "the default inventory"
        lines.append(f"leftovers: not listed ({where} has no host in group {GROUP})")
    for host in found:
        lines += host.lines()
    return "\n".join(lines)


def _listing(kind: str, names: list[str]) -> str:
    """Names of a kind; containers (one per task, many of them) only counted."""
    return f"{kind}: {len(names)}" if kind == "containers" else f"{kind}: {', '.join(names)}"
