#!/usr/bin/env python3
"""What the functional tier adds to a run: ``ccci run R --tiers install`` against
``--tiers install,functional``, alternately, ``--pairs`` times, on the local swarm.

Prints each run's wall time, the functional tier's own duration (results.json) and its
session's (functional.json: pytest with the browser), and the difference of the
medians; the target (issue 13) is under 10 s for the static example. A run that does
not exit 0 fails the bench (its folder is kept and printed).

Usage: .venv/bin/python bench/functional.py [--recipe example-site] [--pairs 3] [--json]
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
from pathlib import Path

CCCI = Path(sys.executable).with_name("ccci")
TARGET = 10.0


def run(recipe: str, tiers: str, runs_root: Path) -> dict:
    runs_dir = Path(tempfile.mkdtemp(prefix="run-", dir=runs_root))
    started = time.monotonic()
    done = subprocess.run([str(CCCI), "run", recipe, "--tiers", tiers], text=True,
                          capture_output=True, check=False,
                          env={**os.environ, "CCCI_RUNS_DIR": str(runs_dir)})
    wall = time.monotonic() - started
    [results] = sorted(runs_dir.glob("*/results.json")) or [None]
    data = json.loads(results.read_text()) if results else {}
    functional = (data.get("tiers") or {}).get("functional") or {}
    session = (functional.get("details") or {}).get("session") or {}
    row = {"tiers": tiers, "wall": round(wall, 2), "exit": done.returncode,
           "tier": functional.get("duration"), "session": session.get("duration"),
           "tests": len((functional.get("details") or {}).get("tests") or [])}
    if done.returncode:
        row["results"] = str(results or runs_dir)
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
    else:
        shutil.rmtree(runs_dir, ignore_errors=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="example-site")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ccci-bench-functional-"))
    rows = []
    for _ in range(args.pairs):
        for tiers in ("install", "install,functional"):
            row = run(args.recipe, tiers, scratch)
            rows.append(row)
            print(f"{tiers:<20} {row['wall']:6.1f} s  exit {row['exit']}  functional tier "
                  f"{row['tier'] or 0:.1f} s, session {row['session'] or 0:.1f} s, "
                  f"{row['tests']} tests", flush=True)
    without = statistics.median(r["wall"] for r in rows if r["tiers"] == "install")
    with_ = statistics.median(r["wall"] for r in rows if r["tiers"] != "install")
    tier = statistics.median(r["tier"] or 0 for r in rows if r["tiers"] != "install")
    print(f"{args.recipe}: median install only {without:.1f} s, with functional {with_:.1f} s: "
          f"+{with_ - without:.1f} s (tier {tier:.1f} s; target < {TARGET:.0f} s)")
    if args.json:
        print(json.dumps(rows, indent=2))
    failed = [r for r in rows if r["exit"]]
    for row in failed:
        print(f"FAILED: {row['tiers']}: {row.get('results')}")
    if not failed:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
