# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way the collection's modules reach the Docker daemon.

The connection options (``DOCKER_ARGS``, documented by the ``ccci.recipe.docker``
doc fragment) and the client factory live here so every module resolves
``docker_host``, ``DOCKER_HOST`` and TLS settings the same way.
"""

from __future__ import annotations

import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import docker
    from docker.errors import APIError, DockerException, NotFound
    from docker.utils import kwargs_from_env

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR: str | None = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()
    # Only ever caught after require_docker() has failed the module cleanly.
    APIError = DockerException = NotFound = Exception  # type: ignore[misc,assignment]

LOCAL_SOCKET = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT = 60

# The connection options of every Docker-backed module (documented in
# doc_fragments/docker.py); modules merge it into their argument_spec.
DOCKER_ARGS: dict[str, dict[str, Any]] = {
    "docker_host": {"type": "str"},
}


def require_docker(module: AnsibleModule) -> None:
    """Fail the module with Ansible's usual message when the Docker SDK is missing."""
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)


def client_kwargs(docker_host: str | None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Connection arguments: ``docker_host`` as given, else DOCKER_HOST (with its TLS
    settings), else the local socket. ``environ`` defaults to the process environment."""
    if docker_host:
        return {"base_url": docker_host}
    kwargs = kwargs_from_env(environment=environ)
    kwargs.setdefault("base_url", LOCAL_SOCKET)
    return kwargs


def connect(docker_host: str | None, timeout: int = DEFAULT_TIMEOUT) -> Any:
    """A ``docker.DockerClient``; its ``.api`` is the low-level client.

    ``timeout`` bounds each API call in seconds: callers that read a long-running
    exec's output must pass more than the exec may take.
    """
    return docker.DockerClient(version="auto", timeout=timeout, **client_kwargs(docker_host))
