"""The install tier end to end on the real local swarm: deploy, check, teardown."""

from __future__ import annotations

import pytest

from tests.integration.helpers import run_objects

LATEST = {"example-site": "1.2.0+1.22", "example-notes": "1.2.0+0.3.0"}


@pytest.mark.parametrize("recipe", sorted(LATEST))
def test_example_installs_and_leaves_nothing(ccci, docker_client, recipe):
    call = ccci("run", recipe, "--tiers", "install")
    results = call.results
    assert call.rc == 0, call.output
    install = results["tiers"]["install"]
    assert install["status"] == "passed", install
    assert results["version_deployed"] == LATEST[recipe]
    assert results["version"] == LATEST[recipe]
    assert results["fresh_deploys"] == 1
    assert results["level"] == 1
    assert results["teardown"]["status"] == "passed"
    assert run_objects(docker_client, call.run_id, results["stack"]) == {}


def test_crash_looping_service_fails_fast_with_its_logs(ccci, docker_client):
    call = ccci("run", "crashloop")
    results = call.results
    assert call.rc == 1
    assert results["tiers"]["upgrade"] == {
        "status": "not_run", "reason": "no live app: install failed", "duration": 0.0,
        "details": {"app": "fresh"}}
    install = results["tiers"]["install"]
    assert install["status"] == "failed"
    assert "Wait for the stack to converge" in install["reason"]
    assert "timed out" not in install["reason"]
    [failure] = [f for f in install["details"]["failures"] if f.get("failures")]
    logs = "\n".join(line for svc in failure["failures"] for line in svc["logs"])
    assert "crashloop: fatal: cannot open /nonexistent/config" in logs
    assert results["level"] == 0
    assert results["teardown"]["status"] == "passed"
    assert run_objects(docker_client, call.run_id, results["stack"]) == {}
