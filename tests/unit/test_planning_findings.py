"""Run planning reports findings as ``ccci check`` does: errors refuse, warnings are kept.

The plan is real (a bundled example, edited and committed in a clone); stages are
scripted as in test_orchestrator, so results.json is the one a run would write.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ccci.context import create_run
from ccci.orchestrator import EXIT_BAD_INPUT, EXIT_OK, RunRequest
from ccci.upgrade_path import NO_RELEASE
from tests.unit.test_orchestrator import ScriptedRunner, _run

ROOT = Path(__file__).resolve().parents[2]
ROUTER = "Host(`${DOMAIN}`${EXTRA_DOMAINS})"


pytestmark = pytest.mark.usefixtures("isolated_run_dirs")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


def _variant(recipes: Path, tmp_path: Path, edit: Callable[[Path], None]) -> Path:
    repo = tmp_path / "variant" / "example-notes"
    subprocess.run(["git", "clone", "-q", str(recipes / "example-notes"), str(repo)],
                   check=True)
    edit(repo)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--allow-empty",
         "-qm", "variant")
    return repo


def _extra_domains(repo: Path) -> None:
    compose = repo / "compose.yml"
    compose.write_text(compose.read_text().replace("Host(`${DOMAIN}`)", ROUTER))
    assert ROUTER in compose.read_text()


def test_the_extra_domains_rule_and_other_tags_are_warnings_in_results(example_recipes, tmp_path):
    repo = _variant(example_recipes, tmp_path, _extra_domains)
    for tag in ("v2.4.8", "latest"):
        _git(repo, "tag", tag)
    result, results = _run(RunRequest("example-notes", tiers=("install",), repo=str(repo)),
                           ScriptedRunner({}))
    assert result.exit_code == EXIT_OK, results["error"]
    assert [(w["code"], w.get("plan")) for w in results["warnings"]] == [
        ("CCCI-W201", "target"), ("CCCI-W401", None)]
    unset, tags = results["warnings"]
    assert (unset["file"], unset["key"], unset["severity"]) == ("compose.yml", "EXTRA_DOMAINS",
                                                                "warning")
    assert tags["message"].endswith("never upgrade bases: latest, v2.4.8")
    assert unset["fix"] and tags["fix"]


def test_a_recipe_without_release_tags_installs_and_skips_the_upgrade(example_recipes, tmp_path):
    def untag(repo: Path) -> None:
        _git(repo, "tag", "-d", *_git(repo, "tag").split())
        _git(repo, "tag", "v2.4.8")

    repo = _variant(example_recipes, tmp_path, untag)
    context = create_run("example-notes", repo=str(repo), run_dir=tmp_path / "run",
                         upgrade=True, published_port=20999)
    assert context.upgrade_path == [] and context.upgrade_skip == NO_RELEASE
    assert context.version == "1.2.0+0.3.0"  # from the version label
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-notes", tiers=("install", "upgrade"),
                                      repo=str(repo)), runner)
    assert runner.stages == ["install", "teardown"]
    assert results["tiers"]["upgrade"] == {**results["tiers"]["upgrade"], "status": "skipped",
                                           "reason": NO_RELEASE}
    assert result.exit_code == EXIT_OK


@pytest.mark.parametrize(("edit", "code", "text"), [
    (lambda s: s.replace("python:3.11", "python:${PY_TAG}"), "CCCI-E205",
     "image 'ccci-example/python:' is not a valid reference because PY_TAG is not set"),
    (lambda s: s.replace("PORT=8080", "PORT=${PORT:?say which port}"), "CCCI-E204",
     "required variable PORT is missing a value: say which port"),
])
def test_a_blank_that_breaks_the_deploy_refuses_the_run(example_recipes, tmp_path, edit, code,
                                                         text):
    def change(repo: Path) -> None:
        compose = repo / "compose.yml"
        compose.write_text(edit(compose.read_text()))

    repo = _variant(example_recipes, tmp_path, change)
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-notes", tiers=("install",), repo=str(repo)),
                           runner)
    assert result.exit_code == EXIT_BAD_INPUT and runner.stages == []
    assert results["error"].startswith(code) and text in results["error"]
