"""Hooks reach a remote swarm host with the settings Ansible uses for it.

Hooks and snapshot reads run testinfra commands on the swarm host. A spec built by
hand (``ssh://user@host:port``) lost the inventory's key file and become, so hooks
failed with "Permission denied (publickey)" where Ansible itself got in. These tests
build task_vars the way Ansible does (inventory, group_vars, variable manager) and
check the ssh command testinfra would run, without any SSH server.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

testinfra = pytest.importorskip("testinfra")
hookctx = pytest.importorskip("ccci.config.hookctx")

from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.playbook.play import Play  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402
from ansible_collections.ccci.recipe.plugins.module_utils import controller  # noqa: E402
from testinfra.backend.ansible import AnsibleBackend  # noqa: E402
from testinfra.backend.ssh import SshBackend  # noqa: E402

REMOTE = """\
swarm:
  hosts:
    remote1:
      ansible_host: 127.0.0.1
      ansible_port: 2222
      ansible_user: ci
      ansible_ssh_private_key_file: /path/key
      ansible_become: true
"""


@pytest.fixture(scope="module", autouse=True)
def ansible_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Ansible's config and tools as ccci gives them to ansible-playbook."""
    cfg = tmp_path_factory.mktemp("cfg") / "ansible.cfg"
    cfg.write_text("[ssh_connection]\nssh_args = -o ServerAliveInterval=7\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANSIBLE_CONFIG", str(cfg))
        bin_dir = str(Path(sys.executable).parent)
        patch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        yield cfg


@pytest.fixture(scope="module")
def remote_inventory(tmp_path_factory: pytest.TempPathFactory) -> str:
    """REMOTE as an inventory file; shared, as testinfra reads an inventory once."""
    path = tmp_path_factory.mktemp("inventory") / "inventory.yml"
    path.write_text(REMOTE)
    return str(path)


def task_vars(source: str, host: str = "remote1", **extra: Any) -> dict[str, Any]:
    """What an action plugin's ``task_vars`` hold for ``host`` (plus ``extra`` vars)."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[source])
    manager = VariableManager(loader=loader, inventory=inventory)
    play = Play.load({"hosts": "all", "gather_facts": False, "tasks": []},
                     variable_manager=manager, loader=loader)
    found = manager.get_vars(play=play, host=inventory.get_host(host))
    # ansible-playbook adds these; the bare variable manager does not.
    return {**found, "ansible_inventory_sources": [str(Path(source).resolve())],
            "ansible_connection": "ssh", **extra}


def ssh_backend(spec: str) -> SshBackend:
    """The backend testinfra ends up running commands with for ``spec``."""
    backend = testinfra.get_host(spec).backend
    if isinstance(backend, AnsibleBackend):
        backend = backend.ansible_runner.get_host(
            backend.host, ssh_config=backend.ssh_config,
            ssh_identity_file=backend.ssh_identity_file,
        ).backend
    assert isinstance(backend, SshBackend)
    return backend


def ssh_command(backend: SshBackend, command: str) -> str:
    cmd, args = backend._build_ssh_command(backend.get_command(command))
    return backend.quote(" ".join(cmd), *args)


def test_remote_host_keeps_key_file_user_port_and_become(remote_inventory: str) -> None:
    spec = controller.host_spec(task_vars(remote_inventory))
    assert spec.startswith("ansible://remote1?")

    backend = ssh_backend(spec)
    assert backend.host.name == "127.0.0.1"
    assert backend.host.user == "ci"
    assert str(backend.host.port) == "2222"
    assert backend.ssh_identity_file == "/path/key"
    assert backend.sudo is True
    command = ssh_command(backend, "docker ps")
    assert "-i /path/key" in command
    assert "-o User=ci" in command and "-o Port=2222" in command
    assert "ServerAliveInterval=7" in command, "ansible.cfg ssh_args apply too"
    assert command.endswith("127.0.0.1 'sudo /bin/sh -c '\"'\"'docker ps'\"'\"''")


def test_group_vars_of_a_directory_inventory_count(tmp_path: Path) -> None:
    folder = tmp_path / "inventory"
    (folder / "group_vars").mkdir(parents=True)
    (folder / "hosts.yml").write_text(
        "swarm:\n  hosts:\n    remote1:\n      ansible_host: 127.0.0.1\n"
    )
    (folder / "group_vars" / "swarm.yml").write_text(
        "ansible_user: deploy\nansible_ssh_private_key_file: /keys/ci\n"
        "ansible_become: yes\nansible_become_user: root\n"
    )
    vars_ = task_vars(str(folder))
    assert controller.inventory_source(vars_) == str(folder.resolve())
    backend = ssh_backend(controller.host_spec(vars_))
    assert backend.host.user == "deploy"
    assert backend.ssh_identity_file == "/keys/ci"
    assert backend.sudo is True and backend.sudo_user == "root"


def test_a_key_file_given_outside_the_inventory_is_passed_along(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("swarm:\n  hosts:\n    remote1:\n      ansible_host: 127.0.0.1\n")
    vars_ = task_vars(str(inventory), ansible_ssh_private_key_file="/extra/key")
    assert ssh_backend(controller.host_spec(vars_)).ssh_identity_file == "/extra/key"


def test_hookctx_and_snapshot_run_through_the_inventory_settings(
    remote_inventory: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = controller.host_spec(task_vars(remote_inventory))
    ran: list[str] = []

    def fake_run_local(self: SshBackend, command: str, *args: str) -> Any:
        line = self.quote(command, *args)
        ran.append(line)
        out = b"abc123\n" if "docker ps" in line else b"snapshot bytes"
        return self.result(0, self.encode(line), out, b"")

    monkeypatch.setattr(SshBackend, "run_local", fake_run_local)
    ctx = hookctx.HookCtx(domain="d.test", base_url="http://d.test", meta={},
                          stack="d_test", host_spec=spec)
    assert ctx.container_id("app") == "abc123"
    snapshot = hookctx.Snapshot(id="s1", repository="/repo", password_file="/pw",
                                paths=(), stack="d_test", host_spec=spec)
    assert snapshot.read("/some/file") == b"snapshot bytes"
    assert len(ran) == 2
    for line in ran:
        assert "-i /path/key" in line and "-o User=ci" in line and "-o Port=2222" in line
        assert "sudo /bin/sh -c" in line


def test_inline_host_list_falls_back_to_the_task_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(controller, "_warn", warnings.append)
    vars_ = {
        "inventory_hostname": "remote1", "inventory_file": "remote1,",
        "ansible_inventory_sources": ["remote1,"], "ansible_host": "127.0.0.1",
        "ansible_port": 2222, "ansible_user": "ci",
        "ansible_private_key_file": "/path/key", "ansible_become": "yes",
    }
    spec = controller.host_spec(vars_)
    assert spec.startswith("ssh://ci@127.0.0.1:2222?")
    backend = ssh_backend(spec)
    assert backend.ssh_identity_file == "/path/key" and backend.sudo is True
    assert warnings == []
    controller.host_spec({**vars_, "ansible_ssh_common_args": "-o ProxyJump=x"})
    assert warnings and "ansible_ssh_common_args" in warnings[0]


def test_no_inventory_file_at_all_still_keeps_what_the_task_vars_say() -> None:
    spec = controller.host_spec({"inventory_hostname": "::1", "ansible_become": False})
    assert spec == "ssh://[::1]"


def test_task_vars_without_a_host_are_an_error_not_ssh_to_none() -> None:
    with pytest.raises(ValueError, match="name no host"):
        controller.host_spec({})


@pytest.mark.parametrize("connection", ["local", "ansible.builtin.local"])
def test_local_connection_stays_local(connection: str) -> None:
    vars_ = {"inventory_hostname": "localhost", "ansible_connection": connection,
             "ansible_become": True}
    assert controller.host_spec(vars_) == "local://"
