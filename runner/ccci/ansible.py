"""Running the collection's stage playbooks through ansible-runner.

One private_data_dir per run, one ident (artifact folder) per stage, nothing written
to ``env/`` (a stale ``env/envvars`` would override what is passed), and a
``cancel_callback`` so ansible-runner leaves the signal handlers to the orchestrator.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from ccci.failures import classify_failure
from ccci.progress import Progress
from ccci.redact import redact_command_file


@dataclass
class StageRun:
    """The outcome of one stage playbook."""

    stage: str
    status: str  # successful, failed, canceled, timeout
    rc: int
    duration: float
    failures: list[dict[str, Any]] = field(default_factory=list)
    artifact_dir: str = ""
    hosts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Successful on at least one host: a play that matched none proves nothing."""
        return self.status == "successful" and bool(self.hosts)

    def reason(self) -> str:
        """The first failure, as one readable message."""
        if self.ok:
            return ""
        if self.status == "successful":
            return NO_HOST
        if self.failures:
            return failure_reason(self.failures[0])
        return f"playbook {self.status} (rc={self.rc})"


_API_URL = re.compile(r" for http\+docker://\S+(?=:)")
# How much of a tool's output a failure keeps: the end, where the error is.
DETAIL_LIMIT = 4000
REASON_DETAIL_LIMIT = 600


def failure_reason(failure: dict[str, Any]) -> str:
    """``task: msg``, then what the tool itself said when the message does not say it.

    A module's message is often generic ("docker stack up deploy command failed"); the
    cause is in the tool's stderr or the exception, so the reason carries that too, on
    one line (the full text stays in the failure record).
    """
    # The Docker API client names the daemon's URL it called: noise next to the answer.
    msg = _API_URL.sub("", str(failure["msg"]))
    reason = f"{failure['task']}: {msg}"
    detail = " ".join(str(failure.get("detail") or "").split())
    if detail and detail not in " ".join(str(failure["msg"]).split()):
        if len(detail) > REASON_DETAIL_LIMIT:
            detail = "…" + detail[-REASON_DETAIL_LIMIT:]
        reason += f": {detail}"
    return reason


def _tail(text: Any, limit: int = DETAIL_LIMIT) -> str:
    """The end of a tool's output without blank lines, at most ``limit`` characters."""
    lines = [ln.rstrip() for ln in str(text or "").splitlines() if ln.strip()]
    tail = "\n".join(lines)
    return tail if len(tail) <= limit else "…" + tail[-limit:]


_CRASHED = re.compile(r"MODULE FAILURE|Unexpected failure during module execution")


def tool_detail(res: dict[str, Any]) -> str:
    """What the underlying tool said: stderr of a command (Docker, restic), else stdout
    of a command that failed, else the last line of a crashed module's exception."""
    if res.get("stderr"):
        return _tail(res["stderr"])
    if res.get("rc") not in (None, 0) and res.get("stdout"):
        return _tail(res["stdout"])
    if not _CRASHED.search(str(res.get("msg", ""))):
        return ""  # a module's own message says it; an exception would only repeat it
    for key in ("exception", "module_stderr"):
        text = _tail(res.get(key), 1000)
        if text and text != "(traceback unavailable)":
            return text.splitlines()[-1]
    return ""


def _failed_item(res: dict[str, Any]) -> dict[str, Any]:
    """A loop's result says only "One or more items failed": use the first failed item's."""
    items = res.get("results")
    if not isinstance(items, list):
        return res
    items = [item for item in items if isinstance(item, dict)]
    # Items of a failed loop do not always say failed: true; the one with an error does.
    failed = [item for item in items if item.get("failed")] or [
        item for item in items if item.get("exception") or item.get("msg")]
    return failed[0] if failed else res


def _failure(event: dict[str, Any]) -> dict[str, Any]:
    """One failed task as results.json records it: what failed, and the tool's words.

    ``detail`` is the tool's own error text (e.g. Docker's stderr behind "docker stack
    up deploy command failed"); ``failure_kind`` and ``hint`` are ``ccci.failures``'s
    reading of it.
    """
    data = event.get("event_data", {})
    res = _failed_item(data.get("res", {}) or {})
    failure: dict[str, Any] = {
        "task": data.get("task", ""),
        "role": data.get("role", ""),
        "action": data.get("task_action", ""),
        "msg": str(res.get("msg") or res.get("stderr") or "failed"),
    }
    detail = tool_detail(res)
    if detail:
        failure["detail"] = detail
    if res.get("rc") not in (None, 0):
        failure["rc"] = res["rc"]
    if event.get("event") == "runner_on_unreachable" or res.get("unreachable"):
        failure["unreachable"] = True
    for key in ("failures", "services", "status", "url", "remaining"):
        if key in res:
            failure[key] = res[key]
    found = classify_failure(failure)
    failure["failure_kind"] = found.kind
    if found.hint:
        failure["hint"] = found.hint
    return failure


NO_HOST = "the stage matched no host of the swarm group: nothing ran"


def ansible_env(project_root: Path) -> dict[str, str]:
    """Environment for Ansible started by ccci: the project's config, this venv first."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        "ANSIBLE_CONFIG": str(project_root / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        # ansible-runner turns host key checking off unless this is passed, overriding
        # ansible.cfg: a remote swarm host's key must be known, as for ccci's forwards.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


class PlaybookRunner:
    """Runs ``playbooks/<stage>.yml`` of the project for one run."""

    def __init__(
        self,
        project_root: Path,
        run_dir: Path,
        progress: Progress,
        *,
        inventory: str | None = None,
        cancel: Callable[[], bool] = lambda: False,
        limit: str | None = None,
    ) -> None:
        self.project_root = project_root
        self.limit = limit  # the one host of the inventory the run deploys on
        self.private_data_dir = run_dir / "ansible"
        self.private_data_dir.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.inventory = inventory
        self.cancel = cancel
        self._count = 0

    def run(
        self, stage: str, playbook: str, extravars: dict[str, Any], *, cancellable: bool = True
    ) -> StageRun:
        """Run one playbook; returns when it ends or, if ``cancellable``, is cancelled."""
        self._count += 1
        ident = f"{self._count:02d}-{stage}"
        artifact_dir = self.private_data_dir / "artifacts" / ident
        envvars = ansible_env(self.project_root)
        failures: list[dict[str, Any]] = []
        redacted = False

        def on_event(event: dict[str, Any]) -> bool:
            nonlocal redacted
            # The command file is written before the first event: shrink the window in
            # which it holds the environment's values to the playbook's start-up.
            redacted = redacted or redact_command_file(artifact_dir, envvars)
            self.progress.event(event)
            data = event.get("event_data", {})
            if event.get("event") in ("runner_on_failed", "runner_on_unreachable") and not (
                data.get("ignore_errors")
            ):
                failures.append(_failure(event))
            return True

        self.progress.stage_start(stage)
        started = time.monotonic()
        kwargs: dict[str, Any] = {}
        if self.inventory:
            kwargs["inventory"] = self.inventory
        if self.limit:
            kwargs["limit"] = self.limit
        runner = ansible_runner.run(
            private_data_dir=str(self.private_data_dir),
            project_dir=str(self.project_root),
            playbook=playbook,
            ident=ident,
            extravars=extravars,
            envvars=envvars,
            suppress_env_files=True,
            quiet=True,
            event_handler=on_event,
            cancel_callback=self.cancel if cancellable else lambda: False,
            **kwargs,
        )
        redact_command_file(artifact_dir, envvars)
        duration = time.monotonic() - started
        result = StageRun(
            stage=stage,
            status=runner.status,
            rc=runner.rc if runner.rc is not None else -1,
            duration=duration,
            failures=failures,
            artifact_dir=str(artifact_dir),
            hosts=sorted((runner.stats or {}).get("processed", {})),
        )
        self.progress.stage_end(stage, result.status, duration)
        return result


def _run_adhoc(
    module: str,
    args: dict[str, Any],
    *,
    project_root: Path,
    check: bool,
    host: str,
    inventory: str | None,
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """Run one module ad hoc against the host pattern ``host``: each host's result in
    the order they came, with ``failed`` set (unreachable too), and the runner's status.

    Each call gets a throwaway private_data_dir.
    """
    results: list[tuple[str, dict[str, Any]]] = []

    def on_event(event: dict[str, Any]) -> bool:
        kind = event.get("event")
        if kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
            data = event["event_data"]
            result = dict(data.get("res", {}))
            result["failed"] = kind != "runner_on_ok"
            if kind == "runner_on_unreachable":
                result["unreachable"] = True
            results.append((str(data.get("host", "")), result))
        return True

    with tempfile.TemporaryDirectory(prefix="ccci-adhoc-") as private_data_dir:
        cmdline = "--check" if check else None
        runner = ansible_runner.run(
            private_data_dir=private_data_dir,
            project_dir=str(project_root),
            host_pattern=host,
            module=module,
            module_args=json.dumps(args) if args else None,  # "{}" reads as raw params
            envvars=ansible_env(project_root),
            inventory=inventory,
            cmdline=cmdline,
            suppress_env_files=True,
            quiet=True,
            event_handler=on_event,
            cancel_callback=lambda: False,
        )
    return results, str(runner.status)


def run_module(
    module: str,
    args: dict[str, Any],
    *,
    project_root: Path,
    check: bool = False,
    host: str = "localhost",
    inventory: str | None = None,
) -> dict[str, Any]:
    """Run one module ad hoc against ``host`` and return its result (for tools and tests).

    Each call gets a throwaway private_data_dir; failed results are returned, not raised.
    """
    results, status = _run_adhoc(module, args, project_root=project_root, check=check,
                                 host=host, inventory=inventory)
    if not results:
        raise RuntimeError(f"{module} produced no result (status {status})")
    return results[-1][1]


def run_module_on_hosts(
    module: str,
    args: dict[str, Any],
    hosts: list[str],
    *,
    project_root: Path,
    check: bool = False,
    inventory: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Run one module ad hoc on each of ``hosts`` at once: each host's result, by host.

    Failed and unreachable results are returned, not raised (``failed``, and
    ``unreachable`` for a host Ansible could not reach, with its ``msg``); a host that
    gave no result at all gets a failed one saying so.
    """
    if not hosts:
        return {}
    results, status = _run_adhoc(module, args, project_root=project_root, check=check,
                                 host=",".join(hosts), inventory=inventory)
    by_host = dict(results)
    return {host: by_host.get(host) or {
        "failed": True, "msg": f"{module} produced no result (status {status})"}
        for host in hosts}
