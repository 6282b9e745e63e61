"""How a run reaches its app: planned names and ports, and Python code reaching the app
by its name with the proxy's CA (a real TLS server on loopback, a CA made here)."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from ccci import ingress
from ccci.errors import BadInput
from ccci.ingress import Ingress, alias_names, plan_ingress, reach
from ccci.testing import make_pki

ROOT = Path(__file__).resolve().parents[2]
PROXY_DEFAULTS = ROOT / "collections/ansible_collections/ccci/recipe/roles/proxy/defaults/main.yml"
DOMAIN = "site-1a2b3c4d.ccci.test"


def test_the_proxy_constants_are_the_proxy_roles_defaults():
    defaults = yaml.safe_load(PROXY_DEFAULTS.read_text())
    assert defaults["proxy_https_port"] == ingress.PROXY_HTTPS_PORT
    assert defaults["proxy_domain"] == ingress.PROXY_DOMAIN
    assert defaults["proxy_root"] == ingress.PROXY_ROOT
    assert defaults["proxy_access_log"].replace(
        "{{ proxy_root }}", defaults["proxy_root"]) == ingress.PROXY_ACCESS_LOG


def test_traefik_mode_reaches_the_proxy_by_name_and_needs_certificates_for_deep_aliases(
        tmp_path):
    aliases = alias_names(DOMAIN, ["www.${DOMAIN}", "other.ccci.test"], ["WWW.$DOMAIN."])
    assert aliases == [f"www.{DOMAIN}", "other.ccci.test"]
    planned = plan_ingress("traefik", DOMAIN, aliases, tmp_path)
    assert planned.base_url == f"https://{DOMAIN}:18443"
    assert planned.names == [DOMAIN, *aliases]
    assert planned.certificate_names == [f"www.{DOMAIN}"]  # *.ccci.test covers one label
    assert planned.ca_controller == str(tmp_path / "proxy-ca.crt")
    assert Ingress.from_dict(planned.as_dict()) == planned
    assert ingress.extra_domains_value(aliases) == f", `www.{DOMAIN}`, `other.ccci.test`"


def test_names_are_checked():
    with pytest.raises(BadInput, match="invalid domain"):
        alias_names(DOMAIN, [], ["a;b.ccci.test"])
    with pytest.raises(BadInput, match=r"not under ccci\.test"):
        plan_ingress("traefik", DOMAIN, ["www.example.com"], "/tmp/run")
    with pytest.raises(BadInput, match="unknown ingress"):
        plan_ingress("nginx", DOMAIN, [], "/tmp/run")
    direct = plan_ingress("direct", "notes.example.com", [], "/tmp/run", published_port=20417)
    assert direct.base_url == "http://notes.example.com:20417" and direct.ca_controller is None


# -- a TLS server standing in for the proxy --------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers with the Host header and the TLS server name it was reached by."""

    def do_GET(self):
        sni = getattr(self.request, "ccci_sni", "")
        body = f"{self.headers['Host']} {sni}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy(tmp_path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 for DOMAIN; (port, CA file)."""
    ca, cert, key = make_pki(tmp_path, [DOMAIN])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def remember_sni(sock, name, _ctx):
        sock.ccci_sni = name or ""

    context.sni_callback = remember_sni
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], ca
    server.shutdown()
    server.server_close()


def _traefik(tmp_path: Path, port: int, ca: Path) -> Ingress:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    planned = plan_ingress("traefik", DOMAIN, [], run_dir)
    planned.port = port  # the stand-in's port instead of the proxy's
    Path(planned.ca_controller).write_bytes(ca.read_bytes())
    return planned


def test_requests_reaches_the_app_by_name_with_sni_and_the_ca(proxy, tmp_path, monkeypatch):
    port, ca = proxy
    planned = _traefik(tmp_path, port, ca)
    bundle = planned.ca_bundle(tmp_path / "run")
    assert bundle.read_text().endswith(ca.read_text())  # certifi's CAs, then the proxy's
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # must not be used for the app
    with reach(planned, bundle):
        answer = requests.get(planned.base_url + "/x", timeout=5)
        assert answer.text == f"{DOMAIN}:{port} {DOMAIN}"
        assert socket.getaddrinfo("localhost", 80)  # other names resolve as before
    assert os.environ.get("REQUESTS_CA_BUNDLE") != str(bundle)
    with pytest.raises(socket.gaierror):  # outside the block the name is unknown again
        socket.getaddrinfo(DOMAIN, port)


def test_without_the_ca_the_app_does_not_verify(proxy, tmp_path):
    port, ca = proxy
    planned = _traefik(tmp_path, port, ca)
    with reach(planned), pytest.raises(requests.exceptions.SSLError):
        requests.get(planned.base_url + "/", timeout=5)


def test_chromium_maps_every_name_to_loopback():
    planned = plan_ingress("traefik", DOMAIN, [f"www.{DOMAIN}"], "/tmp/run")
    assert planned.chromium_args() == [
        f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1, MAP www.{DOMAIN} 127.0.0.1"]
