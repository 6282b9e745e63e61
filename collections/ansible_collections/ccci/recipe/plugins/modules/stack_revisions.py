#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: stack_revisions
short_description: Record a stack's service revisions, or what changed since a record
version_added: "0.1.0"
description:
  - Reads each service of a Docker Swarm stack with its version index and the ids of
    its running tasks. Changes nothing.
  - With O(since) (the RV(revisions) of an earlier call), also returns the services
    that changed in between, each with the spec fields Docker changed (from the
    service's C(PreviousSpec)) and whether running tasks were replaced. Used to check
    that deploying the same version again is a no-op (idempotence).
options:
  stack:
    description: The stack's name (its C(com.docker.stack.namespace) label).
    type: str
    required: true
  since:
    description: RV(revisions) of an earlier call on the same stack.
    type: dict
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
author:
  - ccci developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Record the stack before deploying it again
  ccci.recipe.stack_revisions:
    stack: example_ccci_test
  register: before

- name: After the redeploy, list what changed
  ccci.recipe.stack_revisions:
    stack: example_ccci_test
    since: "{{ before.revisions }}"
  register: after

- name: Show the services a redeploy changed
  ansible.builtin.debug:
    var: after.changes
"""

RETURN = r"""
revisions:
  description: Per service, its version index and the sorted ids of its running tasks.
  returned: success
  type: dict
  sample: {"example_ccci_test_app": {"version": 412, "tasks": ["kq3x0w9z1r0b"]}}
changes:
  description:
    - Services changed since O(since), each with the changed spec fields (dotted paths
      of the Docker service spec) and whether its running tasks were replaced.
    - Empty without O(since), or when nothing changed.
  returned: success
  type: list
  elements: dict
  sample: [{"service": "example_ccci_test_app",
            "fields": ["TaskTemplate.ContainerSpec.Env"], "tasks_replaced": true}]
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils import labels
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import (
    DOCKER_ARGS,
    DockerException,
    connect,
    require_docker,
)
from ansible_collections.ccci.recipe.plugins.module_utils.spec_diff import (
    redeploy_changes,
    revisions,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "stack": {"type": "str", "required": True},
    "since": {"type": "dict"},
    **DOCKER_ARGS,
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_docker(module)
    params = module.params
    selector = labels.selector(labels.STACK_NAMESPACE, params["stack"])
    try:
        api = connect(params["docker_host"]).api
        services = api.services(filters={"label": selector})
        tasks = api.tasks(filters={"desired-state": "running"})
    except DockerException as exc:
        module.fail_json(msg=f"cannot read stack {params['stack']}: {exc}")
    now = revisions(services, tasks)
    changes = redeploy_changes(params["since"], services, now) if params["since"] else []
    module.exit_json(changed=False, revisions=now, changes=changes)


if __name__ == "__main__":
    main()
