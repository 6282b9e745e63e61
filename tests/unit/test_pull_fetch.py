"""Fetching a pull request's head into the recipe's clone (ccci.git.fetch_pull_head),
with real git: a bare repository stands for the forge, which publishes pull requests as
``refs/pull/<n>/head`` as Gitea and Forgejo do."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ccci.errors import BadInput, Unavailable
from ccci.git import fetch_pull_head, has_commit, pull_head_ref


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.org", *args], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.fixture
def forge_and_clone(tmp_path):
    """The forge (bare, with pull request 3), and a clone made before the pull request."""
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "--quiet", "-b", "main")
    (work / "compose.yml").write_text("version: '3.8'\n")
    _git(work, "add", ".")
    _git(work, "commit", "--quiet", "-m", "first")
    forge = tmp_path / "forge.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(forge)], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(forge), str(clone)],
                   check=True)
    (work / "compose.yml").write_text("version: '3.8'\nservices: {}\n")
    _git(work, "commit", "--quiet", "-am", "the pull request")
    _git(work, "push", "--quiet", str(forge), "HEAD:refs/pull/3/head")
    return forge, clone, _git(work, "rev-parse", "HEAD")


def test_a_missing_head_is_fetched_and_kept_under_ccci_s_ref(forge_and_clone):
    _, clone, head = forge_and_clone
    assert not has_commit(clone, head)
    assert fetch_pull_head(clone, 3, head) is True
    assert has_commit(clone, head) and _git(clone, "rev-parse", pull_head_ref(3)) == head
    assert fetch_pull_head(clone, 3, head) is False  # there now: nothing fetched again


def test_without_a_commit_the_head_is_fetched(forge_and_clone):
    _, clone, head = forge_and_clone
    assert fetch_pull_head(clone, 3, None) is True
    assert _git(clone, "rev-parse", pull_head_ref(3)) == head


def test_a_commit_the_pull_request_no_longer_has_is_bad_input(forge_and_clone):
    _, clone, head = forge_and_clone
    gone = "0" * 40
    with pytest.raises(BadInput, match=rf"commit {gone} is not in pull request #3: its "
                                       rf"head is {head[:12]} now"):
        fetch_pull_head(clone, 3, gone)


def test_an_unknown_pull_request_is_bad_input(forge_and_clone):
    _, clone, _ = forge_and_clone
    with pytest.raises(BadInput, match="has no refs/pull/99/head"):
        fetch_pull_head(clone, 99, None)


def test_a_clone_without_the_remote_is_bad_input(forge_and_clone):
    _, clone, head = forge_and_clone
    with pytest.raises(BadInput, match="no remote 'upstream'"):
        fetch_pull_head(clone, 3, head, remote="upstream")


def test_an_unreachable_forge_is_unavailable_and_hides_credentials(forge_and_clone):
    _, clone, head = forge_and_clone
    _git(clone, "remote", "set-url", "origin", "http://bot:s3cret-token@127.0.0.1:9/x.git")
    with pytest.raises(Unavailable) as raised:
        fetch_pull_head(clone, 3, head)
    assert "s3cret-token" not in str(raised.value)


def test_runs_fetching_into_one_clone_at_once_all_succeed(forge_and_clone):
    _, clone, head = forge_and_clone
    with ThreadPoolExecutor(4) as pool:
        fetched = list(pool.map(lambda _: fetch_pull_head(clone, 3, None), range(4)))
    assert fetched == [True] * 4 and _git(clone, "rev-parse", pull_head_ref(3)) == head
