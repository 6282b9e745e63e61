"""ccci's compose interpolation agrees with the docker CLI it deploys with.

``docker stack config`` (docker CLI 25+) prints a stack's compose after interpolation
without deploying anything, so every case of the unit tests is replayed against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_compose import DEPLOYED, NESTED, REFUSED

pytestmark = pytest.mark.integration


def docker_label(tmp_path: Path, text: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``docker stack config`` on one label ``l`` whose value is ``text``."""
    docker = shutil.which("docker")
    assert docker, "the docker CLI is needed"
    compose = tmp_path / "compose.yml"
    compose.write_text(yaml.safe_dump({"services": {"app": {
        "image": "example/app:1", "deploy": {"labels": {"l": text}}}}}))
    return subprocess.run(
        [docker, "stack", "config", "-c", str(compose)],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **env},
        capture_output=True, text=True, check=False,
    )


def deployed_label(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)["services"]["app"]["deploy"]["labels"]["l"]


@pytest.mark.parametrize(("text", "env", "deployed"), DEPLOYED)
def test_docker_deploys_what_ccci_plans(tmp_path, text, env, deployed):
    assert deployed_label(docker_label(tmp_path, text, env)) == deployed


@pytest.mark.parametrize("text", REFUSED)
def test_docker_refuses_what_ccci_refuses(tmp_path, text):
    out = docker_label(tmp_path, text, {"A": "a"})
    assert out.returncode != 0 and "invalid interpolation format" in out.stderr


@pytest.mark.parametrize("text", NESTED)
def test_docker_deploys_nested_defaults_verbatim(tmp_path, text):
    """Why ccci refuses them: the deployed value is never B's."""
    assert deployed_label(docker_label(tmp_path, text, {"B": "b"})) in ("${B}", "${B:-c}", "$B")
    assert "b" not in deployed_label(docker_label(tmp_path, text, {"A": "a", "B": "b"}))
