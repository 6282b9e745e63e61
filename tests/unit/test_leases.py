"""Leases and the registry of active runs: claims that die with their holder."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ccci import active_runs
from ccci.errors import BadInput
from ccci.leases import DEFAULT_PORT_RANGE, Lease, is_held, lease_domain, lease_port


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("CCCI_STATE_DIR", str(tmp_path / "state"))


def test_a_lease_is_exclusive_until_released(tmp_path):
    path = tmp_path / "x.lock"
    first = Lease.take(path, "x", {"run_id": "a"})
    assert first is not None and is_held(path)
    assert Lease.take(path, "x", {"run_id": "b"}) is None
    first.release()
    assert not path.exists() and not is_held(path)
    again = Lease.take(path, "x", {"run_id": "b"})
    assert again is not None
    again.release()


def test_a_lease_dies_with_a_killed_holder(tmp_path):
    path = tmp_path / "held.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from ccci.leases import Lease;"
         f"lease = Lease.take(Path({str(path)!r}), 'x', {{}}); print('held', flush=True);"
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert Lease.take(path, "x", {}) is None
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lease = Lease.take(path, "x", {})
    assert lease is not None
    lease.release()


def test_ports_skip_what_is_leased_in_use_or_reserved():
    busy = {20001}
    first = lease_port("a", (20000, 20010), in_use=busy.__contains__)
    second = lease_port("b", (20000, 20010), in_use=busy.__contains__,
                        exclude=frozenset({20002}))
    assert (first.value, second.value) == ("20000", "20003")
    with pytest.raises(BadInput, match="no free port left in 20000-20000"):
        lease_port("c", (20000, 20000), in_use=lambda _p: False)
    first.release()
    second.release()


def _lease_and_report(queue, barrier):
    barrier.wait()
    lease = lease_port(f"run{os.getpid()}", (21000, 21100), in_use=lambda _p: False)
    queue.put(lease.value)
    time.sleep(1)  # hold it while the others pick
    lease.release()


def test_concurrent_processes_get_distinct_ports():
    ctx = multiprocessing.get_context("fork")
    queue, barrier = ctx.Queue(), ctx.Barrier(5)
    procs = [ctx.Process(target=_lease_and_report, args=(queue, barrier)) for _ in range(5)]
    for proc in procs:
        proc.start()
    ports = [queue.get(timeout=30) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert len(set(ports)) == 5


def test_a_domain_is_leased_once_and_the_message_names_the_holder():
    with lease_domain("app.ccci.test", "r1"), pytest.raises(
        BadInput, match=r"in use by run r1 \(pid \d+\)"
    ):
        lease_domain("app.ccci.test", "r2")
    lease_domain("app.ccci.test", "r2").release()


def _register_and_die(run_dir):
    active_runs.register(active_runs.new_entry("run2", "local", run_dir, port=20006))
    os._exit(0)  # no cleanup: the entry stays, nobody holds its lock


def test_registry_tells_running_dead_and_kept_runs(tmp_path):
    lease = active_runs.register(active_runs.new_entry("run1", "local", str(tmp_path),
                                                       port=20005))
    child = multiprocessing.get_context("fork").Process(target=_register_and_die,
                                                         args=(str(tmp_path),))
    child.start()
    child.join(timeout=30)
    active_runs.save(active_runs.new_entry("run3", "local", str(tmp_path), kept=True))
    states = {r.entry.run_id: r.state for r in active_runs.runs()}
    assert states == {"run1": "running", "run2": "dead", "run3": "kept"}
    assert active_runs.reserved_ports() == frozenset({20005, 20006})
    active_runs.forget("run1")
    lease.release()
    assert "run1" not in {r.entry.run_id for r in active_runs.runs()}


def test_the_host_role_closes_the_range_ports_are_leased_from():
    """The host role firewalls exactly the ports ccci leases (loopback only)."""
    role = Path(__file__).resolve().parents[2] / (
        "collections/ansible_collections/ccci/recipe/roles/host/defaults/main.yml")
    assert tuple(yaml.safe_load(role.read_text())["host_port_range"]) == DEFAULT_PORT_RANGE
