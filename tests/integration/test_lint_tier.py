"""The lint tier and ``ccci lint``: the examples are clean, a config edited without its
version bump is caught before anything deploys, ``--all`` gives one line per recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.helpers import run_objects
from tests.lint_repos import commit, edit

ROOT = Path(__file__).resolve().parents[2]


def _lint(recipes_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CCCI_RECIPES_DIR": str(recipes_dir)}
    return subprocess.run([sys.executable, "-m", "ccci.cli", "lint", *args], env=env,
                          cwd=ROOT, text=True, capture_output=True, timeout=300, check=False)


def _unbumped_config(recipes_dir: Path, tmp_path: Path) -> Path:
    """example-site with a release 1.3.0+1.22 whose nginx.conf.tmpl changed while
    NGINX_CONF_VERSION stayed: the upgrade to it cannot work on a swarm."""
    repo = tmp_path / "example-site"
    subprocess.run(["git", "clone", "-q", str(recipes_dir / "example-site"), str(repo)],
                   check=True)
    text = edit(repo, "nginx.conf.tmpl", "worker_connections 256;", "worker_connections 512;")
    version = edit(repo, "compose.yml", "1.2.0+1.22", "1.3.0+1.22")
    commit(repo, {"nginx.conf.tmpl": text, "compose.yml": version,
                  "release/1.3.0+1.22": "More connections.\n"}, tag="1.3.0+1.22")
    return repo


def test_the_examples_are_lint_clean(recipes_dir):
    for recipe in ("example-site", "example-notes"):
        done = _lint(recipes_dir, recipe, "--format", "json")
        result = json.loads(done.stdout)
        assert done.returncode == 0, done.stdout
        assert result["ok"] is True and result["errors"] == 0, result["findings"]
        assert result["previous"] is not None, "HEAD is a release: compared with the one before"


def test_lint_all_prints_one_line_per_recipe(recipes_dir, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for recipe in ("example-site", "example-notes"):
        (folder / recipe).symlink_to(recipes_dir / recipe)
    _unbumped_config(recipes_dir, tmp_path / "broken").rename(folder / "broken-site")
    done = _lint(recipes_dir, "--all", str(folder))
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout
    assert [line.split(":")[0] for line in lines] == [
        "broken-site", "example-notes", "example-site"]
    assert lines[0].startswith("broken-site: fails lint, 1 error(s)"), lines[0]
    assert "1.3.0+1.22 against 1.2.0+1.22" in lines[0]
    assert lines[1].startswith("example-notes: ok, 0 error(s)")


def test_a_config_edited_without_its_version_fails_the_lint_tier_before_any_deploy(
        ccci, docker_client, recipes_dir, tmp_path):
    repo = _unbumped_config(recipes_dir, tmp_path)
    call = ccci("run", "example-site", "--repo", str(repo), "--tiers", "lint")
    results = call.results
    assert call.rc == 1, call.output
    lint = results["tiers"]["lint"]
    assert lint["status"] == "failed" and lint["failure_kind"] == "recipe"
    assert "NGINX_CONF_VERSION" in lint["reason"], lint["reason"]
    errors = [f for f in lint["details"]["findings"] if f["severity"] == "error"]
    assert [f["file"] for f in errors] == ["nginx.conf.tmpl"] or any(
        "nginx.conf.tmpl" in f["message"] for f in errors), errors
    assert lint["details"]["previous"] == "1.2.0+1.22"
    assert results["fresh_deploys"] == 0, "lint deploys nothing"
    assert run_objects(docker_client, call.run_id, results["stack"]) == {}
