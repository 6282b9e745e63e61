# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Append to a run's records and read back what roles act on, through ``ccci.rundir``."""

from __future__ import annotations

from pathlib import Path

from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.controller import CCCI_MISSING

try:
    from ccci.errors import CcciError
    from ccci.rundir import DeployEntry, RunDir, check_tier_status
except ImportError:  # pragma: no cover - reported at run time
    RunDir = None


class ActionModule(ActionBase):
    """Record a deploy or a tier event (or nothing) and return the run's state."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("run_dir", "deploy", "published_port", "stack", "tier", "status"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if RunDir is None:
            return {**result, "failed": True, "msg": CCCI_MISSING}
        args = self._task.args
        record = RunDir(Path(args["run_dir"]))
        try:
            if args.get("tier"):
                check_tier_status(str(args.get("status", "started")))  # before any write
            if args.get("deploy"):
                entry = DeployEntry(**args["deploy"])
                record.record_deploy(entry, published_port=int(args["published_port"]),
                                     stack=str(args["stack"]))
            if args.get("tier"):
                record.record_tier(str(args["tier"]), str(args.get("status", "started")))
            state = record.state()
        except (CcciError, TypeError, ValueError, KeyError) as exc:
            return {**result, "failed": True, "msg": f"cannot record in {record.path}: {exc}"}
        result.update(changed=bool(args.get("deploy") or args.get("tier")), state=state)
        return result
