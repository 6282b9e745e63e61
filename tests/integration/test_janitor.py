"""The janitor on the real swarm: a run killed with SIGKILL mid-backup leaves its app,
restic repository and host folder behind; `ccci janitor` removes all of it, records the
run reaped and unregisters it, and touches nothing else: neither objects without a run
label nor those of a live run (past its deadline, even with --expired).

The registry is this test's own (``CCCI_STATE_DIR`` in tmp) so the janitor sees only
the runs made here; its ``leases`` folder is the machine's, so the run's port is never
leased twice with runs of parallel tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import pytest

from ccci import active_runs, paths
from ccci.ansible import run_module
from ccci.rundir import RunDir
from tests.integration.helpers import run_objects, wait_for_line, wait_until

ROOT = Path(__file__).resolve().parents[2]
HOST_ROOT = Path("/var/lib/ccci")
IMAGE = "ccci-example/base:bookworm"


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    shared = paths.state_root() / "leases"
    shared.mkdir(parents=True, exist_ok=True)
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / "leases").symlink_to(shared)
    monkeypatch.setenv("CCCI_STATE_DIR", str(folder))
    return folder


def _env(recipes_dir: Path, tmp_path: Path, state: Path) -> dict[str, str]:
    return {
        **os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
        "CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_STATE_DIR": str(state),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }


def _ccci(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``ccci`` as a user types it, from a directory that is not the checkout."""
    return subprocess.run([sys.executable, "-m", "ccci.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900, check=False)


# -- witnesses: what the janitor must leave alone -----------------------------------------


def _checksum(volume) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(volume.attrs["Mountpoint"]).rglob("*")):
        digest.update(path.name.encode() + (path.read_bytes() if path.is_file() else b""))
    return digest.hexdigest()


def _make_witness(client, name: str, labels: dict[str, str]) -> dict:
    volume = client.volumes.create(name, labels=labels)
    (Path(volume.attrs["Mountpoint"]) / "data.txt").write_text(f"witness {name}\n")
    secret = client.secrets.create(name=name, data=b"witness", labels=labels)
    service = client.services.create(IMAGE, ["sleep", "infinity"], name=name, labels=labels)
    return {"volume": volume.name, "secret": secret.id, "service": service.id}


def _look(client, witness: dict) -> dict:
    """What must not change: the volume's content, the secret, the service's spec."""
    service = client.services.get(witness["service"])
    secret = client.secrets.get(witness["secret"])
    return {"volume": _checksum(client.volumes.get(witness["volume"])),
            "secret": secret.attrs["Version"]["Index"],
            "service": (service.attrs["Version"]["Index"], service.attrs["Spec"])}


@pytest.fixture
def witnesses(docker_client) -> Iterator[dict[str, dict]]:
    """Unlabelled objects, and objects labelled for a fake live run (its id under "live")."""
    live_id = f"live{secrets.token_hex(3)}"
    made = {
        "unlabelled": _make_witness(docker_client, f"ccci-witness-{secrets.token_hex(3)}", {}),
        "labelled": _make_witness(docker_client, f"ccci-witness-{live_id}",
                                  {"ccci.run": live_id}),
    }
    yield {**made, "live": {"run_id": live_id}}
    for witness in (made["unlabelled"], made["labelled"]):
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.services.get(witness["service"]).remove()
    time.sleep(2)  # the services' tasks go before their volumes can
    for witness in (made["unlabelled"], made["labelled"]):
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.secrets.get(witness["secret"]).remove()
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.volumes.get(witness["volume"]).remove(force=True)


# -- killing a run the hard way -------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started (ansible-playbook runs in a pty session
    of its own): stopped first, so nothing forks while the tree is collected."""
    tree = {pid}
    while True:
        for member in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGSTOP)
        grown = tree | _descendants(pid)
        if grown == tree:
            break
        tree = grown
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def _start_and_kill_mid_backup(env: dict[str, str]) -> tuple[str, int]:
    """A run killed with SIGKILL once its backup's restic repository exists: (id, pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccci.cli", "run", "example-notes", "--tiers", "install,backup"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        seen = wait_for_line(proc, ": example-notes at ", timeout=300)
        run_id = seen.splitlines()[-1].split()[1].rstrip(":")
        wait_for_line(proc, "Back up, verify", timeout=600)
        wait_until((HOST_ROOT / "restic" / run_id / "config").exists, "restic repository", 120)
    finally:
        _kill_tree(proc.pid)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return run_id, proc.pid


def _clean_up(run_id: str, stack: str) -> None:
    """Whatever a failed test leaves of the run, removed by the product's own module."""
    run_module("ccci.recipe.run_resources", {"run_id": run_id, "stack": stack, "state": "absent",
                                             "fail_on_residue": False}, project_root=ROOT)
    for path in [*(HOST_ROOT / "restic").glob(f"{run_id}*"), HOST_ROOT / "runs" / run_id]:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# -- the test --------------------------------------------------------------------------------


def test_janitor_reaps_a_killed_run_and_nothing_else(recipes_dir, tmp_path, state,
                                                     docker_client, witnesses):
    env = _env(recipes_dir, tmp_path, state)
    live = active_runs.new_entry(witnesses["live"]["run_id"], "local", str(tmp_path / "live"))
    live.deadline = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    before = {kind: _look(docker_client, witnesses[kind]) for kind in ("unlabelled", "labelled")}
    with active_runs.register(live):
        run_id, pid = _start_and_kill_mid_backup(env)
        [entry] = [r.entry for r in active_runs.runs() if r.entry.run_id == run_id]
        try:
            _reap_and_check(env, tmp_path, docker_client, entry, pid, live.run_id)
        finally:
            _clean_up(run_id, entry.stack)
        listed = _ccci(env, tmp_path, "ls").stdout
        assert [line.split()[1] for line in listed.splitlines()
                if line.startswith(live.run_id)] == ["running,"], listed
    after = {kind: _look(docker_client, witnesses[kind]) for kind in ("unlabelled", "labelled")}
    assert after == before


def _reap_and_check(env, tmp_path, docker_client, entry, pid: int, live_id: str) -> None:
    run_id = entry.run_id
    assert run_objects(docker_client, run_id, entry.stack).get("services"), "nothing was left"
    assert (HOST_ROOT / "restic" / f"{run_id}.password").exists()
    assert (HOST_ROOT / "runs" / run_id).is_dir()
    listed = _ccci(env, tmp_path, "ls")
    assert listed.returncode == 0, listed.stderr
    [line] = [ln for ln in listed.stdout.splitlines() if ln.startswith(run_id)]
    assert line.split()[1] == "dead" and str(pid) in line

    reaped = _ccci(env, tmp_path, "janitor", "--expired")
    output = reaped.stdout + reaped.stderr
    assert reaped.returncode == 0, output
    assert f"reaped {run_id}: process {pid} is gone" in reaped.stdout, output
    assert f"left alone {live_id} (running)" in reaped.stdout, output

    assert run_objects(docker_client, run_id, entry.stack) == {}
    assert list((HOST_ROOT / "restic").glob(f"{run_id}*")) == []
    assert not (HOST_ROOT / "runs" / run_id).exists()
    results = RunDir(entry.run_dir).results()
    assert results["reaped"]["by"] == "janitor"
    assert results["reaped"]["reason"] == f"process {pid} is gone"
    assert results["exit_code"] == 1 and results["run_id"] == run_id
    assert results["tiers"]["install"]["status"] == "passed"
    assert results["tiers"]["backup"]["status"] == "failed"
    assert run_id not in {r.entry.run_id for r in active_runs.runs()}
    assert run_id not in _ccci(env, tmp_path, "ls").stdout


def test_a_kept_run_is_left_to_its_owner_and_torn_down_by_id(recipes_dir, tmp_path, state,
                                                            docker_client):
    env = {**_env(recipes_dir, tmp_path, state), "CCCI_RUN_DEADLINE": "1"}
    run = _ccci(env, ROOT, "run", "example-site", "--tiers", "install", "--keep")
    assert run.returncode == 0, run.stdout + run.stderr
    [entry] = [r.entry for r in active_runs.runs()]
    try:
        assert entry.kept and entry.past_deadline()
        assert "kept, expired" in _ccci(env, tmp_path, "ls").stdout
        janitor = _ccci(env, tmp_path, "janitor")
        assert janitor.returncode == 0, janitor.stdout + janitor.stderr
        assert f"left alone {entry.run_id} (kept)" in janitor.stdout
        assert "`ccci janitor --expired` reaps it" in janitor.stdout
        assert run_objects(docker_client, entry.run_id, entry.stack).get("services")

        teardown = _ccci(env, tmp_path, "teardown", entry.run_id)
        assert teardown.returncode == 0, teardown.stdout + teardown.stderr[-3000:]
    finally:
        _clean_up(entry.run_id, entry.stack)
    assert run_objects(docker_client, entry.run_id, entry.stack) == {}
    assert not (HOST_ROOT / "runs" / entry.run_id).exists()
    assert active_runs.runs() == []
    assert RunDir(entry.run_dir).results()["reaped"] is None
