#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the hook action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hook
short_description: Call a hook from the recipe's C(hooks.py)
description:
  - Runs on the controller. Loads the recipe's CI config, builds the frozen hook
    context (domain, base URL, meta, deps, operation, a way into the app's containers)
    and calls the hook. Skipped when the recipe does not define it.
  - With O(retry_for) the hook is a probe, called until it returns a true value.
  - Each call runs in a child process of its own, killed with every process it started
    after the recipe's C(HOOK_TIMEOUT) seconds (C(HOOK_TIMEOUTS) per hook; default 300),
    and for a probe at the end of O(retry_for) at the latest. A timed-out call fails
    with C(timed out after N s); a probe's timed-out call counts as "not yet".
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  name:
    description: Hook name, for example C(READY_PROBE) or C(pre_install).
    type: str
    required: true
  op:
    description: The operation in progress, given to the hook as C(ctx.op).
    type: str
    default: ""
  run_dir:
    description: The run directory.
    type: path
    required: true
  retry_for:
    description: Seconds to keep calling a probe until it returns a true value.
    type: float
    default: 0
  interval:
    description: Seconds between probe attempts.
    type: float
    default: 2
requirements:
  - the ccci Python package on the controller
"""

EXAMPLES = r"""
- name: Wait until the app says it is ready
  ccci.recipe.hook:
    name: READY_PROBE
    op: install
    run_dir: "{{ context_run.run_dir }}"
    retry_for: 60
"""

RETURN = r"""
hook:
  description: The hook called.
  returned: when called
  type: str
attempts:
  description: How many times the hook was called.
  returned: when called
  type: int
returned:
  description: What the hook returned (its repr when not JSON-serialisable).
  returned: when called
  type: raw
timed_out:
  description: Whether the last call was killed at its time limit.
  returned: when called
  type: bool
"""
