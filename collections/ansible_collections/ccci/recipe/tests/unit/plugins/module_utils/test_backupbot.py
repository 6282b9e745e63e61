"""Unit tests of the backupbot label contract logic, with Docker API shaped dicts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from ansible_collections.ccci.recipe.plugins.module_utils import backupbot as bb

STACK = "app_example_com"
ROOT = "/var/lib/docker/volumes"


def volume(source: str, target: str) -> dict[str, Any]:
    return {
        "Type": "volume",
        "Source": source,
        "Target": target,
        "VolumeOptions": {"Labels": {"com.docker.stack.namespace": STACK}},
    }


def service(
    name: str,
    labels: dict[str, str],
    mounts: list[dict[str, Any]],
    *,
    stack: str = STACK,
    sid: str | None = None,
) -> dict[str, Any]:
    """A service as ``GET /services`` returns it (only the fields that matter, and a few more)."""
    return {
        "ID": sid or f"id-{name}",
        "Version": {"Index": 1234},
        "Spec": {
            "Name": f"{stack}_{name}",
            "Labels": {
                "com.docker.stack.namespace": stack,
                "com.docker.stack.image": "x",
                **labels,
            },
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "ccci-example/base:bookworm",
                    "Labels": {"com.docker.stack.namespace": stack},
                    "Args": ["sleep", "infinity"],
                    "Mounts": mounts,
                },
                "Networks": [{"Target": "n1", "Aliases": [name]}],
            },
            "Mode": {"Replicated": {"Replicas": 1}},
            "EndpointSpec": {"Mode": "dnsrr"},
        },
    }


def realistic_stack() -> list[dict[str, Any]]:
    """An app + db + worker + proxy-ish service stack, as a real recipe labels it."""
    app = service(
        "app",
        {
            "backupbot.backup": "true",
            "backupbot.backup.pre-hook": "php occ maintenance:mode --on",
            "backupbot.backup.post-hook": "php occ maintenance:mode --off",
            "backupbot.backup.volumes.cache": "false",
            "backupbot.restore.post-hook": "php occ files:scan --all",
            "coop-cloud.app_example_com.version": "1.0.0+2.0",
            "traefik.enable": "true",
        },
        [
            volume(f"{STACK}_data", "/var/www/html/data"),
            volume(f"{STACK}_cache", "/var/cache/app"),
            {"Type": "bind", "Source": "/etc/localtime", "Target": "/etc/localtime"},
            {"Type": "tmpfs", "Target": "/tmp"},
        ],
    )
    db = service(
        "db",
        {
            "backupbot.backup": "true",
            "backupbot.backup.pre-hook": "pg_dump -U app app > /var/lib/postgresql/data/dump.sql",
            "backupbot.backup.post-hook": "rm -f /var/lib/postgresql/data/dump.sql",
            "backupbot.backup.volumes.postgres.path": "dump.sql, conf/ ,extra/pg_hba.conf",
            "backupbot.restore.post-hook": "psql -U app app < /var/lib/postgresql/data/dump.sql",
        },
        [volume(f"{STACK}_postgres", "/var/lib/postgresql/data")],
    )
    worker = service(  # no backupbot label: ignored, even with volumes
        "worker", {}, [volume(f"{STACK}_data", "/var/www/html/data")]
    )
    other = service(  # another stack, labelled: ignored
        "app", {"backupbot.backup": "true"}, [volume("other_data", "/data")], stack="other"
    )
    return [worker, db, other, app]


# --------------------------------------------------------------------------- plan


def test_plan_of_a_realistic_stack():
    plan = bb.plan_stack(realistic_stack(), STACK, ROOT)

    assert [s.name for s in plan.services] == [f"{STACK}_app", f"{STACK}_db"]
    app, db = plan.services
    assert app.id == "id-app"
    assert app.volumes == ["data"]
    assert app.excluded == ["cache"]
    assert app.volume_dirs == [f"{ROOT}/{STACK}_data/_data"]
    assert [p.as_dict() for p in app.paths] == [
        {
            "service": f"{STACK}_app",
            "volume": "data",
            "source": f"{STACK}_data",
            "path": f"{ROOT}/{STACK}_data/_data",
            "subpath": "",
        }
    ]
    assert [(p.volume, p.subpath, p.path) for p in db.paths] == [
        ("postgres", "dump.sql", f"{ROOT}/{STACK}_postgres/_data/dump.sql"),
        ("postgres", "conf", f"{ROOT}/{STACK}_postgres/_data/conf"),
        ("postgres", "extra/pg_hba.conf", f"{ROOT}/{STACK}_postgres/_data/extra/pg_hba.conf"),
    ]
    assert db.volume_dirs == [f"{ROOT}/{STACK}_postgres/_data"]
    assert [p.path for p in plan.paths] == [p.path for p in app.paths + db.paths]
    assert plan.volume_dirs == [f"{ROOT}/{STACK}_data/_data", f"{ROOT}/{STACK}_postgres/_data"]
    assert plan.warnings == []


def test_hooks_present_and_absent():
    plan = bb.plan_stack(realistic_stack(), STACK, ROOT)
    app, db = plan.services
    assert app.hook("backup", "pre") == "php occ maintenance:mode --on"
    assert app.hook("backup", "post") == "php occ maintenance:mode --off"
    assert app.hook("restore", "pre") is None
    assert app.hook("restore", "post") == "php occ files:scan --all"
    assert db.hook("restore", "pre") is None
    assert db.hook("backup", "pre").startswith("pg_dump")


def test_a_blank_hook_counts_as_absent():
    svc = service(
        "app",
        {"backupbot.backup": "true", "backupbot.backup.pre-hook": "  "},
        [volume(f"{STACK}_data", "/data")],
    )
    (plan,) = bb.plan_stack([svc], STACK, ROOT).services
    assert plan.hook("backup", "pre") is None


def test_non_volume_mounts_are_ignored():
    svc = service(
        "app",
        {"backupbot.backup": "true"},
        [
            {"Type": "bind", "Source": "/srv/app", "Target": "/srv"},
            {"Type": "tmpfs", "Target": "/tmp"},
            {"Type": "volume", "Target": "/anon"},  # anonymous volume: no name to find it by
            {"Type": "npipe", "Source": "x", "Target": "/pipe"},
            volume(f"{STACK}_data", "/data"),
        ],
    )
    plan = bb.plan_stack([svc], STACK, ROOT)
    assert [p.path for p in plan.paths] == [f"{ROOT}/{STACK}_data/_data"]


def test_no_labelled_service_fails_naming_the_stack():
    services = [s for s in realistic_stack() if s["Spec"]["Name"].endswith("worker")]
    with pytest.raises(
        bb.PlanError, match=f"no service of stack {STACK} has backupbot.backup=true"
    ):
        bb.plan_stack(services, STACK, ROOT)
    with pytest.raises(bb.PlanError, match="no service of stack"):
        bb.plan_stack([], STACK, ROOT)


def test_a_service_labelled_false_is_not_backed_up():
    services = realistic_stack()
    services[1]["Spec"]["Labels"]["backupbot.backup"] = "false"  # db
    plan = bb.plan_stack(services, STACK, ROOT)
    assert [s.name for s in plan.services] == [f"{STACK}_app"]


def test_a_non_boolean_backup_label_warns_and_is_not_backed_up():
    services = realistic_stack()
    services[1]["Spec"]["Labels"]["backupbot.backup"] = "maybe"
    plan = bb.plan_stack(services, STACK, ROOT)
    assert [s.name for s in plan.services] == [f"{STACK}_app"]
    assert any("'maybe' is not 'true'" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("value", "backed_up"),
    [("true", True), ("True", True), ("TRUE ", True), ("yes", False), ("1", False)],
)
def test_only_true_marks_a_service(value: str, backed_up: bool):
    svc = service("app", {"backupbot.backup": value}, [volume(f"{STACK}_data", "/data")])
    other = service("db", {"backupbot.backup": "true"}, [volume(f"{STACK}_db", "/db")])
    plan = bb.plan_stack([svc, other], STACK, ROOT)
    assert (f"{STACK}_app" in [s.name for s in plan.services]) is backed_up
    assert bool(plan.warnings) is not backed_up  # "yes" is not silently ignored


def test_every_volume_excluded_fails():
    svc = service(
        "app",
        {"backupbot.backup": "true", "backupbot.backup.volumes.data": "false"},
        [volume(f"{STACK}_data", "/data")],
    )
    with pytest.raises(bb.PlanError, match="no volume to back up"):
        bb.plan_stack([svc], STACK, ROOT)


def test_label_for_a_volume_the_service_does_not_mount_warns():
    svc = service(
        "app",
        {"backupbot.backup": "true", "backupbot.backup.volumes.dta.path": "x"},
        [volume(f"{STACK}_data", "/data")],
    )
    plan = bb.plan_stack([svc], STACK, ROOT)
    assert [p.subpath for p in plan.paths] == [""]  # the typo narrows nothing
    assert any("volume 'dta'" in w for w in plan.warnings)


def test_unknown_backupbot_label_warns():
    svc = service(
        "app",
        {"backupbot.backup": "true", "backupbot.backup.path": "/var/lib/data"},
        [volume(f"{STACK}_data", "/data")],
    )
    plan = bb.plan_stack([svc], STACK, ROOT)
    assert any("backupbot.backup.path is not part of the contract" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a,b", ["a", "b"]),
        (" a , b/c/ ,", ["a", "b/c"]),
        ("a,a", ["a"]),
        ("./x/../y", ["y"]),
        ("a/..", [""]),  # stays inside: the whole volume
        (".", [""]),
        ("a,.", [""]),  # the whole volume wins
    ],
)
def test_path_narrowing(value: str, expected: list[str]):
    svc = service(
        "db",
        {"backupbot.backup": "true", "backupbot.backup.volumes.pg.path": value},
        [volume(f"{STACK}_pg", "/data")],
    )
    plan = bb.plan_stack([svc], STACK, ROOT)
    assert [p.subpath for p in plan.paths] == expected
    base = f"{ROOT}/{STACK}_pg/_data"
    assert [p.path for p in plan.paths] == [f"{base}/{e}" if e else base for e in expected]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("..", "path '..' leaves the volume"),
        ("../x", "path '../x' leaves the volume"),
        ("../etc", "leaves the volume"),
        ("a/../../b", "path 'a/../../b' leaves the volume"),
        ("x/../..", "leaves the volume"),
        ("ok, ..", "path '..' leaves the volume"),  # one bad entry spoils the label
        ("/abs/file", "path '/abs/file' is absolute and leaves the volume"),
        ("/", "is absolute"),
        (" /etc/shadow ", "path '/etc/shadow' is absolute"),
        (" , ", "lists no path"),
        ("*.sql", "pattern"),
    ],
)
def test_bad_path_narrowing_fails_naming_the_label(value: str, match: str):
    """A ``.path`` entry escaping the volume would back up (and restore over) host files:
    backupbot joins it onto the volume path, where ``..`` and absolute paths escape."""
    svc = service(
        "db",
        {"backupbot.backup": "true", "backupbot.backup.volumes.pg.path": value},
        [volume(f"{STACK}_pg", "/data")],
    )
    with pytest.raises(bb.PlanError, match=re.escape(match)) as info:
        bb.plan_stack([svc], STACK, ROOT)
    assert "backupbot.backup.volumes.pg.path" in str(info.value)


def test_external_volume_keeps_its_name_and_custom_root():
    svc = service("app", {"backupbot.backup": "true"}, [volume("shared-media", "/media")])
    plan = bb.plan_stack([svc], STACK, "/srv/docker/volumes/")
    (item,) = plan.paths
    assert (item.volume, item.source) == ("shared-media", "shared-media")
    assert item.path == "/srv/docker/volumes/shared-media/_data"


def test_a_volume_shared_by_two_services_is_backed_up_once():
    a = service("a", {"backupbot.backup": "true"}, [volume(f"{STACK}_data", "/data")])
    b = service("b", {"backupbot.backup": "true"}, [volume(f"{STACK}_data", "/srv")])
    plan = bb.plan_stack([b, a], STACK, ROOT)
    assert [(p.service, p.path) for p in plan.paths] == [
        (f"{STACK}_a", f"{ROOT}/{STACK}_data/_data")
    ]
    assert plan.volume_dirs == [f"{ROOT}/{STACK}_data/_data"]


def test_the_same_volume_mounted_twice_in_one_service_counts_once():
    svc = service(
        "app",
        {"backupbot.backup": "true"},
        [volume(f"{STACK}_data", "/data"), volume(f"{STACK}_data", "/again")],
    )
    assert len(bb.plan_stack([svc], STACK, ROOT).paths) == 1


def test_stack_name_that_prefixes_another_stack():
    mine = service("app", {"backupbot.backup": "true"}, [volume("app_x_data", "/d")], stack="app")
    theirs = service(
        "data", {"backupbot.backup": "true"}, [volume("app_x_data", "/d")], stack="app_x"
    )
    plan = bb.plan_stack([mine, theirs], "app", ROOT)
    assert [s.name for s in plan.services] == ["app_app"]
    assert plan.paths[0].volume == "x_data"


# --------------------------------------------------------------------------- restic output

# Captured from restic 0.14.0.
BACKUP_STDOUT = "\n".join(
    [
        '{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":6}',
        '{"message_type":"summary","files_new":3,"files_changed":0,"files_unmodified":0,'
        '"dirs_new":4,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":2,"tree_blobs":5,'
        '"data_added":2373,"total_files_processed":3,"total_bytes_processed":8,'
        '"total_duration":0.217664226,"snapshot_id":"3eb34cf6"}',
    ]
)


def node(path: str, kind: str, size: int | None = None) -> str:
    item: dict[str, Any] = {"name": path.rsplit("/", 1)[-1], "type": kind, "path": path, "uid": 0}
    if size is not None:
        item["size"] = size
    item["struct_type"] = "node"
    return json.dumps(item)


V = f"{ROOT}/{STACK}"
LS_STDOUT = "\n".join(
    [
        '{"time":"2026-11-27T09:16:01Z","tree":"636a","paths":["' + V + '_data/_data"],'
        '"hostname":"vm","username":"root","tags":["t1"],"id":"3eb34cf6baf042e2","short_id":'
        '"3eb34cf6","struct_type":"snapshot"}',
        node("/var", "dir"),
        node("/var/lib", "dir"),
        node("/var/lib/docker", "dir"),
        node(ROOT, "dir"),
        node(f"{V}_data", "dir"),
        node(f"{V}_data/_data", "dir"),
        node(f"{V}_data/_data/uploads", "dir"),
        node(f"{V}_data/_data/uploads/a.txt", "file", 6),
        node(f"{V}_data/_data/b.txt", "file", 4),
        node(f"{V}_pg", "dir"),
        node(f"{V}_pg/_data", "dir"),
        node(f"{V}_pg/_data/dump.sql", "file", 0),
        node(f"{V}_pg/_data/conf", "dir"),
        node(f"{V}_pg/_data/link", "symlink"),
    ]
)


def test_backup_summary():
    summary = bb.backup_summary(BACKUP_STDOUT + "\nnot json\n")
    assert summary is not None
    assert summary["snapshot_id"] == "3eb34cf6"
    assert summary["total_bytes_processed"] == 8
    assert summary["data_added"] == 2373
    assert bb.backup_summary('{"message_type":"status"}') is None
    assert bb.backup_summary("") is None


def test_parse_ls():
    snapshot, nodes = bb.parse_ls(LS_STDOUT)
    assert snapshot is not None and snapshot["id"] == "3eb34cf6baf042e2"
    assert nodes[f"{V}_data/_data/uploads/a.txt"]["size"] == 6
    assert bb.parse_ls("") == (None, {})  # what restic 0.14 prints for an unknown id


def test_parse_snapshots():
    assert bb.parse_snapshots("[]\n") == []
    assert bb.parse_snapshots('[{"id":"abc","paths":["/x"]}]') == [{"id": "abc", "paths": ["/x"]}]
    assert bb.parse_snapshots("garbage") == []


def test_check_paths_judges_files_and_dirs():
    _, nodes = bb.parse_ls(LS_STDOUT)
    checks = {
        c.path: c
        for c in bb.check_paths(
            [
                f"{V}_data/_data",
                f"{V}_data/_data/uploads/a.txt",
                f"{V}_pg/_data/dump.sql",
                f"{V}_pg/_data/conf",
                f"{V}_pg/_data/missing",
                f"{V}_pg/_data/link",
            ],
            nodes,
        )
    }
    data = checks[f"{V}_data/_data"]
    assert (data.kind, data.size, data.entries, data.problem) == ("dir", 10, 3, None)
    a = checks[f"{V}_data/_data/uploads/a.txt"]
    assert (a.kind, a.size, a.problem) == ("file", 6, None)
    assert checks[f"{V}_pg/_data/dump.sql"].problem == f"{V}_pg/_data/dump.sql is an empty file"
    assert checks[f"{V}_pg/_data/conf"].problem == f"{V}_pg/_data/conf is an empty directory"
    assert checks[f"{V}_pg/_data/missing"].kind is None
    assert "is not in the snapshot" in checks[f"{V}_pg/_data/missing"].problem
    assert "is a symlink" in checks[f"{V}_pg/_data/link"].problem


def test_verify_paths_names_service_and_volume():
    _, nodes = bb.parse_ls(LS_STDOUT)
    paths = [
        bb.BackupPath(f"{STACK}_app", "data", f"{STACK}_data", f"{V}_data/_data"),
        bb.BackupPath(f"{STACK}_db", "pg", f"{STACK}_pg", f"{V}_pg/_data/dump.sql", "dump.sql"),
        bb.BackupPath(f"{STACK}_db", "pg", f"{STACK}_pg", f"{V}_pg/_data/gone", "gone"),
    ]
    entries, problems, warnings = bb.verify_paths(
        paths, nodes, missing_on_host=[f"{V}_pg/_data/gone"]
    )
    assert warnings == []
    assert [(e["kind"], e["size"]) for e in entries] == [("dir", 10), ("file", 0), (None, 0)]
    assert entries[1]["service"] == f"{STACK}_db" and entries[1]["subpath"] == "dump.sql"
    assert problems == [
        f"{V}_pg/_data/dump.sql is an empty file (service {STACK}_db, volume pg)",
        f"{V}_pg/_data/gone is not in the snapshot (service {STACK}_db, volume pg): "
        "it did not exist on the host at backup time",
    ]


def test_an_empty_whole_volume_is_a_warning_an_empty_narrowed_dir_a_problem():
    """A fresh install's empty volume is backed up faithfully as empty; a dump dir a hook
    should have filled is not."""
    empty_volume = "\n".join([node(f"{V}_up", "dir"), node(f"{V}_up/_data", "dir")])
    _, nodes = bb.parse_ls(LS_STDOUT + "\n" + empty_volume)
    paths = [
        bb.BackupPath(f"{STACK}_app", "up", f"{STACK}_up", f"{V}_up/_data"),
        bb.BackupPath(f"{STACK}_db", "pg", f"{STACK}_pg", f"{V}_pg/_data/conf", "conf"),
    ]
    entries, problems, warnings = bb.verify_paths(paths, nodes)
    assert [(e["kind"], e["entries"]) for e in entries] == [("dir", 0), ("dir", 0)]
    assert warnings == [
        f"{V}_up/_data (service {STACK}_app, volume up): "
        "empty at backup: restoring it proves nothing"
    ]
    assert problems == [f"{V}_pg/_data/conf is an empty directory (service {STACK}_db, volume pg)"]


def test_restore_includes():
    dirs = [f"{V}_data/_data", f"{V}_pg/_data"]
    snapshot_paths = [
        f"{V}_data/_data",
        f"{V}_pg/_data/dump.sql",
        f"{V}_pg/_data/conf",
        f"{V}_cache/_data",  # excluded now: not restored
        "/etc/passwd",  # not this stack's: never restored
        f"{V}_database/_data",  # prefix of no volume dir
    ]
    assert bb.restore_includes(snapshot_paths, dirs) == sorted(
        [f"{V}_data/_data", f"{V}_pg/_data/conf", f"{V}_pg/_data/dump.sql"]
    )
    # A snapshot of a parent folder is narrowed to the stack's volume dirs.
    assert bb.restore_includes([ROOT], dirs) == dirs
    assert bb.restore_includes([], dirs) == []


def test_restic_env_drops_overrides_and_sets_the_password_file():
    env = bb.restic_env(
        {"PATH": "/bin", "RESTIC_PASSWORD": "s3cret", "RESTIC_REPOSITORY": "/x", "HOME": "/root"},
        "/pw",
    )
    assert env == {"PATH": "/bin", "HOME": "/root", "RESTIC_PASSWORD_FILE": "/pw"}


def test_tail():
    assert bb.tail(b"a\n\nb\nc\n", 2) == ["b", "c"]
    assert bb.tail("x\xff".encode("latin-1"), 5) == ["x\ufffd"]
    assert bb.tail("a\nb", 0) == []


# --------------------------------------------------------------------------- hooks


def hooked_plan(*names_and_hooks: tuple[str, dict[tuple[str, str], str]]) -> list[bb.ServicePlan]:
    return [bb.ServicePlan(name=name, id=name, hooks=hooks) for name, hooks in names_and_hooks]


class FakeRunner:
    def __init__(self, fail: set[tuple[str, str]] = frozenset()) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def __call__(self, service: bb.ServicePlan, label: str, command: str) -> bb.HookRun:
        self.calls.append((service.name, label))
        rc = 1 if (service.name, label) in self.fail else 0
        return bb.HookRun(service.name, label, command, "c", rc, ["out"], 0.1)


PRE = "backupbot.backup.pre-hook"
POST = "backupbot.backup.post-hook"
BOTH = {("backup", "pre"): "pre", ("backup", "post"): "post"}


def test_with_hooks_runs_pre_body_post_in_order():
    services = hooked_plan(("a", BOTH), ("b", {("backup", "post"): "post"}), ("c", BOTH))
    runner = FakeRunner()
    order: list[str] = []

    def body() -> str:
        order.append("body")
        return "done"

    outcome = with_order(services, runner, body, order)
    assert runner.calls == [("a", PRE), ("c", PRE), ("a", POST), ("b", POST), ("c", POST)]
    assert order == ["a", "c", "body", "a", "b", "c"]
    assert outcome.body_ran and outcome.body_result == "done"
    assert outcome.failures == []


def with_order(services, runner, body, order):
    def run(service, label, command):
        order.append(service.name)
        return runner(service, label, command)

    return bb.with_hooks(services, "backup", run, body)


def test_a_failing_pre_hook_skips_the_body_and_runs_post_hooks_of_services_reached():
    services = hooked_plan(("a", BOTH), ("b", BOTH), ("c", BOTH))
    runner = FakeRunner(fail={("b", PRE)})
    outcome = bb.with_hooks(services, "backup", runner, lambda: pytest.fail("body ran"))
    assert runner.calls == [("a", PRE), ("b", PRE), ("a", POST), ("b", POST)]
    assert not outcome.body_ran
    (failure,) = outcome.failures
    assert failure.service == "b"
    message = failure.describe()
    assert "backupbot.backup.pre-hook of service b exited with code 1" in message
    assert "out" in message


def test_restore_phase_uses_restore_hooks():
    services = hooked_plan(("a", {**BOTH, ("restore", "post"): "scan"}))
    runner = FakeRunner()
    outcome = bb.with_hooks(services, "restore", runner, lambda: None)
    assert runner.calls == [("a", "backupbot.restore.post-hook")]
    entry = outcome.hook_dict(services[0], "restore", "post")
    assert entry is not None and entry["ran"] and entry["ok"] and entry["command"] == "scan"
    assert outcome.hook_dict(services[0], "restore", "pre") is None


def test_hook_run_describes_timeouts():
    run = bb.HookRun("s", PRE, "sleep 9", error="timed out after 3s; killed it (1 process(es))")
    assert not run.ok
    assert (
        run.describe()
        == f"{PRE} of service s failed: timed out after 3s; killed it (1 process(es)) (no output)"
    )
    assert run.as_dict()["ran"] is True
    assert bb.HookRun("s", PRE, "x").as_dict()["ok"] is None  # planned, not run
