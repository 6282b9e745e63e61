"""The collection's modules run inside the task's worker on a local host
(plugin_utils/in_process.py): same results, failures and check mode as a module process
of their own, which is what they still get wherever the worker cannot stand in for the
host (here: a task ``environment``)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from ccci.ansible import ansible_env

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# A task environment makes Ansible's own module execution the only faithful one.
OWN_PROCESS = {"CCCI_TEST_OWN_PROCESS": "1"}


def _tasks(folder: Path, run_id: str) -> list[dict]:
    calls = [
        ("prepare_check", {"ccci.recipe.deploy_prepare": {
            "run_id": run_id, "folder": str(folder / "check"), "files": {"a.yml": "a: 1\n"}},
            "check_mode": True}),
        ("prepare", {"ccci.recipe.deploy_prepare": {
            "run_id": run_id, "folder": str(folder / "{{ side }}"),
            "files": {"a.yml": "a: 1\n"}}}),
        ("bad_name", {"ccci.recipe.deploy_prepare": {
            "run_id": run_id, "folder": str(folder), "files": {"../a.yml": ""}}}),
        ("unknown_option", {"ccci.recipe.free_port": {"start": 1024, "bogus": 1}}),
        ("listing", {"ccci.recipe.run_resources": {"run_id": run_id}}),
    ]
    tasks = []
    for side, environment in (("here", {}), ("own", OWN_PROCESS)):
        for name, task in calls:
            tasks.append({"name": f"{side} {name}", **task, "register": f"{side}_{name}",
                          "ignore_errors": True, "environment": environment,
                          "vars": {"side": side}})
    tasks.append({"ansible.builtin.copy": {
        "content": "{{ dict(results) | to_json }}", "dest": str(folder / "results.json"),
        "mode": "0600"},
        "vars": {"results": [[f"{side}_{name}", f"{{{{ {side}_{name} }}}}"]
                             for side in ("here", "own") for name, _ in calls]}})
    return tasks


def test_a_module_gives_the_same_result_in_the_worker_as_in_its_own_process(tmp_path):
    run_id = f"inproc-{uuid.uuid4().hex[:8]}"
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "swarm", "gather_facts": False,
                                         "tasks": _tasks(tmp_path, run_id)}]))
    played = subprocess.run(
        ["ansible-playbook", "-vvv", str(playbook)], cwd=ROOT,
        env={**os.environ, **ansible_env(ROOT)}, capture_output=True, text=True,
        timeout=300, check=False)
    assert played.returncode == 0, played.stdout[-3000:] + played.stderr[-2000:]
    results = yaml.safe_load((tmp_path / "results.json").read_text())

    for name in ("prepare_check", "prepare", "bad_name", "unknown_option", "listing"):
        here, own = results[f"here_{name}"], results[f"own_{name}"]
        for result in (here, own):
            result.pop("exception", None)  # a traceback, where there is one
        if name == "prepare":  # each side wrote its own folder
            assert here.pop("written") == [str(tmp_path / "here" / "a.yml")]
            assert own.pop("written") == [str(tmp_path / "own" / "a.yml")]
        assert here == own, name
    assert results["here_bad_name"]["failed"]
    assert "plain name" in results["here_bad_name"]["msg"]
    assert "bogus" in results["here_unknown_option"]["msg"]
    assert results["here_prepare_check"]["changed"] and not (tmp_path / "check").exists()
    assert (tmp_path / "here" / "a.yml").read_text() == "a: 1\n"
    assert results["here_listing"]["found"]["secrets"] == []

    # Only the tasks with an environment started a module process of their own.
    ours = ("AnsiballZ_deploy_prepare", "AnsiballZ_free_port", "AnsiballZ_run_resources")
    started = [line for line in played.stdout.splitlines()
               if "EXEC" in line and "python" in line and any(name in line for name in ours)]
    assert len(started) == 5, started
    assert all("CCCI_TEST_OWN_PROCESS=1" in line for line in started), started
