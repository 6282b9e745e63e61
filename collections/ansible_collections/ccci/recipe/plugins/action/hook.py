# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Call a recipe hook on the controller, the same way for every entry point."""

from __future__ import annotations

import json
from pathlib import Path

from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.controller import (
    ccci_missing,
    reach_host,
)

IMPORT_ERROR = ""
try:
    from ccci.errors import CcciError
    from ccci.forward import to_app
    from ccci.hooks import has_hook, run_hook
except ImportError as exc:  # pragma: no cover - reported at run time
    run_hook = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


def _jsonable(value):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class ActionModule(ActionBase):
    """Run hook ``name`` of the run's recipe; skipped when the recipe has none.

    Each call runs in a child process killed at HOOK_TIMEOUT (or HOOK_TIMEOUTS.<name>,
    or the end of ``retry_for``), so a blocking hook fails the task instead of hanging it.
    """

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name", "op", "run_dir", "retry_for", "interval"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if run_hook is None:
            return {**result, "failed": True, "msg": ccci_missing(IMPORT_ERROR)}
        args = self._task.args
        name, run_dir = args["name"], Path(args["run_dir"])
        try:
            if not has_hook(run_dir, name):
                return {**result, "skipped": True, "msg": f"the recipe defines no {name} hook"}
            spec, ssh = reach_host(self._connection, task_vars or {})
            with to_app(run_dir, ssh) as app_port:
                outcome = run_hook(
                    run_dir, name, args.get("op", ""), host_spec=spec, app_port=app_port,
                    retry_for=float(args.get("retry_for", 0)),
                    interval=float(args.get("interval", 2)),
                )
        except (CcciError, ValueError) as exc:
            return {**result, "failed": True, "msg": str(exc)}
        result.update(hook=name, attempts=outcome.attempts, returned=_jsonable(outcome.returned),
                      timed_out=outcome.timed_out)
        if not outcome.ok:
            result.update(failed=True, msg=f"hook {name} failed: {outcome.error}")
        return result
