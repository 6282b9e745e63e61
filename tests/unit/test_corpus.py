"""The corpus of published-recipe patterns: ``ccci check`` finds exactly what each expects.

Each fixture under tests/fixtures/corpus/<name>/ reproduces what published Co-op Cloud
recipes do (see the comment at the top of its compose.yml) and says in expected.yml
what the check must find, as (code, severity, file, key). A new fixture directory is
picked up by these tests on its own (tests/corpus.py describes the layout). The
fixture folder is also the recipe's CI config, so the check reads it as a run does.

The issue's done-when: the check raises no error Docker itself would not raise. A
fixture may expect an error only with a ``docker_refuses:`` reason.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ccci.check import check_recipe
from ccci.examples import materialize_all
from ccci.findings import RULES
from ccci.lint.apply import lint_recipe
from tests.corpus import BUG_SHOWS_IN, CORPUS, FIXTURES, expected, expected_findings, with_known_bug

SEVERITY = {rule.code: rule.severity for rule in RULES.values()}


@pytest.fixture(scope="module")
def corpus_repos(tmp_path_factory) -> dict[str, Path]:
    return materialize_all(CORPUS, tmp_path_factory.mktemp("corpus"))


def test_the_corpus_is_there():
    assert len(FIXTURES) >= 8, FIXTURES


@pytest.mark.parametrize("name", FIXTURES)
def test_expected_yml_is_well_formed(name):
    data = expected(name)
    assert isinstance(data.get("deployable"), bool), f"{name}: deployable: true|false"
    if not data["deployable"]:
        assert str(data.get("reason") or "").strip(), f"{name}: say why it is not deployable"
    for item in data.get("findings") or []:
        assert isinstance(item, list) and len(item) == 4, f"{name}: [code, severity, file, key]"
        code, severity, _file, _key = item
        assert SEVERITY.get(code) == severity, f"{name}: {code} is not a {severity} rule"
    bug = data.get("ccci_bug")
    if bug is not None:
        assert str(bug.get("what") or "").strip(), f"{name}: ccci_bug needs `what`"
        assert set(bug.get("fails") or []) <= BUG_SHOWS_IN and bug.get("fails"), name
    if data.get("docker_refuses") is not None:
        assert str(data["docker_refuses"]).strip(), f"{name}: docker_refuses needs a reason"


@pytest.mark.parametrize("name", FIXTURES)
def test_compose_yml_says_which_published_pattern_it_reproduces(name):
    assert (CORPUS / name / "base" / "compose.yml").read_text().startswith("# Pattern: ")


@pytest.mark.parametrize("name", FIXTURES)
def test_only_the_recipe_goes_into_its_repository(name, corpus_repos):
    """expected.yml and the CI config stay outside the recipe's git repository."""
    tracked = subprocess.run(
        ["git", "-C", str(corpus_repos[name]), "ls-files"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert not {"expected.yml", "versions.yml", "hooks.py", "meta.yml"} & set(tracked)
    assert {"compose.yml", ".env.sample"} <= set(tracked)


@pytest.mark.parametrize("name", with_known_bug(FIXTURES, "check"))
def test_check_finds_exactly_what_is_expected(name, corpus_repos):
    found = check_recipe(name, repo=str(corpus_repos[name]), config_root=CORPUS)
    got = sorted((f.code, f.severity, f.file, f.key) for f in found)
    assert got == expected_findings(name), "\n".join(f.line() for f in found)


@pytest.mark.parametrize("name", FIXTURES)
def test_lint_finds_exactly_what_is_expected(name, corpus_repos):
    """Published patterns are no lint errors; the warnings each deserves are pinned."""
    result = lint_recipe(name, repo=corpus_repos[name])
    got = sorted((f.code, f.severity, f.file, f.key) for f in result.findings)
    assert got == sorted(tuple(item) for item in expected(name)["lint"]), (
        "\n".join(f.line() for f in result.findings))
    assert result.ok, result.error


@pytest.mark.parametrize("name", with_known_bug(FIXTURES, "check"))
def test_no_error_docker_would_not_raise(name, corpus_repos):
    """An error is allowed only where expected.yml says why Docker refuses the recipe."""
    found = check_recipe(name, repo=str(corpus_repos[name]), config_root=CORPUS)
    errors = [f.line() for f in found if f.is_error]
    if expected(name).get("docker_refuses"):
        assert errors, f"{name} expects Docker to refuse it, but ccci found no error"
    else:
        assert errors == [], "\n".join(errors)
