#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the run_context action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_context
short_description: Load or create the context of one ccci run
description:
  - Runs on the controller. With O(run_dir) naming a run that already has a
    C(context.json), loads it. Otherwise validates the input, checks the recipe out at
    O(ref) into the run directory and plans the deploy (environment, compose chain,
    secrets, HTTP endpoint), refusing bad input before anything is deployed.
  - Returns the context, including the run's host values (C(host.workdir),
    C(host.restic_repository), C(host.restic_password_file), C(host.converge_timeout)
    and its source), and the role variables the recipe's CI config declares (for example
    C(check_health_path)); the C(ccci.recipe.context) role sets them as facts.
  - With O(tier), also asks the tier gate (C(ccci.gates), the same one C(ccci run)
    asks) and fails with its reason when the tier cannot run on this run's app.
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  run_dir:
    description: The run directory. Created when it has no context yet.
    type: path
  recipe:
    description: Recipe name; required when no context exists.
    type: str
  ref:
    description: Git ref of the recipe to deploy; default the repository's HEAD.
    type: str
  repo:
    description: Path of the recipe repository; default found by name on the search path.
    type: path
  domain:
    description: Domain of the app; default C(<recipe>-<run id>.ccci.test).
    type: str
  config_root:
    description: Folder of enrolled recipes' CI configs; default the project's C(recipes/).
    type: path
  upgrade:
    description: Also plan the published versions the upgrade tier deploys first.
    type: bool
    default: false
  upgrade_from:
    description: Start the upgrade this many published versions back and go through each.
    type: int
  tier:
    description: A tier (C(install), C(upgrade), C(backup), C(restore)) to ask the gate for.
    type: str
  ingress:
    description:
      - For a new run, how the app is reached - through the host's proxy by its names
        over https (C(traefik)), or on a port published on the host (C(direct)).
    type: str
    choices: [traefik, direct]
    default: traefik
  extra_domains:
    description:
      - For a new run, aliases of the app (C(${DOMAIN}) stands for its domain), added to
        the CI config's C(EXTRA_DOMAINS).
    type: list
    elements: str
    default: []
  trust_repo_code:
    description:
      - For a new run, let the code in the recipe repository's C(.ccci/) folder
        (C(hooks.py), C(tests/)) run on the controller, with the controller's rights.
        Without it that code is skipped and the run warns (CCCI-W901).
    type: bool
    default: false
requirements:
  - the ccci Python package on the controller
"""

EXAMPLES = r"""
- name: Load the run context
  ccci.recipe.run_context:
    run_dir: "{{ ccci_run_dir }}"
    recipe: example-site
  register: context

- name: Refuse the backup tier when it cannot run
  ccci.recipe.run_context:
    run_dir: "{{ context_run.run_dir }}"
    tier: backup
"""

RETURN = r"""
run_dir:
  description: The run directory.
  returned: success
  type: str
run_id:
  description: The run id, carried by every Docker object of the run as label C(ccci.run).
  returned: success
  type: str
context:
  description: The run context (run id, checkout, domain, stack, deploy environment, ...).
  returned: success
  type: dict
role_vars:
  description: Role variables from the recipe's CI config, by variable name.
  returned: success
  type: dict
gate:
  description: Why O(tier) cannot run, C(status) (C(skipped) or C(not_run)) and C(reason).
  returned: when the gate is closed
  type: dict
"""
