"""app_probe: requests by name (SNI, Host) on loopback, verified with one CA; retries,
gives up early on a route the labels say cannot exist, and says what a failure means.

A real HTTPS server on 127.0.0.1 stands in for the proxy, with a CA made by the test;
``main`` runs through AnsibleModule with its arguments patched in.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.ccci.recipe.plugins.modules import app_probe

from ccci.testing import make_pki

NAME = "site-1a2b3c4d.ccci.test"
ALIAS = f"www.{NAME}"


class _Proxy(BaseHTTPRequestHandler):
    """200 at /health for NAME after ``ready_at``; 404 for other names; 502 at /bad."""

    ready_at = 0.0

    def do_GET(self):
        host = self.headers["Host"].rsplit(":", 1)[0]
        if host != NAME:
            status = 404
        elif self.path == "/bad":
            status = 502
        elif self.path == "/missing":
            status = 404
        else:
            status = 200 if time.monotonic() >= self.ready_at else 404
        body = b"404 page not found\n" if status == 404 and self.path != "/missing" else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy(tmp_path) -> Iterator[dict]:
    """The stand-in proxy (a certificate for NAME and other.ccci.test): port and CA."""
    ca, cert, key = make_pki(tmp_path, [NAME, "other.ccci.test"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Proxy.ready_at = 0.0
    yield {"port": server.server_address[1], "ca_path": str(ca), "interval": 0.1}
    server.shutdown()
    server.server_close()


def run_module(args: dict, capsys) -> tuple[int, dict]:
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        app_probe.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_every_target_answers_by_its_name_once_ready(proxy, capsys):
    _Proxy.ready_at = time.monotonic() + 0.5  # the route appears a moment later
    code, result = run_module({**proxy, "timeout": 10, "targets": [
        {"name": NAME, "path": "/health", "router": "r"}]}, capsys)
    assert code == 0, result
    [probe] = result["probes"]
    assert probe["ok"] and probe["status"] == 200 and probe["attempts"] > 1
    assert probe["url"] == f"https://{NAME}:{proxy['port']}/health"
    assert 0.4 < probe["seconds"] < 5


def test_a_failure_says_what_the_answer_means(proxy, capsys):
    started = time.monotonic()
    code, result = run_module({**proxy, "timeout": 1, "targets": [
        {"name": NAME, "path": "/bad", "router": "r", "on_bad_gateway": "fix the port label"},
        {"name": NAME, "path": "/health"},
    ]}, capsys)
    assert code == 1 and time.monotonic() - started < 5
    bad, good = result["probes"]
    assert good["ok"] and not bad["ok"] and bad["status"] == 502
    assert bad["reason"] == (f"https://{NAME}:{proxy['port']}/bad (router r): HTTP 502: "
                             "fix the port label")
    assert result["msg"] == f"the app did not answer well: {bad['reason']}"
    assert "Bad Gateway" not in result["msg"]  # a registry's words; not what this means


def test_only_the_proxys_own_404_means_no_route(proxy, capsys):
    code, result = run_module({**proxy, "timeout": 0.3, "targets": [
        {"name": NAME, "path": "/missing", "on_404": "check the rule"},
        {"name": "other.ccci.test", "path": "/", "on_404": "check the rule"}]}, capsys)
    app_404, proxy_404 = (p["reason"] for p in result["probes"])
    assert code == 1
    assert app_404.endswith("HTTP 404: the app answered 404, not one of [200] (HEALTH_OK)")
    assert proxy_404.endswith("HTTP 404: check the rule")


def test_a_route_the_labels_rule_out_fails_after_the_route_wait(proxy, capsys):
    _Proxy.ready_at = time.monotonic() + 100  # Traefik's 404 until then
    unrouted = {"name": NAME, "path": "/health", "unrouted": "add traefik.enable=true",
                "on_404": "check the rule"}
    started = time.monotonic()
    code, result = run_module({**proxy, "timeout": 30, "route_wait": 1,
                               "targets": [unrouted]}, capsys)
    assert code == 1 and 1 <= time.monotonic() - started < 5
    assert result["msg"].endswith("HTTP 404: add traefik.enable=true")  # labels first
    _Proxy.ready_at = 0.0  # a reading of the labels that was wrong costs nothing
    code, result = run_module({**proxy, "targets": [unrouted]}, capsys)
    assert code == 0 and result["probes"][0]["attempts"] == 1


def test_a_name_the_certificate_does_not_cover_is_a_tls_failure(proxy, capsys):
    code, result = run_module({**proxy, "timeout": 0.5, "targets": [
        {"name": ALIAS, "path": "/health"}]}, capsys)
    assert code == 1
    assert result["probes"][0]["error"].startswith("TLS: the certificate does not verify")


def test_direct_http_sends_the_name_as_host(capsys):
    class Direct(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.headers["Host"].startswith(NAME + ":") else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Direct)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, result = run_module({"port": server.server_address[1], "scheme": "http",
                                   "proxy": False, "targets": [{"name": NAME, "path": "/"}]},
                                  capsys)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0 and result["probes"][0]["status"] == 200


def test_nothing_listening_is_the_proxy_down_or_the_app_not_published(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        code, via_proxy = run_module({"port": port, "scheme": "http", "timeout": 0.2,
                                      "targets": [{"name": NAME, "path": "/"}]}, capsys)
        _, direct = run_module({"port": port, "scheme": "http", "proxy": False, "timeout": 0.2,
                                "targets": [{"name": NAME, "path": "/"}]}, capsys)
    assert code == 1
    assert f"no answer from the proxy on 127.0.0.1:{port}" in via_proxy["msg"]
    assert f"connection refused on 127.0.0.1:{port}" in direct["msg"]


def test_https_needs_a_readable_ca(capsys, tmp_path):
    code, result = run_module({"port": 1, "ca_path": str(tmp_path / "missing.crt"),
                               "targets": [{"name": NAME, "path": "/"}]}, capsys)
    assert code == 1 and "the host is not prepared" in result["msg"]
