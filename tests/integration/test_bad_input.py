"""Bad input stops a run before anything is deployed, with a message naming it."""

from __future__ import annotations

import pytest

from tests.integration.helpers import make_recipe_variant, run_objects


def _refused(call, docker_client, message: str) -> None:
    assert call.rc == 2, call.output
    assert message in call.results["error"], call.results["error"]
    assert call.results["tiers"]["install"]["status"] == "not_run"
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
    ],
)
def test_refused_arguments(ccci, docker_client, args, message):
    _refused(ccci(*args), docker_client, message)


def _break_yaml(repo):
    (repo / "compose.yml").write_text("services: [unclosed\n")


def _drop_compose(repo):
    (repo / "compose.yml").unlink()


def _needs_unset_variable(repo):
    text = (repo / "compose.yml").read_text()
    (repo / "compose.yml").write_text(text.replace("${DOMAIN}", "${CCCI_NOBODY_SETS_THIS}", 1))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_break_yaml, "compose file compose.yml is not valid YAML"),
        (_drop_compose, "compose file compose.yml not found"),
        (_needs_unset_variable, "needs CCCI_NOBODY_SETS_THIS, which nothing sets"),
    ],
)
def test_refused_recipes(ccci, docker_client, recipes_dir, tmp_path, edit, message):
    repo = make_recipe_variant(recipes_dir, "example-site", "broken", tmp_path, edit)
    _refused(ccci("run", "example-site", "--repo", str(repo)), docker_client, message)
