# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by the controller-side action plugins: importing ``ccci``, reaching the host."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

CCCI_MISSING = (
    "the ccci Python package is not importable by the Python running Ansible; "
    "install the ccci project into that environment (pip install -e .)"
)


def ccci_missing(import_error: str) -> str:
    """CCCI_MISSING plus the import's own words: a dependency of ccci that is missing,
    or an error inside ccci, reads very differently from ccci not being installed."""
    return f"{CCCI_MISSING} ({import_error})" if import_error else CCCI_MISSING

LOCAL_CONNECTIONS = frozenset(("local", "ansible.builtin.local"))
_TRUE = frozenset(("1", "true", "yes", "on", "y", "t"))
_SSH_ARG_VARS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")


def _truthy(value: Any) -> bool:
    """Ansible's reading of a boolean variable (``ansible_become: yes`` and the like)."""
    return str(value).strip().lower() in _TRUE if not isinstance(value, bool) else value


def inventory_source(task_vars: Mapping[str, Any]) -> str | None:
    """The inventory source (file or directory) this task's host was read from.

    ``inventory_file`` is the file that defined the host; when it sits in a directory
    given as the source, the directory is returned, so ``group_vars`` and the other
    files of that inventory count too. None for inline host lists (``-i 'a,b,'``)
    and for task_vars that name no inventory file.
    """
    found = task_vars.get("inventory_file")
    if not isinstance(found, str) or not os.path.exists(found):
        return None
    found = os.path.abspath(found)
    for source in task_vars.get("ansible_inventory_sources") or ():
        if not isinstance(source, str) or not os.path.exists(source):
            continue
        source = os.path.abspath(source)
        if found == source or found.startswith(source.rstrip(os.sep) + os.sep):
            return source
    return found


def _warn(message: str) -> None:
    """An Ansible warning when running under Ansible; silent elsewhere (unit tests)."""
    try:
        from ansible.utils.display import Display
    except ImportError:  # pragma: no cover - only without Ansible
        return
    Display().warning(message)


def _key_file(task_vars: Mapping[str, Any]) -> str | None:
    return task_vars.get("ansible_ssh_private_key_file") or task_vars.get(
        "ansible_private_key_file"
    )


def _ssh_spec(task_vars: Mapping[str, Any]) -> str:
    """An ``ssh://`` spec from the task's variables, for hosts no inventory file holds.

    It carries user, port, key file and become (as sudo), which testinfra's spec
    syntax can express; ssh arguments (``ansible_ssh_common_args`` and the like)
    cannot be put in a spec and are not used.
    """
    found = task_vars.get("ansible_host") or task_vars.get("inventory_hostname")
    if not found:
        raise ValueError("the task's variables name no host (no inventory_hostname)")
    host = str(found)
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    user = task_vars.get("ansible_user") or task_vars.get("ansible_ssh_user")
    port = task_vars.get("ansible_port") or task_vars.get("ansible_ssh_port")
    query: dict[str, str] = {}
    key = _key_file(task_vars)
    if key:
        query["ssh_identity_file"] = str(key)
    if _truthy(task_vars.get("ansible_become", False)):
        query["sudo"] = "true"
        if task_vars.get("ansible_become_user"):
            query["sudo_user"] = str(task_vars["ansible_become_user"])
    lost = sorted(k for k in _SSH_ARG_VARS if task_vars.get(k))
    if lost:
        _warn(
            f"hooks reach {host} without {', '.join(lost)}: its inventory is not a file "
            "testinfra can read, and a testinfra host spec cannot carry ssh arguments"
        )
    spec = f"ssh://{f'{user}@' if user else ''}{host}"
    spec += f":{port}" if port else ""
    return f"{spec}?{urlencode(query)}" if query else spec


def host_spec(task_vars: Mapping[str, Any]) -> str:
    """A testinfra host spec that reaches the task's host the way Ansible does.

    Hooks and snapshot reads run testinfra commands on the swarm host. A remote host
    is addressed through testinfra's Ansible backend with the host's own inventory
    (``ansible://<inventory_hostname>?ansible_inventory=<source>``), so the key file,
    user, port, become and ssh arguments Ansible uses for it apply to hooks too; a
    key file set outside the inventory (extra vars) is passed along as a fallback.
    A host from an inline host list has no inventory testinfra could re-read: its
    spec is built from the task's variables instead (see ``_ssh_spec``).

    Not carried over: play-level ``become:``, ``--private-key``/``-u`` on the command
    line, become methods other than sudo, and ``host_key_checking = false`` (testinfra
    needs the host key known: Ansible's first connection records it, or set
    ``-o StrictHostKeyChecking=no`` in ``ansible_ssh_common_args``).
    """
    if task_vars.get("ansible_connection", "ssh") in LOCAL_CONNECTIONS:
        return "local://"
    source = inventory_source(task_vars)
    if source is None:
        return _ssh_spec(task_vars)
    query = {"ansible_inventory": source}
    key = _key_file(task_vars)
    if key:
        query["ssh_identity_file"] = str(key)
    return f"ansible://{task_vars['inventory_hostname']}?{urlencode(query)}"


SSH_CONNECTIONS = frozenset(("ssh", "ansible.builtin.ssh"))
# The ssh connection's options a forward needs (ccci.forward.SshRoute.from_options).
_ROUTE_OPTIONS = ("host", "port", "remote_user", "private_key_file", "ssh_args",
                  "ssh_common_args", "ssh_extra_args", "ssh_executable", "host_key_checking")


def ssh_options(connection: Any, task_vars: Mapping[str, Any]) -> dict[str, Any] | None:
    """The task connection's options as Ansible resolved them (inventory, ``-u``,
    ``--private-key``, ansible.cfg), for a port forward to the host; None for the local
    host. A connection other than ssh cannot carry a forward: ValueError."""
    if task_vars.get("ansible_connection", "ssh") in LOCAL_CONNECTIONS:
        return None
    name = getattr(connection, "_load_name", "") or getattr(connection, "transport", "")
    if name not in SSH_CONNECTIONS:
        raise ValueError(f"the host is reached with the {name} connection: ccci forwards the "
                         "app's port over ssh only (ansible_connection: ssh)")
    options = {}
    for option in _ROUTE_OPTIONS:
        try:
            options[option] = connection.get_option(option)
        except KeyError:
            options[option] = None
    return options


def reach_host(connection: Any, task_vars: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """How controller-side code reaches the task's host: its testinfra spec (hooks,
    ``host``, ``service()``) and the ssh options a forward of the app's port needs
    (None on the local host); see ``host_spec`` and ``ssh_options``."""
    return host_spec(task_vars), ssh_options(connection, task_vars)
