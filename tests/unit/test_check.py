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


def _config(tmp_path: Path, meta: str = "", hooks: str | None = None) -> Path:
    folder = tmp_path / "config" / "example-notes"
    folder.mkdir(parents=True)
    (folder / "meta.yml").write_text(meta)
    if hooks is not None:
        (folder / "hooks.py").write_text(hooks)
    return tmp_path / "config"


def test_every_config_problem_is_listed_on_its_own(notes, tmp_path):
    """The check lists each problem of the CI config, not just the first."""
    config = _config(tmp_path, "EXPECTED_NA: {install: none}\nHEALTH_OK: [0]\nHTTP_TIMEOUT: 0\n",
                     hooks="import sys\nsys.exit()\n")
    problems = check_recipe("example-notes", repo=str(notes), config_root=config)
    assert [p.split(": ", 2)[2].split(" ")[0] for p in problems] == [
        "EXPECTED_NA", "HEALTH_OK", "HTTP_TIMEOUT", "importing"], problems
    assert "hooks.py: importing it raised SystemExit at hooks.py:2" in problems[3]


@pytest.mark.parametrize("key", ["EXTRA_ENV", "UPGRADE_EXTRA_ENV"])
def test_a_callable_env_that_raises_is_a_problem(notes, tmp_path, key):
    hooks = f"def {key}(ctx):\n    return {{'A': 1 / 0}}\n"
    config = _config(tmp_path, hooks=hooks)
    problems = check_recipe("example-notes", repo=str(notes), config_root=config)
    assert problems == [
        f"example-notes: {config}/example-notes/hooks.py: {key}(ctx) raised "
        "ZeroDivisionError: division by zero at hooks.py:2"
    ]


def test_cli_reports_a_hooks_file_that_exits(notes, tmp_path, capsys, monkeypatch):
    """sys.exit() in hooks.py once ended `ccci check` with 0 and no output."""
    monkeypatch.setenv("CCCI_CONFIG_DIR", str(_config(tmp_path, hooks="raise SystemExit(0)\n")))
    assert main(["check", "example-notes", "--repo", str(notes)]) == 1
    out = capsys.readouterr().out
    assert "hooks.py: importing it raised SystemExit: 0 at hooks.py:1" in out


def test_cli_exit_code_and_output(notes, capsys):
    assert main(["check", "example-notes", "--repo", str(notes)]) == 0
    assert "example-notes: ok" in capsys.readouterr().out
    assert main(["check", "bad/name"]) == 1
    assert "invalid recipe name 'bad/name'" in capsys.readouterr().out


def test_generated_doc_is_current():
    doc = (ROOT / "docs" / "recipe-config.md").read_text()
    regenerate = "ccci config-doc > docs/recipe-config.md"
    assert doc == render(), f"docs/recipe-config.md is stale: run `{regenerate}`"
