#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: access_log
short_description: Select the proxy's access-log lines of some host names
version_added: "0.1.0"
description:
  - Reads Traefik's JSON access log (one request a line) and returns the lines whose
    C(RequestHost) is one of O(hosts), optionally only requests that started at or
    after O(since).
  - A run keeps these lines (every request to its app, with the router that took it,
    the status and the timing) in its run directory.
  - Lines that are not JSON objects are skipped. A missing log returns no line.
  - Never changes anything. On a local connection the action plugin of the same name
    reads the log in the controller's process (no module to start); elsewhere it runs
    this module on the host.
options:
  path:
    description: The access log on the host.
    type: path
    default: /var/lib/ccci/proxy/log/access.log
  hosts:
    description: Host names whose requests are selected (compared case-insensitively).
    type: list
    elements: str
    required: true
  since:
    description:
      - ISO 8601 UTC time (C(2026-11-27T09:00:00)); requests whose C(StartUTC) is
        earlier are left out. Compared to the second.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reading changes nothing, so check mode runs normally.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - ccci developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read the proxy's lines of a run's app
  ccci.recipe.access_log:
    hosts: [notes-1a2b3c4d.ccci.test, www.notes-1a2b3c4d.ccci.test]
    since: "2026-11-27T09:00:00"
  register: run_access_log
"""

RETURN = r"""
lines:
  description: The selected lines, as written in the log (JSON text), oldest first.
  returned: always
  type: list
  elements: str
scanned:
  description: Lines of the log read.
  returned: always
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils.access_log import select


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/var/lib/ccci/proxy/log/access.log"},
            "hosts": {"type": "list", "elements": "str", "required": True},
            "since": {"type": "str"},
        },
        supports_check_mode=True,
    )
    hosts = {h.lower().rstrip(".") for h in module.params["hosts"]}
    since = module.params["since"] or ""
    path = module.params["path"]
    if not os.path.isfile(path):
        module.exit_json(changed=False, lines=[], scanned=0)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines, scanned = select(handle, hosts, since)
    except OSError as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}", lines=[], scanned=0)
    module.exit_json(changed=False, lines=lines, scanned=scanned)


if __name__ == "__main__":
    main()
