"""The SSH forward of a remote host's app port: the ssh command, and its failures."""

from __future__ import annotations

import socket

import pytest

from ccci.forward import ForwardError, SshRoute, forward, to_app

OPTIONS = {
    "host": "192.0.2.7", "port": 2222, "remote_user": "ci", "private_key_file": "/k/id",
    "ssh_args": "-C -o ControlMaster=auto -o ControlPersist=60s",
    "ssh_common_args": "-o UserKnownHostsFile=/k/known -o ProxyJump=bastion",
    "ssh_extra_args": "", "ssh_executable": "ssh", "host_key_checking": True,
}


def test_the_route_is_what_ansible_uses_with_ccci_options_first():
    route = SshRoute.from_options(OPTIONS)
    argv = route.command("-N")
    # ssh keeps the first value of an option: no ControlMaster, whatever ssh_args say.
    assert argv[:9] == ["ssh", "-o", "ControlMaster=no", "-o", "ControlPath=none",
                        "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
    assert argv[9:16] == ["-p", "2222", "-i", "/k/id", "-l", "ci", "-N"]
    assert argv[16:] == ["-C", "-o", "ControlMaster=auto", "-o", "ControlPersist=60s",
                         "-o", "UserKnownHostsFile=/k/known", "-o", "ProxyJump=bastion",
                         "192.0.2.7"]
    assert route.describe() == "ci@192.0.2.7:2222"


def test_host_key_checking_off_in_ansible_is_off_for_the_forward_too():
    route = SshRoute.from_options({**OPTIONS, "host_key_checking": False, "port": None,
                                   "remote_user": None, "private_key_file": None})
    argv = route.command()
    assert "StrictHostKeyChecking=no" in argv
    assert "-p" not in argv and "-i" not in argv and "-l" not in argv
    assert route.describe() == "192.0.2.7:22"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_host_is_a_clear_error():
    route = SshRoute("127.0.0.1", port=_closed_port(), user="root")
    message = (r"cannot forward port 18443 of root@127.0.0.1:\d+ to the controller over "
               r"SSH: .*Connection refused")
    with pytest.raises(ForwardError, match=message), forward(route, 18443, timeout=10):
        pass


def test_the_local_host_needs_no_forward(tmp_path):
    with to_app(tmp_path, None) as port:
        assert port is None
