#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backupbot_restore
short_description: Restore a restic snapshot of a stack's volumes with the backupbot restore hooks
version_added: "0.1.0"
description:
  - The restore side of the backupbot label contract, for snapshots made by
    M(ccci.recipe.backupbot_backup). Works on the services of stack O(stack) that
    carry the deploy label C(backupbot.backup=true); fails when there is none.
  - Each of those services needs a running task container on this node. Its
    C(backupbot.restore.pre-hook) runs there (C(sh -c <hook>)) first; when one exits
    non-zero or times out, nothing is restored, the post-hooks of the services
    reached so far still run, and the module fails naming the service.
  - Then restores the snapshot with C(restic restore <snapshot> --target /). Its
    paths are absolute host paths, so files go back where they were backed up from.
    The restore is restricted (C(--include)) to the snapshot's paths inside the data
    folders of the stack's backed-up volumes (C(<volumes_root>/<stack>_<vol>/_data),
    volumes excluded by C(backupbot.backup.volumes.<vol>=false) left out).
  - Then runs each service's C(backupbot.restore.post-hook); a post-hook exiting
    non-zero fails the module with the service, the exit code and the last lines of
    its output.
  - Files in the volumes that are not in the snapshot are left alone; files that are
    get overwritten.
options:
  snapshot:
    description: Id (full or a unique prefix) of the snapshot to restore.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details: >-
      Reads the snapshot's paths and returns what would be restored; runs no hook
      and restores nothing.
  diff_mode:
    support: none
notes:
  - Runs as root on a swarm manager node that runs the labelled services' tasks.
  - A hook that outlives O(hook_timeout) is killed (with the processes it started)
    when its process is visible from the module, i.e. when the daemon is local.
extends_documentation_fragment:
  - ccci.recipe.backupbot
author:
  - ccci developers
"""

EXAMPLES = r"""
- name: Restore the last verified backup
  ccci.recipe.backupbot_restore:
    stack: "{{ stack_name }}"
    repository: /var/lib/ccci/restic/run-1234
    password_file: /var/lib/ccci/restic/run-1234.password
    snapshot: "{{ backup_result.snapshot_id }}"
  register: restore_result
"""

RETURN = r"""
snapshot_id:
  description: Full id of the snapshot restored.
  returned: when the snapshot was found
  type: str
  sample: 3eb34cf6baf042e20e5d27994832af1f1f470863b84a364e8132a221826714c6
restored:
  description: Host paths restored (the C(--include) paths), sorted.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/docker/volumes/example_com_postgres/_data/dump.sql]
not_restored:
  description: Paths of the snapshot left alone, as they lie outside the stack's backed-up volumes.
  returned: always
  type: list
  elements: str
services:
  description: The labelled services, sorted by name, with their restore hooks.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Service name.
      type: str
    container:
      description: Name of the task container the hooks ran in.
      type: str
    volumes:
      description: Compose keys of the service's backed-up volumes.
      type: list
      elements: str
    excluded:
      description: Compose keys of the volumes excluded by label.
      type: list
      elements: str
    pre_hook:
      description: >-
        The C(backupbot.restore.pre-hook) (null when the service has none), with
        C(command), C(ran), C(rc), C(ok), C(error), C(output) (last lines) and
        C(duration).
      type: dict
    post_hook:
      description: The C(backupbot.restore.post-hook), like RV(services[].pre_hook).
      type: dict
duration:
  description: Seconds the module took.
  returned: always
  type: float
  sample: 1.8
"""

import time
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.ccci.recipe.plugins.module_utils.backupbot import (
    PlanError,
    elapsed,
    parse_snapshots,
    restore_includes,
    with_hooks,
)
from ansible_collections.ccci.recipe.plugins.module_utils.backupbot_runtime import (
    COMMON_ARGS,
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    Restic,
    common_problem,
    hook_runner,
    plan_with_containers,
    repository_state,
    service_entries,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **COMMON_ARGS,
            "snapshot": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    started = time.monotonic()
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    params = module.params
    stack: str = params["stack"]
    snapshot_ref: str = params["snapshot"].strip()
    result: dict[str, Any] = {"changed": False, "restored": [], "not_restored": [], "services": []}

    def finish(failed_msg: str | None = None) -> NoReturn:
        result["duration"] = elapsed(started)
        if failed_msg:
            module.fail_json(msg=failed_msg, **result)
        module.exit_json(**result)

    problem = common_problem(params)
    if problem:
        finish(problem)
    if not snapshot_ref or snapshot_ref.startswith("-"):
        finish(f"snapshot must be a snapshot id, not {params['snapshot']!r}")
    password_file: str = params["password_file"]
    if repository_state(params["repository"]) != "ready":
        finish(f"repository {params['repository']} is not a restic repository")

    try:
        swarm, plan, containers, errors = plan_with_containers(params, "restore", module.warn)
    except (PlanError, RuntimeError) as exc:
        finish(str(exc))
    result["services"] = service_entries(plan, containers, None, "restore")
    if errors:
        finish("\n".join(errors))

    restic = Restic(
        module.get_bin_path("restic", required=True), params["repository"], password_file
    )
    proc = restic.run("--no-lock", "snapshots", "--json", "--", snapshot_ref)
    if proc.returncode != 0:
        finish(restic.error(proc, f"restic snapshots {snapshot_ref}"))
    found = [
        s for s in parse_snapshots(proc.stdout) if str(s.get("id", "")).startswith(snapshot_ref)
    ]
    if len(found) != 1:
        detail = "not found" if not found else "ambiguous"
        finish(f"snapshot {snapshot_ref} {detail} in repository {params['repository']}")
    snapshot = found[0]
    result["snapshot_id"] = snapshot["id"]
    snapshot_paths = [str(p) for p in snapshot.get("paths") or []]
    includes = restore_includes(snapshot_paths, plan.volume_dirs)
    result["restored"] = includes
    result["not_restored"] = [
        p for p in snapshot_paths if not any(p == i or p.startswith(i + "/") for i in includes)
    ]
    if not includes:
        finish(
            f"snapshot {snapshot_ref} holds no path in the backed-up volumes of stack {stack} "
            f"(its paths: {', '.join(snapshot_paths) or 'none'})"
        )
    if module.check_mode:
        result["changed"] = True
        finish()

    run_hook = hook_runner(swarm, containers, params["hook_timeout"])

    def restore() -> dict[str, Any]:
        args = ["restore", snapshot["id"], "--target", "/"]
        for path in includes:
            args += ["--include", path]
        proc = restic.run(*args)
        if proc.returncode != 0:
            return {"error": restic.error(proc, f"restic restore of snapshot {snapshot_ref}")}
        return {}

    hooks = with_hooks(plan.services, "restore", run_hook, restore)
    result["services"] = service_entries(plan, containers, hooks, "restore")
    result["changed"] = hooks.body_ran or bool(hooks.pre) or bool(hooks.post)
    if not hooks.body_ran:
        result["restored"] = []
    causes = [run.describe() for run in hooks.failures]
    outcome: dict[str, Any] = hooks.body_result or {}
    if outcome.get("error"):
        result["restored"] = []
        causes.append(outcome["error"])
    if causes:
        finish(
            f"restore of snapshot {snapshot_ref} into stack {stack} failed: " + "\n".join(causes)
        )
    finish()


if __name__ == "__main__":
    main()
