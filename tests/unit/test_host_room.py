"""When a run's two apps may deploy together: the registry's count and free memory."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from ccci import active_runs, host_room
from ccci.host_room import capacity, free_memory_mb, room_for_both


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CCCI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("CCCI_HOST_MAX_APPS", raising=False)
    monkeypatch.setenv("CCCI_MIN_FREE_MB", "1")


def register(held: ExitStack, host: str, count: int) -> None:
    for _ in range(count):
        run_id = f"r{len(active_runs.runs())}"
        entry = active_runs.new_entry(run_id, host, f"/runs/{run_id}")
        held.enter_context(active_runs.register(entry))


def test_capacity_is_two_apps_per_cpu_unless_configured(monkeypatch):
    monkeypatch.setattr(host_room.os, "cpu_count", lambda: 3)
    assert capacity() == 6
    monkeypatch.setenv("CCCI_HOST_MAX_APPS", "2")
    assert capacity() == 2


def test_apps_beyond_the_capacity_of_their_host_deploy_one_after_the_other(monkeypatch):
    monkeypatch.setenv("CCCI_HOST_MAX_APPS", "3")
    with ExitStack() as held:
        register(held, "local", 3)
        register(held, "/inv/other.yml", 5)  # another host's apps do not count
        assert room_for_both("local", local=True).both
        register(held, "local", 4)
        room = room_for_both("local", local=True)
    assert not room.both
    assert room.reason == "7 apps registered on local, room for 3 (CCCI_HOST_MAX_APPS)"


def test_little_free_memory_on_the_local_host_means_no_room(monkeypatch):
    monkeypatch.setenv("CCCI_MIN_FREE_MB", "10000000")  # 10 TB
    room = room_for_both("local", local=True)
    assert not room.both and "MiB of memory available on local" in room.reason
    # the controller does not know a remote host's memory: only the count applies
    assert room_for_both("/inv/remote.yml", local=False).both


def test_free_memory_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    2097152 kB\n")
    assert free_memory_mb(meminfo) == 2048
    meminfo.write_text("MemTotal: 1 kB\n")
    assert free_memory_mb(meminfo) is None
    assert free_memory_mb(tmp_path / "absent") is None
