"""A secret the operator inserts (abra's ``# generate=false``) gets its value from the
variable SECRET_VALUES names, and that value appears nowhere in the run directory."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import make_recipe_variant, replace_in, run_objects

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _operator_inserts_db_password(repo: Path) -> None:
    replace_in(repo / ".env.sample", "SECRET_DB_PASSWORD_VERSION=v1  # length=32",
               "SECRET_DB_PASSWORD_VERSION=v1  # generate=false")


def test_secret_value_from_the_environment_reaches_the_app_and_no_artifact(
        ccci, docker_client, recipes_dir, tmp_path):
    repo = make_recipe_variant(recipes_dir, "example-notes", "inserted-secret", tmp_path,
                               _operator_inserts_db_password)
    config = tmp_path / "config" / "example-notes"
    config.mkdir(parents=True)
    shutil.copy(ROOT / "recipes/example-notes/meta.yml", config)
    with (config / "meta.yml").open("a") as meta:
        meta.write("SECRET_VALUES: {db_password: CCCI_TEST_DB_PASSWORD}\n")
    value = f"inserted-{secrets.token_hex(12)}"
    call = ccci("run", "example-notes", "--repo", str(repo), "--tiers", "install", "--keep",
                env={"CCCI_CONFIG_DIR": str(config.parent), "CCCI_TEST_DB_PASSWORD": value})
    try:
        assert call.rc == 0, call.output
        assert not [w for w in call.results["warnings"] if w["code"] == "CCCI-W302"]
        [app] = docker_client.containers.list(filters={
            "label": [f"ccci.run={call.run_id}",
                      f"com.docker.swarm.service.name={call.results['stack']}_app"]})
        assert app.exec_run(["cat", "/run/secrets/db_password"]).output.decode() == value
        assert value not in call.output
        leaks = subprocess.run(["grep", "-rl", value, call.results["run_dir"]],
                               capture_output=True, text=True, check=False).stdout
        assert leaks == "", f"secret value written to {leaks}"
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "ccci.cli", "teardown", call.results["run_dir"]],
            capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
    assert run_objects(docker_client, call.run_id) == {}
