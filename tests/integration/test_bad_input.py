"""Bad input stops a run before anything is deployed, with a message naming it."""

from __future__ import annotations

import pytest

from tests.integration.helpers import make_recipe_variant, run_objects


def _refused(call, docker_client, message: str) -> None:
    assert call.rc == 2, call.output
    assert message in call.results["error"], call.results["error"]
    assert {t["status"] for t in call.results["tiers"].values()} <= {"not_run"}
    assert call.results["level"] == 0
    assert message in call.output
    assert run_objects(docker_client, call.run_id) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "no-such-recipe"), "unknown recipe 'no-such-recipe'"),
        (("run", "example-site", "--ref", "9.9.9+nope"), "ref '9.9.9+nope' does not exist"),
        (("run", "../example-site"), "invalid recipe name '../example-site'"),
        (("run", "site;rm -rf /"), "invalid recipe name"),
        (("run", "example-site", "--domain", "a.b;id"), "invalid domain 'a.b;id'"),
        (("run", "example-site", "--domain", "../../x"), "invalid domain"),
        (("run", "example-site", "--stages", "install,bogus"), "unknown or unavailable tier"),
        (("run", "example-site", "--tiers", ","), "no tier selected"),
        (("run", "example-site", "--tiers", "install,install"), "more than once: install"),
        (("run", "example-site", "--inventory", "/nonexistent/inventory.yml"),
         "inventory /nonexistent/inventory.yml does not exist"),
    ],
)
def test_refused_arguments(ccci, docker_client, args, message):
    _refused(ccci(*args), docker_client, message)


def test_an_inventory_without_swarm_hosts_is_refused(ccci, docker_client, tmp_path):
    """Ansible skips plays that match no host and reports success: ccci must not."""
    inventory = tmp_path / "no-swarm.yml"
    inventory.write_text("all:\n  hosts:\n    other:\n      ansible_connection: local\n")
    _refused(ccci("run", "example-site", "--inventory", str(inventory)), docker_client,
             "has no host in group swarm: nothing would be deployed")


def _break_yaml(repo):
    (repo / "compose.yml").write_text("services: [unclosed\n")


def _drop_compose(repo):
    (repo / "compose.yml").unlink()


def _blank_image_tag(repo):
    """An unset variable is a blank (a warning) unless the blank breaks the deploy."""
    text = (repo / "compose.yml").read_text()
    (repo / "compose.yml").write_text(text.replace("nginx:1.22", "nginx:${CCCI_NOBODY_SETS_THIS}"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_break_yaml, "compose file compose.yml is not valid YAML"),
        (_drop_compose, "compose file compose.yml not found"),
        (_blank_image_tag, "CCCI-E205 compose file compose.yml: services.app.image: image "
                           "'ccci-example/nginx:' is not a valid reference because "
                           "CCCI_NOBODY_SETS_THIS is not set"),
    ],
)
def test_refused_recipes(ccci, docker_client, recipes_dir, tmp_path, edit, message):
    repo = make_recipe_variant(recipes_dir, "example-site", "broken", tmp_path, edit)
    _refused(ccci("run", "example-site", "--repo", str(repo)), docker_client, message)


def _config_dir(tmp_path, meta: str, hooks: str | None):
    """A CI config root with an example-site config made of ``meta`` and ``hooks``."""
    folder = tmp_path / "config" / "example-site"
    folder.mkdir(parents=True)
    (folder / "meta.yml").write_text(meta)
    if hooks is not None:
        (folder / "hooks.py").write_text(hooks)
    return folder.parent


@pytest.mark.parametrize(
    ("meta", "hooks", "message"),
    [
        ("EXPECTED_NA: {bakup: stateless}\n", None,
         "meta.yml: EXPECTED_NA names unknown tier(s) or check(s) ['bakup']; "
         "choose among upgrade, backup, restore, functional, lint, idempotence"),
        ("EXPECTED_NA: {install: no app}\n", None,
         "meta.yml: EXPECTED_NA cannot declare install not applicable: nothing would be "
         "deployed, so nothing would be tested"),
        ("HEALTH_OK: []\n", None, "meta.yml: HEALTH_OK is empty"),
        ("HEALTH_OK: [200, 999]\n", None,
         "meta.yml: HEALTH_OK must list HTTP status codes (integers 100-599), not [999]"),
        ("DEPLOY_TIMEOUT: 0\n", None, "meta.yml: DEPLOY_TIMEOUT must be at least 1, not 0"),
        ("HTTP_TIMEOUT: -1\n", None, "meta.yml: HTTP_TIMEOUT must be at least 1, not -1"),
        ("- HEALTH_PATH\n", None, "meta.yml: must be a mapping of KEY: value, not a list"),
        ("", "raise RuntimeError('boom')\n",
         "hooks.py: importing it raised RuntimeError: boom at hooks.py:1"),
        ("", "import sys\n\nsys.exit()\n",
         "hooks.py: importing it raised SystemExit at hooks.py:3 (a hooks file must not exit"),
        ("", "def EXTRA_ENV(ctx):\n    raise ValueError('no port')\n",
         "hooks.py: EXTRA_ENV(ctx) raised ValueError: no port at hooks.py:2"),
        ("", "import sys\n\ndef UPGRADE_EXTRA_ENV(ctx):\n    sys.exit(4)\n",
         "hooks.py: UPGRADE_EXTRA_ENV(ctx) raised SystemExit: 4 at hooks.py:4"),
    ],
    ids=["na-unknown-tier", "na-install", "health-ok-empty", "health-ok-999",
         "deploy-timeout-0", "http-timeout-negative", "meta-not-mapping", "hooks-raise",
         "hooks-exit", "extra-env-raises", "upgrade-extra-env-exits"],
)
def test_refused_ci_config(ccci, docker_client, tmp_path, meta, hooks, message):
    """Every CI config problem refuses the run (exit 2) before anything deploys."""
    config = _config_dir(tmp_path, meta, hooks)
    call = ccci("run", "example-site", env={"CCCI_CONFIG_DIR": str(config)})
    _refused(call, docker_client, message)
    assert call.results["error"].startswith(f"example-site: {config}/example-site/")
    assert "Traceback" not in call.output
