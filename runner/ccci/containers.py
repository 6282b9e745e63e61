"""A testinfra host inside a container, reached through the swarm host's docker CLI.

testinfra's own docker backend runs ``docker exec`` on the machine the tests run on,
which is the swarm host only when the controller is. This backend runs the same
``docker exec … /bin/sh -c`` through the swarm host's testinfra host instead (local,
or over SSH with the inventory's settings), so ``service(name)`` in a functional test
works the same whether the host is this machine or a remote one.
"""

from __future__ import annotations

from typing import Any

import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult


class ContainerOnHost(BaseBackend):
    """Commands run in ``container`` by ``docker exec`` on ``swarm_host``."""

    NAME = "ccci-container"

    def __init__(self, swarm_host: testinfra.host.Host, container: str,
                 user: str | None = None, **kwargs: Any) -> None:
        self.swarm_host = swarm_host
        self.container = container
        self.user = user
        super().__init__(container, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        inner = self.get_command(command, *args)
        if self.user is not None:
            out = self.swarm_host.run("docker exec -u %s %s /bin/sh -c %s", self.user,
                                      self.container, inner)
        else:
            out = self.swarm_host.run("docker exec %s /bin/sh -c %s", self.container, inner)
        return self.result(out.rc, self.encode(inner), out.stdout_bytes, out.stderr_bytes)


def container_host(swarm_host: testinfra.host.Host, container: str,
                   user: str | None = None) -> testinfra.host.Host:
    """A testinfra host whose commands and modules (``file``, ``process``…) act inside
    ``container`` on ``swarm_host``."""
    return testinfra.host.Host(ContainerOnHost(swarm_host, container, user))
