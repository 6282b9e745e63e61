"""Promises the README and the design make to users, checked end to end on the real swarm:
a residue after teardown fails the run, a restore that loses the marker fails the
restore tier, Ctrl-C still tears down, ``--keep`` keeps the app and prints a teardown
command that works, and a generated secret's value appears in no output or record."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.integration.helpers import app_get, make_recipe_variant, run_objects

ROOT = Path(__file__).resolve().parents[2]
TEARDOWN_COMMAND = re.compile(r"ccci teardown \S+")


def _playbook_env() -> dict[str, str]:
    """What a user has after `. .venv/bin/activate`: the venv's bin first on PATH."""
    return {**os.environ, "ANSIBLE_NOCOLOR": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _teardown_playbook(run_dir: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-playbook", "playbooks/teardown.yml", "-e", f"run_dir={run_dir}"],
        cwd=ROOT, env=_playbook_env(), capture_output=True, text=True, timeout=600,
        check=False,
    )


def _config_with_extra_hooks(tmp_path: Path, recipe: str, extra: str) -> Path:
    """A CI config root holding the enrolled config of ``recipe`` with ``extra`` appended
    to its hooks.py (a later definition replaces the enrolled one)."""
    root = tmp_path / "config"
    config = root / recipe
    config.mkdir(parents=True)
    shutil.copy(ROOT / "recipes" / recipe / "meta.yml", config)
    enrolled = (ROOT / "recipes" / recipe / "hooks.py").read_text()
    (config / "hooks.py").write_text(enrolled + extra)
    return root


# --- 1. a residue after teardown fails the run -------------------------------------------

# A READY_PROBE that, like a careless debugging hook, starts a plain container (not part
# of the stack, without the run's label) on the app's content volume and leaves it there.
LEAKY_READY_PROBE = '''

_enrolled_ready_probe = READY_PROBE


def READY_PROBE(ctx):
    """The enrolled probe, after starting a helper container that holds the volume."""
    import os

    name = os.environ["CCCI_TEST_HELPER"]
    if not ctx.host.run(f"docker ps -aq --filter name=^{name}$").stdout.strip():
        ctx.host.check_output(
            f"docker run -d --name {name} -v {ctx.stack}_content:/data "
            "ccci-example/base:bookworm sleep 900"
        )
    return _enrolled_ready_probe(ctx)
'''


def test_residue_after_teardown_fails_the_run_naming_it(ccci, docker_client, tmp_path):
    config = _config_with_extra_hooks(tmp_path, "example-site", LEAKY_READY_PROBE)
    helper = f"ccci-test-residue-{uuid.uuid4().hex[:12]}"
    call = None
    try:
        call = ccci("run", "example-site", "--tiers", "install",
                    env={"CCCI_CONFIG_DIR": str(config), "CCCI_TEST_HELPER": helper})
        results = call.results
        planted = docker_client.containers.get(helper)
        assert "ccci.run" not in planted.labels  # the run cannot know it is its own
        assert results["tiers"]["install"]["status"] == "passed", call.output
        assert call.rc == 1, call.output
        teardown = results["teardown"]
        assert teardown["status"] == "failed", teardown
        volume = f"{results['stack']}_content"
        assert volume in teardown["reason"], teardown
        assert "residue" in teardown["reason"], teardown
        assert re.search(r"^\s*teardown\s+failed", call.output, re.MULTILINE), call.output
        # The residue really is there, and it is the run's own volume.
        assert run_objects(docker_client, call.run_id)["volumes"] == [volume]
    finally:
        containers = docker_client.containers.list(all=True, filters={"name": f"^{helper}$"})
        for container in containers:
            container.remove(force=True, v=False)
        if call is not None:
            cleanup = _teardown_playbook(call.results["run_dir"])
            assert cleanup.returncode == 0, cleanup.stdout[-3000:]
    assert run_objects(docker_client, call.run_id, call.results["stack"]) == {}


# --- 2. a restore that does not bring the marker back fails the restore tier ---------------

def _restore_forgets_to_load_the_dump(repo: Path) -> None:
    """The recipe's restore post-hook never reloads the dump: restic puts backup.sql back,
    the database stays empty. Only one version is published, so the upgrade tier is
    skipped with a reason and the level could climb to L3 if the restore passed."""
    compose = repo / "compose.postgres.yml"
    lines = compose.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if "backupbot.restore.post-hook=" not in ln]
    assert len(kept) == len(lines) - 1
    compose.write_text("".join(kept))
    tags = subprocess.run(["git", "-C", str(repo), "tag"], capture_output=True, text=True,
                          check=True).stdout.split()
    older = [t for t in tags if t != "1.2.0+0.3.0"]
    assert older and len(older) == len(tags) - 1
    subprocess.run(["git", "-C", str(repo), "tag", "-d", *older], check=True,
                   capture_output=True)


def test_restore_without_the_marker_fails_the_restore_tier(ccci, docker_client, recipes_dir,
                                                          tmp_path):
    repo = make_recipe_variant(recipes_dir, "example-notes", "no-reload", tmp_path,
                               _restore_forgets_to_load_the_dump)
    call = ccci("run", "example-notes", "--repo", str(repo))
    results = call.results
    tiers = results["tiers"]
    assert call.rc == 1, call.output
    assert tiers["install"]["status"] == "passed", tiers["install"]
    assert tiers["upgrade"]["status"] == "skipped", tiers["upgrade"]
    assert tiers["upgrade"]["reason"]
    assert tiers["backup"]["status"] == "passed", tiers["backup"]
    restore = tiers["restore"]
    assert restore["status"] == "failed", restore
    assert "marker" in restore["reason"], restore
    assert "note row in the notes table" in restore["reason"], restore
    [check] = restore["details"]["marker_checks"]
    assert check["found"] is False
    assert results["level"] == 2
    assert results["teardown"]["status"] == "passed", results["teardown"]
    assert run_objects(docker_client, call.run_id, results["stack"]) == {}
    assert not Path(f"/var/lib/ccci/restic/{call.run_id}").exists()


# --- 3. Ctrl-C mid-deploy exits 130 after tearing down ------------------------------------

def _lines_of(proc: subprocess.Popen) -> queue.Queue:
    """The process's output lines, read on a thread so waiting never blocks on a pipe."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("target", ["process", "process-group"])
def test_ctrl_c_mid_deploy_exits_130_after_teardown(recipes_dir, tmp_path, docker_client,
                                                    target):
    """SIGINT to ccci alone, and to its whole process group as a terminal's Ctrl-C does
    (Ansible's own processes get it too)."""
    runs = tmp_path / "runs"
    env = {**_playbook_env(), "CI": "true", "PYTHONUNBUFFERED": "1",
           "CCCI_RECIPES_DIR": str(recipes_dir), "CCCI_RUNS_DIR": str(runs)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccci.cli", "run", "example-notes", "--tiers", "install"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group, whose id is its pid
    )
    lines = _lines_of(proc)
    seen: list[str] = []
    run_id = None
    try:
        deadline = time.monotonic() + 300
        # Until the deploy task starts...
        while time.monotonic() < deadline and not any("Deploy the stack" in ln for ln in seen):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "".join(seen)
            seen.append(line)
            match = re.match(r"run ([0-9a-f]+): ", line)
            run_id = run_id or (match.group(1) if match else None)
        assert run_id, "".join(seen)
        # ...and swarm has the stack's services: the app is being deployed.
        while time.monotonic() < deadline and not docker_client.services.list(
                filters={"label": f"ccci.run={run_id}"}):
            assert proc.poll() is None, "".join(seen)
            time.sleep(0.1)
        assert not any(ln.startswith("== install:") for ln in seen), "".join(seen)
        if target == "process":
            proc.send_signal(signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    output = "".join(seen)
    assert proc.returncode == 130, output
    [results_path] = runs.glob("*/results.json")
    assert f"results: {results_path}" in output
    results = json.loads(results_path.read_text())
    assert results["run_id"] == run_id
    assert results["tiers"]["install"]["status"] == "failed", results["tiers"]
    assert results["tiers"]["install"]["reason"] == "interrupted"
    assert results["exit_code"] == 130
    assert results["teardown"]["status"] == "passed", results["teardown"]
    assert run_objects(docker_client, run_id, results["stack"]) == {}


# --- 4. --keep keeps the app and prints a teardown command that works ---------------------

def test_keep_leaves_the_app_running_and_prints_a_working_teardown(ccci, docker_client,
                                                                     tmp_path):
    call = ccci("run", "example-site", "--tiers", "install", "--keep")
    results = call.results
    stack, domain = results["stack"], results["domain"]
    torn_down = None
    try:
        assert call.rc == 0, call.output
        assert results["tiers"]["install"]["status"] == "passed"
        commands = TEARDOWN_COMMAND.findall(call.output)
        assert commands, call.output
        command = commands[-1]
        assert shlex.split(command)[-1] == results["run_dir"]
        services = docker_client.services.list(
            filters={"label": f"com.docker.stack.namespace={stack}"})
        assert [s.name for s in services] == [f"{stack}_app"]
        page = app_get(results["run_dir"])  # through the proxy, by its name
        assert page.status_code == 200 and "<h1>example-site" in page.text, page.text
        assert run_objects(docker_client, call.run_id, stack)["volumes"] == [
            f"{stack}_content", f"{stack}_uploads"]

        # From any directory, not only the checkout: the command finds its playbooks.
        torn_down = subprocess.run(
            shlex.split(command), cwd=tmp_path, env=_playbook_env(), capture_output=True,
            text=True, timeout=600, check=False)
        assert torn_down.returncode == 0, torn_down.stdout[-3000:]
        assert run_objects(docker_client, call.run_id, stack) == {}
        # The proxy drops the route at its next poll of the swarm (every second); until
        # then it may still send a request to the gone container's address, where it
        # waits for its dial timeout: such a request counts as "still routed".
        deadline = time.monotonic() + 10
        while (gone := _answer_once_torn_down(results["run_dir"])) is None:
            assert time.monotonic() < deadline, f"{domain} still answers after the teardown"
            time.sleep(0.2)
        assert gone.text == "404 page not found\n"
    finally:
        if torn_down is None or torn_down.returncode != 0:
            _teardown_playbook(results["run_dir"])


def _answer_once_torn_down(run_dir: str) -> requests.Response | None:
    """The proxy's 404 for the app's name; None while the name is still routed."""
    try:
        answer = app_get(run_dir, timeout=2)
    except requests.RequestException:
        return None  # sent on to the gone container, waiting for the dial
    return answer if answer.status_code == 404 else None


# --- 5. a generated secret's value appears nowhere ----------------------------------------

def _secret_value(docker_client, stack: str, docker_name: str) -> tuple[str, str]:
    """(value, service) of the swarm secret ``docker_name``, read where it is mounted."""
    for service in docker_client.services.list(
            filters={"label": f"com.docker.stack.namespace={stack}"}):
        spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
        for ref in spec.get("Secrets", []):
            if ref["SecretName"] != docker_name:
                continue
            [container] = docker_client.containers.list(filters={
                "label": f"com.docker.swarm.service.name={service.name}", "status": "running"})
            read = container.exec_run(["cat", f"/run/secrets/{ref['File']['Name']}"])
            assert read.exit_code == 0, read.output
            return read.output.decode(), service.name
    raise AssertionError(f"no service of {stack} mounts {docker_name}")


def _files_holding(folder: Path, needle: bytes) -> list[str]:
    return [str(path) for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes()]


def test_generated_secret_value_appears_nowhere(ccci, docker_client):
    call = ccci("run", "example-notes", "--tiers", "install", "--keep")
    results = call.results
    run_dir = Path(results["run_dir"])
    teardown = None
    try:
        assert call.rc == 0, call.output
        # The one secret .env.sample declares (SECRET_DB_PASSWORD_VERSION=v1 # length=32),
        # generated by the run and labelled with its id.
        generated = docker_client.secrets.list(filters={"label": f"ccci.run={call.run_id}"})
        assert [s.name for s in generated] == [f"{results['stack']}_db_password_v1"]
        value, service = _secret_value(docker_client, results["stack"], generated[0].name)
        # A real generated value: the declared length (# length=32), not a placeholder.
        assert re.fullmatch(r"[A-Za-z0-9]{32}", value), (service, len(value))
        assert len(set(value)) > 8
        # The app really uses it: PostgreSQL was set up with it and the install passed.
        assert results["tiers"]["install"]["status"] == "passed"

        assert value not in call.output
        artifacts = run_dir / "ansible" / "artifacts"
        assert len([p for p in artifacts.rglob("*") if p.is_file()]) > 5  # events were kept
        # The walk does read the records: a value that is in them (the run id) is found.
        holding_run_id = _files_holding(run_dir, call.run_id.encode())
        assert any("/ansible/artifacts/" in f for f in holding_run_id)
        for record in ("results.json", "junit.xml", "context.json", "deploy.json"):
            assert (run_dir / record).is_file(), record
        assert _files_holding(run_dir, value.encode()) == []

        teardown = _teardown_playbook(str(run_dir))
        assert teardown.returncode == 0, teardown.stdout[-3000:]
        assert value not in teardown.stdout + teardown.stderr
        assert _files_holding(run_dir, value.encode()) == []
        assert run_objects(docker_client, call.run_id, results["stack"]) == {}
    finally:
        if teardown is None or teardown.returncode != 0:
            _teardown_playbook(str(run_dir))
