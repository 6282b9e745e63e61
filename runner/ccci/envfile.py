"""Dotenv files as Co-op Cloud writes them (``.env.sample``) and ``abra.sh`` exports.

``docker stack deploy`` never reads these files, so ccci must build the deploy
environment itself, with the same expansion rules abra applies: later lines may
expand earlier keys (``COMPOSE_FILE="$COMPOSE_FILE:compose.x.yml"``), single quotes
are literal, and a trailing comment may carry modifiers such as ``# length=32``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ccci.errors import CcciError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODIFIER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)")
_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|(?P<dollar>\$))"
)


@dataclass
class DotEnv:
    """Values in file order, and the modifiers found in each key's trailing comment."""

    values: dict[str, str] = field(default_factory=dict)
    modifiers: dict[str, dict[str, str]] = field(default_factory=dict)


def expand(text: str, env: Mapping[str, str], *, missing: set[str] | None = None) -> str:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``$$``.

    Unset variables expand to the empty string and are added to ``missing`` when given,
    so callers can report them; ``${VAR:?message}`` also counts as missing when unset.
    """

    def substitute(match: re.Match[str]) -> str:
        if match.group("dollar"):
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        value = env.get(name)
        if op in (":-", ":?") and not value:
            value = None
        if value is not None:
            return value
        if op in (":-", "-"):
            return expand(arg or "", env, missing=missing)
        if missing is not None:
            missing.add(name)
        return ""

    return _VAR.sub(substitute, text)


def variables_used(text: str) -> set[str]:
    """Names a text needs from the environment: references without a default."""
    needed: set[str] = set()
    for match in _VAR.finditer(text):
        name = match.group("braced") or match.group("bare")
        if name and match.group("op") not in (":-", "-"):
            needed.add(name)
    return needed


def _split_value(raw: str, lineno: int, source: str) -> tuple[str, str, bool]:
    """Return (value, trailing comment, expandable) for the text after ``KEY=``."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = 1
        while True:
            end = raw.find(quote, end)
            if end == -1:
                raise CcciError(f"{source}:{lineno}: unterminated {quote} quote")
            if quote == '"' and raw[end - 1] == "\\" and raw[end - 2 : end] != "\\\\":
                end += 1
                continue
            break
        value = raw[1:end]
        rest = raw[end + 1 :].strip()
        comment = rest[1:] if rest.startswith("#") else ""
        if quote == '"':
            value = value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        return value, comment, quote == '"'
    comment = ""
    match = re.search(r"\s#", raw)
    if match:
        comment = raw[match.end() :]
        raw = raw[: match.start()]
    elif raw.startswith("#"):
        comment, raw = raw[1:], ""
    return raw.strip(), comment, True


def parse_dotenv(
    text: str,
    base: Mapping[str, str] | None = None,
    *,
    pinned: frozenset[str] = frozenset(),
    source: str = ".env",
    exports_only: bool = False,
) -> DotEnv:
    """Parse a dotenv text, expanding against ``base`` and earlier keys.

    Keys in ``pinned`` keep their ``base`` value even when the file assigns them (the
    harness's DOMAIN, STACK_NAME and a recipe's CI overrides win over the sample).
    With ``exports_only`` only ``export KEY=value`` lines count, as in ``abra.sh``,
    and any other shell line is ignored.
    """
    env: dict[str, str] = dict(base or {})
    result = DotEnv()
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        exported = stripped.startswith("export ")
        if exported:
            stripped = stripped[len("export ") :].lstrip()
        elif exports_only:
            continue
        key, sep, raw = stripped.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            if exports_only:
                continue
            raise CcciError(f"{source}:{lineno}: not a KEY=value line: {line.strip()!r}")
        value, comment, expandable = _split_value(raw, lineno, source)
        if expandable:
            value = expand(value, env)
        modifiers = dict(_MODIFIER.findall(comment))
        if modifiers:
            result.modifiers[key] = modifiers
        if key in pinned:
            continue
        env[key] = value
        result.values[key] = value
    return result
