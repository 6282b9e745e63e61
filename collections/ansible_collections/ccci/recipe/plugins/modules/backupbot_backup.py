#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backupbot_backup
short_description: Back up a stack's volumes with restic by its backupbot labels, and verify
version_added: "0.1.0"
description:
  - Implements the backupbot label contract on a Docker Swarm node. The services of
    stack O(stack) (label C(com.docker.stack.namespace)) that carry the deploy label
    C(backupbot.backup=true) are backed up; fails when there is none.
  - The volumes of a service are its mounts of type C(volume). The label
    C(backupbot.backup.volumes.<vol>=false) excludes the volume with compose key
    C(<vol>) (Docker volume C(<stack>_<vol>)); C(backupbot.backup.volumes.<vol>.path=a,b)
    narrows it to those paths, relative to the volume root (a path that is absolute
    or leaves the volume, such as C(..) or C(a/../../b), fails the module). A volume's
    data is read on the host, at C(<volumes_root>/<stack>_<vol>/_data).
  - Each labelled service needs a running task container on this node. Its
    C(backupbot.backup.pre-hook) runs there (C(sh -c <hook>)) before the backup. When
    a pre-hook exits non-zero or times out, no backup is made, the post-hooks of the
    services reached so far still run, and the module fails naming the service, the
    exit code and the last lines of the hook's output.
  - Makes one C(restic backup) of all paths into O(repository) (initialised with
    C(restic init) when it does not exist yet), then runs each service's
    C(backupbot.backup.post-hook), then verifies the snapshot.
  - Verification proves the snapshot faithful to its source. Every declared path must
    be in the snapshot. Each is walked on the host right before and right after
    C(restic backup) (between the pre- and post-hooks); the entries identical in both
    walks must be in the snapshot (C(restic ls)) with the same kind, every regular file
    with the same size, and every file up to O(hash_limit) bytes with the same SHA-256
    (read back with C(restic dump), hashed while streaming). Larger files are compared
    by size only and counted as such. Entries that changed between the walks, and
    snapshot entries neither walk saw, are warnings, not failures.
  - A path narrowed with C(backupbot.backup.volumes.<vol>.path) (a dump a hook writes)
    must also have content (a file of size > 0, a directory with at least one entry).
    A whole volume that is empty is backed up as empty and reported as a warning
    in RV(verify_warnings) ("empty at backup", since restoring it proves nothing).
  - Fails on any hook failure, restic error or verification problem, but still
    returns RV(snapshot_id) and RV(paths) when a snapshot was made, so the caller can
    record the attempt.
options:
  create_password:
    description:
      - When O(password_file) does not exist, create it first with a random password
        (40 letters and digits; the file mode C(0600), a missing folder C(0700)), for a
        repository this module is about to initialise. An existing file is never
        changed.
    type: bool
    default: false
  hash_limit:
    description:
      - Files up to this many bytes are compared by SHA-256, larger ones by size only.
    type: int
    default: 67108864
  tags:
    description: Tags added to the snapshot (C(--tag)); a tag must not contain a comma.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: >-
      Plans only - returns the services and paths it would back up; runs no hook
      and no restic.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Runs as root on a swarm manager node that runs the labelled services' tasks.
  - A hook that outlives O(hook_timeout) is killed (with the processes it started)
    when its process is visible from the module, i.e. when the daemon is local.
  - Paths that do not exist on the host are left out of the backup and reported as
    verification problems.
extends_documentation_fragment:
  - ccci.recipe.backupbot
  - ccci.recipe.docker
  - ansible.builtin.action_common_attributes
author:
  - ccci developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Back up the app by its backupbot labels
  ccci.recipe.backupbot_backup:
    stack: "{{ stack_name }}"
    repository: /var/lib/ccci/restic/run-1234
    password_file: /var/lib/ccci/restic/run-1234.password
    tags:
      - ccci.run=run-1234
  register: backup_result

- name: Show what would be backed up
  ccci.recipe.backupbot_backup:
    stack: example_com
    repository: /var/lib/ccci/restic/example
    password_file: /var/lib/ccci/restic/example.password
  check_mode: true
  register: backup_plan
"""

RETURN = r"""
snapshot_id:
  description: >-
    Full id of the snapshot made (the short id when C(restic ls) could not read
    it); null when none was made.
  returned: always
  type: str
  sample: 3eb34cf6baf042e20e5d27994832af1f1f470863b84a364e8132a221826714c6
short_id:
  description: The snapshot's short id as C(restic backup) printed it; null when none was made.
  returned: always
  type: str
  sample: 3eb34cf6
total_bytes:
  description: >-
    Bytes restic processed (C(total_bytes_processed) of its summary); null when
    no snapshot was made.
  returned: always
  type: int
  sample: 1048576
data_added:
  description: Bytes restic added to the repository; null when no snapshot was made.
  returned: always
  type: int
  sample: 4096
paths:
  description: The declared paths, one per host path, in service order.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: The service that declared the path (the first one when several did).
      type: str
      sample: example_com_db
    volume:
      description: The compose volume key.
      type: str
      sample: postgres
    source:
      description: The Docker volume name.
      type: str
      sample: example_com_postgres
    path:
      description: The host path.
      type: str
      sample: /var/lib/docker/volumes/example_com_postgres/_data/dump.sql
    subpath:
      description: The path inside the volume, empty for the whole volume.
      type: str
      sample: dump.sql
    kind:
      description: >-
        C(file) or C(dir) (in the snapshot; on the host in check mode); null when
        missing.
      type: str
      sample: file
    size:
      description: Size of the file, or total size of the files below the directory.
      type: int
      sample: 2048
    entries:
      description: Files and directories below a directory (0 for a file).
      type: int
      sample: 0
services:
  description: The labelled services, sorted by name, with their hooks.
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
      description: Compose keys of the volumes backed up.
      type: list
      elements: str
    excluded:
      description: Compose keys of the volumes excluded by label.
      type: list
      elements: str
    pre_hook:
      description: >-
        The pre-hook (null when the service has none), with C(command), C(ran),
        C(rc), C(ok), C(error), C(output) (last lines) and C(duration).
      type: dict
    post_hook:
      description: The post-hook, like RV(services[].pre_hook).
      type: dict
    compare:
      description: >-
        How the snapshot of the path compares with its source; absent when the path
        is not in the snapshot.
      type: dict
      contains:
        entries:
          description: Source entries (files, directories, links) stable across both walks.
          type: int
        files:
          description: Regular files among them.
          type: int
        bytes:
          description: Total size of those files.
          type: int
        hashed:
          description: Files whose SHA-256 matched the snapshot's.
          type: int
        size_only:
          description: Files larger than RV(hash_limit), compared by size only.
          type: int
        hash_limit:
          description: The hash limit used.
          type: int
        changed:
          description: Entries that changed between the two walks (not compared).
          type: int
        changed_paths:
          description: The first few of them.
          type: list
          elements: str
        transient:
          description: Snapshot entries neither walk saw (made and removed meanwhile).
          type: int
        transient_paths:
          description: The first few of them.
          type: list
          elements: str
        mismatches:
          description: Differences between snapshot and source, each naming the file.
          type: list
          elements: str
verified:
  description: >-
    Whether a snapshot was made, every declared path is in it, faithful to its
    source, and every narrowed path has content.
  returned: always
  type: bool
verify_warnings:
  description: >-
    What verification could not prove: whole volumes empty at backup, entries that
    changed while the backup ran.
  returned: always
  type: list
  elements: str
hash_limit:
  description: Files up to this many bytes were compared by SHA-256, larger ones by size.
  returned: always
  type: int
  sample: 67108864
problems:
  description: Verification problems, one line per path.
  returned: always
  type: list
  elements: str
initialised:
  description: Whether the repository was created by this call.
  returned: always
  type: bool
duration:
  description: Seconds the module took.
  returned: always
  type: float
  sample: 2.4
"""

import os
import secrets
import string
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils.backupbot import (
    BackupPath,
    Plan,
    backup_summary,
    parse_ls,
    verify_paths,
    with_hooks,
)
from ansible_collections.ccci.recipe.plugins.module_utils.backupbot_compare import (
    HASH_LIMIT,
    Manifest,
    add_file_digest,
    add_tar_digests,
    compare_manifests,
    needs_content,
    snapshot_manifest,
    stable_part,
    walk_source,
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
    "tags": {"type": "list", "elements": "str", "default": []},
    "hash_limit": {"type": "int", "default": HASH_LIMIT},
    "create_password": {"type": "bool", "default": False},
}

PASSWORD_LENGTH = 40
PASSWORD_CHARS = string.ascii_letters + string.digits

# Source manifests by declared host path, walked before and after restic ran.
Walks = tuple[dict[str, Manifest], dict[str, Manifest]]


def host_state(item: BackupPath) -> dict[str, Any]:
    """A path entry as the host shows it now (for check mode)."""
    entry = item.as_dict()
    path = Path(item.path)
    if path.is_dir():
        files = list(path.rglob("*"))
        size = sum(p.stat().st_size for p in files if p.is_file() and not p.is_symlink())
        entry.update(kind="dir", size=size, entries=len(files))
    elif path.is_file():
        entry.update(kind="file", size=path.stat().st_size, entries=0)
    else:
        entry.update(kind=None, size=0, entries=0)
    return entry


def create_password_file(path: str) -> bool:
    """Write a new random password to ``path`` unless it exists; whether it wrote one.

    The file is created exclusively with mode 0600, so a racing writer's password is
    never replaced.
    """
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write("".join(secrets.choice(PASSWORD_CHARS) for _ in range(PASSWORD_LENGTH)))
    return True


def ensure_password(params: dict[str, Any], check_mode: bool, result: dict[str, Any]
                    ) -> tuple[bool, str | None]:
    """With ``create_password``, make a missing password file (not in check mode):
    whether it is still missing on purpose (check mode), and the error, if any."""
    path = params["password_file"]
    if not params["create_password"] or os.path.exists(path):
        return False, None
    if check_mode:
        return True, None
    try:
        result["changed"] = create_password_file(path)
    except OSError as exc:
        return False, f"cannot create password_file {path}: {exc}"
    return False, None


def tags_problem(tags: list[str]) -> str | None:
    """Why the tags cannot be passed to restic, if they cannot."""
    bad = [t for t in tags if not t.strip() or "," in t]
    if bad:
        return f"tags must be non-empty and contain no comma (restic splits on it): {bad}"
    return None


def open_repository(restic: Restic, repository: str, state: str) -> tuple[str | None, bool]:
    """Create the repository when absent, else open it: (error, whether it was created).

    An existing repository is opened before any hook runs: a wrong password must not
    cost the app a maintenance window.
    """
    if state == "absent":
        Path(repository).parent.mkdir(parents=True, exist_ok=True)
        proc = restic.run("init")
        if proc.returncode != 0:
            return restic.error(proc, f"restic init of {repository}"), False
        return None, True
    proc = restic.run("--no-lock", "cat", "config")
    if proc.returncode != 0:
        return restic.error(proc, f"opening repository {repository}"), False
    return None, False


def run_backup(
    restic: Restic, paths: list[BackupPath], tags: list[str], missing: list[str], hash_limit: int
) -> dict[str, Any]:
    """One ``restic backup`` of the declared paths that exist (the others go to ``missing``),
    with the source walked right before and right after it (``walks``).

    The walks run here, inside the hooks, so the post-hooks (which may remove a dump)
    cannot change what the snapshot is compared with. Returns ``summary``, ``walks``
    and, on failure, ``error``; never raises (with_hooks' contract).
    """
    present = [p.path for p in paths if os.path.lexists(p.path)]
    missing[:] = [p.path for p in paths if p.path not in present]
    if not present:
        return {"error": "none of the declared paths exists on the host: " + ", ".join(missing)}
    args = ["backup", "--json"]
    for tag in tags:
        args += ["--tag", tag]
    before = {path: walk_source(path, hash_limit) for path in present}
    proc = restic.run(*args, "--", *present)
    after = {path: walk_source(path, hash_limit) for path in present}
    summary = backup_summary(proc.stdout)
    outcome: dict[str, Any] = {"summary": summary, "walks": (before, after)}
    if proc.returncode != 0:
        outcome["error"] = restic.error(proc, "restic backup")
    elif summary is None or not summary.get("snapshot_id"):
        outcome["error"] = "restic backup printed no summary with a snapshot id"
    return outcome


def snapshot_content(
    restic: Restic, snapshot_id: str, root: str, manifest: Manifest, hash_limit: int
) -> tuple[Manifest, str | None]:
    """The snapshot manifest of ``root`` with the hashes of its small files: (it, error)."""
    if not needs_content(manifest, hash_limit):
        return manifest, None
    if manifest.get("") is not None:  # the declared path is a file: dump is its content
        hashed, error = restic.stream(
            lambda out: add_file_digest(manifest, out, hash_limit),
            "--no-lock", "dump", "--", snapshot_id, root,
        )
    else:
        hashed, error = restic.stream(
            lambda out: add_tar_digests(manifest, out, root, hash_limit),
            "--no-lock", "dump", "--archive", "tar", "--", snapshot_id, root,
        )
    return (hashed or manifest), error


def compare_with_source(
    restic: Restic, snapshot_id: str, items: list[BackupPath], entries: list[dict[str, Any]],
    nodes: dict[str, dict[str, Any]], walks: Walks, hash_limit: int,
) -> tuple[list[str], list[str]]:
    """Compare each declared path in the snapshot with its source walks, recording the
    result in its entry (``compare``): (problems, warnings)."""
    before, after = walks
    problems: list[str] = []
    warnings: list[str] = []
    for item, entry in zip(items, entries, strict=True):
        if entry["kind"] is None or item.path not in before:
            continue  # not in the snapshot: already a problem
        where = f"(service {item.service}, volume {item.volume})"
        stable, changed = stable_part(before[item.path], after.get(item.path, {}))
        snapshot, error = snapshot_content(
            restic, snapshot_id, item.path, snapshot_manifest(item.path, nodes), hash_limit
        )
        if error:
            problems.append(f"{item.path} {where}: {error}")
            continue
        comparison = compare_manifests(item.path, stable, changed, snapshot, hash_limit)
        entry["compare"] = comparison.as_dict()
        problems += [f"{m} {where}" for m in comparison.mismatches]
        warnings += [f"{w} {where}" for w in comparison.warnings()]
    return problems, warnings


def record_snapshot(
    restic: Restic, plan: Plan, outcome: dict[str, Any], missing: list[str], result: dict[str, Any]
) -> list[str]:
    """Put the snapshot made (if any) and its verification in ``result``; return causes."""
    causes = [outcome["error"]] if outcome.get("error") else []
    summary = outcome.get("summary") or {}
    short_id = summary.get("snapshot_id")
    if not short_id:
        return causes
    result.update(
        changed=True,
        short_id=short_id,
        snapshot_id=short_id,
        total_bytes=summary.get("total_bytes_processed"),
        data_added=summary.get("data_added"),
    )
    proc = restic.run("--no-lock", "ls", "--json", "--", short_id)
    snapshot, nodes = parse_ls(proc.stdout)
    if proc.returncode != 0:
        return [*causes, restic.error(proc, "restic ls of the new snapshot")]
    if snapshot is None:
        return [*causes, f"restic ls does not find snapshot {short_id}"]
    result["snapshot_id"] = snapshot.get("id") or short_id
    entries, problems, warnings = verify_paths(plan.paths, nodes, missing)
    differ, unsure = compare_with_source(
        restic, result["snapshot_id"], plan.paths, entries, nodes,
        outcome.get("walks") or ({}, {}), result["hash_limit"],
    )
    problems += differ
    warnings += unsure
    result.update(paths=entries, problems=problems, verified=not problems,
                  verify_warnings=warnings)
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        causes.append(f"snapshot {short_id} failed verification:\n{lines}")
    return causes


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run = ModuleRun(
        module,
        {
            "changed": False,
            "snapshot_id": None,
            "short_id": None,
            "total_bytes": None,
            "data_added": None,
            "paths": [],
            "services": [],
            "verified": False,
            "problems": [],
            "initialised": False,
            "verify_warnings": [],
            "hash_limit": module.params["hash_limit"],
        },
    )
    require_docker(module)
    params, result = module.params, run.result
    pending, problem = ensure_password(params, module.check_mode, result)
    problem = problem or common_problem(params, pending) or tags_problem(params["tags"])
    if params["hash_limit"] < 0:
        problem = problem or "hash_limit must not be negative"
    if problem:
        run.finish(problem)
    repo_state = repository_state(params["repository"])
    if repo_state == "foreign":
        run.finish(f"repository {params['repository']} exists but is not a restic repository")
    swarm, plan, containers = run.plan("backup")
    if module.check_mode:
        result.update(paths=[host_state(p) for p in plan.paths], changed=True)
        run.finish()

    result["paths"] = [dict(p.as_dict(), kind=None, size=0, entries=0) for p in plan.paths]
    restic = run.restic()
    error, created = open_repository(restic, params["repository"], repo_state)
    if created:
        result.update(initialised=True, changed=True)
    if error:
        run.finish(error)

    missing: list[str] = []  # declared paths absent from the host when restic ran
    hooks = with_hooks(
        plan.services,
        "backup",
        hook_runner(swarm, containers, params["hook_timeout"]),
        lambda: run_backup(restic, plan.paths, params["tags"], missing, params["hash_limit"]),
    )
    result["services"] = service_entries(plan, containers, hooks, "backup")
    causes = [hook.describe() for hook in hooks.failures]
    causes += record_snapshot(restic, plan, hooks.body_result or {}, missing, result)
    for warning in result["verify_warnings"]:
        module.warn(warning)
    if causes:
        run.finish(f"backup of stack {params['stack']} failed: " + "\n".join(causes))
    run.finish()


if __name__ == "__main__":
    main()
