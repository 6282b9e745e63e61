"""Helpers shared by the integration tests."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def run_objects(client, run_id: str, stack: str | None = None) -> dict[str, list[str]]:
    """Every Docker object carrying the run's label (or the stack's namespace)."""
    labels = [f"ccci.run={run_id}"] + ([f"com.docker.stack.namespace={stack}"] if stack else [])
    found: dict[str, set[str]] = {}
    for label in labels:
        f = {"label": label}
        for kind, objs in {
            "services": client.services.list(filters=f),
            "containers": client.containers.list(all=True, filters=f),
            "volumes": client.volumes.list(filters=f),
            "secrets": client.secrets.list(filters=f),
            "configs": client.configs.list(filters=f),
            "networks": client.networks.list(filters=f),
        }.items():
            found.setdefault(kind, set()).update(o.name for o in objs)
    return {kind: sorted(names) for kind, names in found.items() if names}


def make_recipe_variant(recipes_dir: Path, base: str, name: str, tmp_path: Path, edit) -> Path:
    """A recipe repository derived from ``base`` with ``edit(worktree)`` committed on top."""
    repo = tmp_path / "variants" / name
    subprocess.run(["git", "clone", "-q", str(recipes_dir / base), str(repo)], check=True)
    edit(repo)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
         "commit", "-qm", f"variant {name}"],
        check=True,
    )
    return repo


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> str:
    """Read ``proc``'s output until a line contains ``text``; returns what was read.

    Used to signal a run at a known point (e.g. mid-deploy) rather than after a guess.
    """
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"process ended before {text!r}:\n{''.join(seen)}")
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no {text!r} within {timeout}s:\n{''.join(seen)}")
