"""A deploy creates the recipe's secrets in its one preparation run (deploy_prepare,
through its action plugin, as the deploy role calls it): labelled with the run,
generated or read from the controller's environment, never again once the run has
them, none while the stack's namespace is taken, and no value in any result."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import pytest

from ccci.ansible import run_module

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
INSERTED = "CCCI_TEST_INSERTED_SECRET"


def _prepare(args: dict, *, check: bool = False) -> dict:
    return run_module("ccci.recipe.deploy_prepare", args, project_root=ROOT, check=check)


def _planned(run_id: str) -> list[dict]:
    """Two secrets as ccci plans them (ccci.deploy_env.SecretSpec)."""
    return [
        {"name": "db_password", "version": "v1", "docker_name": f"ccci_{run_id}_db_v1",
         "length": 24, "value_env": None},
        {"name": "api_key", "version": "v1", "docker_name": f"ccci_{run_id}_key_v1",
         "length": 32, "value_env": INSERTED},
    ]


def _run_secrets(docker_client, run_id: str) -> list[str]:
    return sorted(s.name for s in docker_client.secrets.list(
        filters={"label": f"ccci.run={run_id}"}))


def _remove_run_secrets(docker_client, run_id: str) -> None:
    for secret in docker_client.secrets.list(filters={"label": f"ccci.run={run_id}"}):
        secret.remove()


def test_the_secrets_the_run_lacks_are_created_once_and_no_value_is_shown(
        docker_client, tmp_path, monkeypatch):
    run_id = f"sec{uuid.uuid4().hex[:8]}"
    value = f"inserted-{secrets.token_hex(12)}"
    monkeypatch.setenv(INSERTED, value)
    planned = _planned(run_id)
    names = [spec["docker_name"] for spec in planned]
    args = {"run_id": run_id, "folder": str(tmp_path / "run"), "secrets": planned}
    try:
        checked = _prepare(args, check=True)
        assert not checked.get("failed"), checked
        assert checked["created"] == names and _run_secrets(docker_client, run_id) == []

        first = _prepare(args)
        assert not first.get("failed"), first
        assert first["created"] == names and first["changed"]
        assert _run_secrets(docker_client, run_id) == sorted(names)

        again = _prepare(args)
        assert again["created"] == [] and sorted(again["secrets"]) == sorted(names)
        assert not again["changed"]
        for result in (checked, first, again):
            assert value not in json.dumps(result)
    finally:
        _remove_run_secrets(docker_client, run_id)


def test_no_secret_is_created_while_the_stack_namespace_is_taken(docker_client, tmp_path,
                                                                 monkeypatch):
    run_id = f"sec{uuid.uuid4().hex[:8]}"
    stack = f"cccitaken_{run_id}"
    monkeypatch.setenv(INSERTED, "x" * 16)
    other = docker_client.networks.create(
        f"{stack}_default", driver="overlay",
        labels={"com.docker.stack.namespace": stack, "ccci.run": "someone-else"})
    try:
        result = _prepare({"run_id": run_id, "folder": str(tmp_path / "run"),
                           "stack": stack, "secrets": _planned(run_id)})
        assert not result.get("failed"), result
        assert result["namespace"]["networks"] == [other.name]
        assert result["created"] == [] and _run_secrets(docker_client, run_id) == []
    finally:
        other.remove()
        _remove_run_secrets(docker_client, run_id)


def test_an_inserted_value_that_is_not_set_fails_naming_the_variable(docker_client, tmp_path,
                                                                     monkeypatch):
    run_id = f"sec{uuid.uuid4().hex[:8]}"
    monkeypatch.delenv(INSERTED, raising=False)
    try:
        result = _prepare({"run_id": run_id, "folder": str(tmp_path / "run"),
                           "secrets": _planned(run_id)})
        assert result.get("failed") and INSERTED in result["msg"], result
        assert _run_secrets(docker_client, run_id) == []
        assert not (tmp_path / "run").exists()  # refused before the host was touched
    finally:
        _remove_run_secrets(docker_client, run_id)
