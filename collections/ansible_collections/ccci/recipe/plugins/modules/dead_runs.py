#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the dead_runs action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dead_runs
short_description: List the ccci runs whose process died, for the janitor to reap
description:
  - Runs on the controller and changes nothing. Reads the registry of active runs
    (C($CCCI_STATE_DIR/runs), through the C(ccci.janitor) module of the ccci package)
    and returns the runs of this host that no live process holds and that are not kept
    (their C(ccci run) was killed), with each run's saved context, the input of the
    C(ccci.recipe.teardown) role.
  - A run whose process is alive is never returned, even past its deadline; it is
    listed in RV(reported). A kept run (C(ccci run --keep)) is returned only with
    O(expired), once past its deadline.
  - A run was registered with its swarm host, C(local) for the default inventory or
    the path of the inventory it was run with; only runs of this task's inventory are
    returned, the others are reported with the inventory that reaps them.
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  expired:
    description: Also return kept runs past their deadline.
    type: bool
    default: false
  host:
    description: The registry host whose runs to return (C(local) or an inventory path);
      by default the one this task's inventory stands for.
    type: str
requirements:
  - the ccci Python package on the controller
"""

EXAMPLES = r"""
- name: Find the dead runs of this inventory's host
  ccci.recipe.dead_runs:
  register: janitor_found
"""

RETURN = r"""
runs:
  description: The runs to reap, each with C(run_id), C(run_dir), C(stack), C(reason)
    (e.g. C(process 1234 is gone)), C(context) (the saved run context, or null when
    the run died before saving it) and C(context_error).
  returned: success
  type: list
  elements: dict
reported:
  description: Runs left alone but worth saying, each with C(run_id), C(state), C(reason)
    and C(host) (a live run past its deadline, a kept one, a dead run of another host).
  returned: success
  type: list
  elements: dict
hosts:
  description: The registry hosts this task stood for.
  returned: success
  type: list
  elements: str
"""
