# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by the controller-side action plugins: importing the ``ccci`` package."""

from __future__ import annotations

CCCI_MISSING = (
    "the ccci Python package is not importable by the Python running Ansible; "
    "install the ccci project into that environment (pip install -e .)"
)


def host_spec(task_vars: dict) -> str:
    """A testinfra host spec for the inventory host the task runs against."""
    connection = task_vars.get("ansible_connection", "ssh")
    if connection == "local":
        return "local://"
    host = task_vars.get("ansible_host") or task_vars.get("inventory_hostname")
    user = task_vars.get("ansible_user")
    port = task_vars.get("ansible_port")
    spec = f"ssh://{user + '@' if user else ''}{host}"
    return f"{spec}:{port}" if port else spec
