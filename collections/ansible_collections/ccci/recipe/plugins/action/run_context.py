# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load (or, for a manual run, create) the run context on the controller; ask a tier gate."""

from __future__ import annotations

from pathlib import Path

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.controller import ccci_missing

IMPORT_ERROR = ""
try:
    from ccci.config.registry import role_vars
    from ccci.context import create_run, load_run
    from ccci.errors import CcciError
    from ccci.gates import gate
    from ccci.rundir import RunDir
    from ccci.trust import DENY, policy
except ImportError as exc:  # pragma: no cover - reported at run time
    create_run = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


def _context(args: dict):
    """The run's context: loaded when the run directory has one, else created."""
    run_dir = Path(args["run_dir"]).expanduser().resolve() if args.get("run_dir") else None
    if run_dir and RunDir(run_dir).has_context():
        return load_run(run_dir), False
    if not args.get("recipe"):
        raise CcciError("no run context: pass recipe=NAME (or run_dir of a run)")
    context = create_run(
        args["recipe"], args.get("ref"), repo=args.get("repo"),
        domain=args.get("domain"), run_dir=run_dir,
        config_root=Path(args["config_root"]) if args.get("config_root") else None,
        upgrade=boolean(args.get("upgrade", False)),
        upgrade_from=int(args["upgrade_from"]) if args.get("upgrade_from") else None,
        ingress_mode=args.get("ingress") or "traefik",
        extra_domains=list(args.get("extra_domains") or []),
        trust=policy(flagged=args["recipe"]) if boolean(args.get("trust_repo_code", False))
        else DENY,
    )
    return context, True


class ActionModule(ActionBase):
    """Return the run context, the CI config's role variables and, with O(tier), its gate."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(
        ("run_dir", "recipe", "ref", "repo", "domain", "config_root", "upgrade",
         "upgrade_from", "tier", "ingress", "extra_domains", "trust_repo_code")
    )

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if create_run is None:
            return {**result, "failed": True, "msg": ccci_missing(IMPORT_ERROR)}
        args = self._task.args
        try:
            context, created = _context(args)
            config = context.recipe_config()
            closed = gate(args["tier"], context, RunDir(context.run_dir)) if args.get("tier") \
                else None
        except CcciError as exc:
            return {**result, "failed": True, "msg": str(exc)}
        values = {k: v for k, v in config.resolved().items() if not callable(v)}
        result.update(changed=created, context=context.as_dict(), role_vars=role_vars(values),
                      run_dir=context.run_dir, run_id=context.run_id)
        if closed:
            result.update(failed=True, gate={"status": closed.status, "reason": closed.reason},
                          msg=f"{args['tier']} {closed.status.replace('_', ' ')}: {closed.reason}")
        return result
