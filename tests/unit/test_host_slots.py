"""A host's run capacity: slots that free themselves with their holder, and the queue."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from ccci import host_slots
from ccci.host_slots import HostFull, take_slot, try_slot
from ccci.inventory import SwarmHost


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CCCI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(host_slots, "POLL", 0.05)


HOST = SwarmHost("m1", {"ansible_host": "192.0.2.7", "ccci_capacity": 2})


def test_a_host_takes_as_many_runs_as_its_capacity():
    first, second = try_slot(HOST, "r1"), try_slot(HOST, "r2")
    assert first is not None and second is not None
    assert try_slot(HOST, "r3") is None
    assert sorted(host_slots.holders(HOST)) == ["r1", "r2"]
    second.release()
    third = try_slot(HOST, "r3")
    assert third is not None and sorted(host_slots.holders(HOST)) == ["r1", "r3"]


def test_hosts_have_slots_of_their_own():
    other = SwarmHost("m2", {"ansible_host": "192.0.2.8", "ccci_capacity": 1})
    assert try_slot(HOST, "r1") and try_slot(HOST, "r2")
    assert try_slot(other, "r3") is not None


def test_a_slot_is_free_again_when_its_holder_is_killed(tmp_path):
    code = ("import sys, time; from ccci.host_slots import try_slot; "
            "from ccci.inventory import SwarmHost; "
            "h = SwarmHost('m1', {'ansible_host': '192.0.2.7', 'ccci_capacity': 1}); "
            "assert try_slot(h, 'child'); print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={**os.environ})
    try:
        assert child.stdout.readline().strip() == "held"
        one = SwarmHost("m1", {"ansible_host": "192.0.2.7", "ccci_capacity": 1})
        assert try_slot(one, "me") is None
    finally:
        child.kill()
        child.wait()
    assert try_slot(one, "me") is not None


def test_a_full_host_makes_the_run_wait_then_fail_saying_why():
    held = [try_slot(HOST, "r1"), try_slot(HOST, "r2")]
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(HostFull, match=r"host m1 stayed full \(2 run\(s\) at once, "
                                       r"ccci_capacity\) for 0.3 s \(CCCI_QUEUE_TIMEOUT\)"):
        take_slot(HOST, "r3", timeout=0.3, say=said.append)
    assert time.monotonic() - started >= 0.3
    assert said == ["host m1 is full: 2 run(s) at once (ccci_capacity), held by r1, r2; "
                    "waiting up to 0.3 s for a slot (CCCI_QUEUE_TIMEOUT)"]
    assert all(held)


def test_a_waiting_run_takes_the_slot_that_comes_free():
    held = [try_slot(HOST, "r1"), try_slot(HOST, "r2")]
    said: list[str] = []
    threading.Timer(0.3, held[0].release).start()
    lease = take_slot(HOST, "r3", timeout=30, say=said.append)
    assert lease is not None and "r3" in host_slots.holders(HOST)
    assert said[-1] == "host m1: a slot came free, run r3 goes on"


def test_an_interrupted_wait_ends_at_once():
    assert try_slot(HOST, "r1") and try_slot(HOST, "r2")
    with pytest.raises(HostFull, match="interrupted while waiting"):
        take_slot(HOST, "r3", timeout=30, cancelled=lambda: True)


def test_the_queue_timeout_comes_from_the_environment(monkeypatch):
    assert host_slots.queue_timeout() == host_slots.DEFAULT_QUEUE_TIMEOUT
    monkeypatch.setenv("CCCI_QUEUE_TIMEOUT", "7")
    assert host_slots.queue_timeout() == 7
