"""A run's identity and plan, made once and shared by every stage.

``ccci run`` makes the context before any playbook runs, so bad input is refused
before anything is deployed; ``ansible-playbook playbooks/<stage>.yml`` makes it
through the ``ccci.recipe.run_context`` action when none exists yet. Both call
``create_run``; every later stage reads the same ``context.json``.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccci import git, paths
from ccci.config import HookCtx, load_recipe_config
from ccci.deploy_env import plan_deploy
from ccci.errors import BadInput
from ccci.names import check_domain, check_recipe_name, stack_name
from ccci.versions import sort_versions

CONTEXT_FILE = "context.json"


@dataclass
class RunContext:
    """What every stage of one run needs to know; saved as ``context.json``."""

    run_id: str
    recipe: str
    ref: str
    commit: str
    version: str | None
    run_dir: str
    checkout: str
    repo: str
    config_root: str
    domain: str
    stack: str
    env: dict[str, str]
    compose_files: list[str]
    compose_version: str
    overlay: str | None
    secrets: list[dict[str, Any]]
    http_service: str
    http_port: int
    services: list[str]
    volumes: list[str]
    networks: list[str]
    versions: list[str] = field(default_factory=list)
    created: str = ""

    def save(self) -> Path:
        path = Path(self.run_dir) / CONTEXT_FILE
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path


def new_run_id() -> str:
    """Short enough for Docker object names, random enough for parallel runs."""
    return secrets.token_hex(4)


def find_recipe_repo(recipe: str, repo: str | None = None) -> Path:
    """The recipe's git repository: ``repo`` if given, else found on the search path."""
    if repo:
        path = Path(repo).expanduser()
        if not (path / ".git").exists() and not (path / "HEAD").exists():
            raise BadInput(f"recipe repository {repo} is not a git repository")
        return path.resolve()
    search = paths.recipe_search_path()
    for folder in search:
        if (folder / recipe / ".git").exists():
            return (folder / recipe).resolve()
    where = ", ".join(str(p) for p in search)
    raise BadInput(
        f"unknown recipe {recipe!r}: no repository named {recipe} in {where} "
        "(pass --repo or set CCCI_RECIPES_DIR)"
    )


def create_run(
    recipe: str,
    ref: str | None = None,
    *,
    repo: str | None = None,
    domain: str | None = None,
    run_id: str | None = None,
    run_dir: Path | None = None,
    config_root: Path | None = None,
) -> RunContext:
    """Validate the input, check the recipe out and plan the deploy.

    Raises BadInput (nothing deployed, nothing left but the run directory) for an
    unsafe or unknown recipe, a missing ref, invalid compose files or config.
    """
    check_recipe_name(recipe)
    run_id = run_id or new_run_id()
    domain = check_domain(domain or f"{recipe}-{run_id}.ccci.test")
    config_root = (config_root or paths.config_root()).resolve()
    config = load_recipe_config(recipe, config_root)
    source = find_recipe_repo(recipe, repo)
    commit = git.resolve_ref(source, ref or "HEAD")
    stamp = datetime.now(UTC)
    run_dir = (run_dir or paths.runs_root() / f"{stamp:%Y%m%d-%H%M%S}-{recipe}-{run_id}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    checkout = run_dir / "recipe"
    if checkout.exists():
        shutil.rmtree(checkout)
    git.clone_at(source, checkout, commit)

    overrides = config.get("EXTRA_ENV")
    if callable(overrides):
        ctx = HookCtx(domain=domain, base_url="", meta=config.resolved(), op="plan",
                      stack=stack_name(domain))
        overrides = overrides(ctx)
    plan = plan_deploy(checkout, domain, overrides, config.get("COMPOSE_FILE"))
    overlay = config.overlay()
    if overlay:
        shutil.copy(overlay, run_dir / "compose.ccci.yml")
    all_tags = git.tags(checkout)
    here = sort_versions(git.tags_at(checkout, commit))
    project = plan.project
    context = RunContext(
        run_id=run_id,
        recipe=recipe,
        ref=ref or "HEAD",
        commit=commit,
        version=here[-1].tag if here else None,
        run_dir=str(run_dir),
        checkout=str(checkout),
        repo=str(source),
        config_root=str(config_root),
        domain=domain,
        stack=stack_name(domain),
        env=plan.env,
        compose_files=plan.compose_files,
        compose_version=project.version,
        overlay=str(run_dir / "compose.ccci.yml") if overlay else None,
        secrets=[asdict(s) for s in plan.secrets],
        http_service=plan.http_service,
        http_port=plan.http_port,
        services=sorted(project.services),
        volumes=sorted(k for k, v in project.volumes.items() if not v.get("external")),
        networks=sorted(k for k, v in project.networks.items() if not v.get("external")),
        versions=[v.tag for v in sort_versions(all_tags)],
        created=stamp.isoformat(timespec="seconds"),
    )
    context.save()
    return context


def load_run(run_dir: Path) -> RunContext:
    """The context an earlier stage of this run saved."""
    data = json.loads((run_dir / CONTEXT_FILE).read_text())
    return RunContext(**data)

