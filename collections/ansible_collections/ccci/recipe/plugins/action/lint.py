# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lint the run's recipe on the controller, the same way for ``ccci run`` and
``ansible-playbook``."""

from __future__ import annotations

from pathlib import Path

from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.controller import ccci_missing

IMPORT_ERROR = ""
try:
    from ccci.errors import CcciError
    from ccci.lint.apply import lint_run
except ImportError as exc:  # pragma: no cover - reported at run time
    lint_run = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


class ActionModule(ActionBase):
    """The lint rules on the commit under test; fails on an error finding, naming the
    first ones."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("run_dir",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if lint_run is None:
            return {**result, "failed": True, "msg": ccci_missing(IMPORT_ERROR)}
        try:
            linted = lint_run(Path(self._task.args["run_dir"]))
        except CcciError as exc:
            return {**result, "failed": True, "msg": str(exc)}
        result.update(errors=linted.errors, warnings=len(linted.findings) - linted.errors,
                      findings=[f.as_dict() for f in linted.findings])
        if linted.error:
            result.update(failed=True, msg=f"the recipe could not be linted: {linted.error}")
        elif linted.errors:
            first = [f"{f.code} {f.message}" for f in linted.findings if f.is_error][:3]
            result.update(failed=True, msg=f"{linted.errors} lint error(s): " + "; ".join(first))
        return result
