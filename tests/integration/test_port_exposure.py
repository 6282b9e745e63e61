"""A deployed app's published port answers on 127.0.0.1 and nowhere else.

Swarm host-mode ports cannot bind an address, so Docker listens on every interface;
the host role (prepare-host) firewalls the harness port range. The outside world is
played by a client in a network namespace of this test's own, wired to the host by a
veth pair: host side A, namespace side B. From B, A:<app port> must not connect (IPv4
goes through Docker's DNAT and FORWARD, IPv6 reaches docker-proxy through INPUT), while
controls prove the wiring: a server bound to A on a port outside the range, and a
container published on A outside the range (the DNAT path), both answer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.integration.helpers import run_objects

ROOT = Path(__file__).resolve().parents[2]
PORT_RANGE = (20000, 29999)  # the deploy role's deploy_port_range = the host role's
PROBE_TIMEOUT = 3

# Runs inside the namespace: connect (bounded), send one GET, print the status line.
# "no connection" means the TCP handshake never completed: refused or timed out.
PROBE = """
import socket, sys
host, port, domain, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
try:
    sock = socket.create_connection((host, port), timeout=timeout)
except OSError as exc:
    print(f"no connection: {type(exc).__name__}: {exc}")
    sys.exit(0)
try:
    sock.sendall(f"GET / HTTP/1.0\\r\\nHost: {domain}\\r\\n\\r\\n".encode())
    print(sock.recv(200).split(b"\\r\\n")[0].decode(errors="replace") or "connected, empty")
except OSError as exc:
    print(f"connected, no answer: {type(exc).__name__}: {exc}")
"""


def _ip(*args: str, netns: str | None = None) -> str:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
    return proc.stdout


@dataclass
class Outside:
    """A client in its own namespace and the host's addresses on the veth link to it."""

    netns: str
    host_v4: str
    host_v6: str | None

    def probe(self, host: str, port: int, domain: str = "localhost") -> str:
        proc = subprocess.run(
            ["ip", "netns", "exec", self.netns, sys.executable, "-c", PROBE,
             host, str(port), domain, str(PROBE_TIMEOUT)],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT + 20, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def probe_until_answer(self, host: str, port: int, deadline: float = 20) -> str:
        """The control may take a moment to listen: probe until it answers HTTP."""
        end = time.monotonic() + deadline
        while True:
            answer = self.probe(host, port)
            if answer.startswith("HTTP/") or time.monotonic() > end:
                return answer
            time.sleep(0.5)


def _free_v4_link() -> ipaddress.IPv4Network:
    """A random /30 in 10.250.0.0/16 that no interface on the host uses."""
    used = _ip("-o", "-4", "addr", "show")
    while True:
        third, fourth = secrets.randbelow(256), 4 * secrets.randbelow(64)
        link = ipaddress.ip_network(f"10.250.{third}.{fourth}/30")
        if not any(f" {host}/" in used for host in link):
            return link


@pytest.fixture
def outside() -> Iterator[Outside]:
    assert os.geteuid() == 0, "creating a network namespace needs root"
    assert shutil.which("ip"), "install iproute2: the test wires a namespace with `ip`"
    suffix = secrets.token_hex(4)
    netns, host_if, ns_if = f"ccci-pt-{suffix}", f"cpt{suffix}h", f"cpt{suffix}n"
    link = _free_v4_link()
    host_v4, ns_v4 = (str(h) for h in link.hosts())
    has_v6 = Path("/proc/net/if_inet6").exists()
    v6 = f"fdcc:c1:{suffix[:4]}:{suffix[4:]}"
    _ip("netns", "add", netns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", netns)
        _ip("addr", "add", f"{host_v4}/30", "dev", host_if)
        _ip("addr", "add", f"{ns_v4}/30", "dev", ns_if, netns=netns)
        if has_v6:
            _ip("-6", "addr", "add", f"{v6}::1/126", "dev", host_if, "nodad")
            _ip("-6", "addr", "add", f"{v6}::2/126", "dev", ns_if, "nodad", netns=netns)
        _ip("link", "set", host_if, "up")
        _ip("link", "set", ns_if, "up", netns=netns)
        _ip("link", "set", "lo", "up", netns=netns)
        yield Outside(netns, host_v4, f"{v6}::1" if has_v6 else None)
    finally:
        # Deleting the namespace deletes its veth end and with it the host's end.
        subprocess.run(["ip", "netns", "del", netns], check=False)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)


@contextlib.contextmanager
def _http_server(address: str, tmp_path: Path) -> Iterator[int]:
    """A plain HTTP server on ``address`` (an ephemeral port, outside the range)."""
    (tmp_path / "index.html").write_text("control\n")
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = type("Server", (ThreadingHTTPServer,), {"address_family": family})(
        (address, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def _published_container(docker_client, address: str) -> Iterator[int]:
    """A container published on ``address`` at a port Docker picks (outside the range):
    traffic to it takes the same DNAT and FORWARD path as a harness app's."""
    container = docker_client.containers.run(
        "ccci-example/base:bookworm", ["python3", "-m", "http.server", "8000"],
        detach=True, ports={"8000/tcp": (address, None)},
        labels={"ccci.test": "port-exposure"},
    )
    try:
        container.reload()
        yield int(container.ports["8000/tcp"][0]["HostPort"])
    finally:
        container.remove(force=True)


def _in_range(port: int) -> bool:
    return PORT_RANGE[0] <= port <= PORT_RANGE[1]


def _teardown(run_dir: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["ansible-playbook", "playbooks/teardown.yml", "-e", f"run_dir={run_dir}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


def _check_controls(outside: Outside, docker_client, tmp_path: Path) -> None:
    """From the namespace, A answers outside the range: the wiring works, so a refused
    app port is the firewall's doing."""
    addresses = [outside.host_v4] + ([outside.host_v6] if outside.host_v6 else [])
    for address in addresses:
        folder = tmp_path / f"control-{len(address)}"
        folder.mkdir()
        with _http_server(address, folder) as port:
            assert not _in_range(port)
            answer = outside.probe_until_answer(address, port)
            assert answer.startswith("HTTP/") and " 200 " in answer, (address, port, answer)
    with _published_container(docker_client, outside.host_v4) as port:
        assert not _in_range(port)
        answer = outside.probe_until_answer(outside.host_v4, port)
        assert answer.startswith("HTTP/") and " 200 " in answer, (port, answer)


def test_published_port_answers_on_loopback_only(ccci, docker_client, outside, tmp_path):
    """Direct ingress publishes the app's port; only loopback reaches it (the proxy's
    ports are checked the same way by test_proxy)."""
    _check_controls(outside, docker_client, tmp_path)
    call = ccci("run", "example-site", "--tiers", "install", "--keep", "--ingress", "direct")
    results = call.results
    teardown = None
    try:
        assert call.rc == 0, call.output
        assert results["tiers"]["install"]["status"] == "passed", results["tiers"]
        port = results["tiers"]["install"]["details"]["published_port"]
        domain = results["domain"]
        assert _in_range(port), port

        page = requests.get(f"http://127.0.0.1:{port}/", headers={"Host": domain}, timeout=10)
        assert page.status_code == 200, page.text

        for address in [outside.host_v4] + ([outside.host_v6] if outside.host_v6 else []):
            answer = outside.probe(address, port, domain)
            assert answer.startswith("no connection"), (
                f"{address}:{port} is reachable from outside loopback ({answer}); "
                "is the host prepared (ansible-playbook playbooks/prepare-host.yml)?")

        # Loopback still works after the outside attempts (nothing was torn down).
        page = requests.get(f"http://127.0.0.1:{port}/", headers={"Host": domain}, timeout=10)
        assert page.status_code == 200, page.text
    finally:
        teardown = _teardown(results["run_dir"])
    assert teardown.returncode == 0, teardown.stdout[-3000:]
    assert run_objects(docker_client, call.run_id, results["stack"]) == {}
