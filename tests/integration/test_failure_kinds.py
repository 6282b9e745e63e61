"""A failed deploy says what Docker said, with the kind and a how-to-fix hint."""

from __future__ import annotations

from pathlib import Path

from tests.integration.helpers import make_recipe_variant, replace_in, run_objects


def _config_changed_without_a_new_version(repo: Path) -> None:
    """1.2.0 changed nginx.conf.tmpl; keep the 1.1.0 config version, as a slip would."""
    replace_in(repo / "abra.sh", "NGINX_CONF_VERSION=v2", "NGINX_CONF_VERSION=v1")


def test_a_config_changed_under_the_same_name_fails_with_dockers_words_and_a_hint(
        ccci, docker_client, recipes_dir, tmp_path):
    repo = make_recipe_variant(recipes_dir, "example-site", "same-config-name", tmp_path,
                               _config_changed_without_a_new_version)
    call = ccci("run", "example-site", "--repo", str(repo), "--tiers", "install,upgrade")
    upgrade = call.results["tiers"]["upgrade"]
    assert call.rc == 1, call.output
    assert upgrade["status"] == "failed"
    assert upgrade["reason"].startswith(
        "Deploy the stack: docker stack up deploy command failed: ")
    assert "only updates to Labels are allowed" in upgrade["reason"]
    assert "nginx_conf_v1" in upgrade["reason"]
    assert upgrade["failure_kind"] == "recipe"
    assert "bump its *_VERSION" in upgrade["hint"]
    [failure] = [f for f in upgrade["details"]["failures"] if f["task"] == "Deploy the stack"]
    assert "only updates to Labels are allowed" in failure["detail"]
    assert "upgrade    upgraded failed [recipe]" in call.output
    assert "how to fix: a config or secret changed" in call.output
    assert call.results["teardown"]["status"] == "passed"
    assert run_objects(docker_client, call.run_id, call.results["stack"]) == {}
