"""Unit tests for ccci.examples: recipe sources -> git repositories with version tags."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ccci.examples import ExampleSourceError, materialize, materialize_all, read_tags

REPO_ROOT = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def show(repo: Path, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def files_at(repo: Path, ref: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", ref).split())


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A three-version recipe source: a change, an addition, a deletion of a file and a dir."""
    src = tmp_path / "src" / "demo"
    write(
        src,
        {
            "versions.yml": 'tags: ["1.0.0+1", "1.1.0+1", "2.0.0+2"]\n',
            "base/compose.yml": "version: '3.8'  # v1\n",
            "base/.env.sample": "TYPE=demo\n",
            "base/abra.sh": "export CONF_VERSION=v1\n",
            "base/old.conf": "old\n",
            "base/legacy/a.txt": "a\n",
            "steps/1.1.0+1/compose.yml": "version: '3.8'  # v2\n",
            "steps/1.1.0+1/release/1.1.0+1": "notes for 1.1.0\n",
            "steps/2.0.0+2/new.conf": "new\n",
            "steps/2.0.0+2/.deleted": "# removed in 2.0.0\nold.conf\n\nlegacy\n",
        },
    )
    return src


def test_tags_and_branch(source: Path, tmp_path: Path) -> None:
    repo = materialize(source, tmp_path / "repo")
    assert repo == tmp_path / "repo"
    assert git(repo, "tag", "--list").split() == ["1.0.0+1", "1.1.0+1", "2.0.0+2"]
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "2.0.0+2^{commit}")
    # One commit per version, in order.
    log = git(repo, "log", "--format=%D", "main").splitlines()
    assert [line.split("tag: ")[-1] for line in log] == ["2.0.0+2", "1.1.0+1", "1.0.0+1"]
    assert git(repo, "status", "--porcelain") == ""


def test_contents_at_each_tag(source: Path, tmp_path: Path) -> None:
    repo = materialize(source, tmp_path / "repo")
    assert files_at(repo, "1.0.0+1") == {
        ".env.sample",
        "abra.sh",
        "compose.yml",
        "legacy/a.txt",
        "old.conf",
    }
    assert "# v1" in show(repo, "1.0.0+1", "compose.yml")

    assert files_at(repo, "1.1.0+1") == {
        ".env.sample",
        "abra.sh",
        "compose.yml",
        "legacy/a.txt",
        "old.conf",
        "release/1.1.0+1",
    }
    assert "# v2" in show(repo, "1.1.0+1", "compose.yml")
    assert show(repo, "1.1.0+1", ".env.sample") == "TYPE=demo\n"  # unchanged, carried over


def test_deleted_files_and_dirs(source: Path, tmp_path: Path) -> None:
    repo = materialize(source, tmp_path / "repo")
    final = files_at(repo, "2.0.0+2")
    assert final == {".env.sample", "abra.sh", "compose.yml", "new.conf", "release/1.1.0+1"}
    assert ".deleted" not in final
    assert not (repo / "old.conf").exists()
    assert not (repo / "legacy").exists()
    assert (repo / "new.conf").read_text() == "new\n"


def test_deterministic_and_rebuilt_from_scratch(source: Path, tmp_path: Path) -> None:
    one = materialize(source, tmp_path / "one")
    two = materialize(source, tmp_path / "two")
    for ref in ("1.0.0+1", "1.1.0+1", "2.0.0+2"):
        assert git(one, "rev-parse", ref) == git(two, "rev-parse", ref)  # tag objects too
    head = git(one, "rev-parse", "HEAD")

    (one / "stray.txt").write_text("left over\n")
    git(one, "tag", "stray-tag")
    materialize(source, one)
    assert not (one / "stray.txt").exists()
    assert "stray-tag" not in git(one, "tag", "--list").split()
    assert git(one, "rev-parse", "HEAD") == head


def test_ignores_user_git_config(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = git(materialize(source, tmp_path / "a"), "rev-parse", "HEAD")
    cfg = tmp_path / "gitconfig"
    cfg.write_text("[user]\n\tname = Someone Else\n[init]\n\tdefaultBranch = trunk\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Someone Else")
    repo = materialize(source, tmp_path / "b")
    assert git(repo, "rev-parse", "HEAD") == expected
    assert git(repo, "branch", "--show-current").strip() == "main"


def test_materialize_all(source: Path, tmp_path: Path) -> None:
    write(
        source.parent / "single",
        {
            "versions.yml": "tags:\n  - 0.1.0+1\n",
            "base/compose.yml": "version: '3.8'\n",
        },
    )
    (source.parent / "not-a-recipe").mkdir()
    repos = materialize_all(source.parent, tmp_path / "out")
    assert list(repos) == ["demo", "single"]
    assert repos["single"] == tmp_path / "out" / "single"
    assert git(repos["single"], "tag", "--list").split() == ["0.1.0+1"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"base/x": "x"}, "no versions.yml"),
        ({"versions.yml": "tags: []\n", "base/x": "x"}, "non-empty list"),
        ({"versions.yml": "tags: ['1.0.0', '1.0.0']\n", "base/x": "x"}, "duplicate"),
        ({"versions.yml": "tags: ['bad..tag']\n", "base/x": "x"}, "invalid tag"),
        ({"versions.yml": "tags: ['1.0.0']\n"}, "no base/"),
        ({"versions.yml": "tags: ['1.0.0', '1.1.0']\n", "base/x": "x"}, "no steps/1.1.0/"),
        (
            {
                "versions.yml": "tags: ['1.0.0', '1.1.0']\n",
                "base/x": "x",
                "steps/1.1.0/.deleted": "../outside\n",
            },
            "unsafe path",
        ),
        (
            {
                "versions.yml": "tags: ['1.0.0', '1.1.0']\n",
                "base/x": "x",
                "steps/1.1.0/.deleted": "missing.txt\n",
            },
            "does not exist",
        ),
    ],
)
def test_bad_sources(tmp_path: Path, files: dict[str, str], message: str) -> None:
    src = tmp_path / "bad"
    src.mkdir()
    write(src, files)
    with pytest.raises(ExampleSourceError, match=message):
        materialize(src, tmp_path / "repo")


@pytest.mark.parametrize("name", ["example-site", "example-notes"])
def test_bundled_examples(name: str, tmp_path: Path) -> None:
    """The shipped examples materialize: three versions, each with its own version label."""
    source = REPO_ROOT / "examples" / "recipes" / name
    tags = read_tags(source)
    assert len(tags) == 3
    repo = materialize(source, tmp_path / name)
    assert git(repo, "tag", "--list").split() == sorted(tags)
    for tag in tags:
        compose = show(repo, tag, "compose.yml")
        assert f"coop-cloud.${{STACK_NAME}}.version={tag}" in compose
        assert 'COMPOSE_FILE="compose.yml"' in show(repo, tag, ".env.sample")
    for tag in tags[1:]:
        assert f"release/{tag}" in files_at(repo, tag)


def test_crashloop_fixture(tmp_path: Path) -> None:
    source = REPO_ROOT / "tests" / "fixtures" / "recipes" / "crashloop"
    repo = materialize(source, tmp_path / "crashloop")
    assert git(repo, "tag", "--list").split() == ["1.0.0+1"]
    assert "exit 1" in show(repo, "1.0.0+1", "compose.yml")
