"""The swarm hosts of an Ansible inventory: which one a run uses, and how many runs it takes.

Read once per run with ``ansible-inventory --list`` (so every inventory format and
plugin Ansible reads works), before anything deploys: a missing inventory, or one
without the ``swarm`` group, would make Ansible skip every play and report success.
Each host of the group is one swarm (its manager); a run deploys on exactly one of
them, the stage playbooks limited to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccci.errors import BadInput

GROUP = "swarm"
LOCAL_CONNECTIONS = frozenset(("local", "ansible.builtin.local"))
# Concurrent runs a swarm host takes unless its ``ccci_capacity`` says otherwise.
DEFAULT_CAPACITY = 2


@dataclass(frozen=True)
class SwarmHost:
    """One host of the ``swarm`` group, with its variables as the inventory gives them
    (before templating: only plain values are read here)."""

    name: str
    hostvars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return str(self.hostvars.get("ansible_connection", "ssh")) in LOCAL_CONNECTIONS

    @property
    def address(self) -> str:
        """Where the host is, the same for every inventory naming it: ``local``, or
        ``[user@]address:port`` (two inventories with one host share its capacity)."""
        if self.local:
            return "local"
        user = self.hostvars.get("ansible_user") or self.hostvars.get("ansible_ssh_user")
        address = self.hostvars.get("ansible_host") or self.name
        port = self.hostvars.get("ansible_port") or self.hostvars.get("ansible_ssh_port") or 22
        return f"{f'{user}@' if user else ''}{address}:{port}"

    @property
    def capacity(self) -> int:
        """Runs the host takes at once: ``ccci_capacity``, default 2; BadInput if not a
        positive whole number."""
        raw = self.hostvars.get("ccci_capacity", DEFAULT_CAPACITY)
        try:
            value = int(str(raw))
        except ValueError:
            value = 0
        if value < 1 or isinstance(raw, bool):
            raise BadInput(f"ccci_capacity of {self.name} is {raw!r}: it must be a whole "
                           "number of runs, 1 or more")
        return value


def read_inventory(project_root: Path, inventory: str | None) -> dict[str, Any]:
    """``ansible-inventory --list`` of ``inventory`` (None: the project's default)."""
    from ccci.ansible import ansible_env

    command = [str(Path(sys.executable).parent / "ansible-inventory"), "--list"]
    if inventory:
        command[1:1] = ["-i", inventory]
    proc = subprocess.run(
        command, cwd=project_root, env={**os.environ, **ansible_env(project_root)},
        capture_output=True, text=True, check=False, timeout=120,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise BadInput(f"inventory {inventory or '(default)'} cannot be read: "
                       f"{lines[-1] if lines else f'exit {proc.returncode}'}")
    return json.loads(proc.stdout)


def group_hosts(listing: Mapping[str, Any], group: str = GROUP) -> list[str]:
    """The hosts of ``group`` and of its child groups, in inventory order, each once."""
    found: list[str] = []
    seen_groups: set[str] = set()

    def visit(name: str) -> None:
        if name in seen_groups:
            return
        seen_groups.add(name)
        entry = listing.get(name) or {}
        for host in entry.get("hosts", []):
            if host not in found:
                found.append(host)
        for child in entry.get("children", []):
            visit(child)

    visit(group)
    return found


def swarm_hosts(project_root: Path, inventory: str | None = None) -> list[SwarmHost]:
    """The hosts the stage playbooks run on (``hosts: swarm``); BadInput when the
    inventory does not exist."""
    if inventory and not Path(inventory).exists():
        raise BadInput(f"inventory {inventory} does not exist")
    listing = read_inventory(project_root, inventory)
    hostvars = (listing.get("_meta") or {}).get("hostvars") or {}
    return [SwarmHost(name, hostvars.get(name) or {}) for name in group_hosts(listing)]


def choose_host(hosts: list[SwarmHost], wanted: str | None, inventory: str | None
                ) -> SwarmHost:
    """The host a run deploys on: the only one, or the one ``--host`` names."""
    where = f"inventory {inventory}" if inventory else "the default inventory"
    if not hosts:
        raise BadInput(f"{where} has no host in group {GROUP}: nothing would be deployed")
    names = [h.name for h in hosts]
    if wanted is not None:
        for host in hosts:
            if host.name == wanted:
                return host
        raise BadInput(f"{wanted} is not a host of group {GROUP} in {where} "
                       f"({', '.join(names)})")
    if len(hosts) > 1:
        raise BadInput(f"{where} has {len(hosts)} swarm hosts ({', '.join(names)}): "
                       "choose the one to deploy on with --host")
    return hosts[0]
