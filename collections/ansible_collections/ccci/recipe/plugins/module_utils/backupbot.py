# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backupbot label contract, as pure logic over Docker API dicts and restic output.

Everything here works on the JSON shapes the Docker Engine API returns for
``GET /services`` (as decoded by the Docker SDK for Python) and on the text restic
prints, so it can be unit-tested without Docker or restic.

The contract (labels on a swarm service, i.e. its ``Spec.Labels``):

* ``backupbot.backup=true`` marks a service to back up; several services may carry it.
* ``backupbot.backup.pre-hook`` / ``backupbot.backup.post-hook``: shell commands run
  inside the service's running container before / after the backup;
  ``backupbot.restore.pre-hook`` / ``backupbot.restore.post-hook`` likewise around a
  restore.
* The service's volumes are the mounts of type ``volume`` in
  ``Spec.TaskTemplate.ContainerSpec.Mounts``; their ``Source`` is the Docker volume
  name ``<stack>_<vol>`` where ``<vol>`` is the compose volume key. A volume's data
  lives at ``<volumes_root>/<stack>_<vol>/_data`` on the host.
* ``backupbot.backup.volumes.<vol>=false`` excludes a volume;
  ``backupbot.backup.volumes.<vol>.path=a,b`` narrows it to paths inside it
  (comma separated, relative to the volume root; an absolute path or one that leaves
  the volume is refused, since backupbot would join it onto the volume path).

Facts about restic 0.14 this relies on (measured):

* ``restic backup --json`` prints JSON lines: ``status`` messages, then one
  ``summary`` with ``total_bytes_processed``, ``data_added`` and ``snapshot_id``,
  which is the SHORT (8 hex digit) id. Paths that do not exist are skipped with a
  warning on stderr and exit code 0 unless every path is missing.
* ``restic init`` has no JSON output.
* ``restic ls --json <id>`` prints one ``snapshot`` line (with the full ``id``), then
  one ``node`` line per file and directory, parent directories of the backed-up
  paths included. For an unknown id it prints nothing on stdout and exits 0.
* ``restic snapshots --json <id>`` prints ``[]`` and exits 0 for an unknown id.
* ``restic restore --include P`` restores P and everything below it, overwriting
  files that exist; files that are not in the snapshot are left alone.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.ccci.recipe.plugins.module_utils import labels

# Labels with a meaning of their own; other backupbot.* labels are volume labels or unknown.
KNOWN_LABELS = frozenset({labels.BACKUP, *labels.HOOKS.values()})
DEFAULT_VOLUMES_ROOT = "/var/lib/docker/volumes"
TRUE_VALUES = frozenset({"true", "yes", "on", "1"})
FALSE_VALUES = frozenset({"false", "no", "off", "0"})
# Characters restic's --include treats as a pattern.
PATTERN_CHARS = frozenset("*?[]\\")
# Restic environment variables that would override the repository or the password.
RESTIC_OVERRIDES = (
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_COMMAND",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_REPOSITORY",
    "RESTIC_REPOSITORY_FILE",
)


class PlanError(ValueError):
    """The labels of a stack cannot be turned into a backup plan."""


def parse_bool(value: Any) -> bool | None:
    """``True``/``False`` for the usual spellings of a boolean label, None otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    return None


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class BackupPath:
    """One host path to back up: a whole volume or a path inside it."""

    service: str
    volume: str  # compose volume key
    source: str  # Docker volume name
    path: str  # absolute host path
    subpath: str = ""  # relative to the volume root; "" for the whole volume

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "volume": self.volume,
            "source": self.source,
            "path": self.path,
            "subpath": self.subpath,
        }


@dataclass
class ServicePlan:
    """What the labels of one service ask for."""

    name: str
    id: str
    hooks: dict[tuple[str, str], str] = field(default_factory=dict)
    paths: list[BackupPath] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)  # included volume keys
    excluded: list[str] = field(default_factory=list)  # excluded volume keys
    volume_dirs: list[str] = field(default_factory=list)  # host data dirs of included volumes

    def hook(self, phase: str, when: str) -> str | None:
        """The command of the ``phase`` (backup/restore) ``when`` (pre/post) hook."""
        return self.hooks.get((phase, when))


@dataclass
class Plan:
    """The backup plan of one stack."""

    stack: str
    volumes_root: str
    services: list[ServicePlan]
    warnings: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[BackupPath]:
        """Every path to back up, once (the first service that declares it wins)."""
        seen: set[str] = set()
        result = []
        for service in self.services:
            for item in service.paths:
                if item.path not in seen:
                    seen.add(item.path)
                    result.append(item)
        return result

    @property
    def volume_dirs(self) -> list[str]:
        """Host data dirs of every included volume, once, sorted."""
        return sorted({d for s in self.services for d in s.volume_dirs})


def volume_key(source: str, stack: str) -> str:
    """The compose volume key of the Docker volume ``source`` of ``stack``."""
    prefix = f"{stack}_"
    return source[len(prefix) :] if source.startswith(prefix) else source


def volume_dir(volumes_root: str, source: str) -> str:
    """Host folder holding the data of the local Docker volume ``source``."""
    return posixpath.join(volumes_root, source, "_data")


def clean_subpath(raw: str, label: str) -> str:
    """A ``.path`` entry as a normalised path relative to the volume root.

    ``.`` means the whole volume (""). An absolute path or one that leaves the volume
    (``..``, ``../x``, ``a/../../b``) is an error: backupbot joins the entry onto the
    volume's path, so either would back up (and restore over) files outside it.
    """
    text = raw.strip()
    if text.startswith("/"):
        raise PlanError(
            f"label {label}: path {text!r} is absolute and leaves the volume; "
            "write it relative to the volume root"
        )
    norm = posixpath.normpath(text) if text else "."
    if norm == ".." or norm.startswith("../"):
        raise PlanError(f"label {label}: path {text!r} leaves the volume")
    if PATTERN_CHARS & set(norm):
        raise PlanError(
            f"label {label}: path {text!r} contains one of * ? [ ] \\, "
            "which restic would read as a pattern"
        )
    return "" if norm == "." else norm


def volume_mounts(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The named volume mounts of a service spec (binds, tmpfs and anonymous volumes left out)."""
    mounts = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Mounts") or []
    return [m for m in mounts if m.get("Type") == "volume" and m.get("Source")]


def backup_enabled(svc_labels: Mapping[str, str], name: str, warnings: list[str]) -> bool:
    """Whether the service carries ``backupbot.backup=true``.

    Only "true" (any case) counts, as in ccci's backup-capability check; any other
    value that is not a spelling of false gets a warning.
    """
    flag = svc_labels.get(labels.BACKUP)
    if flag is None:
        return False
    if str(flag).strip().lower() == "true":
        return True
    if parse_bool(flag) is not False:
        warnings.append(
            f"service {name}: {labels.BACKUP}={flag!r} is not 'true'; not backing it up"
        )
    return False


@dataclass
class VolumeLabels:
    """What a service's ``backupbot.backup.volumes.*`` labels say, by compose key."""

    excluded: set[str] = field(default_factory=set)
    narrowed: dict[str, list[str]] = field(default_factory=dict)  # key -> subpaths
    named: set[str] = field(default_factory=set)  # every key a label names


def volume_labels(svc_labels: Mapping[str, str], name: str, warnings: list[str]) -> VolumeLabels:
    """Read the volume labels of service ``name``; warn about unknown backupbot labels."""
    found = VolumeLabels()
    for label, value in svc_labels.items():
        if not label.startswith(labels.BACKUPBOT_PREFIX) or label in KNOWN_LABELS:
            continue
        if not label.startswith(labels.BACKUP_VOLUMES_PREFIX):
            warnings.append(f"service {name}: label {label} is not part of the contract; ignored")
            continue
        rest = label[len(labels.BACKUP_VOLUMES_PREFIX) :]
        if rest.endswith(labels.BACKUP_VOLUME_PATH_SUFFIX):
            vol = rest[: -len(labels.BACKUP_VOLUME_PATH_SUFFIX)]
            entries = [e for e in str(value).split(",") if e.strip()]
            if not entries:
                raise PlanError(f"service {name}: label {label} lists no path")
            found.narrowed[vol] = list(dict.fromkeys(clean_subpath(e, label) for e in entries))
            found.named.add(vol)
            continue
        included = parse_bool(value)
        if included is None:
            warnings.append(
                f"service {name}: label {label}={value!r} is not a boolean; volume included"
            )
        elif not included:
            found.excluded.add(rest)
        found.named.add(rest)
    return found


def add_volumes(
    plan: ServicePlan, spec: Mapping[str, Any], stack: str, volumes_root: str, vols: VolumeLabels
) -> list[str]:
    """Add the service's mounted volumes (narrowed or excluded) to ``plan``.

    Returns the compose keys of every mounted volume, excluded ones included.
    """
    mounted: list[str] = []
    for mount in volume_mounts(spec):
        source = mount["Source"]
        key = volume_key(source, stack)
        if key in mounted:
            continue
        mounted.append(key)
        if key in vols.excluded:
            plan.excluded.append(key)
            continue
        base = volume_dir(volumes_root, source)
        plan.volumes.append(key)
        plan.volume_dirs.append(base)
        subpaths = vols.narrowed.get(key) or [""]
        if "" in subpaths:  # "." among the paths: the whole volume
            subpaths = [""]
        for sub in subpaths:
            path = posixpath.join(base, sub) if sub else base
            plan.paths.append(BackupPath(plan.name, key, source, path, sub))
    return mounted


def plan_service(
    service: Mapping[str, Any], stack: str, volumes_root: str, warnings: list[str]
) -> ServicePlan | None:
    """The plan of one service, or None when it does not carry ``backupbot.backup=true``."""
    spec = service.get("Spec") or {}
    svc_labels: dict[str, str] = spec.get("Labels") or {}
    name = spec.get("Name") or service.get("ID", "?")
    if not backup_enabled(svc_labels, name, warnings):
        return None
    plan = ServicePlan(name=name, id=service.get("ID", ""))
    for key, label in labels.HOOKS.items():
        command = svc_labels.get(label)
        if command is not None and command.strip():
            plan.hooks[key] = command
    vols = volume_labels(svc_labels, name, warnings)
    mounted = add_volumes(plan, spec, stack, volumes_root, vols)
    for vol in sorted(vols.named - set(mounted)):
        warnings.append(
            f"service {name}: labels name volume {vol!r}, which the service does not mount"
        )
    if not plan.paths:
        warnings.append(f"service {name}: has {labels.BACKUP}=true but no volume to back up")
    return plan


def plan_stack(
    services: Iterable[Mapping[str, Any]],
    stack: str,
    volumes_root: str = DEFAULT_VOLUMES_ROOT,
) -> Plan:
    """The backup plan of a stack from its services (as ``GET /services`` returns them).

    Services of other stacks are ignored. Raises PlanError when no service of the
    stack carries ``backupbot.backup=true`` or a label is unusable.
    """
    root = posixpath.normpath(volumes_root) if volumes_root else DEFAULT_VOLUMES_ROOT
    warnings: list[str] = []
    plans = []
    ordered = sorted(services, key=lambda s: (s.get("Spec") or {}).get("Name") or "")
    for service in ordered:
        service_labels = (service.get("Spec") or {}).get("Labels") or {}
        if service_labels.get(labels.STACK_NAMESPACE) != stack:
            continue
        planned = plan_service(service, stack, root, warnings)
        if planned is not None:
            plans.append(planned)
    if not plans:
        raise PlanError(f"no service of stack {stack} has {labels.BACKUP}=true")
    plan = Plan(stack=stack, volumes_root=root, services=plans, warnings=warnings)
    if not plan.paths:
        raise PlanError(
            f"stack {stack}: the services labelled {labels.BACKUP}=true have no volume to back up"
        )
    return plan


# --------------------------------------------------------------------------- restic output


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of restic's line-oriented output; other lines are skipped."""
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            result.append(value)
    return result


def backup_summary(stdout: str) -> dict[str, Any] | None:
    """The ``summary`` message of ``restic backup --json``, or None."""
    summaries = [m for m in json_lines(stdout) if m.get("message_type") == "summary"]
    return summaries[-1] if summaries else None


def parse_ls(stdout: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """``restic ls --json`` output: the snapshot (None if absent) and nodes by path."""
    snapshot = None
    nodes: dict[str, dict[str, Any]] = {}
    for item in json_lines(stdout):
        kind = item.get("struct_type")
        if kind == "snapshot" and snapshot is None:
            snapshot = item
        elif kind == "node" and item.get("path"):
            nodes[posixpath.normpath(item["path"])] = item
    return snapshot, nodes


def parse_snapshots(stdout: str) -> list[dict[str, Any]]:
    """``restic snapshots --json`` output (a JSON array), [] when unreadable."""
    try:
        value = json.loads(stdout.strip() or "[]")
    except ValueError:
        return []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass
class PathCheck:
    """How one declared path looks in a snapshot."""

    path: str
    kind: str | None  # file, dir, symlink, ... or None when missing
    size: int  # file size, or total size of the files below a dir
    entries: int  # nodes below a dir (0 for a file)
    problem: str | None


def check_paths(paths: Iterable[str], nodes: Mapping[str, Mapping[str, Any]]) -> list[PathCheck]:
    """Judge each declared path: in the snapshot, a non-empty file or a non-empty dir."""
    result = []
    wanted = [posixpath.normpath(p) for p in paths]
    below: dict[str, list[Mapping[str, Any]]] = {p: [] for p in wanted}
    dirs = [p for p in wanted if (nodes.get(p) or {}).get("type") == "dir"]
    if dirs:
        for node_path, node in nodes.items():
            for d in dirs:
                if node_path.startswith(d + "/"):
                    below[d].append(node)
    for path in wanted:
        node = nodes.get(path)
        if node is None:
            result.append(PathCheck(path, None, 0, 0, f"{path} is not in the snapshot"))
            continue
        kind = node.get("type") or "unknown"
        if kind == "file":
            size = int(node.get("size") or 0)
            problem = None if size > 0 else f"{path} is an empty file"
            result.append(PathCheck(path, kind, size, 0, problem))
        elif kind == "dir":
            children = below[path]
            size = sum(int(n.get("size") or 0) for n in children if n.get("type") == "file")
            problem = None if children else f"{path} is an empty directory"
            result.append(PathCheck(path, kind, size, len(children), problem))
        else:
            result.append(
                PathCheck(path, kind, 0, 0, f"{path} is a {kind}, not a file or directory")
            )
    return result


EMPTY_VOLUME = "empty at backup: restoring it proves nothing"


def verify_paths(
    paths: Iterable[BackupPath],
    nodes: Mapping[str, Mapping[str, Any]],
    missing_on_host: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Result entries for the planned paths, the verification problems and warnings.

    Each entry is the path's plan (service, volume, source, path, subpath) with the
    ``kind``, ``size`` and ``entries`` it has in the snapshot; each problem names the
    path, its service and volume, and what is wrong. A whole volume that is empty is
    a warning, not a problem: a fresh install has such volumes (uploads, plugins), and
    its faithful backup is empty. A narrowed path is a dump a hook writes, so it must
    have content.
    """
    items = list(paths)
    missing = {posixpath.normpath(p) for p in missing_on_host}
    checks = check_paths([i.path for i in items], nodes)
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    warnings: list[str] = []
    for item, check in zip(items, checks, strict=True):
        entry = item.as_dict()
        entry.update(kind=check.kind, size=check.size, entries=check.entries)
        entries.append(entry)
        where = f"(service {item.service}, volume {item.volume})"
        if check.kind == "dir" and check.entries == 0 and not item.subpath:
            warnings.append(f"{check.path} {where}: {EMPTY_VOLUME}")
        elif check.problem:
            text = f"{check.problem} {where}"
            if check.kind is None and check.path in missing:
                text += ": it did not exist on the host at backup time"
            problems.append(text)
    return entries, problems, warnings


def restore_includes(snapshot_paths: Iterable[str], volume_dirs: Iterable[str]) -> list[str]:
    """The ``--include`` paths restoring ``snapshot_paths`` that lie in ``volume_dirs``.

    A snapshot path inside a volume dir is restored as is; a snapshot path above a
    volume dir (a parent folder was backed up) is narrowed to the volume dir.
    """
    dirs = [posixpath.normpath(d) for d in volume_dirs]
    result: set[str] = set()
    for raw in snapshot_paths:
        path = posixpath.normpath(raw)
        for d in dirs:
            if path == d or path.startswith(d + "/"):
                result.add(path)
            elif d.startswith(path.rstrip("/") + "/"):
                result.add(d)
    return sorted(result)


def restic_env(base: Mapping[str, str], password_file: str) -> dict[str, str]:
    """The environment for restic: ``base`` without password/repository overrides."""
    env = {k: v for k, v in base.items() if k not in RESTIC_OVERRIDES}
    env["RESTIC_PASSWORD_FILE"] = password_file
    return env


def tail(text: str | bytes, lines: int = 20) -> list[str]:
    """The last ``lines`` non-empty lines of ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    kept = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    return kept[-lines:] if lines > 0 else []


# --------------------------------------------------------------------------- hooks


@dataclass
class HookRun:
    """One hook run inside a service's container."""

    service: str
    label: str
    command: str
    container: str = ""
    rc: int | None = None
    output: list[str] = field(default_factory=list)  # last lines, stdout and stderr
    duration: float = 0.0
    error: str | None = None  # the hook could not run or timed out

    @property
    def ok(self) -> bool:
        return self.error is None and self.rc == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "command": self.command,
            "ran": self.rc is not None or self.error is not None,
            "rc": self.rc,
            "ok": self.ok if (self.rc is not None or self.error is not None) else None,
            "error": self.error,
            "output": self.output,
            "duration": round(self.duration, 3),
        }

    def describe(self) -> str:
        """One message naming the service, the hook and why it failed."""
        head = f"{self.label} of service {self.service}"
        if self.error:
            text = f"{head} failed: {self.error}"
        else:
            text = f"{head} exited with code {self.rc}"
        if self.output:
            text += "; last output lines:\n" + "\n".join(f"  {ln}" for ln in self.output)
        else:
            text += " (no output)"
        return text


HookRunner = Callable[[ServicePlan, str, str], HookRun]


@dataclass
class HookedOutcome:
    """What happened around a backup or restore: hooks and whether the body ran."""

    pre: dict[str, HookRun] = field(default_factory=dict)
    post: dict[str, HookRun] = field(default_factory=dict)
    body_ran: bool = False
    body_result: Any = None

    @property
    def failures(self) -> list[HookRun]:
        return [r for r in (*self.pre.values(), *self.post.values()) if not r.ok]

    def hook_dict(self, service: ServicePlan, phase: str, when: str) -> dict[str, Any] | None:
        """The hook of ``service`` as a result entry (None when it has none)."""
        runs = self.pre if when == "pre" else self.post
        run = runs.get(service.name)
        if run is not None:
            return run.as_dict()
        command = service.hook(phase, when)
        if command is None:
            return None
        return HookRun(service.name, labels.HOOKS[(phase, when)], command).as_dict()


def with_hooks(
    services: list[ServicePlan],
    phase: str,
    run_hook: HookRunner,
    body: Callable[[], Any],
) -> HookedOutcome:
    """Run the ``phase`` pre-hooks, ``body``, then the post-hooks.

    Pre-hooks run service by service; the first that fails stops the others and
    ``body`` is not called. Post-hooks then run, in the same order, for every service
    reached before that point (the failing one included: its pre-hook may have half
    done what its post-hook undoes); when all pre-hooks succeeded, for every service.
    ``body`` must not raise: it reports its own errors in its result.
    """
    outcome = HookedOutcome()
    reached: list[ServicePlan] = []
    failed = False
    for service in services:
        reached.append(service)
        command = service.hook(phase, "pre")
        if command is None:
            continue
        run = run_hook(service, labels.HOOKS[(phase, "pre")], command)
        outcome.pre[service.name] = run
        if not run.ok:
            failed = True
            break
    if not failed:
        outcome.body_result = body()
        outcome.body_ran = True
    for service in reached:
        command = service.hook(phase, "post")
        if command is None:
            continue
        outcome.post[service.name] = run_hook(service, labels.HOOKS[(phase, "post")], command)
    return outcome


def elapsed(started: float) -> float:
    """Seconds since ``started`` (a ``time.monotonic()`` value), rounded."""
    return round(time.monotonic() - started, 3)
