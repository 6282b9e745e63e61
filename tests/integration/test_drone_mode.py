"""`ccci run` in a Drone pipeline step, end to end: the build's environment in (as the
bridge's parameters and Drone set it), a real quick run of example-site on the local
swarm, and the answer out: the summary card as a pull-request comment and a commit
status, sent to a local stand-in of the Gitea/Forgejo API (tests/contract/fake_forge.py:
Gitea/Forgejo cannot be installed here; the stand-in implements the documented
endpoints ccci calls).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.contract.fake_forge import FakeForge
from tests.integration.helpers import run_objects

ROOT = Path(__file__).resolve().parents[2]
REPO = "coop-cloud/example-site"
PR = 12


def test_a_drone_build_runs_quick_and_answers_on_its_pull_request(recipes_dir, tmp_path,
                                                                  docker_client):
    head = subprocess.run(["git", "-C", str(recipes_dir / "example-site"), "rev-parse",
                           "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    token = "forge-" + secrets.token_hex(12)
    forge = FakeForge(token).start()
    try:
        forge.add_pull(REPO, PR, head)
        config = tmp_path / "service.yml"
        config.write_text(json.dumps({"forge_url": forge.url, "forge_user": "ccci-bot"}))
        env = {**os.environ, "CI": "true", "DRONE": "true", "DRONE_BUILD_NUMBER": "41",
               "DRONE_BUILD_LINK": "https://drone.invalid/coop-cloud/ccci/41",
               "CCCI_RECIPE": "example-site", "CCCI_REF": head, "CCCI_PR": str(PR),
               "CCCI_REPO": REPO, "CCCI_QUICK": "true", "CCCI_FORGE_TOKEN": token,
               "CCCI_SERVICE_CONFIG": str(config), "CCCI_RECIPES_DIR": str(recipes_dir),
               "CCCI_RUNS_DIR": str(tmp_path / "runs")}
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

    [comment] = comments
    card = (Path(results["run_dir"]) / "summary.md").read_text()
    assert card.strip() in comment["body"] and "quick run: partial" in comment["body"]
    assert [s["state"] for s in statuses] == ["success"]
    assert token not in output
