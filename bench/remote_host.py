"""What reaching the swarm host over SSH costs: one app-port forward, and a whole run.

Starts the tests' stand-in remote host (Debian's sshd on a loopback port, this
machine's swarm behind it), then prints:
- the time to open one forward of the proxy's port (``ccci.forward``), as every hook,
  marker probe and functional session on a remote host does, median of ``--opens``;
- ``ccci run RECIPE`` on the local host and through the SSH inventory, alternately,
  ``--pairs`` times: wall time of each and the ratio of the medians.

Usage: .venv/bin/python bench/remote_host.py [--recipe example-site] [--pairs 1]
       [--opens 20] [--tiers install,functional]
Run it on an idle machine, after scripts/prepare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ccci.forward import SshRoute, forward  # noqa: E402
from ccci.ingress import PROXY_HTTPS_PORT  # noqa: E402
from tests.integration.ssh_host import NO_DOCKER, SshHost, start_ssh_host  # noqa: E402


def forward_times(host: SshHost, opens: int) -> list[float]:
    route = SshRoute("127.0.0.1", port=host.port, user="root", key_file=str(host.key_file),
                     args=("-o", f"UserKnownHostsFile={host.known_hosts}"))
    times = []
    for _ in range(opens):
        started = time.monotonic()
        with forward(route, PROXY_HTTPS_PORT):
            times.append(time.monotonic() - started)
    return times


def timed_run(recipe: str, tiers: str | None, runs_dir: Path, inventory: Path | None) -> float:
    command = [sys.executable, "-m", "ccci.cli", "run", recipe]
    command += ["--tiers", tiers] if tiers else []
    env = {**os.environ, "CCCI_RUNS_DIR": str(runs_dir)}
    if inventory:
        command += ["--inventory", str(inventory)]
        env["DOCKER_HOST"] = NO_DOCKER
    started = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          check=False)
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({'remote' if inventory else 'local'}):\n"
                         f"{proc.stdout[-3000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="example-site")
    parser.add_argument("--tiers", default=None, help="default: ccci's default tiers")
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument("--opens", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ccci-remote-bench-"))
    host = start_ssh_host(root / "sshd", "benchhost")
    try:
        opened = forward_times(host, args.opens)
        print(f"forward open: median {statistics.median(opened) * 1000:.0f} ms, "
              f"max {max(opened) * 1000:.0f} ms over {len(opened)}")
        inventory = host.inventory(root / "inventory.yml")
        local, remote = [], []
        for pair in range(args.pairs):
            local.append(timed_run(args.recipe, args.tiers, root / f"local-{pair}", None))
            remote.append(timed_run(args.recipe, args.tiers, root / f"remote-{pair}",
                                    inventory))
            print(f"pair {pair + 1}: local {local[-1]:.1f} s, over SSH {remote[-1]:.1f} s",
                  flush=True)
        ratio = statistics.median(remote) / statistics.median(local)
        print(f"{args.recipe} ({args.tiers or 'default tiers'}): median local "
              f"{statistics.median(local):.1f} s, over SSH {statistics.median(remote):.1f} s, "
              f"ratio {ratio:.2f}")
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
