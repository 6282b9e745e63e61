"""The browser module's pure parts: which chromium is started, and a PNG's size."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from ccci.errors import CcciError
from ccci.functional.browser import CHROMIUM_FLAGS, find_chromium, png_size


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    rows = b"".join(b"\0" + b"\0\0\0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_png_size_reads_the_header():
    assert png_size(_png(3, 7)) == (3, 7)
    assert png_size(_png(1280, 1)[:24]) == (1280, 1)


@pytest.mark.parametrize("data", [b"", b"GIF89a" + b"\0" * 30, _png(2, 2)[:20]])
def test_png_size_refuses_what_is_not_a_png(data: bytes):
    with pytest.raises(CcciError, match="not a PNG"):
        png_size(data)


def test_find_chromium_takes_the_environment_first(monkeypatch, tmp_path: Path):
    chromium = tmp_path / "my-chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    monkeypatch.setenv("CCCI_CHROMIUM", str(chromium))
    assert find_chromium() == chromium


def test_find_chromium_refuses_a_file_it_cannot_run(monkeypatch, tmp_path: Path):
    chromium = tmp_path / "not-executable"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o644)
    monkeypatch.setenv("CCCI_CHROMIUM", str(chromium))
    with pytest.raises(CcciError, match=r"\$CCCI_CHROMIUM names .*not-executable is not an "
                                        r"executable file\. Install Debian's `chromium`"):
        find_chromium()


def test_the_flags_keep_chromium_off_the_closed_network():
    for flag in ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-proxy-server"):
        assert flag in CHROMIUM_FLAGS
