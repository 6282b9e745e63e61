"""ccci.recipe.stack_converge against the local swarm, called through ansible.

Each test deploys its own uniquely named stack from a compose file in tmp_path and
removes it (stack rm, then wait for its containers and networks to go) afterwards.
The image comes from CCCI_TEST_IMAGE (default ccci-example/base:bookworm); it needs
``sh`` and ``test``.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from ccci.ansible import run_module
from ccci.throwaway import deploy_stack, remove_stack
from tests.integration.helpers import run_objects

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "collections") not in sys.path:
    sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.ccci.recipe.plugins.module_utils.swarm_state import (  # noqa: E402
    parse_timestamp,
)

pytestmark = pytest.mark.integration

IMAGE = os.environ.get("CCCI_TEST_IMAGE", "ccci-example/base:bookworm")
NAMESPACE = "com.docker.stack.namespace"


@pytest.fixture(scope="module")
def api():
    client = docker.APIClient(version="auto")
    assert (client.info().get("Swarm") or {}).get("ControlAvailable"), (
        "this Docker daemon is not a swarm manager: run scripts/prepare"
    )
    client.inspect_image(IMAGE)  # fails loudly when the test image was not built
    return client


def run_converge(stack: str, *, check: bool = False, **args: Any) -> dict[str, Any]:
    """Run the module through ansible-runner ad hoc and return its result dict."""
    return run_module(
        "ccci.recipe.stack_converge", {"stack": stack, **args}, project_root=REPO, check=check
    )


@pytest.fixture
def deploy(api, tmp_path: Path) -> Iterator[Callable[..., tuple[str, float]]]:
    """deploy(name, compose_yaml) -> (stack, epoch just before the deploy)."""
    stacks: list[str] = []

    def _deploy(name: str, compose: str, stack: str | None = None) -> tuple[str, float]:
        stack = stack or f"cccit_{name}_{uuid.uuid4().hex[:8]}"
        if stack not in stacks:
            stacks.append(stack)
        compose = compose.replace("@STACK@", stack).replace("@IMAGE@", IMAGE)
        return stack, deploy_stack(stack, compose, tmp_path)

    yield _deploy

    for stack in stacks:
        remove_stack(stack)


def running_since(api, service: str) -> float:
    """Status timestamp of the service's running task: when it turned healthy."""
    tasks = api.tasks(filters={"service": service, "desired-state": "running"})
    stamps = [
        parse_timestamp(t["Status"]["Timestamp"])
        for t in tasks
        if t["Status"]["State"] == "running"
    ]
    assert stamps, f"no running task for {service}"
    return max(s for s in stamps if s is not None)


HEALTHY = """
version: "3.8"
services:
  app:
    image: @IMAGE@
    command: ["sh", "-c", "echo booting; sleep 8; touch /tmp/healthy; echo ready; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/healthy"]
      interval: 1s
      timeout: 1s
      retries: 3
      start_period: 60s
    deploy:
      endpoint_mode: dnsrr
      labels:
        coop-cloud.@STACK@.version: "1.0.0+test"
        coop-cloud.@STACK@.timeout: "90"
  sidecar:
    image: @IMAGE@
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
    deploy:
      endpoint_mode: dnsrr
      replicas: 2
  standby:
    image: @IMAGE@
    command: ["sh", "-c", "exec sleep 3600"]
    deploy:
      endpoint_mode: dnsrr
      replicas: 0
"""

CRASH = """
version: "3.8"
services:
  crash:
    image: @IMAGE@
    command: ["sh", "-c", "echo ccci-crash-marker pid $$$$; echo failing on stderr >&2; exit 3"]
    deploy:
      endpoint_mode: dnsrr
      restart_policy:
        delay: 1s
"""

NO_IMAGE = """
version: "3.8"
services:
  ghost:
    image: ccci-test/does-not-exist:never
    deploy:
      endpoint_mode: dnsrr
"""

UPDATE = """
version: "3.8"
services:
  app:
    image: @IMAGE@
    command: ["sh", "-c", "@COMMAND@"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      start_period: 30s
    deploy:
      endpoint_mode: dnsrr
      update_config:
        order: stop-first
        failure_action: pause
        monitor: 3s
"""


def test_healthy_stack_converges_right_after_the_task_turns_healthy(api, deploy):
    stack, _ = deploy("ok", HEALTHY)
    result = run_converge(stack)
    assert result.get("failed") is not True, result.get("msg")
    assert result["converged"] is True
    assert result["timeout"] == 90 and result["timeout_source"] == "label"
    assert result["version"] == "1.0.0+test"
    by_name = {s["name"]: s for s in result["services"]}
    assert by_name[f"{stack}_app"]["running"] == 1
    assert by_name[f"{stack}_sidecar"]["desired"] == by_name[f"{stack}_sidecar"]["running"] == 2
    assert by_name[f"{stack}_standby"]["desired"] == 0
    assert by_name[f"{stack}_app"]["image"] == IMAGE
    assert result["since"] == result["started"]  # since defaults to the module start
    returned = result["started"] + result["elapsed"]
    healthy = running_since(api, f"{stack}_app")
    assert healthy > result["started"], "the task was healthy before the module started"
    assert returned - healthy < 2.0, f"returned {returned - healthy:.2f}s after healthy"


def test_crash_loop_fails_fast_with_error_and_log_lines(api, deploy):
    stack, deployed = deploy("crash", CRASH)
    result = run_converge(stack, since=f"{deployed:.3f}", timeout=120)
    assert result["failed"] is True
    assert result["status"] == "failed", result["msg"]
    (failure,) = result["failures"]
    assert failure["service"] == f"{stack}_crash"
    assert failure["error"] == "task: non-zero exit (3)"
    assert failure["count"] >= 3
    assert any("ccci-crash-marker" in line for line in failure["logs"])
    assert any("failing on stderr" in line for line in failure["logs"])
    assert not any(line[:4].isdigit() and "T" in line[:11] for line in failure["logs"])
    assert f"{stack}_crash" in result["msg"] and "ccci-crash-marker" in result["msg"]


def test_missing_image_fails_with_no_such_image(api, deploy):
    stack, deployed = deploy("noimg", NO_IMAGE)
    result = run_converge(stack, since=f"{deployed:.3f}", timeout=120)
    assert result["failed"] is True
    assert result["status"] == "failed", result["msg"]
    (failure,) = result["failures"]
    assert failure["service"] == f"{stack}_ghost"
    assert "No such image: ccci-test/does-not-exist:never" in failure["error"]
    assert "No such image" in result["msg"]


def test_paused_update_fails_with_the_update_message(api, deploy):
    good = "echo v1; exec sleep 3600"
    stack, _ = deploy("upd", UPDATE.replace("@COMMAND@", good))
    first = run_converge(stack)
    assert first["converged"] is True, first.get("msg")
    bad = "echo v2-broken; exit 4"
    deploy("upd", UPDATE.replace("@COMMAND@", bad), stack=stack)
    result = run_converge(stack, timeout=120)
    assert result["failed"] is True
    assert result["status"] == "failed", result["msg"]
    (failure,) = result["failures"]
    assert "update paused" in failure["error"]
    assert "v2-broken" in "\n".join(failure["logs"])


def test_missing_stack_is_an_error(api):
    stack = f"cccit_none_{uuid.uuid4().hex[:8]}"
    result = run_converge(stack)
    assert result["failed"] is True
    assert result["msg"] == f"no services in stack {stack}"


def test_check_mode_reports_without_waiting(api, deploy):
    stack, _ = deploy("check", CRASH)
    result = run_converge(stack, check=True, timeout=120)
    assert result.get("failed") is not True, result.get("msg")
    assert result["converged"] is False
    assert result["status"] in ("pending", "failed")
    assert result["elapsed"] < 10


# ------------------------------------- crash loops versus dependencies still starting

CRASH_BESIDE_SIDECAR = """
version: "3.8"
services:
  crash:
    image: @IMAGE@
    command: ["sh", "-c", "echo ccci-crash-marker; exit 3"]
    deploy:
      endpoint_mode: dnsrr
      restart_policy:
        delay: 1s
  sidecar:
    image: @IMAGE@
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
    deploy:
      endpoint_mode: dnsrr
"""

TWO_CRASH_LOOPS = """
version: "3.8"
services:
  crash:
    image: @IMAGE@
    command: ["sh", "-c", "echo ccci-crash-marker; exit 3"]
    deploy:
      endpoint_mode: dnsrr
      restart_policy:
        delay: 1s
  worker:
    image: @IMAGE@
    command: ["sh", "-c", "echo ccci-worker-needs-crash; exit 4"]
    deploy:
      endpoint_mode: dnsrr
      restart_policy:
        delay: 1s
"""

# Seconds a crash loop may take to fail the deploy (ccci run, timeout 120 s): half the
# timeout, so failing in time proves it failed fast rather than at the timeout. Three
# failures a restart delay apart take ~12 s on an idle host; a CI host running several
# runs at once is much slower.
FAIL_FAST_BOUND = 60.0
# Seconds between the service's last task failure and the module failing: failing
# fast means at the failure that crosses the threshold (poll 0.5 s, log read, ansible's
# return), however slowly a loaded swarm restarts tasks.
DETECTION_LAG_BOUND = 10.0


def failure_lag(api, service: str, result: dict[str, Any]) -> float:
    """Seconds from the service's last task failure before the module returned to it."""
    returned = result["started"] + result["elapsed"]
    stamps = [
        parse_timestamp(t["Status"]["Timestamp"])
        for t in api.tasks(filters={"service": service})
        if t["Status"]["State"] in ("failed", "rejected", "complete")
    ]
    before = [s for s in stamps if s is not None and s <= returned]
    assert before, f"no task failure of {service} before the module returned"
    return returned - max(before)


def test_crash_loop_in_an_otherwise_converged_stack_fails_fast(api, deploy):
    stack, deployed = deploy("crashside", CRASH_BESIDE_SIDECAR)
    result = run_converge(stack, since=f"{deployed:.3f}", timeout=120)
    assert result["status"] == "failed", result["msg"]
    (failure,) = result["failures"]
    assert failure["service"] == f"{stack}_crash"
    assert failure["count"] >= 3
    assert any("ccci-crash-marker" in line for line in failure["logs"])
    reasons = {s["name"]: s["reason"] for s in result["services"]}
    assert "while every other service was converged" in reasons[f"{stack}_crash"]
    assert failure_lag(api, f"{stack}_crash", result) < DETECTION_LAG_BOUND


def test_two_crash_loops_do_not_wait_for_each_other(api, deploy):
    """Nothing is starting: the two services must not hold each other's count back."""
    stack, deployed = deploy("crash2", TWO_CRASH_LOOPS)
    result = run_converge(stack, since=f"{deployed:.3f}", timeout=120)
    assert result["status"] == "failed", result["msg"]
    assert {f["service"] for f in result["failures"]} == {f"{stack}_crash", f"{stack}_worker"}
    assert all("no service is still starting" in s["reason"] for s in result["services"])
    lags = [failure_lag(api, f"{stack}_{name}", result) for name in ("crash", "worker")]
    assert min(lags) < DETECTION_LAG_BOUND, lags


def converge_result(artifacts: str) -> dict[str, Any]:
    """The first stack_converge result of a tier (the install's; the idempotence
    check's redeploy converges later), from ansible-runner's job events."""
    events = Path(artifacts, "job_events").glob("*.json")
    for path in sorted(events, key=lambda p: int(p.name.split("-", 1)[0])):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        if data.get("task") == "Wait for the stack to converge" and "res" in data:
            return data["res"]
    raise AssertionError(f"no converge result in {artifacts}")


def test_app_waiting_for_a_slow_database_installs(ccci, docker_client):
    """The slowdb fixture: the app exits until db (~25 s first boot) takes connections."""
    call = ccci("run", "slowdb", "--tiers", "install")
    assert call.rc == 0, call.output
    install = call.results["tiers"]["install"]
    assert install["status"] == "passed", install
    assert install["details"]["deploy"]["converged"] is True
    services = {
        s["name"].rsplit("_", 1)[-1]: s
        for s in converge_result(install["details"]["artifacts"])["services"]
    }
    # The app did crash-loop while db booted (db waits for four attempts), more often
    # than the threshold (3): the deploy passed because those failures did not count.
    assert services["app"]["task_failures_seen"] >= 4, services
    assert services["app"]["task_failures"] < 3, services
    assert call.results["teardown"]["status"] == "passed"
    assert run_objects(docker_client, call.run_id, call.results["stack"]) == {}


def test_lone_crash_loop_still_fails_install_within_seconds(ccci, docker_client):
    call = ccci("run", "crashloop", "--tiers", "install")
    assert call.rc == 1, call.output
    install = call.results["tiers"]["install"]
    assert install["status"] == "failed"
    assert "timed out" not in install["reason"]
    deploy = install["details"]["deploy"]
    assert deploy["converged"] is False and deploy["timeout"] == 120
    assert deploy["elapsed"] < FAIL_FAST_BOUND, deploy
    [failure] = [f for f in install["details"]["failures"] if f.get("failures")]
    logs = "\n".join(line for svc in failure["failures"] for line in svc["logs"])
    assert "crashloop: fatal: cannot open /nonexistent/config" in logs
    assert call.results["teardown"]["status"] == "passed"
    assert run_objects(docker_client, call.run_id, call.results["stack"]) == {}
