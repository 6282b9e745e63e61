"""ccci.recipe.stack_revisions on a real swarm: deploying the same compose again changes
nothing Docker records; changing one value is named, field by field."""

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
    environment:
      - GREETING=@GREETING@
    stop_grace_period: 1s
"""


def _revisions(stack: str, since: dict | None = None) -> dict:
    args = {"stack": stack, **({"since": since} if since else {})}
    result = run_module("ccci.recipe.stack_revisions", args, project_root=REPO)
    assert not result["failed"], result
    return result


def _wait_running(stack: str, timeout: float = 60) -> None:
    result = run_module("ccci.recipe.stack_converge", {"stack": stack, "timeout": timeout},
                        project_root=REPO)
    assert not result["failed"], result


def test_a_redeploy_of_the_same_compose_is_a_no_op_and_a_change_is_named(
        docker_client, tmp_path):
    stack = f"cccit_revisions_{uuid.uuid4().hex[:8]}"
    try:
        deploy_stack(stack, COMPOSE.replace("@GREETING@", "hello"), tmp_path)
        _wait_running(stack)
        first = _revisions(stack)
        assert list(first["revisions"]) == [f"{stack}_app"]
        assert len(first["revisions"][f"{stack}_app"]["tasks"]) == 1

        deploy_stack(stack, COMPOSE.replace("@GREETING@", "hello"), tmp_path)
        _wait_running(stack)
        again = _revisions(stack, since=first["revisions"])
        assert again["changes"] == []

        deploy_stack(stack, COMPOSE.replace("@GREETING@", "bonjour"), tmp_path)
        _wait_running(stack)
        changed = _revisions(stack, since=again["revisions"])
        assert changed["changes"] == [{"service": f"{stack}_app",
                                       "fields": ["TaskTemplate.ContainerSpec.Env"],
                                       "tasks_replaced": True}]
    finally:
        remove_stack(stack)
