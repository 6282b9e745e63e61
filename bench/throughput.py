#!/usr/bin/env python3
"""How many ``ccci run`` processes one CI host carries at once, and what they cost.

For each concurrency N (default 1, 2, 4) runs N ``ccci run RECIPE`` at the same time,
then the same N one after another, on the local swarm, and prints per batch:

- wall time of the batch, and each run's own duration (``results.json`` ``duration``);
- CPU seconds of the runs' process trees (user + sys of every waited-for descendant:
  ccci, ansible-playbook, modules, docker CLI; not dockerd, containerd nor the
  containers), dockerd's and containerd's CPU from /proc/<pid>/stat, and the whole
  host's busy CPU from /proc/stat over the batch and over ``--settle`` seconds
  before it (so other jobs on the host show up rather than skew the numbers);
- peak memory: the largest single process RSS of any run (``ru_maxrss``, a
  per-process maximum, not a sum), and the drop of the host's MemAvailable;
- exit codes, published ports (``tiers.install.details.published_port``), the load
  average before, during (max) and after;
- where each run's time went: mean tier durations, time inside Ansible tasks, of it
  waiting for the swarm to converge, and the rest (ansible-playbook start-up, task
  scheduling, controller-side Python between tasks).

Then the ratio "N concurrent wall / N serial wall" for each N > 1; the target is at
most 0.5 for 4 runs on a 2-core host. A run that does not exit 0 fails the benchmark:
its results path and reason are printed, its run folder is kept, the exit code is 1.

Runs write to a temporary CCCI_RUNS_DIR (one folder per run), removed on success
unless --keep-runs.

Usage: .venv/bin/python bench/throughput.py [--concurrency 1,2,4] [--repeat 1]
       [--tiers install,upgrade,backup,restore] [--recipe example-site] [--settle 10]
       [--keep-runs] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CCCI = Path(sys.executable).with_name("ccci")
TICK = os.sysconf("SC_CLK_TCK")
STAGES = ("install", "upgrade", "backup", "restore", "functional", "lint", "teardown")
TASK_EVENTS = ("runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable")
TARGET = 0.5
DAEMONS = ("dockerd", "containerd")


@dataclass
class Run:
    """One ``ccci run``: what it returned and what it cost."""

    runs_dir: str
    log: str
    pid: int = 0
    started: float = 0.0
    wall: float = 0.0
    exit_code: int | None = None
    cpu_user: float = 0.0
    cpu_sys: float = 0.0
    maxrss_mib: float = 0.0
    results: str = ""
    duration: float | None = None
    level: str = ""
    port: int | None = None
    reason: str = ""
    stages: dict[str, float] = field(default_factory=dict)
    tasks: float = 0.0
    converge: float = 0.0
    task_count: int = 0


@dataclass
class Batch:
    """N runs, started together (concurrent) or one after another (serial)."""

    n: int
    mode: str
    repeat: int = 1
    wall: float = 0.0
    cpu_user: float = 0.0
    cpu_sys: float = 0.0
    host_busy: float = 0.0
    host_util: float = 0.0
    idle_util: float = 0.0
    daemon_cpu: float = 0.0
    mem_drop_mib: float = 0.0
    load_before: tuple[float, ...] = ()
    load_max: float = 0.0
    load_after: tuple[float, ...] = ()
    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every run exited 0."""
        return all(r.exit_code == 0 for r in self.runs)


class Sampler(threading.Thread):
    """Samples MemAvailable and the 1-minute load while a batch runs.

    Peak memory of several process trees is not in any rusage; the host's
    MemAvailable low-water mark is the honest, if noisy, total.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.mem_start = mem_available()
        self.mem_min = self.mem_start
        self.load_max = os.getloadavg()[0]

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.mem_min = min(self.mem_min, mem_available())
            self.load_max = max(self.load_max, os.getloadavg()[0])


def mem_available() -> int:
    """MemAvailable in KiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole host since boot, all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # guest time is already inside user
    return (total - fields[3] - fields[4]) / TICK, total / TICK


def daemon_cpu() -> float:
    """CPU seconds used so far by dockerd and containerd, which no rusage of ours holds."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we listed /proc
            continue
        name, rest = text[text.index("(") + 1 :].split(")", 1)
        if name in DAEMONS:
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def idle_util(seconds: float) -> float:
    """How busy the host is before a batch: its CPU use over ``seconds`` of our idling."""
    busy0, total0 = host_cpu()
    time.sleep(seconds)
    busy1, total1 = host_cpu()
    return (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


def loadavg() -> tuple[float, ...]:
    """The load averages, rounded for printing."""
    return tuple(round(v, 2) for v in os.getloadavg())


INVENTORY = "inventory.yml"


def write_inventory(path: Path, capacity: int) -> None:
    """The local inventory, with room for the largest batch: the host's default capacity
    (2 runs) would queue the rest, and the bench measures runs side by side."""
    local = yaml.safe_load((REPO / "playbooks" / "inventory" / "local.yml").read_text())
    for hostvars in local["swarm"]["hosts"].values():
        hostvars["ccci_capacity"] = capacity
    path.write_text(yaml.safe_dump(local))


def start(recipe: str, tiers: str | None, root: Path, name: str) -> Run:
    """Start one ``ccci run`` with its own runs folder and log file."""
    runs_dir = root / name
    runs_dir.mkdir(parents=True)
    run = Run(runs_dir=str(runs_dir), log=str(runs_dir / "ccci.log"))
    cmd = [str(CCCI), "run", recipe, "--inventory", str(root / INVENTORY)] + (
        ["--tiers", tiers] if tiers else [])
    env = {**os.environ, "CCCI_RUNS_DIR": str(runs_dir)}
    with open(run.log, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.returncode = 0  # reaped by os.wait4 below; keep Popen from reaping it again
    run.pid, run.started = proc.pid, time.monotonic()
    return run


def reap(pending: dict[int, Run]) -> None:
    """Wait for every pending run, keeping each one's own rusage and end time."""
    while pending:
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            break
        run = pending.pop(pid, None)
        if run is None:
            continue
        run.wall = time.monotonic() - run.started
        run.exit_code = os.waitstatus_to_exitcode(status)
        run.cpu_user, run.cpu_sys = usage.ru_utime, usage.ru_stime
        run.maxrss_mib = usage.ru_maxrss / 1024


def stage_times(run_dir: Path) -> tuple[float, float, int]:
    """(time inside Ansible tasks, of it waiting for convergence, tasks) over all stages.

    A task on several hosts runs them in parallel: its longest host counts.
    """
    per_task: dict[tuple[str, str], tuple[str, float]] = {}
    for path in (run_dir / "ansible" / "artifacts").glob("*/job_events/*.json"):
        event = json.loads(path.read_text())
        if event.get("event") not in TASK_EVENTS:
            continue
        data = event.get("event_data", {})
        key = (path.parts[-3], data.get("task_uuid", ""))
        took = float(data.get("duration") or 0.0)
        if took >= per_task.get(key, ("", 0.0))[1]:
            per_task[key] = (data.get("task", ""), took)
    tasks = sum(t for _, t in per_task.values())
    converge = sum(t for name, t in per_task.values() if name.startswith("Wait for the stack"))
    return tasks, converge, len(per_task)


def read_results(run: Run) -> None:
    """Fill in what the run's results.json says; a missing file is a failure reason."""
    found = sorted(Path(run.runs_dir).glob("*/results.json"))
    if not found:
        run.reason = f"no results.json (log: {run.log})"
        return
    run.results = str(found[0])
    data = json.loads(found[0].read_text())
    tiers = data.get("tiers", {})
    run.duration, run.level = data.get("duration"), data.get("level_text", "")
    run.port = (tiers.get("install", {}).get("details") or {}).get("published_port")
    run.stages = {k: v.get("duration") or 0.0 for k, v in tiers.items()}
    run.stages["teardown"] = (data.get("teardown") or {}).get("duration") or 0.0
    failed = [f"{k}: {v.get('reason')}" for k, v in tiers.items() if v.get("status") == "failed"]
    if (data.get("teardown") or {}).get("status") == "failed":
        failed.append(f"teardown: {data['teardown'].get('reason')}")
    run.reason = data.get("error") or "; ".join(failed)
    run.tasks, run.converge, run.task_count = stage_times(found[0].parent)


def run_batch(args: argparse.Namespace, batch: Batch, root: Path) -> Batch:
    """N runs at once or one by one; host-wide counters are read around the batch."""
    batch.idle_util = idle_util(args.settle)
    batch.load_before = loadavg()
    sampler = Sampler()
    sampler.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = host_cpu()
    daemons0 = daemon_cpu()
    t0 = time.monotonic()
    names = [f"r{batch.repeat}-{batch.n}{batch.mode[0]}-{i}" for i in range(batch.n)]
    try:
        if batch.mode == "concurrent":
            batch.runs = [start(args.recipe, args.tiers, root, name) for name in names]
            reap({r.pid: r for r in batch.runs})
        else:
            for name in names:
                batch.runs.append(start(args.recipe, args.tiers, root, name))
                reap({batch.runs[-1].pid: batch.runs[-1]})
    finally:  # Ctrl-C reaches the runs too; let them tear down before leaving
        reap({r.pid: r for r in batch.runs if r.exit_code is None})
    batch.wall = time.monotonic() - t0
    busy1, total1 = host_cpu()
    batch.daemon_cpu = daemon_cpu() - daemons0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.stop.set()
    sampler.join()
    batch.cpu_user = after.ru_utime - before.ru_utime
    batch.cpu_sys = after.ru_stime - before.ru_stime
    batch.host_busy = busy1 - busy0
    batch.host_util = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    batch.mem_drop_mib = (sampler.mem_start - sampler.mem_min) / 1024
    batch.load_max, batch.load_after = round(sampler.load_max, 2), loadavg()
    for run in batch.runs:
        read_results(run)
    return batch


def fmt_load(load: tuple[float, ...]) -> str:
    """The 1/5/15-minute load as one compact field."""
    return "/".join(f"{v:.2f}" for v in load)


def print_batch(batch: Batch) -> None:
    """One line of numbers per batch, then one per run; flushed as they come."""
    durations = [r.duration for r in batch.runs if r.duration is not None]
    per_run = (
        f"{statistics.mean(durations):6.1f} {max(durations):6.1f}" if durations else "   n/a    n/a"
    )
    maxrss = max((r.maxrss_mib for r in batch.runs), default=0.0)
    exits = ",".join(str(r.exit_code) for r in batch.runs)
    print(
        f"{batch.n:>2} {batch.mode:<10} {batch.wall:7.1f} {per_run} "
        f"{batch.cpu_user + batch.cpu_sys:7.1f} {batch.daemon_cpu:9.1f} "
        f"{batch.host_busy:7.1f} {batch.host_util * 100:5.0f}% {batch.idle_util * 100:5.0f}% "
        f"{maxrss:7.0f} {batch.mem_drop_mib:7.0f}  {exits:<8} "
        f"{','.join(str(r.port) for r in batch.runs):<24} "
        f"{fmt_load(batch.load_before)} max {batch.load_max:.2f} "
        f"after {fmt_load(batch.load_after)}",
        flush=True,
    )


HEADER = (
    "mean, max: each run's own duration; cpu-s: user+sys of the runs' process trees;\n"
    "dockerd-s: CPU of dockerd and containerd; host-s, util: busy CPU of the whole host;\n"
    "before: host util in the --settle seconds before the batch (other jobs);\n"
    "rss-MiB: largest single process RSS; mem-MiB: drop of the host's MemAvailable;\n"
    "load: 1/5/15-minute averages before, the 1-minute max during, and after\n"
    f"{'N':>2} {'mode':<10} {'wall':>7} {'mean':>6} {'max':>6} {'cpu-s':>7} {'dockerd-s':>9} "
    f"{'host-s':>7} {'util':>6} {'before':>6} {'rss-MiB':>7} {'mem-MiB':>7}  {'exit':<8} "
    f"{'ports':<24} load"
)


def print_breakdown(batches: list[Batch]) -> None:
    """Mean seconds per run: tier durations, Ansible task time, convergence waits.

    ``other`` is the run's duration outside every tier (planning, checkout, leases);
    ``non-task`` is tier time outside Ansible tasks (ansible-playbook start-up, task
    scheduling, the orchestrator's own checks).
    """
    seen = [s for s in STAGES if any(s in r.stages for b in batches for r in b.runs)]
    print("\nwhere a run's time goes (mean seconds per run of the batch)")
    print(
        " N mode       "
        + "".join(f"{s:>10}" for s in seen)
        + "     other"
        + "     tasks  converge  non-task  n-tasks"
    )
    for batch in batches:
        runs = [r for r in batch.runs if r.stages]
        if not runs:
            continue
        cols = [statistics.mean(r.stages.get(s, 0.0) for r in runs) for s in seen]
        tasks = statistics.mean(r.tasks for r in runs)
        converge = statistics.mean(r.converge for r in runs)
        count = statistics.mean(r.task_count for r in runs)
        other = statistics.mean((r.duration or 0.0) - sum(r.stages.values()) for r in runs)
        print(
            f"{batch.n:>2} {batch.mode:<10} "
            + "".join(f"{c:10.1f}" for c in cols)
            + f"{other:10.1f}{tasks:10.1f}{converge:10.1f}{sum(cols) - tasks:10.1f}{count:9.0f}"
        )


def ratios(batches: list[Batch], n: int) -> list[float]:
    """Concurrent wall / serial wall for each repeat of concurrency ``n``."""
    conc = [b.wall for b in batches if b.n == n and b.mode == "concurrent"]
    serial = [b.wall for b in batches if b.n == n and b.mode == "serial"]
    return [c / s for c, s in zip(conc, serial, strict=False) if s]


def print_verdict(batches: list[Batch], sizes: list[int]) -> None:
    """The issue's target, stated as measured."""
    for n in sizes:
        values = ratios(batches, n)
        if not values:
            continue
        median = statistics.median(values)
        holds = "holds" if n != 4 or median <= TARGET else "does NOT hold"
        target = f" (target <= {TARGET}: {holds})" if n == 4 else ""
        print(
            f"{n} concurrent wall / {n} serial wall: {median:.2f}"
            f" ({', '.join(f'{v:.2f}' for v in values)}){target}"
        )


def report_failures(batches: list[Batch]) -> bool:
    """Print every failed run's results path and reason; True when there was one."""
    failed = [(b, r) for b in batches for r in b.runs if r.exit_code != 0]
    for batch, run in failed:
        print(
            f"FAILED ({batch.n} {batch.mode}): exit {run.exit_code}, "
            f"results {run.results or '-'}, log {run.log}: {run.reason or 'no reason given'}",
            file=sys.stderr,
        )
    return bool(failed)


def plan(sizes: list[int], repeat: int) -> list[Batch]:
    """Interleave concurrent and serial batches so drifting host load hits both.

    One run alone is both concurrent and serial: it is run once.
    """
    order = []
    for rep in range(1, repeat + 1):
        for n in sizes:
            order.append(Batch(n=n, mode="concurrent", repeat=rep))
            if n > 1:
                order.append(Batch(n=n, mode="serial", repeat=rep))
    return order


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="example-site")
    parser.add_argument("--concurrency", default="1,2,4", help="comma-separated, e.g. 1,2,4")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--tiers", default=None, help="passed to ccci run (default: its own)")
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds of host CPU measured before a batch"
    )
    parser.add_argument("--keep-runs", action="store_true", help="keep the run folders")
    parser.add_argument("--json", action="store_true", help="also print every batch as JSON")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sizes = [int(n) for n in args.concurrency.split(",") if n.strip()]
    root = Path(tempfile.mkdtemp(prefix="ccci-throughput-"))
    write_inventory(root / INVENTORY, max(sizes))
    print(
        f"recipe {args.recipe}, tiers {args.tiers or 'ccci default'}, nproc {os.cpu_count()}, "
        f"runs in {root}",
        flush=True,
    )
    print(HEADER, flush=True)
    batches: list[Batch] = []
    for batch in plan(sizes, args.repeat):
        batches.append(run_batch(args, batch, root))
        print_batch(batches[-1])
        if not batches[-1].ok:
            break
    print_breakdown(batches)
    print()
    print_verdict(batches, sizes)
    if args.json:
        print(json.dumps([asdict(b) for b in batches], indent=2))
    if report_failures(batches):
        print(f"run folders kept in {root}", file=sys.stderr)
        return 1
    if args.keep_runs:
        print(f"run folders kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
