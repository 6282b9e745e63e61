"""Debian's chromium, driven by Playwright, reaching the run's app as a user's browser would.

The browser resolves exactly the run's names to the host's loopback
(``Ingress.chromium_args``) and verifies the proxy's certificate for real: the proxy's
CA is added to an NSS database under the browser's own ``$HOME`` (Chromium on Linux
reads ``$HOME/.pki/nssdb``), so nothing ever ignores a certificate error. No browser
is downloaded: Playwright starts the system's chromium (scripts/bootstrap installs it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccci.errors import CcciError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from ccci.ingress import Ingress

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "CCCI_CHROMIUM"
# The closed network refuses chromium's background connections (updates, field trials,
# sync); without these flags it waits on them. --no-sandbox: we run as root.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The run's names map to loopback: never hand them to a proxy of the environment.
    "--no-proxy-server",
)
# Long enough for an app's first, uncached page; short enough to fail within a test's limit.
DEFAULT_TIMEOUT_MS = 15_000
NSSDB = Path(".pki") / "nssdb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> Path:
    """The chromium to start: ``$CCCI_CHROMIUM``, else Debian's; never a downloaded one."""
    given = os.environ.get(CHROMIUM_ENV)
    path = Path(given) if given else Path(DEFAULT_CHROMIUM)
    if not path.is_file() or not os.access(path, os.X_OK):
        source = f"${CHROMIUM_ENV} names {path}" if given else f"the default {path}"
        raise CcciError(
            f"no chromium for the functional tier: {source} is not an executable file. "
            "Install Debian's `chromium` package (scripts/bootstrap does), or point "
            f"${CHROMIUM_ENV} at a chromium binary.")
    return path


def _certutil(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["certutil", *args], capture_output=True, text=True,
                              timeout=60, check=False)
    except FileNotFoundError as exc:
        raise CcciError("certutil is missing: install Debian's `libnss3-tools` package "
                        "(scripts/bootstrap does)") from exc


def trust_ca(ca_file: Path, home: Path) -> None:
    """Make a browser started with ``HOME=home`` trust ``ca_file`` for TLS servers.

    Only the file's first certificate is added. The nickname comes from the file's
    content, so adding the same CA again is harmless and other CAs stay.
    """
    ca_file = Path(ca_file)
    if not ca_file.is_file():
        raise CcciError(f"the CA to trust is not a file: {ca_file}")
    db = Path(home) / NSSDB
    db.mkdir(parents=True, exist_ok=True)
    where = f"sql:{db}"
    if not (db / "cert9.db").is_file():
        made = _certutil("-N", "-d", where, "--empty-password")
        if made.returncode:
            raise CcciError(f"certutil could not create the NSS database {db}: "
                            f"{(made.stderr or made.stdout).strip()}")
    nick = f"ccci CA {hashlib.sha256(ca_file.read_bytes()).hexdigest()[:16]}"
    added = _certutil("-A", "-d", where, "-t", "C,,", "-n", nick, "-i", str(ca_file))
    if added.returncode:
        raise CcciError(f"certutil could not add {ca_file} as a trusted CA to {db}: "
                        f"{(added.stderr or added.stdout).strip()}")


@contextlib.contextmanager
def open_browser(
    reached: Ingress, *, ca_file: Path | None, profile_dir: Path,
) -> Iterator[Browser]:
    """A headless chromium that reaches the run's names on loopback, trusting ``ca_file``.

    ``profile_dir`` becomes the browser's ``$HOME`` (so its NSS database is the one
    ``trust_ca`` made); Playwright gives it a fresh user-data dir of its own. Direct
    mode is plain http: no CA. Browser and Playwright are closed on exit, errors too.
    One at a time per thread (Playwright's sync API); open several pages instead.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    profile_dir = Path(profile_dir)
    profile_dir.mkdir(parents=True, exist_ok=True)
    if ca_file is not None:
        trust_ca(ca_file, profile_dir)
    env = {**os.environ, "HOME": str(profile_dir)}
    try:
        playwright = sync_playwright().start()
    except PlaywrightError as exc:
        # Playwright's sync API runs an event loop in this thread while a browser is
        # open: a second open_browser in the same thread (or any asyncio loop) fails.
        raise CcciError("open_browser needs a thread with no asyncio loop running: one "
                        f"open browser per thread ({exc.message.splitlines()[0]})") from exc
    try:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(executable), headless=True,
                args=[*CHROMIUM_FLAGS, *reached.chromium_args()], env=env,
            )
        except PlaywrightError as exc:
            raise CcciError(f"chromium ({executable}) did not start: {exc.message}") from exc
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


def new_page(browser: Browser, reached: Ingress, *, width: int = 1280, height: int = 800) -> Page:
    """A page in a context of its own, where ``page.goto("/")`` loads the app by its name.

    The context is the page's (``page.context``): closing the browser closes it too.
    """
    context = browser.new_context(base_url=reached.base_url,
                                  viewport={"width": width, "height": height})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context.new_page()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header; a CcciError if ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        raise CcciError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def screenshot(page: Page, path: Path, *, full_page: bool = True) -> dict[str, Any]:
    """Save the page as a PNG and describe it, for results and the reviewer's eyes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, type="png")
    with path.open("rb") as image:
        width, height = png_size(image.read(24))
    return {"path": str(path), "size": path.stat().st_size, "url": page.url,
            "width": width, "height": height}
