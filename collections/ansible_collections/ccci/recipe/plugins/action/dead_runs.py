# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask the registry of active runs which runs the janitor reaps, through ``ccci.janitor``."""

from __future__ import annotations

from dataclasses import asdict

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.controller import ccci_missing

IMPORT_ERROR = ""
try:
    from ccci.errors import CcciError
    from ccci.janitor import dead_runs, host_keys
except ImportError as exc:  # pragma: no cover - reported at run time
    dead_runs = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


class ActionModule(ActionBase):
    """Return the dead runs of this inventory's host, with their contexts; change nothing."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("expired", "host"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if dead_runs is None:
            return {**result, "failed": True, "msg": ccci_missing(IMPORT_ERROR)}
        args = self._task.args
        task_vars = task_vars or {}
        if args.get("host"):
            keys = frozenset((str(args["host"]),))
        else:
            keys = host_keys(task_vars.get("ansible_inventory_sources") or (),
                             C.DEFAULT_HOST_LIST or ())
        try:
            found, reported = dead_runs(keys, expired=boolean(args.get("expired", False)),
                                        hostname=task_vars.get("inventory_hostname"))
        except (CcciError, OSError) as exc:
            return {**result, "failed": True, "msg": f"cannot read the registry: {exc}"}
        result.update(changed=False, hosts=sorted(keys), runs=[asdict(r) for r in found],
                      reported=[asdict(v) for v in reported])
        return result
