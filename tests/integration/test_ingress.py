"""Every check reaches the app through the host's proxy, by its names, over https.

Routing mistakes are recipe failures that name the label to fix (one fixture recipe
each, tests/fixtures/recipes/, their CI config beside them); several routers are each
checked and listed; aliases are requested (and get a certificate of their own for the
run); ``--ingress direct`` still publishes a port; the proxy's access-log lines of the
run's names land in the run directory. Each test makes its own run (its own domain),
so they run in parallel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ccci.ingress import PROXY_ROOT
from tests.integration.helpers import app_get, run_objects

pytestmark = pytest.mark.integration

FIXTURE_CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "recipes"
# What the install tier's reason must name, per fixture ({stack}: the run's stack name).
MISTAKES = {
    "router-rule-mismatch": "traefik.http.routers.{stack}.rule=Host(`www.example.com`)",
    "wrong-lb-port": "the app does not listen on 80: fix "
                     "traefik.http.services.{stack}.loadbalancer.server.port=80",
    "no-traefik-enable": "add the label traefik.enable=true to service app",
    "not-on-proxy-network": "add networks: [proxy] to service app",
}


def _fixture(ccci, recipe: str, *args: str):
    return ccci("run", recipe, "--tiers", "install", *args,
                env={"CCCI_CONFIG_DIR": str(FIXTURE_CONFIG)})


def _access_log(results: dict) -> list[dict]:
    path = Path(results["run_dir"]) / "proxy-access.log"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("recipe", sorted(MISTAKES))
def test_a_routing_mistake_fails_install_naming_the_label(ccci, docker_client, recipe):
    call = _fixture(ccci, recipe)
    results = call.results
    install = results["tiers"]["install"]
    assert call.rc == 1, call.output
    assert install["status"] == "failed" and install["failure_kind"] == "recipe", install
    assert MISTAKES[recipe].format(stack=results["stack"]) in install["reason"], install["reason"]
    assert install["reason"].startswith("Request every name and route until healthy: ")
    [probe] = install["details"]["probes"]
    assert not probe["ok"] and probe["url"] == f"https://{results['domain']}:18443/"
    assert results["level"] == 0 and results["teardown"]["status"] == "passed"
    assert run_objects(docker_client, call.run_id, results["stack"]) == {}


def test_several_routers_and_an_alias_are_each_checked_and_listed(ccci, docker_client):
    call = _fixture(ccci, "several-routers")
    results = call.results
    assert call.rc == 0, call.output
    domain, stack, alias = results["domain"], results["stack"], f"www.{results['domain']}"
    assert results["ingress"]["names"] == [domain, alias]
    details = results["tiers"]["install"]["details"]
    routers = {r["name"]: r for r in details["routers"]}
    assert set(routers) == {stack, f"{stack}-api"}
    assert (routers[f"{stack}-api"]["service"], routers[f"{stack}-api"]["path_prefix"],
            routers[f"{stack}-api"]["port"]) == ("api", "/api", 8081)
    assert routers[stack]["hosts"] == [domain, alias]  # EXTRA_DOMAINS, Co-op Cloud's format
    probed = {(p["url"], p["router"], p["status"]) for p in details["probes"]}
    assert probed == {(f"https://{domain}:18443/api", f"{stack}-api", 200),
                      (f"https://{domain}:18443/", stack, 200),
                      (f"https://{alias}:18443/", stack, 200)}
    # The alias's certificate lived as long as the run.
    assert not list(Path(PROXY_ROOT, "certs").glob(f"cert-{stack}.*"))
    # Item 7: the proxy's lines of the run's names, and only those, are in the run.
    lines = _access_log(results)
    assert {line["RequestHost"] for line in lines} == {domain, alias}
    # (A request in the moment before the proxy saw the api service went to the app's.)
    assert {line["RouterName"] for line in lines if line["RequestPath"] == "/api"
            and line["DownstreamStatus"] == 200} == {f"{stack}-api@swarm"}
    assert run_objects(docker_client, call.run_id, stack) == {}


def test_an_example_answers_its_alias_given_on_the_command_line(ccci):
    call = ccci("run", "example-site", "--tiers", "install", "--extra-domain", "www.${DOMAIN}")
    results = call.results
    assert call.rc == 0, call.output
    domain = results["domain"]
    probes = results["tiers"]["install"]["details"]["probes"]
    assert [(p["name"], p["status"]) for p in probes] == [(domain, 200), (f"www.{domain}", 200)]
    # READY_PROBE (requests by ctx.base_url, in the hook's process) went through the proxy.
    assert {line["RequestPath"] for line in _access_log(results)} >= {"/health", "/", "/version"}


def test_direct_ingress_publishes_a_port_and_records_it(ccci, docker_client):
    call = ccci("run", "example-site", "--tiers", "install", "--ingress", "direct", "--keep")
    results = call.results
    try:
        assert call.rc == 0, call.output
        port = results["tiers"]["install"]["details"]["published_port"]
        assert 20000 <= port <= 29999
        assert results["ingress"] == {"mode": "direct", "names": [results["domain"]],
                                      "base_url": f"http://{results['domain']}:{port}"}
        [probe] = results["tiers"]["install"]["details"]["probes"]
        assert probe["url"] == f"http://{results['domain']}:{port}/health" and probe["ok"]
        page = app_get(results["run_dir"], "/")
        assert page.status_code == 200 and "<h1>example-site" in page.text
    finally:
        teardown = subprocess.run([sys.executable, "-m", "ccci.cli", "teardown",
                                   results["run_dir"]], capture_output=True, text=True,
                                  timeout=600, check=False)
    assert teardown.returncode == 0, teardown.stdout[-3000:] + teardown.stderr[-3000:]
    assert not (Path(results["run_dir"]) / "proxy-access.log").exists()
    assert run_objects(docker_client, call.run_id, results["stack"]) == {}
