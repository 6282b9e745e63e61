"""The run directory's records: typed, versioned, one reader and writer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ccci.rundir import (
    SCHEMA_VERSION,
    DeployEntry,
    MarkerCheck,
    RecordError,
    RunDir,
)

ROOT = Path(__file__).resolve().parents[2]


def test_deploys_round_trip_and_derived_facts(tmp_path):
    record = RunDir(tmp_path)
    assert record.deploys().published_port is None
    record.record_deploy(DeployEntry("install", "1.0.0", version="1.0.0", converged=True),
                         published_port=20001, stack="s")
    record.record_deploy(DeployEntry("upgrade", "target", version=None, converged=False),
                         published_port=20001, stack="s")
    deploys = record.deploys()
    assert deploys.published_port == 20001
    assert [d.op for d in deploys.deploys] == ["install", "upgrade"]
    assert len(deploys.fresh) == 1
    assert deploys.version_deployed == "1.0.0"  # the failed upgrade reported nothing
    data = json.loads((tmp_path / "deploy.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION


def test_markers_and_backups(tmp_path):
    record = RunDir(tmp_path)
    record.record_seeded("backup", {"contains": "x", "description": "d"})
    record.record_marker_check(MarkerCheck("backup", "restore of abc", False, "HTTP 404"))
    record.record_marker_check(MarkerCheck("upgrade", "upgrade to 2", True, "HTTP 200"))
    markers = record.markers()
    assert markers.seeded["backup"]["contains"] == "x"
    assert [c.found for c in markers.checks_of("backup")] == [False]
    assert markers.checks_of("backup")[0].at  # stamped when recorded
    assert record.backups().last_good_snapshot is None
    record.record_backup({"ok": True, "snapshot_id": "aaa"})
    record.record_backup({"ok": False, "snapshot_id": None})
    assert record.backups().last_good_snapshot == "aaa"


def test_tier_events(tmp_path):
    record = RunDir(tmp_path)
    record.record_tier("install", "started")
    tiers = record.tiers()
    assert tiers.started("install") and not tiers.passed("install")
    record.record_tier("install", "passed")
    assert record.tiers().passed("install")
    assert record.state()["tiers"] == {"install": "passed"}
    with pytest.raises(ValueError, match="started' or 'passed"):
        record.record_tier("install", "failed")


def test_reads_records_of_the_previous_schema_version(tmp_path):
    """Files written before records were versioned still read (schema version 1)."""
    (tmp_path / "deploy.json").write_text(json.dumps({
        "published_port": 20005, "stack": "s", "host_dir": "/x",
        "deploys": [{"op": "install", "plan": "target", "converged": True, "version": "1"}],
    }))
    (tmp_path / "markers.json").write_text(json.dumps(
        {"seeded": {"upgrade": {"contains": "m", "description": "d"}},
         "checks": [{"seeded_by": "upgrade", "after": "x", "found": True, "seen": "ok",
                     "at": "t"}]}))
    (tmp_path / "backups.json").write_text(json.dumps({"backups": [{"ok": True,
                                                                     "snapshot_id": "b"}]}))
    record = RunDir(tmp_path)
    assert record.deploys().published_port == 20005
    assert record.deploys().version_deployed == "1"
    assert record.markers().checks[0].found
    assert record.backups().last_good_snapshot == "b"
    # Appending upgrades the file to the current version.
    record.record_backup({"ok": False})
    assert json.loads((tmp_path / "backups.json").read_text())["schema_version"] == 2


def test_refuses_an_old_context_and_a_newer_record(tmp_path):
    (tmp_path / "context.json").write_text(json.dumps({"run_id": "r"}))
    with pytest.raises(RecordError, match=r"older ccci .* cannot be continued"):
        RunDir(tmp_path).context_data()
    (tmp_path / "deploy.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(RecordError, match="schema version 99; this ccci reads versions up to"):
        RunDir(tmp_path).deploys()
    with pytest.raises(RecordError, match=r"holds no context\.json"):
        RunDir(tmp_path / "nothing").context_data()


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path):
    record = RunDir(tmp_path)
    for number in range(5):
        record.record_tier(f"t{number}", "started")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiers.json"]


def test_no_other_module_names_a_run_record_file():
    """The run directory's files have one reader and writer: ccci.rundir.

    A record's file name as a string or path literal anywhere else (Python, a Jinja
    lookup in a role or playbook) means something reads or writes it behind its back.
    """
    literal = r"[\"'/](deploy|markers|backups|tiers|probes|context|results)\.json"
    found = subprocess.run(
        ["git", "grep", "-n", "-E", literal, "--", "runner", "collections", "playbooks"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.splitlines()
    assert [line for line in found if not line.startswith("runner/ccci/rundir.py:")] == []
