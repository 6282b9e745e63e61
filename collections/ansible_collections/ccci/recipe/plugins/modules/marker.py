#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the marker action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: marker
short_description: Check that a seeded data marker survived
description:
  - Runs on the controller. Looks in the live app for the marker the recipe's
    C(pre_<seeded_by>) hook returned (a text an HTTP path must serve, or a command
    inside a service's container must print) and records the check in the run.
  - Fails with C(marker lost) when it is not found; skipped when no marker was seeded.
  - Each probe runs in a child process killed after the recipe's C(HOOK_TIMEOUT)
    seconds, and at the end of O(retry_for) at the latest; a timed-out probe counts as
    not found and its C(seen) says C(timed out after N s).
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  run_dir:
    description: The run directory.
    type: path
    required: true
  seeded_by:
    description: The operation whose C(pre_) hook seeded the marker, e.g. C(upgrade).
    type: str
    required: true
  op:
    description: The operation just done (C(upgrade), C(restore)); the probe's hook
      context carries it as C(ctx.op).
    type: str
    required: true
  after:
    description: What just happened in words, for the record, e.g. C(upgrade to 1.2.0+1).
    type: str
    default: ""
  retry_for:
    description: Seconds to keep looking before declaring the marker lost.
    type: float
    default: 0
requirements:
  - the ccci Python package on the controller
"""

EXAMPLES = r"""
- name: The marker seeded before the upgrade must still be there
  ccci.recipe.marker:
    run_dir: "{{ context_run.run_dir }}"
    seeded_by: upgrade
    op: upgrade
    after: upgrade to 1.2.0+1.22
"""

RETURN = r"""
marker:
  description: What the marker is, in words.
  returned: when a marker was seeded
  type: str
found:
  description: Whether the marker was found.
  returned: when a marker was seeded
  type: bool
seen:
  description: What the probe saw (HTTP status or exit code, or the error).
  returned: when a marker was seeded
  type: str
"""
