"""The janitor's decisions: which registered runs are reaped, what their results say,
what a pass reports, which run a teardown names, and what ``ccci ls`` shows.

The registry is real (a tmp ``CCCI_STATE_DIR``); a run is dead when its entry is saved
without a lock and alive while this process holds its lease. Playbooks are scripted.
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccci import active_runs, cli, janitor
from ccci.ansible import StageRun
from ccci.context import RunContext
from ccci.errors import BadInput
from ccci.inventory import SwarmHost
from ccci.leases import Lease
from ccci.progress import Progress
from ccci.rundir import RunDir

PAST = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
LOCAL = frozenset({"local"})


@pytest.fixture(autouse=True)
def _dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("CCCI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CCCI_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture
def leases():
    """Leases taken by a test, released at its end (a live run's lock)."""
    held: list[Lease] = []
    yield held
    for lease in held:
        lease.release()


def entry(run_id: str, tmp_path: Path, *, host: str = "local", late: bool = False,
          **facts) -> active_runs.RunEntry:
    made = active_runs.new_entry(run_id, host, str(tmp_path / "runs" / run_id),
                                 stack=f"s_{run_id}", domain=f"{run_id}.ccci.test", **facts)
    if late:
        made.deadline = PAST
    return made


def dead(run_id: str, tmp_path: Path, **kw) -> active_runs.RunEntry:
    """A registered run nobody holds: its process died."""
    made = entry(run_id, tmp_path, **kw)
    (tmp_path / "state" / "runs").mkdir(parents=True, exist_ok=True)
    active_runs.save(made)
    return made


def live(run_id: str, tmp_path: Path, leases: list[Lease], **kw) -> active_runs.RunEntry:
    made = entry(run_id, tmp_path, **kw)
    leases.append(active_runs.register(made))
    return made


def save_context(run_dir: Path, run_id: str) -> RunContext:
    """A saved context with the fields the teardown role and the results read."""
    context = RunContext(
        run_id=run_id, recipe="example-notes", ref="HEAD", commit="c0ffee", version="1.0.0",
        run_dir=str(run_dir), repo="/repo", config_root="/config",
        domain=f"{run_id}.ccci.test", stack=f"s_{run_id}", overlay=None, plans={},
        host={"workdir": f"/var/lib/ccci/runs/{run_id}"}, created="2030-01-01T00:00:00+00:00",
    )
    context.save()
    return context


# -- which runs are reaped ------------------------------------------------------------


def test_a_dead_run_is_reaped_a_live_or_kept_one_is_not(tmp_path, leases):
    gone = dead("gone", tmp_path)
    live("alive", tmp_path, leases)
    dead("kept", tmp_path, kept=True)
    found, reported = janitor.dead_runs(LOCAL)
    assert [(r.run_id, r.reason) for r in found] == [("gone", f"process {gone.pid} is gone")]
    assert reported == []


def test_a_live_run_past_its_deadline_is_reported_never_reaped(tmp_path, leases):
    live("stuck", tmp_path, leases, late=True)
    for expired in (False, True):
        found, reported = janitor.dead_runs(LOCAL, expired=expired)
        assert found == []
        assert [(v.run_id, v.state, v.reap) for v in reported] == [("stuck", "running", False)]
        assert "left alone" in reported[0].reason


def test_a_kept_run_past_its_deadline_is_reaped_only_when_asked(tmp_path):
    kept = dead("kept", tmp_path, kept=True, late=True)
    found, reported = janitor.dead_runs(LOCAL)
    assert found == [] and "--expired" in reported[0].reason
    found, _ = janitor.dead_runs(LOCAL, expired=True)
    assert [r.run_id for r in found] == ["kept"]
    assert found[0].reason == (f"kept past its deadline {kept.deadline}; "
                               f"process {kept.pid} is gone")


def test_runs_of_another_host_are_reported_with_the_inventory_that_reaps_them(tmp_path):
    inventory = tmp_path / "remote.yml"
    dead("far", tmp_path, host=str(inventory))
    dead("near", tmp_path)
    found, reported = janitor.dead_runs(LOCAL)
    assert [r.run_id for r in found] == ["near"]
    assert reported[0].run_id == "far"
    assert reported[0].reason.endswith(f"reap it with --inventory {inventory}")
    found, _ = janitor.dead_runs(frozenset({str(inventory)}))
    assert [r.run_id for r in found] == ["far"]


def test_each_host_of_an_inventory_reaps_only_its_own_runs(tmp_path):
    inventory = tmp_path / "two.yml"
    dead("on-a", tmp_path, host=janitor.registry_host(str(inventory), "a"))
    dead("on-b", tmp_path, host=janitor.registry_host(str(inventory), "b"))
    dead("unnamed", tmp_path, host=str(inventory))  # registered before hosts were named
    keys = frozenset({str(inventory)})
    found, reported = janitor.dead_runs(keys, hostname="a")
    assert sorted(r.run_id for r in found) == ["on-a", "unnamed"]
    assert [v.run_id for v in reported] == ["on-b"]
    assert reported[0].reason.endswith(f"reap it with --inventory {inventory}")
    found, _ = janitor.dead_runs(keys)  # a pass that names no host: every host's
    assert sorted(r.run_id for r in found) == ["on-a", "on-b", "unnamed"]


def test_a_registry_host_names_the_inventory_and_the_host():
    key = janitor.registry_host("rel.yml", "m1")
    assert key == f"{Path('rel.yml').resolve()}#m1"
    assert janitor.split_host(key) == (str(Path("rel.yml").resolve()), "m1")
    assert janitor.split_host("local") == ("local", None)


def test_the_default_inventory_stands_for_local_runs(tmp_path):
    default = str(tmp_path / "inventory" / "local.yml")
    assert janitor.host_keys([default], [default]) == {"local", default}
    assert janitor.host_keys([str(tmp_path / "other.yml")], [default]) == {
        str(tmp_path / "other.yml")}
    assert janitor.registry_host(None) == "local"
    assert janitor.registry_host("rel.yml") == str(Path("rel.yml").resolve())


def test_a_dead_run_comes_with_its_saved_context(tmp_path):
    made = dead("ctx", tmp_path)
    context = save_context(Path(made.run_dir), "ctx")
    dead("bare", tmp_path)
    found = {r.run_id: r for r in janitor.dead_runs(LOCAL)[0]}
    assert found["ctx"].context == context.as_dict()
    assert found["bare"].context is None
    assert "no context.json" in found["bare"].context_error
    assert found["bare"].stack == "s_bare"


def test_a_run_that_just_finished_is_not_mistaken_for_a_dead_one(tmp_path, monkeypatch):
    """Between removing its entry and its lock a finished run looks dead: read twice."""
    made = entry("finishing", tmp_path)
    reads = iter([[active_runs.ActiveRun(made, alive=False)], []])
    monkeypatch.setattr(active_runs, "runs", lambda: next(reads))
    assert janitor.dead_runs(LOCAL) == ([], [])


def test_an_unsafe_run_id_is_never_reaped(tmp_path, monkeypatch):
    made = entry("ok", tmp_path)
    made.run_id = "../../etc"
    monkeypatch.setattr(active_runs, "runs", lambda: [active_runs.ActiveRun(made, False)])
    assert janitor.dead_runs(LOCAL)[0] == []


# -- what a reaped run's results say --------------------------------------------------


def test_a_run_without_results_gets_them_from_its_records(tmp_path):
    run_dir = tmp_path / "run"
    save_context(run_dir, "r1")
    record = RunDir(run_dir)
    for tier, status in (("install", "started"), ("install", "passed"), ("backup", "started")):
        record.record_tier(tier, status)
    reaped = janitor.mark_reaped(run_dir, "r1", "process 42 is gone")
    assert reaped is not None and reaped["by"] == "janitor"
    assert reaped["reason"] == "process 42 is gone"
    results = record.results()
    assert results["reaped"] == reaped
    assert results["exit_code"] == 1
    assert (results["run_id"], results["recipe"], results["stack"]) == ("r1", "example-notes",
                                                                        "s_r1")
    assert results["tiers"]["install"]["status"] == "passed"
    assert results["tiers"]["backup"] == {
        "status": "failed", "reason": "interrupted: process 42 is gone", "duration": 0.0,
        "details": {}, "failure_kind": "infrastructure"}
    assert results["level"] == 1


def test_results_the_run_wrote_are_kept(tmp_path):
    record = RunDir(tmp_path / "run")
    record.save_results({"run_id": "r2", "exit_code": 0, "level": 3, "tiers": {"x": 1}})
    janitor.mark_reaped(record.path, "r2", "process 7 is gone")
    results = record.results()
    assert results["exit_code"] == 0 and results["level"] == 3 and results["tiers"] == {"x": 1}
    assert results["reaped"]["reason"] == "process 7 is gone"


def test_a_run_whose_folder_is_gone_is_not_recreated(tmp_path):
    assert janitor.mark_reaped(tmp_path / "gone", "r3", "process 1 is gone") is None
    assert not (tmp_path / "gone").exists()


# -- a janitor pass -------------------------------------------------------------------


class ScriptedPass:
    """Plays playbooks/janitor.yml: the events of dead_runs and of each run reaped."""

    def __init__(self, reap: set[str] | None = None, failures=()) -> None:
        self.reap = reap
        self.failures = list(failures)
        self.calls: list[tuple[str, dict, str | None]] = []

    def __call__(self, project_root, run_dir, progress, *, inventory=None, cancel=None):
        self.progress, self.inventory, self.run_dir = progress, inventory, Path(run_dir)
        return self

    def run(self, stage, playbook, extravars, *, cancellable=True) -> StageRun:
        self.calls.append((playbook, extravars, self.inventory))
        found, reported = janitor.dead_runs(LOCAL, expired=extravars["expired"])
        self._ok("ccci.recipe.dead_runs", {"runs": [vars(r) for r in found],
                                           "reported": [vars(v) for v in reported]})
        for run in found:
            if self.reap is None or run.run_id in self.reap:
                active_runs.forget(run.run_id)
                self._ok("ccci.recipe.run_record", {"unregistered": run.run_id,
                                                    "reaped": {"reason": run.reason}})
        status = "failed" if self.failures else "successful"
        return StageRun(stage, status, 0, 1.0, failures=self.failures,
                        artifact_dir=str(self.run_dir / "artifacts"), hosts=["localhost"])

    def _ok(self, action: str, res: dict) -> None:
        self.progress.event({"event": "runner_on_ok",
                             "event_data": {"task_action": action, "res": res}})


def quiet() -> Progress:
    return Progress(io.StringIO(), live=False)


def test_a_pass_with_nothing_dead_runs_no_playbook(tmp_path, leases):
    live("stuck", tmp_path, leases, late=True)
    dead("kept", tmp_path, kept=True)
    scripted = ScriptedPass()
    report = janitor.janitor_pass(progress=quiet(), runner_factory=scripted)
    assert scripted.calls == []
    assert report.ok and report.reaped == [] and not report.quiet
    assert [r["run_id"] for r in report.reported] == ["stuck"]
    active_runs.forget("stuck")
    assert janitor.janitor_pass(progress=quiet(), runner_factory=scripted).quiet


def test_a_pass_reports_what_the_playbook_reaped_and_what_it_could_not(tmp_path):
    dead("one", tmp_path)
    dead("two", tmp_path)
    failure = {"task": "Check that nothing carrying the run's label is left", "msg": "residue"}
    scripted = ScriptedPass(reap={"one"}, failures=[failure])
    report = janitor.janitor_pass(progress=quiet(), runner_factory=scripted)
    assert scripted.calls == [("playbooks/janitor.yml", {"expired": False}, None)]
    assert [r["run_id"] for r in report.reaped] == ["one"]
    assert [r["run_id"] for r in report.failed] == ["two"]
    assert not report.ok
    text = "\n".join(report.lines())
    assert "reaped one: process" in text and "NOT reaped two" in text and "residue" in text
    assert {r.entry.run_id for r in active_runs.runs()} == {"two"}
    assert scripted.run_dir.parent == tmp_path / "state" / "janitor"


def test_a_pass_is_skipped_while_another_one_works(tmp_path, leases):
    dead("one", tmp_path)
    lock = tmp_path / "state" / "janitor.lock"
    leases.append(Lease.take(lock, "janitor", {"pid": 4242}))
    scripted = ScriptedPass()
    report = janitor.janitor_pass(progress=quiet(), runner_factory=scripted)
    assert scripted.calls == []
    assert report.lines() == ["janitor: another janitor pass (pid 4242) is at work"]


def test_a_pass_by_hand_waits_for_the_one_at_work_then_runs(tmp_path, leases, monkeypatch):
    dead("one", tmp_path)
    lock = tmp_path / "state" / "janitor.lock"
    held = Lease.take(lock, "janitor", {"pid": 4242})
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the other pass ends while this one waits
        waits.append(seconds)
        held.release()

    monkeypatch.setattr(janitor.time, "sleep", sleep)
    scripted = ScriptedPass()
    janitor.janitor_pass(wait=60, progress=quiet(), runner_factory=scripted)
    assert waits == [janitor.LOCK_POLL]
    assert [call[0] for call in scripted.calls] == ["playbooks/janitor.yml"]


def test_a_pass_runs_through_the_resolved_inventory(tmp_path):
    dead("one", tmp_path)
    scripted = ScriptedPass()
    janitor.janitor_pass("rel-inventory.yml", expired=True, progress=quiet(),
                         runner_factory=scripted)
    assert scripted.calls == [("playbooks/janitor.yml", {"expired": True},
                               str(Path("rel-inventory.yml").resolve()))]


def test_old_pass_folders_are_pruned(tmp_path):
    folder = tmp_path / "state" / "janitor"
    for n in range(janitor.KEEP_PASSES + 5):
        (folder / f"20200101-0000{n:02d}-1").mkdir(parents=True)
    janitor._pass_dir("janitor")
    assert len(list(folder.iterdir())) == janitor.KEEP_PASSES


# -- tearing one run down -------------------------------------------------------------


class ScriptedTeardown:
    def __call__(self, project_root, run_dir, progress, *, inventory=None, cancel=None):
        self.private, self.inventory = Path(run_dir), inventory
        return self

    def run(self, stage, playbook, extravars, *, cancellable=True) -> StageRun:
        self.playbook, self.extravars = playbook, extravars
        return StageRun(stage, "successful", 0, 1.0, hosts=["localhost"])


def test_a_run_is_found_by_its_directory_or_its_id(tmp_path):
    kept = dead("kept1", tmp_path, kept=True)
    save_context(Path(kept.run_dir), "kept1")
    old_dir = tmp_path / "runs" / "20300101-000000-example-notes-old1"
    save_context(old_dir, "old1")
    assert janitor.find_run(kept.run_dir)[0] == Path(kept.run_dir)
    assert janitor.find_run(kept.run_dir)[1].entry.run_id == "kept1"
    assert janitor.find_run("kept1")[0] == Path(kept.run_dir)
    assert janitor.find_run("old1") == (old_dir, None)
    with pytest.raises(BadInput, match="no run nope"):
        janitor.find_run("nope")
    with pytest.raises(BadInput, match="neither a run directory"):
        janitor.find_run("../x")


def test_teardown_runs_the_teardown_playbook_on_the_registered_host(tmp_path):
    kept = dead("far1", tmp_path, kept=True, host="/inv/remote.yml")
    save_context(Path(kept.run_dir), "far1")
    scripted = ScriptedTeardown()
    stage = janitor.teardown_run("far1", progress=quiet(), runner_factory=scripted)
    assert stage.ok
    assert (scripted.playbook, scripted.extravars) == ("playbooks/teardown.yml",
                                                       {"run_dir": kept.run_dir})
    assert scripted.inventory == "/inv/remote.yml"
    assert scripted.private.parent == Path(kept.run_dir) / "teardowns"


def test_teardown_refuses_a_live_run_and_one_without_context(tmp_path, leases):
    running = live("busy", tmp_path, leases)
    save_context(Path(running.run_dir), "busy")
    with pytest.raises(BadInput, match=f"is running \\(pid {os.getpid()}\\)"):
        janitor.teardown_run("busy", runner_factory=ScriptedTeardown())
    dead("bare1", tmp_path)
    with pytest.raises(BadInput, match="holds no run context"):
        janitor.teardown_run("bare1", runner_factory=ScriptedTeardown())


# -- ccci ls --------------------------------------------------------------------------


def _hosts(*names: str):
    """``swarm_hosts`` of an inventory whose group swarm holds ``names``."""
    return lambda _root, _inventory=None: [SwarmHost(name) for name in names]


def _module_on_hosts(results: dict[str, dict], seen: list | None = None):
    """``run_module_on_hosts`` answering with ``results`` per host (the module's result)."""

    def run(module, args, hosts, *, project_root, inventory=None, check=False):
        if seen is not None:
            seen.append({"module": module, "args": args, "hosts": hosts,
                         "inventory": inventory})
        return {host: results[host] for host in hosts}

    return run


def test_ls_lists_runs_and_the_leftovers_of_unregistered_ones(tmp_path, leases, monkeypatch):
    gone = dead("gone2", tmp_path, port=20007)
    save_context(Path(gone.run_dir), "gone2")
    live("late2", tmp_path, leases, late=True)
    seen: list = []
    monkeypatch.setattr(janitor, "swarm_hosts", _hosts("localhost"))
    monkeypatch.setattr(janitor, "run_module_on_hosts", _module_on_hosts({"localhost": {
        "failed": False, "changed": False, "objects": {
            "gone2": {"services": ["s_gone2_app"]},
            "orph1": {"volumes": ["orphan_data"], "containers": ["c2", "c1"],
                      "services": ["orphan_app"]},
        }}}, seen))
    text = janitor.ls()
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["RUN", "STATE", "PID"]
    gone_line = next(line for line in lines if line.startswith("gone2"))
    assert gone_line.split()[1] == "dead"
    assert "example-notes gone2.ccci.test" in gone_line and "20007" in gone_line
    assert "running, expired" in next(line for line in lines if line.startswith("late2"))
    assert lines[-2].startswith("leftovers on localhost: objects labelled for a run the "
                                "registry does not know")
    assert lines[-1] == "  orph1  services: orphan_app; containers: 2; volumes: orphan_data"
    assert "s_gone2_app" not in text
    assert seen == [{"module": "ccci.recipe.labelled_objects", "args": {"label": "ccci.run"},
                     "hosts": ["localhost"], "inventory": None}]


def test_ls_says_when_no_object_is_left(monkeypatch):
    monkeypatch.setattr(janitor, "swarm_hosts", _hosts("localhost"))
    monkeypatch.setattr(janitor, "run_module_on_hosts", _module_on_hosts(
        {"localhost": {"failed": False, "objects": {}}}))
    assert janitor.ls().splitlines() == [
        "no registered run",
        "leftovers on localhost: none, every object with a run label belongs to a "
        "registered run"]


def test_ls_says_when_the_inventory_has_no_swarm_host(monkeypatch):
    monkeypatch.setattr(janitor, "swarm_hosts", _hosts())
    monkeypatch.setattr(janitor, "run_module_on_hosts", _module_on_hosts({}))
    assert janitor.ls().splitlines() == [
        "no registered run",
        "leftovers: not listed (the default inventory has no host in group swarm)"]


def test_a_host_that_cannot_be_reached_is_reported_and_the_others_still_listed(
        tmp_path, monkeypatch):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("swarm: {hosts: {near: {}, far: {}, broken: {}}}\n")
    dead("known3", tmp_path)
    seen: list = []
    monkeypatch.setattr(janitor, "swarm_hosts", _hosts("near", "far", "broken"))
    monkeypatch.setattr(janitor, "run_module_on_hosts", _module_on_hosts({
        "near": {"failed": False, "objects": {"known3": {"volumes": ["v_known"]},
                                              "orph3": {"secrets": ["s_orph3"]}}},
        "far": {"failed": True, "unreachable": True,
                "msg": "Failed to connect to the host via ssh: Connection refused"},
        "broken": {"failed": True, "msg": "Docker API error: no socket"},
    }, seen))
    found = janitor.leftovers(str(inventory))
    assert [(h.host, h.runs, bool(h.error)) for h in found] == [
        ("near", {"orph3": {"secrets": ["s_orph3"]}}, False), ("far", {}, True),
        ("broken", {}, True)]
    assert seen[0]["inventory"] == str(inventory.resolve())
    lines = janitor.ls(str(inventory)).splitlines()
    assert lines[1].startswith("known3  dead")
    assert lines[2:] == [
        "leftovers on near: objects labelled for a run the registry does not know (a killed "
        "manual run, or one running by hand right now):",
        "  orph3  secrets: s_orph3",
        "leftovers on far: not reachable (Failed to connect to the host via ssh: Connection "
        "refused)",
        "leftovers on broken: not listed (Docker API error: no socket)",
    ]


def test_ls_says_when_the_inventory_cannot_be_read(monkeypatch):
    def unreadable(_root, inventory=None):
        raise BadInput(f"inventory {inventory} cannot be read: bad yaml")

    monkeypatch.setattr(janitor, "swarm_hosts", unreadable)
    assert janitor.ls("/x/inv.yml").splitlines() == [
        "no registered run", "leftovers: not listed (inventory /x/inv.yml cannot be read: "
                             "bad yaml)"]


# -- the command line -----------------------------------------------------------------


def test_cli_janitor_prints_the_report_and_fails_when_a_run_was_not_reaped(monkeypatch, capsys):
    seen = {}

    def fake_pass(inventory, *, expired, wait):
        seen.update(inventory=inventory, expired=expired, wait=wait)
        return janitor.JanitorReport(failed=[{"run_id": "x", "reason": "process 1 is gone"}])

    monkeypatch.setattr(janitor, "janitor_pass", fake_pass)
    assert cli.main(["janitor", "--expired"]) == 1
    assert seen == {"inventory": None, "expired": True, "wait": janitor.BY_HAND_WAIT}
    assert "NOT reaped x: process 1 is gone" in capsys.readouterr().out


def test_cli_ls_lists_the_swarm_hosts_of_the_inventory_given(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(janitor, "ls", lambda inventory=None: seen.append(inventory) or "ok")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("swarm: {hosts: {near: {}}}\n")
    assert cli.main(["ls", "--inventory", str(inventory)]) == 0
    assert cli.main(["ls"]) == 0
    assert seen == [str(inventory), None]
    assert capsys.readouterr().out == "ok\nok\n"
    assert cli.main(["ls", "--inventory", str(tmp_path / "missing.yml")]) == 2
    assert f"error: inventory {tmp_path / 'missing.yml'} does not exist" in \
        capsys.readouterr().err


def test_cli_teardown_refusal_is_exit_2(capsys):
    assert cli.main(["teardown", "nope"]) == 2
    assert "no run nope" in capsys.readouterr().err
