"""Calling a recipe's hooks with a context built from the run's saved state.

The ``ccci.recipe.hook`` action plugin calls these functions, so a hook behaves the
same under ``ccci run`` and under ``ansible-playbook``.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ccci.config import HookCtx, RecipeConfig, Snapshot, load_recipe_config
from ccci.context import RunContext, load_run
from ccci.markers import Marker
from ccci.rundir import MarkerCheck as MarkerCheckEntry
from ccci.rundir import RunDir


@dataclass
class HookOutcome:
    """What happened when a hook was asked for."""

    called: bool
    ok: bool
    returned: Any = None
    error: str = ""
    attempts: int = 0


def load_deps() -> dict[str, Any]:
    """Credentials of dependency apps, from the file CCCI_DEPS_FILE names."""
    path = os.environ.get("CCCI_DEPS_FILE")
    if not path:
        return {}
    return json.loads(Path(path).read_text())


def make_ctx(
    context: RunContext, config: RecipeConfig, op: str, host_spec: str,
    snapshot: dict[str, Any] | None = None,
) -> HookCtx:
    """The frozen context handed to hooks for operation ``op``."""
    port = RunDir(context.run_dir).deploys().published_port
    return HookCtx(
        snapshot=Snapshot(**snapshot, stack=context.stack, host_spec=host_spec)
        if snapshot else None,
        domain=context.domain,
        base_url=f"http://127.0.0.1:{port}" if port else "",
        meta=MappingProxyType(config.resolved()),
        deps=MappingProxyType(load_deps()),
        op=op,
        stack=context.stack,
        host_spec=host_spec,
    )


def _exception_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def run_hook(
    run_dir: Path,
    name: str,
    op: str,
    *,
    host_spec: str = "local://",
    retry_for: float = 0.0,
    interval: float = 2.0,
    snapshot: dict[str, Any] | None = None,
    require_true: bool = False,
) -> HookOutcome:
    """Call hook ``name`` if the recipe defines it.

    With ``retry_for`` the hook is a probe: called until it returns a true value or
    the time is up; an exception counts as "not yet" and the last one is reported.
    With ``require_true`` a false return value is a failure too (a check hook).
    """
    context = load_run(run_dir)
    config = load_recipe_config(context.recipe, Path(context.config_root))
    hook = config.hooks.get(name)
    if hook is None:
        return HookOutcome(called=False, ok=True)
    ctx = make_ctx(context, config, op, host_spec, snapshot)
    deadline = time.monotonic() + retry_for
    attempts = 0
    while True:
        attempts += 1
        try:
            returned = hook(ctx)
        except Exception as exc:
            outcome = HookOutcome(True, False, error=_exception_text(exc), attempts=attempts)
        else:
            probe_failed = (retry_for > 0 or require_true) and not returned
            error = f"{name} returned {returned!r}" if probe_failed else ""
            outcome = HookOutcome(True, not probe_failed, returned, error, attempts)
        if outcome.ok or retry_for <= 0 or time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    if outcome.ok and isinstance(outcome.returned, Marker):
        RunDir(run_dir).record_seeded(op, outcome.returned.to_dict())
        outcome.returned = outcome.returned.to_dict()
    return outcome


@dataclass
class MarkerCheck:
    """The outcome of looking for a seeded marker."""

    seeded: bool
    found: bool = False
    description: str = ""
    seen: str = ""


def check_marker(
    run_dir: Path, seeded_by: str, op: str, after: str, *, host_spec: str = "local://",
    retry_for: float = 0.0, interval: float = 2.0,
) -> MarkerCheck:
    """Look for the marker ``pre_<seeded_by>`` seeded, after ``op``; record the check.

    ``after`` says what happened in words for the record ("upgrade to 1.2.0"); the
    probe's context gets the operation name. Retried for ``retry_for`` seconds, since
    an app may answer before it has loaded everything; an exception counts as not found.
    """
    record = RunDir(run_dir)
    raw = record.markers().seeded.get(seeded_by)
    if raw is None:
        return MarkerCheck(seeded=False)
    marker = Marker(**raw)
    context = load_run(run_dir)
    config = load_recipe_config(context.recipe, Path(context.config_root))
    ctx = make_ctx(context, config, op, host_spec)
    deadline = time.monotonic() + retry_for
    while True:
        try:
            found, seen = marker.probe(ctx)
        except Exception as exc:
            found, seen = False, _exception_text(exc)
        if found or time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    record.record_marker_check(MarkerCheckEntry(seeded_by, after, found, seen))
    return MarkerCheck(True, found, marker.description, seen)
