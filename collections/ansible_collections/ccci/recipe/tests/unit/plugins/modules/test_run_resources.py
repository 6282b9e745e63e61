"""run_resources' host paths: removed whatever they are (folder, file, missing), never
a path that could reach outside the run's own (``/``, ``..``, relative)."""

from __future__ import annotations

import pytest
from ansible_collections.ccci.recipe.plugins.modules.run_resources import (
    remove_paths,
    safe_paths,
)


def test_folders_files_and_missing_paths_are_all_gone_afterwards(tmp_path):
    folder = tmp_path / "runs" / "abc"
    (folder / "recipe").mkdir(parents=True)
    (folder / "recipe" / "compose.yml").write_text("x")
    repo = tmp_path / "restic" / "abc"
    repo.mkdir(parents=True)
    password = tmp_path / "restic" / "abc.password"
    password.write_text("secret")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "runs")  # a link is removed, never followed
    missing = tmp_path / "never-made"
    paths = [str(p) for p in (folder, repo, password, link, missing)]
    removed, left = remove_paths(safe_paths(paths))
    assert removed == paths[:4] and left == []
    assert (tmp_path / "runs").is_dir() and not folder.exists()


@pytest.mark.parametrize("path", ["/", "relative/run", "/var/lib/ccci/runs/../..", "//"])
def test_a_path_that_could_reach_beyond_the_run_is_refused(path):
    with pytest.raises(ValueError, match="refusing to remove"):
        safe_paths([path])
