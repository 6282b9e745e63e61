#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the lint action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lint
short_description: Apply ccci's lint rules to the recipe of a run
description:
  - Runs on the controller. Applies the lint rules (those of C(abra recipe lint), and
    rules comparing the version under test with the previous release) to the run's
    recipe at the commit under test, without deploying anything.
  - Records the findings in the run's C(lint.json). Fails when a finding is an error;
    warnings are returned and recorded.
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  run_dir:
    description: The run directory.
    type: path
    required: true
requirements:
  - the ccci Python package on the controller
"""

EXAMPLES = r"""
- name: Lint the recipe
  ccci.recipe.lint:
    run_dir: "{{ context_run.run_dir }}"
"""

RETURN = r"""
errors:
  description: How many findings are errors.
  returned: always
  type: int
warnings:
  description: How many findings are warnings.
  returned: always
  type: int
findings:
  description: Each finding (code, rule, severity, message, file, key, fix).
  returned: always
  type: list
  elements: dict
"""
