"""A hook that blocks fails its tier at its time limit, and the run goes on to teardown
with nothing of the hook left running."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.helpers import run_objects

ROOT = Path(__file__).resolve().parents[2]
# An unusual argument, so the test can tell this hook's sleep from any other process.
SLEEP_MARK = "1234.5"

BLOCKING_PRE_INSTALL = f'''
import subprocess


def pre_install(ctx):
    subprocess.run(["sleep", "{SLEEP_MARK}"], check=False)
'''


def _processes_with(text: str) -> list[str]:
    """Command lines of running processes that contain ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # ended while we looked
        line = b" ".join(args).decode(errors="replace").strip()
        if text in line:
            found.append(line)
    return found


def _blocking_config(tmp_path: Path, pre_install_timeout: int) -> Path:
    """A CI config root: example-site's meta.yml and a pre_install that blocks."""
    config = tmp_path / "config" / "example-site"
    config.mkdir(parents=True)
    shutil.copy(ROOT / "recipes" / "example-site" / "meta.yml", config)
    with (config / "meta.yml").open("a") as meta:
        meta.write(f"HOOK_TIMEOUTS: {{pre_install: {pre_install_timeout}}}\n")
    (config / "hooks.py").write_text(BLOCKING_PRE_INSTALL)
    return config.parent


def _no_process_with(text: str, timeout: float = 10) -> list[str]:
    """Command lines still containing ``text`` after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while _processes_with(text) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _processes_with(text)


def test_a_blocking_pre_install_fails_install_and_leaves_nothing(ccci, tmp_path, docker_client):
    config = _blocking_config(tmp_path, 3)

    call = ccci("run", "example-site", "--tiers", "install", env={"CCCI_CONFIG_DIR": str(config)})

    assert call.rc == 1, call.output
    install = call.results["tiers"]["install"]
    assert install["status"] == "failed", install
    assert "timed out after 3 s (HOOK_TIMEOUTS.pre_install)" in install["reason"], install
    assert call.results["teardown"]["status"] == "passed", call.results["teardown"]
    assert run_objects(docker_client, call.run_id, call.results["stack"]) == {}
    assert _processes_with(f"sleep {SLEEP_MARK}") == []
    assert _no_process_with(call.run_id) == []  # playbooks name the run's folder


def test_a_cancelled_run_leaves_no_hook_behind(recipes_dir, tmp_path, docker_client):
    """ansible-runner SIGKILLs the cancelled playbook's processes; the hook, in a process
    group of its own, must end with them."""
    runs = tmp_path / "runs"
    env = {**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
           "CCCI_RUNS_DIR": str(runs), "CCCI_CONFIG_DIR": str(_blocking_config(tmp_path, 600))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccci.cli", "run", "example-site", "--tiers", "install"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not _processes_with(f"sleep {SLEEP_MARK}"):
        assert time.monotonic() < deadline and proc.poll() is None, "pre_install never ran"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 130
    [results_path] = runs.glob("*/results.json")
    results = json.loads(results_path.read_text())
    assert results["tiers"]["install"]["reason"] == "interrupted"
    assert results["teardown"]["status"] == "passed", results["teardown"]
    assert run_objects(docker_client, results["run_id"], results["stack"]) == {}
    assert _processes_with(f"sleep {SLEEP_MARK}") == []
    # Ansible's worker (a session of its own, not killed by the cancel) ends too.
    assert _no_process_with(results["run_id"]) == []
