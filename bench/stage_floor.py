#!/usr/bin/env python3
"""What Ansible costs a run before it does any work: the floor under ccci's overhead.

Every change to a host goes through an Ansible role run by ansible-runner (the shape
of the project), so a run pays, on its critical path, one ansible-playbook start per
stage and Ansible's own cost per task, however little the task does. This bench
measures both on this host through ccci's own stage runner (``ccci.ansible.PlaybookRunner``:
ansible-runner, the project's ansible.cfg and inventory, ``hosts: swarm``):

- start-up: a playbook with no task, start to exit;
- per task: a playbook of ``--tasks`` ``ansible.builtin.set_fact`` tasks (the cheapest
  task there is) less the empty one, divided by the count;
- ccci: starting the ``ccci`` command (imports, no run).

With ``--run-dir`` (a full run's folder) it counts the stages and tasks of the upgraded
app, the run's critical path, and prints the floor those alone cost; with
``--baseline`` (bench/baseline.sh's wall seconds) it sets that against the 5 % the
issue allows. Prints medians of ``--repeats``.

Usage: .venv/bin/python bench/stage_floor.py [--repeats 5] [--tasks 50]
           [--run-dir runs/<full run>] [--baseline 24.5]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ccci.ansible import PlaybookRunner
from ccci.progress import Progress

ROOT = Path(__file__).resolve().parents[1]

TASK_EVENTS = ("runner_on_ok", "runner_on_skipped", "runner_on_failed")


def playbook(tasks: int) -> str:
    body = "".join(
        f"    - name: Task {i}\n      ansible.builtin.set_fact:\n        floor_{i}: {i}\n"
        for i in range(tasks))
    return ("- name: Floor\n  hosts: swarm\n  gather_facts: false\n  tasks:"
            + ("\n" + body if tasks else " []\n"))


def time_stage(path: Path, work: Path) -> float:
    """Wall seconds of one stage running ``path``, through ccci's own stage runner."""
    runner = PlaybookRunner(ROOT, work, Progress(io.StringIO(), live=False))
    stage = runner.run(path.stem, str(path), {})
    if stage.status != "successful":
        raise SystemExit(f"{path.name}: {stage.status}")
    return stage.duration


def time_ccci_start() -> float:
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).parent / "ccci"), "--help"], check=True,
                   capture_output=True)
    return time.monotonic() - started


def critical_path(run_dir: Path) -> tuple[int, int]:
    """Stages and tasks the upgraded app's stages ran (the app with the most work)."""
    artifacts = sorted((run_dir / "upgraded" / "ansible" / "artifacts").iterdir())
    tasks = 0
    for stage in artifacts:
        for event in (stage / "job_events").glob("*.json"):
            if json.loads(event.read_text())["event"] in TASK_EVENTS:
                tasks += 1
    return len(artifacts), tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--baseline", type=float, help="the script's wall seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccci-floor-") as tmp:
        work = Path(tmp)
        empty, full = work / "empty.yml", work / "full.yml"
        empty.write_text(playbook(0))
        full.write_text(playbook(args.tasks))
        starts, per_task, ccci = [], [], []
        for _ in range(args.repeats):
            start = time_stage(empty, work / "run")
            starts.append(start)
            per_task.append((time_stage(full, work / "run") - start) / args.tasks)
            ccci.append(time_ccci_start())
    start, task, launch = (statistics.median(v) for v in (starts, per_task, ccci))
    print(f"stage start-up (no task):       {start:.3f} s   "
          f"(min {min(starts):.3f}, max {max(starts):.3f})")
    print(f"per task (set_fact):            {task * 1000:.1f} ms "
          f"(min {min(per_task) * 1000:.1f}, max {max(per_task) * 1000:.1f})")
    print(f"ccci start (ccci --help):       {launch:.3f} s")
    if args.run_dir:
        stages, tasks = critical_path(args.run_dir)
        bare = launch + stages * start
        floor = bare + tasks * task
        print(f"critical path of {args.run_dir.name}: {stages} stages, {tasks} tasks")
        print(f"ccci start + stages x start-up, no task at all:  {bare:.2f} s")
        print(f"... + tasks x per task:                          {floor:.2f} s")
        if args.baseline:
            allowed = 0.05 * args.baseline
            print(f"allowed by 1.05 x {args.baseline:.1f} s: {allowed:.2f} s; as ratios: "
                  f"no task {1 + bare / args.baseline:.3f} x, "
                  f"these tasks {1 + floor / args.baseline:.3f} x")


if __name__ == "__main__":
    main()
