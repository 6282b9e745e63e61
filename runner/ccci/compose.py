"""What ccci needs to know about a recipe's compose files, read without Docker.

The harness must find problems before deploying (a missing file, invalid YAML, a
variable nothing sets) and must learn which service serves HTTP on which port (the
traefik ``loadbalancer.server.port`` label) to publish it on loopback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ccci.envfile import expand, variables_used
from ccci.errors import BadInput

SECTIONS = ("services", "volumes", "networks", "secrets", "configs")
_PORT_LABEL = re.compile(r"^traefik\.http\.services\.[^.]+\.loadbalancer\.server\.port$")


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


def _interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return expand(node, env)
    if isinstance(node, list):
        return [_interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate(value, env) for key, value in node.items()}
    return node


def _strings_variables(node: Any) -> set[str]:
    """Variables the YAML's strings need (comments in the file do not count)."""
    if isinstance(node, str):
        return variables_used(node)
    if isinstance(node, list):
        return set().union(*map(_strings_variables, node)) if node else set()
    if isinstance(node, dict):
        found: set[str] = set()
        for key, value in node.items():
            found |= _strings_variables(key) | _strings_variables(value)
        return found
    return set()


def read_compose_file(recipe_dir: Path, name: str, env: Mapping[str, str]) -> dict[str, Any]:
    """One compose file of the recipe, checked and interpolated with ``env``.

    Raises BadInput naming the file: outside the recipe, missing, invalid YAML, a
    section of the wrong shape, or variables that ``env`` does not set.
    """
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise BadInput(f"compose file {name!r} is outside the recipe")
    path = recipe_dir / name
    if not path.is_file():
        raise BadInput(f"compose file {name} not found in the recipe (from COMPOSE_FILE)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BadInput(f"compose file {name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"compose file {name} is not a YAML mapping")
    unset = sorted(v for v in _strings_variables(data) if v not in env)
    if unset:
        raise BadInput(
            f"compose file {name} needs {', '.join(unset)}, which nothing sets "
            "(.env.sample, abra.sh, or the recipe's EXTRA_ENV)"
        )
    for section in SECTIONS:
        if not isinstance(data.get(section) or {}, dict):
            raise BadInput(f"compose file {name}: '{section}' must be a mapping")
    return _interpolate(data, env)


def load_compose(
    recipe_dir: Path, compose_files: list[str], env: Mapping[str, str]
) -> ComposeProject:
    """Read and merge ``compose_files`` in order, as ``docker stack deploy -c ...`` would."""
    if not compose_files:
        raise BadInput("COMPOSE_FILE names no compose file")
    project: ComposeProject | None = None
    for name in compose_files:
        data = read_compose_file(recipe_dir, name, env)
        if project is None:
            if not data.get("services"):
                raise BadInput(f"compose file {name} defines no services")
            project = ComposeProject(files=[], version=str(data.get("version", "3.8")))
        for section in SECTIONS:
            target = getattr(project, section)
            for key, value in (data.get(section) or {}).items():
                target.setdefault(key, {})
                _merge(target[key], value or {})
        project.files.append(recipe_dir / name)
    assert project is not None
    return project


def http_endpoint(project: ComposeProject) -> tuple[str, int]:
    """The service and container port that serve HTTP, from the traefik port label."""
    found = []
    for name, service in project.services.items():
        for label, value in labels_of(service).items():
            if _PORT_LABEL.match(label):
                if not value.isdigit():
                    raise BadInput(f"service {name}: {label}={value!r} is not a port number")
                found.append((name, int(value)))
    if not found:
        raise BadInput(
            "no service has a traefik.http.services.<name>.loadbalancer.server.port label, "
            "so ccci cannot tell which port serves HTTP"
        )
    return found[0]
