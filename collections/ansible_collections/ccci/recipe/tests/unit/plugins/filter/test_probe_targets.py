"""app_probe_targets: what the check requests, from a run planned on a bundled example."""

from __future__ import annotations

from ansible_collections.ccci.recipe.plugins.filter.probe_targets import FilterModule

from ccci.context import create_run

app_probe_targets = FilterModule().filters()["app_probe_targets"]


def test_through_the_proxy_each_name_under_the_recipes_router(isolated_run_dirs):
    run = create_run("example-site", extra_domains=["www.${DOMAIN}"],
                     run_dir=isolated_run_dirs / "run").as_dict()
    domain, stack = run["domain"], run["stack"]
    assert run["plans"]["target"]["env"]["EXTRA_DOMAINS"] == f", `www.{domain}`"
    assert run["plans"]["target"]["env"]["LETS_ENCRYPT_ENV"] == ""
    targets = app_probe_targets(run, "target", "/health")
    assert [(t["name"], t["path"], t["router"], t["unrouted"]) for t in targets] == [
        (domain, "/health", stack, ""), (f"www.{domain}", "/health", stack, "")]
    assert run["host"]["published_port"] is None
    assert run["host"]["ingress"]["certificate_names"] == [f"www.{domain}"]


def test_directly_each_name_on_the_published_port(isolated_run_dirs):
    run = create_run("example-site", ingress_mode="direct", published_port=20999,
                     run_dir=isolated_run_dirs / "run").as_dict()
    assert run["host"]["published_port"] == run["host"]["ingress"]["port"] == 20999
    [target] = app_probe_targets(run, "target", "/health")
    assert (target["name"], target["path"], target["router"]) == (run["domain"], "/health", None)
