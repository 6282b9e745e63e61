"""A CI host shared by many runs: no run touches another's app, and ports never collide."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ccci.context import load_run
from ccci.throwaway import deploy_stack, remove_stack
from tests.integration.helpers import app_get, run_objects, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _teardown(run_dir: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["ansible-playbook", "playbooks/teardown.yml", "-e", f"run_dir={run_dir}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_a_second_run_with_the_same_domain_leaves_the_first_app_and_its_data(ccci,
                                                                              docker_client):
    first = ccci("run", "example-site", "--tiers", "install", "--keep")
    assert first.rc == 0, first.output
    context = load_run(Path(first.results["run_dir"]))
    try:
        [service] = docker_client.services.list(filters={"label": f"ccci.run={first.run_id}"})
        version_before = service.attrs["Version"]["Index"]
        witness = secrets.token_hex(16)
        [container] = docker_client.containers.list(
            filters={"label": f"com.docker.swarm.service.id={service.id}"})
        wrote = container.exec_run(["sh", "-c", f"echo {witness} > /var/www/html/witness.txt"])
        assert wrote.exit_code == 0, wrote.output

        second = ccci("run", "example-site", "--tiers", "install", "--domain", context.domain)
        install = second.results["tiers"]["install"]
        assert install["status"] == "failed" and "already exists" in install["reason"], install
        assert second.results["teardown"]["status"] == "passed"
        # A stack already on the host is the shared host's state, not the recipe's fault.
        assert install["failure_kind"] == "infrastructure" and second.rc == 3

        service.reload()
        assert service.attrs["Version"]["Index"] == version_before  # not redeployed
        page = app_get(first.results["run_dir"], "/witness.txt")
        assert page.status_code == 200 and page.text.strip() == witness
        assert run_objects(docker_client, second.run_id) == {}
    finally:
        teardown = _teardown(first.results["run_dir"])
    assert teardown.returncode == 0, teardown.stdout[-3000:]
    assert run_objects(docker_client, context.run_id, context.stack) == {}


def test_five_runs_started_together_get_five_ports_and_all_pass(recipes_dir, tmp_path,
                                                                 docker_client):
    """Direct ingress: each run leases a port of its own (through the proxy none does).
    The local inventory with room for all five beside the runs of parallel tests, which
    share the host's slots (the default ccci_capacity, 2, would queue three of them and
    their ports would be reused)."""
    local = yaml.safe_load((ROOT / "playbooks" / "inventory" / "local.yml").read_text())
    local["swarm"]["hosts"]["localhost"]["ccci_capacity"] = 10
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(local))
    env = {**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
           "CCCI_RUNS_DIR": str(tmp_path / "runs")}
    procs = [
        subprocess.Popen([sys.executable, "-m", "ccci.cli", "run", "example-site",
                          "--tiers", "install", "--ingress", "direct", "--inventory",
                          str(inventory)], cwd=ROOT, env=env,
                         text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(5)
    ]
    outputs = [proc.communicate(timeout=900)[0] for proc in procs]
    results = [
        json.loads(Path(line.removeprefix("results: ")).read_text())
        for output in outputs for line in output.splitlines() if line.startswith("results: ")
    ]
    assert len(results) == 5, outputs
    ports = {r["tiers"]["install"]["details"]["published_port"] for r in results}
    assert len(ports) == 5, ports
    for proc, output, result in zip(procs, outputs, results, strict=True):
        assert proc.returncode == 0, output[-3000:]
        assert result["tiers"]["install"]["status"] == "passed"
        assert run_objects(docker_client, result["run_id"], result["stack"]) == {}


def test_a_throwaway_stack_of_a_test_is_removed_whole(docker_client, tmp_path):
    """Test stacks carry no run label; their cleanup claims them (it once left them)."""
    stack = f"cccitw_{secrets.token_hex(4)}"
    deploy_stack(stack, THROWAWAY, tmp_path)
    remove_stack(stack)
    selector = {"label": f"com.docker.stack.namespace={stack}"}
    assert docker_client.services.list(filters=selector) == []
    assert docker_client.networks.list(filters=selector) == []


def test_a_teardown_kills_what_would_sit_out_its_stop_grace_period(docker_client, tmp_path):
    """Nothing of a run is kept, so its containers are killed: a service that ignores
    SIGTERM with a 300 s stop grace period goes at once, with its volume. (The bound is
    a fifth of that period: the test proves no wait, it does not time the teardown.)"""
    stack = f"cccitw_{secrets.token_hex(4)}"
    selector = {"label": f"com.docker.stack.namespace={stack}"}
    deploy_stack(stack, STUBBORN, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not docker_client.containers.list(filters=selector):
            assert time.monotonic() < deadline, "the stubborn service never started"
            time.sleep(0.5)
    finally:
        started = time.monotonic()
        remove_stack(stack)
        took = time.monotonic() - started
    assert took < 60, f"the teardown took {took:.1f} s: it waited for the grace period"
    assert docker_client.containers.list(all=True, filters=selector) == []
    assert docker_client.volumes.list(filters=selector) == []


STUBBORN = """
version: "3.8"
services:
  stubborn:
    image: ccci-example/base:bookworm
    command: ["sh", "-c", "trap '' TERM INT; while :; do sleep 1; done"]
    stop_grace_period: 300s
    volumes:
      - data:/data
volumes:
  data:
"""


THROWAWAY = """
version: "3.8"
services:
  idle:
    image: ccci-example/base:bookworm
    command: ["sleep", "300"]
"""


def _run_resources_module():
    """The teardown module's code, to ask its question of the real swarm directly."""
    if str(ROOT / "collections") not in sys.path:
        sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.ccci.recipe.plugins.modules import run_resources

    return run_resources


def test_a_teardown_stops_waiting_only_when_no_task_can_still_make_a_container(
        docker_client, tmp_path):
    """Containers of a run count as gone at once only when every swarm task of it has
    made its container: a task no node can take yet (pending) may make one later, so it
    keeps the wait; a running task, even after its service is removed, cannot."""
    run_resources = _run_resources_module()
    running, waiting = (f"cccitw_{secrets.token_hex(4)}" for _ in range(2))
    try:
        deploy_stack(running, THROWAWAY, tmp_path)
        deploy_stack(waiting, NOWHERE, tmp_path)
        on = {stack: [f"com.docker.stack.namespace={stack}"] for stack in (running, waiting)}

        def states(stack: str) -> list[str]:
            tasks = docker_client.api.tasks(filters={"label": on[stack][0]})
            return [task["Status"]["State"] for task in tasks]

        wait_until(lambda: states(running) == ["running"], "idle task running", 120)
        wait_until(lambda: states(waiting) == ["pending"], "unplaceable task pending", 120)
        assert not run_resources._may_make_containers(docker_client, on[running])
        assert run_resources._may_make_containers(docker_client, on[waiting])

        for service in docker_client.services.list(filters={"label": on[running][0]}):
            service.remove()
        assert states(running), "the removed service's task is no longer listed"
        assert not run_resources._may_make_containers(docker_client, on[running])
    finally:
        for stack in (running, waiting):
            remove_stack(stack)
    for stack in (running, waiting):
        selector = {"label": f"com.docker.stack.namespace={stack}"}
        assert docker_client.containers.list(all=True, filters=selector) == []


NOWHERE = """
version: "3.8"
services:
  nowhere:
    image: ccci-example/base:bookworm
    command: ["sleep", "300"]
    deploy:
      placement:
        constraints: ["node.labels.ccci-test-no-such-label == yes"]
"""
