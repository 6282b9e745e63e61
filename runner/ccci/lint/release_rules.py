"""Release rules: mistakes that only show with two versions of a recipe side by side.

Linters read one version. These rules compare the version under test with the
previous release (``LintSubject.previous``): a config file edited without a new name
(swarm configs are immutable, so the upgrade breaks), compose files changed under an
unchanged version, an image bumped under an unchanged upstream version, release
notes dropped, ``.env.sample`` variables added for nothing or removed while still
used. Without a previous release there is nothing to compare and they find nothing.
One rule needs no previous release: a variable in a field abra reads before it
interpolates (a duration, a number, a boolean), which abra refuses.

Both versions are read the way ``ccci check`` reads a recipe (same domain, so the
same STACK_NAME): ``.env.sample`` and ``abra.sh`` give the environment, compose files
are parsed as written and interpolated only where a rule needs the deployed value.
A file ccci cannot read is ``ccci check``'s to report; here it only means no finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ccci.check import CHECK_DOMAIN
from ccci.compose import docker_interpolate, labels_of
from ccci.compose_merge import merge_service
from ccci.deploy_env import build_env, compose_chain
from ccci.envfile import parse_dotenv
from ccci.errors import CcciError
from ccci.findings import Finding, Rule, finding
from ccci.versions import parse_version

from .registry import lint_rule
from .subject import LintSubject, Release

# A reference as docker stack deploy reads it: ``$$`` (escaped, no name), ``${NAME}``,
# ``${NAME<op>...}``, ``$NAME`` and, as docker/cli's pattern has it, ``$NAME-default``.
_REF = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<bop>:?[-?])?"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)(?P<nop>:?[-?])?)"
)
_SHELL_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_OPTION = re.compile(r"^\s*#+\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)
_VERSION_LABEL = re.compile(r"^coop-cloud\.[^.]+\.version$")
# Variables abra itself reads from an app's env file (not through the compose files).
ABRA_KEYS = frozenset({"TYPE", "RECIPE", "DOMAIN", "STACK_NAME", "COMPOSE_FILE",
                       "ENABLE_AUTO_UPDATE", "POST_DEPLOY_CMDS", "POST_UPGRADE_CMDS"})
IMMUTABLE = ('swarm {section} are immutable: the upgrade fails ("only updates to Labels '
             'are allowed") or the app keeps the old content')


# --- reading one release ------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """One release as the rules read it.

    ``env`` is the deploy environment, None when ``.env.sample`` or ``abra.sh`` cannot
    be read; ``compose`` holds every compose file of the recipe (the deployed chain
    first, then the optional ``compose.*.yml``), parsed but not interpolated.
    """

    release: Release
    env: Mapping[str, str] | None
    chain: tuple[str, ...]
    compose: Mapping[str, Mapping[str, Any]]
    sample_keys: frozenset[str]  # assigned in .env.sample
    sample_options: frozenset[str]  # commented out in .env.sample (``#KEY=value``)
    exports: frozenset[str]  # exported by abra.sh

    def defines(self, name: str) -> str | None:
        """The file that sets ``name`` (abra.sh wins, as in the deploy), if any."""
        if name in self.exports:
            return "abra.sh"
        return ".env.sample" if name in self.sample_keys else None

    def interpolate(self, text: str) -> str | None:
        """``text`` as docker stack deploy would deploy it; None when it cannot say."""
        if self.env is None:
            return None
        try:
            return docker_interpolate(text, self.env, set())
        except ValueError:  # refused text: ccci check reports it
            return None


def _inside(root: Path, name: str) -> Path | None:
    """``root/name`` when ``name`` stays inside the recipe."""
    if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
        return None
    return root / name


def _load_yaml(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(errors="replace"))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _keys(text: str | None, *, exports_only: bool = False) -> frozenset[str]:
    if not text:
        return frozenset()
    try:
        return frozenset(parse_dotenv(text, {}, exports_only=exports_only).values)
    except CcciError:
        return frozenset()


@lru_cache(maxsize=16)
def read_view(release: Release, domain: str) -> View:
    """``release`` read with the deploy environment ccci check builds for ``domain``."""
    try:
        env: dict[str, str] | None = build_env(release.root, domain)[0]
    except CcciError:
        env = None
    chain = tuple(compose_chain(env or {}))
    others = sorted(p.name for p in release.root.glob("compose*.y*ml"))
    compose = {}
    for name in [*chain, *others]:
        data = _load_yaml(_inside(release.root, name))
        if data is not None:
            compose.setdefault(name, data)
    sample = release.read(".env.sample")
    return View(release, env, chain, compose, _keys(sample),
                frozenset(_OPTION.findall(sample or "")),
                _keys(release.read("abra.sh"), exports_only=True))


def _views(subject: LintSubject) -> tuple[View, View] | None:
    """The previous release and the version under test, or None without a previous."""
    if subject.previous is None:
        return None
    domain = CHECK_DOMAIN.format(recipe=subject.recipe)
    return read_view(subject.previous, domain), read_view(subject.current, domain)


def _current(subject: LintSubject) -> View:
    return read_view(subject.current, CHECK_DOMAIN.format(recipe=subject.recipe))


# --- small readers ------------------------------------------------------------------

def references(text: str) -> Iterator[tuple[str, bool]]:
    """(variable, has a default) for each variable ``text`` interpolates."""
    for match in _REF.finditer(text):
        name = match["braced"] or match["named"]
        if name:
            op = match["bop"] or match["nop"] or ""
            yield name, op in ("-", ":-")


def _strings(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, text) of every string value of a YAML tree (keys are never interpolated);
    a list item's path segment is ``[i]``."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _strings(item, (*path, f"[{i}]"))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, str(key)))


def _dotted(path: tuple[str, ...]) -> str:
    return "".join(part if part.startswith("[") else f".{part}" for part in path).lstrip(".")


def _section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _services(view: View) -> dict[str, tuple[dict[str, Any], str]]:
    """Each service of the deployed chain merged as docker does, with the last compose
    file that defines it."""
    merged: dict[str, tuple[dict[str, Any], str]] = {}
    for file in view.chain:
        for name, spec in _section(view.compose.get(file, {}), "services").items():
            if isinstance(spec, dict):
                before = merged.get(str(name), ({}, file))[0]
                merged[str(name)] = (merge_service(before, spec), file)
    return merged


def version_label(view: View) -> tuple[str, str, str] | None:
    """(version, compose file, service) of the ``coop-cloud.<stack>.version`` label."""
    for name, (spec, file) in _services(view).items():
        for label, value in labels_of(spec).items():
            if _VERSION_LABEL.match(label):
                return value.strip(), file, name
    return None


def version_under_test(subject: LintSubject) -> str | None:
    """The release tag, else the version the head's label names (when it is one)."""
    if subject.current.version:
        return subject.current.version
    label = version_label(_current(subject))
    return label[0] if label and parse_version(label[0]) else None


# --- 1. a config changed under the same name ----------------------------------------

def _file_objects(view: View) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    """Configs and secrets whose content the recipe holds (a ``file`` or ``content``),
    by (compose file, section, key): each compose file on its own, since optional files
    may define the same key differently (one moved to another file is not compared)."""
    found: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for file, data in view.compose.items():
        for section in ("configs", "secrets"):
            for key, spec in _section(data, section).items():
                if isinstance(spec, dict) and ("file" in spec or "content" in spec):
                    found[(file, section, str(key))] = spec
    return found


def _content(view: View, spec: Mapping[str, Any]) -> bytes | None:
    if "file" not in spec:
        return None if spec.get("content") is None else str(spec["content"]).encode()
    name = view.interpolate(str(spec["file"]))
    path = _inside(view.release.root, name) if name else None
    return path.read_bytes() if path is not None and path.is_file() else None


def _raw_name(key: str, spec: Mapping[str, Any]) -> str:
    # Without a name, docker stack deploy names the object <stack>_<key>.
    return str(spec.get("name") or f"${{STACK_NAME}}_{key}")


def _stale_object(views: tuple[View, View], where: tuple[str, str, str],
                  specs: tuple[Mapping[str, Any], Mapping[str, Any]]) -> Finding | None:
    """The finding for one config or secret whose content changed under the same name."""
    (prev, cur), (compose, section, key), (old, new) = views, where, specs
    raw = _raw_name(key, new)
    name = cur.interpolate(raw)
    if name is None or name != prev.interpolate(_raw_name(key, old)):
        return None
    before, after = _content(prev, old), _content(cur, new)
    if before is None or after is None or before == after:
        return None
    kind = "template config" if new.get("template_driver") else section[:-1]
    what = f"file {new['file']}" if "file" in new else "content"
    if "file" in old and "file" in new and old["file"] != new["file"]:
        what += f" (was {old['file']})"
    assert cur.env is not None  # interpolate gave a name
    variables = [v for v, _ in references(raw) if v != "STACK_NAME"]
    start = (f"{kind} {key} ({compose}): its {what} changed since {prev.release.version} "
             f"but its name {raw} did not")
    immutable = IMMUTABLE.format(section=section)
    if not variables:
        return finding("lint.config-version", f"{start}, and the name has no version "
                       f"variable; {immutable}", file=compose, key=f"{section}.{key}.name")
    values = ", ".join(f"{v}={cur.env.get(v, '')}" for v in variables)
    defined = cur.defines(variables[0])
    return finding("lint.config-version",
                   f"{start}: {values} in both; {immutable}. Bump {variables[0]}"
                   + (f" in {defined}" if defined else ""),
                   file=defined or compose, key=variables[0])


@lint_rule(Rule(
    "CCCI-E850", "lint.config-version", "error",
    "A config or secret file changed since the previous release but its name (its "
    "version variable) did not: swarm refuses or ignores the new content on upgrade.",
    "Bump the version variable in its name (an abra.sh export such as NGINX_CONF_VERSION, "
    "or .env.sample) whenever the file changes."))
def config_version(subject: LintSubject) -> Iterable[Finding]:
    """Swarm configs and secrets cannot change content: a new content needs a new name."""
    views = _views(subject)
    if views is None:
        return []
    before = _file_objects(views[0])
    found = []
    for where, spec in _file_objects(views[1]).items():
        if where in before:
            item = _stale_object(views, where, (before[where], spec))
            if item is not None:
                found.append(item)
    return found


# --- 2. compose changed, version did not ------------------------------------------

def _stale_label(subject: LintSubject) -> tuple[str, str, str] | None:
    """The version label of the version under test when its compose files changed
    since the previous release but the label still names that release."""
    views = _views(subject)
    if views is None:
        return None
    prev, cur = views
    label = version_label(cur)
    if label is None or label[0] == subject.current.version:
        return None
    previous_label = version_label(prev)
    stale = {prev.release.version, previous_label[0] if previous_label else None}
    if label[0] not in stale or dict(cur.compose) == dict(prev.compose):
        return None
    return label


@lint_rule(Rule(
    "CCCI-E851", "lint.version-not-bumped", "error",
    "A release changes the compose files but its version label still names the previous "
    "release: deployed apps claim the old version and abra plans upgrades from it.",
    "Label coop-cloud.${STACK_NAME}.version with the new version (abra recipe release "
    "does it) and tag that commit as a new release."))
def version_not_bumped(subject: LintSubject) -> Iterable[Finding]:
    """A published release must carry its own version: abra reads the deployed version
    from the label to choose upgrades and rollbacks, so a stale one misleads every
    operator, and a tag cannot be fixed without another release. An error."""
    label = _stale_label(subject) if subject.current.version else None
    if label is None:
        return []
    value, file, service = label
    return [finding("lint.version-not-bumped",
                    f"release {subject.current.version} changes the compose files since "
                    f"{value}, but service {service}'s version label still says {value}",
                    file=file, key=f"services.{service}.deploy.labels")]


@lint_rule(Rule(
    "CCCI-W852", "lint.unreleased-change", "warning",
    "Unreleased compose changes: the version label still names the previous release.",
    "Release them: bump coop-cloud.${STACK_NAME}.version and tag (abra recipe release); "
    "until then a deploy of this commit reports the previous version."))
def unreleased_change(subject: LintSubject) -> Iterable[Finding]:
    """On a pull request's head the label usually moves at release time, so this is a
    reminder (a warning); tagged as it is, the same commit is CCCI-E851."""
    label = None if subject.current.version else _stale_label(subject)
    if label is None:
        return []
    value, file, service = label
    return [finding("lint.unreleased-change",
                    f"the compose files changed since {value}, but service {service}'s "
                    f"version label still says {value}: a deploy of this commit claims to "
                    f"be {value}", file=file, key=f"services.{service}.deploy.labels")]


def _split_image(reference: str) -> tuple[str, str]:
    """(name, tag) of an image reference; digest dropped, no tag means ``latest``."""
    reference = reference.split("@", 1)[0]
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


def _tag_is_upstream(tag: str, upstream: str) -> bool:
    """Whether the upstream version was taken from this tag (``1.22``, ``v1.22``,
    ``1.22-alpine``, ``1.22.1`` for ``1.22``): the image the version is about."""
    tag, upstream = tag.removeprefix("v"), upstream.removeprefix("v")
    if tag == upstream:
        return True
    longer, shorter = (tag, upstream) if len(tag) > len(upstream) else (upstream, tag)
    return longer.startswith(shorter) and longer[len(shorter)] in "-._+"


def _image_bumps(prev: View, cur: View) -> Iterator[tuple[str, str, str, str, str]]:
    """(service, compose file, image name, old tag, new tag) for each changed tag."""
    before = _services(prev)
    for service, (spec, file) in _services(cur).items():
        old_image = before.get(service, ({}, ""))[0].get("image")
        new_image = spec.get("image")
        if not (isinstance(old_image, str) and isinstance(new_image, str)):
            continue
        old, new = prev.interpolate(old_image), cur.interpolate(new_image)
        if old and new:
            (_, old_tag), (name, new_tag) = _split_image(old), _split_image(new)
            if old_tag != new_tag:
                yield service, file, name, old_tag, new_tag


@lint_rule(Rule(
    "CCCI-W853", "lint.image-upstream", "warning",
    "An image tag changed but the version's upstream part (+<upstream>) did not.",
    "Name the new upstream version after the + of the release tag and version label "
    "(e.g. 1.3.0+1.23 for an image moving to 1.23)."))
def image_upstream(subject: LintSubject) -> Iterable[Finding]:
    """The upstream part says which app version a release deploys; operators read it to
    choose upgrades. Only the image whose old tag the upstream part matched is judged:
    a database or cache bump leaves the app's version alone."""
    views = _views(subject)
    version = version_under_test(subject)
    if views is None or version is None:
        return []
    prev, cur = views
    old_v, new_v = parse_version(prev.release.version or ""), parse_version(version)
    if old_v is None or new_v is None or old_v.upstream != new_v.upstream:
        return []
    return [finding("lint.image-upstream",
                    f"service {service}: image {name} moves from tag {old_tag} to {new_tag}, "
                    f"but the version's upstream part stays {new_v.upstream} "
                    f"({prev.release.version} -> {version})",
                    file=file, key=f"services.{service}.image")
            for service, file, name, old_tag, new_tag in _image_bumps(prev, cur)
            if _tag_is_upstream(old_tag, old_v.upstream)]


# --- 3. release notes -------------------------------------------------------------

@lint_rule(Rule(
    "CCCI-W854", "lint.release-notes", "warning",
    "A new version has no release notes (release/<version>) though the previous one had.",
    "Write release/<version> (or release/next before releasing): what changed and what "
    "an operator must do when upgrading."))
def release_notes(subject: LintSubject) -> Iterable[Finding]:
    """abra shows release/<version> when an operator upgrades; a recipe that writes
    notes and then skips one leaves the upgrade it most likely needed unexplained."""
    previous = subject.previous
    version = version_under_test(subject)
    if previous is None or version is None or previous.version is None:
        return []
    new, old = parse_version(version), parse_version(previous.version)
    if new is None or old is None or new <= old:
        return []
    if previous.read(f"release/{previous.version}") is None:
        return []
    if subject.current.read(f"release/{version}") is not None:
        return []
    if not subject.current.version and subject.current.read("release/next") is not None:
        return []
    return [finding("lint.release-notes",
                    f"version {version} has no release notes (release/{version}), though "
                    f"{previous.version} had them", file=f"release/{version}", key=version)]


# --- 4. a variable where abra reads before interpolating --------------------------

DURATION, NUMBER, BOOLEAN = "a duration", "a number", "true or false"
_S = ("services", "*")
# Fields of docker/cli's compose schema (v3.x) that are not plain strings: typed
# numbers and booleans, and strings of format "duration". docker stack deploy casts a
# variable's value there after interpolating; a loader that validates the file as
# written (abra's, DESIGN.md) meets the text ``${X}`` and refuses it.
TYPED_FIELDS: dict[tuple[str, ...], str] = {
    **{(*_S, "healthcheck", f): DURATION
       for f in ("interval", "timeout", "start_period", "start_interval")},
    (*_S, "stop_grace_period"): DURATION,
    **{(*_S, "deploy", c, f): DURATION
       for c in ("update_config", "rollback_config") for f in ("delay", "monitor")},
    **{(*_S, "deploy", "restart_policy", f): DURATION for f in ("delay", "window")},
    (*_S, "healthcheck", "retries"): NUMBER,
    (*_S, "deploy", "replicas"): NUMBER,
    **{(*_S, "deploy", c, f): NUMBER for c in ("update_config", "rollback_config")
       for f in ("parallelism", "max_failure_ratio")},
    (*_S, "deploy", "restart_policy", "max_attempts"): NUMBER,
    (*_S, "deploy", "placement", "max_replicas_per_node"): NUMBER,
    (*_S, "ports", "[]", "target"): NUMBER,
    (*_S, "ports", "[]", "published"): NUMBER,
    (*_S, "configs", "[]", "mode"): NUMBER,
    (*_S, "secrets", "[]", "mode"): NUMBER,
    (*_S, "ulimits", "*"): NUMBER,
    (*_S, "ulimits", "*", "soft"): NUMBER,
    (*_S, "ulimits", "*", "hard"): NUMBER,
    (*_S, "volumes", "[]", "tmpfs", "size"): NUMBER,
    **{(*_S, f): BOOLEAN for f in ("init", "privileged", "read_only", "stdin_open", "tty")},
    (*_S, "healthcheck", "disable"): BOOLEAN,
    (*_S, "volumes", "[]", "read_only"): BOOLEAN,
    (*_S, "volumes", "[]", "volume", "nocopy"): BOOLEAN,
    **{("networks", "*", f): BOOLEAN for f in ("external", "internal", "attachable")},
    **{(s, "*", "external"): BOOLEAN for s in ("volumes", "secrets", "configs")},
}


def _segment_matches(want: str, got: str) -> bool:
    """``*`` is any mapping key, ``[]`` any list item, anything else itself."""
    if want == "[]":
        return got.startswith("[")
    return not got.startswith("[") and want in ("*", got)


def typed_field(path: tuple[str, ...]) -> str | None:
    """What the field at ``path`` must be when it is one of TYPED_FIELDS."""
    for pattern, kind in TYPED_FIELDS.items():
        if len(pattern) == len(path) and all(map(_segment_matches, pattern, path)):
            return kind
    return None


@lint_rule(Rule(
    "CCCI-E855", "lint.uninterpolated-field", "error",
    "A variable in a duration, number or boolean field: abra validates these before "
    "interpolating and refuses the recipe.",
    "Write the value itself (30s, 2, true); to change it for one deployment, add an "
    "overlay compose file to COMPOSE_FILE."))
def uninterpolated_field(subject: LintSubject) -> Iterable[Finding]:
    """docker stack deploy accepts ``start_period: ${X}``, abra does not: a recipe that
    deploys in ccci would still fail for every operator using abra. Every compose file
    of the recipe is read, the optional ones too."""
    found = []
    for file, data in _current(subject).compose.items():
        for path, text in _strings(data):
            kind = typed_field(path) if "$" in text else None
            names = [name for name, _ in references(text)] if kind else []
            if names:
                found.append(finding(
                    "lint.uninterpolated-field",
                    f"compose file {file}: {_dotted(path)} is {text!r}: abra reads this "
                    f"field as {kind} before interpolating, so it refuses the variable "
                    f"{', '.join(names)}", file=file, key=_dotted(path)))
    return found


# --- 5. .env.sample against the compose files ------------------------------------

def _compose_references(view: View) -> dict[str, dict[str, bool]]:
    """For each compose file: variable -> whether every use of it has a default."""
    used: dict[str, dict[str, bool]] = {}
    for file, data in view.compose.items():
        here = used.setdefault(file, {})
        for _, text in _strings(data):
            for name, has_default in references(text):
                here[name] = here.get(name, True) and has_default
    return used


def _used_anywhere(view: View) -> set[str]:
    """Variables the compose files, abra.sh or .env.sample's own values refer to."""
    names = {name for refs in _compose_references(view).values() for name in refs}
    for text in (view.release.read("abra.sh"), view.release.read(".env.sample")):
        names.update(_SHELL_REF.findall(text or ""))
    return names


@lint_rule(Rule(
    "CCCI-W856", "lint.env-unused", "warning",
    ".env.sample gained a variable since the previous release that nothing uses.",
    "Use the variable in a compose file (e.g. a service's environment), or drop it from "
    ".env.sample."))
def env_unused(subject: LintSubject) -> Iterable[Finding]:
    """docker stack deploy passes a container only what the compose files interpolate:
    a new setting nothing reads looks configurable to operators and changes nothing.
    SECRET_*_VERSION lines are ccci check's (CCCI-W301)."""
    views = _views(subject)
    if views is None:
        return []
    prev, cur = views
    known = prev.sample_keys | prev.sample_options | ABRA_KEYS
    used = _used_anywhere(cur)
    gained = sorted((cur.sample_keys | cur.sample_options) - known - used)
    return [finding("lint.env-unused",
                    f".env.sample gains {name} (not in {prev.release.version}), but no "
                    "compose file, abra.sh or other .env.sample line uses it",
                    file=".env.sample", key=name)
            for name in gained if not re.fullmatch(r"SECRET_\w+_VERSION", name)]


@lint_rule(Rule(
    "CCCI-W857", "lint.env-removed", "warning",
    "A compose file uses a variable (without default) that .env.sample set in the "
    "previous release and no longer does.",
    "Put the variable back in .env.sample (commented out if optional), give it a "
    "default (${VAR:-value}), or stop using it."))
def env_removed(subject: LintSubject) -> Iterable[Finding]:
    """Existing apps keep the variable in their env files; new ones deploy a blank."""
    views = _views(subject)
    if views is None:
        return []
    prev, cur = views
    still = cur.sample_keys | cur.sample_options | cur.exports | ABRA_KEYS
    found = []
    for file, refs in _compose_references(cur).items():
        for name, has_default in sorted(refs.items()):
            if not has_default and name not in still and name in prev.sample_keys:
                found.append(finding(
                    "lint.env-removed",
                    f"compose file {file} uses ${{{name}}} without a default, but .env.sample "
                    f"no longer sets {name} ({prev.release.version} did): new apps deploy "
                    "it blank", file=file, key=name))
    return found
