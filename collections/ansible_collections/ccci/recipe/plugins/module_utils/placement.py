# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which swarm node holds each volume of a stack, and whether ccci reaches that node.

A local Docker volume lives on the node that runs the task mounting it. ccci backs
up and restores volume data under ``/var/lib/docker/volumes`` on the host the play
runs on, so a volume whose service runs on another node of a multi-node swarm would
be backed up empty, or restored where nothing reads it. The functions here turn the
Docker API's service, task and node dicts into one record per volume and node, and
say which records are elsewhere and why backup and restore refuse them. Plain dicts
only, so it is unit-tested without Docker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.ccci.recipe.plugins.module_utils.backupbot import (
    backup_enabled,
    volume_mounts,
)

# Swarm reports a manager's Status.Addr as 0.0.0.0 when it listens on every address.
UNSPECIFIED_ADDRESSES = frozenset({"", "0.0.0.0", "::"})


def node_info(node: Mapping[str, Any]) -> dict[str, Any]:
    """id, hostname, address and role of a node dict of ``GET /nodes``.

    The address is ``Status.Addr``, else the host part of ``ManagerStatus.Addr``
    (``ip:2377``) when swarm only reports an unspecified address.
    """
    address = str((node.get("Status") or {}).get("Addr") or "")
    if address in UNSPECIFIED_ADDRESSES:
        manager = str((node.get("ManagerStatus") or {}).get("Addr") or "")
        address = manager.rsplit(":", 1)[0] if manager else address
    return {
        "id": str(node.get("ID") or ""),
        "hostname": str((node.get("Description") or {}).get("Hostname") or ""),
        "address": address,
        "role": str((node.get("Spec") or {}).get("Role") or ""),
    }


def _service_name(service: Mapping[str, Any]) -> str:
    return str((service.get("Spec") or {}).get("Name") or service.get("ID") or "?")


def volume_records(
    services: Iterable[Mapping[str, Any]],
    tasks: Iterable[Mapping[str, Any]],
    nodes: Iterable[Mapping[str, Any]],
    local_id: str,
) -> list[dict[str, Any]]:
    """One record per named volume of a service backupbot backs up (``backupbot.backup``)
    and node its running tasks are on.

    ``tasks`` are the stack's tasks; only those desired ``running`` and placed on a
    node count. A service without such a task gets one record per volume with no node:
    on a single-node swarm its volume can only be local, on a larger one nobody can
    say which node holds it, so it is not local. Records are sorted by service,
    volume and node hostname.
    """
    by_id = {info["id"]: info for info in map(node_info, nodes)}
    placed: dict[str, set[str]] = {}
    for task in tasks:
        node_id = str(task.get("NodeID") or "")
        if task.get("DesiredState") == "running" and node_id:
            placed.setdefault(str(task.get("ServiceID") or ""), set()).add(node_id)
    single_node = set(by_id) <= {local_id}
    records: list[dict[str, Any]] = []
    for service in services:
        spec = service.get("Spec") or {}
        if not backup_enabled(spec.get("Labels") or {}, _service_name(service), []):
            continue  # only what backupbot backs up and restores has to be reachable
        sources = sorted({str(m["Source"]) for m in volume_mounts(service.get("Spec") or {})})
        node_ids = sorted(placed.get(str(service.get("ID") or ""), set()))
        for volume in sources:
            for node_id in node_ids or [None]:
                node = by_id.get(node_id or "", {})
                records.append({
                    "service": _service_name(service),
                    "volume": volume,
                    "node_id": node_id,
                    "node_hostname": node.get("hostname"),
                    "node_address": node.get("address"),
                    "node_role": node.get("role"),
                    "local": node_id == local_id if node_id else single_node,
                })
    return sorted(records, key=lambda r: (r["service"], r["volume"], r["node_hostname"] or ""))


def _where(record: Mapping[str, Any]) -> str:
    what = f"volume {record['volume']} of service {record['service']}"
    if not record.get("node_id"):
        return f"{what} has no running task, so which swarm node holds it is unknown"
    name = record.get("node_hostname") or record["node_id"]
    address = record.get("node_address")
    return f"{what} is on swarm node {name}" + (f" ({address})" if address else "")


def decide(
    records: Iterable[Mapping[str, Any]], local: Mapping[str, Any], reached_as: str = ""
) -> tuple[list[dict[str, Any]], str]:
    """The records not on the node ccci reaches, and a message saying so.

    ``local`` is the node ccci reaches (``hostname``, ``address``), ``reached_as`` the
    name ccci reaches it by (the inventory host), defaulting to its hostname. The
    message is the refusal when something is elsewhere, else a one-line summary.
    """
    records = [dict(r) for r in records]
    elsewhere = [r for r in records if not r["local"]]
    hostname = str(local.get("hostname") or "")
    reached = reached_as or hostname or "this host"
    node = reached if reached == hostname or not hostname else f"{reached} (swarm node {hostname})"
    if not records:
        return [], "the stack has no service that mounts a named volume"
    if not elsewhere:
        names = ", ".join(sorted({r["volume"] for r in records}))
        return [], f"every volume ({names}) is on {node}, the node ccci reaches"
    places = "; ".join(_where(r) for r in elsewhere)
    several = len({(r["service"], r["volume"]) for r in elsewhere}) > 1
    if all(r["node_id"] for r in elsewhere):
        places += f", {'none of them' if several else 'not'} on {node}, the node ccci reaches"
    else:
        places += f", and ccci reaches only {node}"
    constraint = f"node.hostname == {hostname}" if hostname else "node.hostname"
    message = (
        f"{places}: ccci backs up and restores volumes only on that node; "
        f"pin {'each such service' if several else 'the service'} to it (a placement "
        f"constraint such as {constraint} in the recipe's CI overlay, compose.ccci.yml) "
        f"or back {'them' if several else 'it'} up on "
        f"{'their own nodes' if several else 'its own node'}"
    )
    return elsewhere, message
