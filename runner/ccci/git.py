"""The few git operations a run needs, with errors a user can act on."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ccci.errors import BadInput, CcciError


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its stripped output."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise CcciError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def resolve_ref(repo: Path, ref: str) -> str:
    """The commit ``ref`` names in ``repo``; BadInput when there is none."""
    if ref.startswith("-"):
        raise BadInput(f"invalid ref {ref!r}")
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise BadInput(f"ref {ref!r} does not exist in the recipe repository {repo}")
    return proc.stdout.strip()


def clone_at(source: Path | str, dest: Path, commit: str) -> None:
    """A private checkout of ``source`` at ``commit``, with its tags, for one run."""
    subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", str(source), str(dest)],
        check=True, capture_output=True,
    )
    git(dest, "checkout", "--quiet", "--detach", commit)


def tags(repo: Path) -> list[str]:
    """Every tag of ``repo``."""
    return git(repo, "tag", "--list").split()


def tags_at(repo: Path, commit: str) -> list[str]:
    """Tags that point at ``commit``."""
    return git(repo, "tag", "--points-at", commit).split()
