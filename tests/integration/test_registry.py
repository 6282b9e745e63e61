"""Images pulled from a real registry (Debian's docker-registry on loopback).

A variant of example-site whose image references the test's own registry is deployed
with RESOLVE_IMAGE: always: the install passes; a tag the registry lacks fails the
install within seconds, naming the image, as the recipe's fault; the registry stopped
between the install and an upgrade that needs a new tag fails the upgrade as
infrastructure, and ``ccci run`` exits 3 so a CI job can retry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import make_recipe_variant, run_objects, wait_for_line
from tests.integration.registry import LocalRegistry, running_registry

ROOT = Path(__file__).resolve().parents[2]
LOCAL_IMAGE = "image: ccci-example/nginx:1.22"
VERSION = "1.2.0+1.22"


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[LocalRegistry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """example-site's CI config with image resolution on."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "recipes" / "example-site", config / "example-site")
    meta = config / "example-site" / "meta.yml"
    meta.write_text(meta.read_text() + "RESOLVE_IMAGE: always\n")
    return config


def _image(image: str, version: str = VERSION):
    def edit(repo: Path) -> None:
        compose = repo / "compose.yml"
        text = compose.read_text()
        assert LOCAL_IMAGE in text and VERSION in text
        compose.write_text(text.replace(LOCAL_IMAGE, f"image: {image}")
                           .replace(VERSION, version))
    return edit


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    *args], check=True, capture_output=True)


def _events(tier: dict) -> list[dict]:
    """The ansible-runner events of a tier's stage."""
    folder = Path(tier["details"]["artifacts"]) / "job_events"
    return [json.loads(path.read_text()) for path in folder.glob("*.json")]


def _assert_clean(results: dict, docker_client) -> None:
    assert results["teardown"]["status"] == "passed", results["teardown"]
    for app in (results.get("apps") or {"": results}).values():
        assert run_objects(docker_client, app["run_id"], app["stack"]) == {}


def test_an_image_from_the_registry_installs(ccci, docker_client, recipes_dir, tmp_path,
                                             registry, config_dir):
    repo = make_recipe_variant(recipes_dir, "example-site", "from-registry", tmp_path,
                               _image(registry.image("1.22")))
    call = ccci("run", "example-site", "--repo", str(repo), "--tiers", "install",
                env={"CCCI_CONFIG_DIR": str(config_dir)})
    assert call.rc == 0, call.output
    assert call.results["tiers"]["install"]["status"] == "passed"
    assert any(e["event_data"].get("task") == "Pull the stack's images before deploying"
               and e["event"] == "runner_on_ok" for e in _events(call.results["tiers"]["install"]))
    _assert_clean(call.results, docker_client)


def test_a_tag_missing_from_the_registry_fails_the_install_at_once(
        ccci, docker_client, recipes_dir, tmp_path, registry, config_dir):
    missing = registry.image("9.99-missing")
    repo = make_recipe_variant(recipes_dir, "example-site", "missing-tag", tmp_path,
                               _image(missing))
    call = ccci("run", "example-site", "--repo", str(repo), "--tiers", "install",
                env={"CCCI_CONFIG_DIR": str(config_dir)})
    install = call.results["tiers"]["install"]
    assert call.rc == 1, call.output
    assert install["status"] == "failed"
    assert install["failure_kind"] == "recipe"
    assert install["reason"].startswith("Pull the stack's images before deploying: ")
    assert missing in install["reason"] and "manifest unknown" in install["reason"]
    assert "push the image or fix the tag" in install["hint"]
    assert install["details"]["deploy"] is None, "failed before the deploy: no convergence wait"
    [pull] = [e["event_data"] for e in _events(install) if e["event"] == "runner_on_failed"]
    assert pull["task"] == "Pull the stack's images before deploying"
    assert pull["duration"] < 10, "the registry's answer comes at once"
    assert "install    failed [recipe] (Pull the stack's images" in call.output
    _assert_clean(call.results, docker_client)


def _two_registry_releases(registry: LocalRegistry):
    """1.3.0 pulls tag 1.22 from the registry; 1.4.0, the version under test, tag 1.23."""
    def edit(repo: Path) -> None:
        _image(registry.image("1.22"), "1.3.0+1.22")(repo)
        _git(repo, "commit", "-qam", "1.3.0 from the registry")
        _git(repo, "tag", "1.3.0+1.22")
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace(registry.image("1.22"),
                                                       registry.image("1.23"))
                           .replace("1.3.0+1.22", "1.4.0+1.23"))
    return edit


def test_a_registry_gone_before_the_upgrade_is_infrastructure_and_exits_3(
        recipes_dir, docker_client, tmp_path, config_dir):
    # A registry of this test's own: stopping it must not break the other tests.
    with running_registry(tmp_path / "registry") as registry:
        repo = make_recipe_variant(recipes_dir, "example-site", "registry-gone", tmp_path,
                                   _two_registry_releases(registry))
        runs = tmp_path / "runs"
        env = {**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
               "CCCI_RUNS_DIR": str(runs), "CCCI_CONFIG_DIR": str(config_dir)}
        # The upgrade tier alone: only the upgraded app deploys (the base pulls 1.22),
        # and the registry goes away once the base is up, before 1.23 is pulled.
        proc = subprocess.Popen(
            [sys.executable, "-m", "ccci.cli", "run", "example-site", "--repo", str(repo),
             "--tiers", "upgrade"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = wait_for_line(proc, "Call the recipe's pre_upgrade hook", timeout=300)
        registry.stop()  # the base is installed; the upgrade needs 1.23
        output, _ = proc.communicate(timeout=600)
    output = seen + output
    [results_path] = runs.glob("*/results.json")
    results = json.loads(results_path.read_text())
    assert results["apps"]["upgraded"]["first_version"] == "1.3.0+1.22"
    upgrade = results["tiers"]["upgrade"]
    assert upgrade["status"] == "failed", upgrade
    assert upgrade["failure_kind"] == "infrastructure", upgrade
    assert registry.image("1.23") in upgrade["reason"]
    assert "connection refused" in upgrade["reason"]
    assert results["failure_kind"] == "infrastructure"
    assert proc.returncode == 3 == results["exit_code"], output
    assert "upgrade    upgraded failed [infrastructure]" in output and "exit 3" in output
    _assert_clean(results, docker_client)


# A READY_PROBE that moves the image's tag in the registry once, as an upstream push
# between two deploys would: the image is the same app with one more label.
MOVE_TAG_PROBE = '''


def READY_PROBE(ctx):
    import os, subprocess, tempfile
    flag = os.path.join(os.environ["CCCI_TEST_FLAG_DIR"], "moved")
    if not os.path.exists(flag):
        target = os.environ["CCCI_TEST_MOVING_IMAGE"]
        with tempfile.TemporaryDirectory() as build:
            with open(os.path.join(build, "Dockerfile"), "w") as dockerfile:
                dockerfile.write("FROM ccci-example/nginx:1.22\\nLABEL moved=yes\\n")
            subprocess.run(["docker", "build", "-q", "-t", target, build], check=True,
                           capture_output=True)
        subprocess.run(["docker", "push", target], check=True, capture_output=True)
        open(flag, "w").close()
    return True
'''


def test_a_tag_moved_between_two_deploys_is_an_idempotence_warning(
        ccci, docker_client, recipes_dir, tmp_path, registry, config_dir):
    """The install tier deploys the same version twice; the registry's tag moved in
    between (an unpinned image resolved anew), so the second deploy changes the app."""
    moving = registry.image("moving")
    registry.push("ccci-example/nginx:1.22", "moving")
    repo = make_recipe_variant(recipes_dir, "example-site", "moving-tag", tmp_path,
                               _image(moving))
    hooks = config_dir / "example-site" / "hooks.py"
    hooks.write_text(hooks.read_text() + MOVE_TAG_PROBE)
    call = ccci("run", "example-site", "--repo", str(repo), "--tiers", "install",
                env={"CCCI_CONFIG_DIR": str(config_dir), "CCCI_TEST_FLAG_DIR": str(tmp_path),
                     "CCCI_TEST_MOVING_IMAGE": moving})
    assert call.rc == 0, call.output
    install = call.results["tiers"]["install"]
    assert install["status"] == "passed"
    [change] = install["details"]["idempotence"]["changes"]
    assert change["service"] == f"{call.results['stack']}_app"
    assert "TaskTemplate.ContainerSpec.Image" in change["fields"]
    [warning] = [w for w in call.results["warnings"] if w["code"] == "CCCI-W601"]
    assert "TaskTemplate.ContainerSpec.Image" in warning["message"]
    _assert_clean(call.results, docker_client)
