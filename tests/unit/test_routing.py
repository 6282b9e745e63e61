"""Traefik routers read from a recipe's labels, and what a failed probe of each means."""

from __future__ import annotations

from typing import Any

import pytest

from ccci.routing import (
    Router,
    parse_rule,
    probe_targets,
    read_routers,
    unmatched,
    unroutable,
)

DOMAIN = "site-1a2b3c4d.ccci.test"
STACK = DOMAIN.replace(".", "_")
PROXY = {"proxy": {"external": True}}


def service(labels: list[str] | dict[str, str], networks: Any = ("proxy",)) -> dict:
    return {"image": "x", "networks": list(networks) if isinstance(networks, tuple)
            else networks, "deploy": {"labels": labels}}


def coop_labels(rule: str = f"Host(`{DOMAIN}`)", port: str = "80") -> list[str]:
    """A Co-op Cloud recipe's labels, interpolated."""
    return [
        "traefik.enable=true",
        f"traefik.http.services.{STACK}.loadbalancer.server.port={port}",
        f"traefik.http.routers.{STACK}.rule={rule}",
        f"traefik.http.routers.{STACK}.entrypoints=web-secure",
        f"traefik.http.routers.{STACK}.tls.certresolver=",
    ]


@pytest.mark.parametrize(("rule", "hosts", "regexps", "prefix"), [
    (f"Host(`{DOMAIN}`)", [DOMAIN], [], None),
    # EXTRA_DOMAINS in Co-op Cloud's format
    (f"Host(`{DOMAIN}`, `www.{DOMAIN}`)", [DOMAIN, f"www.{DOMAIN}"], [], None),
    ("Host(`A.ccci.test`) || Host(\"b.ccci.test\")", ["a.ccci.test", "b.ccci.test"], [], None),
    (f"Host(`{DOMAIN}`) && PathPrefix(`/api`)", [DOMAIN], [], "/api"),
    ("HostRegexp(`{sub:[a-z]+}.ccci.test`)", [], ["{sub:[a-z]+}.ccci.test"], None),
    ("Host(``)", [], [], None),  # a blank ${DOMAIN}
])
def test_rules_are_read_in_the_shapes_recipes_use(rule, hosts, regexps, prefix):
    assert parse_rule(rule) == (hosts, regexps, prefix)


def test_a_coop_cloud_recipe_has_one_router_that_takes_its_domain():
    [router] = read_routers({"app": service(coop_labels())}, PROXY)
    assert router == Router(
        name=STACK, service="app", rule=f"Host(`{DOMAIN}`)", hosts=[DOMAIN],
        entrypoints=["web-secure"], tls=True, lb_service=STACK, port=80, enabled=True,
        on_proxy_network=True)
    assert router.matches(DOMAIN) and router.matches(DOMAIN.upper())
    assert not router.matches(f"www.{DOMAIN}")
    assert unroutable(router) == ""


def test_labels_as_a_mapping_and_networks_as_a_mapping_read_the_same():
    labels = dict(label.split("=", 1) for label in coop_labels())
    spec = service(labels, {"proxy": {"aliases": ["x"]}, "internal": None})
    assert read_routers({"app": spec}, {**PROXY, "internal": {}}) == read_routers(
        {"app": service(coop_labels())}, PROXY)


def test_the_proxy_network_counts_by_its_name_when_external():
    networks = {"edge": {"external": True, "name": "proxy"}, "proxy": {}}
    [by_name] = read_routers({"app": service(coop_labels(), ("edge",))}, networks)
    [local] = read_routers({"app": service(coop_labels(), ("proxy",))}, networks)
    assert by_name.on_proxy_network and not local.on_proxy_network


def test_wildcards_and_regexps_match_one_label():
    router = Router("r", "app", "", hosts=["*.ccci.test"], host_regexps=[r"^www\..+$"])
    assert router.matches("a.ccci.test") and not router.matches("a.b.ccci.test")
    assert router.matches("www.example.org")
    v2 = Router("r", "app", "", host_regexps=["{sub:[a-z]+}.ccci.test"])
    assert v2.matches("abc.ccci.test") and not v2.matches("a1.ccci.test")


def _targets(services: dict, names: list[str], health: str = "/health") -> list[dict]:
    routers = read_routers(services, PROXY)
    return [t.as_dict() for t in probe_targets(routers, names, health)]


def test_each_name_is_probed_under_each_router_that_takes_it():
    labels = [*coop_labels(f"Host(`{DOMAIN}`, `www.{DOMAIN}`)"),
              "traefik.http.routers.api.rule=Host(`" + DOMAIN + "`) && PathPrefix(`/api`)",
              "traefik.http.routers.api.entrypoints=web-secure",
              "traefik.http.routers.api.tls=true",
              "traefik.http.routers.api.priority=100",
              "traefik.http.routers.api.service=" + STACK]
    found = _targets({"app": service(labels)}, [DOMAIN, f"www.{DOMAIN}"])
    assert [(t["name"], t["path"], t["router"]) for t in found] == [
        (DOMAIN, "/api", "api"), (DOMAIN, "/health", STACK),
        (f"www.{DOMAIN}", "/health", STACK)]
    assert all(t["unrouted"] == "" for t in found)
    port_label = f"traefik.http.services.{STACK}.loadbalancer.server.port=80"
    assert all(port_label in t["on_bad_gateway"] for t in found)
    assert "the app does not listen on 80" in found[0]["on_bad_gateway"]


def test_a_second_service_has_routers_of_its_own():
    api = service(["traefik.enable=true",
                   "traefik.http.services.api.loadbalancer.server.port=8080",
                   f"traefik.http.routers.api.rule=Host(`{DOMAIN}`) && PathPrefix(`/api`)",
                   "traefik.http.routers.api.tls.certresolver="])
    routers = read_routers({"app": service(coop_labels()), "api": api}, PROXY)
    assert [(r.service, r.name, r.port, r.path_prefix) for r in routers] == [
        ("api", "api", 8080, "/api"), ("app", STACK, 80, None)]


def test_a_rule_that_misses_the_domain_names_the_rule_label():
    services = {"app": service(coop_labels("Host(`www.example.com`)"))}
    [target] = _targets(services, [DOMAIN])
    assert target["router"] is None
    assert f"no router's rule matches {DOMAIN}" in target["unrouted"]
    assert f"traefik.http.routers.{STACK}.rule=Host(`www.example.com`)" in target["unrouted"]
    assert unmatched(read_routers(services, PROXY), [DOMAIN]) == [STACK]


def test_no_traefik_labels_at_all_say_so():
    [target] = _targets({"app": {"image": "x"}}, [DOMAIN])
    assert "no router serves" in target["unrouted"] and "--ingress direct" in target["unrouted"]


@pytest.mark.parametrize(("change", "label"), [
    (lambda labels, spec: labels.remove("traefik.enable=true"), "traefik.enable=true"),
    (lambda labels, spec: spec.update(networks=["internal"]), "networks: [proxy]"),
    (lambda labels, spec: labels.__setitem__(3, f"traefik.http.routers.{STACK}.entrypoints=web"),
     f"traefik.http.routers.{STACK}.entrypoints=web-secure"),
    (lambda labels, spec: labels.pop(4), f"traefik.http.routers.{STACK}.tls.certresolver="),
    (lambda labels, spec: labels.pop(1),
     f"traefik.http.services.{STACK}.loadbalancer.server.port=<the port"),
])
def test_a_router_the_proxy_cannot_serve_names_the_label_to_fix(change, label):
    labels = coop_labels()
    spec = service(labels)
    change(labels, spec)
    [target] = _targets({"app": spec}, [DOMAIN])
    assert target["router"] == STACK
    assert label in target["unrouted"], target["unrouted"]


def test_a_path_router_outranked_by_a_longer_rule_names_the_priority_label():
    """Traefik ranks routers by rule length unless labelled: an alias in the app's rule
    (EXTRA_DOMAINS) makes it longer than the /api router's, which then never answers."""
    api = ["traefik.enable=true", "traefik.http.services.api.loadbalancer.server.port=8081",
           f"traefik.http.routers.api.rule=Host(`{DOMAIN}`) && PathPrefix(`/api`)",
           "traefik.http.routers.api.tls=true"]
    app = service(coop_labels(f"Host(`{DOMAIN}`, `www.{DOMAIN}`)"))
    found = _targets({"app": app, "api": service(api)}, [DOMAIN], "/health")
    [to_api] = [t for t in found if t["router"] == "api"]
    expected = len(f"Host(`{DOMAIN}`, `www.{DOMAIN}`)") + 1
    assert to_api["unrouted"].startswith(f"router {STACK} (priority {expected - 1}, the length "
                                         "of its rule) takes /api before router api")
    assert to_api["unrouted"].endswith(f"traefik.http.routers.api.priority={expected} or higher")
    labelled = service([*api, "traefik.http.routers.api.priority=1000"])
    assert all(t["unrouted"] == "" for t in _targets({"app": app, "api": labelled}, [DOMAIN]))
