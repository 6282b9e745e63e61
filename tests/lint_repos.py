"""Small recipe repositories for the lint rules' tests: a bundled example, cloned, with
commits (and release tags) added on top as a maintainer would."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ccci.examples import materialize_all

ROOT = Path(__file__).resolve().parents[1]
_IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@t"]


def example_repo(tmp_path: Path, name: str = "example-site") -> Path:
    """A fresh copy of a bundled example as a git repository with its release tags
    (annotated, oldest first: example-site 1.0.0+1.22, 1.1.0+1.22, 1.2.0+1.22)."""
    sources = tmp_path / "sources"
    if not (sources / name).is_dir():
        materialize_all(ROOT / "examples" / "recipes", sources)
    repo = tmp_path / "repos" / name
    subprocess.run(["git", "clone", "-q", str(sources / name), str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "fetch", "-q", "--tags"], check=True)
    return repo


def commit(repo: Path, files: dict[str, str | None], *, tag: str | None = None,
           annotated: bool = True, message: str = "change") -> str:
    """Write (or with None delete) ``files``, commit them, optionally tag the commit;
    returns the commit id."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), *_IDENTITY, "commit", "--allow-empty", "-qm",
                    message], check=True)
    if tag:
        how = ["-a", "-m", f"release {tag}"] if annotated else []
        subprocess.run(["git", "-C", str(repo), *_IDENTITY, "tag", *how, tag], check=True)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def edit(repo: Path, name: str, old: str, new: str) -> str:
    """``name``'s text with ``old`` replaced (which must be there) by ``new``."""
    text = (repo / name).read_text()
    assert old in text, f"{old!r} not in {name}"
    return text.replace(old, new)
