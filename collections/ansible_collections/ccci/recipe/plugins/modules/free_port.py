#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: free_port
short_description: Find a free TCP port on the target
version_added: "0.1.0"
description:
  - Returns a TCP port that nothing listens on at the moment, found by binding a
    socket on O(host) and closing it again.
  - Without a range the kernel picks the port (binding port 0). With O(start)
    (and optionally O(end)) the first port of the range that can be bound is
    returned.
  - The port is only known to be free when the module returns; use it right away.
options:
  host:
    description: The address to bind. Only loopback is expected in CI.
    type: str
    default: 127.0.0.1
  start:
    description: First port of the range to search.
    type: int
  end:
    description:
      - Last port of the range to search (inclusive).
      - Defaults to 65535 when O(start) is set.
    type: int
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Finding a port changes nothing, so check mode runs normally.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - ccci developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Pick a port for the app's published HTTP port
  ccci.recipe.free_port:
  register: http_port

- name: Pick a port between 20000 and 20999
  ccci.recipe.free_port:
    start: 20000
    end: 20999
  register: ranged_port

- name: Use it
  ansible.builtin.debug:
    msg: "publishing on 127.0.0.1:{{ http_port.port }}"
"""

RETURN = r"""
port:
  description: A TCP port that could be bound on O(host).
  returned: success
  type: int
  sample: 41233
host:
  description: The address the port was checked on.
  returned: always
  type: str
  sample: 127.0.0.1
"""

import errno
import socket

from ansible.module_utils.basic import AnsibleModule


def try_bind(host: str, port: int) -> int | None:
    """Bind host:port, return the bound port, or None when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As a listener would bind (docker-proxy does): connections of an app torn
        # down a moment ago, still in TIME_WAIT, do not make the port taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return None
            raise
        return int(sock.getsockname()[1])


def find_port(host: str, start: int | None, end: int | None) -> int | None:
    if start is None and end is None:
        return try_bind(host, 0)
    first = start if start is not None else 1024
    last = end if end is not None else 65535
    for port in range(first, last + 1):
        found = try_bind(host, port)
        if found is not None:
            return found
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "default": "127.0.0.1"},
            "start": {"type": "int"},
            "end": {"type": "int"},
        },
        supports_check_mode=True,
    )
    host: str = module.params["host"]
    start: int | None = module.params["start"]
    end: int | None = module.params["end"]
    for name, value in (("start", start), ("end", end)):
        if value is not None and not 1 <= value <= 65535:
            module.fail_json(msg=f"{name} must be between 1 and 65535, got {value}", host=host)
    if start is not None and end is not None and start > end:
        module.fail_json(msg=f"start ({start}) is greater than end ({end})", host=host)
    try:
        port = find_port(host, start, end)
    except OSError as exc:
        module.fail_json(msg=f"cannot bind a TCP socket on {host}: {exc}", host=host)
    if port is None:
        module.fail_json(msg=f"no free TCP port on {host} between {start} and {end}", host=host)
    module.exit_json(changed=False, port=port, host=host)


if __name__ == "__main__":
    main()
