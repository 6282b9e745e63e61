"""What ccci needs to know about a recipe's compose files, read without Docker.

The harness must find problems before deploying (a missing file, invalid YAML, a
blank variable that breaks the deploy) and must learn which service serves HTTP on
which port (the traefik ``loadbalancer.server.port`` label) to publish it on
loopback. Values are
interpolated exactly as ``docker stack deploy`` will (not as docker compose would),
so what ccci plans with is what gets deployed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ccci.compose_checks import PORT_LABEL, value_findings
from ccci.compose_merge import merge_service
from ccci.findings import Findings, problem

SECTIONS = ("services", "volumes", "networks", "secrets", "configs")
# The pattern of docker/cli's cli/compose/template package, which ``docker stack
# deploy`` interpolates with. Unlike docker compose it has no nesting: a default ends
# at the first ``}`` and is used verbatim, and ``$NAME-x`` reads as ``${NAME-x}``.
_DOCKER_SUBST = r"[_a-z][_a-z0-9]*(?::?[-?][^}]*)?"
_DOCKER_VAR = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>" + _DOCKER_SUBST + r")|\{(?P<braced>"
    + _DOCKER_SUBST + r")\}|(?P<invalid>))"
)


@dataclass
class ComposeProject:
    """The merged view of a recipe's compose files after interpolation."""

    files: list[Path]
    version: str
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)


def labels_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's deploy labels as a dict, whichever of the two compose forms it uses."""
    raw = (service.get("deploy") or {}).get("labels") or {}
    if isinstance(raw, list):
        pairs = (str(item).split("=", 1) for item in raw)
        return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


class _Refused(ValueError):
    """Text ``docker stack deploy`` refuses, or would deploy other than meant.

    ``rule`` is the finding it becomes (``ccci.findings``).
    """

    rule = "interp.invalid"


class _Nested(_Refused):
    """A default with a variable in it, which docker deploys verbatim."""

    rule = "interp.nested-default"


class _Required(_Refused):
    """``${VAR?msg}`` / ``${VAR:?msg}`` without a value: docker stops with ``msg``."""

    rule = "interp.required"


def _docker_default(text: str, substitution: str, sep: str, env: Mapping[str, str]) -> str:
    """``NAME:-default`` / ``NAME-default``, refusing a default docker would not expand."""
    name, default = substitution.split(sep, 1)
    if "$" in default:
        raise _Nested(
            f"{text!r} uses a variable inside the default of {name}; docker stack deploy "
            f"does not expand it and would deploy {default!r} literally "
            "(set the default in .env.sample instead)"
        )
    value = env.get(name)
    return default if value is None or (sep == ":-" and value == "") else value


def _docker_required(substitution: str, sep: str, env: Mapping[str, str]) -> str:
    """``NAME:?message`` / ``NAME?message``: refused, carrying the message, when unset."""
    name, message = substitution.split(sep, 1)
    value = env.get(name)
    if value is None or (sep == ":?" and value == ""):
        # Docker's words, empty or unset alike.
        raise _Required(f"required variable {name} is missing a value: {message}")
    return value


def _docker_value(text: str, substitution: str, env: Mapping[str, str],
                  unset: set[str]) -> str:
    # docker/cli tries its substitution functions in this order, by substring.
    for sep in (":-", "-"):
        if sep in substitution:
            return _docker_default(text, substitution, sep, env)
    for sep in (":?", "?"):
        if sep in substitution:
            return _docker_required(substitution, sep, env)
    if substitution not in env:
        unset.add(substitution)
    return env.get(substitution, "")


def docker_interpolate(text: str, env: Mapping[str, str], unset: set[str]) -> str:
    """``text`` as ``docker stack deploy`` interpolates it from the environment ``env``.

    A port of docker/cli's template substitution, so ccci plans with the values that
    will be deployed: ``${A:-d}`` when A is unset or empty, ``${A-d}`` when unset,
    ``${A:?msg}``/``${A?msg}`` required. Variables used without a default and not in
    ``env`` become a blank string, as in Docker, and are added to ``unset`` so the
    caller can warn. Raises _Refused where docker refuses the text (a required
    variable missing too), and for a default containing ``$``: docker deploys
    ``${A:-${B}}`` as ``${B}`` or as A's value plus ``}``, never as B.
    """

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        substitution = match["named"] or match["braced"]
        if not substitution:
            raise _Refused(f"invalid interpolation format {text!r} (write $$ for a literal $)")
        return _docker_value(text, substitution, env, unset)

    return _DOCKER_VAR.sub(substitute, text)


@dataclass
class Interpolated:
    """What interpolating one file found: blanks by path, and refused strings."""

    blanks: dict[str, list[str]] = field(default_factory=dict)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # rule, path, message


def _interpolate(node: Any, env: Mapping[str, str], seen: Interpolated, path: str) -> Any:
    """Interpolate every string value (not keys, as docker does), noting what happened.

    A refused string is kept as written and noted with its ``path``, so every problem
    of a file is found in one pass; an unset variable is noted under its path.
    """
    if isinstance(node, str):
        unset: set[str] = set()
        try:
            value = docker_interpolate(node, env, unset)
        except _Refused as exc:
            seen.refused.append((exc.rule, path, str(exc)))
            return node
        if unset:
            seen.blanks[path] = sorted(unset)
        return value
    if isinstance(node, list):
        return [_interpolate(item, env, seen, f"{path}[{i}]") for i, item in enumerate(node)]
    if isinstance(node, dict):
        return {
            key: _interpolate(value, env, seen, f"{path}.{key}" if path else str(key))
            for key, value in node.items()
        }
    return node


def _load_yaml(recipe_dir: Path, name: str) -> dict[str, Any]:
    """The file's YAML as a mapping; RecipeProblem (compose.file) naming what is wrong."""
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise problem("compose.file", f"compose file {name!r} is outside the recipe",
                      file=name)
    path = recipe_dir / name
    if not path.is_file():
        raise problem("compose.file", f"compose file {name} not found in the recipe "
                      "(from COMPOSE_FILE)", file=name, key="COMPOSE_FILE")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise problem("compose.file", f"compose file {name} is not valid YAML: {exc}",
                      file=name) from None
    if not isinstance(data, dict):
        raise problem("compose.file", f"compose file {name} is not a YAML mapping", file=name)
    for section in SECTIONS:
        if not isinstance(data.get(section) or {}, dict):
            raise problem("compose.file", f"compose file {name}: '{section}' must be a "
                          "mapping", file=name, key=section)
    return data


def read_compose_file(recipe_dir: Path, name: str, env: Mapping[str, str],
                      findings: Findings | None = None) -> dict[str, Any]:
    """One compose file of the recipe, checked and interpolated with ``env``.

    Raises RecipeProblem naming the file when it cannot be read (outside the recipe,
    missing, invalid YAML, a section of the wrong shape). What interpolation finds
    (refused text, blanks that break the deploy, unset variables) goes to
    ``findings``; without ``findings`` any error among it is raised at once.
    """
    data = _load_yaml(recipe_dir, name)
    seen = Interpolated()
    data = _interpolate(data, env, seen, "")
    found = findings if findings is not None else Findings()
    for rule, path, message in seen.refused:
        found.add(rule, f"compose file {name}: {path}: {message}", file=name, key=path)
    found.extend(value_findings(name, data, seen.blanks))
    if findings is None:
        found.raise_errors()
    return data


def load_compose(
    recipe_dir: Path, compose_files: list[str], env: Mapping[str, str],
    findings: Findings | None = None,
) -> ComposeProject:
    """Read and merge ``compose_files`` in order, as ``docker stack deploy -c ...`` would.

    Findings of each file go to ``findings``; without it, errors are raised at once.
    """
    if not compose_files:
        raise problem("compose.file", "COMPOSE_FILE names no compose file", key="COMPOSE_FILE")
    found = findings if findings is not None else Findings()
    project: ComposeProject | None = None
    for name in compose_files:
        data = read_compose_file(recipe_dir, name, env, found)
        if project is None:
            if not data.get("services"):
                raise problem("compose.file", f"compose file {name} defines no services",
                              file=name, key="services")
            project = ComposeProject(files=[], version=str(data.get("version", "3.8")))
        for section in SECTIONS:
            target = getattr(project, section)
            for key, value in (data.get(section) or {}).items():
                if section == "services":
                    target[key] = merge_service(target.get(key, {}), value or {})
                else:
                    target.setdefault(key, {})
                    _merge(target[key], value or {})
        project.files.append(recipe_dir / name)
    if findings is None:
        found.raise_errors()
    assert project is not None
    return project


def http_endpoint(project: ComposeProject) -> tuple[str, int] | None:
    """The service and container port that serve HTTP, from the traefik port label.

    None for a recipe without one (a runner, a bot): Docker deploys it, and its checks
    prove convergence and data but not HTTP.
    """
    found = []
    for name, service in project.services.items():
        for label, value in labels_of(service).items():
            if PORT_LABEL.match(label):
                if not value.isdigit():
                    raise problem("compose.port", f"service {name}: {label}={value!r} is not "
                                  "a port number", key=f"services.{name}.deploy.labels")
                found.append((name, int(value)))
    return found[0] if found else None


NO_HTTP = ("no service has a traefik.http.services.<name>.loadbalancer.server.port label: "
           "nothing serves HTTP, so the checks prove convergence and data, not HTTP")
