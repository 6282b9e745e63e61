# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options the backupbot modules share."""

from __future__ import annotations


class ModuleDocFragment:
    """The stack, its restic repository, and how hooks and Docker are reached."""

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
  docker_host:
    description:
      - The Docker daemon to talk to, for example V(unix:///var/run/docker.sock).
      - Defaults to the E(DOCKER_HOST) environment (TLS settings included), else the
        local unix socket. The daemon must be the one of this node, since volumes
        are read and written on the local file system.
    type: str
requirements:
  - Docker SDK for Python (C(docker)) >= 5.0
  - restic >= 0.14 on the target
"""
