"""Patterns of published recipes that Docker accepts are accepted, with warnings.

The router rule ``Host(`${DOMAIN}`${EXTRA_DOMAINS})`` with EXTRA_DOMAINS commented
out in .env.sample deploys with a blank (Docker's behaviour), and tags that are not
releases (``v2.4.8``) are one warning; both are recorded in results.json.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.helpers import make_recipe_variant, run_objects

pytestmark = pytest.mark.integration

ROUTER = "Host(`${DOMAIN}`${EXTRA_DOMAINS})"


def _extra_domains(repo):
    """The bundled example routes as published recipes do; the test relies on it."""
    assert ROUTER in (repo / "compose.yml").read_text()
    assert "#EXTRA_DOMAINS=" in (repo / ".env.sample").read_text()


def test_extra_domains_and_other_tags_install_with_warnings(ccci, docker_client, recipes_dir,
                                                           tmp_path):
    repo = make_recipe_variant(recipes_dir, "example-site", "extra-domains", tmp_path,
                               _extra_domains)
    for tag in ("v2.4.8", "upstream-27.0.1"):
        subprocess.run(["git", "-C", str(repo), "tag", tag], check=True)
    call = ccci("run", "example-site", "--repo", str(repo), "--tiers", "install")
    assert call.rc == 0, call.output
    assert call.results["tiers"]["install"]["status"] == "passed"
    codes = {w["code"]: w for w in call.results["warnings"]}
    assert set(codes) == {"CCCI-W201", "CCCI-W401"}, call.results["warnings"]
    assert codes["CCCI-W201"]["key"] == "EXTRA_DOMAINS"
    assert codes["CCCI-W201"]["file"] == "compose.yml"
    assert codes["CCCI-W401"]["message"].endswith("upstream-27.0.1, v2.4.8")
    assert "warning: CCCI-W201" in call.output
    assert run_objects(docker_client, call.run_id) == {}
