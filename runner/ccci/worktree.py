"""The recipe as a maintainer has it: HEAD plus uncommitted and untracked files.

abra's chaos deploys use the working tree; ccci tests the same thing when no ref is
given, so a maintainer can run CI on a change before committing it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def _git_lines(repo: Path, *args: str) -> list[str]:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return [line for line in proc.stdout.split("\0") if line]


def overlay_worktree(source: Path, checkout: Path) -> list[str]:
    """Copy ``source``'s uncommitted and untracked changes onto ``checkout``.

    Returns the changed paths (empty for a clean tree or a bare repository). Ignored
    files stay out, as they would from a commit.
    """
    if not (source / ".git").exists():
        return []
    modified = _git_lines(source, "diff", "--name-only", "-z", "HEAD")
    untracked = _git_lines(source, "ls-files", "--others", "--exclude-standard", "-z")
    changed = sorted(set(modified) | set(untracked))
    for rel in changed:
        src, dest = source / rel, checkout / rel
        if src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
        elif dest.exists():
            dest.unlink()
    return changed
