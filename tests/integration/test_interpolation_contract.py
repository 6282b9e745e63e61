"""ccci's compose interpolation agrees with the docker CLI it deploys with.

``docker stack config`` (docker CLI 25+) prints a stack's compose after interpolation
without deploying anything, so every case of the unit tests is replayed against it.
What a blank breaks is checked against Docker too: the port formats ``docker stack
config`` refuses, and the image references ``docker tag`` (a local operation) refuses,
as ``docker stack deploy`` would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ccci.compose import read_compose_file
from ccci.compose_checks import valid_image, valid_port_spec
from ccci.findings import Findings
from tests.unit.test_compose import DEPLOYED, NESTED, REFUSED, REQUIRED

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


@pytest.mark.parametrize(("text", "env", "message"), REQUIRED)
def test_docker_refuses_a_missing_required_variable_with_its_message(tmp_path, text, env,
                                                                       message):
    out = docker_label(tmp_path, text, env)
    assert out.returncode != 0 and message in out.stderr, out.stderr


def test_docker_deploys_an_unset_variable_as_a_blank(tmp_path):
    text = "Host(`d`${EXTRA_DOMAINS})"
    assert deployed_label(docker_label(tmp_path, text, {})) == "Host(`d`)"


PORTS = [":80", "8080:", "abc", "8080:80", "127.0.0.1::80", "80-81:80-81", "8080:80/udp",
         "x:80", "127.0.0.1:8080:80/tcp", ""]


@pytest.mark.parametrize("spec", PORTS)
def test_docker_refuses_exactly_the_ports_ccci_refuses(tmp_path, spec):
    compose = tmp_path / "compose.yml"
    compose.write_text(yaml.safe_dump({"services": {"app": {"image": "x", "ports": [spec]}}}))
    out = subprocess.run(["docker", "stack", "config", "-c", str(compose)],
                         env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")},
                         capture_output=True, text=True, check=False)
    assert (out.returncode == 0) == valid_port_spec(spec), out.stderr


IMAGES = ["ccci-contract/app:", "ccci-contract/app", "Ccci/app:1", "ccci-contract/app:1.0-x",
          "127.0.0.1:5000/ccci-contract/app:1", ":1", "ccci-contract//app:1",
          "ccci-contract/app:-1", "ccci-contract_/app:1", "localhost/ccci-contract:1"]


@pytest.mark.parametrize("image", IMAGES)
def test_docker_refuses_exactly_the_images_ccci_refuses(docker_client, image):
    """``docker tag`` parses the reference as deploy does; the tag is removed again."""
    out = subprocess.run(["docker", "tag", "ccci-example/base:bookworm", image],
                         capture_output=True, text=True, check=False)
    if out.returncode == 0:
        subprocess.run(["docker", "rmi", image], capture_output=True, check=True)
    assert (out.returncode == 0) == valid_image(image), out.stderr


@pytest.mark.parametrize("port", [{"target": "${P}", "published": 80},
                                  {"target": 80, "published": "${P}"},
                                  {"target": "${Q}", "published": "${Q}"}])
def test_docker_refuses_a_blank_long_syntax_port_as_ccci_does(tmp_path, port):
    compose = tmp_path / "compose.yml"
    compose.write_text(yaml.safe_dump({"services": {"app": {"image": "x", "ports": [port]}}}))
    env = {"Q": "8080"}
    out = subprocess.run(["docker", "stack", "config", "-c", str(compose)],
                         env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"),
                              **env}, capture_output=True, text=True, check=False)
    findings = Findings()
    read_compose_file(tmp_path, "compose.yml", env, findings)
    assert (out.returncode == 0) == (not findings.errors), (out.stderr, findings.items)
