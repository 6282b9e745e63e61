"""Failure kinds and the tool's own words, from the error texts the tools really print."""

from __future__ import annotations

import pytest

from ccci.ansible import StageRun, _failure
from ccci.failures import (
    HARNESS,
    INFRASTRUCTURE,
    RECIPE,
    classify_failure,
    classify_stage,
    run_kind,
)


def _event(action: str, res: dict, kind: str = "runner_on_failed") -> dict:
    return {"event": kind, "event_data": {"task": "Deploy the stack", "role": "deploy",
                                          "task_action": action, "res": res}}


def test_a_failed_docker_stack_deploy_carries_dockers_stderr_and_a_hint():
    stderr = ("Updating service s_app (id: x)\nfailed to update config s_nginx_conf_v1: Error "
              "response from daemon: rpc error: code = InvalidArgument desc = only updates to "
              "Labels are allowed\n")
    failure = _failure(_event("community.docker.docker_stack", {
        "msg": "docker stack up deploy command failed", "rc": 1, "stdout": "", "stderr": stderr}))
    assert failure["detail"].endswith("only updates to Labels are allowed")
    assert failure["action"] == "community.docker.docker_stack" and failure["rc"] == 1
    assert failure["failure_kind"] == RECIPE and "*_VERSION" in failure["hint"]
    reason = StageRun("upgrade", "failed", 2, 1.0, [failure]).reason()
    assert reason.startswith("Deploy the stack: docker stack up deploy command failed: ")
    assert "desc = only updates to Labels are allowed" in reason


def test_a_crashed_module_says_its_exception_and_is_the_harness():
    failure = _failure(_event("ccci.recipe.run_resources", {
        "msg": "MODULE FAILURE\nSee stdout/stderr for the exact error",
        "exception": "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'Spec'"}))
    assert failure["detail"] == "KeyError: 'Spec'"
    assert failure["failure_kind"] == HARNESS


def test_an_unreachable_host_is_infrastructure():
    failure = _failure(_event("ansible.builtin.command", {"msg": "Connection timed out"},
                              kind="runner_on_unreachable"))
    assert failure["unreachable"] is True and failure["failure_kind"] == INFRASTRUCTURE


@pytest.mark.parametrize(("action", "msg", "kind", "rule"), [
    ("community.docker.docker_image_pull",
     'Error pulling image 127.0.0.1:5099/ccci/nginx:9.99 - 404 Client Error: Not Found '
     '("manifest for 127.0.0.1:5099/ccci/nginx:9.99 not found: manifest unknown: manifest '
     'unknown")', RECIPE, "tag not in registry"),
    ("community.docker.docker_image_pull",
     'Error pulling image 127.0.0.1:5098/ccci/nginx:1.22 - 500 Server Error: Internal Server '
     'Error ("Get "http://127.0.0.1:5098/v2/": dial tcp 127.0.0.1:5098: connect: connection '
     'refused")', INFRASTRUCTURE, "registry unreachable"),
    ("community.docker.docker_image_pull",
     "pull access denied for nosuch/app, repository does not exist or may require "
     "'docker login'", RECIPE, "image not pullable"),
    ("ccci.recipe.stack_converge",
     "service s_app: task failed 3 times: No such image: ccci-example/nginx:9.99-missing",
     RECIPE, "image not pullable"),
    ("ccci.recipe.stack_converge", "service s_app: task failed 3 times: exit code 1",
     RECIPE, "recipe task failed"),
    ("ccci.recipe.hook", "hook pre_upgrade failed: requests.exceptions.ConnectionError: "
     "[Errno 111] Connection refused", RECIPE, "hook failed"),
    ("community.docker.docker_stack", "Cannot connect to the Docker daemon at "
     "unix:///var/run/docker.sock. Is the docker daemon running?", INFRASTRUCTURE,
     "docker daemon"),
    ("ansible.builtin.assert", "stack s_x already exists on the host (services): another run "
     "or app uses domain x", INFRASTRUCTURE, "shared host"),
    ("ccci.recipe.backupbot_backup", "restic backup: Fatal: unable to save snapshot: no space "
     "left on device", INFRASTRUCTURE, "host resources"),
    ("ccci.recipe.backupbot_backup", "restic backup: Fatal: /data/dump.sql does not exist",
     RECIPE, "recipe task failed"),
    ("ansible.builtin.set_fact", "The task includes an option with an undefined variable. "
     "'deploy_selected' is undefined", HARNESS, "ansible error"),
    ("ccci.recipe.run_record", "something unexpected", HARNESS, "unexpected module failure"),
])
def test_rules(action, msg, kind, rule):
    found = classify_failure({"task": "t", "action": action, "msg": msg})
    assert (found.kind, found.rule) == (kind, rule)


def test_a_stage_without_a_failed_task_is_the_harness():
    assert classify_stage("failed", [], "playbook failed (rc=4)").kind == HARNESS


def test_the_first_failure_decides_the_stage():
    first = {"task": "Deploy", "action": "community.docker.docker_stack",
             "msg": "x", "detail": "dial tcp 127.0.0.1:5000: connect: connection refused"}
    later = {"task": "Record", "action": "ccci.recipe.run_record", "msg": "y"}
    assert classify_stage("failed", [first, later]).kind == INFRASTRUCTURE


@pytest.mark.parametrize(("kinds", "expected"), [
    ([], None),
    (["infrastructure"], "infrastructure"),
    (["infrastructure", "infrastructure"], "infrastructure"),
    (["infrastructure", "recipe"], "recipe"),
    (["infrastructure", "harness"], "harness"),
    (["infrastructure", None], "harness"),
])
def test_a_run_is_infrastructure_only_when_every_failure_is(kinds, expected):
    assert run_kind(kinds) == expected


def test_a_failed_loop_reports_its_failed_item_not_one_or_more_items_failed():
    item = {"changed": False, "exception": "(traceback unavailable)", "item": "r/app:9",
            "msg": 'Error pulling image r/app:9 - 404 Client Error: Not Found ("manifest for '
                   'r/app:9 not found: manifest unknown: manifest unknown")'}
    failure = _failure(_event("community.docker.docker_image_pull", {
        "msg": "One or more items failed", "results": [{"changed": False, "item": "r/ok:1"},
                                                        item]}))
    assert failure["msg"] == item["msg"] and "detail" not in failure
    assert failure["failure_kind"] == RECIPE and "push the image" in failure["hint"]


def test_the_reason_leaves_out_the_docker_api_url():
    msg = ('Error pulling image r:1 - 404 Client Error for http+docker://localhost/v1.41/images/'
           'create?tag=1&fromImage=r: Not Found ("manifest for r:1 not found: manifest unknown")')
    reason = StageRun("install", "failed", 2, 1.0, [{"task": "Pull", "msg": msg}]).reason()
    assert reason == ('Pull: Error pulling image r:1 - 404 Client Error: Not Found ("manifest '
                      'for r:1 not found: manifest unknown")')


@pytest.mark.parametrize(("msg", "kind"), [
    # A routing mistake: the reason names the label; never the registry's "502 Bad Gateway".
    ("the app did not answer well: https://s.ccci.test:18443/health (router s): HTTP 502: "
     "the app does not listen on 80: fix traefik.http.services.s.loadbalancer.server.port=80",
     RECIPE),
    ("the app did not answer well: https://s.ccci.test:18443/health: HTTP 404: no router's "
     "rule matches s.ccci.test", RECIPE),
    ("the app did not answer well: https://s.ccci.test:18443/: no answer from the proxy on "
     "127.0.0.1:18443 (connection refused): the host's proxy stack is not running",
     INFRASTRUCTURE),
])
def test_a_failed_check_of_the_app_is_the_recipes_unless_the_proxy_is_down(msg, kind):
    failure = _failure(_event("ccci.recipe.app_probe", {"msg": msg, "probes": []}))
    assert failure["failure_kind"] == kind
    assert classify_failure(failure).hint


def test_a_failed_functional_test_is_the_recipes():
    msg = ("1 of 10 tests failed: recipes/example-notes/tests/test_notes.py::test_form failed: "
           "AssertionError: the note is listed")
    failure = _failure(_event("ccci.recipe.functional", {"msg": msg, "counts": {}}))
    assert failure["failure_kind"] == RECIPE
