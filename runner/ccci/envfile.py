"""Dotenv files as Co-op Cloud writes them (``.env.sample``) and ``abra.sh`` exports.

``docker stack deploy`` never reads these files, so ccci must build the deploy
environment itself, with the same expansion rules abra applies: later lines may
expand earlier keys (``COMPOSE_FILE="$COMPOSE_FILE:compose.x.yml"``), single quotes
are literal, and a trailing comment may carry modifiers such as ``# length=32``.
Defaults nest here as in a shell; compose files are interpolated by different
rules, docker stack deploy's (see ``ccci.compose``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ccci.errors import CcciError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODIFIER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)")
# Longest first: ``${A:-x}`` is a default, not ``${A:`` followed by ``-x}``.
_OPS = (":-", ":?", "-", "?")


@dataclass
class DotEnv:
    """Values in file order, and the modifiers found in each key's trailing comment."""

    values: dict[str, str] = field(default_factory=dict)
    modifiers: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Ref:
    """``$NAME``, ``${NAME}`` or ``${NAME<op><arg>}``; ``arg`` is parsed, not yet expanded."""

    name: str
    op: str = ""
    arg: tuple[str | _Ref, ...] = ()


class _Unclosed(Exception):
    """A ``${NAME:-...`` whose default is never closed."""


def _parse(text: str, pos: int = 0, *, in_arg: bool = False) -> tuple[list[str | _Ref], int]:
    """Split ``text`` from ``pos`` into literal text and references.

    Inside a default (``in_arg``) parsing stops at the ``}`` that closes it: braces
    in between pair up and a nested ``${...}`` closes itself, so ``${A:-${B:-c}}``
    reads as in a shell or docker compose. A ``$`` that starts no valid reference,
    or a ``${`` never closed, stays literal text. Returns the parts and the index
    after what was read.
    """
    parts: list[str | _Ref] = []
    literal = ""
    depth = 0
    i = pos
    while i < len(text):
        char = text[i]
        if char == "$":
            ref, i = _reference(text, i, in_arg=in_arg)
            if isinstance(ref, str):
                literal += ref
            else:
                parts += [literal, ref] if literal else [ref]
                literal = ""
            continue
        if in_arg and char == "}":
            if depth == 0:
                return _with(parts, literal), i + 1
            depth -= 1
        elif in_arg and char == "{":
            depth += 1
        literal += char
        i += 1
    if in_arg:
        raise _Unclosed
    return _with(parts, literal), i


def _with(parts: list[str | _Ref], literal: str) -> list[str | _Ref]:
    return [*parts, literal] if literal else parts


def _reference(text: str, i: int, *, in_arg: bool = False) -> tuple[str | _Ref, int]:
    """What the ``$`` at ``text[i]`` starts, and the index after it.

    A reference, or literal text: ``$$`` is an escaped ``$``; a ``$`` followed by
    no name, an unknown operator or an unclosed default is kept as it is. A default
    left unclosed leaves every enclosing one unclosed too (``in_arg``), so that is
    decided once, at the outermost, keeping the parse linear per ``$``.
    """
    if text.startswith("$$", i):
        return "$", i + 2
    braced = text.startswith("${", i)
    name = _KEY.match(text, i + 2 if braced else i + 1)
    if name is None:
        return "$", i + 1
    if not braced:
        return _Ref(name.group()), name.end()
    rest = name.end()
    if text.startswith("}", rest):
        return _Ref(name.group()), rest + 1
    op = next((op for op in _OPS if text.startswith(op, rest)), None)
    if op is None:
        return "$", i + 1
    try:
        arg, after = _parse(text, rest + len(op), in_arg=True)
    except _Unclosed:
        if in_arg:
            raise
        return "$", i + 1
    return _Ref(name.group(), op, tuple(arg)), after


def _render(parts: Sequence[str | _Ref], env: Mapping[str, str],
            missing: set[str] | None) -> str:
    """Parts with references replaced; a default is expanded only when it is used."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = env.get(part.name)
        if part.op.startswith(":") and not value:
            value = None  # ":-" and ":?" treat empty like unset
        if value is not None:
            out.append(value)
        elif part.op in (":-", "-"):
            out.append(_render(part.arg, env, missing))
        elif missing is not None:
            missing.add(part.name)
    return "".join(out)


def expand(text: str, env: Mapping[str, str], *, missing: set[str] | None = None) -> str:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``$$``.

    ``:-`` takes the default when the variable is unset or empty, ``-`` only when it
    is unset; defaults may nest (``${A:-${B:-c}}``) and are expanded only when used.
    Unset variables expand to the empty string and are added to ``missing`` when given,
    so callers can report them; so does ``${VAR?message}`` when unset and
    ``${VAR:?message}`` when unset or empty.
    """
    try:
        parts, _ = _parse(text)
        return _render(parts, env, missing)
    except RecursionError:
        raise CcciError(f"variable references nested too deeply in {text[:40]!r}...") from None


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


def _expand_line(value: str, env: Mapping[str, str], where: str) -> str:
    try:
        return expand(value, env)
    except CcciError as exc:
        raise CcciError(f"{where}: {exc}") from None


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
            value = _expand_line(value, env, f"{source}:{lineno}")
        modifiers = dict(_MODIFIER.findall(comment))
        if modifiers:
            result.modifiers[key] = modifiers
        if key in pinned:
            continue
        env[key] = value
        result.values[key] = value
    return result
