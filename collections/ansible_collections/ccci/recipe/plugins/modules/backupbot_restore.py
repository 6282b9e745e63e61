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
  platform:
    platforms: posix
notes:
  - Runs as root on a swarm manager node that runs the labelled services' tasks.
  - A hook that outlives O(hook_timeout) is killed (with the processes it started)
    when its process is visible from the module, i.e. when the daemon is local.
extends_documentation_fragment:
  - ccci.recipe.backupbot
  - ccci.recipe.docker
  - ansible.builtin.action_common_attributes
author:
  - ccci developers (!UNKNOWN)
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

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils.backupbot import (
    HookedOutcome,
    parse_snapshots,
    restore_includes,
    with_hooks,
)
from ansible_collections.ccci.recipe.plugins.module_utils.backupbot_runtime import (
    COMMON_ARGS,
    ModuleRun,
    Restic,
    common_problem,
    hook_runner,
    repository_state,
    service_entries,
)
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import require_docker

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    **COMMON_ARGS,
    "snapshot": {"type": "str", "required": True},
}


def find_snapshot(restic: Restic, ref: str, repository: str) -> tuple[dict[str, Any], str]:
    """The one snapshot whose id starts with ``ref``, or an error saying why not."""
    proc = restic.run("--no-lock", "snapshots", "--json", "--", ref)
    if proc.returncode != 0:
        return {}, restic.error(proc, f"restic snapshots {ref}")
    found = [s for s in parse_snapshots(proc.stdout) if str(s.get("id", "")).startswith(ref)]
    if len(found) != 1:
        detail = "not found" if not found else "ambiguous"
        return {}, f"snapshot {ref} {detail} in repository {repository}"
    return found[0], ""


def outside(paths: list[str], includes: list[str]) -> list[str]:
    """The snapshot paths that no ``--include`` path covers."""
    return [p for p in paths if not any(p == i or p.startswith(i + "/") for i in includes)]


def run_restore(restic: Restic, snapshot_id: str, ref: str, includes: list[str]) -> dict[str, str]:
    """``restic restore`` of ``includes`` to their host paths; ``error`` on failure."""
    args = ["restore", snapshot_id, "--target", "/"]
    for path in includes:
        args += ["--include", path]
    proc = restic.run(*args)
    if proc.returncode != 0:
        return {"error": restic.error(proc, f"restic restore of snapshot {ref}")}
    return {}


def restore_problem(params: dict[str, Any]) -> str | None:
    """What is wrong with the options or the repository before anything runs."""
    problem = common_problem(params)
    if problem:
        return problem
    ref = params["snapshot"].strip()
    if not ref or ref.startswith("-"):
        return f"snapshot must be a snapshot id, not {params['snapshot']!r}"
    if repository_state(params["repository"]) != "ready":
        return f"repository {params['repository']} is not a restic repository"
    return None


def outcome_causes(hooks: HookedOutcome, result: dict[str, Any]) -> list[str]:
    """Why the restore failed (hooks, restic), emptying RV(restored) when nothing was."""
    result["changed"] = hooks.body_ran or bool(hooks.pre) or bool(hooks.post)
    causes = [run.describe() for run in hooks.failures]
    restore_error = (hooks.body_result or {}).get("error")
    if restore_error:
        causes.append(restore_error)
    if restore_error or not hooks.body_ran:
        result["restored"] = []
    return causes


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run = ModuleRun(module, {"changed": False, "restored": [], "not_restored": [], "services": []})
    require_docker(module)
    params, result = module.params, run.result
    stack: str = params["stack"]
    ref: str = params["snapshot"].strip()
    problem = restore_problem(params)
    if problem:
        run.finish(problem)
    swarm, plan, containers = run.plan("restore")

    restic = run.restic()
    snapshot, error = find_snapshot(restic, ref, params["repository"])
    if error:
        run.finish(error)
    result["snapshot_id"] = snapshot["id"]
    snapshot_paths = [str(p) for p in snapshot.get("paths") or []]
    includes = restore_includes(snapshot_paths, plan.volume_dirs)
    result.update(restored=includes, not_restored=outside(snapshot_paths, includes))
    if not includes:
        run.finish(
            f"snapshot {ref} holds no path in the backed-up volumes of stack {stack} "
            f"(its paths: {', '.join(snapshot_paths) or 'none'})"
        )
    if module.check_mode:
        result["changed"] = True
        run.finish()

    hooks = with_hooks(
        plan.services,
        "restore",
        hook_runner(swarm, containers, params["hook_timeout"]),
        lambda: run_restore(restic, snapshot["id"], ref, includes),
    )
    result["services"] = service_entries(plan, containers, hooks, "restore")
    causes = outcome_causes(hooks, result)
    if causes:
        run.finish(f"restore of snapshot {ref} into stack {stack} failed: " + "\n".join(causes))
    run.finish()


if __name__ == "__main__":
    main()
