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
    host_spec,
)

IMPORT_ERROR = ""
try:
    from ccci.errors import CcciError
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
            verdict = run_functional(Path(args["run_dir"]), host_spec=host_spec(task_vars or {}),
                                     generic_only=boolean(args.get("generic_only", False)))
        except CcciError as exc:
            return {**result, "failed": True, "msg": str(exc)}
        result.update(counts=verdict.counts, generic_skipped=verdict.generic_skipped,
                      reason=verdict.reason)
        if verdict.generic_skipped and os.environ.get("CI", "").lower() == "true":
            result["warnings"] = [f"{SKIP_GENERIC} is set in CI: the generic checks were "
                                  "skipped; results.json records it"]
        if not verdict.ok:
            result.update(failed=True, msg=verdict.reason)
        return result
