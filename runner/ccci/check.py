"""``ccci check``: everything that can be known about a recipe without deploying it.

Unlike a run, which stops at the first problem, the check collects every problem it
can find, so a maintainer fixes them in one pass.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ccci import git, paths
from ccci.compose import (
    ComposeProject,
    http_endpoint,
    labels_of,
    load_compose,
    read_compose_file,
)
from ccci.config import RecipeConfig, load_recipe_config
from ccci.config.loader import ConfigError
from ccci.context import env_overrides, find_recipe_repo
from ccci.deploy_env import build_env, compose_chain, declared_secrets
from ccci.errors import CcciError
from ccci.names import check_recipe_name
from ccci.versions import parse_version

CHECK_DOMAIN = "{recipe}-check.ccci.test"


def _attempt(problems: list[str], step: Callable[[], Any]) -> Any:
    """Run one check step; record its CcciError's problems and return None."""
    try:
        return step()
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None
    except CcciError as exc:
        problems.append(str(exc))
        return None


def _compose_problems(
    checkout: Path, chain: list[str], env: dict[str, str], problems: list[str]
) -> ComposeProject | None:
    files = [_attempt(problems, lambda n=name: read_compose_file(checkout, n, env))
             for name in chain]
    if any(f is None for f in files):
        return None
    project = _attempt(problems, lambda: load_compose(checkout, chain, env))
    if project is not None:
        _attempt(problems, lambda: http_endpoint(project))
    return project


def _secret_problems(project: ComposeProject, declared: dict[str, str], problems: list[str]):
    used = {
        str(spec.get("name")): key
        for key, spec in project.secrets.items()
        if spec.get("external")
    }
    for docker_name, name in declared.items():
        if docker_name not in used:
            problems.append(
                f"secret {name} is declared in .env.sample (SECRET_{name.upper()}_VERSION) "
                f"but no compose file uses it as an external secret named {docker_name}"
            )
    for docker_name, key in used.items():
        if docker_name not in declared:
            problems.append(
                f"compose secret {key} (external name {docker_name}) has no "
                f"SECRET_{key.upper()}_VERSION in .env.sample"
            )


def _version_problems(repo: Path, problems: list[str]) -> None:
    for tag in git.tags(repo):
        if parse_version(tag) is None:
            problems.append(
                f"tag {tag!r} is not a recipe version (<semver>+<upstream>, e.g. 1.0.0+1.22)"
            )
            continue
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"{tag}:compose.yml"],
            capture_output=True, text=True, check=False,
        )
        if shown.returncode != 0:
            continue
        try:
            data = yaml.safe_load(shown.stdout) or {}
        except yaml.YAMLError:
            problems.append(f"compose.yml at tag {tag} is not valid YAML")
            continue
        for service_name, service in (data.get("services") or {}).items():
            for label, value in labels_of(service or {}).items():
                if label.startswith("coop-cloud.") and label.endswith(".version") and value != tag:
                    problems.append(
                        f"tag {tag}: service {service_name} is labelled version {value!r}"
                    )


def _extra_env(config: RecipeConfig, domain: str, problems: list[str]) -> dict[str, str]:
    """EXTRA_ENV for the check's deploy environment, calling UPGRADE_EXTRA_ENV too.

    A callable that raises must show up in the check, not first in a run.
    """
    _attempt(problems, lambda: env_overrides(config, "UPGRADE_EXTRA_ENV", domain, op="check"))
    return _attempt(
        problems, lambda: env_overrides(config, "EXTRA_ENV", domain, op="check")
    ) or {}


def check_recipe(
    recipe: str, ref: str | None = None, *, repo: str | None = None,
    config_root: Path | None = None,
) -> list[str]:
    """Every problem with the recipe and its CI config; empty when all is well."""
    problems: list[str] = []
    if _attempt(problems, lambda: check_recipe_name(recipe)) is None:
        return problems
    config = _attempt(
        problems, lambda: load_recipe_config(recipe, config_root or paths.config_root())
    )
    source = _attempt(problems, lambda: find_recipe_repo(recipe, repo))
    if source is None:
        return problems
    commit = _attempt(problems, lambda: git.resolve_ref(source, ref or "HEAD"))
    if commit is None:
        return problems
    _version_problems(source, problems)
    domain = CHECK_DOMAIN.format(recipe=recipe)
    with tempfile.TemporaryDirectory(prefix="ccci-check-") as tmp:
        checkout = Path(tmp) / "recipe"
        git.clone_at(source, checkout, commit)
        overrides = _extra_env(config, domain, problems) if config else {}
        built = _attempt(problems, lambda: build_env(checkout, domain, overrides or {}))
        if built is None:
            return problems
        env, modifiers = built
        chain = compose_chain(env, config.get("COMPOSE_FILE") if config else None)
        project = _compose_problems(checkout, chain, env, problems)
        secrets = _attempt(problems, lambda: declared_secrets(env, modifiers))
        if project is not None and secrets is not None:
            _secret_problems(project, {s.docker_name: s.name for s in secrets}, problems)
    return problems
