"""Compose interpolation as ``docker stack deploy`` does it, not as docker compose does.

ccci deploys with ``docker stack deploy``, whose template package (docker/cli) has no
nested defaults: ``${A:-${B}}`` deploys as ``${B}`` or as A's value plus ``}``. The
expected values below were checked against ``docker stack config`` (docker 28); the
contract test in tests/integration/test_interpolation_contract.py re-checks them.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from ccci.compose import _Refused, _Required, docker_interpolate, read_compose_file
from ccci.errors import BadInput
from ccci.findings import Findings

# (text, env, what docker stack deploy deploys)
DEPLOYED = [
    ("${A:-dflt}", {}, "dflt"),
    ("${A:-dflt}", {"A": ""}, "dflt"),
    ("${A:-dflt}", {"A": "a"}, "a"),
    ("${A-dflt}", {}, "dflt"),
    ("${A-dflt}", {"A": ""}, ""),
    ("${A-dflt}", {"A": "a"}, "a"),
    ("${A?oops}", {"A": ""}, ""),
    ("${A:-a}b}", {}, "ab}"),
    ("${A-{x}}", {"A": ""}, "}"),
    ("$A-x", {}, "x"),
    ("$A-x", {"A": ""}, ""),
    ("$A-x", {"A": "a"}, "a"),
    ("$$A ${A}", {"A": "a"}, "$A a"),
    ("coop-cloud.${STACK_NAME}.timeout=${TIMEOUT:-120}", {"STACK_NAME": "s"},
     "coop-cloud.s.timeout=120"),
]
REFUSED = ["$1", "${A:+x}", "${A", "cost 5$", "${1}"]
NESTED = ["${A:-${B}}", "${A:-${B:-c}}", "${A-${B}}", "${A:-$B}", "$A-$B"]


@pytest.mark.parametrize(("text", "env", "deployed"), DEPLOYED)
def test_values_match_docker_stack_deploy(text, env, deployed):
    assert docker_interpolate(text, env, set()) == deployed


@pytest.mark.parametrize("text", REFUSED)
def test_what_docker_refuses_is_refused(text):
    with pytest.raises(_Refused, match="invalid interpolation format"):
        docker_interpolate(text, {"A": "a"}, set())


def test_a_required_variable_set_empty_is_refused():
    with pytest.raises(_Refused, match="required variable A is missing a value: set A"):
        docker_interpolate("${A:?set A}", {"A": ""}, set())


@pytest.mark.parametrize("text", NESTED)
@pytest.mark.parametrize("env", [{}, {"A": ""}, {"A": "a", "B": "b"}])
def test_nested_defaults_are_refused_whatever_the_values(text, env):
    """Docker deploys them verbatim (``${B}``, ``a}``): a plan must not pretend otherwise."""
    with pytest.raises(_Refused, match="docker stack deploy does not expand it"):
        docker_interpolate(text, env, set())


def test_unset_variables_without_default_are_blank_and_collected():
    unset: set[str] = set()
    assert docker_interpolate("${X}|$Y|${Z:-z}|$${E}", {}, unset) == "||z|${E}"
    assert unset == {"X", "Y"}


# (text, env, docker's error text): a required variable stops the deploy with its message.
REQUIRED = [
    ("${R?need R}", {}, "required variable R is missing a value: need R"),
    ("${R:?need R}", {}, "required variable R is missing a value: need R"),
    ("${R:?need R}", {"R": ""}, "required variable R is missing a value: need R"),
]


@pytest.mark.parametrize(("text", "env", "message"), REQUIRED)
def test_a_required_variable_missing_is_refused_with_its_message(text, env, message):
    with pytest.raises(_Required, match=re.escape(message)):
        docker_interpolate(text, env, set())


def _compose(tmp_path: Path, labels: list[str]) -> Path:
    body = textwrap.dedent("""\
        services:
          app:
            image: example/app:1
            deploy:
              labels: []
    """)
    (tmp_path / "compose.yml").write_text(body.replace("[]", repr(labels)))
    return tmp_path


def test_a_nested_default_in_a_compose_file_is_bad_input_naming_where(tmp_path):
    recipe = _compose(tmp_path, ["ok=${A:-x}", "bad=${A:-${B}}"])
    with pytest.raises(BadInput, match=r"compose file compose.yml: services\.app\.deploy"
                                       r"\.labels\[1\]: .*does not expand it"):
        read_compose_file(recipe, "compose.yml", {"B": "b"})


def test_keys_are_not_interpolated(tmp_path):
    (tmp_path / "compose.yml").write_text("services:\n  app:\n    ${UNSET}: 1\n    image: x\n")
    data = read_compose_file(tmp_path, "compose.yml", {})
    assert data["services"]["app"] == {"${UNSET}": 1, "image": "x"}


ROUTER = "traefik.http.routers.${STACK_NAME}.rule=Host(`${DOMAIN}`${EXTRA_DOMAINS})"


def _findings(tmp_path: Path, body: str, env: dict[str, str]) -> Findings:
    (tmp_path / "compose.yml").write_text(textwrap.dedent(body))
    findings = Findings()
    read_compose_file(tmp_path, "compose.yml", env, findings)
    return findings


def test_the_extra_domains_rule_is_a_blank_and_one_warning(tmp_path):
    (tmp_path / "compose.yml").write_text(yaml.safe_dump({"services": {"app": {
        "image": "x:1", "deploy": {"labels": [ROUTER, "b=${EXTRA_DOMAINS}"]}}}}))
    findings = Findings()
    data = read_compose_file(tmp_path, "compose.yml", {"STACK_NAME": "s", "DOMAIN": "d"},
                             findings)
    assert data["services"]["app"]["deploy"]["labels"][0] == (
        "traefik.http.routers.s.rule=Host(`d`)")
    [warning] = findings.items
    assert (warning.code, warning.file, warning.key) == ("CCCI-W201", "compose.yml",
                                                         "EXTRA_DOMAINS")
    assert warning.message == (
        "compose file compose.yml: EXTRA_DOMAINS is not set; docker stack deploy uses a blank "
        "string in services.app.deploy.labels[0], services.app.deploy.labels[1]")


BREAKING = """\
    services:
      app:
        image: ${REGISTRY}example/app:${TAG}
        ports: ["${PUBLISHED}:80", "8080:${TARGET}", {target: "${LONG}", published: 80}]
        deploy:
          labels:
            traefik.http.services.app.loadbalancer.server.port: "${HTTP_PORT}"
            traefik.http.routers.app.rule: "Host(`${DOMAIN}`${EXTRA_DOMAINS})"
    secrets:
      pw: {external: true, name: "${STACK_NAME}_pw_${SECRET_PW_VERSION}"}
    configs:
      conf: {name: "${CONF_NAME}", file: conf.txt}
"""


def test_a_blank_that_breaks_the_deploy_is_an_error_naming_the_variable(tmp_path):
    findings = _findings(tmp_path, BREAKING, {"DOMAIN": "d", "STACK_NAME": "s"})
    errors = {f.key: (f.code, f.message.split(": ", 2)[2]) for f in findings.errors}
    assert errors == {
        "services.app.image": ("CCCI-E205", "image 'example/app:' is not a valid reference "
                               "because REGISTRY, TAG are not set"),
        "services.app.ports[1]": ("CCCI-E206", "port '8080:' is not a number because TARGET "
                                  "is not set"),
        "services.app.ports[2].target": ("CCCI-E206", "port '' is not a number because LONG "
                                         "is not set"),
        "services.app.deploy.labels.traefik.http.services.app.loadbalancer.server.port": (
            "CCCI-E206", "traefik.http.services.app.loadbalancer.server.port='' is not a port "
            "number because HTTP_PORT is not set"),
        "secrets.pw.name": ("CCCI-E207", "external secret pw is named 's_pw_', not what was "
                            "meant because SECRET_PW_VERSION is not set"),
        "configs.conf.name": ("CCCI-E207", "config conf has an empty name because CONF_NAME "
                              "is not set"),
    }
    assert sorted(f.key for f in findings.warnings) == ["EXTRA_DOMAINS", "PUBLISHED"]


def test_without_findings_errors_are_raised_together(tmp_path):
    (tmp_path / "compose.yml").write_text(textwrap.dedent(BREAKING))
    with pytest.raises(BadInput) as raised:
        read_compose_file(tmp_path, "compose.yml", {})
    assert str(raised.value).count("CCCI-E20") == 6


@pytest.mark.parametrize("image", ["nginx", "nginx:1.25-alpine", "127.0.0.1:5000/a/b:1",
                                   "ccci-example/python:3.11", "a/b@sha256:" + "0" * 64])
def test_valid_images_pass(tmp_path, image):
    ports = "['8080:80', 80, '127.0.0.1::81/udp', '8000-8001:80-81']"
    body = f"services:\n  app:\n    image: {image}\n    ports: {ports}\n"
    assert _findings(tmp_path, body, {}).items == []
