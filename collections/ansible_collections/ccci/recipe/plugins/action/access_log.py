# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the proxy's access-log lines of some names: in-process on a local host, else the
module on the host (starting a module costs most of a second, once per teardown)."""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.access_log import select
from ansible_collections.ccci.recipe.plugins.module_utils.controller import LOCAL_CONNECTIONS

DEFAULT_PATH = "/var/lib/ccci/proxy/log/access.log"


class ActionModule(ActionBase):
    """``ccci.recipe.access_log``; the module's options and return values."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("path", "hosts", "since"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        if task_vars.get("ansible_connection", "ssh") not in LOCAL_CONNECTIONS:
            result.update(self._execute_module(module_name="ccci.recipe.access_log",
                                               module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        args = self._task.args
        if not isinstance(args.get("hosts"), list) or not args["hosts"]:
            return {**result, "failed": True, "msg": "hosts must be a non-empty list of names"}
        path = str(args.get("path") or DEFAULT_PATH)
        hosts = {str(h).lower().rstrip(".") for h in args["hosts"]}
        if not os.path.isfile(path):
            return {**result, "changed": False, "lines": [], "scanned": 0}
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines, scanned = select(handle, hosts, str(args.get("since") or ""))
        except OSError as exc:
            return {**result, "failed": True, "msg": f"cannot read {path}: {exc}"}
        return {**result, "changed": False, "lines": lines, "scanned": scanned}
