# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the functional tier's pytest session on the controller, the same way for
``ccci run`` and ``ansible-playbook``."""

from __future__ import annotations

import os
from pathlib import Path

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.controller import (
    ccci_missing,
    reach_host,
)

IMPORT_ERROR = ""
try:
    from ccci.errors import CcciError
    from ccci.forward import to_app
    from ccci.functional.tier import SKIP_GENERIC, run_functional
except ImportError as exc:  # pragma: no cover - reported at run time
    run_functional = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


class ActionModule(ActionBase):
    """The recipe's suite and the generic checks against the live app; fails when a
    test failed, errored or timed out, naming the first ones."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("run_dir", "generic_only"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if run_functional is None:
            return {**result, "failed": True, "msg": ccci_missing(IMPORT_ERROR)}
        try:
            args = self._task.args
            run_dir = Path(args["run_dir"])
            spec, ssh = reach_host(self._connection, task_vars or {})
            with to_app(run_dir, ssh) as app_port:
                verdict = run_functional(run_dir, host_spec=spec, app_port=app_port,
                                         generic_only=boolean(args.get("generic_only", False)))
        except (CcciError, ValueError) as exc:
            return {**result, "failed": True, "msg": str(exc)}
        result.update(counts=verdict.counts, generic_skipped=verdict.generic_skipped,
                      reason=verdict.reason)
        if verdict.generic_skipped and os.environ.get("CI", "").lower() == "true":
            result["warnings"] = [f"{SKIP_GENERIC} is set in CI: the generic checks were "
                                  "skipped; results.json records it"]
        if not verdict.ok:
            result.update(failed=True, msg=verdict.reason)
        return result
