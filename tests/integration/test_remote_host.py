"""ccci against a remote swarm host: reached over SSH only, from a key-file inventory.

The host is this machine behind Debian's sshd on a loopback port of the test's own
(``tests/integration/ssh_host.py``); ccci runs with ``DOCKER_HOST`` naming a socket
that does not exist, so every Docker call it makes has to go through SSH. The tests
look at the swarm directly (the test process's own Docker) to check what was left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ccci import active_runs
from ccci.ansible import run_module
from ccci.host_slots import try_slot
from ccci.inventory import SwarmHost
from ccci.rundir import RunDir
from tests.integration.helpers import run_objects, wait_for_line
from tests.integration.ssh_host import NO_DOCKER, SshHost, start_ssh_host
from tests.integration.test_janitor import _kill_tree

ROOT = Path(__file__).resolve().parents[2]
PROXY_HTTPS_PORT = 18443


@pytest.fixture(scope="module")
def ssh_host(tmp_path_factory):
    host = start_ssh_host(tmp_path_factory.mktemp("sshhost"), "sshhost")
    yield host
    host.stop()


@pytest.fixture
def remote_env() -> dict[str, str]:
    """The controller side: no Docker it could reach without SSH."""
    return {"DOCKER_HOST": NO_DOCKER}


def _host_folder_gone(host: SshHost, run_id: str) -> bool:
    probe = host.ssh(f"test -e /var/lib/ccci/runs/{run_id} || "
                     f"test -e /var/lib/ccci/restic/{run_id}")
    return probe.returncode == 1


@pytest.mark.parametrize("recipe", ["example-site", "example-notes"])
def test_every_tier_passes_on_a_host_reached_over_ssh(recipe, ccci, ssh_host, remote_env,
                                                      tmp_path, docker_client):
    inventory = ssh_host.inventory(tmp_path / "inventory.yml")
    run = ccci("run", recipe, "--inventory", str(inventory), env=remote_env)
    results = run.results
    assert run.rc == 0, run.output[-4000:]
    assert results["level"] == 5, results["level_text"]
    assert {name: tier["status"] for name, tier in results["tiers"].items()} == dict.fromkeys(
        ("install", "upgrade", "backup", "restore", "functional", "lint"), "passed")
    assert results["teardown"]["status"] == "passed"
    assert len(run.apps) == 2

    # The functional tier reached the app through a forward to the controller's own
    # loopback, not the proxy's port (which only this test machine has locally).
    functional = RunDir(results["run_dir"]).functional()
    port = int(functional["base_url"].rsplit(":", 1)[1])
    assert port != PROXY_HTTPS_PORT, functional["base_url"]
    assert any(t["name"].startswith("test_") and t["outcome"] == "passed"
               for t in functional["tests"] if "generic" not in t["file"])

    for app in run.apps:
        assert run_objects(docker_client, app["run_id"], app["stack"]) == {}
        assert _host_folder_gone(ssh_host, app["run_id"])
    registered = {r.entry.run_id for r in active_runs.runs()}
    assert not registered & {app["run_id"] for app in run.apps}


def test_a_killed_remote_run_is_reaped_over_ssh(recipes_dir, ssh_host, tmp_path,
                                                docker_client):
    inventory = ssh_host.inventory(tmp_path / "inventory.yml")
    env = {**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
           "CCCI_RUNS_DIR": str(tmp_path / "runs"), "DOCKER_HOST": NO_DOCKER}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccci.cli", "run", "example-site", "--tiers", "install",
         "--inventory", str(inventory)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = wait_for_line(proc, ": example-site at ", timeout=300)
        run_id = seen.splitlines()[-1].split()[1].rstrip(":")
        wait_for_line(proc, "Record this deploy in the run", timeout=300)
    finally:
        _kill_tree(proc.pid)
        proc.wait(timeout=60)
    [entry] = [r.entry for r in active_runs.runs() if r.entry.run_id == run_id]
    assert entry.host == f"{inventory.resolve()}#{ssh_host.name}"
    assert run_objects(docker_client, run_id, entry.stack).get("services"), "nothing was left"

    listed = subprocess.run(
        [sys.executable, "-m", "ccci.cli", "ls", "--inventory", str(inventory)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert listed.returncode == 0, listed.stderr
    [row] = [ln for ln in listed.stdout.splitlines() if ln.startswith(run_id)]
    assert row.split()[1] == "dead", listed.stdout
    # Listed over SSH: the dead run's objects are its registered run's, no leftover.
    # (Other tests' runs, with registries of their own, share this Docker engine.)
    leftovers = listed.stdout.split(f"leftovers on {ssh_host.name}:", 1)[1]
    assert run_id not in leftovers, listed.stdout

    reaped = subprocess.run(
        [sys.executable, "-m", "ccci.cli", "janitor", "--inventory", str(inventory)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert reaped.returncode == 0, reaped.stdout + reaped.stderr
    assert f"reaped {run_id}: process {proc.pid} is gone" in reaped.stdout, reaped.stdout
    assert run_objects(docker_client, run_id, entry.stack) == {}
    assert _host_folder_gone(ssh_host, run_id)
    assert RunDir(entry.run_dir).results()["reaped"]["by"] == "janitor"


def test_a_full_host_queues_a_run_then_refuses_it_as_infrastructure(ccci, recipes_dir,
                                                                    ssh_host, remote_env,
                                                                    tmp_path, docker_client):
    """``ccci_capacity: 1`` and a slot held here: the run waits, then fails with exit
    code 3 and nothing deployed; a slot freed while a run waits lets it go on."""
    inventory = ssh_host.inventory(tmp_path / "inventory.yml", ccci_capacity=1)
    host = SwarmHost(ssh_host.name, ssh_host.hostvars(ccci_capacity=1))
    holder = try_slot(host, "test-holder")
    assert holder is not None, "the host's one slot is taken by another test's run"
    try:
        refused = ccci("run", "example-site", "--tiers", "install", "--inventory",
                       str(inventory), env={**remote_env, "CCCI_QUEUE_TIMEOUT": "3"})
        results = refused.results
        assert refused.rc == 3, refused.output[-3000:]
        assert "is full: 1 run(s) at once (ccci_capacity), held by test-holder" in \
            refused.output
        assert results["failure_kind"] == "infrastructure"
        assert results["tiers"]["install"]["status"] == "error"
        assert "stayed full" in results["tiers"]["install"]["reason"]
        assert run_objects(docker_client, results["run_id"]) == {}

        queued = subprocess.Popen(
            [sys.executable, "-m", "ccci.cli", "run", "example-site", "--tiers", "install",
             "--inventory", str(inventory)], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
                 "CCCI_RUNS_DIR": str(tmp_path / "queued"), "CCCI_QUEUE_TIMEOUT": "300",
                 **remote_env})
        wait_for_line(queued, "is full", timeout=120)
    finally:
        holder.release()
    output = queued.communicate(timeout=600)[0]
    assert queued.returncode == 0, output[-3000:]
    assert "a slot came free, run" in output
    [line] = [ln for ln in output.splitlines() if ln.startswith("results: ")]
    results = json.loads(Path(line.removeprefix("results: ")).read_text())
    assert results["tiers"]["install"]["status"] == "passed"
    assert run_objects(docker_client, results["run_id"]) == {}


def test_two_inventories_run_at_the_same_time(recipes_dir, ssh_host, tmp_path_factory,
                                              tmp_path, docker_client):
    """Two hosts (two sshd in front of this swarm), one inventory each, runs together."""
    other = start_ssh_host(tmp_path_factory.mktemp("otherhost"), "otherhost")
    try:
        inventories = [ssh_host.inventory(tmp_path / "a.yml"),
                       other.inventory(tmp_path / "b.yml")]
        env = {**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
               "DOCKER_HOST": NO_DOCKER}
        procs = [subprocess.Popen(
            [sys.executable, "-m", "ccci.cli", "run", "example-site", "--tiers", "install",
             "--inventory", str(inv)], cwd=ROOT, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env={**env, "CCCI_RUNS_DIR": str(tmp_path / inv.stem)})
            for inv in inventories]
        outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    finally:
        other.stop()
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
        [line] = [ln for ln in output.splitlines() if ln.startswith("results: ")]
        results = json.loads(Path(line.removeprefix("results: ")).read_text())
        assert results["tiers"]["install"]["status"] == "passed"
        assert run_objects(docker_client, results["run_id"], results["stack"]) == {}


def test_an_inventory_of_two_hosts_needs_the_host_named(ccci, ssh_host, tmp_path,
                                                        remote_env, docker_client):
    inventory = tmp_path / "two.yml"
    inventory.write_text(json.dumps({"swarm": {"hosts": {
        "one": ssh_host.hostvars(), "two": ssh_host.hostvars()}}}))
    refused = ccci("run", "example-site", "--tiers", "install", "--inventory", str(inventory),
                   env=remote_env)
    assert refused.rc == 2
    assert "has 2 swarm hosts (one, two): choose the one to deploy on with --host" in \
        refused.results["error"]
    unknown = ccci("run", "example-site", "--tiers", "install", "--inventory", str(inventory),
                   "--host", "three", env=remote_env)
    assert unknown.rc == 2 and "three is not a host of group swarm" in unknown.results["error"]

    # The CI config's overlay is copied to the remote host and applied.
    config = tmp_path / "config"
    shutil.copytree(ROOT / "recipes" / "example-site", config / "example-site")
    (config / "example-site" / "compose.ccci.yml").write_text(
        'version: "3.8"\nservices:\n  app:\n    deploy:\n      labels:\n'
        '        ccci.test.overlay: "copied to the remote host"\n')
    chosen = ccci("run", "example-site", "--tiers", "install", "--inventory", str(inventory),
                  "--host", "two", "--keep", env={**remote_env, "CCCI_CONFIG_DIR": str(config)})
    assert chosen.rc == 0, chosen.output[-3000:]
    played = "".join(path.read_text() for path in
                     Path(chosen.results["run_dir"]).glob("ansible/artifacts/*/stdout"))
    assert "[two]" in played and "[one]" not in played
    [entry] = [r.entry for r in active_runs.runs() if r.entry.run_id == chosen.run_id]
    assert entry.host == f"{inventory.resolve()}#two" and entry.kept
    [service] = docker_client.services.list(filters={"name": f"{chosen.results['stack']}_app"})
    assert service.attrs["Spec"]["Labels"]["ccci.test.overlay"] == "copied to the remote host"

    # Torn down by id alone: the registry knows the inventory and the host.
    teardown = subprocess.run(
        [sys.executable, "-m", "ccci.cli", "teardown", chosen.run_id], cwd=tmp_path,
        env={**os.environ, **remote_env}, capture_output=True, text=True, timeout=600,
        check=False)
    assert teardown.returncode == 0, teardown.stdout + teardown.stderr
    assert run_objects(docker_client, chosen.run_id) == {}
    assert _host_folder_gone(ssh_host, chosen.run_id)


def test_preparing_a_prepared_host_over_ssh_changes_nothing(ssh_host, tmp_path):
    """The README's ``prepare-host.yml`` over SSH: it runs through, and on this host
    (prepared by scripts/prepare) finds everything in place."""
    inventory = ssh_host.inventory(tmp_path / "inventory.yml")
    env = {**os.environ, "DOCKER_HOST": NO_DOCKER, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    played = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), "playbooks/prepare-host.yml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert played.returncode == 0, played.stdout[-4000:] + played.stderr[-2000:]
    [recap] = [ln for ln in played.stdout.splitlines() if ln.startswith(ssh_host.name + " ")]
    assert "changed=0" in recap and "failed=0" in recap and "unreachable=0" in recap, recap


def test_a_host_whose_key_is_unknown_is_not_reached(ssh_host, tmp_path):
    """ansible.cfg checks host keys; ansible-runner would turn that off for every stage
    and ad hoc run unless ccci says otherwise. An empty known_hosts file (and no
    prompt) must leave the host unreachable, never connected to. No shared master
    connection: an earlier test's would skip the key check."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inventory = tmp_path / "inventory.yml"
    hostvars = ssh_host.hostvars(
        ansible_ssh_args="-o ControlMaster=no",
        ansible_ssh_common_args=f"-o UserKnownHostsFile={empty} -o BatchMode=yes")
    inventory.write_text(json.dumps({"swarm": {"hosts": {ssh_host.name: hostvars}}}))
    result = run_module("ansible.builtin.ping", {}, project_root=ROOT, host=ssh_host.name,
                        inventory=str(inventory))
    assert result["failed"] and result.get("unreachable"), result
    assert "Host key verification failed" in result["msg"], result["msg"]
    assert empty.read_text() == "", "the unknown key was accepted"
