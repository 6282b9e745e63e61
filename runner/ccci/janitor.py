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
from ccci.ansible import PlaybookRunner, StageRun
from ccci.context import load_run
from ccci.errors import BadInput, CcciError
from ccci.leases import Lease, holder_of
from ccci.names import RUN_LABEL
from ccci.progress import Progress
from ccci.results import RunResult, TierResult
from ccci.rundir import RecordError, RunDir, now

REAPER = "janitor"
LOCAL = "local"
PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]+$")
KEEP_PASSES = 20  # janitor passes whose ansible artifacts are kept for inspection
DOCKER_KINDS = ("services", "containers", "volumes", "secrets", "configs", "networks")
RunnerFactory = Callable[..., PlaybookRunner]


# -- which runs to reap --------------------------------------------------------------


def registry_host(inventory: str | None) -> str:
    """How the registry names a run's swarm host: ``local`` for the default inventory.

    ``ccci run`` should register its runs with this, so the janitor of an inventory
    finds exactly the runs deployed through it.
    """
    return LOCAL if inventory is None else str(Path(inventory).resolve())


def host_keys(sources: Iterable[str], default_sources: Iterable[str]) -> frozenset[str]:
    """The registry hosts an Ansible inventory stands for (the action's view of a pass)."""
    given = sorted(os.path.abspath(s) for s in sources)
    keys = set(given)
    if given and given == sorted(os.path.abspath(s) for s in default_sources):
        keys.add(LOCAL)
    return frozenset(keys)


def on_host(entry: RunEntry, keys: frozenset[str]) -> bool:
    return entry.host in keys or (entry.host != LOCAL and os.path.abspath(entry.host) in keys)


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
    keys: frozenset[str], *, expired: bool = False
) -> tuple[list[tuple[RunEntry, Verdict]], list[Verdict]]:
    """Runs of the hosts ``keys`` to reap, and verdicts reported but acted on by nobody.

    A dead run of another host is reported with the inventory that reaps it.
    """
    at = datetime.now(UTC)
    to_reap: list[tuple[RunEntry, Verdict]] = []
    reported: list[Verdict] = []
    for run in active_runs.runs():
        verdict = judge(run, expired=expired, at=at)
        if verdict is None:
            continue
        if verdict.reap and on_host(run.entry, keys):
            to_reap.append((run.entry, verdict))
        elif verdict.reap:
            reported.append(Verdict(verdict.run_id, verdict.state, False,
                                    f"{verdict.reason}; reap it with --inventory {run.entry.host}",
                                    run.entry.host))
        elif on_host(run.entry, keys):
            reported.append(verdict)
    return to_reap, reported


def dead_runs(
    keys: frozenset[str], *, expired: bool = False
) -> tuple[list[DeadRun], list[Verdict]]:
    """The runs a janitor pass on the hosts ``keys`` reaps, and the ones it only reports.

    A run that just finished removes its entry, then its lock: between the two it looks
    dead. The registry is read twice, and only runs dead both times are reaped.
    """
    to_reap, reported = survey(keys, expired=expired)
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
    progress: Progress | None = None,
    runner_factory: RunnerFactory = PlaybookRunner,
) -> JanitorReport:
    """One janitor pass on the swarm host(s) of ``inventory`` (None: the default one).

    This is the pass to run before each ``ccci run``: cheap when no registered run is
    dead (the registry is read, no playbook runs), skipped when another pass is at work,
    and never raising for a run it could not reap (that run stays registered).
    """
    if _nothing_to_reap(expired):
        _, reported = survey(frozenset({registry_host(inventory)}), expired=expired)
        return JanitorReport(reported=[asdict(v) for v in reported])
    lock = paths.state_root() / "janitor.lock"
    lease = Lease.take(lock, REAPER, {"pid": os.getpid()})
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
    if inventory is None and run is not None and run.entry.host != LOCAL:
        inventory = run.entry.host
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.getpid()}"
    runner = runner_factory(paths.project_root(), run_dir / "teardowns" / stamp,
                            progress or Progress(), inventory=inventory)
    return runner.run("teardown", "playbooks/teardown.yml", {"run_dir": str(run_dir)},
                      cancellable=False)


# -- what is on this controller and its local Docker ----------------------------------


def _labels(obj: Any) -> dict[str, str]:
    """Labels of any kind of Docker object (services, secrets, configs keep them in Spec)."""
    attrs = obj.attrs or {}
    for holder in (attrs.get("Spec"), attrs.get("Config"), attrs):
        if isinstance(holder, dict) and holder.get("Labels"):
            return holder["Labels"]
    return {}


def _listed(client: Any, kind: str) -> list[Any]:
    """Objects of ``kind`` with a run label, retried when one vanishes while listed."""
    from docker.errors import NotFound

    extra = {"all": True} if kind == "containers" else {}
    for attempt in range(5):
        try:
            return getattr(client, kind).list(filters={"label": RUN_LABEL}, **extra)
        except NotFound:
            if attempt == 4:
                raise
            time.sleep(0.2)
    return []


def leftovers(client: Any = None) -> dict[str, dict[str, list[str]]]:
    """Docker objects with a run label of no registered run, by run id then kind.

    The local Docker daemon only (``DOCKER_HOST`` honoured): a run on a remote host
    registers that host, and its leftovers are that host's to list.
    """
    if client is None:
        import docker

        client = docker.from_env()
    registered = {r.entry.run_id for r in active_runs.runs()}
    found: dict[str, dict[str, list[str]]] = {}
    for kind in DOCKER_KINDS:
        for obj in _listed(client, kind):
            run_id = _labels(obj).get(RUN_LABEL)
            if run_id and run_id not in registered:
                name = getattr(obj, "name", None) or obj.id
                found.setdefault(run_id, {}).setdefault(kind, []).append(name)
    return {run_id: {k: sorted(v) for k, v in kinds.items()} for run_id, kinds in
            sorted(found.items())}


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


def ls(client: Any = None) -> str:
    """The registered runs and the local leftovers of unregistered ones, as text."""
    header = ["RUN", "STATE", "PID", "STARTED", "DEADLINE", "APP", "PORT", "HOST", "RUN DIR"]
    rows = run_rows(active_runs.runs())
    lines = [table(header, rows) if rows else "no registered run"]
    from docker.errors import DockerException

    try:
        left = leftovers(client)
    except (DockerException, OSError) as exc:  # requests' errors are OSErrors
        lines.append(f"leftovers: local Docker not reachable ({exc})")
        return "\n".join(lines)
    if not left:
        lines.append("no leftovers: every object with a run label belongs to a registered run")
        return "\n".join(lines)
    lines.append("leftovers (local Docker objects labelled for a run the registry does not "
                 "know: a killed manual run, or one running by hand right now):")
    for run_id, kinds in left.items():
        lines.append(f"  {run_id}  " + "; ".join(_listing(k, v) for k, v in kinds.items()))
    return "\n".join(lines)


def _listing(kind: str, names: list[str]) -> str:
    """Names of a kind; containers (one per task, many of them) only counted."""
    return f"{kind}: {len(names)}" if kind == "containers" else f"{kind}: {', '.join(names)}"
