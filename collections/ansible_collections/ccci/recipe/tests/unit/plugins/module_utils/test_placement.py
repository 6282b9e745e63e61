"""Which swarm node holds each volume, and the refusal of volumes not on the node ccci reaches."""

from __future__ import annotations

from typing import Any

from ansible_collections.ccci.recipe.plugins.module_utils.placement import (
    decide,
    node_info,
    volume_records,
)

LOCAL = {"ID": "n1", "Description": {"Hostname": "swarm-1"}, "Status": {"Addr": "10.0.0.1"},
         "Spec": {"Role": "manager"}}
OTHER = {"ID": "n2", "Description": {"Hostname": "swarm-2"}, "Status": {"Addr": "10.0.0.2"},
         "Spec": {"Role": "worker"}}
LOCAL_NODE = node_info(LOCAL)


def service(name: str, *volumes: str, binds: tuple[str, ...] = (),
            backed_up: bool = True) -> dict[str, Any]:
    mounts = [{"Type": "volume", "Source": v, "Target": f"/{v}"} for v in volumes]
    mounts += [{"Type": "bind", "Source": b, "Target": b} for b in binds]
    labels = {"backupbot.backup": "true"} if backed_up else {}
    return {"ID": f"id-{name}", "Spec": {"Name": name, "Labels": labels, "TaskTemplate": {
        "ContainerSpec": {"Image": "x", "Mounts": mounts}}}}


def task(name: str, node: str, desired: str = "running") -> dict[str, Any]:
    return {"ID": f"t-{name}-{node}", "ServiceID": f"id-{name}", "NodeID": node,
            "DesiredState": desired, "Status": {"State": desired}}


def test_all_volumes_local_are_not_refused():
    records = volume_records([service("s_db", "s_db"), service("s_app", "s_files")],
                             [task("s_db", "n1"), task("s_app", "n1")], [LOCAL, OTHER], "n1")
    assert [(r["service"], r["volume"], r["node_hostname"], r["local"]) for r in records] == [
        ("s_app", "s_files", "swarm-1", True), ("s_db", "s_db", "swarm-1", True)]
    assert records[0]["node_address"] == "10.0.0.1" and records[0]["node_role"] == "manager"
    elsewhere, message = decide(records, LOCAL_NODE, "ci-host")
    assert elsewhere == []
    assert message == "every volume (s_db, s_files) is on ci-host (swarm node swarm-1), " \
                      "the node ccci reaches"


def test_a_service_on_another_node_is_refused_with_where_and_what_to_do():
    records = volume_records([service("s_app", "s_files"), service("s_db", "s_db")],
                             [task("s_app", "n1"), task("s_db", "n2")], [LOCAL, OTHER], "n1")
    elsewhere, message = decide(records, LOCAL_NODE, "ci-host")
    assert elsewhere == [{"service": "s_db", "volume": "s_db", "node_id": "n2",
                          "node_hostname": "swarm-2", "node_address": "10.0.0.2",
                          "node_role": "worker", "local": False}]
    assert message.startswith(
        "volume s_db of service s_db is on swarm node swarm-2 (10.0.0.2), not on ci-host "
        "(swarm node swarm-1), the node ccci reaches: ccci backs up and restores volumes "
        "only on that node; pin the service to it")
    assert "node.hostname == swarm-1" in message and "compose.ccci.yml" in message


def test_a_service_without_a_running_task_has_no_node():
    services = [service("s_app", "s_files")]
    stopped = [task("s_app", "n1", desired="shutdown"), {**task("s_app", ""), "NodeID": ""}]
    # Alone on its swarm, the volume can only be on the node ccci reaches.
    [record] = volume_records(services, stopped, [LOCAL], "n1")
    assert record["node_id"] is None and record["node_hostname"] is None
    assert record["local"] is True
    assert decide([record], LOCAL_NODE)[0] == []
    # With other nodes, nobody can say which one holds it: refused.
    [record] = volume_records(services, stopped, [LOCAL, OTHER], "n1")
    assert record["local"] is False
    elsewhere, message = decide([record], LOCAL_NODE)
    assert elsewhere == [record]
    assert message.startswith("volume s_files of service s_app has no running task, so which "
                              "swarm node holds it is unknown, and ccci reaches only swarm-1: ")


def test_several_volumes_and_replicas_on_several_nodes():
    services = [service("s_app", "s_files", "s_media", binds=("/etc/x",)),
                service("s_web"),  # no volume: not reported
                service("s_db", "s_db")]
    tasks = [task("s_app", "n1"), task("s_app", "n2"), task("s_db", "n1"), task("s_web", "n2")]
    records = volume_records(services, tasks, [LOCAL, OTHER], "n1")
    assert [(r["volume"], r["node_id"], r["local"]) for r in records] == [
        ("s_files", "n1", True), ("s_files", "n2", False),
        ("s_media", "n1", True), ("s_media", "n2", False),
        ("s_db", "n1", True)]
    elsewhere, message = decide(records, LOCAL_NODE, "swarm-1")
    assert [(r["volume"], r["node_id"]) for r in elsewhere] == [("s_files", "n2"),
                                                                ("s_media", "n2")]
    assert message.startswith(
        "volume s_files of service s_app is on swarm node swarm-2 (10.0.0.2); "
        "volume s_media of service s_app is on swarm node swarm-2 (10.0.0.2), "
        "none of them on swarm-1, the node ccci reaches: ")
    assert "pin each such service to it" in message
    assert message.endswith("or back them up on their own nodes")


def test_a_stack_without_volumes_and_an_unspecified_manager_address():
    assert decide([], LOCAL_NODE) == ([], "the stack has no service that mounts a named volume")
    manager = {**LOCAL, "Status": {"Addr": "0.0.0.0"}, "ManagerStatus": {"Addr": "10.0.0.9:2377"}}
    assert node_info(manager)["address"] == "10.0.0.9"


def test_a_service_backupbot_does_not_back_up_may_run_anywhere():
    records = volume_records([service("cache", "cache_v", backed_up=False)],
                             [task("cache", "n2")], [LOCAL, OTHER], "n1")
    assert records == []
