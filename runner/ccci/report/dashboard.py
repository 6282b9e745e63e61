"""The dashboard over all runs: a static site in ``<runs>/_dashboard``.

``index.html`` has one row per recipe (its latest run's badge, state, time and
duration), ``recipes/<recipe>.html`` the recipe's recent runs with a history chart,
``badges/<recipe>.svg`` the badge of the recipe's latest run. It is read from the run
folders' ``results.json`` only; a folder without a readable one (a run in progress, a
broken file) is counted and skipped. Links are relative and pages self-contained (CSS
inline, charts drawn here as SVG, no script), so the site opens from disk, from
``ccci serve`` or from any static file server. Files are written whole (a temporary
file, then a rename): a reader never sees half a page.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from ccci.report.badge import NO_LEVEL_COLOUR, level_badge, level_colour, run_state
from ccci.report.render import duration, render
from ccci.report.run_report import REPORT
from ccci.rundir import RESULTS

DASHBOARD_DIR = "_dashboard"
LOCK_NAME = "_dashboard.lock"
MAX_LEVEL = 5
RECENT = 10  # runs shown as small squares on the index
NOTE_CHARS = 160  # a failure's note: the first line of its reason, cut here
_RUN_DIR_TIME = re.compile(r"^(\d{8}-\d{6})-")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Run:
    """One run as the dashboard shows it, read from its ``results.json``."""

    path: Path
    results: dict[str, Any]
    recipe: str
    started: datetime
    level: int | None
    level_text: str
    state: str
    duration: float | None
    failure_kind: str
    note: str  # what failed, in one line: "functional: 2 tests failed"

    @property
    def when(self) -> str:
        return self.started.strftime("%Y-%m-%d %H:%M") if self.started != _EPOCH else "—"

    @property
    def iso(self) -> str:
        return self.started.isoformat() if self.started != _EPOCH else ""

    @property
    def has_report(self) -> bool:
        return (self.path / REPORT).is_file()

    def text(self, key: str) -> str:
        value = self.results.get(key)
        return value if isinstance(value, str) else ""


def load_runs(runs_root: Path) -> tuple[list[Run], int]:
    """The runs of ``runs_root`` sorted by start time, and how many run folders were
    skipped for want of a readable ``results.json``."""
    runs, skipped = [], 0
    for path in sorted(runs_root.iterdir()):
        if path.name.startswith(("_", ".")) or not path.is_dir():
            continue
        run = read_run(path)
        if run is None:
            skipped += 1
        else:
            runs.append(run)
    runs.sort(key=lambda r: (r.started, r.path.name))
    return runs, skipped


def read_run(path: Path) -> Run | None:
    """The run of folder ``path``; None when its results.json is missing or unusable."""
    try:
        results = json.loads((path / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(results, dict) or not isinstance(results.get("recipe"), str):
        return None
    if not results["recipe"].strip():
        return None
    if not isinstance(results.get("tiers"), dict):
        results["tiers"] = {}
    level = results.get("level")
    level = level if isinstance(level, int) and not isinstance(level, bool) else None
    duration = results.get("duration")
    if not (isinstance(duration, int | float) and math.isfinite(duration) and duration >= 0):
        duration = None
    kind = results.get("failure_kind")
    return Run(
        path=path, results=results, recipe=results["recipe"],
        started=_started(results.get("started"), path.name), level=level,
        level_text=_level_text(results.get("level_text"), level), state=run_state(results),
        duration=duration, failure_kind=kind if isinstance(kind, str) else "",
        note=_note(results),
    )


def _started(value: object, folder: str) -> datetime:
    """When the run started (UTC): its ``started``, else the time in its folder's name."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(value)
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    match = _RUN_DIR_TIME.match(folder)
    if match:
        with contextlib.suppress(ValueError):
            return datetime.strptime(match[1], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    return _EPOCH


def _level_text(value: object, level: int | None) -> str:
    if isinstance(value, str) and value:
        return value
    return f"L{level}" if level is not None else "no level"


def _note(results: dict[str, Any]) -> str:
    """The first failed tier and the first line of its reason, or the run's error."""
    for name, tier in results["tiers"].items():
        if isinstance(tier, dict) and tier.get("status") in ("failed", "error"):
            return _cut(f"{name}: {tier.get('reason') or tier.get('status')}")
    error = results.get("error")
    if isinstance(error, str) and error.strip():
        return _cut(error)
    reaped = results.get("reaped")
    if isinstance(reaped, dict) and reaped.get("reason"):
        return _cut(f"reaped: {reaped['reason']}")
    return ""


def _cut(text: str) -> str:
    line = (str(text).strip().splitlines() or [""])[0]
    return line if len(line) <= NOTE_CHARS else line[: NOTE_CHARS - 1] + "…"


def by_recipe(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs grouped by recipe (recipes sorted by name), each group oldest first."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.recipe, []).append(run)
    return dict(sorted(groups.items()))


def file_stem(recipe: str) -> str:
    """A file name for ``recipe``'s page and badge: the name itself when it is made of
    letters, digits, ``.``, ``_`` and ``-`` (as recipe names are), else a safe one with
    a hash of the name so that two odd names never share a file."""
    safe = _UNSAFE.sub("_", recipe).lstrip(".") or "recipe"
    if safe == recipe:
        return safe
    return f"{safe[:60]}-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}"


def _href(target: Path, page_dir: Path) -> str:
    """A relative, URL-quoted link from a page in ``page_dir`` to ``target``."""
    return quote(Path(os.path.relpath(target, page_dir)).as_posix())


# --- the history chart -------------------------------------------------------------

CHART_WIDTH = 640
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 80, 10, 22, 44
PLOT_HEIGHT = 110
MIN_BAR = 3  # a level 0 or an unknown duration still gets a visible mark
LABEL_MIN_SLOT = 22  # narrower slots get no value label over their bar
DURATION_COLOUR = "#4a72a8"
_NICE_SECONDS = (10, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 2400, 3600, 5400, 7200)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # the value, written over the bar when there is room
    title: str  # the full story, on hover


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    kind: str  # "level" or "duration": the class of its marks
    title: str
    bars: list[Bar]
    ticks: list[Tick]
    x_labels: list[tuple[float, str, str]]  # x, anchor, text
    width: int = CHART_WIDTH
    height: int = CHART_TOP + PLOT_HEIGHT + CHART_BOTTOM
    left: int = CHART_LEFT
    right: int = CHART_WIDTH - CHART_RIGHT
    top: int = CHART_TOP
    bottom: int = CHART_TOP + PLOT_HEIGHT
    labelled: bool = True


def _bars(runs: list[Run], values: list[tuple[float, str, str, str]]) -> list[Bar]:
    """Bars for ``values`` (fraction of the plot's height, colour, label, title)."""
    slot = (CHART_WIDTH - CHART_LEFT - CHART_RIGHT) / max(len(runs), 1)
    width = min(slot * 0.7, 28)
    bars = []
    for index, (fraction, colour, label, title) in enumerate(values):
        height = max(min(fraction, 1) * PLOT_HEIGHT, MIN_BAR)
        x = CHART_LEFT + index * slot + (slot - width) / 2
        bars.append(Bar(round(x, 1), round(CHART_TOP + PLOT_HEIGHT - height, 1),
                        round(width, 1), round(height, 1), colour, label, title))
    return bars


def _x_labels(runs: list[Run]) -> list[tuple[float, str, str]]:
    """The first and the last run's start, under the ends of the axis."""
    if not runs:
        return []
    first = (CHART_LEFT, "start", runs[0].when)
    if len(runs) == 1:
        return [first]
    return [first, (CHART_WIDTH - CHART_RIGHT, "end", runs[-1].when)]


def _y(fraction: float) -> float:
    return round(CHART_TOP + PLOT_HEIGHT * (1 - fraction), 1)


def level_chart(runs: list[Run]) -> Chart:
    """One bar per run, as high as its level and in its colour; grey without a verdict."""
    values = []
    for run in runs:
        colour = level_colour(run.level) if run.state == "finished" else NO_LEVEL_COLOUR
        label = f"L{run.level}" if run.level is not None else "?"
        title = f"{run.when}: {run.level_text}, {run.state}"
        values.append(((run.level or 0) / MAX_LEVEL, colour, label, title))
    ticks = [Tick(_y(level / MAX_LEVEL), f"L{level}") for level in range(MAX_LEVEL + 1)]
    return Chart("level", "Level per run", _bars(runs, values), ticks, _x_labels(runs),
                 labelled=_labelled(runs))


def duration_chart(runs: list[Run]) -> Chart:
    """One bar per run, as high as its duration, on a round scale."""
    top = _nice_top(max((r.duration or 0 for r in runs), default=0))
    values = []
    for run in runs:
        seconds = run.duration
        label = _short_duration(seconds)
        title = f"{run.when}: {_long_duration(seconds)}"
        values.append(((seconds or 0) / top, DURATION_COLOUR, label, title))
    ticks = [Tick(_y(part), _axis_duration(top * part)) for part in (0, 0.5, 1)]
    return Chart("duration", "Duration per run", _bars(runs, values), ticks, _x_labels(runs),
                 labelled=_labelled(runs))


def _labelled(runs: list[Run]) -> bool:
    return (CHART_WIDTH - CHART_LEFT - CHART_RIGHT) / max(len(runs), 1) >= LABEL_MIN_SLOT


def _nice_top(seconds: float) -> float:
    """The top of the duration axis: a round number of seconds at least ``seconds``."""
    for nice in _NICE_SECONDS:
        if seconds <= nice:
            return nice
    return -(-seconds // 3600) * 3600


def _axis_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _short_duration(seconds: float | None) -> str:
    """Three characters or so, to fit over a bar: ``45s``, ``7m``, ``1.5h``."""
    if seconds is None:
        return "?"
    if seconds < 99.5:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m" if seconds < 5970 else f"{seconds / 3600:.1f}h"


def _long_duration(seconds: float | None) -> str:
    return duration(seconds) if seconds is not None else "duration unknown"


# --- the pages ---------------------------------------------------------------------


def _run_row(run: Run, page_dir: Path) -> dict[str, Any]:
    """What a table row shows of ``run``, links relative to ``page_dir``."""
    commit = run.text("commit")
    return {
        "name": run.path.name, "run_id": run.text("run_id"), "when": run.when, "iso": run.iso,
        "ref": run.text("ref") or "HEAD", "commit": commit[:8], "commit_full": commit,
        "version": run.text("version"), "level": run.level, "level_text": run.level_text,
        "level_colour": (level_colour(run.level) if run.state == "finished"
                         else NO_LEVEL_COLOUR),
        "state": run.state, "duration": run.duration, "failure_kind": run.failure_kind,
        "note": run.note,
        "report": _href(run.path / REPORT, page_dir) if run.has_report else "",
        "results": _href(run.path / RESULTS, page_dir),
    }


def _recipe_row(recipe: str, runs: list[Run], out: Path) -> dict[str, Any]:
    """A row of the index: the recipe's latest run, and its recent levels."""
    latest = runs[-1]
    return {
        "recipe": recipe, "page": _href(out / "recipes" / f"{file_stem(recipe)}.html", out),
        "badge": Markup(level_badge(latest.results)), "runs": len(runs),
        "latest": _run_row(latest, out),
        "recent": [_run_row(run, out) for run in runs[-RECENT:]],
    }


def _recipe_page(recipe: str, runs: list[Run], out: Path, history: int) -> str:
    page_dir = out / "recipes"
    shown = runs[-history:] if history > 0 else []
    return render(
        "recipe.html", recipe=recipe, total=len(runs), shown=len(shown),
        badge=Markup(level_badge(runs[-1].results)),
        badge_file=_href(out / "badges" / f"{file_stem(recipe)}.svg", page_dir),
        home=_href(out / "index.html", page_dir),
        rows=[_run_row(run, page_dir) for run in reversed(shown)],
        charts=[level_chart(shown), duration_chart(shown)], generated=_now(),
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole: a temporary file beside it, then a rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # readable by a web server, as a plain write would be
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def build_dashboard(runs_root: Path, out: Path | None = None, *, history: int = 20) -> Path:
    """Write the dashboard of the runs in ``runs_root`` to ``out`` (default
    ``runs_root/_dashboard``): the index, a page and a badge per recipe, the recipe pages
    with the last ``history`` runs. Returns the index's path. The index is written last,
    so it never links to a page not written yet."""
    runs_root = Path(runs_root).resolve()
    out = (Path(out) if out is not None else runs_root / DASHBOARD_DIR).resolve()
    runs, skipped = load_runs(runs_root)
    groups = by_recipe(runs)
    for recipe, recipe_runs in groups.items():
        stem = file_stem(recipe)
        write_atomic(out / "badges" / f"{stem}.svg", level_badge(recipe_runs[-1].results))
        write_atomic(out / "recipes" / f"{stem}.html",
                     _recipe_page(recipe, recipe_runs, out, history))
    index = out / "index.html"
    write_atomic(index, render(
        "dashboard.html", rows=[_recipe_row(r, rs, out) for r, rs in groups.items()],
        total=len(runs), skipped=skipped, generated=_now(), home="index.html",
    ))
    return index


def update_dashboard(runs_root: Path) -> str | None:
    """Rebuild the dashboard at the end of a run: None when done, else a one-line
    message for the caller to print as a warning. Never blocks, never raises: when
    another process holds the lock (it is building the dashboard), this one skips."""
    lock = Path(runs_root) / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except Exception as exc:  # the caller's run must not fail for its dashboard
        return _message(exc)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return f"dashboard not updated: another process is building it ({lock} is locked)"
        build_dashboard(Path(runs_root))
        return None
    except Exception as exc:
        return _message(exc)
    finally:
        os.close(fd)  # releases the lock


def _message(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"dashboard not updated: {text}"
