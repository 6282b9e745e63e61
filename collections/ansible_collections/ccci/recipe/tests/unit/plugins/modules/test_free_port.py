"""free_port: a bound port is skipped, a busy range gives nothing, bad ranges fail.

Ports are held by the test with real sockets on 127.0.0.1; ``main`` runs through
AnsibleModule with its arguments patched in the way ansible-core's module tests do.
"""

from __future__ import annotations

import json
import socket
from contextlib import ExitStack

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.ccci.recipe.plugins.modules import free_port

HOST = "127.0.0.1"


def run_module(args: dict, capsys) -> tuple[int, dict]:
    """Run the module's ``main`` with ``args``: its exit code and its JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        free_port.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def _listen(stack: ExitStack, port: int) -> socket.socket | None:
    """A socket listening on HOST:port, closed with ``stack``; None when taken."""
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        sock.bind((HOST, port))
    except OSError:
        return None
    sock.listen()
    return sock


class Held:
    """Consecutive ports held by the test until it ends (or one is released)."""

    def __init__(self) -> None:
        self.stacks: dict[int, ExitStack] = {}

    def __call__(self, count: int) -> int:
        """The first of ``count`` consecutive ports below 65000, all held."""
        for _ in range(50):
            stacks = [ExitStack() for _ in range(count)]
            first = _listen(stacks[0], 0).getsockname()[1]
            if first < 65000 and all(
                    _listen(stacks[i], first + i) for i in range(1, count)):
                self.stacks.update((first + i, s) for i, s in enumerate(stacks))
                return first
            for stack in stacks:
                stack.close()
        raise AssertionError(f"could not hold {count} consecutive ports")

    def release(self, port: int) -> None:
        self.stacks.pop(port).close()

    def close(self) -> None:
        for stack in self.stacks.values():
            stack.close()


@pytest.fixture
def held():
    """``held(n)``: hold n consecutive ports; ``held.release(port)`` frees one."""
    ports = Held()
    yield ports
    ports.close()


def test_try_bind_reports_a_held_port_as_taken(held):
    port = held(1)
    assert free_port.try_bind(HOST, port) is None


def test_try_bind_returns_the_port_it_bound():
    port = free_port.try_bind(HOST, 0)
    assert isinstance(port, int) and port > 0
    assert free_port.try_bind(HOST, port) == port  # closed again: free once more


def test_find_port_skips_held_ports(held):
    first = held(3)
    found = free_port.find_port(HOST, first, first + 40)
    assert found is not None
    assert first + 3 <= found <= first + 40
    assert free_port.try_bind(HOST, found) == found


def test_find_port_reaches_the_end_of_the_range(held):
    first = held(3)
    held.release(first + 2)
    assert free_port.find_port(HOST, first, first + 2) == first + 2


def test_find_port_in_a_busy_range_is_none(held):
    first = held(3)
    assert free_port.find_port(HOST, first, first + 2) is None
    assert free_port.find_port(HOST, first + 1, first + 1) is None


def test_find_port_without_a_range_lets_the_kernel_pick():
    assert free_port.find_port(HOST, None, None) > 0


def test_main_returns_a_port_of_the_range(held, capsys):
    first = held(2)
    code, result = run_module({"start": first, "end": first + 30}, capsys)
    assert code == 0
    assert result["changed"] is False
    assert result["host"] == HOST
    assert first + 2 <= result["port"] <= first + 30


def test_main_fails_on_a_busy_range(held, capsys):
    first = held(2)
    code, result = run_module({"start": first, "end": first + 1}, capsys)
    assert code == 1
    assert result["failed"] is True
    assert result["msg"] == f"no free TCP port on {HOST} between {first} and {first + 1}"
    assert "port" not in result


@pytest.mark.parametrize("start", [20001, 20010])
def test_main_fails_when_start_is_above_end(capsys, start):
    code, result = run_module({"start": start, "end": 20000}, capsys)
    assert code == 1
    assert result["msg"] == f"start ({start}) is greater than end (20000)"
    assert result["host"] == HOST


@pytest.mark.parametrize(("args", "msg"), [
    ({"start": 0}, "start must be between 1 and 65535, got 0"),
    ({"start": 20000, "end": 70000}, "end must be between 1 and 65535, got 70000"),
])
def test_main_fails_on_a_port_out_of_range(capsys, args, msg):
    code, result = run_module(args, capsys)
    assert (code, result["msg"]) == (1, msg)


def test_main_fails_on_an_address_it_cannot_bind(capsys):
    # TEST-NET-3: no interface here holds it, so bind fails with EADDRNOTAVAIL
    code, result = run_module({"host": "203.0.113.7"}, capsys)
    assert code == 1
    assert result["msg"].startswith("cannot bind a TCP socket on 203.0.113.7: ")
