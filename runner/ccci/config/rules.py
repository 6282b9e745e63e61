"""Constraints on config values beyond their type, each with the words the docs show.

A rule is declared on its key in the registry. The loader applies it to values from
meta.yml and hooks.py and to what a callable value returns; docs/recipe-config.md
prints its text. The constraint is written once, so the docs cannot promise what the
loader does not check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One constraint: ``problem(value)`` says why a value breaks it, or None."""

    text: str
    problem: Callable[[Any], str | None]


def at_least(minimum: int) -> Rule:
    """Seconds and counts: zero or less would time out at once or never try."""

    def problem(value: int) -> str | None:
        return None if value >= minimum else f"must be at least {minimum}, not {value}"

    return Rule(f"≥ {minimum}", problem)


def _is_status_code(code: Any) -> bool:
    return isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599


def status_codes() -> Rule:
    """HEALTH_OK: an empty list would make every response unhealthy."""

    def problem(codes: list[Any]) -> str | None:
        if not codes:
            return "is empty: list at least one HTTP status code, e.g. [200]"
        bad = [code for code in codes if not _is_status_code(code)]
        if bad:
            return f"must list HTTP status codes (integers 100-599), not {bad!r}"
        return None

    return Rule("HTTP status codes 100-599, at least one", problem)


def env_values() -> Rule:
    """EXTRA_ENV: a nested value has no meaning as an environment variable."""

    def problem(env: dict[Any, Any]) -> str | None:
        bad = [key for key, value in env.items()
               if isinstance(value, bool) or not isinstance(value, str | int | float)]
        return f"values must be strings or numbers: {bad!r}" if bad else None

    return Rule("values: strings or numbers", problem)


def not_applicable(tiers: tuple[str, ...], always: str, checks: tuple[str, ...] = ()) -> Rule:
    """EXPECTED_NA: a misspelt tier would silently run; ``always`` is never skippable.
    ``checks`` are parts of a tier that may be declared not applicable too."""
    allowed = [tier for tier in tiers if tier != always] + list(checks)

    def problem(declared: dict[Any, Any]) -> str | None:
        if always in declared:
            return (f"cannot declare {always} not applicable: nothing would be deployed, "
                    "so nothing would be tested")
        unknown = [tier for tier in declared if tier not in allowed]
        if unknown:
            what = "tier(s) or check(s)" if checks else "tier(s)"
            return f"names unknown {what} {unknown!r}; choose among {', '.join(allowed)}"
        silent = [tier for tier, why in declared.items() if not isinstance(why, str)
                  or not why.strip()]
        if silent:
            return f"needs a reason (a non-empty string) for each tier: none for {silent!r}"
        return None

    return Rule(f"{{tier: reason}}, tier one of {', '.join(allowed)}", problem)


def strings() -> Rule:
    """Lists of names (files, apps): anything else cannot name one."""

    def problem(items: list[Any]) -> str | None:
        bad = [item for item in items if not isinstance(item, str) or not item.strip()]
        return f"must list non-empty strings, not {bad!r}" if bad else None

    return Rule("of non-empty strings", problem)


def absolute_path() -> Rule:
    """HEALTH_PATH is appended to the app's URL: without a leading / it joins the host."""

    def problem(path: str) -> str | None:
        return None if path.startswith("/") else f"must start with '/', not {path!r}"

    return Rule("starts with /", problem)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


def dns_names(placeholder: str) -> Rule:
    """EXTRA_DOMAINS: each a DNS name, ``placeholder`` standing for the run's domain."""
    sample = "app-1a2b3c4d.ccci.test"

    def problem(names: list[Any]) -> str | None:
        bad = [name for name in names if not isinstance(name, str) or not _DNS_NAME.match(
            name.replace(placeholder, sample).replace(placeholder.replace("{", "").replace(
                "}", ""), sample))]
        return (f"must list DNS names (lower-case letters, digits, '-', '.'; {placeholder} "
                f"for the run's domain), not {bad!r}") if bad else None

    return Rule(f"DNS names, {placeholder} for the run's domain", problem)


def secret_sources() -> Rule:
    """SECRET_VALUES: the value names an environment variable, never holds the secret."""

    def problem(sources: dict[Any, Any]) -> str | None:
        bad = {name: var for name, var in sources.items()
               if not isinstance(name, str) or not isinstance(var, str)
               or not _ENV_NAME.match(var)}
        if bad:
            return ("maps a secret name to the NAME of an environment variable (e.g. "
                    f"{{smtp_password: SMTP_PASSWORD}}), not {sorted(map(str, bad))!r}")
        return None

    return Rule("{secret name: environment variable name}", problem)
