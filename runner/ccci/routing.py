"""A recipe's Traefik routers, read from its labels, and what the install check probes.

Traefik routes an app by the labels of its swarm services (read after interpolation,
as ``docker stack deploy`` sets them): ``traefik.enable=true``, one router per
``traefik.http.routers.<r>.*`` group (its rule, entrypoints, TLS, service) and the
port of each ``traefik.http.services.<s>.loadbalancer.server.port``; Traefik reaches
the service on the ``proxy`` network. Planning reads every router of a plan
(``read_routers``); the check probes each router under each of the run's names it
matches, at its path prefix or HEALTH_PATH (``probe_targets``), and when a probe
fails, the static reading and the answer together say which label to fix: a name no
rule matches (Traefik's 404) is the rule; a router Traefik cannot serve is
``traefik.enable``, the network, the entrypoint or TLS; a 502 or 504 is the load
balancer port the app does not listen on.

Rules are read in the shapes recipes use (``Host(`a`, `b`)``, ``Host(`a`) ||
Host(`b`)``, ``&& PathPrefix(`/p`)``, ``HostRegexp``); other matchers are kept in the
rule text and do not change what is probed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ccci.compose import labels_of

ENTRYPOINT = "web-secure"
PROXY_NETWORK = "proxy"
_ROUTER = re.compile(r"^traefik\.http\.routers\.(?P<router>[^.]+)\.(?P<key>.+)$")
_SERVICE_PORT = re.compile(
    r"^traefik\.http\.services\.(?P<service>[^.]+)\.loadbalancer\.server\.port$")
_MATCHER = re.compile(r"(?P<matcher>HostRegexp|Host|PathPrefix|Path)\s*\((?P<args>[^)]*)\)")
_ARG = re.compile(r"`([^`]*)`|\"((?:[^\"\\]|\\.)*)\"")
_V2_GROUP = re.compile(r"\{[^:{}]+:([^{}]+)\}|\{[^:{}]+\}")


@dataclass
class Router:
    """One HTTP router of the recipe, as Traefik reads it from a service's labels."""

    name: str
    service: str  # the compose service whose labels declare it
    rule: str
    hosts: list[str] = field(default_factory=list)
    host_regexps: list[str] = field(default_factory=list)
    path_prefix: str | None = None
    entrypoints: list[str] = field(default_factory=list)
    tls: bool = False
    lb_service: str | None = None  # the Traefik service it forwards to
    port: int | None = None  # that service's loadbalancer.server.port
    enabled: bool = False  # traefik.enable=true on the compose service
    on_proxy_network: bool = False
    priority: int | None = None  # its priority label; Traefik's default is the rule's length

    def matches(self, name: str) -> bool:
        """Whether the rule's Host (or HostRegexp) matchers take ``name``."""
        name = name.lower()
        for host in self.hosts:
            if host == name or (host.startswith("*.") and name.endswith(host[1:])
                                and "." not in name[: -len(host) + 1]):
                return True
        return any(_regexp_matches(pattern, name) for pattern in self.host_regexps)

    @property
    def label(self) -> str:
        return f"traefik.http.routers.{self.name}"

    @property
    def rank(self) -> int:
        """Traefik's priority: the label, else the length of the rule."""
        return self.priority if self.priority is not None else len(self.rule)

    def takes_path(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)


def _regexp_matches(pattern: str, name: str) -> bool:
    """A HostRegexp value, in Traefik's v2 (``{sub:[a-z]+}.x``) or v3 (a Go regexp) form."""
    v2 = _V2_GROUP.sub(lambda m: f"(?:{m.group(1)})" if m.group(1) else r"[^.]+", pattern)
    for candidate in (v2, pattern):
        try:
            if re.fullmatch(candidate, name, re.IGNORECASE):
                return True
        except re.error:
            continue
    return False


def parse_rule(rule: str) -> tuple[list[str], list[str], str | None]:
    """The Host names, the HostRegexp patterns and the path prefix of a router rule."""
    hosts: list[str] = []
    regexps: list[str] = []
    prefix: str | None = None
    for match in _MATCHER.finditer(rule):
        values = [a or b for a, b in _ARG.findall(match["args"])]
        values = [v.strip() for v in values if v.strip()]
        if match["matcher"] == "Host":
            hosts += [v.lower() for v in values]
        elif match["matcher"] == "HostRegexp":
            regexps += values
        elif values and prefix is None:
            prefix = values[0]
    return hosts, regexps, prefix


def _networks_of(service: Mapping[str, Any]) -> list[str]:
    raw = service.get("networks") or []
    return [str(n) for n in (raw if isinstance(raw, list) else raw.keys())]


def on_network(service: Mapping[str, Any], networks: Mapping[str, Mapping[str, Any]],
               wanted: str = PROXY_NETWORK) -> bool:
    """Whether the service joins the external network named ``wanted`` (by any key)."""
    for key in _networks_of(service):
        spec = networks.get(key) or {}
        external = spec.get("external")
        name = spec.get("name") or (external.get("name") if isinstance(external, dict)
                                    else None) or key
        if name == wanted and external:
            return True
    return False


def _true(value: str | None) -> bool:
    return str(value or "").strip().lower() == "true"


def _service_routers(service: str, labels: Mapping[str, str], on_proxy: bool,
                     ports: Mapping[str, int | None]) -> list[Router]:
    """The routers declared by one compose service's labels."""
    groups: dict[str, dict[str, str]] = {}
    for label, value in labels.items():
        found = _ROUTER.match(label)
        if found:
            groups.setdefault(found["router"], {})[found["key"]] = value
    own = [m["service"] for m in map(_SERVICE_PORT.match, labels) if m]
    routers = []
    for name, keys in sorted(groups.items()):
        rule = keys.get("rule", "")
        hosts, regexps, prefix = parse_rule(rule)
        target = keys.get("service", "").split("@", 1)[0] or (own[0] if len(own) == 1 else None)
        tls = any(k.startswith("tls.") for k in keys) or _true(keys.get("tls"))
        routers.append(Router(
            name=name, service=service, rule=rule, hosts=hosts, host_regexps=regexps,
            path_prefix=prefix,
            entrypoints=[e.strip() for e in keys.get("entrypoints", "").split(",") if e.strip()],
            tls=tls, lb_service=target, port=ports.get(target) if target else None,
            enabled=_true(labels.get("traefik.enable")), on_proxy_network=on_proxy,
            priority=_number(keys.get("priority", "")),
        ))
    return routers


def _number(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def read_routers(services: Mapping[str, Mapping[str, Any]],
                 networks: Mapping[str, Mapping[str, Any]]) -> list[Router]:
    """Every HTTP router the services' deploy labels declare, in service then name order."""
    labels = {name: labels_of(spec) for name, spec in services.items()}
    ports = {m["service"]: _number(value) for svc_labels in labels.values()
             for label, value in svc_labels.items() if (m := _SERVICE_PORT.match(label))}
    routers = []
    for name in sorted(services):
        routers += _service_routers(name, labels[name], on_network(services[name], networks),
                                    ports)
    return routers


# -- what the check probes, and what a failure means -----------------------------------


@dataclass
class Target:
    """One request of the install check: a name, a path, the router meant to serve it.

    ``unrouted`` is what the static reading says stops Traefik from serving it (the
    check fails on it once the proxy had time to read the labels); ``on_404`` and
    ``on_bad_gateway`` say what Traefik's 404, or a 502/504, mean for it.
    """

    name: str
    path: str
    router: str | None = None
    unrouted: str = ""
    on_404: str = ""
    on_bad_gateway: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unroutable(router: Router) -> str:
    """What in its labels stops Traefik from serving ``router``, naming the fix; or ""."""
    where = f"service {router.service}"
    if not router.enabled:
        return (f"{where} lacks traefik.enable=true (the proxy serves only services that "
                f"set it): add the label traefik.enable=true to {where}")
    if not router.on_proxy_network:
        return (f"{where} is not on the {PROXY_NETWORK} network, where the proxy reaches "
                f"apps: add networks: [{PROXY_NETWORK}] to {where} (and {PROXY_NETWORK} as an "
                "external network)")
    if router.entrypoints and ENTRYPOINT not in router.entrypoints:
        return (f"router {router.name} listens on {', '.join(router.entrypoints)} only: set "
                f"{router.label}.entrypoints={ENTRYPOINT}")
    if not router.tls:
        return (f"router {router.name} has no TLS, so the proxy serves it over plain HTTP "
                f"only: set {router.label}.tls.certresolver=${{LETS_ENCRYPT_ENV}}")
    if router.port is None:
        service = router.lb_service or router.name
        return (f"router {router.name} forwards to no port: set traefik.http.services."
                f"{service}.loadbalancer.server.port=<the port the app listens on>")
    return ""


def _bad_gateway(router: Router) -> str:
    return (f"the app does not listen on {router.port}: fix traefik.http.services."
            f"{router.lb_service}.loadbalancer.server.port={router.port} (service "
            f"{router.service}) to the port it serves HTTP on")


def shadowed(router: Router, name: str, path: str, routers: Sequence[Router]) -> str:
    """Why another router takes ``name`` and ``path`` before ``router``, naming the fix;
    or "". Traefik tries the routers that match in priority order, and a router without
    a priority label ranks by its rule's length, so an alias added to the app's rule
    (EXTRA_DOMAINS) can make it outrank a path-prefix router."""
    rivals = [r for r in routers if r is not router and r.matches(name) and r.takes_path(path)
              and not unroutable(r)]
    winner = max(rivals, key=lambda r: r.rank, default=None)
    if winner is None or winner.rank <= router.rank:
        return ""
    how = "its priority label" if winner.priority is not None else "the length of its rule"
    return (f"router {winner.name} (priority {winner.rank}, {how}) takes {path} before "
            f"router {router.name} (priority {router.rank}): set {router.label}.priority="
            f"{winner.rank + 1} or higher")


def _no_rule(name: str, routers: Sequence[Router]) -> str:
    """Why nothing routes ``name``: which rule labels say what instead."""
    if not routers:
        return (f"no router serves {name}: add traefik labels, e.g. traefik.enable=true and "
                "traefik.http.routers.<name>.rule=Host(`${DOMAIN}`), or run with "
                "--ingress direct")
    rules = "; ".join(f"{r.label}.rule={r.rule or '(none)'}" for r in routers)
    return (f"no router's rule matches {name}: fix the rule to take the run's domain, e.g. "
            f"Host(`${{DOMAIN}}`${{EXTRA_DOMAINS}}) ({rules})")


def probe_targets(routers: Sequence[Router], names: Sequence[str],
                  health_path: str) -> list[Target]:
    """What the check requests: each name under each router that matches it.

    A router with a path prefix is probed there, others at ``health_path``; a name no
    router matches is probed at ``health_path`` and fails with the rule labels named.
    """
    targets = []
    for name in names:
        matching = [r for r in routers if r.matches(name)]
        if not matching:
            reason = _no_rule(name, routers)
            targets.append(Target(name, health_path, None, reason, reason))
        for router in matching:
            path = router.path_prefix or health_path
            targets.append(Target(
                name, path, router.name,
                unroutable(router) or shadowed(router, name, path, matching),
                on_404=f"Traefik has no route for it: check {router.label}.rule={router.rule}",
                on_bad_gateway=_bad_gateway(router)))
    return targets


def direct_targets(names: Sequence[str], health_path: str, port: int) -> list[Target]:
    """Direct mode: each name at ``health_path`` on the published port."""
    return [Target(name, health_path, None, "", "",
                   f"nothing answers on the published port (the app's port {port})")
            for name in names]


def unmatched(routers: Sequence[Router], names: Sequence[str]) -> list[str]:
    """Routers that match none of the run's names (not probed; listed in the report)."""
    return [r.name for r in routers if not any(r.matches(n) for n in names)]


def router_from_dict(data: Mapping[str, Any]) -> Router:
    return Router(**data)
