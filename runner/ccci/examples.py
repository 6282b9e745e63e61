"""Turn the bundled example recipe sources into real git repositories with version tags.

A recipe source directory holds ``versions.yml`` (``tags: [...]``, oldest first),
``base/`` (the full tree of the first version) and ``steps/<tag>/`` for each later
version: the files added or changed in that version, plus an optional ``.deleted``
file listing paths (one per line, relative to the recipe root) to remove.

The upgrade tier needs earlier published versions as git tags, exactly like a real
Co-op Cloud recipe repository; keeping the sources as plain trees keeps them
reviewable. Commits use fixed identities and dates, so the same sources always give
the same commit ids and a run can name the exact commit it tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import yaml

VERSIONS_FILE = "versions.yml"
DELETED_FILE = ".deleted"
BRANCH = "main"

# Fixed identity and clock: reproducible commit ids across machines and runs.
_AUTHOR = "ccci examples"
_EMAIL = "examples@ccci.invalid"
_EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z; each later version is one day later


class ExampleSourceError(ValueError):
    """The recipe source tree is not in the base/steps/versions.yml layout."""


def read_tags(source: Path) -> list[str]:
    """Return the version tags of a recipe source, oldest first, validated."""
    path = source / VERSIONS_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ExampleSourceError(f"{source}: no {VERSIONS_FILE}") from exc
    tags = data.get("tags") if isinstance(data, dict) else None
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise ExampleSourceError(f"{path}: expected 'tags:' with a non-empty list of strings")
    if len(set(tags)) != len(tags):
        raise ExampleSourceError(f"{path}: duplicate tags")
    for tag in tags:
        _check_ref_name(tag, path)
    return tags


def materialize(source: Path, dest: Path) -> Path:
    """Build a git repository at ``dest`` from one recipe source directory.

    ``dest`` is removed first, so the result depends only on ``source``: version 1 is
    ``base/``, each later version applies ``steps/<tag>/`` on top, each version is
    one commit tagged with its version, and branch ``main`` ends at the last one.
    Returns ``dest``.
    """
    source = Path(source)
    dest = Path(dest)
    tags = read_tags(source)
    base = source / "base"
    if not base.is_dir():
        raise ExampleSourceError(f"{source}: no base/ directory")
    steps = [source / "steps" / tag for tag in tags[1:]]
    for step in steps:
        if not step.is_dir():
            raise ExampleSourceError(f"{source}: no steps/{step.name}/ for tag {step.name}")

    if dest.exists() or dest.is_symlink():
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        else:
            dest.unlink()
    dest.mkdir(parents=True)

    _git(dest, "init", "--quiet", f"--initial-branch={BRANCH}")
    # Repository-local settings, so the user's global git config cannot change the result.
    for key, value in (
        ("core.autocrlf", "false"),
        ("core.fileMode", "true"),
        ("commit.gpgSign", "false"),
        ("tag.gpgSign", "false"),
    ):
        _git(dest, "config", key, value)

    for index, tag in enumerate(tags):
        if index == 0:
            _copy_tree(base, dest)
            message = f"{source.name} {tag}"
        else:
            step = steps[index - 1]
            _delete_listed(step, dest)
            _copy_tree(step, dest)
            message = f"{source.name}: release {tag}"
        env = _commit_env(_EPOCH + index * 86_400)
        # Rebuild the index from the work tree: git's stat cache cannot be trusted when a
        # file is replaced by one of the same size within the same second.
        (dest / ".git" / "index").unlink(missing_ok=True)
        _git(dest, "add", "--all", env=env)
        _git(dest, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", message, env=env)
        _git(dest, "tag", "--annotate", "-m", f"{source.name} {tag}", tag, env=env)
    return dest


def materialize_all(sources_root: Path, dest_root: Path) -> dict[str, Path]:
    """Materialize every recipe source under ``sources_root`` into ``dest_root/<name>``.

    A recipe source is any direct subdirectory holding a ``versions.yml``; others are
    ignored. Returns recipe name -> repository path, sorted by name.
    """
    sources_root = Path(sources_root)
    dest_root = Path(dest_root)
    result: dict[str, Path] = {}
    for source in sorted(p for p in sources_root.iterdir() if (p / VERSIONS_FILE).is_file()):
        result[source.name] = materialize(source, dest_root / source.name)
    return result


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in ``repo``; raise with git's own message when it fails."""
    proc = subprocess.run(
        ["git", *args],
        cwd=repo,
        env=env if env is not None else _commit_env(_EPOCH),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} failed in {repo} ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc.stdout


def _commit_env(timestamp: int) -> dict[str, str]:
    """Environment pinning identity, dates and config sources, so commits are reproducible."""
    date = f"@{timestamp} +0000"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME=_AUTHOR,
        GIT_AUTHOR_EMAIL=_EMAIL,
        GIT_AUTHOR_DATE=date,
        GIT_COMMITTER_NAME=_AUTHOR,
        GIT_COMMITTER_EMAIL=_EMAIL,
        GIT_COMMITTER_DATE=date,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
    )
    return env


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy the files of ``src`` over ``dest`` (full replacement), skipping ``.deleted``."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if rel == Path(DELETED_FILE) or ".git" in rel.parts:
            continue
        target = dest / rel
        if path.is_dir() and not path.is_symlink():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        shutil.copy(path, target, follow_symlinks=False)


def _delete_listed(step: Path, dest: Path) -> None:
    """Remove the paths a step's ``.deleted`` lists; a listed path that is absent is an error."""
    listing = step / DELETED_FILE
    if not listing.is_file():
        return
    for raw in listing.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rel = PurePosixPath(line)
        if rel.is_absolute() or ".." in rel.parts or rel.parts[:1] == (".git",):
            raise ExampleSourceError(f"{listing}: unsafe path {line!r}")
        target = dest / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        else:
            raise ExampleSourceError(f"{listing}: {line!r} does not exist in the previous version")


def _check_ref_name(tag: str, where: Path) -> None:
    """Reject tags git would refuse or that could escape the refs namespace."""
    proc = subprocess.run(
        ["git", "check-ref-format", f"refs/tags/{tag}"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0 or tag.startswith("-"):
        raise ExampleSourceError(f"{where}: invalid tag name {tag!r}")
