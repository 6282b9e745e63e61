#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List or remove every Docker object one run created."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_resources
short_description: List or remove the Docker objects of one ccci run
description:
  - Finds services, containers, volumes, secrets, configs and networks that carry the
    run label C(ccci.run=<run_id>) or, when O(stack) is given, the stack namespace
    label C(com.docker.stack.namespace=<stack>). Objects of other runs and unlabelled
    objects are never touched.
  - With O(state=absent) removes them in dependency order (services, then containers
    once swarm has stopped them, then volumes, secrets, configs, networks) and reports
    whatever is still left as RV(remaining).
version_added: 0.1.0
author: ccci developers
options:
  run_id:
    description: The run id, value of the C(ccci.run) label.
    type: str
    required: true
  stack:
    description: The run's stack namespace, to also match objects docker stack created.
    type: str
  state:
    description: C(present) only lists; C(absent) removes.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: Seconds to wait for the stack's containers to stop before removing volumes.
    type: int
    default: 120
  fail_on_residue:
    description: With O(state=absent), fail when anything is left afterwards.
    type: bool
    default: true
  docker_host:
    description: Docker daemon address; default C(DOCKER_HOST), else the local socket.
    type: str
requirements:
  - Docker SDK for Python
"""

EXAMPLES = r"""
- name: Remove everything the run created and prove nothing is left
  ccci.recipe.run_resources:
    run_id: "{{ context_run.run_id }}"
    stack: "{{ context_run.stack }}"
    state: absent
"""

RETURN = r"""
found:
  description: Objects found before removal, by kind, as C(name) strings.
  returned: always
  type: dict
removed:
  description: Objects removed, by kind.
  returned: when O(state=absent)
  type: dict
remaining:
  description: Objects still present after removal, by kind (empty lists when clean).
  returned: always
  type: dict
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import docker
    from docker.errors import APIError, NotFound
except ImportError:
    docker = None
    DOCKER_IMPORT_ERROR = traceback.format_exc()

KINDS = ("services", "containers", "volumes", "secrets", "configs", "networks")


def _name(kind, obj):
    """Docker SDK objects all have a name except (in old SDKs) secrets and configs."""
    return getattr(obj, "name", None) or obj.id


def _listed(list_call, **kwargs):
    """A Docker SDK list call, retried when an object vanishes while it is listed.

    The SDK lists, then inspects each object; one removed in between (a container of a
    stack being torn down) makes the whole call fail with 404.
    """
    for attempt in range(5):
        try:
            return list_call(**kwargs)
        except NotFound:
            if attempt == 4:
                raise
            time.sleep(0.2)
    return []


def collect(client, labels):
    """Objects of every kind matching any of ``labels``, by kind, without duplicates."""
    found = {kind: {} for kind in KINDS}
    for label in labels:
        filters = {"label": label}
        found["services"].update(
            {s.id: s for s in _listed(client.services.list, filters=filters)})
        found["containers"].update(
            {c.id: c for c in _listed(client.containers.list, all=True, filters=filters)})
        found["volumes"].update({v.id: v for v in _listed(client.volumes.list, filters=filters)})
        found["secrets"].update({s.id: s for s in _listed(client.secrets.list, filters=filters)})
        found["configs"].update({c.id: c for c in _listed(client.configs.list, filters=filters)})
        found["networks"].update(
            {n.id: n for n in _listed(client.networks.list, filters=filters)})
    return {kind: list(objs.values()) for kind, objs in found.items()}


def names(found):
    return {kind: sorted(_name(kind, o) for o in objs) for kind, objs in found.items()}


def _remove(obj, kind):
    try:
        if kind == "containers":
            obj.remove(force=True, v=False)
        else:
            obj.remove()
    except NotFound:
        pass


def remove_all(client, labels, timeout):
    """Remove in dependency order; return what was removed and errors met."""
    removed = {kind: [] for kind in KINDS}
    errors = []
    found = collect(client, labels)
    for service in found["services"]:
        _remove(service, "services")
        removed["services"].append(_name("services", service))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [c for c in collect(client, labels)["containers"] if c.status == "running"]
        if not running:
            break
        time.sleep(0.5)
    for kind in KINDS[1:]:
        for obj in collect(client, labels)[kind]:
            for attempt in range(10):
                try:
                    _remove(obj, kind)
                    removed[kind].append(_name(kind, obj))
                    break
                except APIError as exc:
                    # Volumes and networks stay in use for a moment after containers go.
                    if attempt == 9:
                        errors.append(f"{kind[:-1]} {_name(kind, obj)}: {exc.explanation}")
                    time.sleep(1)
    return removed, errors


def main():
    module = AnsibleModule(
        argument_spec={
            "run_id": {"type": "str", "required": True},
            "stack": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "timeout": {"type": "int", "default": 120},
            "fail_on_residue": {"type": "bool", "default": True},
            "docker_host": {"type": "str"},
        },
        supports_check_mode=True,
    )
    if docker is None:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    params = module.params
    if not params["run_id"].strip():
        module.fail_json(msg="run_id must not be empty")
    labels = [f"ccci.run={params['run_id']}"]
    if params["stack"]:
        labels.append(f"com.docker.stack.namespace={params['stack']}")
    client = (
        docker.DockerClient(base_url=params["docker_host"])
        if params["docker_host"]
        else docker.from_env()
    )
    found = names(collect(client, labels))
    if params["state"] == "present" or module.check_mode:
        module.exit_json(changed=False, found=found, remaining=found)
    removed, errors = remove_all(client, labels, params["timeout"])
    # Swarm deletes networks asynchronously: give a removed object a moment to go.
    deadline = time.monotonic() + 15
    remaining = names(collect(client, labels))
    while any(remaining.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        remaining = names(collect(client, labels))
    changed = any(removed.values())
    result = {"changed": changed, "found": found, "removed": removed, "remaining": remaining}
    left = {kind: objs for kind, objs in remaining.items() if objs}
    if left and params["fail_on_residue"]:
        module.fail_json(msg=f"residue after teardown: {left}; errors: {errors}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
