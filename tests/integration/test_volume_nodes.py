"""ccci.recipe.volume_nodes on the local single-node swarm: every volume is on the node
ccci reaches, so backup and restore have nothing to refuse."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ccci.ansible import run_module
from ccci.throwaway import deploy_stack, remove_stack

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
COMPOSE = """\
version: "3.8"
services:
  app:
    image: ccci-example/base:bookworm
    command: ["sleep", "infinity"]
    volumes:
      - data:/data
    stop_grace_period: 1s
    deploy:
      labels:
        backupbot.backup: "true"
  cache:
    image: ccci-example/base:bookworm
    command: ["sleep", "infinity"]
    volumes:
      - cache:/cache
    stop_grace_period: 1s
  idle:
    image: ccci-example/base:bookworm
    command: ["sleep", "infinity"]
    stop_grace_period: 1s
volumes:
  data:
  cache:
"""


def test_every_volume_of_a_stack_is_reported_on_the_local_node(docker_client, tmp_path):
    stack = f"cccit_volnodes_{uuid.uuid4().hex[:8]}"
    local_id = docker_client.info()["Swarm"]["NodeID"]
    try:
        deploy_stack(stack, COMPOSE, tmp_path)
        converged = run_module("ccci.recipe.stack_converge", {"stack": stack, "timeout": 60},
                               project_root=REPO)
        assert not converged["failed"], converged
        result = run_module("ccci.recipe.volume_nodes", {"stack": stack, "reached_as": "ci"},
                            project_root=REPO)
        checked = run_module("ccci.recipe.volume_nodes", {"stack": stack}, project_root=REPO,
                             check=True)
    finally:
        remove_stack(stack)
    assert not result["failed"], result
    assert result["changed"] is False
    assert result["local_node"]["id"] == local_id
    # Neither the service without a volume nor the one backupbot does not back up.
    assert [(v["service"], v["volume"]) for v in result["volumes"]] == [
        (f"{stack}_app", f"{stack}_data")]
    for volume in result["volumes"]:
        assert volume["node_id"] == local_id and volume["local"] is True, volume
        assert volume["node_hostname"] == result["local_node"]["hostname"]
    assert result["elsewhere"] == []
    assert result["msg"].startswith(f"stack {stack}: every volume ({stack}_data) is on ci ")
    assert not checked["failed"] and checked["changed"] is False
    assert checked["volumes"] == result["volumes"]
