#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: volume_nodes
short_description: Find the swarm node that holds each volume of a stack
version_added: "0.1.0"
description:
  - For each service of swarm stack O(stack) (label C(com.docker.stack.namespace))
    that backupbot backs up (C(backupbot.backup=true)) and mounts a named volume (a
    mount of type C(volume) with a source in
    C(Spec.TaskTemplate.ContainerSpec.Mounts)), finds the nodes its tasks desired
    C(running) are placed on, and looks each node up (hostname, address, role).
  - A volume is local when its task runs on the node this module runs on (the Docker
    info's C(Swarm.NodeID)). A service without such a task has no node; its volumes
    count as local only on a single-node swarm.
  - Backup and restore read and write volume data on the host they run on, so they
    refuse the volumes in RV(elsewhere); RV(msg) says which and what to do.
  - Never changes anything. Runs on a swarm manager (listing nodes needs one).
options:
  stack:
    description: The swarm stack namespace (the name given to C(docker stack deploy)).
    type: str
    required: true
  reached_as:
    description:
      - The name ccci reaches this node by (the inventory host), used in RV(msg).
      - Defaults to the node's hostname.
    type: str
extends_documentation_fragment:
  - ccci.recipe.docker
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - A service with several running tasks on several nodes gets one record per node
    for each of its volumes; each node has a volume of its own.
author:
  - ccci developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Find the swarm node that holds each volume of the stack
  ccci.recipe.volume_nodes:
    stack: example_ccci_test
    reached_as: "{{ inventory_hostname }}"
  register: placed

- name: Refuse to back up volumes held by another swarm node
  ansible.builtin.assert:
    that: placed.elsewhere | length == 0
    fail_msg: "{{ placed.msg }}"
"""

RETURN = r"""
volumes:
  description:
    - One entry per named volume of a service and node its running tasks are on,
      sorted by service, volume and node hostname.
    - A service without a running task has one entry per volume with RV(volumes[].node_id)
      null.
  returned: success
  type: list
  elements: dict
  contains:
    service:
      description: Service name.
      type: str
      sample: example_ccci_test_app
    volume:
      description: The Docker volume (the mount's source).
      type: str
      sample: example_ccci_test_data
    node_id:
      description: The node running the service's task; null when no task runs.
      type: str
      sample: 2zl1657k7xb4vad05qv2xhjwt
    node_hostname:
      description: The node's hostname (C(Description.Hostname)).
      type: str
      sample: swarm-1
    node_address:
      description: The node's address (C(Status.Addr), else its manager address).
      type: str
      sample: 10.0.0.11
    node_role:
      description: The node's role, C(manager) or C(worker).
      type: str
      sample: manager
    local:
      description: Whether the volume is on the node this module ran on.
      type: bool
      sample: true
local_node:
  description: The node this module ran on, the one ccci reaches.
  returned: success
  type: dict
  contains:
    id:
      description: Node ID (C(Swarm.NodeID) of the Docker info).
      type: str
      sample: 2zl1657k7xb4vad05qv2xhjwt
    hostname:
      description: The node's hostname.
      type: str
      sample: swarm-1
    address:
      description: The node's address.
      type: str
      sample: 10.0.0.11
    role:
      description: The node's role.
      type: str
      sample: manager
elsewhere:
  description: The entries of RV(volumes) that are not local; backup and restore refuse these.
  returned: success
  type: list
  elements: dict
  sample: []
msg:
  description: Why backup and restore refuse RV(elsewhere), or a summary when it is empty.
  returned: always
  type: str
  sample: "every volume (example_ccci_test_data) is on swarm-1, the node ccci reaches"
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils import labels
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import (
    DOCKER_ARGS,
    APIError,
    DockerException,
    connect,
    require_docker,
)
from ansible_collections.ccci.recipe.plugins.module_utils.placement import (
    decide,
    node_info,
    volume_records,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "stack": {"type": "str", "required": True},
    "reached_as": {"type": "str"},
    **DOCKER_ARGS,
}


def local_node(swarm: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The node this module runs on, from the node list (the info's address if absent)."""
    node_id = str(swarm.get("NodeID") or "")
    for node in nodes:
        if node.get("ID") == node_id:
            return node_info(node)
    return {"id": node_id, "hostname": "", "address": str(swarm.get("NodeAddr") or ""),
            "role": ""}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_docker(module)
    params = module.params
    stack = params["stack"]
    try:
        api = connect(params["docker_host"]).api
        swarm = api.info().get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("NodeID"):
            module.fail_json(msg=f"this Docker host is not a swarm node (swarm state: "
                                 f"{swarm.get('LocalNodeState') or 'unknown'})")
        try:
            nodes = api.nodes()
        except APIError as exc:
            module.fail_json(msg=f"cannot list the swarm's nodes (this node must be a "
                                 f"manager): {exc}")
        services = api.services(filters={"label": labels.selector(labels.STACK_NAMESPACE,
                                                                  stack)})
        ids = [s["ID"] for s in services]
        tasks = api.tasks(filters={"service": ids, "desired-state": "running"}) if ids else []
    except DockerException as exc:
        module.fail_json(msg=f"cannot read stack {stack}: {exc}")
    local = local_node(swarm, nodes)
    records = volume_records(services, tasks, nodes, local["id"])
    elsewhere, message = decide(records, local, params["reached_as"] or "")
    module.exit_json(changed=False, volumes=records, local_node=local, elsewhere=elsewhere,
                     msg=f"stack {stack}: {message}")


if __name__ == "__main__":
    main()
