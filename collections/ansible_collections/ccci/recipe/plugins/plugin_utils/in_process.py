# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one of the collection's modules inside the task's worker when the host is local.

A module run is a new Python process that unpacks its AnsiballZ payload and compiles
``ansible.module_utils.basic`` and the Docker SDK from it: about 0.3 CPU-s and as much
wall time, for work that takes milliseconds. On the local connection the worker that
Ansible already forked for the task runs the same Python the module would (the
inventory's interpreter is ``ansible_playbook_python``), so it can import the module
and call its ``main()`` with the arguments Ansible would have sent; the module's own
argument checks, check mode and ``no_log`` apply unchanged. Anything else (SSH, become,
async, a task ``environment``, another interpreter) runs the module the usual way.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import traceback
from typing import Any

from ansible.module_utils import basic
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.plugins.action import ActionBase

# What AnsibleModule would otherwise read from stdin: the module's arguments and the
# serialization profile its JSON is written in (the one of modules without metadata).
PROFILE = "legacy"


def runs_in_process(action: ActionBase, task_vars: dict[str, Any]) -> bool:
    """Whether the task's module may run in this worker: local connection, same Python,
    no privilege escalation, no async, no environment of its own."""
    task = action._task
    if action._connection.transport != "local" or action._play_context.become:
        return False
    if task.async_val or any(task.environment or []):
        return False
    interpreter = task_vars.get("ansible_python_interpreter")
    if interpreter is None:
        return False
    interpreter = action._templar.template(interpreter)
    return os.path.realpath(str(interpreter)) == os.path.realpath(sys.executable)


def run_module_here(action: ActionBase, module_name: str, module_args: dict[str, Any],
                    task_vars: dict[str, Any]) -> dict[str, Any]:
    """The result ``module_name`` of this collection gives for ``module_args``, run in
    this process exactly as its own process would run it (a crash is a failed result)."""
    args = dict(module_args)
    action._update_module_args(module_name, args, task_vars)
    short = module_name.rsplit(".", 1)[-1]
    module = importlib.import_module(f"ansible_collections.ccci.recipe.plugins.modules.{short}")
    out = io.StringIO()
    encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}, cls=encoder).encode()
    basic._ANSIBLE_PROFILE = PROFILE
    try:
        with contextlib.redirect_stdout(out):
            module.main()
    except SystemExit:
        pass  # exit_json and fail_json end with sys.exit once the result is printed
    except Exception as exc:
        return {"failed": True, "msg": f"{module_name} crashed: {exc!r}",
                "exception": traceback.format_exc()}
    finally:
        basic._ANSIBLE_ARGS = None
        basic._ANSIBLE_PROFILE = None
    return parse_result(module_name, out.getvalue())


def parse_result(module_name: str, printed: str) -> dict[str, Any]:
    """The module's printed JSON result, without Ansible's internal keys."""
    try:
        result = json.loads(printed.strip().splitlines()[-1] if printed.strip() else "")
    except ValueError:
        return {"failed": True, "msg": f"{module_name} printed no result",
                "module_stdout": printed}
    return {key: value for key, value in result.items() if not key.startswith("_ansible_")}


def execute_module(action: ActionBase, module_name: str, module_args: dict[str, Any],
                   task_vars: dict[str, Any]) -> dict[str, Any]:
    """``action._execute_module`` for a module of this collection, in this worker when
    the host allows it."""
    if runs_in_process(action, task_vars):
        return run_module_here(action, module_name, module_args, task_vars)
    return action._execute_module(module_name=module_name, module_args=module_args,
                                  task_vars=task_vars)


class InProcessModuleAction(ActionBase):
    """The action of a module of this collection that may run inside the worker."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(execute_module(self, self._task.action, self._task.args, task_vars or {}))
        return result
