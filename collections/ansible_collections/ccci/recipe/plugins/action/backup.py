# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back the app up, verify the backup, and redo the whole backup when it fails."""

from __future__ import annotations

import time
from pathlib import Path

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.ccci.recipe.plugins.module_utils.controller import (
    ccci_missing,
    reach_host,
)
from ansible_collections.ccci.recipe.plugins.plugin_utils.in_process import execute_module

IMPORT_ERROR = ""
try:
    from ccci.errors import CcciError
    from ccci.forward import to_app
    from ccci.hooks import has_hook, run_hook
    from ccci.rundir import RunDir
except ImportError as exc:  # pragma: no cover - reported at run time
    run_hook = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"

display = Display()

MODULE_ARGS = ("stack", "repository", "password_file", "tags", "volumes_root", "hook_timeout",
               "hash_limit", "create_password")


class ActionModule(ActionBase):
    """Each attempt: ``backupbot_backup`` on the host, then BACKUP_VERIFY on the controller.

    Before a retry the stack must converge again: a database killed mid-dump is back
    (restarted by swarm) before its pre-hook runs again.
    """

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(
        (*MODULE_ARGS, "run_dir", "attempts", "retry_delay", "settle_timeout")
    )

    def _verify(self, run_dir: Path, module_result: dict, args: dict, task_vars: dict) -> str:
        """Why the backup cannot be trusted, or an empty string."""
        snapshot = {
            "id": module_result["snapshot_id"],
            "repository": args["repository"],
            "password_file": args["password_file"],
            "paths": tuple(p["path"] for p in module_result.get("paths", [])),
        }
        if not has_hook(run_dir, "BACKUP_VERIFY"):
            return ""
        try:
            spec, ssh = reach_host(self._connection, task_vars)
        except ValueError as exc:
            return f"BACKUP_VERIFY: {exc}"
        with to_app(run_dir, ssh) as app_port:
            outcome = run_hook(run_dir, "BACKUP_VERIFY", "backup", host_spec=spec,
                               snapshot=snapshot, require_true=True, app_port=app_port)
        return f"BACKUP_VERIFY: {outcome.error}" if outcome.called and not outcome.ok else ""

    def _attempt(self, number: int, run_dir: Path, module_args: dict, task_vars: dict) -> dict:
        """One whole backup on the host, then BACKUP_VERIFY; the reason is empty when good."""
        began = time.monotonic()
        res = execute_module(self, "ccci.recipe.backupbot_backup", module_args, task_vars)
        attempt = {
            "attempt": number,
            "snapshot_id": res.get("snapshot_id"),
            "total_bytes": res.get("total_bytes"),
            "data_added": res.get("data_added"),
            "paths": res.get("paths", []),
            "hash_limit": res.get("hash_limit"),
            "warnings": list(res.get("verify_warnings") or []),
        }
        reason = str(res.get("msg", "backup failed")) if res.get("failed") else ""
        if not reason:
            try:
                reason = self._verify(run_dir, res, module_args, task_vars)
            except CcciError as exc:
                reason = f"BACKUP_VERIFY: {exc}"
        attempt.update(ok=not reason, reason=reason, duration=round(time.monotonic() - began, 3))
        return attempt

    def _settle(self, args: dict, task_vars: dict) -> bool:
        """Wait for the stack to converge again before a retry; whether it did."""
        time.sleep(float(args.get("retry_delay", 2)))
        settled = execute_module(
            self, "ccci.recipe.stack_converge",
            {"stack": args["stack"], "timeout": int(args["settle_timeout"])}, task_vars)
        return not settled.get("failed")

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if run_hook is None:
            return {**result, "failed": True, "msg": ccci_missing(IMPORT_ERROR)}
        task_vars = task_vars or {}
        args = self._task.args
        if not args.get("settle_timeout"):
            return {**result, "failed": True, "msg": "settle_timeout is required"}
        run_dir = Path(args["run_dir"])
        module_args = {k: args[k] for k in MODULE_ARGS if args.get(k) is not None}
        attempts = []
        started = time.monotonic()
        allowed = int(args.get("attempts", 3))
        for number in range(1, allowed + 1):
            attempts.append(self._attempt(number, run_dir, module_args, task_vars))
            if attempts[-1]["ok"] or number == allowed:
                break  # no wait for convergence when there is no retry to make
            attempts[-1]["settled"] = self._settle(args, task_vars)
        final = attempts[-1]
        backup = {
            "ok": final["ok"],
            "snapshot_id": final["snapshot_id"] if final["ok"] else None,
            "total_bytes": final["total_bytes"],
            "data_added": final["data_added"],
            "warnings": final["warnings"],
            "attempts": attempts,
            "duration": round(time.monotonic() - started, 3),
        }
        RunDir(run_dir).record_backup(backup)
        for warning in final["warnings"]:
            display.warning(f"backup: {warning}")
        result.update(changed=True, backup=backup)
        if not final["ok"]:
            result.update(failed=True, msg=f"backup failed after {len(attempts)} attempt(s): "
                          f"{final['reason']}")
        return result
