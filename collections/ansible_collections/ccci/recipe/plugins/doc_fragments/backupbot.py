# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options the backupbot modules share (module_utils/backupbot_runtime.COMMON_ARGS)."""

from __future__ import annotations


class ModuleDocFragment:
    """The stack, its restic repository, and how hooks are run."""

    DOCUMENTATION = r"""
options:
  stack:
    description: The swarm stack namespace (the name given to C(docker stack deploy)).
    type: str
    required: true
  repository:
    description: Path of the restic repository on the target.
    type: path
    required: true
  password_file:
    description:
      - Path of the file holding the repository password, passed to restic as
        E(RESTIC_PASSWORD_FILE). The module never reads it.
    type: path
    required: true
  volumes_root:
    description: Where Docker keeps local volumes on the host.
    type: path
    default: /var/lib/docker/volumes
  hook_timeout:
    description: Seconds each hook may run before it is killed and counts as failed.
    type: int
    default: 300
notes:
  - O(docker_host) must reach the daemon of this node, since volumes are read and
    written on the local file system.
requirements:
  - restic >= 0.14 on the target
"""
