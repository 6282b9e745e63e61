"""The upgrade tier on the real swarm: base version, hops, version and data marker."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ccci.context import load_run
from ccci.rundir import RunDir
from tests.integration.helpers import make_recipe_variant, run_objects

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = {
    "example-site": ["1.0.0+1.22", "1.1.0+1.22", "1.2.0+1.22"],
    "example-notes": ["1.0.0+0.1.0", "1.1.0+0.2.0", "1.2.0+0.3.0"],
}


def _assert_clean(call, docker_client) -> None:
    assert call.results["teardown"]["status"] == "passed", call.results["teardown"]
    for app in call.apps:
        assert run_objects(docker_client, app["run_id"], app["stack"]) == {}


@pytest.mark.parametrize("recipe", sorted(VERSIONS))
def test_upgrade_from_the_previous_version_keeps_the_marker(ccci, docker_client, recipe):
    *_, base, target = VERSIONS[recipe]
    call = ccci("run", recipe, "--tiers", "install,upgrade")
    results = call.results
    assert call.rc == 0, call.output
    # Two apps: the version under test installed fresh, and the base upgraded into it.
    assert results["tiers"]["install"]["details"]["deploy"]["version"] == target
    assert results["apps"]["upgraded"]["first_version"] == base
    assert results["apps"]["fresh"]["domain"] != results["apps"]["upgraded"]["domain"]
    upgrade = results["tiers"]["upgrade"]
    assert upgrade["status"] == "passed", upgrade
    details = upgrade["details"]
    assert (details["base_version"], details["target_version"]) == (base, target)
    [hop] = details["hops"]
    assert hop["version"] == target
    [check] = details["marker_checks"]
    assert check["found"] is True
    assert results["version_deployed"] == target
    assert results["fresh_deploys"] == 2
    assert results["level"] == 2
    # The summary and junit.xml say which app each tier ran on.
    fresh, upgraded = results["apps"]["fresh"], results["apps"]["upgraded"]
    assert f"  fresh app: {fresh['domain']}: install {target} converged in " in call.output
    assert (f"  upgraded app: {upgraded['domain']}: install {base} converged in "
            in call.output)
    assert f"; upgrade {target} converged in " in call.output
    assert "  install    fresh    passed" in call.output
    assert "  upgrade    upgraded passed" in call.output
    cases = {case.get("name"): case for case in ET.parse(
        Path(results["run_dir"]) / "junit.xml").getroot().iter("testcase")}
    assert cases["install"].get("classname") == f"{recipe}.fresh"
    assert cases["upgrade"].get("classname") == f"{recipe}.upgraded"
    domains = {case: {p.get("name"): p.get("value") for p in cases[case].iter("property")}
               for case in ("install", "upgrade")}
    assert domains["upgrade"]["app.domain"] == upgraded["domain"]
    assert domains["install"]["app.first_version"] == target
    _assert_clean(call, docker_client)


def test_chain_of_two_hops_checks_the_marker_at_each(ccci, docker_client):
    first, second, target = VERSIONS["example-notes"]
    call = ccci("run", "example-notes", "--tiers", "install,upgrade", "--upgrade-from", "2")
    assert call.rc == 0, call.output
    details = call.results["tiers"]["upgrade"]["details"]
    assert details["base_version"] == first
    assert [hop["version"] for hop in details["hops"]] == [second, target]
    assert [c["after"] for c in details["marker_checks"]] == [
        f"upgrade to {second}", f"upgrade to {target}"]
    assert all(c["found"] for c in details["marker_checks"])
    assert call.results["fresh_deploys"] == 2
    _assert_clean(call, docker_client)


def _missing_image(repo: Path) -> None:
    compose = repo / "compose.yml"
    compose.write_text(compose.read_text().replace(
        "image: ccci-example/nginx:1.22", "image: ccci-example/nginx:9.99-missing"))


def test_new_image_that_cannot_start_fails_the_fresh_install_and_the_upgrade(
        ccci, docker_client, recipes_dir, tmp_path):
    repo = make_recipe_variant(recipes_dir, "example-site", "bad-image", tmp_path, _missing_image)
    call = ccci("run", "example-site", "--repo", str(repo), "--tiers", "install,upgrade")
    results = call.results
    assert call.rc == 1
    install = results["tiers"]["install"]
    assert install["status"] == "failed" and install["failure_kind"] == "recipe"
    assert "No such image: ccci-example/nginx:9.99-missing" in install["reason"]
    upgrade = results["tiers"]["upgrade"]
    assert upgrade["status"] == "failed"
    assert "Wait for the stack to converge" in upgrade["reason"]
    assert "No such image: ccci-example/nginx:9.99-missing" in upgrade["reason"]
    assert upgrade["failure_kind"] == "recipe" and "build or push it" in upgrade["hint"]
    assert results["level"] == 0
    _assert_clean(call, docker_client)


def _recreate_table(repo: Path) -> None:
    app = repo / "app.py"
    text = app.read_text()
    anchor = "CREATE TABLE IF NOT EXISTS notes"
    assert anchor in text
    app.write_text(text.replace(anchor, "DROP TABLE IF EXISTS notes; " + anchor, 1))
    abra = repo / "abra.sh"
    abra.write_text(abra.read_text().replace("APP_PY_VERSION=v3", "APP_PY_VERSION=v4"))


def test_migration_that_recreates_the_table_fails_with_marker_lost(
        ccci, docker_client, recipes_dir, tmp_path):
    repo = make_recipe_variant(recipes_dir, "example-notes", "drop-table", tmp_path,
                               _recreate_table)
    call = ccci("run", "example-notes", "--repo", str(repo), "--tiers", "install,upgrade")
    results = call.results
    assert call.rc == 1
    assert results["tiers"]["install"]["status"] == "passed"
    upgrade = results["tiers"]["upgrade"]
    assert upgrade["status"] == "failed"
    assert "marker lost after upgrade to 1.2.0+0.3.0" in upgrade["reason"]
    [check] = upgrade["details"]["marker_checks"]
    assert check["found"] is False
    _assert_clean(call, docker_client)


def test_manual_upgrade_playbook_installs_the_base_then_upgrades(recipes_dir, tmp_path,
                                                                 docker_client):
    env = {**os.environ, "CCCI_RECIPES_DIR": str(recipes_dir), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run_dir = tmp_path / "manual-upgrade"
    upgrade = subprocess.run(
        ["ansible-playbook", "playbooks/upgrade.yml", "-e", "recipe=example-site",
         "-e", f"run_dir={run_dir}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    context = load_run(run_dir)
    teardown = subprocess.run(
        ["ansible-playbook", "playbooks/teardown.yml", "-e", f"run_dir={run_dir}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert upgrade.returncode == 0, upgrade.stdout[-3000:]
    record = RunDir(run_dir)
    assert [(d.op, d.version) for d in record.deploys().deploys] == [
        ("install", "1.1.0+1.22"), ("upgrade", "1.2.0+1.22")]
    assert [c.found for c in record.markers().checks] == [True]
    assert record.tiers().latest() == {"install": "passed", "upgrade": "passed"}
    assert teardown.returncode == 0, teardown.stdout[-3000:]
    assert run_objects(docker_client, context.run_id, context.stack) == {}


def test_a_head_that_only_upgrades_fails_the_install_and_passes_the_upgrade(ccci,
                                                                            docker_client):
    """fresh-install-breaks 1.1.0 migrates 1.0.0's data but cannot start on an empty
    volume: only installing the version under test fresh, beside the upgrade, sees it."""
    call = ccci("run", "fresh-install-breaks", "--tiers", "install,upgrade")
    results = call.results
    assert call.rc == 1, call.output
    install = results["tiers"]["install"]
    assert install["status"] == "failed" and install["failure_kind"] == "recipe"
    assert "migrate: no schema to migrate in /srv/data" in install["reason"]
    assert install["details"]["app"] == "fresh"
    upgrade = results["tiers"]["upgrade"]
    assert upgrade["status"] == "passed", upgrade
    assert upgrade["details"]["base_version"] == "1.0.0+1"
    assert results["apps"]["upgraded"]["version_deployed"] == "1.1.0+1"
    assert results["level"] == 0
    _assert_clean(call, docker_client)
