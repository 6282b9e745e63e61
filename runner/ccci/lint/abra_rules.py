"""What ``abra recipe lint`` checks, applied to the version under test.

abra's rules (R001 to R016) are about one version of a recipe: its compose files,
``.env.sample``, ``abra.sh``, README and git tags. abra refuses to deploy a recipe that
fails one of its error rules, so ccci reports those as errors; its warnings stay
warnings. Where ccci can say more precisely what breaks (a compose version Docker
refuses, a secret name over Docker's limit) the rule follows Docker, and each rule's
summary says how it differs from abra's. What ``ccci check`` already reports with its
own code (a missing ``.env.sample``, an invalid image, an unset variable, a tag not in
the release format) is not reported again here: the lint tier shows both lists.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ccci import git
from ccci.check import CHECK_DOMAIN
from ccci.compose import ComposeProject, labels_of, load_compose, read_compose_file
from ccci.compose_checks import valid_image
from ccci.deploy_env import build_env, compose_chain
from ccci.envfile import parse_dotenv
from ccci.errors import CcciError
from ccci.findings import Finding, Findings, Rule, finding
from ccci.names import DOCKER_NAME_MAX, check_domain, stack_name
from ccci.versions import sort_versions

from .registry import lint_rule
from .subject import LintSubject, Release

# abra cuts a stack name to 45 characters; a domain that long is the worst case for
# the names Docker builds from it (secrets and configs, at most 64 characters).
ABRA_STACK_MAX = 45
LONG_DOMAIN = "lint-" + "x" * 28 + ".example.org"
assert len(stack_name(LONG_DOMAIN)) == ABRA_STACK_MAX
FALLBACK_DOMAIN = "recipe-check.ccci.test"
EXPECTED_COMPOSE_VERSION = "3.8"
# Tags that name whatever is newest today: a redeploy may get another image.
MOVING_TAGS = frozenset({
    "latest", "stable", "mainline", "edge", "nightly", "main", "master", "trunk", "dev",
    "develop", "devel", "unstable", "rolling", "testing", "current", "lts", "next",
    "canary", "beta", "alpha", "preview", "insider",
})
# abra orders image tags by a semver-like version: digits and dots, maybe a "v" in
# front and a "-suffix" (15, 1.22, v2.4.1, 3.11-slim, 1.2.3-alpine3.18).
_SEMVER_LIKE = re.compile(r"^v?\d+(\.\d+)*(-[0-9A-Za-z][0-9A-Za-z._-]*)?$")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
_ROUTER_RULE = re.compile(r"^traefik\.(?:http|tcp)\.routers\.[^.]+\.rule$")
_UDP_ROUTER = re.compile(r"^traefik\.udp\.routers\.[^.]+\.")
_METADATA = re.compile(r"<!--\s*metadata\s*-->(?P<body>.*?)<!--\s*endmetadata\s*-->", re.S)
_METADATA_FIELD = re.compile(r"^\s*[*-]\s*\*\*(?P<key>[^*]+)\*\*\s*:?\s*(?P<value>.*)$")
# The fields of the catalogue's metadata block that abra requires to be filled in.
METADATA_FIELDS = ("Category", "Image", "Healthcheck", "Backups", "Email", "SSO")
_TRAILING_COMMENT = re.compile(r"\s#")


@dataclass(frozen=True)
class _Recipe:
    """One version of the recipe as lint reads it: environment, compose files, project."""

    env: dict[str, str]
    abra: dict[str, str] | None  # what abra.sh exports; None without abra.sh
    chain: list[str]
    texts: dict[str, str]  # each readable compose file as written
    raw: dict[str, dict[str, Any]]  # ... parsed, not interpolated
    files: dict[str, dict[str, Any]]  # ... interpolated with ``env``
    project: ComposeProject | None  # None when a compose file cannot be read
    optional: dict[str, dict[str, Any]]  # compose.*.yml not in COMPOSE_FILE, as written


def _domain(recipe: str) -> str:
    """The domain ``ccci check`` uses, or a fixed one when the recipe name is no DNS label."""
    try:
        return check_domain(CHECK_DOMAIN.format(recipe=recipe))
    except CcciError:
        return FALLBACK_DOMAIN


def _environment(root: Path, domain: str) -> dict[str, str]:
    """The deploy environment; only DOMAIN and STACK_NAME when ``.env.sample`` cannot be
    read (``ccci check`` reports why), so the compose files are still linted."""
    try:
        return build_env(root, domain)[0]
    except CcciError:
        return {"DOMAIN": domain, "STACK_NAME": stack_name(domain)}


def _abra_exports(root: Path, env: Mapping[str, str]) -> dict[str, str] | None:
    path = root / "abra.sh"
    if not path.is_file():
        return None
    try:
        return parse_dotenv(path.read_text(errors="replace"), env, source="abra.sh",
                            exports_only=True).values
    except CcciError:
        return {}


def _project(root: Path, chain: list[str], env: Mapping[str, str]) -> ComposeProject | None:
    try:
        return load_compose(root, chain, env, Findings())
    except CcciError:
        return None


@functools.lru_cache(maxsize=4)
def _read(recipe: str, release: Release) -> _Recipe:
    """The version under test, read once for all the rules (the Release is immutable)."""
    env = _environment(release.root, _domain(recipe))
    chain = compose_chain(env)
    texts: dict[str, str] = {}
    raw: dict[str, dict[str, Any]] = {}
    files: dict[str, dict[str, Any]] = {}
    for name in chain:
        try:
            files[name] = read_compose_file(release.root, name, env, Findings())
        except CcciError:
            continue  # ccci check reports it (CCCI-E201)
        texts[name] = (release.root / name).read_text(errors="replace")
        raw[name] = yaml.safe_load(texts[name])
    project = _project(release.root, chain, env) if len(files) == len(chain) else None
    return _Recipe(env, _abra_exports(release.root, env), chain, texts, raw, files, project,
                   _optional_files(release.root, chain))


def _optional_files(root: Path, chain: list[str]) -> dict[str, dict[str, Any]]:
    """The compose files an operator may add to COMPOSE_FILE (``compose.smtp.yml``)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(root.glob("compose*.y*ml")):
        if path.name in chain or path.suffix not in (".yml", ".yaml"):
            continue
        try:
            data = yaml.safe_load(path.read_text(errors="replace"))
        except yaml.YAMLError:
            continue
        if isinstance(data, dict):
            found[path.name] = data
    return found


def _recipe(subject: LintSubject) -> _Recipe:
    return _read(subject.recipe, subject.current)


def _services(recipe: _Recipe) -> dict[str, dict[str, Any]]:
    return recipe.project.services if recipe.project else {}


def _defined_in(recipe: _Recipe, service: str, field: str | None = None) -> str:
    """The compose file a service (or one of its fields) comes from: the last one that
    sets ``field``, else the first that defines the service."""
    defining = [name for name in recipe.chain
                if service in ((recipe.raw.get(name) or {}).get("services") or {})]
    if field:
        setting = [name for name in defining
                   if field in ((recipe.raw[name]["services"] or {}).get(service) or {})]
        defining = setting[-1:] or defining
    return defining[0] if defining else (recipe.chain[0] if recipe.chain else "compose.yml")


# -- compose file version (abra R001) ------------------------------------------------------


def _normal_version(value: Any) -> str | None:
    """The version as docker/cli compares it ("3" is "3.0"); None when absent."""
    if value is None:
        return None
    text = str(value).strip()
    return f"{text}.0" if text.isdigit() else text


def _version_problems(recipe: _Recipe) -> Iterator[tuple[str, str, str]]:
    """(rule, file, message) for each compose file whose version is wrong, the optional
    files too: an operator who adds one to COMPOSE_FILE deploys it with the others.

    Verified with docker/cli: 20.10 refuses a file without version ("unsupported Compose
    file version: 1.0"), 28 reads it as the newest 3.x; both refuse files of different
    versions, a file without one next to a file with one included.
    """
    versions = {name: _normal_version(data.get("version"))
                for name, data in {**recipe.files, **recipe.optional}.items()}
    first = next(iter(versions.values()), None)
    for name, version in versions.items():
        shown = "no version" if version is None else f"version {version}"
        if version is not None and not re.fullmatch(r"3\.\d+", version):
            yield ("lint.compose-version", name, f"compose file {name} has {shown}: docker "
                   "stack deploy reads only 3.x files (unsupported Compose file version)")
        elif version != first:
            yield ("lint.compose-version", name, f"compose file {name} has {shown} but the "
                   f"first file of COMPOSE_FILE has {'none' if first is None else first}: "
                   "docker stack deploy refuses files of different versions")
        elif version is None:
            yield ("lint.compose-version-style", name, f"compose file {name} has no version "
                   "key: Docker CLIs before 25 refuse it (unsupported Compose file version: "
                   f"1.0); abra expects {EXPECTED_COMPOSE_VERSION}")
        elif version != EXPECTED_COMPOSE_VERSION:
            yield ("lint.compose-version-style", name, f"compose file {name} has {shown}; "
                   f"abra expects {EXPECTED_COMPOSE_VERSION}")


@lint_rule(Rule(
    "CCCI-E800", "lint.compose-version", "error",
    "A compose file's version is one docker stack deploy refuses: not 3.x, or not that of "
    "the other files of COMPOSE_FILE (abra's R001 only warns about versions).",
    'Give every compose file of COMPOSE_FILE the same 3.x version: version: "3.8".'))
def compose_version(subject: LintSubject) -> Iterator[Finding]:
    """Versions docker stack deploy refuses: the deploy would stop there."""
    for rule, name, message in _version_problems(_recipe(subject)):
        if rule == "lint.compose-version":
            yield finding(rule, message, file=name, key="version")


@lint_rule(Rule(
    "CCCI-W801", "lint.compose-version-style", "warning",
    "A compose file has no version key (Docker CLIs before 25 refuse it, newer ones read "
    "the newest 3.x), or a version other than 3.8, which abra expects (R001).",
    'Write version: "3.8" at the top of every compose file.'))
def compose_version_style(subject: LintSubject) -> Iterator[Finding]:
    """Versions today's Docker deploys but older Docker or abra's convention does not."""
    for rule, name, message in _version_problems(_recipe(subject)):
        if rule == "lint.compose-version-style":
            yield finding(rule, message, file=name, key="version")


# -- healthchecks (abra R002) --------------------------------------------------------------


def _pair(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The key and value nodes of ``key`` in a YAML mapping node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node, value_node
    return None


def _commented(lines: list[str], line: int, *, trailing_from: int | None = None) -> bool:
    """A comment on the line above ``line``, or after column ``trailing_from`` of it."""
    above = lines[line - 1].strip() if line > 0 else ""
    rest = lines[line][trailing_from:] if trailing_from is not None else ""
    return above.startswith("#") or bool(_TRAILING_COMMENT.search(" " + rest))


def _disable_explained(text: str, service: str) -> bool:
    """Whether a comment says why the file disables the service's healthcheck: on the
    line above, or at the end of, its ``healthcheck:``, ``disable:`` or ``test:`` line."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return False
    services = _pair(root, "services")
    own = _pair(services[1] if services else None, service)
    healthcheck = _pair(own[1] if own else None, "healthcheck")
    if healthcheck is None:
        return False
    lines = text.splitlines()
    pairs = [healthcheck] + [p for p in (_pair(healthcheck[1], f) for f in ("disable", "test"))
                             if p is not None]
    for key_node, value_node in pairs:
        line = key_node.start_mark.line
        same_line = value_node.end_mark.line == line and not isinstance(
            value_node, yaml.MappingNode)
        end = value_node.end_mark.column if same_line else key_node.end_mark.column + 1
        if _commented(lines, line, trailing_from=end):
            return True
    return False


def _disabled(healthcheck: Mapping[str, Any]) -> bool:
    test = healthcheck.get("test")
    first = test[0] if isinstance(test, list) and test else test
    return healthcheck.get("disable") in (True, "true", "True") or first == "NONE"


def _unexplained_disable(recipe: _Recipe, service: str) -> str | None:
    """The last file that disables the service's healthcheck, when no comment says why."""
    for name in reversed(recipe.chain):
        own = ((recipe.raw.get(name) or {}).get("services") or {}).get(service) or {}
        healthcheck = own.get("healthcheck") if isinstance(own, Mapping) else None
        if isinstance(healthcheck, Mapping) and _disabled(healthcheck):
            return None if _disable_explained(recipe.texts.get(name, ""), service) else name
    return None


@lint_rule(Rule(
    "CCCI-W802", "lint.healthcheck", "warning",
    "A service has no healthcheck, or disables it without a comment saying why (abra's R002 "
    "takes any healthcheck, a disabled one too).",
    "Add a healthcheck: test that the service answers; if it cannot have one, say why in a "
    "comment next to disable: true."))
def healthchecks(subject: LintSubject) -> Iterator[Finding]:
    """Without a healthcheck swarm calls a task running as soon as it starts."""
    recipe = _recipe(subject)
    for name, service in _services(recipe).items():
        healthcheck = service.get("healthcheck")
        key = f"services.{name}.healthcheck"
        if not isinstance(healthcheck, Mapping):
            yield finding("lint.healthcheck", f"service {name} has no healthcheck: swarm takes "
                          "a started task for a working one (a HEALTHCHECK of the image would "
                          "do, but lint cannot see images)",
                          file=_defined_in(recipe, name), key=key)
        elif _disabled(healthcheck):
            where = _unexplained_disable(recipe, name)
            if where:
                yield finding("lint.healthcheck", f"service {name} disables its healthcheck "
                              "without a comment saying why", file=where, key=key)


# -- images (abra R003, R004, R005, R011) --------------------------------------------------


def _images(recipe: _Recipe) -> Iterator[tuple[str, str, str | None, bool]]:
    """(service, image, tag, pinned by digest) for each image docker can parse; an
    invalid one is ``ccci check``'s (CCCI-E205)."""
    for name, service in _services(recipe).items():
        image = service.get("image")
        if isinstance(image, str) and valid_image(image):
            reference, at, _ = image.partition("@")
            last = reference.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            yield name, image, tag, bool(at)


def _moving(tag: str) -> bool:
    """``latest``, ``stable-alpine``: a tag that names whatever is newest (``nightly-2024
    0101`` names one build, so a suffix with digits pins it)."""
    word, _, rest = tag.lower().partition("-")
    return word in MOVING_TAGS and not any(char.isdigit() for char in rest)


@lint_rule(Rule(
    "CCCI-W803", "lint.image-untagged", "warning",
    "An image has no tag (nor digest): Docker pulls :latest, whatever it is that day (R003).",
    "Pin the image to a version tag, e.g. nginx:1.27.3."))
def images_tagged(subject: LintSubject) -> Iterator[Finding]:
    recipe = _recipe(subject)
    for name, image, tag, pinned in _images(recipe):
        if tag is None and not pinned:
            yield finding("lint.image-untagged", f"service {name}: image {image} has no tag, "
                          "so every deploy pulls whatever :latest is that day",
                          file=_defined_in(recipe, name, "image"), key=f"services.{name}.image")


@lint_rule(Rule(
    "CCCI-W804", "lint.image-unstable", "warning",
    "An image uses a moving tag (latest, stable, edge, nightly, main, ...): a redeploy may "
    "run another version (abra's R004 knows only latest).",
    "Pin the image to a version tag; a digest (@sha256:...) pins it too."))
def images_stable(subject: LintSubject) -> Iterator[Finding]:
    recipe = _recipe(subject)
    for name, image, tag, pinned in _images(recipe):
        if tag is not None and not pinned and _moving(tag):
            yield finding("lint.image-unstable", f"service {name}: image {image} uses the "
                          f"moving tag {tag}: a redeploy may run another version",
                          file=_defined_in(recipe, name, "image"), key=f"services.{name}.image")


@lint_rule(Rule(
    "CCCI-W805", "lint.image-tag-format", "warning",
    "An image tag is not semver-like (1.22, v2.4.1, 15-alpine): abra cannot order it to "
    "offer upgrades (R005). Moving tags are lint.image-unstable's.",
    "Use the upstream's version tag rather than a codename or a build id."))
def image_tag_format(subject: LintSubject) -> Iterator[Finding]:
    recipe = _recipe(subject)
    for name, image, tag, _ in _images(recipe):
        if tag is not None and not _moving(tag) and not _SEMVER_LIKE.match(tag):
            yield finding("lint.image-tag-format", f"service {name}: image tag {tag} ({image}) "
                          "is not semver-like, so abra recipe upgrade cannot compare it with "
                          "newer tags", file=_defined_in(recipe, name, "image"),
                          key=f"services.{name}.image")


@lint_rule(Rule(
    "CCCI-E806", "lint.image-missing", "error",
    "A service has no image: docker stack deploy ignores build: and swarm refuses a service "
    "without an image (R011).",
    "Give the service an image (build and push it elsewhere; recipes deploy images)."))
def images_present(subject: LintSubject) -> Iterator[Finding]:
    recipe = _recipe(subject)
    for name, service in _services(recipe).items():
        if service.get("image") is None:
            yield finding("lint.image-missing", f"service {name} has no image: swarm cannot "
                          "create it (docker stack deploy ignores build:)",
                          file=_defined_in(recipe, name), key=f"services.{name}.image")


# -- the main service and its routing (abra R009, R010, R016) ------------------------------


@lint_rule(Rule(
    "CCCI-E807", "lint.app-service", "error",
    "No service is named app: abra finds the main service by that name and refuses to "
    "deploy without it (R009).",
    "Name the main service (the one serving the app) app."))
def app_service(subject: LintSubject) -> Iterator[Finding]:
    recipe = _recipe(subject)
    services = _services(recipe)
    if services and "app" not in services:
        yield finding("lint.app-service", f"no service is named app (services: "
                      f"{', '.join(sorted(services))}): abra looks for the main service by "
                      "that name", file=recipe.chain[0], key="services")


@lint_rule(Rule(
    "CCCI-E808", "lint.deploy-labels", "error",
    "The app service has no deploy labels: abra refuses to deploy it (R016); they carry the "
    "version label abra reads and the traefik routing.",
    "Add a deploy: labels: list to the app service, with coop-cloud.${STACK_NAME}.version."))
def deploy_labels(subject: LintSubject) -> Iterator[Finding]:
    recipe = _recipe(subject)
    app = _services(recipe).get("app")
    if app is not None and not labels_of(app):
        yield finding("lint.deploy-labels", "service app has no deploy labels (deploy: "
                      "labels:), where abra reads and writes the deployed version",
                      file=_defined_in(recipe, "app"), key="services.app.deploy.labels")


def _traefik_enabled(service: Mapping[str, Any]) -> bool:
    return labels_of(service).get("traefik.enable", "").strip().lower() == "true"


@lint_rule(Rule(
    "CCCI-W809", "lint.traefik", "warning",
    "No service has the label traefik.enable=true (abra's R010). abra treats it as an "
    "error; ccci warns, because recipes without a web service (runners, bots) are "
    "published and deploy (ccci check: CCCI-W208).",
    "Label the service that serves the app traefik.enable=true, with a router rule; a "
    "recipe that serves nothing over HTTP can leave this warning."))
def traefik_enabled(subject: LintSubject) -> Iterator[Finding]:
    recipe = _recipe(subject)
    services = _services(recipe)
    if services and not any(_traefik_enabled(service) for service in services.values()):
        main = "app" if "app" in services else next(iter(services))
        yield finding("lint.traefik", "no service is labelled traefik.enable=true, so traefik "
                      "routes nothing to the app", file=_defined_in(recipe, main),
                      key=f"services.{main}.deploy.labels")


@lint_rule(Rule(
    "CCCI-W810", "lint.traefik-rule", "warning",
    "A service enables traefik but has no router rule: traefik routes it by its default "
    "rule, not by the app's domain (abra checks only traefik.enable).",
    "Add the label traefik.http.routers.${STACK_NAME}.rule, a Host rule naming ${DOMAIN}."))
def traefik_rule(subject: LintSubject) -> Iterator[Finding]:
    recipe = _recipe(subject)
    for name, service in _services(recipe).items():
        labels = labels_of(service)
        if _traefik_enabled(service) and not any(
                _ROUTER_RULE.match(label) or _UDP_ROUTER.match(label) for label in labels):
            yield finding("lint.traefik-rule", f"service {name} enables traefik but has no "
                          "traefik.http.routers.<name>.rule label: it is not routed by the "
                          "app's domain", file=_defined_in(recipe, name),
                          key=f"services.{name}.deploy.labels")


# -- config versions (abra R012) -----------------------------------------------------------


def _configs(recipe: _Recipe) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each config as written (variables not expanded), merged over the compose files,
    with the file its name comes from."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in recipe.chain:
        for key, spec in ((recipe.raw.get(name) or {}).get("configs") or {}).items():
            spec = spec if isinstance(spec, Mapping) else {}
            where, merged = found.get(key, (name, {}))
            found[key] = (name if "name" in spec or key not in found else where,
                          {**merged, **spec})
    return found


def _version_variables(name: str) -> list[str]:
    """The variables in an object name other than STACK_NAME and DOMAIN: its version."""
    used = (a or b for a, b in _VARIABLE.findall(name.replace("$$", "")))
    return [v for v in used if v not in ("STACK_NAME", "DOMAIN")]


def _config_problems(recipe: _Recipe) -> Iterator[tuple[str, str, str, str]]:
    """(rule, file, key, message) for each config abra.sh does not version."""
    for key, (where, spec) in _configs(recipe).items():
        if spec.get("external"):
            continue  # the operator's to create and version
        path = f"configs.{key}.name"
        name = str(spec.get("name") or "")
        variables = _version_variables(name)
        if not variables:
            shown = f"named {name!r}" if name else f"unnamed (Docker names it <stack>_{key})"
            yield ("lint.config-unversioned", where, path, f"config {key} is {shown}, with no "
                   "version variable: once deployed its content can never change, Docker "
                   "refuses the next upgrade that changes the file")
        for variable in variables:
            if variable not in (recipe.abra or {}) and variable in recipe.env:
                missing = " (the recipe has no abra.sh)" if recipe.abra is None else ""
                yield ("lint.config-vendored", where, path, f"config {key}: its version "
                       f"{variable} is set in .env.sample, not exported by abra.sh{missing}: an "
                       "app keeps the value its env file was created with, so a release that "
                       "bumps it never reaches deployed apps and Docker refuses the changed "
                       "config")


@lint_rule(Rule(
    "CCCI-E811", "lint.config-vendored", "error",
    "A config's version variable is set in .env.sample instead of exported by abra.sh: "
    "deployed apps keep the old version and their upgrade is refused (abra's R012 only "
    "asks that abra.sh exists).",
    "Move the variable to abra.sh as export <NAME>_VERSION=v1 and bump it with the file."))
def configs_vendored(subject: LintSubject) -> Iterator[Finding]:
    """A variable unset everywhere is ``ccci check``'s (CCCI-W201)."""
    for rule, where, path, message in _config_problems(_recipe(subject)):
        if rule == "lint.config-vendored":
            yield finding(rule, message, file=where, key=path)


@lint_rule(Rule(
    "CCCI-W812", "lint.config-unversioned", "warning",
    "A config's name has no version variable: the next release that changes its file is "
    "refused by Docker (configs are immutable). abra does not check this.",
    "Name it ${STACK_NAME}_<config>_${<CONFIG>_VERSION} and export the variable in abra.sh."))
def configs_versioned(subject: LintSubject) -> Iterator[Finding]:
    for rule, where, path, message in _config_problems(_recipe(subject)):
        if rule == "lint.config-unversioned":
            yield finding(rule, message, file=where, key=path)


# -- secret and config name lengths (abra R015) --------------------------------------------


def _object_names(project: ComposeProject, stack: str) -> Iterator[tuple[str, str, str]]:
    """(section, key, Docker name) of each secret and config: a name given is used as
    is; without one an external object is named by its key, another gets the stack's
    prefix."""
    for section in ("secrets", "configs"):
        for key, spec in getattr(project, section).items():
            name = spec.get("name")
            if not name:
                name = key if spec.get("external") else f"{stack}_{key}"
            yield section, key, str(name)


def _first_defining(recipe: _Recipe, section: str, key: str) -> str:
    for name in recipe.chain:
        if key in ((recipe.raw.get(name) or {}).get(section) or {}):
            return name
    return recipe.chain[0] if recipe.chain else "compose.yml"


@lint_rule(Rule(
    "CCCI-W813", "lint.name-length", "warning",
    "A secret or config name is over Docker's 64 characters for a 45-character stack name "
    "(abra's longest): deploys on long domains fail, shorter ones work, hence a warning. "
    "abra's R015 warns from 12 characters; ccci computes the real limit.",
    "Shorten the secret or config key (<name> in ${STACK_NAME}_<name>_${..._VERSION})."))
def name_length(subject: LintSubject) -> Iterator[Finding]:
    """The names as a long domain makes them, with the versions the recipe sets."""
    recipe = _recipe(subject)
    if recipe.project is None:
        return
    root = subject.current.root
    env = _environment(root, LONG_DOMAIN)
    project = _project(root, compose_chain(env), env)
    if project is None:
        return
    stack = stack_name(LONG_DOMAIN)
    for section, key, name in _object_names(project, stack):
        if len(name) > DOCKER_NAME_MAX:
            fits = DOCKER_NAME_MAX - (len(name) - ABRA_STACK_MAX)
            yield finding("lint.name-length", f"{section[:-1]} {key} is named {name} "
                          f"({len(name)} characters) for a stack name of {ABRA_STACK_MAX} "
                          f"characters, abra's longest: Docker refuses names over "
                          f"{DOCKER_NAME_MAX}, so an app whose stack name (its domain) is "
                          f"longer than {fits} characters cannot deploy",
                          file=_first_defining(recipe, section, key),
                          key=f"{section}.{key}.name")


# -- tags and releases (abra R006, R014) ---------------------------------------------------


@lint_rule(Rule(
    "CCCI-E814", "lint.tag-lightweight", "error",
    "A tag of the recipe is lightweight: abra reads versions from annotated tags and "
    "refuses to deploy a recipe with a lightweight one (R014).",
    "Recreate it annotated: git tag -d TAG && git tag -a TAG -m TAG COMMIT, then push it."))
def tags_annotated(subject: LintSubject) -> Iterator[Finding]:
    listed = git.git(subject.repo, "for-each-ref", "--format=%(objecttype) %(refname:strip=2)",
                     "refs/tags")
    for line in listed.splitlines():
        kind, _, tag = line.partition(" ")
        if kind != "tag":
            yield finding("lint.tag-lightweight", f"tag {tag} is a lightweight tag (it points "
                          f"at a {kind}, not at a tag object with a message)", key=tag)


@lint_rule(Rule(
    "CCCI-W815", "lint.no-release", "warning",
    "The recipe has no release tag (<semver>+<upstream>): nothing is published to install "
    "or upgrade from (abra's R006 looks in the catalogue instead).",
    "Release a version: tag it e.g. 0.1.0+1.2.3 (annotated), with release notes."))
def has_release(subject: LintSubject) -> Iterator[Finding]:
    if not sort_versions(list(subject.tags)):
        yield finding("lint.no-release", "the repository has no release tag "
                      "(<semver>+<upstream>, e.g. 0.1.0+1.2.3)", key="tags")


# -- README (abra R007) --------------------------------------------------------------------


@lint_rule(Rule(
    "CCCI-W816", "lint.readme", "warning",
    "The recipe has no README.md, where abra and the catalogue read what the recipe is (R007).",
    "Add a README.md: what the app is, how to deploy it, and the metadata block."))
def readme_present(subject: LintSubject) -> Iterator[Finding]:
    if subject.current.read("README.md") is None:
        yield finding("lint.readme", "the recipe has no README.md", file="README.md")


def _metadata(readme: str) -> dict[str, str] | None:
    """The fields of the README's <!-- metadata --> block; None without one."""
    block = _METADATA.search(readme)
    if block is None:
        return None
    fields = (_METADATA_FIELD.match(line) for line in block["body"].splitlines())
    return {m["key"].strip().rstrip(":"): m["value"].strip() for m in fields if m}


@lint_rule(Rule(
    "CCCI-W817", "lint.readme-metadata", "warning",
    "README.md lacks the catalogue's metadata block, or leaves empty a field of it abra "
    "requires: Category, Image, Healthcheck, Backups, Email, SSO (R007).",
    "Copy the metadata block of the README of Co-op Cloud's example recipe (lines such as "
    "* **Category**: Apps between the metadata and endmetadata comments) and fill it in."))
def readme_metadata(subject: LintSubject) -> Iterator[Finding]:
    readme = subject.current.read("README.md")
    if readme is None:
        return
    fields = _metadata(readme)
    if fields is None:
        yield finding("lint.readme-metadata", "README.md has no <!-- metadata --> block "
                      "(the catalogue's category, image, healthcheck, backups, email, SSO)",
                      file="README.md", key="metadata")
        return
    empty = [name for name in METADATA_FIELDS if not fields.get(name)]
    if empty:
        yield finding("lint.readme-metadata", f"README.md's metadata block leaves "
                      f"{', '.join(empty)} empty", file="README.md", key="metadata")
