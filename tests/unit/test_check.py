"""`ccci check` validates a recipe and its CI config without deploying, listing every problem."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ccci.check import check_recipe
from ccci.cli import main
from ccci.config.docs import render
from ccci.examples import materialize

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notes(tmp_path) -> Path:
    return materialize(ROOT / "examples" / "recipes" / "example-notes", tmp_path / "example-notes")


def _commit(repo: Path) -> None:
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "edit"], check=True)


@pytest.mark.parametrize("recipe", ["example-site", "example-notes"])
def test_bundled_examples_pass(tmp_path, recipe):
    repo = materialize(ROOT / "examples" / "recipes" / recipe, tmp_path / recipe)
    assert check_recipe(recipe, repo=str(repo)) == []


def test_every_problem_is_listed(notes):
    env = notes / ".env.sample"
    env.write_text(env.read_text() + "SECRET_SMTP_PASSWORD_VERSION=v1\n")
    postgres = notes / "compose.postgres.yml"
    postgres.write_text(postgres.read_text().replace("${STACK_NAME}_db_entrypoint", "${NOPE}_x"))
    _commit(notes)
    subprocess.run(["git", "-C", str(notes), "tag", "latest"], check=True)
    problems = check_recipe("example-notes", repo=str(notes))
    assert "tag 'latest' is not a recipe version (<semver>+<upstream>, e.g. 1.0.0+1.22)" in problems
    assert any("compose.postgres.yml needs NOPE" in p for p in problems)
    assert len(problems) == 2, problems


def test_secrets_must_match(notes):
    env = notes / ".env.sample"
    env.write_text(env.read_text() + "SECRET_SMTP_PASSWORD_VERSION=v1\n")
    _commit(notes)
    [problem] = check_recipe("example-notes", repo=str(notes))
    assert problem.startswith("secret smtp_password is declared in .env.sample")


def test_version_label_must_match_tag(notes):
    compose = notes / "compose.yml"
    compose.write_text(compose.read_text().replace("version=1.2.0+0.3.0", "version=1.1.9+0.3.0"))
    _commit(notes)
    subprocess.run(["git", "-C", str(notes), "tag", "1.3.0+0.4.0"], check=True)
    problems = check_recipe("example-notes", repo=str(notes))
    assert problems == ["tag 1.3.0+0.4.0: service app is labelled version '1.1.9+0.3.0'"]


def test_bad_config_and_missing_ref_are_reported_together(notes, tmp_path):
    (tmp_path / "config" / "example-notes").mkdir(parents=True)
    (tmp_path / "config" / "example-notes" / "meta.yml").write_text("HEALTH_PAHT: /\n")
    problems = check_recipe("example-notes", "no-such-ref", repo=str(notes),
                            config_root=tmp_path / "config")
    assert any("unknown key 'HEALTH_PAHT'" in p for p in problems)
    assert any("ref 'no-such-ref' does not exist" in p for p in problems)


def test_cli_exit_code_and_output(notes, capsys):
    assert main(["check", "example-notes", "--repo", str(notes)]) == 0
    assert "example-notes: ok" in capsys.readouterr().out
    assert main(["check", "bad/name"]) == 1
    assert "invalid recipe name 'bad/name'" in capsys.readouterr().out


def test_generated_doc_is_current():
    doc = (ROOT / "docs" / "recipe-config.md").read_text()
    regenerate = "ccci config-doc > docs/recipe-config.md"
    assert doc == render(), f"docs/recipe-config.md is stale: run `{regenerate}`"
