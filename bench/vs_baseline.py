#!/usr/bin/env python3
"""What the harness costs: ``ccci run RECIPE`` against a plain script doing the same.

Issue 18 asks how much of a run is ccci itself (Ansible start-up, a Python interpreter
per task, records and reports) rather than the work any CI of a recipe has to do:
deploy, wait for convergence, check, upgrade, back up, restore, tear down.
``bench/baseline.sh`` does that work for one example recipe with the docker CLI, restic
and curl only, the same steps the same way (two apps side by side, the same
convergence criterion and poll interval, the same hooks); this bench runs it and a full
``ccci run RECIPE`` (default tiers, or ``--tiers``) alternately, ``--pairs`` times per
recipe, each ccci run with its own temporary CCCI_RUNS_DIR, and measures for each:

- wall time, spawn to exit;
- CPU seconds (user + sys) of the whole process tree, from ``os.wait4`` on the child:
  the rusage of the child and every descendant it waited for (docker CLI, restic,
  curl, git; ansible-playbook, modules, hooks). dockerd's own CPU is in neither;
- the baseline's ``PHASE`` lines and ccci's per-tier durations from results.json.

It prints a table per recipe and the ratio of the medians, ccci / baseline, for wall
and CPU time; the target is wall <= 1.05. The first run that fails stops the bench:
its output's tail is printed, its folder kept, the exit code is 1. The host should be
otherwise idle: each row shows the 1-minute load average when the run started.

Usage: .venv/bin/python bench/vs_baseline.py [--recipe example-site --recipe
       example-notes] [--pairs 3] [--tiers install,upgrade,backup,restore] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CCCI = REPO / ".venv" / "bin" / "ccci"
BASELINE = REPO / "bench" / "baseline.sh"
RECIPES = ("example-site", "example-notes")
DEFAULT_RECIPES_DIR = REPO / "build" / "recipes"
WALL_TARGET = 1.05
# ccci's tiers in ladder order, then the teardown and the whole run (results.json).
TIER_ORDER = ("install", "upgrade", "backup", "restore", "functional", "lint", "teardown", "run")
TAIL_CHARS = 4000


@dataclass
class Run:
    """One measured run of either side."""

    side: str  # "baseline" or "ccci"
    recipe: str
    pair: int
    wall: float
    cpu: float
    exit_code: int
    load: float  # 1-minute load average when it started
    # baseline: {app: {phase: seconds}} from its PHASE lines
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    # ccci: {tier: seconds} from results.json, with "teardown" and the whole "run"
    tiers: dict[str, float] = field(default_factory=dict)
    tier_apps: dict[str, str] = field(default_factory=dict)  # ccci: the app of each tier
    side_by_side: bool | None = None  # ccci: whether its two apps ran at once
    folder: str = ""


def recipes_path() -> list[Path]:
    """Where recipe repositories are looked up: CCCI_RECIPES_DIR, else build/recipes."""
    value = os.environ.get("CCCI_RECIPES_DIR") or str(DEFAULT_RECIPES_DIR)
    return [Path(part) for part in value.split(":") if part]


def recipe_repo(recipe: str) -> Path:
    """The recipe's git repository, found as ccci finds it on CCCI_RECIPES_DIR."""
    for folder in recipes_path():
        if (folder / recipe / ".git").exists():
            return folder / recipe
    raise SystemExit(f"no git repository for {recipe} in {':'.join(map(str, recipes_path()))}")


def measure(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run ``argv`` with stdout and stderr to ``log``; (wall s, tree CPU s, exit code).

    Spawned and reaped by hand so that ``os.wait4`` returns the rusage of this child
    and of everything below it that was waited for, and nothing else of this process.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    started = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def parse_phases(output: str) -> dict[str, dict[str, float]]:
    """The baseline's ``PHASE <app> <phase> <seconds>`` lines, by app then phase."""
    phases: dict[str, dict[str, float]] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "PHASE":
            phases.setdefault(parts[1], {})[parts[2]] = float(parts[3])
    return phases


def ccci_tiers(results: dict) -> tuple[dict[str, float], dict[str, str]]:
    """Each tier's duration, the teardown's and the run's; and the app of each tier."""
    tiers = results.get("tiers") or {}
    durations = {name: round(tier.get("duration") or 0.0, 2) for name, tier in tiers.items()}
    durations["teardown"] = round((results.get("teardown") or {}).get("duration") or 0.0, 2)
    durations["run"] = round(results.get("duration") or 0.0, 2)
    durations = dict(sorted(durations.items(), key=lambda item: TIER_ORDER.index(item[0])
                            if item[0] in TIER_ORDER else len(TIER_ORDER)))
    apps = {name: (tier.get("details") or {}).get("app") or "" for name, tier in tiers.items()}
    return durations, apps


def run_baseline(recipe: str, pair: int, scratch: Path) -> Run:
    folder = Path(tempfile.mkdtemp(prefix=f"baseline-{recipe}-{pair}-", dir=scratch))
    log = folder / "output.log"
    load = os.getloadavg()[0]
    wall, cpu, code = measure(["/bin/bash", str(BASELINE), recipe, str(recipe_repo(recipe))],
                              dict(os.environ), log)
    output = log.read_text(errors="replace")
    run = Run("baseline", recipe, pair, round(wall, 2), round(cpu, 2), code, round(load, 2),
              parse_phases(output), folder=str(folder))
    return finish(run, output, folder)


def run_ccci(recipe: str, pair: int, scratch: Path, tiers: str | None) -> Run:
    folder = Path(tempfile.mkdtemp(prefix=f"ccci-{recipe}-{pair}-", dir=scratch))
    log = folder / "output.log"
    env = {**os.environ, "CCCI_RUNS_DIR": str(folder / "runs"),
           "CCCI_RECIPES_DIR": os.environ.get("CCCI_RECIPES_DIR") or str(DEFAULT_RECIPES_DIR)}
    argv = [str(CCCI), "run", recipe, *(["--tiers", tiers] if tiers else [])]
    load = os.getloadavg()[0]
    wall, cpu, code = measure(argv, env, log)
    found = sorted((folder / "runs").glob("*/results.json"))
    results = json.loads(found[0].read_text()) if found else {}
    durations, apps = ccci_tiers(results)
    run = Run("ccci", recipe, pair, round(wall, 2), round(cpu, 2), code, round(load, 2),
              tiers=durations, tier_apps=apps, side_by_side=results.get("side_by_side"),
              folder=str(folder))
    return finish(run, log.read_text(errors="replace"), folder)


def finish(run: Run, output: str, folder: Path) -> Run:
    """Stop the bench on a failed run (its output's tail, its folder kept); else clean up."""
    if run.exit_code != 0:
        sys.stderr.write(output[-TAIL_CHARS:])
        sys.stderr.write(f"\n{run.side} run of {run.recipe} failed with exit code "
                         f"{run.exit_code}; its output and files: {folder}\n")
        raise SystemExit(1)
    shutil.rmtree(folder, ignore_errors=True)
    run.folder = ""
    return run


def describe(run: Run) -> str:
    """The phases of a run in one line."""
    if run.side == "baseline":
        return "; ".join(f"{app}: " + " ".join(f"{name} {sec:.1f}" for name, sec in steps.items())
                         for app, steps in run.phases.items())
    apps = run.tier_apps
    words = [f"{name}{'(' + apps[name] + ')' if apps.get(name) else ''} {sec:.1f}"
             for name, sec in run.tiers.items()]
    return " ".join(words) + f"; side by side: {run.side_by_side}"


def summary(recipe: str, runs: list[Run]) -> dict:
    """Medians of each side and their ratios, ccci / baseline."""
    medians = {}
    for side in ("baseline", "ccci"):
        mine = [r for r in runs if r.side == side]
        medians[side] = {"wall": statistics.median(r.wall for r in mine),
                         "cpu": statistics.median(r.cpu for r in mine)}
    ratio = {key: round(medians["ccci"][key] / medians["baseline"][key], 2)
             for key in ("wall", "cpu")}
    return {"recipe": recipe, "median": medians, "ratio": ratio,
            "target": {"wall": WALL_TARGET}, "wall_ok": ratio["wall"] <= WALL_TARGET}


def print_table(recipe: str, runs: list[Run], result: dict) -> None:
    print(f"\n{recipe}")
    print(f"{'pair':>4}  {'side':<8} {'wall s':>7} {'cpu s':>7} {'load':>5}  phases / tiers (s)")
    for run in runs:
        print(f"{run.pair:>4}  {run.side:<8} {run.wall:>7.2f} {run.cpu:>7.2f} {run.load:>5.2f}"
              f"  {describe(run)}")
    med, ratio = result["median"], result["ratio"]
    print(f"median: baseline {med['baseline']['wall']:.2f} s wall, {med['baseline']['cpu']:.2f} "
          f"cpu-s; ccci {med['ccci']['wall']:.2f} s wall, {med['ccci']['cpu']:.2f} cpu-s")
    verdict = "met" if result["wall_ok"] else "not met"
    print(f"ratio ccci/baseline: wall {ratio['wall']:.2f} (target <= {WALL_TARGET}: {verdict}), "
          f"cpu {ratio['cpu']:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", action="append", choices=RECIPES,
                        help="repeatable (default: both examples)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--tiers", help="passed to ccci run (default: its default tiers)")
    parser.add_argument("--json", action="store_true", help="machine output only")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ccci-bench-vs-baseline-"))
    report = []
    for recipe in args.recipe or RECIPES:
        runs = []
        for pair in range(1, args.pairs + 1):
            # Alternate who goes first, so a drift in background load hits both sides.
            sides = ("baseline", "ccci") if pair % 2 else ("ccci", "baseline")
            for side in sides:
                run = (run_baseline(recipe, pair, scratch) if side == "baseline"
                       else run_ccci(recipe, pair, scratch, args.tiers))
                runs.append(run)
                if not args.json:
                    print(f"{recipe} pair {pair} {side}: {run.wall:.2f} s, {run.cpu:.2f} cpu-s",
                          flush=True)
        result = summary(recipe, runs)
        report.append({**result, "runs": [asdict(r) for r in runs]})
        if not args.json:
            print_table(recipe, runs, result)
    if args.json:
        print(json.dumps({"tiers": args.tiers or "default", "recipes": report}, indent=2))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
