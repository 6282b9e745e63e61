"""The run directory: every record a run keeps, read and written only here.

A run is planned in one process and carried on by others (``ccci run``, each stage
playbook, a person with ``ansible-playbook``), so its state lives in files. Each file
is JSON, for people and other tools, and carries ``schema_version``. Python reads and
writes them through ``RunDir``; roles append through the ``ccci.recipe.run_record``
action, which calls it. Nothing else opens these files.

Records:
    context.json   the plan (``ccci.context.RunContext``), written once
    deploy.json    every deploy and the published port
    markers.json   seeded data markers and every check of them
    backups.json   every backup with its attempts and snapshot
    tiers.json     when each tier's stage started and whether it passed
    probes.json    every check of the app's routes (each name and path, status, time)
    idempotence.json  the install tier's redeploy of the same version and what it changed
    functional.json   the functional tier's session: every test and screenshot
    lint.json      the lint tier's findings and the versions it compared
    results.json   the verdict (``ccci.results.RunResult``), written last

Besides the records: ``proxy-access.log``, the proxy's access-log lines for the run's
names (copied at teardown); ``proxy-ca.crt`` and ``ca-bundle.pem``, the proxy's CA
(copied by the checks) and certifi's CAs with it, for clients of the app. The
functional tier's pytest session, a child process, writes ``functional/report.json``
(its live report, read back by ``ccci.functional.session``) and ``functional/pytest.log``
itself, and its screenshots into ``screenshots/``.

Schema version 1 is the unversioned layout ccci wrote before this module; those
records are read as they are, except ``context.json``, whose plan lacks the host
values every role now needs: an old run cannot be continued, only torn down by hand.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccci.errors import BadInput

SCHEMA_VERSION = 2
LEGACY_VERSION = 1

CONTEXT = "context.json"
DEPLOYS = "deploy.json"
MARKERS = "markers.json"
BACKUPS = "backups.json"
TIERS = "tiers.json"
PROBES = "probes.json"
IDEMPOTENCE = "idempotence.json"
FUNCTIONAL = "functional.json"
LINT = "lint.json"
SCREENSHOTS = "screenshots"
RESULTS = "results.json"
JUNIT = "junit.xml"
ACCESS_LOG = "proxy-access.log"
# The proxy's CA, copied from the host by the check, and certifi's CAs with it
# (ccci.ingress): what clients on the controller verify the app with.
PROXY_CA = "proxy-ca.crt"
CA_BUNDLE = "ca-bundle.pem"


class RecordError(BadInput):
    """A run record this ccci cannot read (missing, newer, or too old)."""


def now() -> str:
    """A timestamp for records: UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class DeployEntry:
    """One ``docker stack deploy`` of the run and how its convergence went."""

    op: str
    plan: str
    commit: str = ""
    expected_version: str | None = None
    version: str | None = None
    converged: bool = False
    elapsed: float | None = None
    timeout: int | None = None
    timeout_source: str | None = None
    started: str = ""


@dataclass
class Deploys:
    """``deploy.json``: the deploys in order and the app's published HTTP port."""

    published_port: int | None = None
    stack: str = ""
    deploys: list[DeployEntry] = field(default_factory=list)

    @property
    def fresh(self) -> list[DeployEntry]:
        return [d for d in self.deploys if d.op == "install"]

    @property
    def version_deployed(self) -> str | None:
        """The version the last converged deploy reported."""
        converged = [d for d in self.deploys if d.converged]
        return converged[-1].version if converged else None


@dataclass
class MarkerCheck:
    """One look for a seeded marker after an operation."""

    seeded_by: str
    after: str
    found: bool
    seen: str
    at: str = ""


@dataclass
class Markers:
    """``markers.json``: the marker each ``pre_<op>`` hook seeded, and every check."""

    seeded: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[MarkerCheck] = field(default_factory=list)

    def checks_of(self, seeded_by: str) -> list[MarkerCheck]:
        return [c for c in self.checks if c.seeded_by == seeded_by]


@dataclass
class Backups:
    """``backups.json``: every backup (attempts, snapshot, sizes), oldest first."""

    backups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_good_snapshot(self) -> str | None:
        """The snapshot of the newest verified backup: the one a restore uses."""
        good = [b["snapshot_id"] for b in self.backups if b.get("ok")]
        return good[-1] if good else None


@dataclass
class TierEvent:
    """A tier's stage started, or reached its end with everything checked."""

    tier: str
    status: str  # started, passed
    at: str = ""


@dataclass
class Tiers:
    """``tiers.json``: what the tier gates judge from, whoever ran the stages."""

    events: list[TierEvent] = field(default_factory=list)

    def started(self, tier: str) -> bool:
        return any(e.tier == tier for e in self.events)

    def passed(self, tier: str) -> bool:
        """Whether the tier's last start reached its end."""
        return self.latest().get(tier) == "passed"

    def latest(self) -> dict[str, str]:
        """Each tier's last event: ``started`` (and not finished) or ``passed``."""
        return {e.tier: e.status for e in self.events}


@dataclass
class ProbeRound:
    """One check of the live app: every name and path requested, and how each went."""

    op: str
    plan: str
    mode: str
    ok: bool
    probes: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float | None = None
    at: str = ""


@dataclass
class Redeploy:
    """The same version deployed again: the services that changed (none, if idempotent)."""

    plan: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    at: str = ""

    @property
    def idempotent(self) -> bool:
        return not self.changes

    def describe(self) -> str:
        """Each changed service with its changed spec fields, for a warning."""
        return "; ".join(
            f"{c['service']}: {', '.join(c.get('fields') or []) or 'no spec change'}"
            + (" (tasks replaced)" if c.get("tasks_replaced") else "")
            for c in self.changes)


@dataclass
class Probes:
    """``probes.json``: every check of the app's routes, oldest first."""

    rounds: list[ProbeRound] = field(default_factory=list)

    def of(self, op: str) -> list[ProbeRound]:
        return [r for r in self.rounds if r.op == op]


def check_tier_status(status: str) -> None:
    """Refuse a tier event other than started or passed (a failure is a missing pass)."""
    if status not in ("started", "passed"):
        raise ValueError(f"a tier event is 'started' or 'passed', not {status!r}")


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a record dataclass, ignoring keys a newer minor change may have added."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


class RunDir:
    """One run's directory and its records."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    # -- raw access, with the schema version checked -------------------------------

    def _read(self, name: str) -> dict[str, Any] | None:
        path = self.file(name)
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        version = data.pop("schema_version", LEGACY_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise RecordError(
                f"{path} has schema version {version!r}; this ccci reads versions up to "
                f"{SCHEMA_VERSION}: use the ccci that made the run"
            )
        data["__version__"] = version
        return data

    def _write(self, name: str, data: dict[str, Any]) -> Path:
        """Write atomically, so a reader never sees half a record."""
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.file(name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        body = {**data, "schema_version": SCHEMA_VERSION}
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    # -- context.json ----------------------------------------------------------------

    def has_context(self) -> bool:
        return self.file(CONTEXT).is_file()

    def save_context(self, data: dict[str, Any]) -> Path:
        return self._write(CONTEXT, data)

    def context_data(self) -> dict[str, Any]:
        """The saved plan; refuses one written before host values were planned."""
        data = self._read(CONTEXT)
        if data is None:
            raise RecordError(f"{self.path} holds no {CONTEXT}: not a ccci run directory")
        if data.pop("__version__") < SCHEMA_VERSION:
            raise RecordError(
                f"{self.file(CONTEXT)} was written by an older ccci (schema version "
                f"{LEGACY_VERSION}) and lacks the run's host values; this run cannot be "
                "continued: remove its stack by hand and start a new run"
            )
        return data

    # -- deploy.json -----------------------------------------------------------------

    def deploys(self) -> Deploys:
        data = self._read(DEPLOYS) or {}
        data.pop("__version__", None)
        data.pop("host_dir", None)  # version 1 kept it here; the plan owns it now
        entries = [_from_dict(DeployEntry, d) for d in data.pop("deploys", [])]
        return Deploys(deploys=entries, **{k: data[k] for k in ("published_port", "stack")
                                           if k in data})

    def record_deploy(self, entry: DeployEntry, *, published_port: int | None,
                      stack: str) -> Deploys:
        """Append a deploy; ``published_port`` is None when the app publishes none
        (it is reached through the proxy)."""
        record = self.deploys()
        record.deploys.append(entry)
        record.published_port = int(published_port) if published_port else None
        record.stack = stack
        self._write(DEPLOYS, asdict(record))
        return record

    # -- markers.json ----------------------------------------------------------------

    def markers(self) -> Markers:
        data = self._read(MARKERS) or {}
        return Markers(
            seeded=dict(data.get("seeded", {})),
            checks=[_from_dict(MarkerCheck, c) for c in data.get("checks", [])],
        )

    def record_seeded(self, op: str, marker: dict[str, Any]) -> None:
        """Remember the marker the ``pre_<op>`` hook seeded (a later seed replaces it)."""
        record = self.markers()
        record.seeded[op] = marker
        self._write(MARKERS, asdict(record))

    def record_marker_check(self, check: MarkerCheck) -> None:
        record = self.markers()
        record.checks.append(MarkerCheck(**{**asdict(check), "at": check.at or now()}))
        self._write(MARKERS, asdict(record))

    # -- backups.json ----------------------------------------------------------------

    def backups(self) -> Backups:
        data = self._read(BACKUPS) or {}
        return Backups(backups=list(data.get("backups", [])))

    def record_backup(self, backup: dict[str, Any]) -> None:
        record = self.backups()
        record.backups.append(backup)
        self._write(BACKUPS, asdict(record))

    # -- tiers.json ------------------------------------------------------------------

    def tiers(self) -> Tiers:
        data = self._read(TIERS) or {}
        return Tiers(events=[_from_dict(TierEvent, e) for e in data.get("events", [])])

    def record_tier(self, tier: str, status: str) -> None:
        check_tier_status(status)
        record = self.tiers()
        # To the millisecond: tiers that share a stage take their durations from these.
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        record.events.append(TierEvent(tier, status, at))
        self._write(TIERS, asdict(record))

    # -- probes.json and the proxy's access log ---------------------------------------

    def probes(self) -> Probes:
        data = self._read(PROBES) or {}
        return Probes(rounds=[_from_dict(ProbeRound, r) for r in data.get("rounds", [])])

    def record_probe(self, probe: ProbeRound) -> None:
        record = self.probes()
        record.rounds.append(ProbeRound(**{**asdict(probe), "at": probe.at or now()}))
        self._write(PROBES, asdict(record))

    # -- idempotence.json -------------------------------------------------------------

    def redeploy(self) -> Redeploy | None:
        """The idempotence check of the install tier, if it ran."""
        data = self._read(IDEMPOTENCE)
        return _from_dict(Redeploy, data) if data else None

    def record_redeploy(self, redeploy: Redeploy) -> None:
        self._write(IDEMPOTENCE, asdict(Redeploy(**{**asdict(redeploy),
                                                    "at": redeploy.at or now()})))

    # -- functional.json --------------------------------------------------------------

    def functional(self) -> dict[str, Any] | None:
        """The functional tier's session: every test and screenshot (ccci.functional)."""
        data = self._read(FUNCTIONAL)
        if data is not None:
            data.pop("__version__")
        return data

    def save_functional(self, data: dict[str, Any]) -> Path:
        return self._write(FUNCTIONAL, data)

    # -- lint.json --------------------------------------------------------------------

    def lint(self) -> dict[str, Any] | None:
        """The lint tier's result (``ccci.lint.apply.LintResult.as_dict``)."""
        data = self._read(LINT)
        if data is not None:
            data.pop("__version__")
        return data

    def save_lint(self, data: dict[str, Any]) -> Path:
        return self._write(LINT, data)

    def screenshots_dir(self) -> Path:
        return self.file(SCREENSHOTS)

    def save_access_log(self, lines: list[str]) -> Path:
        """The proxy's access-log lines of the run's names (JSON lines, as Traefik wrote)."""
        path = self.file(ACCESS_LOG)
        path.write_text("".join(f"{line.rstrip()}\n" for line in lines))
        return path

    def access_log_path(self) -> Path:
        return self.file(ACCESS_LOG)

    def save_proxy_ca(self, pem: str) -> Path:
        """The proxy's CA certificate (public), unless the copy already holds it."""
        path = self.file(PROXY_CA)
        if not path.is_file() or path.read_text() != pem:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(pem)
            os.replace(tmp, path)
        return path

    # -- results ---------------------------------------------------------------------

    def save_results(self, data: dict[str, Any]) -> Path:
        return self._write(RESULTS, data)

    def results(self) -> dict[str, Any] | None:
        data = self._read(RESULTS)
        if data is not None:
            data.pop("__version__")
        return data

    def junit_path(self) -> Path:
        return self.file(JUNIT)

    # -- what roles need at a glance -------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The facts roles act on, as plain data for the ``run_record`` action."""
        deploys = self.deploys()
        return {
            "published_port": deploys.published_port,
            # The plan of the version running now (None before the first deploy).
            "live_plan": deploys.deploys[-1].plan if deploys.deploys else None,
            "deploys": len(deploys.deploys),
            "fresh_deploys": len(deploys.fresh),
            "version_deployed": deploys.version_deployed,
            "last_good_snapshot": self.backups().last_good_snapshot,
            "tiers": self.tiers().latest(),
        }
