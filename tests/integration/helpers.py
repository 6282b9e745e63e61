"""Helpers shared by the integration tests."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests

from ccci.context import load_run
from ccci.ingress import of_run, reach


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


def app_get(run_dir: str | Path, path: str = "/", *, timeout: float = 10) -> requests.Response:
    """GET the run's app by its domain, as a user would: through the proxy over https
    with its CA (or on the published port in direct mode), resolved to loopback."""
    reached, bundle = of_run(load_run(run_dir).host["ingress"], run_dir)
    with reach(reached, bundle):
        return requests.get(reached.base_url + path, timeout=timeout, allow_redirects=False)


def make_recipe_variant(recipes_dir: Path, base: str, name: str, tmp_path: Path, edit) -> Path:
    """A recipe repository derived from ``base`` with ``edit(worktree)`` committed on top
    (an empty commit when the edit only checks what is there)."""
    repo = tmp_path / "variants" / name
    subprocess.run(["git", "clone", "-q", str(recipes_dir / base), str(repo)], check=True)
    edit(repo)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
         "commit", "--allow-empty", "-qm", f"variant {name}"],
        check=True,
    )
    return repo


def replace_in(path: Path, old: str, new: str) -> None:
    """Edit a recipe file as a maintainer's slip would; fails if ``old`` is not there
    (the example changed under the test)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new))


def wait_until(check, what: str, timeout: float, poll: float = 0.1) -> None:
    """Poll ``check()`` until it is true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout}s"
        time.sleep(poll)


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


def processes_mentioning(text: str, settle: float = 10.0) -> list[str]:
    """Command lines of live processes that contain ``text`` (e.g. a run's directory).

    Given ``settle`` seconds to go, since a cancelled worker exits a moment after its
    parent; zombies (exited, not yet reaped by PID 1) do not count.
    """
    deadline = time.monotonic() + settle
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError):
                continue
            if text in cmdline and state != "Z":
                found.append(f"{proc.name}: {cmdline}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
