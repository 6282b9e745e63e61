#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_probe
short_description: Request an app by each of its names on the host's loopback until it is healthy
version_added: "0.1.0"
description:
  - Requests each of O(targets) (a name and a path) on O(address):O(port) of the host,
    with the name as the TLS server name (SNI) and as the C(Host) header, exactly as a
    browser resolving the name to the host would. With O(scheme=https) the certificate
    must verify against O(ca_path) only (the proxy's CA) and match the name.
  - Repeats every O(interval) seconds until every target answers one of O(ok_status),
    or O(timeout) seconds have passed. Redirects are not followed.
  - A target whose O(targets[].unrouted) is set (the static reading of the labels says
    the proxy cannot serve it) fails as soon as it has not answered well for
    O(route_wait) seconds, the time the proxy needs to read new labels, rather than at
    O(timeout).
  - A failed target's message names the URL, the last answer (an HTTP status, a TLS
    error, a refused connection) and what it means - O(targets[].unrouted) first, then
    O(targets[].on_404) for Traefik's own 404 (C(404 page not found), no router took the
    request; an app's 404 is the app's), O(targets[].on_bad_gateway) for a 502, 503, 504
    or no answer in time. A refused connection to a proxy (O(proxy=true)) says the proxy is
    not running.
  - Uses the Python standard library only (C(http.client), C(ssl)); changes nothing.
options:
  targets:
    description: What to request; each target is one name and one path.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: DNS name of the app, sent in SNI and C(Host); never resolved.
        type: str
        required: true
      path:
        description: Path to request, with its leading C(/).
        type: str
        required: true
      router:
        description: The Traefik router meant to serve the request, for the report.
        type: str
      unrouted:
        description: Why the proxy cannot serve it, by the labels; empty when it can.
        type: str
        default: ""
      on_404:
        description: What a 404 means for this target (which label to fix).
        type: str
        default: ""
      on_bad_gateway:
        description: What a 502, 503 or 504 (or no answer in time) means for this target.
        type: str
        default: ""
  address:
    description: Address connected to. Loopback only in CI.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port connected to (the proxy's HTTPS port, or the app's published port).
    type: int
    required: true
  scheme:
    description: C(https) through the proxy, C(http) to a directly published port.
    type: str
    choices: [http, https]
    default: https
  ca_path:
    description:
      - CA certificate file (PEM) the server's certificate must chain to; the only
        trust anchor. Required with O(scheme=https).
    type: path
  proxy:
    description: Whether O(port) is a proxy's (a refused connection is then the host's fault).
    type: bool
    default: true
  ok_status:
    description: Status codes that count as healthy (the recipe's C(HEALTH_OK)).
    type: list
    elements: int
    default: [200]
  timeout:
    description: Seconds every target may take to answer well.
    type: float
    default: 60
  route_wait:
    description: Seconds a target with O(targets[].unrouted) set is given before it fails.
    type: float
    default: 10
  interval:
    description: Seconds between two rounds of requests.
    type: float
    default: 0.5
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 5
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Requesting changes nothing, so check mode runs normally.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - ccci developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Wait until the app answers through the proxy under its domain and an alias
  ccci.recipe.app_probe:
    port: 18443
    ca_path: /var/lib/ccci/proxy/ca/ca.crt
    targets:
      - {name: notes-1a2b3c4d.ccci.test, path: /health, router: notes-1a2b3c4d_ccci_test}
      - {name: www.notes-1a2b3c4d.ccci.test, path: /health}
    ok_status: [200]
    timeout: 60

- name: Probe a directly published port with the domain as Host
  ccci.recipe.app_probe:
    port: 20417
    scheme: http
    proxy: false
    targets:
      - {name: notes-1a2b3c4d.ccci.test, path: /health}
"""

RETURN = r"""
probes:
  description: One entry per target, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name requested.
      type: str
    path:
      description: The path requested.
      type: str
    router:
      description: The router meant to serve it, if known.
      type: str
    url:
      description: The URL as a browser would show it.
      type: str
      sample: https://notes-1a2b3c4d.ccci.test:18443/health
    status:
      description: The last HTTP status, or null when there was no HTTP answer.
      type: int
    error:
      description: Why there was no HTTP answer (TLS, connection), else empty.
      type: str
    ok:
      description: Whether it answered one of O(ok_status).
      type: bool
    seconds:
      description: Seconds from the first request until it answered well, or until it failed.
      type: float
    attempts:
      description: Requests made.
      type: int
    reason:
      description: For a failed target, what its answer means and which label to fix.
      type: str
elapsed:
  description: Seconds the module waited in all.
  returned: always
  type: float
ca_pem:
  description:
    - The CA certificate of O(ca_path) (public), for clients on the controller that
      must trust the same CA (ccci keeps it in the run directory).
  returned: with O(scheme=https), once the file was read
  type: str
"""

import http.client
import socket
import ssl
import time

from ansible.module_utils.basic import AnsibleModule

BAD_GATEWAY = (502, 503, 504)
# Traefik's answer when no router takes a request (Go's http.NotFound).
PROXY_404 = b"404 page not found\n"


class Target:
    """One name and path, and what its requests gave so far."""

    def __init__(self, spec: dict, base: str) -> None:
        self.spec = spec
        self.url = f"{base.replace('NAME', spec['name'])}{spec['path']}"
        self.status: int | None = None
        self.body = b""
        self.error = ""
        self.ok = False
        self.failed = False
        self.seconds = 0.0
        self.attempts = 0

    @property
    def done(self) -> bool:
        return self.ok or self.failed

    def result(self, reason: str = "") -> dict:
        return {"name": self.spec["name"], "path": self.spec["path"],
                "router": self.spec.get("router"), "url": self.url, "status": self.status,
                "error": self.error, "ok": self.ok, "seconds": round(self.seconds, 3),
                "attempts": self.attempts, "reason": reason}


def _words(exc: BaseException, params: dict) -> str:
    """An error in words of our own: Python's texts ("Connection reset by peer") read
    like a network failure to the failure classifier, which is not what they mean here."""
    where = f"{params['address']}:{params['port']}"
    if isinstance(exc, ConnectionRefusedError):
        if params["proxy"]:
            return (f"no answer from the proxy on {where} (connection refused): the host's "
                    "proxy stack is not running")
        return f"connection refused on {where}: nothing listens on the published port"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the certificate does not verify ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {params['request_timeout']:g} s"
    if isinstance(exc, (ConnectionError, http.client.HTTPException)):
        return f"the connection closed without an answer ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


class _Connection(http.client.HTTPSConnection):
    """HTTPS to an address, with the app's name (not the address) in SNI and verification."""

    def __init__(self, address: str, port: int, name: str, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self.server_name = name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


def request(target: Target, params: dict, context: ssl.SSLContext | None) -> None:
    """One request; sets the target's status or error."""
    name = target.spec["name"]
    target.attempts += 1
    if context is not None:
        conn: http.client.HTTPConnection = _Connection(
            params["address"], params["port"], name, params["request_timeout"], context)
    else:
        conn = http.client.HTTPConnection(params["address"], params["port"],
                                          timeout=params["request_timeout"])
    try:
        conn.request("GET", target.spec["path"], headers={
            "Host": f"{name}:{params['port']}", "User-Agent": "ccci-app-probe",
            "Connection": "close"})
        response = conn.getresponse()
        target.body = response.read(len(PROXY_404) + 1)
        target.status, target.error = response.status, ""
    except (OSError, http.client.HTTPException) as exc:
        target.status, target.error = None, _words(exc, params)
    finally:
        conn.close()


def reason(target: Target, ok_status: list) -> str:
    """What the last answer means for this target, naming the label to fix if known."""
    spec = target.spec
    got = f"HTTP {target.status}" if target.status is not None else target.error
    where = f"{target.url}" + (f" (router {spec['router']})" if spec.get("router") else "")
    meaning = spec.get("unrouted") or ""
    if not meaning and target.status == 404 and target.body == PROXY_404:
        meaning = spec.get("on_404") or ""  # the proxy's own 404: no router took it
    if not meaning and (target.status in BAD_GATEWAY or got.startswith("no answer within")):
        meaning = spec.get("on_bad_gateway") or ""
    if not meaning and target.status is not None:
        meaning = f"the app answered {target.status}, not one of {ok_status} (HEALTH_OK)"
    return f"{where}: {got}" + (f": {meaning}" if meaning else "")


def probe(targets: list[Target], params: dict, context: ssl.SSLContext | None) -> float:
    """Rounds of requests until every target is done; returns the seconds spent."""
    started = time.monotonic()
    deadline = started + params["timeout"]
    while True:
        for target in (t for t in targets if not t.done):
            request(target, params, context)
            target.seconds = time.monotonic() - started
            target.ok = target.status in params["ok_status"]
            if not target.ok and target.spec.get("unrouted") and (
                    target.seconds >= params["route_wait"]):
                target.failed = True
        if all(t.done for t in targets) or time.monotonic() >= deadline:
            break
        time.sleep(params["interval"])
    for target in targets:
        target.failed = not target.ok
    return time.monotonic() - started


def _context(params: dict, module: AnsibleModule) -> tuple[ssl.SSLContext | None, dict]:
    """The TLS context trusting O(ca_path) only, and the CA to return; none over http."""
    if params["scheme"] != "https":
        return None, {}
    if not params["ca_path"]:
        module.fail_json(msg="ca_path is required with scheme=https", probes=[], elapsed=0)
    try:
        with open(params["ca_path"], encoding="ascii") as handle:
            pem = handle.read()
        return ssl.create_default_context(cadata=pem), {"ca_pem": pem}
    except (OSError, ssl.SSLError, ValueError) as exc:
        module.fail_json(msg=f"cannot read the CA {params['ca_path']}: {exc}: the host is not "
                         "prepared (ansible-playbook playbooks/prepare-host.yml)",
                         probes=[], elapsed=0)
    return None, {}  # not reached: fail_json exits


def main() -> None:
    target_spec = {
        "name": {"type": "str", "required": True},
        "path": {"type": "str", "required": True},
        "router": {"type": "str"},
        "unrouted": {"type": "str", "default": ""},
        "on_404": {"type": "str", "default": ""},
        "on_bad_gateway": {"type": "str", "default": ""},
    }
    module = AnsibleModule(
        argument_spec={
            "targets": {"type": "list", "elements": "dict", "required": True,
                        "options": target_spec},
            "address": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "required": True},
            "scheme": {"type": "str", "choices": ["http", "https"], "default": "https"},
            "ca_path": {"type": "path"},
            "proxy": {"type": "bool", "default": True},
            "ok_status": {"type": "list", "elements": "int", "default": [200]},
            "timeout": {"type": "float", "default": 60},
            "route_wait": {"type": "float", "default": 10},
            "interval": {"type": "float", "default": 0.5},
            "request_timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    params = module.params
    context, ca = _context(params, module)
    base = f"{params['scheme']}://NAME:{params['port']}"
    targets = [Target(spec, base) for spec in params["targets"]]
    elapsed = round(probe(targets, params, context), 3)
    results = [t.result("" if t.ok else reason(t, params["ok_status"])) for t in targets]
    failed = [r["reason"] for r in results if not r["ok"]]
    if failed:
        module.fail_json(msg="the app did not answer well: " + "; ".join(failed),
                         probes=results, elapsed=elapsed, **ca)
    module.exit_json(changed=False, probes=results, elapsed=elapsed, **ca)


if __name__ == "__main__":
    main()
