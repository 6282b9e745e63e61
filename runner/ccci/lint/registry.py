"""The lint rules: each checks one thing about a ``LintSubject`` and returns findings.

A rule is a function registered with ``@lint_rule`` next to its finding rule (code,
severity, summary, how to fix) in ``ccci.findings``' registry, so ``ccci check`` and
``ccci lint`` share one rule page. ``lint`` applies every registered rule; a rule that
crashes is a finding of its own (a bug of ccci's, never a silent pass).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable

from ccci.findings import Finding, Rule, finding, register

from .subject import LintSubject

LintCheck = Callable[[LintSubject], Iterable[Finding]]
CHECKS: dict[str, LintCheck] = {}

register(Rule("CCCI-E899", "lint.crashed", "error",
              "A lint rule crashed: ccci could not judge this part of the recipe.",
              "A bug of ccci's: report it with the recipe and the message."))


def lint_rule(rule: Rule) -> Callable[[LintCheck], LintCheck]:
    """Register ``rule`` in the findings registry and the decorated function as its check."""
    register(rule)

    def add(check: LintCheck) -> LintCheck:
        CHECKS[rule.name] = check
        return check

    return add


def lint(subject: LintSubject) -> list[Finding]:
    """Every finding of every rule, in registry order, duplicates dropped."""
    found: list[Finding] = []
    for name, check in CHECKS.items():
        try:
            items = list(check(subject))
        except Exception as exc:  # a bug of the rule: say so, go on with the others
            last = traceback.extract_tb(exc.__traceback__)[-1]
            items = [finding("lint.crashed", f"rule {name} crashed: {type(exc).__name__}: "
                             f"{exc} (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})")]
        found.extend(item for item in items if item not in found)
    return found
