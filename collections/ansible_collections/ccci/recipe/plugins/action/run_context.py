# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load (or, for a manual run, create) the run context on the controller."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.ccci.recipe.plugins.module_utils.controller import CCCI_MISSING

try:
    from ccci.config import load_recipe_config
    from ccci.config.registry import role_vars
    from ccci.context import CONTEXT_FILE, create_run, load_run
    from ccci.errors import CcciError
except ImportError:  # pragma: no cover - reported at run time
    create_run = None


class ActionModule(ActionBase):
    """Return the run context and the role variables of the recipe's CI config."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(
        ("run_dir", "recipe", "ref", "repo", "domain", "config_root", "upgrade", "upgrade_from")
    )

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if create_run is None:
            return {**result, "failed": True, "msg": CCCI_MISSING}
        args = self._task.args
        run_dir = Path(args["run_dir"]).expanduser().resolve() if args.get("run_dir") else None
        try:
            if run_dir and (run_dir / CONTEXT_FILE).is_file():
                context = load_run(run_dir)
                created = False
            else:
                if not args.get("recipe"):
                    return {**result, "failed": True,
                            "msg": "no run context: pass recipe=NAME (or run_dir of a run)"}
                context = create_run(
                    args["recipe"], args.get("ref"), repo=args.get("repo"),
                    domain=args.get("domain"), run_dir=run_dir,
                    config_root=Path(args["config_root"]) if args.get("config_root") else None,
                    upgrade=boolean(args.get("upgrade", False)),
                    upgrade_from=int(args["upgrade_from"]) if args.get("upgrade_from") else None,
                )
                created = True
            config = load_recipe_config(context.recipe, Path(context.config_root))
        except CcciError as exc:
            return {**result, "failed": True, "msg": str(exc)}
        values = {k: v for k, v in config.resolved().items() if not callable(v)}
        run = {**asdict(context), "fresh_plan": context.first_plan}
        return {**result, "changed": created, "context": run,
                "role_vars": role_vars(values), "run_dir": context.run_dir,
                "run_id": context.run_id}
