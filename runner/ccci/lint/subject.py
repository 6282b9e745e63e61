"""What lint looks at: the recipe at the version under test, and its previous release.

Both are checked out in a temporary folder (``git clone`` at the commit, so untracked
files of a working tree are not linted: a release is what is committed). Without a
ref, the version under test is the repository's HEAD.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ccci import git
from ccci.versions import previous_versions, sort_versions


@dataclass(frozen=True)
class Release:
    """One version of the recipe, checked out at ``root``."""

    commit: str
    root: Path
    # The release tags at this commit (release format only), newest first; empty for an
    # unreleased commit (a pull request's head).
    tags: tuple[str, ...] = ()

    @property
    def version(self) -> str | None:
        """The release this commit is, if it is one."""
        return self.tags[0] if self.tags else None

    def read(self, name: str) -> str | None:
        """A file of the recipe as text, None when absent."""
        path = self.root / name
        return path.read_text(errors="replace") if path.is_file() else None


@dataclass(frozen=True)
class LintSubject:
    """The recipe's repository, the version under test and the previous release."""

    recipe: str
    repo: Path
    current: Release
    previous: Release | None
    # Every tag of the repository (releases and others), for rules about tags.
    tags: tuple[str, ...] = field(default_factory=tuple)


def previous_release(tags: list[str], current_tags: tuple[str, ...]) -> str | None:
    """The release before the version under test: the highest one below it when the
    commit is a release, else the highest release (what a pull request builds on)."""
    if current_tags:
        below = previous_versions(tags, current_tags[0])
        return below[-1].tag if below else None
    releases = sort_versions(tags)
    return releases[-1].tag if releases else None


@contextmanager
def lint_subject(recipe: str, repo: Path, ref: str | None = None) -> Iterator[LintSubject]:
    """The subject, checked out for the time of the ``with`` block."""
    commit = git.resolve_ref(repo, ref or "HEAD")
    tags = git.tags(repo)
    at_commit = tuple(v.tag for v in reversed(sort_versions(git.tags_at(repo, commit))))
    before = previous_release(tags, at_commit)
    with tempfile.TemporaryDirectory(prefix="ccci-lint-") as tmp:
        current = Release(commit, Path(tmp) / "current", at_commit)
        git.clone_at(repo, current.root, commit)
        previous = None
        if before is not None:
            previous_commit = git.resolve_ref(repo, before)
            previous = Release(previous_commit, Path(tmp) / "previous", (before,))
            git.clone_at(repo, previous.root, previous_commit)
        yield LintSubject(recipe, repo, current, previous, tuple(tags))
