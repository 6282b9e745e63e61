"""A run's identity and plan, made once and shared by every stage.

``ccci run`` makes the context before any playbook runs, so bad input is refused
before anything is deployed; ``ansible-playbook playbooks/<stage>.yml`` makes it
through the ``ccci.recipe.run_context`` action when none exists yet. Both call
``create_run``; every later stage reads the same ``context.json``.

A run deploys one or more *plans*: the version under test (``target``) and, for the
upgrade tier, each published version it upgrades from. Each plan has its own
checkout and deploy environment; the app (domain, stack, volumes, secrets) is shared.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccci import active_runs, git, ingress, paths
from ccci.compose import labels_of
from ccci.config import HookCtx, RecipeConfig, load_recipe_config
from ccci.config.loader import call_value
from ccci.config.registry import DEFAULT_CONVERGE_TIMEOUT
from ccci.deploy_env import plan_deploy
from ccci.errors import BadInput
from ccci.leases import lease_port
from ccci.names import check_domain, check_recipe_name, stack_name
from ccci.routing import read_routers
from ccci.rundir import RunDir
from ccci.trust import DENY, RepoCode, TrustPolicy, decide, skipped_warning
from ccci.upgrade_path import upgrade_path
from ccci.versions import sort_versions, tag_findings
from ccci.worktree import overlay_worktree

TARGET = "target"
NOT_PLANNED = ("the run was planned without the upgrade tier: its one fresh deploy is the "
               "version under test, so there is nothing to upgrade from")


@dataclass
class DeployPlan:
    """One version of the recipe, checked out and ready to deploy."""

    name: str
    commit: str
    version: str | None
    checkout: str
    env: dict[str, str]
    compose_files: list[str]
    compose_version: str
    secrets: list[dict[str, Any]]
    http_service: str | None
    http_port: int | None
    services: list[str]
    volumes: list[str]
    networks: list[str]
    backup_services: list[str] = field(default_factory=list)
    timeout_label: int | None = None
    # The Traefik routers its labels declare (ccci.routing.Router, as dicts).
    routers: list[dict[str, Any]] = field(default_factory=list)
    # Findings that do not block the deploy (ccci.findings), as dicts.
    warnings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class HostValues:
    """Where this run keeps things on the swarm host, and how long deploys may take.

    Planned once so every role reads the same values from the context instead of
    deriving them (or borrowing another role's variables).
    """

    workdir: str
    restic_repository: str
    restic_password_file: str
    converge_timeout: int
    converge_timeout_source: str
    # The app's port published on the host, leased for the run (direct ingress only).
    published_port: int | None
    # How clients reach the app (ccci.ingress.Ingress, as a dict): mode, port, scheme,
    # the names it answers to, the proxy's CA on the host and in the run directory.
    ingress: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """What every stage of one run needs to know; saved as ``context.json``."""

    run_id: str
    recipe: str
    ref: str
    commit: str
    version: str | None
    run_dir: str
    repo: str
    config_root: str
    domain: str
    stack: str
    overlay: str | None
    plans: dict[str, dict[str, Any]]
    host: dict[str, Any]
    upgrade_path: list[str] = field(default_factory=list)
    upgrade_skip: str = ""
    upgrade_extra_env: dict[str, str] = field(default_factory=dict)
    worktree_changes: list[str] = field(default_factory=list)
    expected_na: dict[str, str] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)
    created: str = ""
    # Planning's warnings (ccci.findings) for the run's results; errors refuse the run.
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # What the trust gate decided about the checkout's .ccci/ code (ccci.trust.RepoCode).
    repo_code: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> dict[str, Any]:
        return self.plans[TARGET]

    def recipe_config(self) -> RecipeConfig:
        """The recipe's CI config as this run uses it: the enrolled folder, plus the
        repository's .ccci/ hooks when the trust gate let them in."""
        return load_recipe_config(self.recipe, Path(self.config_root),
                                  RepoCode.from_dict(self.repo_code).used_folder)

    @property
    def first_plan(self) -> str:
        """The plan the run's one fresh deploy uses."""
        return self.upgrade_path[0] if self.upgrade_path else TARGET

    def save(self) -> Path:
        return RunDir(self.run_dir).save_context(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """The saved form, plus ``first_plan`` for roles (derived, never read back)."""
        return {**asdict(self), "first_plan": self.first_plan}


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


def env_overrides(
    config: RecipeConfig, key: str, domain: str, op: str = "plan"
) -> dict[str, str]:
    """EXTRA_ENV or UPGRADE_EXTRA_ENV as strings, calling it with a context if callable.

    A callable that raises or returns something invalid is a ConfigError (BadInput)
    naming hooks.py and the line: planning runs before any deploy, so the run is refused.
    """
    value = config.get(key)
    if callable(value):
        ctx = HookCtx(domain=domain, base_url="", meta=config.resolved(), op=op,
                      stack=stack_name(domain))
        value = call_value(config, key, ctx)
    return {str(k): str(v) for k, v in (value or {}).items()}


def _stack_label(labels: dict[str, dict[str, str]], stack: str, name: str) -> str | None:
    """The ``coop-cloud.<stack>.<name>`` label, from whichever service carries it."""
    for service_labels in labels.values():
        if f"coop-cloud.{stack}.{name}" in service_labels:
            return service_labels[f"coop-cloud.{stack}.{name}"]
    return None


def _timeout_label(labels: dict[str, dict[str, str]], stack: str) -> int | None:
    """The timeout label in whole seconds, as abra reads it; anything else is ignored."""
    raw = _stack_label(labels, stack, "timeout")
    try:
        seconds = int(str(raw).strip())
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def ingress_env(aliases: Sequence[str]) -> dict[str, str]:
    """What the deploy environment gets for the proxy: no ACME (``LETS_ENCRYPT_ENV``
    blank, so routers use the proxy's default certificate) and the run's aliases in
    Co-op Cloud's ``EXTRA_DOMAINS`` format (set only when there are aliases, so a recipe
    that reads it unset still gets Docker's blank and ccci's warning)."""
    env = {"LETS_ENCRYPT_ENV": ""}
    if aliases:
        env["EXTRA_DOMAINS"] = ingress.extra_domains_value(aliases)
    return env


def make_plan(
    name: str, checkout: Path, commit: str, domain: str, config: RecipeConfig,
    aliases: Sequence[str] = (),
) -> DeployPlan:
    """Plan the deploy of one checked-out version, with the run's ``aliases``.

    RecipeProblem (BadInput) listing every error found; warnings are kept in the plan.
    """
    overrides = {**env_overrides(config, "EXTRA_ENV", domain), **ingress_env(aliases)}
    deploy = plan_deploy(
        checkout, domain, overrides, config.get("COMPOSE_FILE"), config.get("SECRET_VALUES"),
    )
    project = deploy.project
    labels = {svc: labels_of(spec) for svc, spec in project.services.items()}
    tags_here = sort_versions(git.tags_at(checkout, commit))
    version = _stack_label(labels, stack_name(domain), "version") or (
        tags_here[-1].tag if tags_here else None
    )
    return DeployPlan(
        name=name,
        commit=commit,
        version=version,
        checkout=str(checkout),
        env=deploy.env,
        compose_files=deploy.compose_files,
        compose_version=project.version,
        secrets=[asdict(s) for s in deploy.secrets],
        http_service=deploy.http_service,
        http_port=deploy.http_port,
        services=sorted(project.services),
        volumes=sorted(k for k, v in project.volumes.items() if not v.get("external")),
        networks=sorted(k for k, v in project.networks.items() if not v.get("external")),
        backup_services=sorted(
            svc for svc, svc_labels in labels.items()
            if svc_labels.get("backupbot.backup", "").lower() == "true"
        ),
        timeout_label=_timeout_label(labels, stack_name(domain)),
        routers=[asdict(r) for r in read_routers(project.services, project.networks)],
        warnings=[w.as_dict() for w in deploy.warnings],
    )


def plan_host_values(
    run_id: str, config: RecipeConfig, plans: dict[str, dict[str, Any]],
    published_port: int | None, planned_ingress: ingress.Ingress,
) -> HostValues:
    """Host paths of the run and its convergence timeout, with where that came from.

    The timeout is DEPLOY_TIMEOUT when the CI config sets it, else the largest
    ``coop-cloud.<stack>.timeout`` label of any planned version, else the default.
    """
    root = paths.host_root()
    configured = config.get("DEPLOY_TIMEOUT")
    labelled = [(p["timeout_label"], name) for name, p in plans.items() if p["timeout_label"]]
    if configured:
        timeout, source = int(configured), "DEPLOY_TIMEOUT of the CI config"
    elif labelled:
        seconds, plan = max(labelled)
        timeout, source = seconds, f"coop-cloud.<stack>.timeout label of {plan}"
    else:
        timeout, source = DEFAULT_CONVERGE_TIMEOUT, "default"
    return HostValues(
        workdir=f"{root}/runs/{run_id}",
        restic_repository=f"{root}/restic/{run_id}",
        restic_password_file=f"{root}/restic/{run_id}.password",
        converge_timeout=timeout,
        converge_timeout_source=source,
        published_port=published_port,
        ingress=planned_ingress.as_dict(),
    )


def create_run(
    recipe: str, ref: str | None = None, *, repo: str | None = None,
    domain: str | None = None, run_id: str | None = None, run_dir: Path | None = None,
    config_root: Path | None = None, upgrade: bool = False, upgrade_from: int | None = None,
    published_port: int | None = None, ingress_mode: str = ingress.TRAEFIK,
    extra_domains: Sequence[str] = (), trust: TrustPolicy = DENY,
) -> RunContext:
    """Validate the input, check the recipe out and plan every deploy of the run.

    Without ``ref`` the version under test is the working tree (HEAD plus uncommitted
    and untracked files). With ``upgrade`` the published versions to upgrade from are
    planned too. ``ingress_mode`` says how the app is reached (``ccci.ingress``); its
    aliases are the CI config's EXTRA_DOMAINS and ``extra_domains``. In direct mode
    ``published_port`` is the port the caller leased for the run's whole life; without
    one (a manual run) a free one is picked now. ``trust`` says whether the checkout's
    own ``.ccci/`` code may run (ccci.trust; default deny). BadInput (nothing deployed)
    for an unsafe or unknown recipe, a missing ref, invalid compose, config or names.
    """
    check_recipe_name(recipe)
    run_id = run_id or new_run_id()
    domain = check_domain(domain or default_domain(recipe, run_id))
    config_root = (config_root or paths.config_root()).resolve()
    source = find_recipe_repo(recipe, repo)
    commit = git.resolve_ref(source, ref or "HEAD")
    stamp = datetime.now(UTC)
    run_dir = (run_dir or paths.runs_root() / f"{stamp:%Y%m%d-%H%M%S}-{recipe}-{run_id}").resolve()
    checkout, changes, repo_code, config = _check_out(
        recipe, source, commit, run_dir, worktree=ref is None, config_root=config_root,
        trust=trust)
    aliases = ingress.alias_names(domain, config.get("EXTRA_DOMAINS"), extra_domains)
    reached, port = _plan_ingress(ingress_mode, domain, aliases, run_dir, published_port, run_id)
    target = make_plan(TARGET, checkout, commit, domain, config, aliases)
    all_tags = git.tags(checkout)
    upgrade = upgrade and "upgrade" not in config.get("EXPECTED_NA")  # n/a: no base to deploy
    path = upgrade_path(all_tags, target.version,
                        pinned_base=config.get("UPGRADE_BASE_VERSION"),
                        hops_back=upgrade_from) if upgrade else None
    plans = {TARGET: asdict(target)}
    for tag in path.versions if path else ():
        plans[tag] = _plan_tag(tag, source, checkout, run_dir, domain, config, aliases)
    overlay = _copy_overlay(config, run_dir)
    context = RunContext(
        run_id=run_id, recipe=recipe, ref=ref or "HEAD", commit=commit,
        version=target.version, run_dir=str(run_dir), repo=str(source),
        config_root=str(config_root), domain=domain, stack=stack_name(domain),
        overlay=overlay, plans=plans,
        host=asdict(plan_host_values(run_id, config, plans, port, reached)),
        upgrade_path=list(path.versions) if path else [],
        upgrade_skip=path.skip_reason if path else NOT_PLANNED,
        upgrade_extra_env=env_overrides(config, "UPGRADE_EXTRA_ENV", domain),
        worktree_changes=changes, expected_na=dict(config.get("EXPECTED_NA")),
        versions=[v.tag for v in sort_versions(all_tags)],
        created=stamp.isoformat(timespec="seconds"),
        warnings=planning_warnings(plans, all_tags, repo_code),
        repo_code=repo_code.as_dict(),
    )
    context.save()
    return context


def _check_out(
    recipe: str, source: Path, commit: str, run_dir: Path, *, worktree: bool,
    config_root: Path, trust: TrustPolicy,
) -> tuple[Path, list[str], RepoCode, RecipeConfig]:
    """The version under test checked out in the run directory (with the working tree's
    changes for a run of the working tree), what the trust gate decided about its
    ``.ccci/`` code, and the CI config with that code when it was let in."""
    run_dir.mkdir(parents=True, exist_ok=True)
    checkout = _clone(source, run_dir / "recipe", commit)
    changes = overlay_worktree(source, checkout) if worktree else []
    repo_code = decide(recipe, checkout, trust)
    config = load_recipe_config(recipe, config_root, repo_code.used_folder)
    return checkout, changes, repo_code, config


def planning_warnings(plans: dict[str, dict[str, Any]], tags: list[str],
                      repo_code: RepoCode | None = None) -> list[dict[str, Any]]:
    """Every plan's warnings, each saying its plan, the tags that are not releases, then
    the repository code the trust gate kept out."""
    found = [{**warning, "plan": name} for name, plan in plans.items()
             for warning in plan.get("warnings", [])]
    skipped = skipped_warning(repo_code) if repo_code else None
    return found + [f.as_dict() for f in tag_findings(tags)] + ([skipped] if skipped else [])


def _plan_tag(
    tag: str, source: Path, checkout: Path, run_dir: Path, domain: str, config: RecipeConfig,
    aliases: Sequence[str],
) -> dict[str, Any]:
    """Check a published version out under ``versions/`` and plan it like the target."""
    tag_commit = git.resolve_ref(checkout, f"refs/tags/{tag}")
    tag_checkout = _clone(source, run_dir / "versions" / tag, tag_commit)
    return asdict(make_plan(tag, tag_checkout, tag_commit, domain, config, aliases))


def _plan_ingress(
    mode: str, domain: str, aliases: Sequence[str], run_dir: Path,
    published_port: int | None, run_id: str,
) -> tuple[ingress.Ingress, int | None]:
    """The run's ingress, and its published port: only direct mode publishes one (the
    caller's lease, or for a manual run a port free right now)."""
    if ingress.check_mode(mode) == ingress.DIRECT:
        published_port = published_port or _any_port(run_id)
    else:
        published_port = None
    return ingress.plan_ingress(mode, domain, aliases, run_dir, published_port), published_port


def default_domain(recipe: str, run_id: str) -> str:
    """The app's domain when the user names none: unique to the run."""
    return f"{recipe}-{run_id}.ccci.test"


def _any_port(run_id: str) -> int:
    """A port for a run nobody holds a lease for (a manual stage): free right now."""
    with lease_port(run_id, exclude=active_runs.reserved_ports()) as lease:
        return int(lease.value)


def _copy_overlay(config: RecipeConfig, run_dir: Path) -> str | None:
    """The enrolled recipe's compose.ccci.yml, copied into the run; its path, or None."""
    overlay = config.overlay()
    if not overlay:
        return None
    dest = run_dir / "compose.ccci.yml"
    shutil.copy(overlay, dest)
    return str(dest)


def _clone(source: Path, dest: Path, commit: str) -> Path:
    """A fresh checkout of ``commit`` at ``dest`` (a leftover one is replaced)."""
    if dest.exists():
        shutil.rmtree(dest)
    git.clone_at(source, dest, commit)
    return dest


def load_run(run_dir: Path | str) -> RunContext:
    """The context an earlier stage of this run saved."""
    data = RunDir(run_dir).context_data()
    data.pop("first_plan", None)
    return RunContext(**data)
