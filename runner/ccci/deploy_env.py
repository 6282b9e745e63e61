"""The environment a recipe is deployed with, built the way abra builds it.

``docker stack deploy`` interpolates compose files from its process environment only,
so this module assembles that environment from ``.env.sample``, ``abra.sh`` exports,
the harness's DOMAIN and STACK_NAME and the recipe's CI overrides, then derives what
the deploy needs: the compose chain, the secrets to generate, the HTTP endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ccci.compose import NO_HTTP, ComposeProject, http_endpoint, load_compose
from ccci.envfile import parse_dotenv
from ccci.errors import CcciError
from ccci.findings import Finding, Findings, problem
from ccci.names import docker_object_name, secret_key_name, stack_name

DEFAULT_SECRET_LENGTH = 32
PINNED = ("DOMAIN", "STACK_NAME")


@dataclass
class SecretSpec:
    """A secret the recipe declares; its value is generated on the host, never here."""

    name: str
    version: str
    docker_name: str
    length: int
    # The controller's environment variable holding the value (SECRET_VALUES), if any.
    value_env: str | None = None


@dataclass
class DeployEnv:
    """Everything the deploy role needs that can be known before deploying."""

    env: dict[str, str]
    compose_files: list[str]
    secrets: list[SecretSpec]
    project: ComposeProject
    http_service: str | None
    http_port: int | None
    warnings: list[Finding]


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def build_env(
    recipe_dir: Path, domain: str, overrides: Mapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The deploy environment and the per-key comment modifiers of ``.env.sample``.

    RecipeProblem (env.pinned, env.file) when it cannot be built.
    """
    overrides = {k: str(v) for k, v in (overrides or {}).items()}
    clash = sorted(set(overrides) & set(PINNED))
    if clash:
        raise problem("env.pinned", f"EXTRA_ENV may not set {', '.join(clash)}: ccci sets "
                      "them per run", key="EXTRA_ENV")
    base = {"DOMAIN": domain, "STACK_NAME": stack_name(domain), **overrides}
    pinned = frozenset(base)
    sample = recipe_dir / ".env.sample"
    if not sample.is_file():
        raise problem("env.file", "the recipe has no .env.sample", file=".env.sample")
    try:
        dotenv = parse_dotenv(sample.read_text(), base, pinned=pinned, source=".env.sample")
        env = {**base, **dotenv.values}
        abra = parse_dotenv(_read(recipe_dir / "abra.sh"), env, pinned=pinned,
                            source="abra.sh", exports_only=True)
    except CcciError as exc:
        where = "abra.sh" if str(exc).startswith("abra.sh") else ".env.sample"
        raise problem("env.file", str(exc), file=where) from None
    env.update(abra.values)
    return env, dotenv.modifiers


def declared_secrets(
    env: Mapping[str, str],
    modifiers: Mapping[str, Mapping[str, str]],
    findings: Findings,
    sources: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[SecretSpec]:
    """Secrets from ``SECRET_<NAME>_VERSION`` keys, honouring abra's ``# length=N`` and
    ``# generate=false``; problems go to ``findings``.

    ``sources`` (SECRET_VALUES) maps a secret to the environment variable holding its
    value; only the variable's name travels on, the value is read when the secret is
    created. A generate=false secret without a source gets a random value, with a
    warning: in production the operator inserts it, in CI nobody can.
    """
    sources = dict(sources or {})
    environ = os.environ if environ is None else environ
    specs = []
    for key, version in env.items():
        name = secret_key_name(key)
        if not name:
            continue
        mods = modifiers.get(key, {})
        length = mods.get("length", str(DEFAULT_SECRET_LENGTH))
        if not length.isdigit() or not 8 <= int(length) <= 4096:
            findings.add("secret.length", f"secret {name}: length={length} must be a number "
                         "from 8 to 4096", file=".env.sample", key=key)
            continue
        source = sources.pop(name, None)
        if source is not None and not environ.get(source):  # Docker refuses an empty one
            findings.add("secret.value", f"SECRET_VALUES gives secret {name} the value of "
                         f"${source}, which is not set or empty", key="SECRET_VALUES")
        elif source is None and mods.get("generate", "true").lower() == "false":
            findings.add("secret.insert", f"secret {name} is marked generate=false: the "
                         "operator inserts it in production; a ccci run inserts a random "
                         f"value of {length} characters", file=".env.sample", key=key)
        docker_name = docker_object_name(env["STACK_NAME"], name, version)
        specs.append(SecretSpec(name, version, docker_name, int(length), source))
    for name in sorted(sources):
        findings.add("secret.value", f"SECRET_VALUES names secret {name}, which no "
                     "SECRET_<NAME>_VERSION line declares", key="SECRET_VALUES")
    return specs


def compose_chain(env: Mapping[str, str], extra: list[str] | None = None) -> list[str]:
    """The compose files to deploy: COMPOSE_FILE (default compose.yml), then ``extra``."""
    chain = [f for f in env.get("COMPOSE_FILE", "compose.yml").split(":") if f]
    return chain + [f for f in extra or [] if f not in chain]


def plan_deploy(
    recipe_dir: Path,
    domain: str,
    overrides: Mapping[str, str] | None = None,
    extra_compose: list[str] | None = None,
    secret_sources: Mapping[str, str] | None = None,
) -> DeployEnv:
    """Check the recipe at ``recipe_dir`` and plan its deploy.

    Every error found is raised together as one RecipeProblem (nothing deploys); the
    warnings (an unset variable Docker deploys as blank) come back with the plan.
    """
    env, modifiers = build_env(recipe_dir, domain, overrides)
    chain = compose_chain(env, extra_compose)
    env["COMPOSE_FILE"] = ":".join(chain)
    findings = Findings()
    project = load_compose(recipe_dir, chain, env, findings)
    secrets = declared_secrets(env, modifiers, findings, secret_sources)
    findings.raise_errors()
    endpoint = http_endpoint(project)
    if endpoint is None:
        findings.add("compose.no-http", NO_HTTP)
    service, port = endpoint or (None, None)
    return DeployEnv(env, chain, secrets, project, service, port, findings.warnings)

