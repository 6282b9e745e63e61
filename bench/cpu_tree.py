#!/usr/bin/env python3
"""Where a command's CPU goes, by kind of process: ccci itself, ansible-playbook, its
forked task workers, each Ansible module, the docker CLI, git...

The total is exact: ``os.wait4`` on the command gives the user and system time of its
whole process tree. The split is sampled: every ``--interval`` seconds the CPU times
of each descendant are read from ``/proc/<pid>/stat`` and the last reading before it
exits is kept, so a process shorter than the interval may be missed; what no sample
saw is printed as "unseen" (mostly ansible-playbook's short-lived task workers).

Usage: .venv/bin/python bench/cpu_tree.py [--interval 0.01] [--json] -- COMMAND...
   e.g. CCCI_RECIPES_DIR=build/recipes .venv/bin/python bench/cpu_tree.py --
        .venv/bin/ccci run example-site --tiers install
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
MODULE = re.compile(r"AnsiballZ_(\w+)\.py")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system seconds) of ``pid``, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def kind_of(argv: list[str], parent_kind: str | None) -> str:
    """A name for what the process is, from its command line (and its parent's kind,
    for forks that keep their parent's command line)."""
    text = " ".join(argv)
    found = MODULE.search(text)
    if found:
        return f"module {found.group(1)}"
    if "ansible-playbook" in text:
        return "ansible worker" if parent_kind in ("ansible-playbook", "ansible worker") \
            else "ansible-playbook"
    if "ccci" in text and parent_kind is None:
        return "ccci"
    name = Path(argv[0]).name if argv else "?"
    if name.startswith("python") and parent_kind is not None and "-c" not in argv:
        return f"{parent_kind} (fork)"
    return name or "?"


class Sampler(threading.Thread):
    """Reads the CPU time of every descendant of ``root`` until stopped."""

    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.cpu: dict[int, float] = {}
        self.kinds: dict[int, str] = {self.root: "ccci"}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self._sample()
            time.sleep(self.interval)

    def _sample(self) -> None:
        parents: dict[int, int] = {}
        times: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _stat(int(entry))
                if stat:
                    parents[int(entry)], times[int(entry)] = stat
        for pid in sorted(times):
            if pid not in self.kinds:
                parent = parents.get(pid)
                if parent not in self.kinds:
                    continue  # not ours
                self.kinds[pid] = kind_of(_cmdline(pid), self.kinds[parent])
            self.cpu[pid] = times[pid]

    def by_kind(self) -> dict[str, tuple[int, float]]:
        """Processes seen and their CPU seconds, per kind."""
        totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        for pid, seconds in self.cpu.items():
            totals[self.kinds[pid]][0] += 1
            totals[self.kinds[pid]][1] += seconds
        return {kind: (int(n), cpu) for kind, (n, cpu) in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = Sampler(proc.pid, args.interval)
    sampler.kinds = {proc.pid: "ccci"}
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    sampler.done.set()
    sampler.join()
    wall = time.monotonic() - started
    total = usage.ru_utime + usage.ru_stime
    kinds = sampler.by_kind()
    seen = sum(cpu for _, cpu in kinds.values())
    if args.json:
        print(json.dumps({"wall": wall, "cpu": total, "exit": os.waitstatus_to_exitcode(status),
                          "kinds": {k: {"processes": n, "cpu": c} for k, (n, c) in kinds.items()},
                          "unseen": total - seen}))
        return 0
    print(f"wall {wall:.1f} s, CPU {total:.2f} s (user {usage.ru_utime:.2f}, system "
          f"{usage.ru_stime:.2f}), exit {os.waitstatus_to_exitcode(status)}")
    for kind, (n, cpu) in sorted(kinds.items(), key=lambda item: -item[1][1]):
        print(f"  {cpu:6.2f} s  {n:4d}  {kind}")
    print(f"  {total - seen:6.2f} s        unseen (processes shorter than a sample)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
