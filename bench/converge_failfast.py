#!/usr/bin/env python3
"""How fast ccci.recipe.stack_converge fails a crash loop and notices a healthy task.

Deploys, three times each, on the local swarm:

1. a crash-looping service (exits 3 at once, default restart policy: 5 s delay);
   measures seconds from ``docker stack deploy`` to the module's failure, both as
   the module saw it and as the caller sees it (ansible returned), and the module's
   detection lag after the failure that crossed ``max_task_failures``;
2. a service whose healthcheck turns healthy after N seconds; measures seconds
   between the task's ``running`` status timestamp (swarm sets it when the container
   turns healthy) and the module returning.

The module runs through ansible-runner (``ccci.ansible.run_module``) from the
repository root. Every stack is removed afterwards (stack rm, then wait for its
containers and networks to go).

Usage: .venv/bin/python bench/converge_failfast.py   (image: CCCI_TEST_IMAGE, default
       ccci-example/base:bookworm)
       [--runs 3] [--healthy-after 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker

from ccci.ansible import run_module
from ccci.throwaway import deploy_stack, remove_stack

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.ccci.recipe.plugins.module_utils.swarm_state import (  # noqa: E402
    parse_timestamp,
)

IMAGE = os.environ.get("CCCI_TEST_IMAGE", "ccci-example/base:bookworm")
NAMESPACE = "com.docker.stack.namespace"

CRASH = """
version: "3.8"
services:
  crash:
    image: {image}
    command: ["sh", "-c", "echo bench crash; exit 3"]
    deploy:
      endpoint_mode: dnsrr
"""

HEALTHY = """
version: "3.8"
services:
  app:
    image: {image}
    command: ["sh", "-c", "sleep {after}; touch /tmp/healthy; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/healthy"]
      interval: 1s
      timeout: 1s
      retries: 3
      start_period: 120s
    deploy:
      endpoint_mode: dnsrr
"""


def converge(stack: str, **args: Any) -> tuple[dict[str, Any], float]:
    """Run the module via ansible-runner; return its result and the wall time it returned."""
    result = run_module("ccci.recipe.stack_converge", {"stack": stack, **args}, project_root=REPO)
    return result, time.time()


def failure_times(api: docker.APIClient, service: str, since: float) -> list[float]:
    stamps = []
    for task in api.tasks(filters={"service": service}):
        if task["Status"]["State"] in ("failed", "rejected", "complete"):
            when = parse_timestamp(task["Status"]["Timestamp"])
            if when is not None and when >= since:
                stamps.append(when)
    return sorted(stamps)


def bench_crash(api: docker.APIClient, workdir: Path) -> dict[str, Any]:
    stack = f"cccib_crash_{uuid.uuid4().hex[:8]}"
    try:
        deployed = deploy_stack(stack, CRASH.format(image=IMAGE), workdir)
        result, returned = converge(stack, since=f"{deployed:.6f}", timeout=300)
        module_returned = result["started"] + result["elapsed"]
        failures = failure_times(api, f"{stack}_crash", deployed)
        threshold = 3
        crossing = failures[threshold - 1] if len(failures) >= threshold else None
        return {
            "stack": stack,
            "status": result["status"],
            "error": (result.get("failures") or [{}])[0].get("error"),
            "log_lines": len((result.get("failures") or [{}])[0].get("logs") or []),
            "deploy_to_module_failure": module_returned - deployed,
            "deploy_to_ansible_return": returned - deployed,
            "deploy_to_module_start": result["started"] - deployed,
            "failure_offsets": [round(f - deployed, 2) for f in failures],
            "detection_lag": (module_returned - crossing) if crossing else None,
        }
    finally:
        remove_stack(stack)


def bench_healthy(api: docker.APIClient, workdir: Path, after: float) -> dict[str, Any]:
    stack = f"cccib_ok_{uuid.uuid4().hex[:8]}"
    try:
        deployed = deploy_stack(stack, HEALTHY.format(image=IMAGE, after=after), workdir)
        result, returned = converge(stack, timeout=300)
        module_returned = result["started"] + result["elapsed"]
        running = [
            parse_timestamp(t["Status"]["Timestamp"])
            for t in api.tasks(filters={"service": f"{stack}_app", "desired-state": "running"})
            if t["Status"]["State"] == "running"
        ]
        healthy = max(r for r in running if r is not None) if running else None
        return {
            "stack": stack,
            "status": result["status"],
            "deploy_to_healthy": (healthy - deployed) if healthy else None,
            "module_started_before_healthy": bool(healthy and result["started"] < healthy),
            "healthy_to_module_return": (module_returned - healthy) if healthy else None,
            "healthy_to_ansible_return": (returned - healthy) if healthy else None,
        }
    finally:
        remove_stack(stack)


def summary(values: list[float | None]) -> str:
    nums = [v for v in values if v is not None]
    if not nums:
        return "n/a"
    return (
        f"min {min(nums):.2f}  median {statistics.median(nums):.2f}  max {max(nums):.2f}  "
        f"({', '.join(f'{v:.2f}' for v in nums)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--healthy-after", type=float, default=8.0)
    parser.add_argument("--json", action="store_true", help="also print raw results as JSON")
    args = parser.parse_args()

    api = docker.APIClient(version="auto")
    api.inspect_image(IMAGE)  # fail early when the image is missing
    crash_runs: list[dict[str, Any]] = []
    healthy_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ccci-bench-") as tmp:
        workdir = Path(tmp)
        for run in range(1, args.runs + 1):
            crash = bench_crash(api, workdir)
            crash_runs.append(crash)
            print(
                f"crash   run {run}: {crash['status']:<9} deploy->failure "
                f"{crash['deploy_to_module_failure']:.2f}s (ansible returned "
                f"{crash['deploy_to_ansible_return']:.2f}s), task failures at "
                f"{crash['failure_offsets']}s, lag {crash['detection_lag'] or 0:.2f}s",
                flush=True,
            )
            healthy = bench_healthy(api, workdir, args.healthy_after)
            healthy_runs.append(healthy)
            print(
                f"healthy run {run}: {healthy['status']:<9} healthy at "
                f"{healthy['deploy_to_healthy'] or 0:.2f}s, module returned "
                f"{healthy['healthy_to_module_return'] or 0:.2f}s later (ansible "
                f"{healthy['healthy_to_ansible_return'] or 0:.2f}s)",
                flush=True,
            )

    print()
    print(f"image {IMAGE}, {args.runs} runs, poll interval 0.5 s, max_task_failures 3")
    print(
        "crash loop, deploy -> module failed:  ",
        summary([r["deploy_to_module_failure"] for r in crash_runs]),
    )
    print(
        "crash loop, deploy -> ansible return: ",
        summary([r["deploy_to_ansible_return"] for r in crash_runs]),
    )
    print(
        "crash loop, 3rd failure -> module:    ", summary([r["detection_lag"] for r in crash_runs])
    )
    print(
        "healthy, task healthy -> module return:",
        summary([r["healthy_to_module_return"] for r in healthy_runs]),
    )
    print(
        "healthy, task healthy -> ansible return:",
        summary([r["healthy_to_ansible_return"] for r in healthy_runs]),
    )
    if args.json:
        print(json.dumps({"crash": crash_runs, "healthy": healthy_runs}, indent=2))
    ok = all(r["status"] == "failed" for r in crash_runs) and all(
        r["status"] == "converged" for r in healthy_runs
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
