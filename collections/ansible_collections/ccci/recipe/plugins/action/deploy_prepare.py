# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the module deploy_prepare, inside the task's worker on a local host (see
plugin_utils/in_process), after reading on the controller the values of the secrets an
operator inserts.

A planned secret mapped in the recipe's SECRET_VALUES names the controller's
environment variable that holds its value (``value_env``); the host may be another
machine, so the value is read here, where ccci checked it at planning, and passed to
the module as its no_log ``value``.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.plugin_utils.in_process import execute_module

# Keys of a planned secret (ccci.deploy_env.SecretSpec) that only say where it came from.
PLANNING_ONLY = ("name", "version")


def with_controller_values(planned: list[Any], environ: dict[str, str]) -> list[Any]:
    """The secrets as the module takes them; ValueError naming a variable not set."""
    secrets = []
    for spec in planned:
        if not isinstance(spec, dict):
            secrets.append(spec)  # the module's own argument check names it
            continue
        spec = dict(spec)
        variable = spec.pop("value_env", None)
        if variable:
            if not environ.get(variable):
                raise ValueError(
                    f"secret {spec.get('docker_name')}: SECRET_VALUES takes its value from "
                    f"{variable}, which is not set (or empty) in the controller's environment")
            spec["value"] = environ[variable]
        secrets.append({key: value for key, value in spec.items() if key not in PLANNING_ONLY})
    return secrets


class ActionModule(ActionBase):
    """deploy_prepare, with inserted secret values read on the controller."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if isinstance(args.get("secrets"), list):  # anything else: the module's check
            try:
                args["secrets"] = with_controller_values(args["secrets"], dict(os.environ))
            except ValueError as exc:
                return {**result, "failed": True, "msg": str(exc)}
        result.update(execute_module(self, self._task.action, args, task_vars or {}))
        return result
