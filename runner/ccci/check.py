"""``ccci check``: everything that can be known about a recipe without deploying it.

Unlike a run, which stops at its first error, the check collects every finding it
can, so a maintainer fixes them in one pass. Each finding has a code of the rule
registry (``ccci.findings``): errors are what would refuse a run, warnings what a
run records and goes on with.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ccci import git, paths
from ccci.compose import (
    NO_HTTP,
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
from ccci.findings import Finding, Findings, RecipeProblem, finding
from ccci.names import check_recipe_name
from ccci.versions import sort_versions, tag_findings

CHECK_DOMAIN = "{recipe}-check.ccci.test"
_CONFIG_WHERE = re.compile(r"(?P<file>meta\.yml|hooks\.py): (?:(?P<key>[A-Z][A-Z0-9_]*)\b)?")
_CONFIG_KEY = re.compile(r"key '(?P<key>[A-Za-z_][A-Za-z0-9_]*)'")


def _config_findings(exc: ConfigError) -> list[Finding]:
    """One finding per problem of the CI config, naming its file and key when it can."""
    found = []
    for text in exc.problems:
        where = _CONFIG_WHERE.search(text)
        named = _CONFIG_KEY.search(text)
        key = (where["key"] if where else None) or (named["key"] if named else "")
        found.append(finding("config.invalid", text, file=where["file"] if where else "",
                             key=key))
    return found


def _attempt(findings: Findings, rule: str, step: Callable[[], Any]) -> Any:
    """Run one check step; record what it raised (as ``rule`` if uncoded), return None."""
    try:
        return step()
    except RecipeProblem as exc:
        findings.extend(exc.findings)
    except ConfigError as exc:
        findings.extend(_config_findings(exc))
    except CcciError as exc:
        findings.add(rule, str(exc))
    return None


def _compose_project(
    checkout: Path, chain: list[str], env: dict[str, str], findings: Findings
) -> ComposeProject | None:
    """The merged project, every file's findings recorded; None when one is unreadable.

    The HTTP port is looked for only when the compose files had no error: a port
    label broken by a blank has been reported already, naming its variable.
    """
    errors_before = len(findings.errors)
    files = [_attempt(findings, "compose.file",
                      lambda n=name: read_compose_file(checkout, n, env, findings))
             for name in chain]
    if any(f is None for f in files):
        return None
    project = _attempt(findings, "compose.file",
                       lambda: load_compose(checkout, chain, env, findings))
    if project is not None and len(findings.errors) == errors_before:
        errors_here = len(findings.errors)
        endpoint = _attempt(findings, "compose.port", lambda: http_endpoint(project))
        if endpoint is None and len(findings.errors) == errors_here:
            findings.add("compose.no-http", NO_HTTP)
    return project


def _secret_findings(project: ComposeProject, declared: dict[str, str], findings: Findings
                     ) -> None:
    """A declared secret nobody uses is harmless; an undeclared external one breaks."""
    used = {
        str(spec.get("name")): key
        for key, spec in project.secrets.items()
        if spec.get("external")
    }
    for docker_name, name in declared.items():
        if docker_name not in used:
            findings.add(
                "secret.unused",
                f"secret {name} is declared in .env.sample (SECRET_{name.upper()}_VERSION) "
                f"but no compose file uses it as an external secret named {docker_name}",
                file=".env.sample", key=f"SECRET_{name.upper()}_VERSION")
    for docker_name, key in used.items():
        if docker_name not in declared:
            findings.add(
                "secret.undeclared",
                f"compose secret {key} (external name {docker_name}) has no "
                f"SECRET_{key.upper()}_VERSION in .env.sample", key=f"secrets.{key}")


def _release_labels(repo: Path, tag: str, findings: Findings) -> None:
    """A release whose compose.yml is labelled with another version (or is unreadable)."""
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"{tag}:compose.yml"],
        capture_output=True, text=True, check=False,
    )
    if shown.returncode != 0:
        return
    try:
        data = yaml.safe_load(shown.stdout) or {}
    except yaml.YAMLError:
        findings.add("version.unreadable", f"compose.yml at tag {tag} is not valid YAML",
                     file="compose.yml", key=tag)
        return
    for service_name, service in (data.get("services") or {}).items():
        for label, value in labels_of(service or {}).items():
            if label.startswith("coop-cloud.") and label.endswith(".version") and value != tag:
                findings.add("version.label",
                             f"tag {tag}: service {service_name} is labelled version {value!r}",
                             file="compose.yml", key=f"services.{service_name}")


def _version_findings(repo: Path, findings: Findings) -> None:
    tags = git.tags(repo)
    findings.extend(tag_findings(tags))
    for version in sort_versions(tags):
        _release_labels(repo, version.tag, findings)


def _extra_env(config: RecipeConfig, domain: str, findings: Findings) -> dict[str, str]:
    """EXTRA_ENV for the check's deploy environment, calling UPGRADE_EXTRA_ENV too.

    A callable that raises must show up in the check, not first in a run.
    """
    _attempt(findings, "config.invalid",
             lambda: env_overrides(config, "UPGRADE_EXTRA_ENV", domain, op="check"))
    return _attempt(findings, "config.invalid",
                    lambda: env_overrides(config, "EXTRA_ENV", domain, op="check")) or {}


def _check_checkout(checkout: Path, recipe: str, config: RecipeConfig | None,
                    findings: Findings) -> None:
    """What the files of one checkout say: environment, compose files, secrets."""
    domain = CHECK_DOMAIN.format(recipe=recipe)
    overrides = _extra_env(config, domain, findings) if config else {}
    built = _attempt(findings, "env.file", lambda: build_env(checkout, domain, overrides))
    if built is None:
        return
    env, modifiers = built
    chain = compose_chain(env, config.get("COMPOSE_FILE") if config else None)
    project = _compose_project(checkout, chain, env, findings)
    secrets = declared_secrets(env, modifiers, findings,
                               config.get("SECRET_VALUES") if config else None)
    if project is not None:
        _secret_findings(project, {s.docker_name: s.name for s in secrets}, findings)


def check_recipe(
    recipe: str, ref: str | None = None, *, repo: str | None = None,
    config_root: Path | None = None,
) -> list[Finding]:
    """Every finding about the recipe and its CI config; empty when all is well."""
    findings = Findings()
    if _attempt(findings, "recipe.name", lambda: check_recipe_name(recipe)) is None:
        return findings.items
    config = _attempt(
        findings, "config.invalid",
        lambda: load_recipe_config(recipe, config_root or paths.config_root()),
    )
    source = _attempt(findings, "recipe.repo", lambda: find_recipe_repo(recipe, repo))
    if source is None:
        return findings.items
    commit = _attempt(findings, "recipe.ref", lambda: git.resolve_ref(source, ref or "HEAD"))
    if commit is None:
        return findings.items
    _version_findings(source, findings)
    with tempfile.TemporaryDirectory(prefix="ccci-check-") as tmp:
        checkout = Path(tmp) / "recipe"
        git.clone_at(source, checkout, commit)
        _check_checkout(checkout, recipe, config, findings)
    return findings.items
