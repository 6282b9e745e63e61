#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the run_record action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_record
short_description: Append to a ccci run's records and read the state roles act on
description:
  - Runs on the controller. The run directory's records (C(deploy.json),
    C(tiers.json), ...) have one reader and writer, the C(ccci.rundir) module of the
    ccci package; roles go through this action instead of reading or writing the files.
  - With O(deploy), appends one deploy and the published port to C(deploy.json). With
    O(tier), records that the tier's stage started or passed in C(tiers.json); the tier
    gates judge from it. With O(probe), appends a check of the app's routes to
    C(probes.json); with O(access_log), keeps the proxy's lines of the run. With none of
    them, only reads.
  - At the end of a run, O(reaped) records in its C(results.json) that the janitor tore
    it down and why, and O(unregister) removes it from the registry of active runs
    (C($CCCI_STATE_DIR/runs)), so the janitor and C(ccci ls) no longer see it.
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  run_dir:
    description: The run directory.
    type: path
    required: true
  deploy:
    description: One deploy; keys C(op), C(plan), C(commit), C(expected_version),
      C(version), C(converged), C(elapsed), C(timeout), C(timeout_source), C(started).
    type: dict
  published_port:
    description:
      - The app's published HTTP port, with O(deploy); null or omitted when the app
        publishes none (it is reached through the proxy).
    type: int
  stack:
    description: The run's stack; required with O(deploy).
    type: str
  tier:
    description: A tier whose stage started or passed.
    type: str
  status:
    description: What happened to O(tier).
    type: str
    choices: [started, passed]
    default: started
  run_id:
    description: The run's id, for O(reaped) and O(unregister); by default the one of the
      run's saved context (a run that died before saving it needs it given).
    type: str
  reaped:
    description: Why the janitor reaped the run (e.g. C(process 1234 is gone)); written to
      C(results.json) as C(reaped) with the time, keeping what the run already recorded
      there (a run without results gets them from its records, with exit code 1).
    type: str
  unregister:
    description: Remove the run from the registry of active runs (its teardown is done).
    type: bool
    default: false
  redeploy:
    description: The install tier's idempotence check, saved as C(idempotence.json);
      keys C(plan) and C(changes) (what M(ccci.recipe.stack_revisions) returned
      after deploying the same plan again).
    type: dict
  probe:
    description: One check of the live app, appended to C(probes.json); keys C(op),
      C(plan), C(mode) (the ingress), C(ok), C(elapsed) and C(probes) (what
      M(ccci.recipe.app_probe) returned for each name and path).
    type: dict
  access_log:
    description: The proxy's access-log lines of the run's names (M(ccci.recipe.access_log)),
      written to the run directory's C(proxy-access.log), replacing what it held.
    type: list
    elements: str
  proxy_ca:
    description: The proxy's CA certificate (PEM, public), kept as the run directory's
      C(proxy-ca.crt) for clients of the app on the controller.
    type: str
requirements:
  - the ccci Python package on the controller
"""

EXAMPLES = r"""
- name: Read the published port of this run
  ccci.recipe.run_record:
    run_dir: "{{ context_run.run_dir }}"
  register: recorded

- name: Record that the install tier passed
  ccci.recipe.run_record:
    run_dir: "{{ context_run.run_dir }}"
    tier: install
    status: passed

- name: Remove the torn-down run from the registry of active runs
  ccci.recipe.run_record:
    run_dir: "{{ context_run.run_dir }}"
    unregister: true
"""

RETURN = r"""
state:
  description: C(published_port), C(live_plan), C(deploys) and C(fresh_deploys) (counts),
    C(version_deployed) and C(last_good_snapshot) of the run.
  returned: success
  type: dict
run_id:
  description: The run O(reaped) or O(unregister) acted on.
  returned: with O(reaped) or O(unregister)
  type: str
reaped:
  description: C(at), C(by) and C(reason) as written to C(results.json); null when the run
    directory is gone.
  returned: with O(reaped)
  type: dict
unregistered:
  description: The run id removed from the registry.
  returned: with O(unregister)
  type: str
"""
