"""deploy_prepare's files: plain names inside the run's folder only, written when their
content differs, atomically, with the modes a deploy relies on; and which of the
recipe's secrets it creates."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.ccci.recipe.plugins.modules.deploy_prepare import (
    check_files,
    create_secrets,
    missing_secrets,
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


def _wanted(name: str, length: int = 32, value: str | None = None) -> dict:
    return {"docker_name": name, "length": length, "value": value}


def test_only_the_secrets_the_run_lacks_are_created():
    """A secret the run has keeps its value: it is never created again."""
    wanted = [_wanted("app_db_v1"), _wanted("app_key_v2", value="inserted")]
    assert missing_secrets(wanted, ["app_db_v1", "other_v1"]) == [wanted[1]]
    assert missing_secrets(wanted, []) == wanted


def test_a_generated_secret_needs_a_length_of_one_or_more():
    with pytest.raises(ValueError, match="app_db_v1: length must be 1 or more, got 0"):
        missing_secrets([_wanted("app_db_v1", length=0)], [])
    assert missing_secrets([_wanted("app_key_v1", length=0, value="given")], []) != []


class _Secrets:
    """Records what would be sent to Docker's secret create endpoint."""

    def __init__(self):
        self.made: list[dict] = []

    def create(self, **kwargs):
        self.made.append(kwargs)


def test_a_generated_value_is_letters_and_digits_of_its_length_and_an_inserted_one_is_kept():
    client = SimpleNamespace(secrets=_Secrets())
    create_secrets(client, "abc123", [_wanted("app_db_v1", length=40),
                                      _wanted("app_key_v1", value="inserted value")])
    generated, inserted = client.secrets.made
    assert generated["name"] == "app_db_v1" and len(generated["data"]) == 40
    assert generated["data"].decode().isalnum() and generated["data"].isascii()
    assert inserted["data"] == b"inserted value"
    assert generated["labels"] == inserted["labels"] == {"ccci.run": "abc123"}
