"""Findings about a recipe: one registry of rules, each with a stable code.

``ccci check`` and run planning report what they find about a recipe as findings
of these rules. An error blocks a run (Docker would refuse the deploy, or a blank
would break it); a warning is shown and recorded in results.json. The registry is
the one place a rule is defined: docs/check-rules.md is generated from it
(``ccci check-doc``), and a unit test fails when the document is stale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ccci.errors import BadInput

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """One kind of finding: its code, name, severity, meaning and how to fix it."""

    code: str
    name: str
    severity: Severity
    summary: str
    fix: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    by_name = {rule.name: rule for rule in rules}
    assert len(by_name) == len({rule.code for rule in rules}) == len(rules), "duplicate rule"
    return by_name


def _e(code: str, name: str, summary: str, fix: str) -> Rule:
    return Rule(f"CCCI-E{code}", name, "error", summary, fix)


def _w(code: str, name: str, summary: str, fix: str) -> Rule:
    return Rule(f"CCCI-W{code}", name, "warning", summary, fix)


RULES: dict[str, Rule] = _rules(
    _e("001", "recipe.name", "The recipe name is not a safe name.",
       "Use lowercase letters, digits and dashes, as the recipe's repository is named."),
    _e("002", "recipe.repo", "The recipe's git repository cannot be found.",
       "Pass --repo PATH or set CCCI_RECIPES_DIR to the folder holding the recipe."),
    _e("003", "recipe.ref", "The git ref to test does not exist in the recipe.",
       "Name an existing branch, tag or commit with --ref."),
    _e("010", "config.invalid", "The recipe's CI config (meta.yml, hooks.py) is invalid.",
       "Fix the key named; docs/recipe-config.md lists every key and its type."),
    _e("101", "env.file", ".env.sample or abra.sh is missing or has a line ccci cannot read.",
       "Add .env.sample, or fix the line named (KEY=value, quotes closed)."),
    _e("102", "env.pinned", "EXTRA_ENV sets DOMAIN or STACK_NAME, which ccci sets per run.",
       "Remove DOMAIN and STACK_NAME from EXTRA_ENV."),
    _e("201", "compose.file", "A compose file named by COMPOSE_FILE is missing or not valid.",
       "Add the file, fix its YAML, or fix COMPOSE_FILE in .env.sample."),
    _e("202", "interp.invalid", "docker stack deploy refuses this interpolation format.",
       "Write $$ for a literal $; a variable is $NAME or ${NAME}."),
    _e("203", "interp.nested-default",
       "A default containing a variable: docker stack deploy deploys it verbatim.",
       "Set the default in .env.sample instead of nesting ${A:-${B}}."),
    _e("204", "interp.required", "A ${VAR?msg} / ${VAR:?msg} variable is not set.",
       "Set the variable in .env.sample, abra.sh or the recipe's EXTRA_ENV."),
    _e("205", "compose.image", "An image is not a valid reference (often a blank variable).",
       "Set the variable named, or give it a default: ${TAG:-1.0}."),
    _e("206", "compose.port", "A port is not a number (often a blank variable).",
       "Set the variable named, or give it a default: ${PORT:-8080}."),
    _e("207", "compose.object-name",
       "A secret or config name is empty, or an external one uses an unset variable.",
       "Set the variable named (for secrets, SECRET_<NAME>_VERSION in .env.sample)."),
    # CCCI-E208 (no HTTP port label refused) is retired: such a recipe is CCCI-W208.
    _e("301", "secret.length", "A secret's # length=N is not a number from 8 to 4096.",
       "Fix the length comment after SECRET_<NAME>_VERSION in .env.sample."),
    # CCCI-E302 (generate=false refused) is retired: such a secret is now CCCI-W302.
    _e("304", "secret.value",
       "SECRET_VALUES names a secret the recipe does not declare, or an unset variable.",
       "Name a SECRET_<NAME>_VERSION secret, and export the variable for the run."),
    _e("303", "secret.undeclared",
       "An external secret of a compose file has no SECRET_<NAME>_VERSION.",
       "Add SECRET_<NAME>_VERSION=v1 to .env.sample."),
    _e("501", "upgrade.base", "The upgrade base asked for cannot be planned.",
       "Pin a published release tag below the version under test, or fewer hops."),
    _w("201", "interp.unset", "A variable used without default is unset: Docker deploys a blank.",
       "Ignore it if blank is meant (e.g. EXTRA_DOMAINS); else set it in .env.sample."),
    _w("208", "compose.no-http",
       "No service says which port serves HTTP: checks prove convergence, not HTTP.",
       "If the app serves HTTP, label it traefik.http.services.<name>.loadbalancer."
       "server.port=<port>; a recipe without a web service needs nothing."),
    _w("301", "secret.unused",
       "A SECRET_<NAME>_VERSION is declared but no compose file uses the secret.",
       "Use the secret in a compose file, or drop the line from .env.sample."),
    _w("302", "secret.insert",
       "A secret is generate=false (the operator inserts it); a run inserts a random value.",
       "If the app needs a real value, map it in SECRET_VALUES (the recipe's CI config)."),
    _w("601", "deploy.not-idempotent",
       "Deploying the same version again changed services: a deploy is not repeatable.",
       "Pin what the deploy resolves anew (an image tag, a name built from a changing "
       "value), or declare EXPECTED_NA: {idempotence: <reason>}."),
    _w("701", "functional.generic-skipped",
       "The functional tier's generic checks were skipped (CCCI_SKIP_GENERIC).",
       "Unset CCCI_SKIP_GENERIC: it is for local development, not CI; declare a check "
       "that does not apply in EXPECTED_NA with a reason instead."),
    _w("702", "functional.no-suite",
       "The recipe has no functional tests of its own: only the generic checks ran.",
       "Add pytest files as tests/test_*.py in the recipe's CI config folder "
       "(docs/functional-tests.md)."),
    _w("901", "trust.repo-code-skipped",
       "The recipe repository's .ccci/ code (hooks, tests) was not run: not approved.",
       "Approve the recipe in the CI config's trusted_recipes (or --trust-repo-code by "
       "hand) once you trust whoever can change its repository; else ignore it."),
    _w("401", "tags.not-release",
       "Tags not in the release format <semver>+<upstream>: never upgrade bases.",
       "Ignore them, or tag releases as e.g. 1.2.0+3.4 (the upstream may have suffixes)."),
    _w("402", "version.label",
       "A release tag's compose.yml is labelled with another version.",
       "Label coop-cloud.${STACK_NAME}.version with the tag when releasing."),
    _w("403", "version.unreadable", "A release tag's compose.yml is not valid YAML.",
       "Nothing to do for old releases; an upgrade from this one will be refused."),
)


@dataclass(frozen=True)
class Finding:
    """One thing found about a recipe, as shown by ``ccci check`` and in results.json."""

    code: str
    rule: str
    severity: Severity
    message: str
    file: str = ""
    key: str = ""
    fix: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for a person: code, message and where to fix it."""
        return f"{self.code} {self.message} (fix: {self.fix})"


def register(rule: Rule) -> Rule:
    """Add a rule defined elsewhere (the lint rules) to the one registry; its code and
    name must be new. Registering the same rule again (a module imported twice) is fine."""
    known = RULES.get(rule.name)
    if known == rule:
        return rule
    taken = {r.code for r in RULES.values()}
    assert known is None and rule.code not in taken, f"rule {rule.name} ({rule.code}) clashes"
    RULES[rule.name] = rule
    return rule


def finding(rule: str, message: str, *, file: str = "", key: str = "") -> Finding:
    """A finding of the registered ``rule`` (by name); KeyError for an unknown one."""
    spec = RULES[rule]
    return Finding(spec.code, spec.name, spec.severity, message, file, key, spec.fix)


class RecipeProblem(BadInput):
    """Errors that stop a run before anything deploys, each a finding with its code."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = list(findings)
        super().__init__("\n".join(f.line() for f in self.findings))


def problem(rule: str, message: str, *, file: str = "", key: str = "") -> RecipeProblem:
    """A single finding as an exception, for a step that cannot go on without it."""
    return RecipeProblem([finding(rule, message, file=file, key=key)])


class Findings:
    """What one check or plan found, in order; duplicates are dropped."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def add(self, rule: str, message: str, *, file: str = "", key: str = "") -> None:
        self.extend([finding(rule, message, file=file, key=key)])

    def extend(self, found: Iterable[Finding]) -> None:
        self.items.extend(f for f in found if f not in self.items)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.is_error]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.items if not f.is_error]

    def raise_errors(self) -> None:
        """Stop here when anything found so far blocks the deploy."""
        if self.errors:
            raise RecipeProblem(self.errors)


def findings_json(recipe: str, found: list[Finding]) -> str:
    """The findings as data, with counts, for CI and tools."""
    errors = sum(1 for f in found if f.is_error)
    return json.dumps({
        "recipe": recipe, "ok": errors == 0, "errors": errors,
        "warnings": len(found) - errors, "findings": [f.as_dict() for f in found],
    }, indent=2)


def findings_table(recipe: str, found: list[Finding], *, failing: str = "refused") -> str:
    """A table for people: severity, code, where, message, then how to fix each."""
    errors = sum(1 for f in found if f.is_error)
    warnings = len(found) - errors
    if not found:
        return f"{recipe}: ok"
    rows = [("severity", "code", "where", "message")]
    rows += [(f.severity, f.code, ":".join(p for p in (f.file, f.key) if p) or "-",
              f.message) for f in found]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        head = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        lines.append(f"{head}  {row[3]}".rstrip())
        if i:
            lines.append(" " * (sum(widths) + 6) + f"fix: {found[i - 1].fix}")
    verdict = "ok" if not errors else failing
    lines.append(f"{recipe}: {verdict}, {errors} error(s), {warnings} warning(s)")
    return "\n".join(lines)


DOC_HEADER = """\
# Check rules

<!-- Generated by `ccci check-doc > docs/check-rules.md`; do not edit by hand. -->

Every finding of `ccci check` and of run planning has one of these codes. An
**error** stops `ccci run` before anything deploys and makes `ccci check` exit 1:
Docker would refuse the deploy, or a blank variable would break it. A **warning**
is shown, recorded in `results.json` (`warnings`) and printed by `ccci check`,
which still exits 0. `ccci check RECIPE --format json` prints the findings as data:
`code`, `rule`, `severity`, `message`, `file`, `key`, `fix`.

"""


def render_doc() -> str:
    """docs/check-rules.md: the registry as a table, the lint rules included."""
    from ccci.lint.apply import load_rules  # they register themselves; lint imports this

    load_rules()
    rows = ["| code | rule | severity | meaning | how to fix |", "|---|---|---|---|---|"]
    for rule in sorted(RULES.values(), key=lambda r: r.code):
        rows.append(f"| {rule.code} | `{rule.name}` | {rule.severity} | "
                    f"{_md(rule.summary)} | {_md(rule.fix)} |")
    return DOC_HEADER + "\n".join(rows) + "\n"


_CODE_LIKE = re.compile(r"(?<![`\w])\(?([^\s`(]*[<$][^\s`]*?)([.,;:)]*)(?=\s|$)")


def _md(text: str) -> str:
    """Table cell text: pipes escaped, ``<NAME>`` and ``${VAR}`` shown as code.

    Unquoted, Markdown would take ``<semver>`` for an HTML tag and hide it.
    """
    def quote(match: re.Match[str]) -> str:
        opening = "(" if match[0].startswith("(") else ""
        return f"{opening}`{match[1]}`{match[2]}"

    return _CODE_LIKE.sub(quote, text.replace("|", "\\|"))
