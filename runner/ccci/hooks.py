"""Calling a recipe's hooks with a context built from the run's saved state.

The ``ccci.recipe.hook`` action plugin calls these functions, so a hook behaves the
same under ``ccci run`` and under ``ansible-playbook``.

Every call of a hook (and of a marker's probe) runs in a forked child process in a
process group of its own, killed with everything it started when its time is up
(HOOK_TIMEOUT, HOOK_TIMEOUTS, and a probe's retry window), when the process that
asked for it dies, or when that process is orphaned (a cancelled playbook): a hook
that blocks must fail its tier, not hang the run, and must not outlive a cancelled run.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from ccci import ingress
from ccci.config import HookCtx, RecipeConfig, Snapshot
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
    timed_out: bool = False


def load_deps() -> dict[str, Any]:
    """Credentials of dependency apps, from the file CCCI_DEPS_FILE names."""
    path = os.environ.get("CCCI_DEPS_FILE")
    if not path:
        return {}
    return json.loads(Path(path).read_text())


def make_ctx(
    context: RunContext, config: RecipeConfig, op: str, host_spec: str,
    snapshot: dict[str, Any] | None = None, app_port: int | None = None,
) -> HookCtx:
    """The frozen context handed to hooks for operation ``op``.

    ``base_url`` is the app's URL by its domain (``https://<domain>:<proxy port>``, or
    the published port in direct mode; on a remote host the controller port forwarded
    to it, ``app_port``), which the hook's process resolves to the controller's
    loopback (``reach_app``); empty for a recipe that serves no HTTP.
    """
    reached = ingress.Ingress.from_dict(context.host["ingress"]).seen_at(app_port)
    return HookCtx(
        snapshot=Snapshot(**snapshot, stack=context.stack, host_spec=host_spec)
        if snapshot else None,
        domain=context.domain,
        base_url=reached.base_url if context.target["http_service"] else "",
        meta=MappingProxyType(config.resolved()),
        deps=MappingProxyType(load_deps()),
        op=op,
        stack=context.stack,
        host_spec=host_spec,
    )


def reach_app(context: RunContext, func: Callable[[], Any], app_port: int | None = None,
              ) -> Callable[[], Any]:
    """``func``, called where the app's names resolve to the loopback and the proxy's CA
    is trusted (``ccci.ingress.reach``); for the child a call runs in."""
    reached, bundle = ingress.of_run(context.host["ingress"], context.run_dir, app_port)
    return partial(_reaching, reached, bundle, func)


def _reaching(reached: ingress.Ingress, bundle: Path | None, func: Callable[[], Any]) -> Any:
    ingress.enter(reached, bundle)
    return func()


def _exception_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


# -- how long a call may take ----------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """How long one call may take, and which setting said so (the error names it)."""

    seconds: float
    source: str

    def message(self) -> str:
        return f"timed out after {self.seconds:g} s ({self.source})"


def hook_limit(config: RecipeConfig, name: str | None) -> Limit:
    """The time one call of hook ``name`` may take; ``None`` for a marker's probe."""
    per_hook = config.get("HOOK_TIMEOUTS")
    if name is not None and name in per_hook:
        return Limit(per_hook[name], f"HOOK_TIMEOUTS.{name}")
    default = "" if "HOOK_TIMEOUT" in config.values else "default "
    return Limit(config.get("HOOK_TIMEOUT"), f"{default}HOOK_TIMEOUT")


@dataclass
class _Window:
    """A probe's retry window: calls are repeated until it ends, and none outlasts it."""

    retry_for: float
    interval: float

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.retry_for

    def bound(self, limit: Limit) -> Limit:
        """``limit``, or what is left of the window when that is shorter."""
        if self.retry_for <= 0:
            return limit
        left = round(self.deadline - time.monotonic(), 1)
        if left >= limit.seconds:
            return limit
        return Limit(max(left, 0.1), f"the end of its {self.retry_for:g} s retry window")

    def again(self) -> bool:
        """Whether to call again: a probe with an interval's wait left in its window."""
        return self.retry_for > 0 and time.monotonic() + self.interval <= self.deadline


# -- one call in a child process -------------------------------------------------------

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_HEADER = 8  # bytes of the length prefix of the child's answer
_CALLER_CHECK = 0.5  # seconds between checks that the caller still has its parent


class CallerOrphaned(Exception):
    """The caller's parent ended during a call, e.g. ``ansible-playbook`` was cancelled.

    ansible-runner cancels a playbook by SIGKILLing its process group; Ansible's workers
    run in sessions of their own and live on, orphaned, waiting for the hook. The call
    is killed and nothing more is called: not a CcciError, so no retry loop goes on.
    """


class _TimedOut(Exception):
    """The call reached its limit."""


@dataclass
class CallResult:
    """What one bounded call gave back: its value, or why there is none."""

    ok: bool
    value: Any = None
    error: str = ""
    timed_out: bool = False


def call_bounded(func: Callable[[], Any], limit: Limit) -> CallResult:
    """Call ``func`` in a forked child; kill its process group when ``limit`` is reached.

    Only a process can be stopped from outside, together with the processes it
    started (a ``docker exec`` or ``sleep`` a hook waits for). Forking keeps the loaded
    hooks module and the context as they are; only the answer is pickled. The group is
    killed after every call, so nothing a hook starts outlives it. Raises
    CallerOrphaned when the caller's parent ends meanwhile (a cancelled playbook).
    """
    result_r, result_w = os.pipe()
    alive_r, alive_w = os.pipe()
    parent = os.getpid()
    _flush_stdio()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        _child(func, (result_r, result_w), (alive_r, alive_w), parent)
    os.close(result_w)
    os.close(alive_r)
    try:
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also done by the child; whichever runs first
        answer = _receive(result_r, time.monotonic() + limit.seconds, os.getppid())
    except _TimedOut:
        answer = None
    finally:
        status = _end_group(pid)
        os.close(result_r)
        os.close(alive_w)
    if answer is None:
        return CallResult(False, error=limit.message(), timed_out=True)
    return _decode(answer, status)


def _receive(fd: int, deadline: float, caller_parent: int) -> bytes:
    """The child's answer, b"" when it ended without one; _TimedOut, CallerOrphaned.

    The answer is length-prefixed, so a process the hook forked and that still holds
    the pipe open cannot make a finished call wait for end-of-file.
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    data = bytearray()
    while len(data) < _HEADER or len(data) < _HEADER + int.from_bytes(data[:_HEADER], "big"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise _TimedOut
        if os.getppid() != caller_parent:
            raise CallerOrphaned(f"the process that started {os.getpid()} ended; "
                                 "the hook was killed")
        if not poller.poll(max(1, int(min(left, _CALLER_CHECK) * 1000))):
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b""
        data += chunk
    return bytes(data[_HEADER:])


def _end_group(pid: int) -> int:
    """SIGKILL what is left of the call's process group, reap the child; its wait status.

    Killing before reaping: while the child is unreaped its pid, hence the group id,
    cannot be reused by an unrelated process.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _decode(answer: bytes, status: int) -> CallResult:
    """The call's outcome from the child's answer (or from how it ended without one)."""
    if not answer:
        code = os.waitstatus_to_exitcode(status)
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return CallResult(False, error=f"the hook's process ended without an answer ({how})")
    try:
        kind, value = pickle.loads(answer)
    except Exception as exc:
        return CallResult(False, error=f"the hook's answer could not be read: {exc!r}")
    return CallResult(True, value) if kind == "returned" else CallResult(False, error=value)


def _child(
    func: Callable[[], Any], result: tuple[int, int], alive: tuple[int, int], parent: int
) -> NoReturn:
    """The child's whole life: never returns into the caller's code, whatever happens."""
    code = 70
    (result_r, result_w), (alive_r, alive_w) = result, alive
    try:
        os.setpgid(0, 0)
        os.close(result_r)
        os.close(alive_w)
        _die_with_parent(parent, alive_r)
        answer = _answer(func)
        with os.fdopen(result_w, "wb") as out:
            out.write(len(answer).to_bytes(_HEADER, "big") + answer)
        _flush_stdio()
        code = 0
    finally:
        os._exit(code)


def _answer(func: Callable[[], Any]) -> bytes:
    """``func``'s return value or exception, pickled for the parent."""
    try:
        value = func()
    except BaseException as exc:  # sys.exit() in a hook is the hook's failure too
        return pickle.dumps(("raised", _exception_text(exc)))
    try:
        return pickle.dumps(("returned", value))
    except Exception as exc:
        return pickle.dumps((
            "raised",
            f"returned a {type(value).__name__} that cannot be passed back from the "
            f"hook's process ({type(exc).__name__}: {exc}); return plain data or a Marker",
        ))


def _die_with_parent(parent: int, alive_r: int) -> None:
    """End the call's process group when the process that asked for it ends.

    No signal to the caller's own group reaches the call's group, and a caller killed
    by SIGKILL runs no cleanup. Either of two signs is enough: Linux's parent-death
    signal, and end-of-file on a pipe only the parent holds open.
    """
    signal.signal(signal.SIGTERM, lambda *_: _kill_own_group())
    with contextlib.suppress(OSError, AttributeError):  # prctl is Linux only
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    threading.Thread(target=_watch_parent, args=(alive_r,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was asked for
        _kill_own_group()


def _watch_parent(alive_r: int) -> None:
    """Block until the parent's end of the pipe closes, then end the call."""
    with contextlib.suppress(OSError):
        os.read(alive_r, 1)
    _kill_own_group()


def _kill_own_group() -> None:
    """SIGKILL the child's process group: the hook and every process it started."""
    if os.getpgrp() == os.getpid():  # never the caller's group
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(137)


def _flush_stdio() -> None:
    """Flush Python's buffers, so output written before a fork is not written twice."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


# -- hooks and markers -----------------------------------------------------------------


def _judge(name: str, call: CallResult, must_be_true: bool, attempts: int) -> HookOutcome:
    """One call's outcome; with ``must_be_true`` a false return value is a failure."""
    if not call.ok:
        return HookOutcome(True, False, error=call.error, attempts=attempts,
                           timed_out=call.timed_out)
    failed = must_be_true and not call.value
    error = f"{name} returned {call.value!r}" if failed else ""
    return HookOutcome(True, not failed, call.value, error, attempts)


def _last_word(outcomes: list[HookOutcome]) -> HookOutcome:
    """The last call's outcome; when it timed out, with the last other failure too.

    The last call of a probe gets what is left of the window and may be cut short;
    "returned False" from the call before says more than the cut alone.
    """
    last = outcomes[-1]
    earlier = [o.error for o in outcomes[:-1] if not o.timed_out and o.error]
    if last.timed_out and earlier:
        last.error = f"{last.error}; the last call before: {earlier[-1]}"
    return last


def has_hook(run_dir: Path, name: str) -> bool:
    """Whether the run's recipe defines hook ``name`` (nothing to call, nothing to reach)."""
    context = load_run(run_dir)
    return name in context.recipe_config().hooks


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
    app_port: int | None = None,
) -> HookOutcome:
    """Call hook ``name`` if the recipe defines it, each call bounded (see ``hook_limit``).

    With ``retry_for`` the hook is a probe: called until it returns a true value or
    the time is up; an exception or a timed-out call counts as "not yet", and no call
    runs past the end of the window. With ``require_true`` a false return value is a
    failure too (a check hook). ``app_port``: see ``make_ctx``.
    """
    context = load_run(run_dir)
    config = context.recipe_config()
    hook = config.hooks.get(name)
    if hook is None:
        return HookOutcome(called=False, ok=True)
    ctx = make_ctx(context, config, op, host_spec, snapshot, app_port)
    limit, window = hook_limit(config, name), _Window(retry_for, interval)
    outcomes: list[HookOutcome] = []
    while True:
        call = call_bounded(reach_app(context, partial(hook, ctx), app_port),
                            window.bound(limit))
        outcomes.append(_judge(name, call, retry_for > 0 or require_true, len(outcomes) + 1))
        if outcomes[-1].ok or not window.again():
            break
        time.sleep(interval)
    outcome = _last_word(outcomes)
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
    retry_for: float = 0.0, interval: float = 2.0, app_port: int | None = None,
) -> MarkerCheck:
    """Look for the marker ``pre_<seeded_by>`` seeded, after ``op``; record the check.

    ``after`` says what happened in words for the record ("upgrade to 1.2.0"); the
    probe's context gets the operation name. Retried for ``retry_for`` seconds, since
    an app may answer before it has loaded everything; an exception or a timed-out
    probe (HOOK_TIMEOUT, and the window) counts as not found.
    """
    record = RunDir(run_dir)
    raw = record.markers().seeded.get(seeded_by)
    if raw is None:
        return MarkerCheck(seeded=False)
    marker = Marker(**raw)
    context = load_run(run_dir)
    config = context.recipe_config()
    ctx = make_ctx(context, config, op, host_spec, app_port=app_port)
    limit, window = hook_limit(config, None), _Window(retry_for, interval)
    while True:
        call = call_bounded(reach_app(context, partial(marker.probe, ctx), app_port),
                            window.bound(limit))
        found, seen = call.value if call.ok else (False, call.error)
        if found or not window.again():
            break
        time.sleep(interval)
    record.record_marker_check(MarkerCheckEntry(seeded_by, after, found, seen))
    return MarkerCheck(True, found, marker.description, seen)
