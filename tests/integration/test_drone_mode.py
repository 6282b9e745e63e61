"""`ccci run` in a Drone pipeline step, end to end: the build's environment in (as the
bridge's parameters and Drone set it), a real quick run of example-site on the local
swarm, and the answer out: the summary card as a pull-request comment and a commit
status, sent to a local stand-in of the Gitea/Forgejo API (tests/contract/fake_forge.py:
Gitea/Forgejo cannot be installed here; the stand-in implements the documented
endpoints ccci calls).

The pull request's head is a commit the recipe's clone on the CI host does not have
(only the forge's ``refs/pull/<n>/head`` names it, as on Gitea and Forgejo), and it
adds CI code of the recipe's own (``.ccci/hooks.py``, ``.ccci/tests/``): the run must
fetch it, and run that code only when the CI config approves the recipe (the trust gate).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract.fake_forge import FakeForge
from tests.integration.helpers import run_objects

ROOT = Path(__file__).resolve().parents[2]
REPO = "coop-cloud/example-site"
PR = 12
REPO_HOOKS = """\
import os
from pathlib import Path


def pre_install(ctx):
    Path(os.environ["CCCI_TEST_HOOK_MARK"]).write_text(ctx.domain)
"""
REPO_TEST = """\
def test_the_site_answers_the_repository_test(http, app):
    assert http.get(app.base_url + "/").ok
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def pull_request_forge(source: Path, where: Path) -> tuple[Path, str]:
    """A bare "forge" repository of ``source`` whose pull request PR (a commit adding
    .ccci/ code) is only in refs/pull/PR/head, and the CI host's clone of it, which
    lacks that commit. Returns the clone and the pull request's head."""
    forge = where / "forge" / "example-site.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(source), str(forge)],
                   check=True)
    work = where / "contributor"
    subprocess.run(["git", "clone", "--quiet", str(forge), str(work)], check=True)
    (work / ".ccci" / "tests").mkdir(parents=True)
    (work / ".ccci" / "hooks.py").write_text(REPO_HOOKS)
    (work / ".ccci" / "tests" / "test_from_repository.py").write_text(REPO_TEST)
    _git(work, "add", ".ccci")
    _git(work, "-c", "user.name=contributor", "-c", "user.email=c@example.org",
         "commit", "--quiet", "-m", "CI code of the recipe's own")
    _git(work, "push", "--quiet", "origin", f"HEAD:refs/pull/{PR}/head")
    head = _git(work, "rev-parse", "HEAD")
    clone = where / "recipes" / "example-site"
    # --no-local: fetched as from a server, not the forge's whole object store copied
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(forge), str(clone)],
                   check=True)
    assert subprocess.run(["git", "-C", str(clone), "cat-file", "-e", head],
                          capture_output=True, check=False).returncode != 0
    return clone, head


@pytest.mark.parametrize("trusted", [True, False], ids=["approved", "not-approved"])
def test_a_drone_build_runs_quick_and_answers_on_its_pull_request(
        trusted, recipes_dir, tmp_path, docker_client):
    clone, head = pull_request_forge(recipes_dir / "example-site", tmp_path)
    mark = tmp_path / "repo-hook-ran"
    token = "forge-" + secrets.token_hex(12)
    forge = FakeForge(token).start()
    try:
        forge.add_pull(REPO, PR, head)
        config = tmp_path / "service.yml"
        config.write_text(json.dumps({"forge_url": forge.url, "forge_user": "ccci-bot",
                                      "trusted_recipes": ["example-site"] if trusted
                                      else ["another-recipe"]}))
        env = {**os.environ, "CI": "true", "DRONE": "true", "DRONE_BUILD_NUMBER": "41",
               "DRONE_BUILD_LINK": "https://drone.invalid/coop-cloud/ccci/41",
               "CCCI_RECIPE": "example-site", "CCCI_REF": head, "CCCI_PR": str(PR),
               "CCCI_REPO": REPO, "CCCI_QUICK": "true", "CCCI_FORGE_TOKEN": token,
               "CCCI_SERVICE_CONFIG": str(config), "CCCI_RECIPES_DIR": str(clone.parent),
               "CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_TEST_HOOK_MARK": str(mark),
               # a build parameter cannot approve a recipe: only the config file can
               "CCCI_TRUSTED_RECIPES": "example-site"}
        proc = subprocess.run([sys.executable, "-m", "ccci.cli", "run", "--drone"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=900,
                              check=False)
        comments = forge.comments_on(REPO, PR)
        statuses = forge.statuses_of(REPO, head)
    finally:
        forge.stop()
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "answer: posted on the pull request" in output
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("results: ")]
    results = json.loads(Path(line.removeprefix("results: ")).read_text())
    assert results["quick"] is True and set(results["tiers"]) == {"install", "functional"}
    assert results["ci"]["build"] == 41 and results["ci"]["pr"] == PR
    assert run_objects(docker_client, results["run_id"]) == {}
    assert f"fetched pull request #{PR}" in output
    assert _git(clone, "rev-parse", f"refs/ccci/pull/{PR}") == head == results["commit"]

    run_dir = Path(results["run_dir"])
    functional = json.loads((run_dir / "functional.json").read_text())
    ran = {Path(f).name for f in functional["files"]}
    skipped = [w for w in results["warnings"] if w["code"] == "CCCI-W901"]
    report = (run_dir / "report.html").read_text()
    if trusted:  # the repository's hook and test ran, and nothing says they did not
        context = json.loads((run_dir / "context.json").read_text())
        assert mark.read_text() == context["domain"]
        assert context["repo_code"]["state"] == "used"
        assert "test_from_repository.py" in ran and functional["ok"] is True
        assert not skipped and "CCCI-W901" not in report
        assert results["repo_code"]["state"] == "used" and "ran: .ccci/hooks.py" in report
    else:  # neither ran, and the run says so and why, in its results, report and card
        assert not mark.exists()
        assert "test_from_repository.py" not in ran and "test_site.py" in ran
        [warning] = skipped
        assert ".ccci/hooks.py" in warning["message"] and "not approved" in warning["message"]
        assert "CCCI-W901" in report and "trusted_recipes" in report
        assert results["repo_code"]["state"] == "skipped" and "not run: .ccci/hooks.py" in report

    [comment] = comments
    card = (Path(results["run_dir"]) / "summary.md").read_text()
    assert card.strip() in comment["body"] and "quick run: partial" in comment["body"]
    assert ("CCCI-W901" in comment["body"]) is not trusted
    assert [s["state"] for s in statuses] == ["success"]
    assert token not in output
