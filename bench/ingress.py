#!/usr/bin/env python3
"""What the proxy costs: how soon a new app's route answers, and a run through it.

(a) Route readiness. Deploys a throwaway app with Co-op Cloud's traefik labels (the
    harness's dnsrr endpoints, a healthcheck) and, from the same moment, watches two
    things every 50 ms: the swarm (converged as ``stack_converge`` judges a service
    with a healthcheck: its one task desired and running, its container healthy) and
    the route (``https://<name>:18443/health`` on 127.0.0.1 with the proxy's CA, via
    ``ccci.ingress.reach``). Prints, per trial, seconds from ``docker stack deploy`` to
    convergence and to the first 200, and route minus convergence (negative: the
    route answered before the healthcheck passed). Target: at most 2 s.
(b) A run. ``ccci run RECIPE --tiers install`` with ``--ingress traefik`` and
    ``--ingress direct``, interleaved, ``--runs`` times each; prints each wall time and
    install-tier duration, and the medians. Target: traefik at most 1 s slower.

Usage: .venv/bin/python bench/ingress.py [--trials 5] [--runs 3] [--recipe example-site]
       [--skip-routes] [--skip-runs]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import requests

from ccci.ingress import HOST_CA, PROXY_DOMAIN, PROXY_HTTPS_PORT, Ingress, reach
from ccci.throwaway import deploy_stack, remove_stack

CCCI = Path(sys.executable).with_name("ccci")
POLL = 0.05
LIMIT = 120

APP = """\
version: "3.8"
services:
  app:
    image: ccci-example/python:3.11
    command:
      - sh
      - -c
      - mkdir -p /srv && echo ok > /srv/health && exec python3 -m http.server 8080 -d /srv
    networks: [proxy]
    healthcheck:
      test: ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 5
      start_period: 10s
    deploy:
      endpoint_mode: dnsrr
      labels:
        - traefik.enable=true
        - traefik.http.services.{router}.loadbalancer.server.port=8080
        - "traefik.http.routers.{router}.rule=Host(`{domain}`)"
        - traefik.http.routers.{router}.entrypoints=web-secure
        - traefik.http.routers.{router}.tls.certresolver=
networks:
  proxy:
    external: true
"""


def converged(client: docker.DockerClient, stack: str) -> bool:
    """The app's one task runs and its container is healthy (stack_converge's judgement
    for a service with a healthcheck)."""
    for service in client.services.list(filters={"label": f"com.docker.stack.namespace={stack}"}):
        tasks = [t for t in service.tasks() if t["DesiredState"] == "running"]
        if len(tasks) != 1 or tasks[0]["Status"]["State"] != "running":
            return False
        cid = tasks[0]["Status"].get("ContainerStatus", {}).get("ContainerID")
        if not cid:
            return False
        health = client.api.inspect_container(cid)["State"].get("Health", {})
        if health.get("Status") != "healthy":
            return False
    return True


def watch(until: float, check, found: dict, key: str) -> None:
    """Record in ``found[key]`` the first moment ``check()`` is true (or nothing)."""
    while time.monotonic() < until:
        try:
            if check():
                found[key] = time.monotonic()
                return
        except (requests.RequestException, docker.errors.APIError):
            pass
        time.sleep(POLL)


def trial(client: docker.DockerClient, workdir: Path) -> dict:
    suffix = secrets.token_hex(4)
    stack, domain = f"ccci-bench-ingress-{suffix}", f"bench-{suffix}.{PROXY_DOMAIN}"
    app = Ingress("traefik", "https", PROXY_HTTPS_PORT, [domain])

    def route() -> bool:
        return requests.get(app.base_url + "/health", timeout=2, verify=HOST_CA).status_code == 200

    found: dict[str, float] = {}
    try:
        with reach(app):
            started = time.monotonic()
            deploy_stack(stack, APP.format(router=stack, domain=domain), workdir)
            until = started + LIMIT
            watchers = [threading.Thread(target=watch, args=(until, lambda: converged(
                client, stack), found, "converged")),
                threading.Thread(target=watch, args=(until, route, found, "route"))]
            for thread in watchers:
                thread.start()
            for thread in watchers:
                thread.join()
    finally:
        remove_stack(stack)
    if len(found) < 2:
        raise SystemExit(f"trial {stack}: nothing within {LIMIT} s: {found}")
    return {"converged": found["converged"] - started, "route": found["route"] - started,
            "after_converged": found["route"] - found["converged"]}


def routes(trials: int) -> list[dict]:
    client = docker.from_env()
    print("(a) route readiness: seconds after docker stack deploy")
    print(f"{'trial':>5} {'converged':>10} {'route 200':>10} {'route-converged':>16}")
    found = []
    with tempfile.TemporaryDirectory(prefix="ccci-bench-ingress-") as workdir:
        for number in range(1, trials + 1):
            result = trial(client, Path(workdir))
            found.append(result)
            print(f"{number:>5} {result['converged']:>10.2f} {result['route']:>10.2f} "
                  f"{result['after_converged']:>16.2f}")
    worst = max(r["after_converged"] for r in found)
    median = statistics.median(r["after_converged"] for r in found)
    print(f"route minus convergence: median {median:.2f} s, max {worst:.2f} s "
          f"(target <= 2 s: {'met' if worst <= 2 else 'NOT met'})")
    return found


def one_run(recipe: str, mode: str, runs_dir: Path) -> dict:
    started = time.monotonic()
    proc = subprocess.run([str(CCCI), "run", recipe, "--tiers", "install", "--ingress", mode],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "CCCI_RUNS_DIR": str(runs_dir)})
    wall = time.monotonic() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("results: ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"ccci run {recipe} --ingress {mode} failed ({proc.returncode}):\n"
                         f"{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    results = json.loads(Path(lines[-1].removeprefix("results: ")).read_text())
    return {"mode": mode, "wall": wall, "install": results["tiers"]["install"]["duration"],
            "duration": results["duration"]}


def runs(recipe: str, count: int) -> dict[str, list[dict]]:
    print(f"(b) ccci run {recipe} --tiers install, by ingress (interleaved)")
    print(f"{'run':>3} {'mode':<8} {'wall s':>7} {'install s':>10}")
    found: dict[str, list[dict]] = {"traefik": [], "direct": []}
    with tempfile.TemporaryDirectory(prefix="ccci-bench-runs-") as runs_dir:
        for number in range(1, count + 1):
            for mode in ("traefik", "direct"):
                result = one_run(recipe, mode, Path(runs_dir))
                found[mode].append(result)
                print(f"{number:>3} {mode:<8} {result['wall']:>7.2f} {result['install']:>10.2f}")
    medians = {mode: statistics.median(r["wall"] for r in found[mode]) for mode in found}
    installs = {mode: statistics.median(r["install"] for r in found[mode]) for mode in found}
    extra = medians["traefik"] - medians["direct"]
    print(f"median wall: traefik {medians['traefik']:.2f} s, direct {medians['direct']:.2f} s, "
          f"difference {extra:+.2f} s (target <= 1 s: {'met' if extra <= 1 else 'NOT met'}); "
          f"median install tier: traefik {installs['traefik']:.2f} s, "
          f"direct {installs['direct']:.2f} s")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--recipe", default="example-site")
    parser.add_argument("--skip-routes", action="store_true")
    parser.add_argument("--skip-runs", action="store_true")
    args = parser.parse_args()
    if not args.skip_routes:
        routes(args.trials)
    if not args.skip_runs:
        runs(args.recipe, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
