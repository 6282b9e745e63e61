#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the functional action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: functional
short_description: Run the recipe's functional tests and ccci's generic checks
description:
  - Runs on the controller. Runs the recipe's own pytest files (C(tests/test_*.py) in
    its CI config folder) and ccci's generic checks as one pytest session against the
    run's live app, with ccci's fixtures (C(app), C(http), C(host), C(service), C(page),
    C(deps)) and a real browser (Debian's chromium).
  - The session runs in a child process group of its own. A test past the recipe's
    C(TEST_TIMEOUT) is stopped and reported as timed out; the whole session is killed
    at C(FUNCTIONAL_TIMEOUT). Fails when a test failed, errored or timed out.
  - Every test and screenshot is recorded in the run's C(functional.json); screenshots
    are PNG files in the run's C(screenshots) folder.
  - The environment variable C(CCCI_SKIP_GENERIC) leaves the generic checks out (local
    development only; with C(CI=true) it warns).
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  run_dir:
    description: The run directory.
    type: path
    required: true
  generic_only:
    description:
      - Run the generic checks only, not the recipe's tests (for the upgraded app of a
        full run, since the recipe's tests run on the fresh install).
    type: bool
    default: false
requirements:
  - the ccci Python package on the controller, Playwright and Debian's chromium
"""

EXAMPLES = r"""
- name: Run the functional tests
  ccci.recipe.functional:
    run_dir: "{{ context_run.run_dir }}"
"""

RETURN = r"""
counts:
  description: How many tests ended in each outcome (passed, failed, error, skipped, timeout).
  returned: always
  type: dict
  sample: {passed: 7, skipped: 1}
generic_skipped:
  description: Whether CCCI_SKIP_GENERIC left the generic checks out.
  returned: always
  type: bool
reason:
  description: Why the tier failed, naming the first failing tests; empty when it passed.
  returned: always
  type: str
"""
