"""Keep the controller's environment out of ansible-runner's artifacts.

ansible-runner writes ``artifacts/<ident>/command`` with the full environment of the
process that started it, and ccci's environment is a CI job's: forge and Drone tokens,
registry passwords, the variables SECRET_VALUES points at. The run directory is kept
and published, so only the variable names stay; values are kept for the variables
ccci set itself and for a few that explain a run without revealing anything.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

REDACTED = "<redacted by ccci>"
# Harmless and useful when reading why a stage behaved as it did.
KEPT_VALUES = frozenset({"HOME", "LANG", "LC_ALL", "PWD", "SHELL", "USER", "VIRTUAL_ENV"})


def redact_command_file(artifact_dir: Path | str, keep: Iterable[str] = ()) -> bool:
    """Replace environment values in ``artifact_dir/command``; True when it was done.

    Idempotent; a missing or unreadable file (the stage has not started) is left alone.
    """
    path = Path(artifact_dir) / "command"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    env = record.get("env")
    if not isinstance(env, dict):
        return False
    kept = KEPT_VALUES | set(keep)
    record["env"] = {name: value if name in kept else REDACTED for name, value in env.items()}
    if record["env"] != env:
        tmp = path.with_name("command.redacting")
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        tmp.chmod(0o600)
        with contextlib.suppress(OSError):
            tmp.replace(path)
    return True
