#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the backup action (it drives backupbot_backup from the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup
short_description: Back up a stack by its backupbot labels, verified, with retries
description:
  - Each attempt runs M(ccci.recipe.backupbot_backup) on the host (pre-hooks, one restic
    snapshot, post-hooks, the snapshot compared with its source path by path, every
    narrowed path non-empty), then the recipe's
    C(BACKUP_VERIFY) hook on the controller with read access to the snapshot. The
    hook runs in a child process killed after the recipe's C(HOOK_TIMEOUT) seconds
    (C(HOOK_TIMEOUTS.BACKUP_VERIFY)); a timed-out verification fails the attempt.
  - A failed attempt reruns the whole backup, pre-hooks included, up to O(attempts)
    times. Every attempt and its reason is recorded in C(backups.json) of the run.
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  run_dir:
    description: The run directory.
    type: path
    required: true
  stack:
    description: The stack to back up.
    type: str
    required: true
  repository:
    description: Path of the restic repository on the host.
    type: path
    required: true
  password_file:
    description: Path of the repository's password file on the host.
    type: path
    required: true
  tags:
    description: Tags for the snapshot.
    type: list
    elements: str
  volumes_root:
    description: Where Docker keeps volumes on the host.
    type: path
  hook_timeout:
    description: Seconds a backupbot label hook (C(backupbot.backup.pre-hook) ...) may
      run in its container on the host; not the recipe's C(HOOK_TIMEOUT).
    type: int
  create_password:
    description: Create O(password_file) with a random password when it does not exist
      (M(ccci.recipe.backupbot_backup)'s option of that name).
    type: bool
    default: false
  hash_limit:
    description: Files up to this many bytes are compared with the snapshot by SHA-256,
      larger ones by size only (M(ccci.recipe.backupbot_backup) default, 64 MiB, when unset).
    type: int
  attempts:
    description: How many times to try before failing.
    type: int
    default: 3
  retry_delay:
    description: Seconds to wait after a failed attempt, before waiting for convergence.
    type: float
    default: 2
  settle_timeout:
    description: Seconds the stack may take to converge again before a retry; the
      run's convergence timeout (C(context_run.host.converge_timeout)).
    type: int
    required: true
requirements:
  - the ccci Python package on the controller
  - restic and the Docker SDK for Python on the host
"""

EXAMPLES = r"""
- name: Back the app up
  ccci.recipe.backup:
    run_dir: "{{ context_run.run_dir }}"
    stack: "{{ context_run.stack }}"
    repository: /var/lib/ccci/restic/1a2b3c4d
    password_file: /var/lib/ccci/restic/1a2b3c4d.password
    tags: [run=1a2b3c4d]
    settle_timeout: 300
"""

RETURN = r"""
backup:
  description: C(ok), C(snapshot_id), C(total_bytes), C(data_added), C(duration),
    C(warnings) (of the last attempt, e.g. a volume empty at backup) and C(attempts)
    (each with its snapshot, paths with their comparison with the source, hash limit,
    warnings, duration and failure reason).
  returned: always
  type: dict
"""
