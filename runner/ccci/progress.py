"""Live progress of a run, from ansible-runner events.

On a terminal one status line is rewritten in place (stage, task, elapsed); in CI
or when output is piped, each task start and each failure is one plain line, so
logs stay readable.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

ARG_SPEC_TASK = "Validating arguments against arg spec"


class Progress:
    """Prints what a run is doing; never prints task results (they may hold secrets)."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        if live is None:
            live = self.stream.isatty() and not os.environ.get("CI")
        self.live = live
        self._stage = ""
        self._started = time.monotonic()
        self._line_open = False

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    def _print(self, text: str) -> None:
        if self._line_open:
            self.stream.write("\r\033[K")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _status(self, text: str) -> None:
        width = 120
        self.stream.write("\r\033[K" + text[:width])
        self.stream.flush()
        self._line_open = True

    def info(self, text: str) -> None:
        """A line of its own, whatever the mode."""
        self._print(text)

    def stage_start(self, stage: str) -> None:
        self._stage = stage
        self._started = time.monotonic()
        self._print(f"== {stage}")

    def stage_end(self, stage: str, status: str, duration: float) -> None:
        self._print(f"== {stage}: {status} in {duration:.1f}s")

    def event(self, event: dict[str, Any]) -> None:
        """Report one ansible-runner event."""
        kind = event.get("event")
        data = event.get("event_data", {})
        prefix = f"[{self._stage} {self._elapsed():6.1f}s]"
        if kind == "playbook_on_task_start":
            task = data.get("task", "")
            if task.startswith(ARG_SPEC_TASK):
                return  # Ansible's own argument validation: noise in a progress view
            line = f"{prefix} {task}"
            if self.live:
                self._status(line)
            else:
                self._print(line)
        elif kind in ("runner_on_failed", "runner_on_unreachable") and not data.get(
            "ignore_errors"
        ):
            result = data.get("res", {})
            message = str(result.get("msg", "")).splitlines()[:1]
            self._print(f"{prefix} FAILED {data.get('task', '')}: {''.join(message)}")
