"""The functional tier's browser: Debian's chromium reaches an app by its name, verifying TLS.

A small HTTPS server on 127.0.0.1 (random port, a certificate for a random
``app-….ccci.test`` signed by a test CA) stands in for the app: the browser must send
the name in SNI and Host, follow redirects to it and return its cookies, and must
refuse it when the CA is not trusted. Against the real proxy, Traefik's wildcard
certificate verifies against the host's CA.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import secrets
import ssl
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from ccci.errors import CcciError
from ccci.functional.browser import find_chromium, new_page, open_browser, screenshot, trust_ca
from ccci.functional.session import RERUN_ON
from ccci.ingress import HOST_CA, PROXY_HTTPS_PORT, Ingress
from ccci.testing import make_pki

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TALL_PX = 3000


def goto(page, url: str):
    """``page.goto(url)``, once more when chromium aborted it because the host's network
    changed (ERR_NETWORK_CHANGED: other tests' containers starting on this shared host;
    during a redirect Playwright reports only chromium's error page): the failures the
    functional session reruns too (RERUN_ON); any other error stands."""
    try:
        return page.goto(url)
    except PlaywrightError as exc:
        if not re.search(RERUN_ON, exc.message):
            raise
        return page.goto(url)


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    host: str | None
    sni: str | None
    cookie: str | None


@dataclass
class App:
    """The stand-in app: where it listens, what it saw, the cookie it hands out."""

    name: str
    port: int
    ca: Path | None
    seen: list[Seen] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def ingress(self) -> Ingress:
        if self.ca:
            return Ingress("traefik", "https", self.port, [self.name])
        return Ingress("direct", "http", self.port, [self.name])

    def requests_for(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


def _handler(app: App) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            sni = getattr(self.connection, "ccci_sni", None)
            app.seen.append(Seen(self.path, self.headers.get("Host"), sni,
                                 self.headers.get("Cookie")))
            scheme = "https" if app.ca else "http"
            if self.path == "/":
                self._send(200, "<h1 id=greeting>hello from ccci</h1>",
                           ("Set-Cookie", f"sid={app.token}; Secure; HttpOnly; Path=/"))
            elif self.path == "/go":
                self._send(302, "", ("Location", f"{scheme}://{app.name}:{app.port}/next"))
            elif self.path == "/next":
                self._send(200, "<p id=arrived>next page</p>")
            elif self.path == "/tall":
                self._send(200, f"<div style='height:{TALL_PX}px;background:#c33'>tall</div>")
            else:
                self._send(404, "nothing here")

        def _send(self, status: int, body: str, *headers: tuple[str, str]) -> None:
            data = f"<!doctype html><html><body>{body}</body></html>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None
    app: App

    def finish_request(self, request, client_address) -> None:  # type: ignore[override]
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs in the request's thread, so a refused one blocks nobody.
        with self.tls.wrap_socket(request, server_side=True) as conn:
            super().finish_request(conn, client_address)

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        self.app.errors.append(sys.exc_info()[1])  # type: ignore[arg-type]




@contextlib.contextmanager
def serve(folder: Path, *, tls: bool) -> Iterator[App]:
    """The stand-in app on a random loopback port, under a random name, until the end."""
    name = f"app-{secrets.token_hex(4)}.ccci.test"
    server = _Server(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    app = App(name, server.server_address[1], None)
    if tls:
        ca, cert, key = make_pki(folder, [name])
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def record_sni(conn: ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
            conn.ccci_sni = server_name  # type: ignore[attr-defined]

        context.sni_callback = record_sni
        server.tls, app.ca = context, ca
    server.app = app
    server.RequestHandlerClass = _handler(app)
    thread = threading.Thread(target=server.serve_forever, name=f"serve {name}", daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with serve(tmp_path_factory.mktemp("pki"), tls=True) as served:
        yield served


@pytest.fixture
def browser(app: App, tmp_path: Path):
    """A browser trusting the app's CA (one per test: only one may be open per thread)."""
    with open_browser(app.ingress, ca_file=app.ca, profile_dir=tmp_path / "home") as opened:
        yield opened


@pytest.fixture
def page(browser, app: App):
    opened = new_page(browser, app.ingress)
    yield opened
    opened.context.close()


def chromium_processes_with_home(home: Path) -> list[int]:
    """Chromium processes (any of its helpers too) started with ``HOME=home``."""
    found = []
    wanted = f"HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if wanted in environ and b"chromium" in cmdline:
            found.append(int(entry.name))
    return found


def png_chunks(data: bytes) -> dict[str, bytes]:
    """A PNG's chunks (IDAT joined), each CRC checked: a truncated file fails here."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    chunks: dict[str, bytes] = {}
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks[kind.decode()] = chunks.get(kind.decode(), b"") + body
        at += 12 + length
    assert "IEND" in chunks and at == len(data)
    return chunks


def assert_valid_png(path: Path, width: int, height: int) -> None:
    """Header, CRCs and pixel data agree: the image decodes to width x height pixels."""
    chunks = png_chunks(path.read_bytes())
    w, h, depth, color = struct.unpack(">IIBB", chunks["IHDR"][:10])
    assert (w, h) == (width, height)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    assert depth == 8
    assert len(zlib.decompress(chunks["IDAT"])) == h * (1 + w * channels)


# -- the app by its name, over verified TLS --------------------------------------------


def test_the_app_loads_by_its_name_with_sni_and_host(page, app: App):
    response = goto(page, "/")

    assert response is not None and response.status == 200
    assert page.url == f"https://{app.name}:{app.port}/"
    assert page.locator("#greeting").inner_text() == "hello from ccci"
    [seen] = app.requests_for("/")[-1:]
    assert seen.host == f"{app.name}:{app.port}"
    assert seen.sni == app.name
    details = response.security_details()
    assert details is not None and details.get("subjectName") == app.name
    assert details.get("issuer") == "test CA"


def test_a_redirect_to_the_name_is_followed_and_the_cookie_comes_back(page, app: App):
    goto(page, "/")
    response = goto(page, "/go")

    assert response is not None and response.status == 200
    assert page.url == f"https://{app.name}:{app.port}/next"
    assert page.locator("#arrived").inner_text() == "next page"
    redirected = response.request.redirected_from
    assert redirected is not None and redirected.url.endswith("/go")
    sid = f"sid={app.token}"
    assert [s.cookie for s in app.requests_for("/go")][-1:] == [sid]
    assert [s.cookie for s in app.requests_for("/next")][-1:] == [sid]
    # HttpOnly: the page's scripts do not see it, the browser still sends it.
    assert "sid" not in page.evaluate("document.cookie")


@pytest.mark.parametrize("trusted", ["no CA", "another CA"])
def test_an_untrusted_certificate_is_refused(app: App, tmp_path: Path, trusted: str):
    ca_file = make_pki(tmp_path, [app.name])[0] if trusted == "another CA" else None
    path = f"/refused-{secrets.token_hex(4)}"

    with open_browser(app.ingress, ca_file=ca_file, profile_dir=tmp_path / "home") as browser:
        page = new_page(browser, app.ingress)
        with pytest.raises(PlaywrightError) as refused:
            goto(page, path)

    assert "ERR_CERT_AUTHORITY_INVALID" in refused.value.message, refused.value.message
    assert app.requests_for(path) == []  # the TLS handshake never got to a request


def test_direct_mode_reaches_plain_http_by_its_name(tmp_path: Path):
    with serve(tmp_path, tls=False) as plain, open_browser(
            plain.ingress, ca_file=None, profile_dir=tmp_path / "home") as browser:
        page = new_page(browser, plain.ingress)
        response = goto(page, "/go")

        assert response is not None and response.status == 200
        assert page.url == f"http://{plain.name}:{plain.port}/next"
    assert [s.host for s in plain.requests_for("/next")] == [f"{plain.name}:{plain.port}"]


# -- the real proxy ----------------------------------------------------------------------


def test_the_proxy_wildcard_certificate_verifies_against_the_host_ca(tmp_path: Path):
    reached = Ingress("traefik", "https", PROXY_HTTPS_PORT,
                      [f"nothing-{secrets.token_hex(4)}.ccci.test"])

    with open_browser(reached, ca_file=Path(HOST_CA), profile_dir=tmp_path / "home") as browser:
        page = new_page(browser, reached)
        response = goto(page, "/")

        assert response is not None and response.status == 404
        assert "404 page not found" in page.inner_text("body")
        details = response.security_details()
        assert details is not None and details.get("issuer", "").startswith("ccci CI CA")


# -- screenshots ---------------------------------------------------------------------------


def test_a_screenshot_is_a_png_of_the_viewport(page, app: App, tmp_path: Path):
    goto(page, "/")
    path = tmp_path / "shots" / "home.png"

    shot = screenshot(page, path, full_page=False)

    assert shot == {"path": str(path), "size": path.stat().st_size,
                    "url": f"https://{app.name}:{app.port}/", "width": 1280, "height": 800}
    assert shot["size"] > 0
    assert_valid_png(path, 1280, 800)


def test_a_full_page_screenshot_is_taller_than_the_viewport(page, tmp_path: Path):
    goto(page, "/tall")

    shot = screenshot(page, tmp_path / "tall.png")

    assert shot["width"] == 1280 and shot["height"] >= TALL_PX > 800
    assert shot["url"].endswith("/tall")
    assert_valid_png(Path(shot["path"]), shot["width"], shot["height"])


# -- lifecycle and errors ------------------------------------------------------------------


def test_the_browser_is_closed_when_the_block_raises(app: App, tmp_path: Path):
    home = tmp_path / "home"
    with pytest.raises(RuntimeError, match="the test failed"), open_browser(
            app.ingress, ca_file=app.ca, profile_dir=home) as browser:
        assert chromium_processes_with_home(home)
        raise RuntimeError("the test failed")

    assert not browser.is_connected()
    deadline = time.monotonic() + 10
    while chromium_processes_with_home(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert chromium_processes_with_home(home) == []


def test_a_second_browser_in_the_same_thread_is_refused_clearly(browser, app: App,
                                                                tmp_path: Path):
    with pytest.raises(CcciError, match="one open browser per thread"), open_browser(
            app.ingress, ca_file=None, profile_dir=tmp_path / "second"):
        pass
    assert browser.is_connected()


def test_trust_ca_makes_the_nss_database_and_reports_certutil_errors(app: App, tmp_path: Path):
    assert app.ca is not None
    trust_ca(app.ca, tmp_path)
    trust_ca(app.ca, tmp_path)  # again: harmless
    assert (tmp_path / ".pki" / "nssdb" / "cert9.db").is_file()

    not_a_cert = tmp_path / "garbage.crt"
    not_a_cert.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
                          "-----END CERTIFICATE-----\n")
    with pytest.raises(CcciError, match=r"certutil could not add .*garbage\.crt.*: \S"):
        trust_ca(not_a_cert, tmp_path)


def test_find_chromium_names_the_package_when_it_is_missing(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CCCI_CHROMIUM", str(tmp_path / "no-chromium"))

    with pytest.raises(CcciError) as missing:
        find_chromium()

    message = str(missing.value)
    assert str(tmp_path / "no-chromium") in message
    assert "`chromium` package" in message and "scripts/bootstrap" in message
    monkeypatch.delenv("CCCI_CHROMIUM")
    assert find_chromium() == Path("/usr/bin/chromium")
    assert os.access(find_chromium(), os.X_OK)


def test_a_chromium_that_does_not_start_is_a_clear_error(monkeypatch, app: App, tmp_path: Path):
    monkeypatch.setenv("CCCI_CHROMIUM", "/bin/false")

    with pytest.raises(CcciError, match=r"chromium \(/bin/false\) did not start"), open_browser(
            app.ingress, ca_file=None, profile_dir=tmp_path / "home"):
        pass
