"""Compose interpolation as ``docker stack deploy`` does it, not as docker compose does.

ccci deploys with ``docker stack deploy``, whose template package (docker/cli) has no
nested defaults: ``${A:-${B}}`` deploys as ``${B}`` or as A's value plus ``}``. The
expected values below were checked against ``docker stack config`` (docker 28); the
contract test in tests/integration/test_interpolation_contract.py re-checks them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ccci.compose import _Refused, docker_interpolate, read_compose_file
from ccci.errors import BadInput

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
    with pytest.raises(_Refused, match="required variable A is empty: set A"):
        docker_interpolate("${A:?set A}", {"A": ""}, set())


@pytest.mark.parametrize("text", NESTED)
@pytest.mark.parametrize("env", [{}, {"A": ""}, {"A": "a", "B": "b"}])
def test_nested_defaults_are_refused_whatever_the_values(text, env):
    """Docker deploys them verbatim (``${B}``, ``a}``): a plan must not pretend otherwise."""
    with pytest.raises(_Refused, match="docker stack deploy does not expand it"):
        docker_interpolate(text, env, set())


def test_unset_variables_without_default_are_collected():
    unset: set[str] = set()
    docker_interpolate("${X} $Y ${Z:-z} ${R?need R} ${S:?need S} $${E}", {}, unset)
    assert unset == {"X", "Y", "R", "S"}


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
