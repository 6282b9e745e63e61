"""Every hook call is bounded: it times out, takes what it started with it, and dies
with the process that asked for it.

The run is real (an example recipe materialized and planned with ``create_run``); the
hooks are a CI config written here whose hooks block on purpose.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ccci.config import load_recipe_config
from ccci.config.loader import ConfigError
from ccci.context import create_run
from ccci.examples import materialize_all
from ccci.hooks import check_marker, hook_limit, run_hook
from ccci.rundir import DeployEntry, RunDir

ROOT = Path(__file__).resolve().parents[2]

BLOCKING_HOOKS = '''
import os
import subprocess
import time
from pathlib import Path

from ccci.markers import Marker


def _block_on_a_child():
    """Start `sleep 1000`, tell the test the pids, wait for it forever."""
    sleeper = subprocess.Popen(["sleep", "1000"])
    pids = f"{os.getpid()} {sleeper.pid} {os.getppid()}"  # the hook's, its child's, caller's
    Path(os.environ["CCCI_TEST_PIDS"]).write_text(pids)
    sleeper.wait()


def pre_install(ctx):
    _block_on_a_child()


def pre_restore(ctx):
    _block_on_a_child()


def READY_PROBE(ctx):
    calls = Path(os.environ["CCCI_TEST_CALLS"])
    calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
    if os.environ.get("CCCI_TEST_FIRST_FALSE") and calls.read_text() == "x":
        return False
    time.sleep(1000)


def pre_upgrade(ctx):
    return Marker.http("/marker.txt", "seeded", "a marker file")


def pre_backup(ctx):
    return (line for line in ["cannot be pickled"])


def BACKUP_VERIFY(ctx):
    _block_on_a_child()
'''


@pytest.fixture(scope="module")
def recipes(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("recipes")
    materialize_all(ROOT / "examples" / "recipes", dest)
    return dest


@pytest.fixture
def make_run(recipes, tmp_path, monkeypatch) -> Callable[[str], Path]:
    """A planned run of example-site whose CI config is BLOCKING_HOOKS and ``meta``."""
    monkeypatch.setenv("CCCI_RECIPES_DIR", str(recipes))
    monkeypatch.setenv("CCCI_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CCCI_TEST_PIDS", str(tmp_path / "pids"))
    monkeypatch.setenv("CCCI_TEST_CALLS", str(tmp_path / "calls"))

    def make(meta: str, **planned: Any) -> Path:
        config = tmp_path / "config" / "example-site"
        config.mkdir(parents=True)
        (config / "meta.yml").write_text(textwrap.dedent(meta))
        (config / "hooks.py").write_text(BLOCKING_HOOKS)
        context = create_run("example-site", config_root=config.parent,
                             run_dir=tmp_path / "run", **planned)
        return Path(context.run_dir)

    return make


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs. A zombie is dead: orphans are reparented to PID 1, which
    does not reap them in every container."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _hook_pids(tmp_path: Path) -> list[int]:
    return [int(pid) for pid in (tmp_path / "pids").read_text().split()]


def _wait_until_dead(pids: list[int], timeout: float = 10) -> list[int]:
    """The pids still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


@pytest.fixture
def no_leftovers(tmp_path) -> Iterator[None]:
    """After the test, the processes a hook reported (not its caller) must be gone."""
    yield
    if (tmp_path / "pids").exists():
        pids = _hook_pids(tmp_path)[:2]
        survivors = _wait_until_dead(pids, timeout=5)
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
        assert not survivors, f"processes of the hook survived: {survivors}"


def test_a_blocking_hook_times_out_with_the_processes_it_started(make_run, tmp_path,
                                                                 no_leftovers):
    run_dir = make_run("HOOK_TIMEOUT: 60\nHOOK_TIMEOUTS: {pre_install: 2}\n")
    started = time.monotonic()
    outcome = run_hook(run_dir, "pre_install", "install")
    elapsed = time.monotonic() - started
    assert not outcome.ok and outcome.timed_out
    assert outcome.error == "timed out after 2 s (HOOK_TIMEOUTS.pre_install)"
    assert 2 <= elapsed < 10
    assert _wait_until_dead(_hook_pids(tmp_path)[:2], timeout=5) == []  # SIGKILLed


def test_ready_probe_stops_at_the_end_of_its_window_when_a_call_blocks(make_run,
                                                                       no_leftovers):
    run_dir = make_run("HOOK_TIMEOUT: 600\n")
    started = time.monotonic()
    outcome = run_hook(run_dir, "READY_PROBE", "install", retry_for=3, interval=0.5)
    elapsed = time.monotonic() - started
    assert not outcome.ok and outcome.timed_out and outcome.attempts == 1
    assert outcome.error == "timed out after 3 s (the end of its 3 s retry window)"
    assert 3 <= elapsed < 10


def test_a_probe_cut_short_by_its_window_also_says_what_the_call_before_said(
    make_run, monkeypatch, no_leftovers
):
    monkeypatch.setenv("CCCI_TEST_FIRST_FALSE", "1")
    run_dir = make_run("HOOK_TIMEOUT: 600\n")
    outcome = run_hook(run_dir, "READY_PROBE", "install", retry_for=3, interval=0.2)
    assert outcome.attempts == 2 and outcome.timed_out
    assert outcome.error.startswith("timed out after ")
    assert "retry window); the last call before: READY_PROBE returned False" in outcome.error


def test_a_probe_is_bounded_by_the_hook_timeout_within_its_window(make_run, no_leftovers):
    run_dir = make_run("HOOK_TIMEOUTS: {READY_PROBE: 1}\n")
    outcome = run_hook(run_dir, "READY_PROBE", "install", retry_for=3.5, interval=0.2)
    assert outcome.attempts >= 2  # a timed-out call is "not yet", so it is called again
    assert outcome.timed_out and "timed out after" in outcome.error


def test_backup_verify_is_bounded(make_run, tmp_path, no_leftovers):
    run_dir = make_run("HOOK_TIMEOUTS: {BACKUP_VERIFY: 2}\n")
    snapshot = {"id": "abc", "repository": "/nowhere", "password_file": "/nowhere.pw",
                "paths": ()}
    started = time.monotonic()
    outcome = run_hook(run_dir, "BACKUP_VERIFY", "backup", snapshot=snapshot,
                       require_true=True)
    assert time.monotonic() - started < 10
    assert outcome.error == "timed out after 2 s (HOOK_TIMEOUTS.BACKUP_VERIFY)"
    assert _wait_until_dead(_hook_pids(tmp_path)[:2], timeout=5) == []


@pytest.fixture
def silent_app() -> Iterator[int]:
    """A port that accepts connections and never answers (requests would wait 10 s)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_a_marker_probe_that_blocks_is_not_found_within_the_hook_timeout(make_run,
                                                                         silent_app):
    # Reached directly on the silent port: http://<domain>:<port>, the domain resolved
    # to loopback in the probe's process.
    run_dir = make_run("HOOK_TIMEOUT: 2\n", ingress_mode="direct", published_port=silent_app)
    record = RunDir(run_dir)
    seeded = run_hook(run_dir, "pre_upgrade", "upgrade")
    assert seeded.ok and seeded.returned["contains"] == "seeded"  # a Marker crossed back
    record.record_deploy(DeployEntry(op="install", plan="target"), published_port=silent_app,
                         stack="example_site")
    started = time.monotonic()
    check = check_marker(run_dir, "upgrade", "upgrade", "upgrade to 2")
    assert time.monotonic() - started < 8  # requests' own timeout is 10 s
    assert check.seeded and not check.found
    assert check.seen == "timed out after 2 s (HOOK_TIMEOUT)"
    assert record.markers().checks[-1].seen == check.seen


def test_a_value_that_cannot_cross_back_is_a_clear_failure(make_run):
    run_dir = make_run("{}\n")
    outcome = run_hook(run_dir, "pre_backup", "backup")
    assert not outcome.ok and not outcome.timed_out
    assert outcome.error.startswith("returned a generator that cannot be passed back")


WORKER = """
import signal, sys
from pathlib import Path
from ccci.hooks import run_hook
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
run_hook(Path(sys.argv[1]), "pre_restore", "restore")
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_the_hook_dies_with_the_process_that_called_it(make_run, tmp_path, signum,
                                                       no_leftovers):
    """ansible-runner SIGKILLs a cancelled playbook's workers; Ctrl-C or SIGTERM may
    reach a manual run's worker: the hook and its children must not outlive it."""
    run_dir = make_run("HOOK_TIMEOUT: 600\n")
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(run_dir)], cwd=tmp_path)
    pids = _wait_for_the_hook(tmp_path, worker)[:2]
    worker.send_signal(signum)
    worker.wait(timeout=10)
    assert _wait_until_dead(pids) == []


def _wait_for_the_hook(tmp_path: Path, starter: subprocess.Popen) -> list[int]:
    """The pids the blocking hook reports once it runs, all alive."""
    deadline = time.monotonic() + 30
    while not (tmp_path / "pids").exists() or len(_hook_pids(tmp_path)) < 3:
        assert time.monotonic() < deadline and starter.poll() is None, "the hook never ran"
        time.sleep(0.05)
    pids = _hook_pids(tmp_path)
    assert all(_alive(pid) for pid in pids)
    return pids


PLAYBOOK = """
import subprocess, sys, time
# Ansible's workers run in sessions of their own: killing the playbook leaves them.
subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], start_new_session=True)
time.sleep(1000)
"""


def test_a_caller_orphaned_by_a_cancelled_playbook_kills_the_hook_and_stops(
    make_run, tmp_path, no_leftovers
):
    """ansible-runner cancels by SIGKILLing the playbook's process group; its worker, in
    a session of its own, lives on: it must notice, kill the hook, and end."""
    run_dir = make_run("HOOK_TIMEOUT: 600\n")
    playbook = subprocess.Popen([sys.executable, "-c", PLAYBOOK, WORKER, str(run_dir)],
                                cwd=tmp_path, stderr=subprocess.DEVNULL)
    pids = _wait_for_the_hook(tmp_path, playbook)
    playbook.kill()
    playbook.wait(timeout=10)
    assert _wait_until_dead(pids) == []  # the hook, its sleep and the orphaned caller


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        ("HOOK_TIMEOUT: 0\n", "HOOK_TIMEOUT must be at least 1, not 0"),
        ("HOOK_TIMEOUT: '60'\n", "HOOK_TIMEOUT must be int"),
        ("HOOK_TIMEOUTS: {pre_instal: 60}\n",
         "HOOK_TIMEOUTS names unknown hook(s) ['pre_instal']; hooks: READY_PROBE"),
        ("HOOK_TIMEOUTS: {pre_install: 0}\n",
         "HOOK_TIMEOUTS must give each hook a whole number of seconds ≥ 1, not "
         "{'pre_install': 0}"),
        ("HOOK_TIMEOUTS: {pre_install: 1.5}\n",
         "HOOK_TIMEOUTS must give each hook a whole number of seconds ≥ 1, not "
         "{'pre_install': 1.5}"),
        ("HOOK_TIMEOUTS: {pre_install: true}\n",
         "HOOK_TIMEOUTS must give each hook a whole number of seconds ≥ 1, not "
         "{'pre_install': True}"),
        ("HOOK_TIMEOUTS: [pre_install]\n", "HOOK_TIMEOUTS must be dict"),
    ],
)
def test_timeouts_are_validated_naming_the_file_and_key(tmp_path, meta, problem):
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "meta.yml").write_text(meta)
    with pytest.raises(ConfigError) as raised:
        load_recipe_config("app", tmp_path)
    assert f"app: {folder / 'meta.yml'}: {problem}" in str(raised.value)


def test_the_limit_names_the_setting_it_comes_from(tmp_path):
    assert hook_limit(load_recipe_config("none", tmp_path), "pre_install").message() == (
        "timed out after 300 s (default HOOK_TIMEOUT)")
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "meta.yml").write_text("HOOK_TIMEOUT: 30\nHOOK_TIMEOUTS: {pre_install: 600}\n")
    config = load_recipe_config("app", tmp_path)
    assert hook_limit(config, "pre_install").message() == (
        "timed out after 600 s (HOOK_TIMEOUTS.pre_install)")
    assert hook_limit(config, "READY_PROBE").message() == "timed out after 30 s (HOOK_TIMEOUT)"
    assert hook_limit(config, None).seconds == 30  # a marker's probe
