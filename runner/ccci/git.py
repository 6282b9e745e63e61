"""The few git operations a run needs, with errors a user can act on."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from pathlib import Path

from ccci.errors import BadInput, CcciError, Unavailable

# user:password@ in a remote's URL, kept out of messages
_USERINFO = re.compile(r"(://)[^/@\s]+@")
FETCH_TIMEOUT = 300  # seconds; a forge that does not answer is an infrastructure failure


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its stripped output."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise CcciError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _commit_of(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo``, None when there is none."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True, text=True, check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def resolve_ref(repo: Path, ref: str) -> str:
    """The commit ``ref`` names in ``repo``; BadInput when there is none."""
    if ref.startswith("-"):
        raise BadInput(f"invalid ref {ref!r}")
    commit = _commit_of(repo, ref)
    if commit is None:
        raise BadInput(f"ref {ref!r} does not exist in the recipe repository {repo}")
    return commit


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


def has_commit(repo: Path, ref: str) -> bool:
    """Whether ``ref`` names a commit of ``repo``."""
    return not ref.startswith("-") and _commit_of(repo, ref) is not None


def pull_head_ref(number: int) -> str:
    """Where ``fetch_pull_head`` keeps pull request ``number``'s head."""
    return f"refs/ccci/pull/{number}"


def fetch_pull_head(repo: Path, number: int, commit: str | None, *,
                    remote: str = "origin") -> bool:
    """Make the head of pull request ``number`` (Gitea and Forgejo publish it as
    ``refs/pull/<n>/head``) a commit of ``repo``, kept as ``refs/ccci/pull/<n>``.

    Nothing is fetched when ``commit`` is there already (returns False). Runs on one
    repository fetch one at a time (a lock file in its git folder), since git refuses a
    second writer of the same refs. Unavailable when the remote cannot be reached;
    BadInput when the pull request does not exist or ``commit`` is not its head (it was
    pushed to since the comment)."""
    if commit is not None and has_commit(repo, commit):
        return False
    if not remote or remote.startswith("-"):
        raise BadInput(f"invalid git remote {remote!r}")
    try:
        git(repo, "remote", "get-url", remote)
    except CcciError:
        raise BadInput(f"pull request #{number}: the recipe repository {repo} has no "
                       f"remote {remote!r} to fetch it from") from None
    local = pull_head_ref(number)
    lock_path = Path(git(repo, "rev-parse", "--absolute-git-dir")) / "ccci-fetch.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            proc = subprocess.run(
                ["git", "-C", str(repo), "fetch", "--quiet", "--no-tags", remote,
                 f"+refs/pull/{number}/head:{local}"],
                capture_output=True, text=True, check=False, timeout=FETCH_TIMEOUT,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # never wait for a password
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(f"fetching pull request #{number} from {remote} of {repo}: "
                              f"no answer within {FETCH_TIMEOUT} s") from None
    if proc.returncode != 0:
        said = _USERINFO.sub(r"\1<credentials>@", proc.stderr.strip())
        if "couldn't find remote ref" in said:
            raise BadInput(f"pull request #{number}: {remote} of {repo} has no "
                           f"refs/pull/{number}/head")
        raise Unavailable(f"fetching pull request #{number} from {remote} of {repo} "
                          f"failed: {said}")
    if commit is not None and not has_commit(repo, commit):
        head = git(repo, "rev-parse", local)
        raise BadInput(f"commit {commit} is not in pull request #{number}: its head is "
                       f"{head[:12]} now (pushed to since the build was asked for?)")
    return True
