"""backupbot_backup's create_password: a new random password, private, made once."""

from __future__ import annotations

from ansible_collections.ccci.recipe.plugins.modules.backupbot_backup import (
    create_password_file,
    ensure_password,
)


def test_a_new_password_is_private_random_and_made_only_once(tmp_path):
    path = tmp_path / "restic" / "run.password"
    assert create_password_file(str(path))
    made = path.read_text()
    assert len(made) == 40 and made.isalnum()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not create_password_file(str(path))
    assert path.read_text() == made
    other = tmp_path / "restic" / "other.password"
    create_password_file(str(other))
    assert other.read_text() != made


def test_check_mode_leaves_the_file_missing_and_says_so(tmp_path):
    path = tmp_path / "run.password"
    params = {"create_password": True, "password_file": str(path)}
    result: dict = {}
    assert ensure_password(params, True, result) == (True, None)
    assert not path.exists() and result == {}
    assert ensure_password(params, False, result) == (False, None)
    assert path.exists() and result["changed"]


def test_without_the_option_nothing_is_made(tmp_path):
    path = tmp_path / "run.password"
    params = {"create_password": False, "password_file": str(path)}
    assert ensure_password(params, False, {}) == (False, None)
    assert not path.exists()


def test_a_folder_that_cannot_be_written_is_an_error_naming_the_file(tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    path = blocker / "run.password"
    pending, error = ensure_password({"create_password": True, "password_file": str(path)},
                                     False, {})
    assert not pending and str(path) in error
