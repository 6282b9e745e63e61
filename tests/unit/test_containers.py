"""service(name)'s testinfra host: commands run by ``docker exec`` on the swarm host."""

from __future__ import annotations

from types import SimpleNamespace

from ccci.containers import container_host


class RecordingHost:
    """A swarm host that records the command lines it is asked to run."""

    def __init__(self, rc: int = 0, stdout: bytes = b"out\n") -> None:
        self.commands: list[str] = []
        self.answer = SimpleNamespace(rc=rc, stdout_bytes=stdout, stderr_bytes=b"")

    def run(self, command: str, *args: str):
        from testinfra.backend.base import BaseBackend

        self.commands.append(BaseBackend.quote(command, *args))
        return self.answer


def test_a_command_runs_in_the_container_through_the_swarm_host():
    swarm = RecordingHost()
    inside = container_host(swarm, "abc123")
    result = inside.run("cat %s", "/etc/it's here")
    assert swarm.commands == [
        "docker exec abc123 /bin/sh -c 'cat '\"'\"'/etc/it'\"'\"'\"'\"'\"'\"'\"'\"'s here'\"'\"''"]
    assert result.rc == 0 and result.stdout == "out\n"


def test_a_user_is_passed_to_docker_exec():
    swarm = RecordingHost(rc=3, stdout=b"")
    result = container_host(swarm, "abc123", user="postgres").run("psql -c 'select 1'")
    assert swarm.commands[0].startswith("docker exec -u postgres abc123 /bin/sh -c ")
    assert result.rc == 3 and result.failed


def test_testinfra_modules_act_inside_the_container():
    swarm = RecordingHost(stdout=b"Linux\n")
    assert container_host(swarm, "abc123").file("/data/x").exists
    assert swarm.commands and all(c.startswith("docker exec abc123 ") for c in swarm.commands)
    assert any("/data/x" in c for c in swarm.commands)
