"""Naming what a redeploy of the same version changed, from Docker's service records."""

from __future__ import annotations

from ansible_collections.ccci.recipe.plugins.module_utils.spec_diff import (
    changed_fields,
    redeploy_changes,
    revisions,
)

SPEC = {"Name": "s_app", "Labels": {"a": "1"},
        "TaskTemplate": {"ContainerSpec": {"Image": "app:1", "Env": ["A=1"]},
                         "ForceUpdate": 0}}


def service(index: int, spec: dict, previous: dict | None = None) -> dict:
    svc = {"ID": "sid", "Version": {"Index": index}, "Spec": spec}
    if previous is not None:
        svc["PreviousSpec"] = previous
    return svc


def task(tid: str, state: str = "running") -> dict:
    return {"ID": tid, "ServiceID": "sid", "Status": {"State": state}}


def test_changed_fields_are_dotted_paths_and_ignore_swarms_own():
    after = {**SPEC, "TaskTemplate": {"ContainerSpec": {"Image": "app:1@sha256:ab",
                                                        "Env": ["A=1", "B=2"]},
                                      "ForceUpdate": 1}}
    assert changed_fields(SPEC, after) == ["TaskTemplate.ContainerSpec.Env",
                                           "TaskTemplate.ContainerSpec.Image"]
    assert changed_fields(SPEC, SPEC) == []


def test_revisions_keep_running_tasks_only():
    found = revisions([service(7, SPEC)], [task("t2"), task("t1"), task("t0", "shutdown")])
    assert found == {"s_app": {"version": 7, "tasks": ["t1", "t2"]}}


def test_an_update_with_the_same_spec_is_not_a_change():
    """docker stack deploy updates every service; the index moves, the spec does not."""
    before = revisions([service(7, SPEC)], [task("t1")])
    services = [service(9, SPEC, previous=SPEC)]
    assert redeploy_changes(before, services, revisions(services, [task("t1")])) == []


def test_a_changed_spec_and_replaced_tasks_are_named():
    before = revisions([service(7, SPEC)], [task("t1")])
    changed = {**SPEC, "Labels": {"a": "2"}}
    services = [service(9, changed, previous=SPEC)]
    assert redeploy_changes(before, services, revisions(services, [task("t2")])) == [
        {"service": "s_app", "fields": ["Labels.a"], "tasks_replaced": True}]


def test_a_replaced_task_without_a_spec_change_is_named_too():
    before = revisions([service(7, SPEC)], [task("t1")])
    services = [service(7, SPEC)]
    assert redeploy_changes(before, services, revisions(services, [task("t9")])) == [
        {"service": "s_app", "fields": [], "tasks_replaced": True}]
