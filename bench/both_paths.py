#!/usr/bin/env python3
"""What proving both paths costs: a full ``ccci run`` now against an older checkout.

A full run deploys two apps since issue 12 (the version under test installed fresh,
and the previous release upgraded into it). This bench puts a number on what that
costs against a revision that deployed one app (``--before``, default 090f4ec): it
checks the revision out in a temporary git worktree, materializes its examples there,
then runs ``ccci run RECIPE`` (all tiers) alternately with the old code and with this
checkout's, ``--pairs`` times per recipe, on the local swarm, and prints each run's wall
time and the ratio of the medians (target: at most 1.15).

Both sides use the same Python environment (this checkout's .venv); the old side gets
``PYTHONPATH`` and ``CCCI_HOME`` pointing at the worktree, so its runner, playbooks and
collection are its own. Every run writes to a temporary CCCI_RUNS_DIR; a run that does
not exit 0 fails the bench (its folder is kept and printed). A run of this checkout
also proves what it claims: two apps, and the install deploy at the version under test.

Usage: .venv/bin/python bench/both_paths.py [--before REV] [--pairs 3]
       [--recipe example-site --recipe example-notes] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.15
LAUNCH = "import sys; from ccci.cli import main; sys.exit(main())"


@dataclass
class Run:
    """One full ``ccci run``: which code, how long, and what it recorded."""

    side: str
    recipe: str
    wall: float
    exit_code: int
    apps: int
    install_version: str | None
    version: str | None
    results: str


def ccci(checkout: Path, runs_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ccci ARGS`` with the code, playbooks and examples of ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "runner"), "CCCI_HOME": str(checkout),
           "CCCI_RUNS_DIR": str(runs_dir)}
    env.pop("CCCI_RECIPES_DIR", None)
    return subprocess.run([sys.executable, "-c", LAUNCH, *args], env=env, text=True,
                          capture_output=True, check=False)


def full_run(side: str, checkout: Path, recipe: str, runs_root: Path) -> Run:
    runs_dir = Path(tempfile.mkdtemp(prefix=f"{side}-{recipe}-", dir=runs_root))
    started = time.monotonic()
    done = ccci(checkout, runs_dir, "run", recipe)
    wall = time.monotonic() - started
    found = sorted(runs_dir.glob("*/results.json"))
    data = json.loads(found[0].read_text()) if found else {}
    deploy = ((data.get("tiers") or {}).get("install") or {}).get("details", {}).get("deploy")
    run = Run(side, recipe, round(wall, 2), done.returncode, len(data.get("apps") or {}) or 1,
              (deploy or {}).get("version"), data.get("version"),
              str(found[0]) if found else str(runs_dir))
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
    else:
        shutil.rmtree(runs_dir, ignore_errors=True)
    return run


def worktree(rev: str, where: Path) -> Path:
    """The old revision checked out, with its example recipes materialized."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), rev],
                   check=True, capture_output=True)
    made = ccci(where, where / "runs", "examples")
    if made.returncode:
        raise SystemExit(f"materializing {rev}'s examples failed:\n{made.stderr}")
    return where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="090f4ec")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--recipe", action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    recipes = args.recipe or ["example-site", "example-notes"]
    scratch = Path(tempfile.mkdtemp(prefix="ccci-both-paths-"))
    old = worktree(args.before, scratch / "before")
    sides = {"before": old, "after": REPO}
    runs: list[Run] = []
    try:
        for recipe in recipes:
            for _pair in range(args.pairs):
                for side, checkout in sides.items():
                    run = full_run(side, checkout, recipe, scratch)
                    runs.append(run)
                    print(f"{recipe:<14} {side:<6} {run.wall:7.1f} s  exit {run.exit_code}  "
                          f"apps {run.apps}  install at {run.install_version} "
                          f"(under test {run.version})", flush=True)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)],
                       check=False, capture_output=True)
    code = report(runs, recipes, args.json)
    if code == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    return code


def report(runs: list[Run], recipes: list[str], as_json: bool) -> int:
    ratios = {}
    for recipe in recipes:
        walls = {side: statistics.median(r.wall for r in runs
                                         if r.recipe == recipe and r.side == side)
                 for side in ("before", "after")}
        ratios[recipe] = {**walls, "ratio": round(walls["after"] / walls["before"], 3)}
        print(f"{recipe}: median before {walls['before']:.1f} s, after {walls['after']:.1f} s, "
              f"ratio {ratios[recipe]['ratio']:.2f} (target <= {TARGET})")
    bad = [r for r in runs if r.exit_code != 0]
    wrong = [r for r in runs if r.side == "after" and r.exit_code == 0
             and (r.apps != 2 or r.install_version != r.version)]
    for run in bad:
        print(f"FAILED: {run.side} {run.recipe} exit {run.exit_code}: {run.results}")
    for run in wrong:
        print(f"WRONG: {run.recipe}: {run.apps} app(s), install at {run.install_version}, "
              f"under test {run.version}")
    if as_json:
        print(json.dumps({"runs": [asdict(r) for r in runs], "ratios": ratios}, indent=2))
    return 1 if bad or wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
