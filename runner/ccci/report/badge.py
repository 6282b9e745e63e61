"""The level badge: a small SVG like the shields people put in a README.

Drawn here rather than fetched from a badge service: a report must open from disk
with no request leaving the page, and a CI host may have no way out at all.
"""

from __future__ import annotations

from html import escape

# By level reached: red for nothing proven, green for every tier.
LEVEL_COLOURS = ("#d73a49", "#e36209", "#b08800", "#7c9a1a", "#3a9a2c", "#1f7a33")
NO_LEVEL_COLOUR = "#6a737d"  # refused, interrupted or reaped runs: no verdict to colour
CHAR_WIDTH = 6.5  # px per character at 11 px Verdana-ish, enough for ASCII labels
PADDING = 8


def level_colour(level: int | None) -> str:
    """The colour of level ``level`` (0-5); grey when the run has none."""
    if level is None or not 0 <= level < len(LEVEL_COLOURS):
        return NO_LEVEL_COLOUR
    return LEVEL_COLOURS[level]


def _width(text: str) -> int:
    return int(len(text) * CHAR_WIDTH + 2 * PADDING)


def badge_svg(label: str, value: str, colour: str) -> str:
    """A two-part badge: ``label`` on grey, ``value`` on ``colour``; text is escaped."""
    left, right = _width(label), _width(value)
    total = left + right
    label_x, value_x = left / 2, left + right / 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{escape(label)}: {escape(value)}">'
        f"<title>{escape(label)}: {escape(value)}</title>"
        f'<rect width="{left}" height="20" rx="3" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" rx="3" fill="{escape(colour)}"/>'
        f'<rect x="{left}" width="4" height="20" fill="{escape(colour)}"/>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{label_x:g}" y="14">{escape(label)}</text>'
        f'<text x="{value_x:g}" y="14">{escape(value)}</text></g></svg>'
    )


def run_state(results: dict) -> str:
    """How the run ended, beyond its level: ``reaped`` (the janitor tore it down after
    its process died), ``interrupted`` (SIGINT/SIGTERM), ``refused`` (stopped before
    anything deployed: bad input, or a host that stayed full) or ``finished``."""
    if results.get("reaped"):
        return "reaped"
    if results.get("exit_code") == 130:
        return "interrupted"
    tiers = [t for t in (results.get("tiers") or {}).values() if isinstance(t, dict)]
    if results.get("error") and all(t.get("status") in ("not_run", "error") for t in tiers):
        return "refused"
    return "finished"


def level_badge(results: dict) -> str:
    """The badge of one run from its results.json: ``ccci | L4`` coloured by level
    (``L1 quick`` for a quick run's partial level), or the way it ended in grey when it
    reached no verdict."""
    state = run_state(results)
    if state != "finished":
        return badge_svg("ccci", state, NO_LEVEL_COLOUR)
    level = results.get("level")
    level = level if isinstance(level, int) else None
    text = results.get("level_text") or (f"L{level}" if level is not None else "?")
    if results.get("quick") is True:  # a partial level: short, and marked
        text = f"L{level} quick" if level is not None else "quick"
    return badge_svg("ccci", str(text), level_colour(level))
