"""Data markers: validated when made, probed strictly (a lost marker is never found)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType

import pytest

from ccci.config.hookctx import CommandResult, HookCtx
from ccci.ingress import Ingress, reach
from ccci.markers import Marker


class _Notes(BaseHTTPRequestHandler):
    """A tiny app on loopback: /notes serves the seeded note only for the right Host."""

    def do_GET(self):
        host = self.headers["Host"].rsplit(":", 1)[0]
        ok = self.path == "/notes" and host == "app.ccci.test"
        body = b"note-42 and others" if ok else b"not here"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def app_url():
    """The app's URL by its name, which resolves to the server's loopback meanwhile."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Notes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    app = Ingress("direct", "http", port, ["app.ccci.test"])
    with reach(app):
        yield app.base_url
    server.shutdown()
    server.server_close()


def _ctx(base_url: str = "", **kwargs) -> HookCtx:
    return HookCtx(domain="app.ccci.test", base_url=base_url,
                   meta=MappingProxyType({}), **kwargs)


def test_http_marker_is_found_only_with_its_text(app_url):
    assert Marker.http("/notes", "note-42").probe(_ctx(app_url)) == (True, "HTTP 200")
    assert Marker.http("/notes", "note-43").probe(_ctx(app_url)) == (False, "HTTP 200")
    assert Marker.http("/gone", "note-42").probe(_ctx(app_url)) == (False, "HTTP 404")


class _ExecCtx(HookCtx):
    """A context whose container command output is given (the edge of this unit)."""

    def exec(self, service, command, *, user=None):
        return CommandResult(*self.meta["results"][(service, command)])


def test_exec_marker_needs_success_and_the_text():
    results = {("db", "select"): (0, "note-42\n", ""), ("db", "fail"): (1, "note-42", "err")}
    ctx = _ExecCtx(domain="d", base_url="", meta=MappingProxyType({"results": results}))
    assert Marker.exec("db", "select", "note-42").probe(ctx) == (True, "exit 0")
    assert Marker.exec("db", "select", "note-43").probe(ctx) == (False, "exit 0")
    # Printed but the command failed: not trusted.
    assert Marker.exec("db", "fail", "note-42").probe(ctx) == (False, "exit 1")


def test_markers_are_validated_and_round_trip():
    marker = Marker.exec("db", "psql -c 'select 1'", "1")
    assert Marker(**marker.to_dict()) == marker
    assert "from `psql" in marker.description
    with pytest.raises(ValueError, match="non-empty text"):
        Marker.http("/", "")
    with pytest.raises(ValueError, match="either an HTTP path or a service command"):
        Marker("x", "d", http_path="/", service="db", command="c")
    with pytest.raises(ValueError, match="either an HTTP path or a service command"):
        Marker("x", "d")
