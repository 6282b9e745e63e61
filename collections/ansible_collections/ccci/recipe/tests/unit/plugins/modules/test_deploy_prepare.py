"""deploy_prepare's files: plain names inside the run's folder only, written when their
content differs, atomically, with the modes a deploy relies on."""

from __future__ import annotations

import pytest
from ansible_collections.ccci.recipe.plugins.modules.deploy_prepare import (
    check_files,
    outdated,
    write_files,
)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../escape.yml"])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match="plain name"):
        check_files(str(tmp_path), {name: "x"})


def test_a_relative_folder_is_refused():
    with pytest.raises(ValueError, match="absolute"):
        check_files("runs/abc", {"a.yml": "x"})


def test_only_files_whose_content_differs_are_rewritten(tmp_path):
    folder = tmp_path / "runs" / "abc"
    files = check_files(str(folder), {"same.yml": "same\n", "other.yml": "new\n",
                                      "missing.yml": "made\n"})
    folder.mkdir(parents=True)
    (folder / "same.yml").write_text("same\n")
    (folder / "other.yml").write_text("old\n")

    stale = outdated(files)
    assert sorted(stale) == [str(folder / "missing.yml"), str(folder / "other.yml")]

    write_files(str(folder), files, stale)
    assert (folder / "other.yml").read_text() == "new\n"
    assert (folder / "missing.yml").read_text() == "made\n"
    assert outdated(files) == []
    assert sorted(p.name for p in folder.iterdir()) == ["missing.yml", "other.yml", "same.yml"]


def test_the_folder_is_private_and_the_files_readable(tmp_path):
    folder = tmp_path / "new" / "run"
    files = check_files(str(folder), {"compose.harness.target.yml": "version: '3.8'\n"})
    write_files(str(folder), files, list(files))
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "compose.harness.target.yml").stat().st_mode & 0o777 == 0o644
