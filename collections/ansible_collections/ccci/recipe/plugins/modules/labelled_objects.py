#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List the Docker objects carrying a label, by the label's value."""

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: labelled_objects
short_description: List the Docker objects of a host that carry a label, by its value
description:
  - Lists the services, containers (stopped ones too), volumes, secrets, configs and
    networks that carry the label O(label), whatever its value, grouped by that value
    (for the default O(label), the run id of the ccci run that created them).
  - Used by C(ccci ls) to find the objects of runs the registry of active runs does not
    know (leftovers) on each swarm host. Changes nothing.
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  label:
    description: The label key an object must carry to be listed.
    type: str
    default: ccci.run
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
"""

EXAMPLES = r"""
- name: List the objects of every ccci run on the host
  ccci.recipe.labelled_objects:
  register: labelled

- name: Show the run ids found
  ansible.builtin.debug:
    msg: "{{ labelled.objects.keys() | list }}"

- name: List objects by their stack instead
  ccci.recipe.labelled_objects:
    label: com.docker.stack.namespace
"""

RETURN = r"""
objects:
  description:
    - Per value of O(label), per kind (V(services), V(containers), V(volumes),
      V(secrets), V(configs), V(networks)), the sorted names of the objects carrying
      it (the id of an object without a name). Only kinds with objects appear.
    - Empty when no object carries O(label).
  returned: success
  type: dict
  sample: {"k3x9q2": {"services": ["s_k3x9q2_app"], "containers": ["s_k3x9q2_app.1.vq0"],
           "volumes": ["s_k3x9q2_data"]}}
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils import labels
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import (
    DOCKER_ARGS,
    DockerException,
    NotFound,
    connect,
    require_docker,
)

KINDS = ("services", "containers", "volumes", "secrets", "configs", "networks")

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "label": {"type": "str", "default": labels.RUN},
    **DOCKER_ARGS,
}

# Times a listing is tried when an object vanishes while it is listed.
ATTEMPTS = 5


def _listed(client: Any, kind: str, label: str) -> list[Any]:
    """Objects of ``kind`` carrying ``label``, retried when one vanishes while listed.

    The SDK lists, then inspects each object; one removed in between (a container of a
    stack being torn down) makes the whole call fail with 404.
    """
    extra = {"all": True} if kind == "containers" else {}
    for attempt in range(ATTEMPTS):
        try:
            return getattr(client, kind).list(filters={"label": label}, **extra)
        except NotFound:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.2)
    return []


def _label_value(obj: Any, label: str) -> str | None:
    """The value of ``label`` on any kind of object: services, secrets and configs keep
    their labels in their spec, containers in their config, volumes and networks at the
    top."""
    attrs = obj.attrs or {}
    for holder in (attrs.get("Spec"), attrs.get("Config"), attrs):
        if isinstance(holder, dict) and label in (holder.get("Labels") or {}):
            return holder["Labels"][label]
    return None


def _name(obj: Any) -> str:
    """Docker SDK objects all have a name except (in old SDKs) secrets and configs."""
    return getattr(obj, "name", None) or obj.id


def labelled(client: Any, label: str) -> dict[str, dict[str, list[str]]]:
    """Names of the objects carrying ``label``, by the label's value, then kind."""
    found: dict[str, dict[str, list[str]]] = {}
    for kind in KINDS:
        for obj in _listed(client, kind, label):
            value = _label_value(obj, label)
            if value is not None:
                found.setdefault(value, {}).setdefault(kind, []).append(_name(obj))
    return {value: {kind: sorted(names) for kind, names in kinds.items()}
            for value, kinds in sorted(found.items())}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_docker(module)
    label = module.params["label"]
    if not label.strip():
        module.fail_json(msg="label must not be empty")
    try:
        objects = labelled(connect(module.params["docker_host"]), label)
    except DockerException as exc:
        module.fail_json(msg=f"Docker API error: {exc}")
    module.exit_json(changed=False, objects=objects)


if __name__ == "__main__":
    main()
