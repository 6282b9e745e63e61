"""Backup and restore on the real swarm with restic: verified backups, markers back,
and faults that must never end in a green tier with missing data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ccci.context import load_run
from ccci.gates import NO_VERIFIED_BACKUP
from ccci.rundir import RunDir
from tests.integration.helpers import make_recipe_variant, run_objects

ROOT = Path(__file__).resolve().parents[2]
PRE_HOOK = "backupbot.backup.pre-hook=pg_dump"


def _assert_clean(call, docker_client) -> None:
    assert call.results["teardown"]["status"] == "passed", call.results["teardown"]
    for app in call.apps:
        assert run_objects(docker_client, app["run_id"], app["stack"]) == {}
        assert not Path(f"/var/lib/ccci/restic/{app['run_id']}").exists()


@pytest.mark.parametrize("recipe", ["example-site", "example-notes"])
def test_whole_ladder_with_backup_and_restore(ccci, docker_client, recipe):
    call = ccci("run", recipe)
    results = call.results
    assert call.rc == 0, call.output
    assert {t: r["status"] for t, r in results["tiers"].items()} == {
        "install": "passed", "upgrade": "passed", "backup": "passed", "restore": "passed",
        "functional": "passed", "lint": "passed"}
    backup = results["tiers"]["backup"]["details"]["backup"]
    assert backup["ok"] is True
    assert len(backup["snapshot_id"]) == 64
    assert backup["total_bytes"] > 0
    [attempt] = backup["attempts"]
    assert attempt["ok"] and attempt["paths"]
    # Every path was compared with its source: nothing differs, the dumps were hashed.
    assert all(p["compare"]["mismatches"] == [] for p in attempt["paths"]), attempt["paths"]
    assert sum(p["compare"]["hashed"] for p in attempt["paths"]) >= 1
    if recipe == "example-site":
        # Its uploads volume is empty on a fresh install: a warning, and still L3.
        [uploads] = [p for p in attempt["paths"] if p["volume"] == "uploads"]
        assert (uploads["kind"], uploads["entries"]) == ("dir", 0)
        expected = (f"{uploads['path']} (service {call.apps[-1]['stack']}_app, volume uploads): "
                    "empty at backup: restoring it proves nothing")
        assert attempt["warnings"] == [expected]
        assert backup["warnings"] == [expected]
    else:
        assert backup["warnings"] == []
    restore = results["tiers"]["restore"]["details"]
    assert restore["snapshot_id"] == backup["snapshot_id"]
    [check] = restore["marker_checks"]
    assert check["found"] is True
    # The functional tier ran on the fresh app: the recipe's suite and the generic checks.
    functional = results["tiers"]["functional"]["details"]
    assert results["tiers"]["functional"]["details"]["app"] == "fresh"
    outcomes = {t["nodeid"].split("::")[-1]: t["outcome"] for t in functional["tests"]}
    own = {"example-site": "test_the_browser_sees_the_title_and_heading",
           "example-notes": "test_the_browser_form_adds_a_note_and_shows_it"}[recipe]
    assert outcomes[own] == "passed"
    assert {o for name, o in outcomes.items() if name.startswith("test_")} == {"passed"}
    [shot] = [s for s in functional["screenshots"] if "front-page" in s["path"]]
    assert shot["url"].startswith(f"https://{results['domain']}:18443/")
    assert Path(shot["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lint = results["tiers"]["lint"]["details"]
    assert lint["ok"] is True and lint["errors"] == 0, lint["findings"]
    assert results["level"] == 5
    _assert_clean(call, docker_client)


def _edit_pre_hook(old: str, new: str):
    def edit(repo: Path) -> None:
        compose = repo / "compose.postgres.yml"
        text = compose.read_text()
        assert old in text
        compose.write_text(text.replace(old, new, 1))
    return edit


def test_truncated_dump_fails_the_backup_naming_the_cause(ccci, docker_client, recipes_dir,
                                                         tmp_path):
    truncate = _edit_pre_hook(
        "--file=/var/lib/postgresql/data/backup.sql.tmp notes &&",
        "notes | head -c 300 > /var/lib/postgresql/data/backup.sql.tmp &&")
    repo = make_recipe_variant(recipes_dir, "example-notes", "truncated", tmp_path, truncate)
    call = ccci("run", "example-notes", "--repo", str(repo), "--tiers", "install,backup,restore")
    results = call.results
    assert call.rc == 1
    backup = results["tiers"]["backup"]
    assert backup["status"] == "failed"
    assert "backup failed after 3 attempt(s)" in backup["reason"]
    assert "backup.sql is incomplete" in backup["reason"]
    attempts = backup["details"]["backup"]["attempts"]
    assert [a["ok"] for a in attempts] == [False, False, False]
    assert all("BACKUP_VERIFY" in a["reason"] for a in attempts)
    assert results["tiers"]["restore"]["status"] == "not_run"
    assert results["level"] == 1
    _assert_clean(call, docker_client)


# Appended to the enrolled hooks.py: a later definition replaces pre_backup.
KILLER_PRE_BACKUP = '''

def pre_backup(ctx):
    """Seed the marker, then kill the database while backupbot's pre-hook dumps it."""
    import subprocess

    marker = _seed_note(ctx)
    db = ctx.container_id("db")
    subprocess.Popen(["sh", "-c", f"sleep 2; docker kill {db}"], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return marker
'''


def test_database_killed_during_the_dump_is_retried_and_the_marker_comes_back(
        ccci, docker_client, recipes_dir, tmp_path):
    slow_dump = _edit_pre_hook(PRE_HOOK, "backupbot.backup.pre-hook=sleep 5 && pg_dump")
    repo = make_recipe_variant(recipes_dir, "example-notes", "slow-dump", tmp_path, slow_dump)
    config = tmp_path / "config" / "example-notes"
    config.mkdir(parents=True)
    shutil.copy(ROOT / "recipes/example-notes/meta.yml", config)
    enrolled = (ROOT / "recipes/example-notes/hooks.py").read_text()
    (config / "hooks.py").write_text(enrolled + KILLER_PRE_BACKUP)
    call = ccci("run", "example-notes", "--repo", str(repo), "--tiers", "install,backup,restore",
                env={"CCCI_CONFIG_DIR": str(config.parent)})
    results = call.results
    assert call.rc == 0, call.output
    attempts = results["tiers"]["backup"]["details"]["backup"]["attempts"]
    assert len(attempts) >= 2
    assert attempts[0]["ok"] is False
    assert "db" in attempts[0]["reason"]
    assert attempts[-1]["ok"] is True
    [check] = results["tiers"]["restore"]["details"]["marker_checks"]
    assert check["found"] is True
    _assert_clean(call, docker_client)


def test_manual_backup_and_restore_playbooks(recipes_dir, tmp_path, docker_client):
    env = {**os.environ, "CCCI_RECIPES_DIR": str(recipes_dir), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run_dir = tmp_path / "manual-backup"

    def playbook(name: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ansible-playbook", f"playbooks/{name}.yml", "-e", f"run_dir={run_dir}", *extra],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)

    install = playbook("install", "-e", "recipe=example-site")
    context = load_run(run_dir)
    early_restore = playbook("restore")
    backup = playbook("backup")
    restore = playbook("restore") if backup.returncode == 0 else None
    teardown = playbook("teardown")
    assert install.returncode == 0, install.stdout[-3000:]
    # The gate ccci run asks refuses the manual stage too, in the same words.
    assert early_restore.returncode != 0
    assert f"restore not run: {NO_VERIFIED_BACKUP}" in early_restore.stdout
    assert backup.returncode == 0, backup.stdout[-3000:]
    assert restore is not None and restore.returncode == 0, restore and restore.stdout[-3000:]
    record = RunDir(run_dir)
    assert [b["ok"] for b in record.backups().backups] == [True]
    assert [(c.seeded_by, c.found) for c in record.markers().checks] == [("backup", True)]
    assert teardown.returncode == 0, teardown.stdout[-3000:]
    assert run_objects(docker_client, context.run_id, context.stack) == {}
    assert not Path(context.host["restic_repository"]).exists()
    assert not Path(context.host["workdir"]).exists()


def test_restore_without_a_verified_backup_is_refused_by_ccci_run(ccci, docker_client):
    call = ccci("run", "example-site", "--tiers", "install,restore")
    assert call.results["tiers"]["restore"]["status"] == "not_run"
    assert call.results["tiers"]["restore"]["reason"] == NO_VERIFIED_BACKUP
    assert call.results["teardown"]["status"] == "passed", call.output
