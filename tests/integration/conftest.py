"""Integration tests run ccci for real against the local swarm.

The README's test command prepares the host (Docker, swarm, proxy network) and builds
the example images first; a missing prerequisite fails loudly instead of skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from ccci.examples import materialize_all

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def docker_client():
    client = docker.from_env()
    info = client.info()
    assert info["Swarm"]["LocalNodeState"] == "active", "run scripts/prepare first: no swarm"
    client.images.get("ccci-example/base:bookworm")
    return client


@pytest.fixture(scope="session")
def recipes_dir(tmp_path_factory) -> Path:
    """Bundled examples and test fixture recipes as git repositories."""
    dest = tmp_path_factory.mktemp("recipes")
    materialize_all(ROOT / "examples" / "recipes", dest)
    materialize_all(FIXTURES / "recipes", dest)
    return dest


@dataclass
class CcciCall:
    rc: int
    output: str
    results: dict

    @property
    def run_id(self) -> str:
        return self.results["run_id"]

    @property
    def apps(self) -> list[dict]:
        """Each app of the run (run_id, stack, domain, ...): fresh, then upgraded if any."""
        apps = self.results.get("apps") or {}
        return list(apps.values()) or [
            {"run_id": self.run_id, "stack": self.results["stack"]}]


@pytest.fixture
def ccci(recipes_dir, tmp_path, docker_client):
    """Run the ``ccci`` command as a user would and load the results it points at."""

    def call(*args: str, env: dict[str, str] | None = None) -> CcciCall:
        environ = {
            **os.environ,
            "CI": "true",
            "CCCI_RECIPES_DIR": str(recipes_dir),
            "CCCI_RUNS_DIR": str(tmp_path / "runs"),
            **(env or {}),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "ccci.cli", *args],
            capture_output=True, text=True, env=environ, cwd=ROOT, timeout=900, check=False,
        )
        output = proc.stdout + proc.stderr
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("results: ")]
        assert lines, f"ccci printed no results path:\n{output}"
        results = json.loads(Path(lines[-1].removeprefix("results: ")).read_text())
        return CcciCall(proc.returncode, output, results)

    return call
