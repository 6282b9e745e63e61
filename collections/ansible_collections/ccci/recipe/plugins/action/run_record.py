# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Append to a run's records and read back what roles act on, through ``ccci.rundir``."""

from __future__ import annotations

import re
from pathlib import Path

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.controller import ccci_missing

IMPORT_ERROR = ""
try:
    from ccci import active_runs
    from ccci.errors import CcciError
    from ccci.janitor import mark_reaped
    from ccci.rundir import DeployEntry, ProbeRound, Redeploy, RunDir
except ImportError as exc:  # pragma: no cover - reported at run time
    RunDir = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"

PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _run_id(args: dict, record) -> str:
    """The run's id: given, else from its context; refused unless plain (paths use it)."""
    run_id = str(args.get("run_id") or record.context_data()["run_id"])
    if not PLAIN_ID.match(run_id):
        raise ValueError(f"not a plain run id: {run_id!r}")
    return run_id


def _end_of_run(args: dict, record) -> dict:
    """Mark the run reaped and/or remove it from the registry of active runs."""
    done: dict = {}
    if not (args.get("reaped") or boolean(args.get("unregister", False))):
        return done
    run_id = done["run_id"] = _run_id(args, record)
    if args.get("reaped"):
        done["reaped"] = mark_reaped(record.path, run_id, str(args["reaped"]))
    if boolean(args.get("unregister", False)):
        active_runs.forget(run_id)
        done["unregistered"] = run_id
    return done


class ActionModule(ActionBase):
    """Record a deploy, a tier event or the run's end (or nothing); return the run's state."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("run_dir", "deploy", "published_port", "stack", "tier", "status",
                             "run_id", "reaped", "unregister", "probe", "access_log",
                             "proxy_ca", "redeploy"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if RunDir is None:
            return {**result, "failed": True, "msg": ccci_missing(IMPORT_ERROR)}
        args = self._task.args
        record = RunDir(Path(args["run_dir"]))
        try:
            if args.get("deploy"):
                entry = DeployEntry(**args["deploy"])
                port = args.get("published_port")
                record.record_deploy(entry, published_port=int(port) if port else None,
                                     stack=str(args["stack"]))
            if args.get("tier"):
                record.record_tier(str(args["tier"]), str(args.get("status", "started")))
            if args.get("probe"):
                record.record_probe(ProbeRound(**args["probe"]))
            if args.get("redeploy"):
                record.record_redeploy(Redeploy(**args["redeploy"]))
            if args.get("proxy_ca"):
                record.save_proxy_ca(str(args["proxy_ca"]))
            if args.get("access_log") is not None:
                record.save_access_log([str(line) for line in args["access_log"]])
            ended = _end_of_run(args, record)
            state = record.state()
        except (CcciError, TypeError, ValueError, KeyError) as exc:
            return {**result, "failed": True, "msg": f"cannot record in {record.path}: {exc}"}
        changed = args.get("deploy") or args.get("tier") or args.get("probe") or ended or (
            args.get("redeploy")) or (
            args.get("access_log") is not None)
        result.update(changed=bool(changed),
                      state=state, **ended)
        return result
