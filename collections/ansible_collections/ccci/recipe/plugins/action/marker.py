# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check on the controller that a seeded data marker survived an operation."""

from __future__ import annotations

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
    from ccci.hooks import check_marker
except ImportError as exc:  # pragma: no cover - reported at run time
    check_marker = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


class ActionModule(ActionBase):
    """Fail with "marker lost" when the marker ``pre_<seeded_by>`` seeded is gone."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("run_dir", "seeded_by", "op", "after", "retry_for"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if check_marker is None:
            return {**result, "failed": True, "msg": ccci_missing(IMPORT_ERROR)}
        args = self._task.args
        run_dir = Path(args["run_dir"])
        try:
            spec, ssh = reach_host(self._connection, task_vars or {})
            with to_app(run_dir, ssh) as app_port:
                check = check_marker(
                    run_dir, args["seeded_by"], args["op"], args.get("after", ""),
                    host_spec=spec, app_port=app_port,
                    retry_for=float(args.get("retry_for", 0)),
                )
        except (CcciError, ValueError) as exc:
            return {**result, "failed": True, "msg": str(exc)}
        if not check.seeded:
            return {**result, "skipped": True,
                    "msg": f"no marker was seeded by pre_{args['seeded_by']}"}
        result.update(marker=check.description, found=check.found, seen=check.seen)
        if not check.found:
            result.update(failed=True, msg=f"marker lost after {args.get('after')}: "
                          f"{check.description} ({check.seen})")
        return result
