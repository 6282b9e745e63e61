"""Restic.stream: restic's stdout handed to a reader, its errors kept, never a broken pipe."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import IO

from ansible_collections.ccci.recipe.plugins.module_utils.backupbot_runtime import Restic


def fake_restic(tmp_path: Path, body: str) -> Restic:
    """A ``restic`` that runs ``body`` (sh) whatever it is asked."""
    binary = tmp_path / "restic"
    binary.write_text(f"#!/bin/sh\n{body}\n")
    binary.chmod(0o755)
    password = tmp_path / "pw"
    password.write_text("x\n")
    return Restic(str(binary), str(tmp_path / "repo"), str(password))


def test_stream_hands_stdout_over_and_drains_what_is_left(tmp_path: Path):
    # 4 MiB of output, of which the reader takes 10 bytes: restic must still exit 0.
    restic = fake_restic(tmp_path, "head -c 4194304 /dev/zero; echo done >&2")
    value, error = restic.stream(lambda out: out.read(10), "dump", "snap", "/x")
    assert (value, error) == (b"\0" * 10, None)


def test_stream_reports_restics_own_error(tmp_path: Path):
    restic = fake_restic(tmp_path, 'echo "path /x not found in snapshot" >&2; exit 2')
    value, error = restic.stream(lambda out: out.read(), "dump", "snap", "/x")
    assert value is None
    assert error is not None
    assert error.startswith("restic dump failed (exit code 2)")
    assert "path /x not found in snapshot" in error


def test_stream_reports_a_reader_that_cannot_parse(tmp_path: Path):
    restic = fake_restic(tmp_path, "echo not a tar")

    def read_tar(out: IO[bytes]) -> None:
        with tarfile.open(fileobj=out, mode="r|"):
            pass

    value, error = restic.stream(read_tar, "dump", "snap", "/x")
    assert value is None
    assert error is not None and error.startswith("restic dump: reading its output failed")
