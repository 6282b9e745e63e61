"""The ccci.recipe.bridge role, run for real by ansible-playbook against localhost, and
the pipeline definition (.drone.yml).

Every path of the role points into tmp_path. This machine has no systemd, so the role
writes its files and skips enabling and starting the service, saying so.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SECRETS = {
    "bridge_forge_token": "forge-tok-6c1d0e9b$HOME",
    "bridge_drone_token": "drone-tok-a7f3e21c",
    "bridge_webhook_secret": 'hook-sec-"4b2d9f70"',
}
CONFIG = {
    "forge_url": "https://git.example.org",
    "drone_url": "https://drone.example.org",
    "drone_repo": "coop-cloud/ccci",
    "forge_user": "ccci-bot",
    "recipes": {"coop-cloud/example-site": "example-site"},
}
PLAYBOOK = """\
- name: Install the bridge
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: ccci.recipe.bridge
"""


def has_systemd() -> bool:
    return Path("/run/systemd/system").exists()


def run_role(tmp: Path, variables: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """ansible-playbook with the JSON callback (every result, as Ansible shows it)."""
    (tmp / "play.yml").write_text(PLAYBOOK)
    (tmp / "vars.json").write_text(json.dumps(variables))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-e", f"@{tmp / 'vars.json'}",
         "--diff", str(tmp / "play.yml")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def task_results(output: str) -> dict[str, dict[str, Any]]:
    """Task name (without the role prefix) -> localhost's result."""
    report = json.loads(output)
    return {task["task"]["name"].split(" : ", 1)[-1]: task["hosts"].get("localhost", {})
            for play in report["plays"] for task in play["tasks"]}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if has_systemd():
        pytest.skip("a host with systemd: the role would enable and start a real service")
    tmp = tmp_path_factory.mktemp("bridge")
    paths = {"config": tmp / "etc" / "ccci" / "service.yml",
             "env": tmp / "etc" / "ccci" / "bridge.env",
             "unit": tmp / "systemd" / "ccci-bridge.service"}
    variables = {
        "bridge_checkout": str(REPO_ROOT), "bridge_config": CONFIG,
        "bridge_config_path": str(paths["config"]), "bridge_env_path": str(paths["env"]),
        "bridge_unit_path": str(paths["unit"]), "bridge_user": "nobody",
        "bridge_user_create": False, **SECRETS,
    }
    first = run_role(tmp, variables)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    second = run_role(tmp, variables)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    return {"paths": paths, "first": first, "second": second, "vars": variables}


def test_unit_runs_the_bridge_with_the_env_file(installed: dict[str, Any]) -> None:
    paths = installed["paths"]
    lines = paths["unit"].read_text().splitlines()
    assert f"ExecStart={REPO_ROOT}/.venv/bin/ccci bridge --config {paths['config']}" in lines
    assert f"EnvironmentFile={paths['env']}" in lines
    assert "Restart=on-failure" in lines
    assert "User=nobody" in lines
    assert "NoNewPrivileges=yes" in lines
    assert oct(stat.S_IMODE(paths["unit"].stat().st_mode)) == "0o644"


def test_config_is_yaml_without_secrets(installed: dict[str, Any]) -> None:
    config = installed["paths"]["config"]
    assert yaml.safe_load(config.read_text()) == CONFIG
    text = config.read_text()
    assert not any(value in text for value in SECRETS.values())
    assert oct(stat.S_IMODE(config.stat().st_mode)) == "0o644"


def test_config_is_what_ccci_loads(installed: dict[str, Any]) -> None:
    from ccci.ci.config import load_config

    env_file = installed["paths"]["env"]
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
               if line and not line.startswith("#"))
    loaded = load_config(installed["paths"]["config"], {k: unquote(v) for k, v in env.items()})
    assert loaded.drone_repo == "coop-cloud/ccci"
    assert loaded.recipe_for("coop-cloud/example-site") == "example-site"
    assert loaded.forge_token is not None
    assert loaded.forge_token.reveal() == SECRETS["bridge_forge_token"]


def unquote(value: str) -> str:
    """A double-quoted value of a systemd environment file, as systemd reads it."""
    assert value.startswith('"') and value.endswith('"'), value
    out, chars = [], iter(value[1:-1])
    for char in chars:
        if char == "\\":
            nxt = next(chars)
            out.append(nxt if nxt in '"\\`$' else "\\" + nxt)
        else:
            out.append(char)
    return "".join(out)


def test_env_file_holds_the_secrets_for_root_only(installed: dict[str, Any]) -> None:
    env_file = installed["paths"]["env"]
    assert oct(stat.S_IMODE(env_file.stat().st_mode)) == "0o600"
    assert env_file.stat().st_uid == 0
    env = {}
    for line in env_file.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = unquote(value)
    assert env == {"CCCI_FORGE_TOKEN": SECRETS["bridge_forge_token"],
                   "CCCI_DRONE_TOKEN": SECRETS["bridge_drone_token"],
                   "CCCI_WEBHOOK_SECRET": SECRETS["bridge_webhook_secret"]}


def test_no_secret_in_ansible_output(installed: dict[str, Any]) -> None:
    for run in (installed["first"], installed["second"]):
        for value in SECRETS.values():
            assert value not in run.stdout
            assert value not in run.stderr
    env_task = task_results(installed["first"].stdout)["Write the bridge's secrets"]
    assert env_task["changed"] is True
    assert env_task.get("censored")


def test_service_is_not_started_without_systemd(installed: dict[str, Any]) -> None:
    results = task_results(installed["first"].stdout)
    assert results["Enable and start the bridge"].get("skipped") is True
    assert "No systemd on this host" in results["Say that the bridge will not be started"]["msg"]


def test_second_run_changes_nothing(installed: dict[str, Any]) -> None:
    stats = json.loads(installed["second"].stdout)["stats"]["localhost"]
    assert stats["changed"] == 0
    assert stats["failures"] == 0


def test_secret_in_config_is_refused(tmp_path: Path) -> None:
    if has_systemd():
        pytest.skip("a host with systemd")
    variables = {
        "bridge_checkout": str(REPO_ROOT),
        "bridge_config": {**CONFIG, "drone_token": SECRETS["bridge_drone_token"]},
        "bridge_config_path": str(tmp_path / "service.yml"),
        "bridge_env_path": str(tmp_path / "bridge.env"),
        "bridge_unit_path": str(tmp_path / "ccci-bridge.service"),
        "bridge_user_create": False, **SECRETS,
    }
    result = run_role(tmp_path, variables)
    assert result.returncode != 0
    assert results_failed(result.stdout) == "Check the bridge settings"
    assert not (tmp_path / "service.yml").exists()


def results_failed(output: str) -> str | None:
    return next((name for name, result in task_results(output).items()
                 if result.get("failed")), None)


def test_pipeline_definition() -> None:
    pipeline = yaml.safe_load((REPO_ROOT / ".drone.yml").read_text())
    assert pipeline["kind"] == "pipeline"
    assert pipeline["type"] == "exec"
    assert pipeline["trigger"]["event"] == ["custom"]
    assert pipeline["concurrency"]["limit"] == 2
    (step,) = pipeline["steps"]
    assert step["commands"][-1] == ".venv/bin/ccci run --drone"
    env = step["environment"]
    assert env["CCCI_FORGE_TOKEN"] == {"from_secret": "forge_token"}
    assert env["CCCI_SERVICE_CONFIG"] == "/etc/ccci/service.yml"
    assert env["CCCI_RUNS_DIR"] == "/var/lib/ccci/runs"
    assert all(isinstance(value, str | dict) for value in env.values())
