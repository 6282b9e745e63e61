"""The Jinja2 environment every page and card is rendered with.

Templates live next to this module (``templates/``; ccci runs from its checkout, so
they are files of it). HTML is autoescaped: a recipe's names, test messages and log
lines are data, never markup. An undefined variable is an error, not an empty string.
Compiled templates are kept in Jinja's own bytecode cache (a private folder of the
user's temporary directory, checked against each template's source), so a run does not
compile the pages again at its end.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from ccci.report.badge import level_colour

TEMPLATES = Path(__file__).with_name("templates")


def duration(seconds: float | int | None) -> str:
    """``4.2 s``, ``3 min 05 s``; an em dash when unknown."""
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def size(count: int | None) -> str:
    """Bytes as people read them: ``512 B``, ``2.0 KiB``, ``3.4 MiB``."""
    if count is None:
        return "—"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - the loop returns


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "svg"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
    )
    env.filters.update(duration=duration, size=size, level_colour=level_colour)
    return env


def render(template: str, **values: object) -> str:
    """``templates/<template>`` rendered with ``values``."""
    return environment().get_template(template).render(**values)
