"""One implementation, two entry points: `ccci run` and `ansible-playbook` call the same
hooks; teardown runs after SIGTERM too."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ccci.context import load_run
from ccci.rundir import RunDir
from tests.integration.helpers import processes_mentioning, run_objects, wait_for_line

ROOT = Path(__file__).resolve().parents[2]

RECORDING_HOOKS = '''
import os
from pathlib import Path


def _record(line):
    with Path(os.environ["CCCI_TEST_HOOK_LOG"]).open("a") as log:
        log.write(line + "\\n")


def pre_install(ctx):
    _record(f"pre_install op={ctx.op} domain={ctx.domain}")


def READY_PROBE(ctx):
    served = ctx.exec("app", "test -s /var/www/html/index.html")
    _record(f"READY_PROBE op={ctx.op} url={ctx.base_url} index={served.rc}")
    return served.ok
'''


@pytest.fixture
def recording_config(tmp_path) -> tuple[Path, Path]:
    """A CI config root whose example-site hooks write what they saw to a log."""
    root = tmp_path / "config"
    (root / "example-site").mkdir(parents=True)
    shutil.copy(ROOT / "recipes" / "example-site" / "meta.yml", root / "example-site")
    (root / "example-site" / "hooks.py").write_text(RECORDING_HOOKS)
    return root, tmp_path / "hooks.log"


def _env(recipes_dir: Path, config: Path, log: Path, runs: Path) -> dict[str, str]:
    return {
        **os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
        "CCCI_CONFIG_DIR": str(config), "CCCI_TEST_HOOK_LOG": str(log),
        "CCCI_RUNS_DIR": str(runs), "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }


def test_manual_playbooks_call_the_same_hooks(recipes_dir, recording_config, tmp_path,
                                              docker_client, ccci):
    config, log = recording_config
    env = _env(recipes_dir, config, log, tmp_path / "runs")
    run_dir = tmp_path / "manual-run"
    install = subprocess.run(
        ["ansible-playbook", "playbooks/install.yml", "-e", "recipe=example-site",
         "-e", f"run_dir={run_dir}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    context = load_run(run_dir)
    try:
        assert install.returncode == 0, install.stdout[-3000:]
        deploys = RunDir(run_dir).deploys()
        assert deploys.deploys[-1].converged is True
        assert RunDir(run_dir).tiers().passed("install")
        manual_lines = log.read_text().splitlines()
        assert deploys.published_port is None  # reached through the proxy
        assert manual_lines[0] == f"pre_install op=install domain={context.domain}"
        assert manual_lines[-1] == (
            f"READY_PROBE op=install url=https://{context.domain}:18443 index=0")
    finally:
        teardown = subprocess.run(
            ["ansible-playbook", "playbooks/teardown.yml", "-e", f"run_dir={run_dir}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
        )
    assert teardown.returncode == 0, teardown.stdout[-3000:]
    assert run_objects(docker_client, context.run_id, context.stack) == {}

    log.unlink()
    call = ccci("run", "example-site", "--tiers", "install",
                env={"CCCI_CONFIG_DIR": str(config),
                                             "CCCI_TEST_HOOK_LOG": str(log)})
    assert call.rc == 0, call.output
    orchestrated = [line.split(" url=")[0].split(" domain=")[0]
                    for line in log.read_text().splitlines()]
    assert orchestrated[0] == "pre_install op=install"
    assert orchestrated[-1] == "READY_PROBE op=install"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_a_signal_mid_deploy_still_tears_down(recipes_dir, tmp_path, docker_client, signum):
    """SIGTERM (a CI cancel) and SIGHUP (a closed terminal) both end in teardown."""
    runs = tmp_path / "runs"
    env = _env(recipes_dir, ROOT / "recipes", tmp_path / "unused.log", runs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccci.cli", "run", "example-notes"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen = wait_for_line(proc, "Deploy the stack", timeout=300)
    time.sleep(1)  # inside the deploy: the stack is being created
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=300)
    output = seen + output
    assert proc.returncode == 130, output
    [results_path] = runs.glob("*/results.json")
    results = json.loads(results_path.read_text())
    assert results["tiers"]["install"]["status"] == "failed"
    assert results["tiers"]["install"]["reason"] == "interrupted"
    assert results["teardown"]["status"] == "passed", results["teardown"]
    assert set(results["apps"]) == {"fresh", "upgraded"}  # both were deploying
    for app in results["apps"].values():
        assert run_objects(docker_client, app["run_id"], app["stack"]) == {}
    assert processes_mentioning(results["run_dir"]) == []  # no worker left behind
