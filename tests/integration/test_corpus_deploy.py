"""The corpus of published-recipe patterns on the local swarm.

Every deployable fixture of tests/fixtures/corpus/ (tests/corpus.py) passes
``ccci run --tiers install,backup,restore``: the restore brings back the data marker its
CI config (the fixture folder, the runs' config root) seeded before the backup, the
run records exactly the warnings the check expects, and nothing is left behind.

Docker is also asked how it reads each fixture (``docker stack config``, which merges
and interpolates the compose files as ``docker stack deploy`` does, without deploying):
it must accept every fixture that does not say ``docker_refuses``, and give each service
the deploy labels ccci planned with, since ccci picks the HTTP port, the version and the
services to back up from them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ccci.compose import labels_of, load_compose
from ccci.deploy_env import build_env, compose_chain
from ccci.examples import materialize_all
from ccci.findings import Findings
from tests.corpus import CORPUS, FIXTURES, deployable, expected, expected_findings, with_known_bug
from tests.integration.helpers import run_objects

pytestmark = pytest.mark.integration

TIERS = ("install", "backup", "restore")
DOMAIN = "corpus-oracle.ccci.test"


@pytest.fixture(scope="session")
def corpus_repos(tmp_path_factory) -> dict[str, Path]:
    return materialize_all(CORPUS, tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("name", with_known_bug(deployable(), "run"))
def test_installs_backs_up_and_restores(name, corpus_repos, ccci, docker_client):
    call = ccci("run", name, "--repo", str(corpus_repos[name]), "--tiers", ",".join(TIERS),
                env={"CCCI_CONFIG_DIR": str(CORPUS)})
    assert call.rc == 0, call.output
    tiers = call.results["tiers"]
    assert {t: tiers[t]["status"] for t in TIERS} == dict.fromkeys(TIERS, "passed"), tiers
    checks = tiers["restore"]["details"]["marker_checks"]
    assert checks and all(check["found"] for check in checks), checks
    warnings = sorted((w["code"], w["severity"], w["file"], w["key"])
                      for w in call.results["warnings"])
    assert warnings == expected_findings(name, "warning"), call.results["warnings"]
    assert run_objects(docker_client, call.run_id) == {}


def _docker_config(checkout: Path, files: list[str], env: dict[str, str]) -> dict:
    """The merged, interpolated stack as the docker CLI reads it."""
    args = [arg for name in files for arg in ("-c", name)]
    proc = subprocess.run(
        ["docker", "stack", "config", *args], cwd=checkout, capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **env},
        check=False,
    )
    assert proc.returncode == 0, f"docker refuses {checkout.name}: {proc.stderr}"
    return yaml.safe_load(proc.stdout)


@pytest.mark.parametrize("name", with_known_bug(FIXTURES, "labels"))
def test_docker_reads_the_fixture_as_ccci_does(name, corpus_repos):
    if expected(name).get("docker_refuses"):
        pytest.skip(f"Docker refuses it: {expected(name)['docker_refuses']}")
    checkout = corpus_repos[name]
    env, _modifiers = build_env(checkout, DOMAIN)
    chain = compose_chain(env)
    planned = load_compose(checkout, chain, env, Findings())
    docker = _docker_config(checkout, chain, env)
    assert set(docker["services"]) == set(planned.services)
    for service, spec in docker["services"].items():
        docker_labels = {k: str(v) for k, v in ((spec.get("deploy") or {}).get("labels")
                                                or {}).items()}
        assert labels_of(planned.services[service]) == docker_labels, service
