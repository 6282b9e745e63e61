"""ccci.recipe.backupbot_backup and backupbot_restore against the local swarm, with restic.

Each test deploys its own uniquely named stack from a compose file in tmp_path: two
services labelled for backup (``app`` backs up its whole ``appdata`` volume and its
``uploads`` volume, empty as on a fresh install, and excludes ``cache``; ``db``
narrows ``dbdata`` to ``dump.sql`` and ``conf``), with hooks that write files into the
volumes. The restic repository and its password file live in tmp_path. Stacks, their
containers and volumes are removed afterwards.

Faults in the snapshot are made by a ``restic`` wrapper put first on PATH, which
changes one file around the real ``restic backup`` or excludes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from ccci.ansible import run_module
from ccci.throwaway import deploy_stack, remove_stack

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

IMAGE = os.environ.get("CCCI_TEST_IMAGE", "ccci-example/base:bookworm")
NAMESPACE = "com.docker.stack.namespace"
VOLUMES = Path("/var/lib/docker/volumes")

DUMP = "INSERT INTO marker VALUES (42);"
GOOD_DUMP_HOOK = f"echo '{DUMP}' > /var/lib/db/dump.sql; echo dumped"

COMPOSE = """
version: "3.8"
services:
  app:
    image: @IMAGE@
    command:
      - sh
      - -c
      - >-
        mkdir -p /data/uploads && echo appfile > /data/uploads/a.txt && echo c > /cache/c
        && exec sleep infinity
    stop_grace_period: 1s
    volumes:
      - appdata:/data
      - cache:/cache
      - uploads:/uploads
      - type: tmpfs
        target: /scratch
    deploy:
      endpoint_mode: dnsrr
      labels:
        backupbot.backup: "true"
        backupbot.backup.volumes.cache: "false"
        backupbot.backup.pre-hook: "echo pre > /data/pre-hook.txt"
        backupbot.backup.post-hook: "echo post > /data/post-hook.txt"
        backupbot.restore.post-hook: "cat /data/uploads/a.txt > /data/restore-post-hook.txt"
  db:
    image: @IMAGE@
    command:
      - sh
      - -c
      - >-
        mkdir -p /var/lib/db/conf && echo x=1 > /var/lib/db/conf/db.conf
        && echo live > /var/lib/db/live-data && exec sleep infinity
    stop_grace_period: 1s
    volumes:
      - dbdata:/var/lib/db
    deploy:
      endpoint_mode: dnsrr
      labels:
        backupbot.backup: "true"
        backupbot.backup.volumes.dbdata.path: "dump.sql,conf"
        backupbot.backup.pre-hook: @DB_PRE_HOOK@
        backupbot.backup.post-hook: "rm -f /var/lib/db/dump.sql"
        backupbot.restore.pre-hook: "echo restoring into db"
  idle:
    image: @IMAGE@
    command: ["sleep", "infinity"]
    stop_grace_period: 1s
    volumes:
      - idledata:/idle
    deploy:
      endpoint_mode: dnsrr
volumes:
  appdata:
  uploads:
  cache:
  dbdata:
  idledata:
"""


@pytest.fixture(scope="module")
def api() -> docker.APIClient:
    client = docker.APIClient(version="auto")
    assert (client.info().get("Swarm") or {}).get("ControlAvailable"), (
        "this Docker daemon is not a swarm manager: run scripts/prepare"
    )
    client.inspect_image(IMAGE)  # fails loudly when the test image was not built
    return client


@pytest.fixture
def deploy(api: docker.APIClient, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """deploy(db_pre_hook=...) -> stack name, once both labelled services wrote their data."""
    stacks: list[str] = []

    def _deploy(db_pre_hook: str = GOOD_DUMP_HOOK) -> str:
        stack = f"cccibb_{uuid.uuid4().hex[:8]}"
        stacks.append(stack)
        compose = (COMPOSE.replace("@STACK@", stack).replace("@IMAGE@", IMAGE)
                   .replace("@DB_PRE_HOOK@", json.dumps(db_pre_hook)))
        deploy_stack(stack, compose, tmp_path)
        ready = [
            VOLUMES / f"{stack}_appdata/_data/uploads/a.txt",
            VOLUMES / f"{stack}_dbdata/_data/conf/db.conf",
            VOLUMES / f"{stack}_dbdata/_data/live-data",
        ]
        deadline = time.monotonic() + 60
        while not all(p.exists() for p in ready):
            assert time.monotonic() < deadline, f"stack {stack} did not start within 60s"
            time.sleep(0.3)
        return stack

    yield _deploy

    for stack in stacks:
        remove_stack(stack)


@pytest.fixture
def restic_repo(tmp_path: Path) -> dict[str, str]:
    password = tmp_path / "restic.password"
    password.write_text(uuid.uuid4().hex + "\n")
    password.chmod(0o600)
    return {"repository": str(tmp_path / "restic-repo"), "password_file": str(password)}


def run(module: str, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    return run_module(f"ccci.recipe.{module}", args, project_root=REPO, check=check)


def restic(repo: dict[str, str], *args: str) -> str:
    env = {**os.environ, "RESTIC_PASSWORD_FILE": repo["password_file"]}
    env.pop("RESTIC_PASSWORD", None)
    proc = subprocess.run(
        ["restic", "--repo", repo["repository"], "--no-lock", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def snapshots(repo: dict[str, str]) -> list[dict[str, Any]]:
    return json.loads(restic(repo, "snapshots", "--json"))


def snapshot_nodes(repo: dict[str, str], snapshot_id: str) -> dict[str, dict[str, Any]]:
    nodes = {}
    for line in restic(repo, "ls", "--json", snapshot_id).splitlines():
        item = json.loads(line)
        if item.get("struct_type") == "node":
            nodes[item["path"]] = item
    return nodes


def declared(stack: str) -> dict[str, str]:
    return {
        "appdata": f"{VOLUMES}/{stack}_appdata/_data",
        "uploads": f"{VOLUMES}/{stack}_uploads/_data",
        "dump": f"{VOLUMES}/{stack}_dbdata/_data/dump.sql",
        "conf": f"{VOLUMES}/{stack}_dbdata/_data/conf",
    }


def assert_compared_with_the_source(by_path: dict[str, Any], paths: dict[str, str]) -> None:
    """appdata holds uploads/, uploads/a.txt and pre-hook.txt, all hashed and equal."""
    app_compare = by_path[paths["appdata"]]["compare"]
    assert {k: app_compare[k] for k in ("entries", "files", "hashed", "size_only")} == {
        "entries": 3, "files": 2, "hashed": 2, "size_only": 0}
    assert app_compare["bytes"] == len("appfile\n") + len("pre\n")
    assert app_compare["mismatches"] == [] and app_compare["changed"] == 0
    assert by_path[paths["dump"]]["compare"]["hashed"] == 1
    assert by_path[paths["uploads"]]["compare"]["entries"] == 0


def test_backup_makes_one_verified_snapshot_of_exactly_the_declared_paths(deploy, restic_repo):
    stack = deploy()
    paths = declared(stack)
    args = {"stack": stack, **restic_repo, "tags": ["ccci.run=test", f"stack={stack}"]}

    plan = run("backupbot_backup", args, check=True)
    assert not plan["failed"], plan["msg"]
    assert [p["path"] for p in plan["paths"]] == list(paths.values())
    assert plan["snapshot_id"] is None
    assert not Path(restic_repo["repository"]).exists(), "check mode must not touch restic"
    assert not (Path(paths["appdata"]) / "pre-hook.txt").exists(), "check mode ran a hook"

    result = run("backupbot_backup", args)

    assert not result["failed"], result["msg"]
    assert result["changed"] and result["verified"] and result["initialised"]
    assert result["problems"] == []
    assert result["verify_warnings"] == [
        f"{paths['uploads']} (service {stack}_app, volume uploads): "
        "empty at backup: restoring it proves nothing"
    ]
    assert len(result["snapshot_id"]) == 64 and result["snapshot_id"].startswith(result["short_id"])
    assert result["total_bytes"] > 0 and result["data_added"] > 0
    by_path = {p["path"]: p for p in result["paths"]}
    assert list(by_path) == list(paths.values())
    assert by_path[paths["dump"]]["kind"] == "file"
    assert by_path[paths["dump"]]["size"] == len(DUMP) + 1
    assert (by_path[paths["dump"]]["service"], by_path[paths["dump"]]["volume"]) == (
        f"{stack}_db",
        "dbdata",
    )
    assert by_path[paths["conf"]]["kind"] == "dir"
    assert by_path[paths["appdata"]]["kind"] == "dir"
    assert_compared_with_the_source(by_path, paths)
    services = {s["name"]: s for s in result["services"]}
    assert list(services) == [f"{stack}_app", f"{stack}_db"]  # idle is not labelled
    assert services[f"{stack}_app"]["excluded"] == ["cache"]
    assert services[f"{stack}_app"]["container"].startswith(f"{stack}_app.1.")
    db = services[f"{stack}_db"]
    assert db["pre_hook"]["ok"] and db["pre_hook"]["output"] == ["dumped"]
    assert db["post_hook"]["ok"]

    (snap,) = snapshots(restic_repo)
    assert snap["id"] == result["snapshot_id"]
    assert sorted(snap["paths"]) == sorted(paths.values())
    assert sorted(snap["tags"]) == sorted(args["tags"])
    nodes = snapshot_nodes(restic_repo, snap["id"])
    app = paths["appdata"]
    assert f"{app}/uploads/a.txt" in nodes
    assert f"{app}/pre-hook.txt" in nodes, "the pre-hook ran after the backup"
    assert f"{app}/post-hook.txt" not in nodes, "the post-hook ran before the backup"
    assert f"{paths['conf']}/db.conf" in nodes
    dbdata = f"{VOLUMES}/{stack}_dbdata/_data"
    assert f"{dbdata}/live-data" not in nodes, "the .path narrowing was not applied"
    assert not any(p.startswith(f"{VOLUMES}/{stack}_cache") for p in nodes), "cache excluded"
    assert not any(p.startswith(f"{VOLUMES}/{stack}_idledata") for p in nodes)
    # The post-hooks ran: the dump is gone again, the app's marker is there.
    assert not Path(paths["dump"]).exists()
    assert (Path(app) / "post-hook.txt").read_text() == "post\n"


def test_restore_brings_deleted_files_back_and_runs_the_restore_hooks(deploy, restic_repo):
    stack = deploy()
    paths = declared(stack)
    backup = run("backupbot_backup", {"stack": stack, **restic_repo})
    assert not backup["failed"], backup["msg"]

    app = Path(paths["appdata"])
    (app / "uploads/a.txt").unlink()
    (Path(paths["conf"]) / "db.conf").unlink()
    assert not Path(paths["dump"]).exists()  # removed by the backup post-hook
    (app / "pre-hook.txt").write_text("changed after the backup\n")

    result = run(
        "backupbot_restore", {"stack": stack, **restic_repo, "snapshot": backup["short_id"]}
    )

    assert not result["failed"], result["msg"]
    assert result["changed"]
    assert result["snapshot_id"] == backup["snapshot_id"]
    assert result["restored"] == sorted(paths.values())
    assert result["not_restored"] == []
    assert (app / "uploads/a.txt").read_text() == "appfile\n"
    assert (app / "pre-hook.txt").read_text() == "pre\n"
    assert (Path(paths["conf"]) / "db.conf").read_text() == "x=1\n"
    assert Path(paths["dump"]).read_text() == DUMP + "\n"
    # The restore post-hook ran after the files were back (it copies a restored file).
    assert (app / "restore-post-hook.txt").read_text() == "appfile\n"
    services = {s["name"]: s for s in result["services"]}
    assert services[f"{stack}_db"]["pre_hook"]["output"] == ["restoring into db"]
    assert services[f"{stack}_app"]["post_hook"]["ok"]
    assert services[f"{stack}_app"]["pre_hook"] is None


def test_a_failing_pre_hook_fails_naming_the_service(deploy, restic_repo):
    stack = deploy(db_pre_hook="echo dumping; echo 'pg_dump: connection refused' >&2; exit 1")

    result = run("backupbot_backup", {"stack": stack, **restic_repo})

    assert result["failed"]
    assert f"pre-hook of service {stack}_db exited with code 1" in result["msg"]
    assert "pg_dump: connection refused" in result["msg"]
    assert result["snapshot_id"] is None and not result["verified"]
    assert snapshots(restic_repo) == []
    db = {s["name"]: s for s in result["services"]}[f"{stack}_db"]
    assert db["pre_hook"]["rc"] == 1
    assert db["pre_hook"]["output"] == ["dumping", "pg_dump: connection refused"]
    # The app's pre-hook ran before, so its post-hook ran after the failure.
    assert (Path(declared(stack)["appdata"]) / "post-hook.txt").read_text() == "post\n"


def test_an_empty_dump_fails_verification_naming_the_path(deploy, restic_repo):
    stack = deploy(db_pre_hook=": > /var/lib/db/dump.sql")
    dump = declared(stack)["dump"]

    result = run("backupbot_backup", {"stack": stack, **restic_repo})

    assert result["failed"]
    assert not result["verified"]
    assert result["snapshot_id"], "the attempt must be recordable"
    assert result["problems"] == [f"{dump} is an empty file (service {stack}_db, volume dbdata)"]
    assert f"{dump} is an empty file" in result["msg"]
    assert len(snapshots(restic_repo)) == 1


RESTIC_WRAPPER = """#!@PYTHON@
import os, subprocess, sys

real = "@RESTIC@"
mode, _, target = os.environ.get("CCCI_TEST_RESTIC_FAULT", "").partition(":")
args = sys.argv[1:]
if not mode or "backup" not in args:
    os.execv(real, [real, *args])
if mode == "drop":  # the snapshot misses one file
    at = args.index("backup") + 1
    os.execv(real, [real, *args[:at], "--exclude", target, *args[at:]])
if mode == "corrupt":  # restic reads other bytes of the same size; the file is then put back
    st = os.stat(target)
    with open(target, "rb") as handle:
        data = handle.read()
    with open(target, "wb") as handle:
        handle.write(bytes(b ^ 0xFF for b in data))
    try:
        rc = subprocess.call([real, *args])
    finally:
        with open(target, "wb") as handle:
            handle.write(data)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    sys.exit(rc)
if mode == "touch":  # the app changes a file while the backup runs
    rc = subprocess.call([real, *args])
    with open(target, "a") as handle:
        handle.write("written during the backup\\n")
    sys.exit(rc)
sys.exit(f"unknown fault {mode}")
"""


@pytest.fixture
def restic_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """restic_fault(mode, path): the module's restic becomes a wrapper making that fault."""
    real = shutil.which("restic")
    assert real, "restic is not installed"
    bin_dir = tmp_path / "fault-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "restic"
    wrapper.write_text(RESTIC_WRAPPER.replace("@PYTHON@", sys.executable).replace("@RESTIC@", real))
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def arm(mode: str, path: str) -> None:
        monkeypatch.setenv("CCCI_TEST_RESTIC_FAULT", f"{mode}:{path}")

    return arm


def test_a_snapshot_with_other_content_fails_naming_the_file(deploy, restic_repo, restic_fault):
    stack = deploy()
    upload = f"{declared(stack)['appdata']}/uploads/a.txt"
    restic_fault("corrupt", upload)

    result = run("backupbot_backup", {"stack": stack, **restic_repo})

    assert result["failed"] and not result["verified"]
    assert result["snapshot_id"], "the attempt must be recordable"
    [problem] = result["problems"]
    assert problem.startswith(f"{upload}: content differs (sha256 ")
    assert problem.endswith(f"(service {stack}_app, volume appdata)")
    assert f"{upload}: content differs" in result["msg"]
    assert Path(upload).read_text() == "appfile\n"  # the source was right all along


def test_a_snapshot_missing_a_file_fails_naming_the_file(deploy, restic_repo, restic_fault):
    stack = deploy()
    app = declared(stack)["appdata"]
    restic_fault("drop", f"{app}/uploads/a.txt")

    result = run("backupbot_backup", {"stack": stack, **restic_repo})

    assert result["failed"]
    assert result["problems"] == [
        f"{app}/uploads/a.txt: at the source, missing from the snapshot "
        f"(service {stack}_app, volume appdata)"
    ]
    by_path = {p["path"]: p for p in result["paths"]}
    assert by_path[app]["compare"]["mismatches"] == [
        f"{app}/uploads/a.txt: at the source, missing from the snapshot"
    ]


def test_a_file_the_app_changes_during_the_backup_is_a_warning(deploy, restic_repo, restic_fault):
    stack = deploy()
    upload = f"{declared(stack)['appdata']}/uploads/a.txt"
    restic_fault("touch", upload)

    result = run("backupbot_backup", {"stack": stack, **restic_repo})

    assert not result["failed"], result["msg"]
    assert result["verified"]
    app = {p["path"]: p for p in result["paths"]}[declared(stack)["appdata"]]["compare"]
    assert (app["changed"], app["changed_paths"]) == (1, [upload])
    assert any(w.startswith(f"{declared(stack)['appdata']}: 1 entr(ies) changed") and upload in w
               for w in result["verify_warnings"])


def test_files_above_the_hash_limit_are_compared_by_size(deploy, restic_repo):
    stack = deploy()

    result = run("backupbot_backup", {"stack": stack, **restic_repo, "hash_limit": 4})

    assert not result["failed"], result["msg"]
    assert result["hash_limit"] == 4
    app = {p["path"]: p for p in result["paths"]}[declared(stack)["appdata"]]["compare"]
    # "appfile\n" (8 bytes) is above the limit, "pre\n" (4 bytes) is not.
    assert (app["files"], app["hashed"], app["size_only"]) == (2, 1, 1)


def test_create_password_makes_the_password_once_and_never_replaces_it(deploy, tmp_path):
    stack = deploy()
    repo = {"repository": str(tmp_path / "restic" / "repo"),
            "password_file": str(tmp_path / "restic" / "repo.password")}
    args = {"stack": stack, **repo, "create_password": True}
    password = Path(repo["password_file"])

    plan = run("backupbot_backup", args, check=True)
    assert not plan["failed"], plan["msg"]
    assert not password.parent.exists(), "check mode wrote the password"

    first = run("backupbot_backup", args)
    assert not first["failed"], first["msg"]
    assert first["initialised"] and first["verified"]
    made = password.read_text()
    assert len(made) == 40 and made.isalnum()
    assert password.stat().st_mode & 0o777 == 0o600
    assert password.parent.stat().st_mode & 0o777 == 0o700

    second = run("backupbot_backup", args)
    assert not second["failed"], second["msg"]
    assert not second["initialised"] and password.read_text() == made
    assert len(snapshots(repo)) == 2, "the repository opens with the password made first"

    without = run("backupbot_backup", {**args, "create_password": False,
                                       "password_file": str(tmp_path / "absent.password")})
    assert without["failed"] and "absent.password does not exist" in without["msg"]
