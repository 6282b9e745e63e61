"""`ccci check` validates a recipe and its CI config without deploying, listing every problem."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from ccci.check import check_recipe
from ccci.cli import main
from ccci.config.docs import render
from ccci.examples import materialize
from ccci.findings import RULES, Finding, render_doc

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
    found = check_recipe(recipe, repo=str(repo))
    # The published router rule is their only finding.
    assert [(f.code, f.file, f.key) for f in found] == [EXTRA_DOMAINS], found


def _codes(found: list[Finding]) -> list[str]:
    return [f.code for f in found]


EXTRA_DOMAINS = ("CCCI-W201", "compose.yml", "EXTRA_DOMAINS")


def _check(repo: Path, **kwargs) -> list[Finding]:
    """check_recipe on the notes example, less the warning every published recipe has:
    its router rule's ${EXTRA_DOMAINS}, commented out in .env.sample (checked here)."""
    found = check_recipe("example-notes", repo=str(repo), **kwargs)
    assert [f for f in found if (f.code, f.file, f.key) == EXTRA_DOMAINS], found
    return [f for f in found if (f.code, f.file, f.key) != EXTRA_DOMAINS]


def test_every_finding_is_listed_with_its_code(notes):
    env = notes / ".env.sample"
    env.write_text(env.read_text() + "SECRET_SMTP_PASSWORD_VERSION=v1\n")
    postgres = notes / "compose.postgres.yml"
    text = postgres.read_text().replace("${STACK_NAME}_db_entrypoint", "${NOPE}_x")
    postgres.write_text(text.replace("postgres:15", "postgres:${PG_TAG}"))
    _commit(notes)
    subprocess.run(["git", "-C", str(notes), "tag", "latest"], check=True)
    found = _check(notes)
    assert sorted(_codes(found)) == ["CCCI-E205", "CCCI-W201", "CCCI-W301", "CCCI-W401"], found
    by_code = {f.code: f for f in found}
    image = by_code["CCCI-E205"]
    assert (image.file, image.key) == ("compose.postgres.yml", "services.db.image")
    assert "because PG_TAG is not set" in image.message
    unset = by_code["CCCI-W201"]
    assert (unset.file, unset.key, unset.severity) == ("compose.postgres.yml", "NOPE", "warning")
    assert "configs.db_entrypoint.name" in unset.message
    assert all(f.fix for f in found)


def test_the_extra_domains_router_rule_is_one_warning(notes):
    """The published pattern, EXTRA_DOMAINS commented out in .env.sample, plans fine."""
    assert "Host(`${DOMAIN}`${EXTRA_DOMAINS})" in (notes / "compose.yml").read_text()
    assert "#EXTRA_DOMAINS=" in (notes / ".env.sample").read_text()
    [warning] = check_recipe("example-notes", repo=str(notes))
    assert (warning.code, warning.file, warning.key) == EXTRA_DOMAINS
    assert "EXTRA_DOMAINS is not set; docker stack deploy uses a blank string" in warning.message


def test_a_required_variable_is_an_error_carrying_its_message(notes):
    compose = notes / "compose.yml"
    compose.write_text(compose.read_text().replace(
        "PORT=8080", "PORT=${APP_PORT?set APP_PORT in .env}"))
    _commit(notes)
    [error] = _check(notes)
    assert error.code == "CCCI-E204" and error.severity == "error"
    assert "required variable APP_PORT is missing a value: set APP_PORT in .env" in error.message
    assert error.key == "services.app.environment[5]"


def test_non_release_tags_are_one_warning(notes):
    for tag in ("v2.4.8", "latest", "1.0", "2.0.0"):
        subprocess.run(["git", "-C", str(notes), "tag", tag], check=True)
    [warning] = _check(notes)
    assert warning.code == "CCCI-W401"
    assert warning.message.endswith("never upgrade bases: 1.0, 2.0.0, latest, v2.4.8")


def test_a_recipe_without_release_tags_checks_clean(notes):
    tags = subprocess.run(["git", "-C", str(notes), "tag"], capture_output=True, text=True,
                          check=True).stdout.split()
    subprocess.run(["git", "-C", str(notes), "tag", "-d", *tags], check=True,
                   capture_output=True)
    assert _check(notes) == []


def test_an_unused_secret_is_a_warning_an_undeclared_one_an_error(notes):
    env = notes / ".env.sample"
    env.write_text(env.read_text().replace("SECRET_DB_PASSWORD_VERSION", "SECRET_DB_PASS_VERSION"))
    _commit(notes)
    found = _check(notes)
    assert sorted(_codes(found)) == ["CCCI-E207", "CCCI-E207", "CCCI-E303", "CCCI-W301"], found
    assert {f.key for f in found if f.code == "CCCI-E207"} == {"secrets.db_password.name"}
    assert {f.file for f in found if f.code == "CCCI-E207"} == {
        "compose.yml", "compose.postgres.yml"}


def test_version_label_must_match_tag(notes):
    compose = notes / "compose.yml"
    compose.write_text(compose.read_text().replace("version=1.2.0+0.3.0", "version=1.1.9+0.3.0"))
    _commit(notes)
    subprocess.run(["git", "-C", str(notes), "tag", "1.3.0+0.4.0"], check=True)
    [warning] = _check(notes)
    assert warning.code == "CCCI-W402"
    assert warning.message == "tag 1.3.0+0.4.0: service app is labelled version '1.1.9+0.3.0'"


def test_bad_config_and_missing_ref_are_reported_together(notes, tmp_path):
    (tmp_path / "config" / "example-notes").mkdir(parents=True)
    (tmp_path / "config" / "example-notes" / "meta.yml").write_text("HEALTH_PAHT: /\n")
    found = check_recipe("example-notes", "no-such-ref", repo=str(notes),
                         config_root=tmp_path / "config")
    assert _codes(found) == ["CCCI-E010", "CCCI-E003"], found
    assert "unknown key 'HEALTH_PAHT'" in found[0].message
    assert (found[0].file, found[0].key) == ("meta.yml", "HEALTH_PAHT")
    assert "ref 'no-such-ref' does not exist" in found[1].message


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
    found = _check(notes, config_root=config)
    problems = [f.message for f in found]
    assert [p.split(": ", 2)[2].split(" ")[0] for p in problems] == [
        "EXPECTED_NA", "HEALTH_OK", "HTTP_TIMEOUT", "importing"], problems
    assert "hooks.py: importing it raised SystemExit at hooks.py:2" in problems[3]
    assert [f.key for f in found] == ["EXPECTED_NA", "HEALTH_OK", "HTTP_TIMEOUT", ""]


@pytest.mark.parametrize("key", ["EXTRA_ENV", "UPGRADE_EXTRA_ENV"])
def test_a_callable_env_that_raises_is_a_problem(notes, tmp_path, key):
    hooks = f"def {key}(ctx):\n    return {{'A': 1 / 0}}\n"
    config = _config(tmp_path, hooks=hooks)
    found = _check(notes, config_root=config)
    assert [f.message for f in found] == [
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
    out = capsys.readouterr().out
    assert "CCCI-E001" in out and "invalid recipe name 'bad/name'" in out


def test_cli_warnings_alone_exit_0_errors_exit_1(notes, capsys):
    subprocess.run(["git", "-C", str(notes), "tag", "v2.4.8"], check=True)
    assert main(["check", "example-notes", "--repo", str(notes)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^warning +CCCI-W401 +tags +1 tag\(s\) are not releases", out, re.M)
    assert "fix: Ignore them, or tag releases" in out
    assert out.rstrip().endswith("example-notes: ok, 0 error(s), 2 warning(s)")
    compose = notes / "compose.yml"
    compose.write_text(compose.read_text().replace("python:3.11", "python:${PY}"))
    _commit(notes)
    assert main(["check", "example-notes", "--repo", str(notes), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["errors"], data["warnings"]) == (False, 1, 2)
    assert [f["code"] for f in data["findings"]] == ["CCCI-W401", "CCCI-E205", "CCCI-W201"]
    assert set(data["findings"][1]) == {"code", "rule", "severity", "message", "file", "key",
                                        "fix"}


def test_generated_doc_is_current():
    doc = (ROOT / "docs" / "recipe-config.md").read_text()
    regenerate = "ccci config-doc > docs/recipe-config.md"
    assert doc == render(), f"docs/recipe-config.md is stale: run `{regenerate}`"


def test_check_rules_doc_is_current():
    doc = (ROOT / "docs" / "check-rules.md").read_text()
    regenerate = "ccci check-doc > docs/check-rules.md"
    assert doc == render_doc(), f"docs/check-rules.md is stale: run `{regenerate}`"


def test_every_rule_used_in_the_code_is_registered():
    """A finding of an unknown rule would fail at run time; catch it here."""
    used = set()
    patterns = [r'(?:problem|finding|\.add)\(\s*"([a-z]+\.[a-z-]+)"',
                r'rule = "([a-z]+\.[a-z-]+)"', r'yield \(?"([a-z]+\.[a-z-]+)"']
    for path in (ROOT / "runner" / "ccci").rglob("*.py"):
        for pattern in patterns:
            used |= set(re.findall(pattern, path.read_text()))
    assert used, "the scan found no rule"
    assert used - set(RULES) == set()
    assert {rule.severity for rule in RULES.values()} == {"error", "warning"}
    assert all(rule.code.startswith(f"CCCI-{rule.severity[0].upper()}")
               for rule in RULES.values())
