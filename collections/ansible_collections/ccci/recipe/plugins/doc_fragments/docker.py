# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker connection options of the collection's modules (module_utils/docker_client)."""

from __future__ import annotations


class ModuleDocFragment:
    """How a module reaches the Docker daemon; matches ``docker_client.DOCKER_ARGS``."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker daemon to talk to, for example V(unix:///var/run/docker.sock).
      - Defaults to the E(DOCKER_HOST) environment (with E(DOCKER_TLS_VERIFY) and
        E(DOCKER_CERT_PATH)), else the local unix socket.
    type: str
requirements:
  - Docker SDK for Python (C(docker)) >= 5.0
  - Docker API >= 1.41
"""
