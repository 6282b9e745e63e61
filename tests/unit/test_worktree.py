"""Without --ref the version under test is the working tree, uncommitted files included."""

import subprocess

from ccci.git import clone_at, git
from ccci.worktree import overlay_worktree


def _repo(path):
    path.mkdir()
    for cmd in (["init", "-q", "-b", "main"],):
        subprocess.run(["git", "-C", str(path), *cmd], check=True)
    (path / "compose.yml").write_text("version: '3.8'\n")
    (path / "gone.txt").write_text("committed\n")
    (path / ".gitignore").write_text("*.log\n")
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "one"], check=True)
    return path


def test_uncommitted_untracked_and_deleted_files_reach_the_checkout(tmp_path):
    source = _repo(tmp_path / "source")
    (source / "compose.yml").write_text("version: '3.8'\n# edited\n")
    (source / "new" / "entrypoint.sh").parent.mkdir()
    (source / "new" / "entrypoint.sh").write_text("#!/bin/sh\n")
    (source / "gone.txt").unlink()
    (source / "debug.log").write_text("ignored\n")
    checkout = tmp_path / "checkout"
    clone_at(source, checkout, git(source, "rev-parse", "HEAD"))

    changes = overlay_worktree(source, checkout)

    assert changes == ["compose.yml", "gone.txt", "new/entrypoint.sh"]
    assert (checkout / "compose.yml").read_text().endswith("# edited\n")
    assert (checkout / "new" / "entrypoint.sh").is_file()
    assert not (checkout / "gone.txt").exists()
    assert not (checkout / "debug.log").exists()


def test_clean_tree_changes_nothing(tmp_path):
    source = _repo(tmp_path / "source")
    checkout = tmp_path / "checkout"
    clone_at(source, checkout, git(source, "rev-parse", "HEAD"))
    assert overlay_worktree(source, checkout) == []
