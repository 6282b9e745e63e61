"""The proxy stack (roles/proxy): Traefik on the swarm host routes apps by Host and SNI.

Prepare-host deploys it (the test command runs scripts/prepare first). Each test module
worker deploys one throwaway app with Co-op Cloud's traefik labels (``LETS_ENCRYPT_ENV``
empty) on the ``proxy`` network and reaches it through the proxy on 127.0.0.1 only, with
the name in SNI and Host and the proxy's CA as the only trust anchor.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import urllib3
import yaml

from ccci.throwaway import deploy_stack, remove_stack
from tests.integration import test_port_exposure as exposure

pytestmark = pytest.mark.integration
# A client in a network namespace of its own, "outside" the host (test_port_exposure).
outside = exposure.outside

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "collections/ansible_collections/ccci/recipe/roles/proxy"
DEFAULTS = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
ROUTE_TIMEOUT = 30


@dataclass(frozen=True)
class Proxy:
    """Where the proxy role put things, from its defaults."""

    http_port: int = DEFAULTS["proxy_http_port"]
    https_port: int = DEFAULTS["proxy_https_port"]
    domain: str = DEFAULTS["proxy_domain"]
    root: Path = Path(DEFAULTS["proxy_root"])

    @property
    def ca(self) -> Path:
        return self.root / "ca" / "ca.crt"

    @property
    def access_log(self) -> Path:
        return Path(DEFAULTS["proxy_access_log"].replace("{{ proxy_root }}", str(self.root)))


PROXY = Proxy()


def get(host: str, path: str = "/", *, https: bool = True) -> urllib3.BaseHTTPResponse:
    """GET through the proxy on 127.0.0.1, ``host`` in SNI and Host, redirects not followed."""
    port = PROXY.https_port if https else PROXY.http_port
    if https:
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            "127.0.0.1", port, server_hostname=host, assert_hostname=host,
            cert_reqs="CERT_REQUIRED", ca_certs=str(PROXY.ca), timeout=10, retries=False)
    else:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, timeout=10, retries=False)
    with pool:
        return pool.request("GET", path, headers={"Host": f"{host}:{port}"}, redirect=False)


def wait_for_route(host: str) -> urllib3.BaseHTTPResponse:
    """Traefik polls the swarm (proxy_refresh_seconds): the route appears shortly after."""
    deadline = time.monotonic() + ROUTE_TIMEOUT
    while True:
        answer = get(host)
        if answer.status != 404 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def access_log_lines(host: str, settle: float = 5) -> list[dict]:
    """The proxy's JSON access-log lines for ``host`` (a line may land a moment late)."""
    deadline = time.monotonic() + settle
    while True:
        lines = [json.loads(line) for line in PROXY.access_log.read_text().splitlines()
                 if f'"RequestHost":"{host}"' in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def proxy_role(entry_point: str, tmp_path: Path, **variables) -> subprocess.CompletedProcess:
    """Run one entry point of the proxy role on the local swarm host."""
    playbook = tmp_path / f"proxy-{entry_point}-{secrets.token_hex(3)}.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": f"proxy role, {entry_point}", "hosts": "swarm", "gather_facts": False,
        "tasks": [{"name": entry_point, "ansible.builtin.include_role": {
            "name": "ccci.recipe.proxy", "tasks_from": entry_point}, "vars": variables}],
    }]))
    return ansible_playbook(str(playbook))


def ansible_playbook(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["ansible-playbook", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


@dataclass(frozen=True)
class App:
    stack: str
    domain: str
    alias: str
    token: str


@pytest.fixture(scope="module")
def app(docker_client, tmp_path_factory) -> Iterator[App]:
    """A throwaway app behind the proxy, answering its own token at /."""
    assert docker_client.services.list(filters={"name": "proxy_traefik"}), (
        "no proxy_traefik service: prepare the host (ansible-playbook playbooks/prepare-host.yml)")
    suffix = secrets.token_hex(4)
    stack, domain = f"ccci-proxytest-{suffix}", f"proxytest-{suffix}.{PROXY.domain}"
    router = domain.replace(".", "_")
    alias = f"www.{domain}"
    app = App(stack, domain, alias, secrets.token_hex(8))
    compose = {
        "version": "3.8",
        "services": {"app": {
            "image": "ccci-example/base:bookworm",
            "command": ["sh", "-c", f"mkdir -p /srv/www && echo {app.token} > /srv/www/index.html"
                        " && exec python3 -m http.server 8000 --directory /srv/www"],
            "networks": ["proxy"],
            "deploy": {"labels": [
                "traefik.enable=true",
                f"traefik.http.services.{router}.loadbalancer.server.port=8000",
                f"traefik.http.routers.{router}.rule=Host(`{domain}`) || Host(`{alias}`)",
                f"traefik.http.routers.{router}.entrypoints=web-secure",
                f"traefik.http.routers.{router}.tls.certresolver=",  # LETS_ENCRYPT_ENV empty
            ]},
        }},
        "networks": {"proxy": {"external": True}},
    }
    deploy_stack(stack, yaml.safe_dump(compose), tmp_path_factory.mktemp("proxy"))
    try:
        yield app
    finally:
        remove_stack(stack)


def test_https_routes_by_host_with_the_ca_and_logs_the_request(app):
    answer = wait_for_route(app.domain)
    assert answer.status == 200, (answer.status, answer.data[:300])
    assert answer.data.decode().strip() == app.token

    unknown = get(f"nobody-{secrets.token_hex(4)}.{PROXY.domain}")
    assert unknown.status == 404, unknown.status

    lines = [line for line in access_log_lines(app.domain) if line["DownstreamStatus"] == 200]
    assert lines, f"no access-log line for {app.domain} in {PROXY.access_log}"
    assert lines[-1]["entryPointName"] == "web-secure"
    assert lines[-1]["RequestScheme"] == "https"
    assert lines[-1]["RouterName"].startswith(app.domain.replace(".", "_"))


def test_web_entrypoint_redirects_to_https_on_the_proxy_port(app):
    assert wait_for_route(app.domain).status == 200
    answer = get(app.domain, "/index.html", https=False)
    assert answer.status in (301, 308), (answer.status, answer.data[:300])
    location = answer.headers["Location"]
    assert location == f"https://{app.domain}:{PROXY.https_port}/index.html", location
    followed = get(app.domain, "/index.html")
    assert followed.status == 200 and followed.data.decode().strip() == app.token


def test_an_alias_needs_and_gets_a_certificate_of_its_own(app, tmp_path):
    """*.ccci.test covers one label: www.<run domain> fails verification until the
    role's `certificate` entry point serves a certificate for it."""
    assert wait_for_route(app.domain).status == 200
    with pytest.raises(urllib3.exceptions.SSLError) as refused:
        get(app.alias)
    assert "match" in str(refused.value) or "hostname" in str(refused.value), refused.value

    names = {"proxy_certificate_name": app.stack, "proxy_certificate_names": [app.alias]}
    made = proxy_role("certificate", tmp_path, **names)
    try:
        assert made.returncode == 0, made.stdout[-3000:]
        deadline = time.monotonic() + ROUTE_TIMEOUT
        while True:  # Traefik reads the watched directory within a moment
            try:
                answer = get(app.alias)
                break
            except urllib3.exceptions.SSLError:
                assert time.monotonic() < deadline, "Traefik never served the alias certificate"
                time.sleep(0.2)
        assert answer.status == 200 and answer.data.decode().strip() == app.token
        again = proxy_role("certificate", tmp_path, **names)
        assert again.returncode == 0 and " changed=0 " in again.stdout, again.stdout[-3000:]
    finally:
        removed = proxy_role("certificate", tmp_path, proxy_certificate_name=app.stack,
                             proxy_certificate_state="absent")
    assert removed.returncode == 0, removed.stdout[-3000:]
    assert not list((PROXY.root / "certs").glob(f"cert-{app.stack}.*"))
    assert not (PROXY.root / "dynamic" / f"cert-{app.stack}.yml").exists()


def test_proxy_ports_answer_on_loopback_only(app, outside, docker_client, tmp_path):
    assert wait_for_route(app.domain).status == 200
    # Controls: from the namespace, the host answers outside the firewalled ports.
    exposure._check_controls(outside, docker_client, tmp_path)
    addresses = [outside.host_v4] + ([outside.host_v6] if outside.host_v6 else [])
    for port in (PROXY.http_port, PROXY.https_port):
        for address in addresses:
            answer = outside.probe(address, port, app.domain)
            assert answer.startswith("no connection"), (
                f"{address}:{port} (proxy) is reachable from outside loopback ({answer})")
    assert get(app.domain).status == 200


def test_preparing_the_host_again_changes_nothing():
    prepared = ansible_playbook("playbooks/prepare-host.yml")
    assert prepared.returncode == 0, prepared.stdout[-3000:]
    recap = prepared.stdout[prepared.stdout.rindex("PLAY RECAP"):]
    assert " changed=0 " in recap, prepared.stdout[-6000:]
