#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List or remove every Docker object one run created."""

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_resources
short_description: List or remove the Docker objects of one ccci run
description:
  - Finds services, containers, volumes, secrets, configs and networks that carry the
    run label C(ccci.run=<run_id>) or, when O(stack) is given and the run owns that
    stack, the stack namespace label C(com.docker.stack.namespace=<stack>) (the
    stack's default network cannot be labelled). The run owns the stack when some of
    its labelled objects carry the run's label and none carries another run's. Objects
    of other runs, and a stack the run does not own, are never touched.
  - With O(state=absent) removes them in dependency order (services, then containers,
    then volumes, secrets, configs, networks) and reports whatever is still left as
    RV(remaining). Nothing of the run is kept, so its containers are killed rather than
    stopped (no wait for a stop grace period), and removed by force as they show up.
  - With O(state=absent) also removes the host O(paths) of the run (its folder, its
    restic repository), in the same call.
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  run_id:
    description: The run id, value of the C(ccci.run) label.
    type: str
    required: true
  stack:
    description: The run's stack namespace, to also match the objects docker stack
      created for it, when the run owns the stack.
    type: str
  claim_stack:
    description: The caller deployed O(stack) itself, without run labels (a test's
      throwaway stack), so the stack counts as owned whatever its objects carry.
    type: bool
    default: false
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
  paths:
    description: With O(state=absent), absolute host paths of the run (files or
      folders) to remove too; a missing one is fine. C(/) and paths with C(..) are
      refused.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - ccci.recipe.docker
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Lists what O(state=absent) would remove; removes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Remove everything the run created and prove nothing is left
  ccci.recipe.run_resources:
    run_id: "{{ context_run.run_id }}"
    stack: "{{ context_run.stack }}"
    state: absent
    paths:
      - "{{ context_run.host.workdir }}"
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
  description: Objects still present after removal, by kind (empty lists when clean);
    with O(paths), also C(paths), the ones still on the host.
  returned: always
  type: dict
namespace:
  description: Objects carrying the O(stack) namespace label, whoever owns them, by kind;
    a fresh deploy refuses to start when this is not empty.
  returned: when O(stack) is given
  type: dict
stack_owned:
  description: Whether the run owns the O(stack) namespace (so its objects were included).
  returned: when O(stack) is given
  type: bool
"""

import contextlib
import os
import shutil
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils import labels
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import (
    DOCKER_ARGS,
    APIError,
    DockerException,
    NotFound,
    connect,
    require_docker,
)
from ansible_collections.ccci.recipe.plugins.module_utils.run_objects import (
    KINDS,
    collect,
    name_of,
    names,
    namespace_of,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "run_id": {"type": "str", "required": True},
    "stack": {"type": "str"},
    "claim_stack": {"type": "bool", "default": False},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "timeout": {"type": "int", "default": 120},
    "fail_on_residue": {"type": "bool", "default": True},
    "paths": {"type": "list", "elements": "path", "default": []},
    **DOCKER_ARGS,
}

# Swarm deletes networks asynchronously: seconds a removed object gets to go.
RESIDUE_GRACE = 15
# Seconds without any container of the run before its containers count as gone while
# a task of the run may still make one (see BEFORE_CONTAINER); one later still is met
# by the volume retry and the second pass.
QUIET = 0.5
# Seconds between listings; a listing is a few cheap API calls.
POLL = 0.1
# Swarm task states before the task's container exists: the node's agent may still
# create it after the service is gone. From "starting" on the container exists (or never
# will), so once every task of the run is past these, no container of it can appear.
BEFORE_CONTAINER = frozenset(
    ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready"))


def _remove(obj: Any, kind: str) -> None:
    try:
        if kind == "containers":
            obj.remove(force=True, v=False)
        else:
            obj.remove()
    except NotFound:
        pass


def _kill(containers: list[Any]) -> None:
    """SIGKILL each container: its data is discarded, so its stop grace period (which
    swarm's agent honours once the service is gone) is not worth waiting for. A kill
    cuts short a stop the agent has begun, which a forced removal would wait for."""
    for container in containers:
        with contextlib.suppress(NotFound, APIError):  # not running, or gone already
            container.kill()


def _remove_retrying(client: Any, selectors: list[str], obj: Any, kind: str) -> str | None:
    """Remove ``obj``; the error once retries are spent, else None.

    Volumes and networks stay in use for a moment after their containers go; a
    container that appeared late is removed by force before the next try.
    """
    for attempt in range(10):
        try:
            _remove(obj, kind)
            return None
        except APIError as exc:
            if attempt == 9:
                return f"{kind[:-1]} {name_of(obj)}: {exc.explanation}"
            late = collect(client, selectors)["containers"]
            _kill(late)
            for container in late:
                with contextlib.suppress(APIError):
                    _remove(container, "containers")
            time.sleep(0.5)
    return None


def _may_make_containers(client: Any, selectors: list[str]) -> bool:
    """Whether a swarm task of the run has no container yet (so may still make one).

    Tasks are listed by their service's labels, and stay listed (desired state
    "remove") for a while after the service is gone. Where tasks cannot be listed (not
    a swarm manager) the answer is yes, which keeps the ``QUIET`` wait.
    """
    try:
        return any(task.get("Status", {}).get("State") in BEFORE_CONTAINER
                   for selector in selectors
                   for task in client.api.tasks(filters={"label": selector}))
    except DockerException:
        return True


def _clear_containers(client: Any, selectors: list[str], timeout: int) -> list[str]:
    """Kill and remove the run's containers until none is left and none can appear.

    Once its services are gone swarm stops and deletes their task containers on its
    own schedule, each after its stop grace period; under load a task's container can
    still be created a moment later. The run's data is discarded anyway, so containers
    are killed and removed by force as they show up. None left is final at once when
    every task of the run has made its container; otherwise after ``QUIET`` s.
    """
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    removed: set[str] = set()
    while time.monotonic() < deadline:
        found = collect(client, selectors, kinds=("containers",))["containers"]
        if found:
            quiet_since = None
            _kill(found)
            for container in found:
                try:
                    _remove(container, "containers")
                    removed.add(name_of(container))
                except APIError:
                    pass  # already being removed by swarm; seen again next round
        else:
            if quiet_since is None:
                quiet_since = time.monotonic()
            if (time.monotonic() - quiet_since >= QUIET
                    or not _may_make_containers(client, selectors)):
                break
        time.sleep(POLL)
    return sorted(removed)


def remove_all(
    client: Any, selectors: list[str], timeout: int
) -> tuple[dict[str, list[str]], list[str]]:
    """Remove in dependency order; return what was removed and errors met."""
    removed: dict[str, list[str]] = {kind: [] for kind in KINDS}
    errors: list[str] = []
    services = collect(client, selectors)["services"]
    for service in services:
        _remove(service, "services")
        removed["services"].append(name_of(service))
    removed["containers"] = _clear_containers(client, selectors, timeout)
    for kind in KINDS[2:]:
        for obj in collect(client, selectors, kinds=(kind,))[kind]:
            error = _remove_retrying(client, selectors, obj, kind)
            if error:
                errors.append(error)
            else:
                removed[kind].append(name_of(obj))
    return removed, errors


def safe_paths(paths: list[str]) -> list[str]:
    """The host paths to remove, or ValueError naming one that must never be."""
    for path in paths:
        norm = os.path.normpath(path)
        if not os.path.isabs(path) or not norm.strip("/") or ".." in path.split("/"):
            raise ValueError(f"refusing to remove {path!r}: an absolute path below / "
                             "without '..' is needed")
    return paths


def remove_paths(paths: list[str]) -> tuple[list[str], list[str]]:
    """Remove each host path (folder or file); what was removed, and what is left."""
    removed = []
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        elif os.path.lexists(path):
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed, [p for p in paths if os.path.lexists(p)]


def remaining_after(client: Any, selectors: list[str]) -> dict[str, list[str]]:
    """What is left, given swarm a moment to finish asynchronous removals."""
    deadline = time.monotonic() + RESIDUE_GRACE
    remaining = names(collect(client, selectors))
    while any(remaining.values()) and time.monotonic() < deadline:
        time.sleep(POLL)
        remaining = names(collect(client, selectors))
    return remaining


def _removal(client: Any, selectors: list[str], timeout: int
             ) -> tuple[dict[str, list[str]], dict[str, list[str]], list[str]]:
    """Remove the run's objects, and once more when a container of the run is left
    after the first pass (its service's agent created it late, and it brings its volume
    back): removed, remaining, errors."""
    removed, errors = remove_all(client, selectors, timeout)
    remaining = remaining_after(client, selectors)
    if remaining["containers"]:
        again, errors = remove_all(client, selectors, timeout)
        for kind, objs in again.items():
            removed[kind] = sorted({*removed[kind], *objs})
        remaining = remaining_after(client, selectors)
    return removed, remaining, errors


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_docker(module)
    params = module.params
    if not params["run_id"].strip():
        module.fail_json(msg="run_id must not be empty")
    try:
        paths = safe_paths(params["paths"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    selectors = [labels.selector(labels.RUN, params["run_id"])]
    extra: dict[str, Any] = {}
    try:
        client = connect(params["docker_host"])
        if params["stack"]:
            namespace, owned = namespace_of(client, params["run_id"], params["stack"])
            owned = owned or params["claim_stack"]
            extra = {"namespace": namespace, "stack_owned": owned}
            if owned:
                selectors.append(labels.selector(labels.STACK_NAMESPACE, params["stack"]))
        found = names(collect(client, selectors))
        if params["state"] == "present" or module.check_mode:
            module.exit_json(changed=False, found=found, remaining=found, **extra)
        removed, remaining, errors = _removal(client, selectors, params["timeout"])
    except DockerException as exc:
        module.fail_json(msg=f"Docker API error: {exc}")
    if paths:
        removed["paths"], remaining["paths"] = remove_paths(paths)
    changed = any(removed.values())
    result = {"changed": changed, "found": found, "removed": removed, "remaining": remaining,
              **extra}
    left = {kind: objs for kind, objs in remaining.items() if objs}
    if left and params["fail_on_residue"]:
        module.fail_json(msg=f"residue after teardown: {left}; errors: {errors}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
