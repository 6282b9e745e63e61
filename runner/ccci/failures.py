"""What kind of failure a failed tier is, and what to do about a known one.

A CI job needs one answer per failed tier: is the recipe wrong (``recipe``: fix the
recipe), did the registry, network or host let the run down (``infrastructure``:
worth a retry, ``ccci run`` exits 3 when nothing else failed), or is ccci itself at
fault (``harness``: report it)? The answer is read from the failed task's own
evidence: the error text of the tool it ran (Docker's stderr, the registry's answer,
restic's message, the hook's exception) and which module the task ran.

The rules, first match wins (``RULES`` holds the patterns, in this order):

1. An unreachable host is infrastructure.
2. Text only the registry, the Docker daemon, the disk or SSH produce (a registry's
   ``Get "http://…/v2/"``, ``dial tcp``, ``no such host``, ``i/o timeout``, Docker's
   "Cannot connect to the Docker daemon", "no space left on device", "Failed to
   connect to the host via ssh", a stack or port already taken on a shared host) is
   infrastructure, whatever task it came from.
3. Text of a known recipe mistake is ``recipe``, with a how-to-fix hint: a tag the
   registry does not have (``manifest unknown``), an image nobody can pull (``No such
   image``, ``pull access denied``), a changed config without a new name ("only
   updates to Labels are allowed"), an invalid image reference or compose key, a
   failed hook.
4. Ansible's own errors (an undefined variable, bad module arguments, a module that
   crashed, an action plugin's exception, ccci not importable) are ``harness``: the
   playbooks and plugins are ccci's code, not the recipe's.
5. Otherwise the module decides: a failure of a task that judges the recipe (deploy,
   convergence, hooks, markers, health check, version check, backup and restore, the
   functional tests) is
   ``recipe``; any other module's failure is unexpected, so ``harness``.

A stage that failed without any failed task (a playbook that did not parse, say), or
that matched no host although planning found one, is ``harness``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

FailureKind = Literal["recipe", "infrastructure", "harness", "base"]
RECIPE: FailureKind = "recipe"
INFRASTRUCTURE: FailureKind = "infrastructure"
HARNESS: FailureKind = "harness"
# The published release an upgrade starts from does not deploy (its image is gone, an
# old bug): the recipe's past, not the change under test.
BASE: FailureKind = "base"
KINDS: tuple[FailureKind, ...] = (RECIPE, INFRASTRUCTURE, HARNESS, BASE)


@dataclass(frozen=True)
class Rule:
    """One pattern of a tool's error text and what it means."""

    name: str
    kind: FailureKind
    pattern: re.Pattern[str]
    hint: str = ""


@dataclass(frozen=True)
class Classification:
    """The kind of a failure, the rule that said so, and a how-to-fix line if known."""

    kind: FailureKind
    rule: str
    hint: str = ""


def _rule(name: str, kind: FailureKind, pattern: str, hint: str = "") -> Rule:
    return Rule(name, kind, re.compile(pattern, re.IGNORECASE), hint)


_INFRASTRUCTURE_RULES = (
    _rule("registry unreachable", INFRASTRUCTURE,
          r'Get "?https?://[^"\s]+/v2/|dial tcp|no such host|i/o timeout|'
          r"TLS handshake timeout|connection reset by peer|net/http: request canceled",
          "the registry or the network failed the host; retry the run"),
    _rule("registry unavailable", INFRASTRUCTURE,
          r"toomanyrequests|503 Service Unavailable|502 Bad Gateway|"
          r"received unexpected HTTP status: 5\d\d",
          "the registry refused or rate-limited the pull; retry later"),
    _rule("registry credentials", INFRASTRUCTURE,
          r"unauthorized: authentication required|no basic auth credentials",
          "the host is not logged in to the image's registry (docker login on the host)"),
    _rule("docker daemon", INFRASTRUCTURE,
          r"Cannot connect to the Docker daemon|Error while fetching server API version|"
          r"docker\.sock",
          "the Docker daemon on the host is not answering"),
    _rule("host resources", INFRASTRUCTURE, r"no space left on device",
          "the host is out of disk space"),
    _rule("ssh", INFRASTRUCTURE, r"Failed to connect to the host via ssh",
          "the host cannot be reached over SSH"),
    _rule("shared host", INFRASTRUCTURE,
          r"already exists on the host|port is already allocated|address already in use|"
          r"is in use on the host",
          "another run or app holds the stack name or port; retry the run"),
    _rule("host not prepared", INFRASTRUCTURE,
          r"network \"?proxy\"? not found|the host is not prepared",
          "prepare the host: ansible-playbook playbooks/prepare-host.yml"),
    _rule("proxy down", INFRASTRUCTURE, r"no answer from the proxy on",
          "the host's proxy stack (Traefik) is not running: prepare the host again "
          "(ansible-playbook playbooks/prepare-host.yml) and see docker service ps proxy_traefik"),
)

_RECIPE_RULES = (
    _rule("tag not in registry", RECIPE, r"manifest unknown|manifest for \S+ not found",
          "the registry has no such tag: push the image or fix the tag in the compose file"),
    _rule("image not pullable", RECIPE,
          r"pull access denied|repository does not exist|No such image",
          "the image is neither on the host nor pullable: build or push it, fix its name, "
          "or set RESOLVE_IMAGE so ccci pulls it before deploying"),
    _rule("config changed without a new name", RECIPE, r"only updates to Labels are allowed",
          "a config or secret changed under the same name: bump its *_VERSION "
          "(e.g. the export in abra.sh) whenever its content changes"),
    _rule("invalid image reference", RECIPE, r"invalid reference format",
          "an image reference is not valid (an unset variable in the image name?)"),
    _rule("invalid compose file", RECIPE,
          r"Additional property \S+ is not allowed|services\.\S+ must be|"
          r"refers to undefined (?:volume|network|config|secret)|"
          r"(?:secret|config) not found",
          "the compose files are not valid for docker stack deploy: fix the named key"),
    _rule("hook failed", RECIPE, r"^hook \S+ failed"),
    _rule("app not reached", RECIPE, r"^the app did not answer well",
          "the reason says, for each name and path, what the proxy answered and which "
          "label (traefik.*, networks) to fix"),
)

_HARNESS_RULES = (
    _rule("ansible error", HARNESS,
          r"The task includes an option with an undefined variable|AnsibleUndefinedVariable|"
          r"'[\w.]+' is undefined|"
          r"Unsupported parameters for|missing required arguments|"
          r"Conditional result .* was of type|template error while templating",
          "ccci's playbooks passed a bad value: report it with the run's artifacts"),
    _rule("module crashed", HARNESS,
          r"MODULE FAILURE|Unexpected failure during module execution|Traceback \(most|"
          r"the ccci Python package is not importable",
          "a ccci module or plugin crashed: report it with the run's artifacts"),
    _rule("no evidence", HARNESS, r"ended without recording that the tier passed"),
)

RULES: tuple[Rule, ...] = _INFRASTRUCTURE_RULES + _RECIPE_RULES + _HARNESS_RULES

# Tasks that judge the recipe: when they fail and no rule matched, the recipe did.
RECIPE_ACTIONS = frozenset({
    "community.docker.docker_stack", "community.docker.docker_image_pull",
    "ccci.recipe.stack_converge", "ccci.recipe.hook", "ccci.recipe.marker",
    "ccci.recipe.backup", "ccci.recipe.backupbot_backup", "ccci.recipe.backupbot_restore",
    "ansible.builtin.uri", "ansible.builtin.assert", "ccci.recipe.app_probe",
    "ccci.recipe.functional", "ccci.recipe.lint",
})


def failure_text(failure: Mapping[str, Any]) -> str:
    """Everything a failed task said, for matching: its message and the tool's output."""
    parts = [failure.get(key) for key in ("msg", "detail", "stderr", "stdout", "exception")]
    return "\n".join(str(part) for part in parts if part)


def classify_failure(failure: Mapping[str, Any]) -> Classification:
    """The kind of one failed task (a ``ccci.ansible`` failure record), by the rules above."""
    if failure.get("unreachable"):
        return Classification(INFRASTRUCTURE, "host unreachable",
                              "the host could not be reached; retry the run")
    text = failure_text(failure)
    for rule in RULES:
        if rule.pattern.search(text):
            return Classification(rule.kind, rule.name, rule.hint)
    if failure.get("action") in RECIPE_ACTIONS:
        return Classification(RECIPE, "recipe task failed")
    return Classification(HARNESS, "unexpected module failure",
                          "a ccci task failed in a way ccci does not expect: report it")


def classify_text(text: str, *, default: FailureKind = HARNESS) -> Classification:
    """The kind of a failure known only by its text (e.g. a run-level error)."""
    for rule in RULES:
        if rule.pattern.search(text):
            return Classification(rule.kind, rule.name, rule.hint)
    return Classification(default, "no rule matched")


def classify_stage(status: str, failures: Iterable[Mapping[str, Any]],
                   reason: str = "") -> Classification:
    """The kind of a failed stage: its first failed task's, else from how it ended.

    The first failure is the one the tier's reason shows, and the one that stopped the
    play; later ones (an ``always:`` block recording the deploy) follow from it.
    """
    first = next(iter(failures), None)
    if first is not None:
        return classify_failure(first)
    if status == "successful":  # no failed task and no host: ccci's evidence check
        return Classification(HARNESS, "no host",
                              "the stage ran on no host although planning found one: "
                              "check the inventory's swarm group")
    return classify_text(reason)


def run_kind(kinds: Iterable[str | None]) -> FailureKind | None:
    """One kind for a run's failures: infrastructure only when every failure is.

    A CI job retries a run that failed on infrastructure alone; any recipe or harness
    failure must reach a person, so it wins.
    """
    found = {kind or HARNESS for kind in kinds}
    if not found:
        return None
    if found == {INFRASTRUCTURE}:
        return INFRASTRUCTURE
    for kind in (RECIPE, BASE):
        if kind in found:
            return kind
    return HARNESS
