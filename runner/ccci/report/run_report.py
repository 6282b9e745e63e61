"""One run's ``report.html`` (for people), ``summary.md`` (the card a CI posts on a pull
request) and ``badge.svg``, made from the run directory's records.

Each section is built here as plain data, one function per section; the templates
only lay it out. A record that is absent leaves its section empty (the page says so);
one that cannot be read is named under "Records" and left out. A report is written for
every run, refused, interrupted and reaped ones included, so nothing here may fail on
a missing or partial record.

The page is self-contained: inline CSS, the badge inlined as SVG, screenshots inlined as
``data:`` URIs and linked to their files by relative links; no request leaves it. Only
records are shown, never the run's context or environment: records are redacted when
written, the plan is not.
"""

from __future__ import annotations

import base64
import re
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from ccci.levels import TIERS
from ccci.report.badge import level_badge, run_state
from ccci.report.render import duration, render, size
from ccci.rundir import (
    ACCESS_LOG,
    BACKUPS,
    DEPLOYS,
    FUNCTIONAL,
    JUNIT,
    LINT,
    MARKERS,
    RESULTS,
    SCREENSHOTS,
    RunDir,
)
from ccci.trust import files_shown

REPORT = "report.html"
SUMMARY = "summary.md"
BADGE = "badge.svg"
# What a forge accepts in a comment is bounded (GitHub: 65,536 characters): the card
# stays well under it, in bytes of UTF-8.
SUMMARY_LIMIT = 60_000
CUT_NOTE = "… cut, see the full report"

# The apps of a run, as ccci.apps names them (not imported: it pulls in ansible-runner).
FRESH, UPGRADED = "fresh", "upgraded"
# Test outcomes that fail the functional tier (ccci.functional.tier.FAILED_OUTCOMES).
FAILED_OUTCOMES = ("failed", "error", "timeout")
FAILED_STATUSES = ("failed", "error")

# Bounds of what one page inlines: a runaway log or a huge PNG must not make it unusable.
LOG_CHARS = 100_000
THUMBNAIL_BYTES = 4_000_000
# Bounds of the pieces of the summary card (characters).
CARD_REASON = 4_000
CARD_HINT = 1_000
CARD_LINE = 300
CARD_TESTS = 10
# Findings a pull request's reader must see on the card itself, not only counted:
# the maintainer's own CI code (ccci.trust) that the run did not run.
CARD_FINDINGS = frozenset({"trust.repo-code-skipped"})

STATUS_ICONS = {"passed": "✅", "failed": "❌", "error": "⛔", "timeout": "⏱️",
                "skipped": "⏭️", "not_run": "⚪"}
RECORD_FILES = {"results": RESULTS, "deploys": DEPLOYS, "markers": MARKERS,
                "backups": BACKUPS, "functional": FUNCTIONAL, "lint": LINT}
RUN_DIR_NAME = re.compile(r"^\d{8}-\d{6}-(?P<recipe>.+)-[0-9a-f]{8}$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- the public entry point -------------------------------------------------------------


def write_run_report(run_dir: Path, *, report_link: str | None = None) -> dict[str, Path]:
    """Write ``report.html``, ``summary.md`` and ``badge.svg`` into ``run_dir`` and return
    their paths (keys ``report``, ``summary``, ``badge``). ``report_link`` is where the
    card says the full report is (a CI artifact URL); the report's path by default."""
    run_dir = Path(run_dir)
    view = build_view(run_dir)
    paths = {"report": run_dir / REPORT, "summary": run_dir / SUMMARY,
             "badge": run_dir / BADGE}
    paths["report"].write_text(render("run.html", **view), encoding="utf-8")
    link = report_link or str(paths["report"])
    paths["summary"].write_text(summary_markdown(view, link), encoding="utf-8")
    paths["badge"].write_text(str(view["verdict"]["badge"]) + "\n", encoding="utf-8")
    return paths


def build_view(run_dir: Path) -> dict[str, Any]:
    """Everything the page and the card show, as plain data."""
    records = Records(Path(run_dir))
    results = records.results()
    view = {
        "header": header_section(results, records),
        "verdict": verdict_section(results),
        "tiers": tier_section(results, records),
        "deploys": deploy_section(results, records),
        "markers": marker_section(records),
        "backups": backup_section(results, records),
        "functional": functional_section(results, records),
        "findings": finding_section(results, records),
        "screenshots": screenshot_section(results, records),
        "artifacts": artifact_section(records),
    }
    view["show"] = shown_sections(view, results)
    view["notes"] = records.notes  # last: every read above may have added one
    return view


def shown_sections(view: dict[str, Any], results: dict[str, Any]) -> dict[str, bool]:
    """Which sections the page has: one with something to show, or whose tier was asked
    of a run that deployed (it then says what is missing); a refused run has none."""
    tiers = _tiers(results)
    asked = run_state(results) != "refused" if results else True

    def wanted(*names: str) -> bool:
        return asked and (not tiers or any(name in tiers for name in names))

    return {
        "deploys": bool(view["deploys"]["rows"]) or wanted("install", "upgrade"),
        "markers": bool(view["markers"]) or wanted("upgrade", "backup", "restore"),
        "backups": bool(view["backups"]["rows"]) or wanted("backup", "restore"),
        "functional": bool(view["functional"]) and (asked or any(
            block["recorded"] for block in view["functional"])),
        "screenshots": bool(view["screenshots"]) or wanted("functional"),
    }


# -- reading the records, never failing ---------------------------------------------------


class Records:
    """The run's records per app, each read once; one that cannot be read is noted."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir
        self.notes: list[str] = []
        self._read: dict[tuple[str, str], Any] = {}

    @property
    def roles(self) -> list[str]:
        """The run's apps: the fresh one, and the upgraded one when it has a directory."""
        return [FRESH, *([UPGRADED] if (self.path / UPGRADED).is_dir() else [])]

    @property
    def two_apps(self) -> bool:
        return len(self.roles) > 1

    def dir(self, role: str) -> Path:
        return self.path / UPGRADED if role == UPGRADED else self.path

    @staticmethod
    def prefix(role: str) -> str:
        """The relative link prefix of an app's files from the report."""
        return f"{UPGRADED}/" if role == UPGRADED else ""

    def get(self, role: str, what: str, default: Any = None) -> Any:
        """``RunDir.<what>()`` of the app, or ``default`` when it cannot be read."""
        key = (role, what)
        if key not in self._read:
            try:
                self._read[key] = getattr(RunDir(self.dir(role)), what)()
            except Exception as exc:  # a partial or foreign record: say so, go on
                name = self.prefix(role) + RECORD_FILES.get(what, what)
                self.notes.append(f"{name} could not be read: {type(exc).__name__}: {exc}")
                self._read[key] = default
        return self._read[key]

    def results(self) -> dict[str, Any]:
        data = self.get(FRESH, "results")
        if not isinstance(data, dict):
            if (self.path / RESULTS).is_file():
                return {}
            self.notes.append(f"{RESULTS} is missing: the run recorded no verdict (it may "
                              "still be running, or its process was killed)")
            return {}
        # the shapes every section (and ccci.report.badge) relies on, whatever was written
        return {**data, "tiers": {name: _dict(tier) for name, tier
                                  in _dict(data.get("tiers")).items()},
                "apps": _dict(data.get("apps")), "warnings": _list(data.get("warnings")),
                "teardown": data.get("teardown") if isinstance(data.get("teardown"), dict)
                else None}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _plain(entry: Any) -> dict[str, Any]:
    """A record entry (a dataclass or a dict) as a dict."""
    if is_dataclass(entry) and not isinstance(entry, type):
        return asdict(entry)
    return _dict(entry)


def _tiers(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The run's tiers in ladder order (results.json keeps them sorted by name)."""
    tiers = {k: _dict(v) for k, v in _dict(results.get("tiers")).items()}
    order = sorted(tiers, key=lambda n: (TIERS.index(n) if n in TIERS else len(TIERS), n))
    return {name: tiers[name] for name in order}


def _details(results: dict[str, Any], tier: str) -> dict[str, Any]:
    return _dict(_tiers(results).get(tier, {}).get("details"))


def _number(value: Any) -> float | None:
    """A duration or a size of a record, or None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def short_commit(commit: Any) -> str:
    return str(commit or "")[:8]


def when(stamp: Any) -> str:
    """An ISO timestamp as people read it: ``2026-11-28 12:37:32 UTC``."""
    if not stamp:
        return "—"
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    if moment.utcoffset() is not None and not moment.utcoffset():
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    return moment.isoformat(sep=" ", timespec="seconds")


def status_class(status: Any) -> str:
    """A CSS class for a status or outcome: letters and underscores only."""
    return re.sub(r"[^a-z_]", "", str(status or "unknown").lower()) or "unknown"


def cut(text: Any, limit: int) -> str:
    """``text`` within ``limit`` characters, the cut said where it is."""
    text = str(text or "")
    return text if len(text) <= limit else f"{text[:limit].rstrip()}\n{CUT_NOTE}"


# -- header and verdict --------------------------------------------------------------------


def header_section(results: dict[str, Any], records: Records) -> dict[str, Any]:
    """What was tested: recipe, ref, commit, version, the apps' domains, when, how long."""
    named = RUN_DIR_NAME.match(records.path.name)
    apps = [{"role": role, "domain": app.get("domain") or "—",
             "first_version": app.get("first_version") or "—",
             "version_deployed": app.get("version_deployed") or "—"}
            for role, app in ((r, _dict(a)) for r, a in _dict(results.get("apps")).items())]
    if not apps and results.get("domain"):
        apps = [{"role": FRESH, "domain": results["domain"],
                 "first_version": results.get("version") or "—",
                 "version_deployed": results.get("version_deployed") or "—"}]
    return {
        "recipe": results.get("recipe") or (named["recipe"] if named else records.path.name),
        "ref": results.get("ref") or "",
        "commit": results.get("commit") or "",
        "commit_short": short_commit(results.get("commit")),
        "version": results.get("version") or "—",
        "run_id": results.get("run_id") or "",
        "apps": apps,
        "started": when(results.get("started")),
        "finished": when(results.get("finished")),
        "duration": _number(results.get("duration")),
        "exit_code": results.get("exit_code"),
        "ci": ci_build(results),
        "repo_code": repo_code_line(results),
    }


def repo_code_line(results: dict[str, Any]) -> str:
    """What became of the recipe repository's own CI code (ccci.trust), for the header;
    "" when it had none."""
    repo = _dict(results.get("repo_code"))
    files = [str(f) for f in _list(repo.get("files"))]
    if repo.get("state") not in ("used", "skipped") or not files:
        return ""
    verb = "ran" if repo["state"] == "used" else "not run"
    return cut(f"{verb}: {files_shown(files)} ({repo.get('reason') or ''})", CARD_REASON)


def ci_build(results: dict[str, Any]) -> dict[str, str] | None:
    """The CI build that ran the run (results' ``ci``, ccci.drone_env), as text: its
    number, the pull request and repository, the build's address (shown, not linked: no
    request leaves the page) and the machine; None outside CI."""
    ci = _dict(results.get("ci"))
    if not ci:
        return None
    system = str(ci.get("system") or "CI")
    system = system.capitalize() if system.islower() else system
    number = f" #{ci['build']}" if ci.get("build") not in (None, "") else ""
    pr = f"pull request #{ci['pr']}" if ci.get("pr") not in (None, "") else ""
    repo = str(ci.get("repo") or "")
    return {"build": f"{system} build{number}",
            "change": " of ".join(part for part in (pr, repo) if part),
            "link": str(ci.get("link") or ""), "machine": str(ci.get("machine") or "")}


def verdict_section(results: dict[str, Any]) -> dict[str, Any]:
    """The level (text and badge), how the run ended, and what failed."""
    state = run_state(results) if results else "unknown"
    level = results.get("level") if isinstance(results.get("level"), int) else None
    failed = [f"{name} {tier.get('status')}" for name, tier in _tiers(results).items()
              if tier.get("status") in FAILED_STATUSES]
    teardown = _dict(results.get("teardown"))
    if teardown.get("status") in FAILED_STATUSES:
        failed.append(f"teardown {teardown['status']}")
    return {
        "state": state,
        "state_text": _state_text(state, results),
        "level": level,
        "level_text": _level_text(results, level),
        "quick": _quick_note(results),
        "failed": failed,
        "error": results.get("error") or "",
        "failure_kind": results.get("failure_kind") or "",
        "badge": Markup(level_badge(results)),  # badge_svg escapes every text it draws
        "tone": _tone(state, failed, results),
    }


def _level_text(results: dict[str, Any], level: int | None) -> str:
    """The level as results.json says it; a quick run's always says it is partial."""
    text = str(results.get("level_text") or (f"L{level}" if level is not None
                                             else "no level"))
    if results.get("quick") is True and "quick" not in text:
        text += " (quick run: partial)"
    return text


def _quick_note(results: dict[str, Any]) -> str:
    """What a quick run left out, for the banner; "" for a full run."""
    if results.get("quick") is not True:
        return ""
    asked = [name for name in TIERS if name in _tiers(results)]
    left = [name for name in TIERS if name not in asked]
    return (f"Quick run: {' and '.join(asked) or 'no tier'} only; "
            f"{', '.join(left) or 'nothing'} not run, so the level is partial "
            "(a full run climbs the whole ladder).")


def _state_text(state: str, results: dict[str, Any]) -> str:
    if state == "refused":
        return f"refused before deploy: {results.get('error') or 'no reason recorded'}"
    if state == "interrupted":
        return "interrupted"
    if state == "reaped":
        reaped = _dict(results.get("reaped"))
        by = reaped.get("by") if reaped.get("by") not in (None, "", "janitor") else "the janitor"
        at = f" (at {when(reaped['at'])})" if reaped.get("at") else ""
        return f"reaped by {by}: {reaped.get('reason') or 'no reason recorded'}{at}"
    if state == "unknown":
        return "no verdict: results.json is missing or unreadable"
    return ""


def _tone(state: str, failed: list[str], results: dict[str, Any]) -> str:
    """The banner's colour: pass, fail or stop (refused, interrupted, reaped, unknown)."""
    if state != "finished":
        return "stop"
    return "fail" if failed or results.get("error") or results.get("exit_code") else "pass"


# -- tiers ------------------------------------------------------------------------------


def tier_section(results: dict[str, Any], records: Records) -> list[dict[str, Any]]:
    """One row per tier in ladder order, then the teardown."""
    rows = [_tier_row(name, tier, records.two_apps) for name, tier in _tiers(results).items()]
    teardown = results.get("teardown")
    if isinstance(teardown, dict):
        rows.append(_tier_row("teardown", teardown, records.two_apps))
    elif results:
        rows.append({**_tier_row("teardown", {"status": "not_run"}, True),
                     "reason": _no_teardown(run_state(results))})
    return rows


def _tier_row(name: str, tier: dict[str, Any], two_apps: bool) -> dict[str, Any]:
    details = _dict(tier.get("details"))
    status = str(tier.get("status") or "unknown")
    per_app = ", ".join(f"{app} {verdict}" for app, verdict in _dict(details.get("apps")).items())
    upgraded = _dict(details.get(UPGRADED))
    if upgraded and not per_app:
        per_app = f"upgraded app: {upgraded.get('status') or 'unknown'}"
    return {
        "name": name,
        "app": _app_of(details, two_apps),
        "status": status,
        "label": status.replace("_", " "),
        "status_class": status_class(status),
        "icon": STATUS_ICONS.get(status, "❔"),
        "duration": _number(tier.get("duration")) if status not in ("not_run", "skipped") else None,
        "reason": str(tier.get("reason") or ""),
        "per_app": per_app,
        "failure_kind": str(tier.get("failure_kind") or ""),
        "hint": str(tier.get("hint") or ""),
        "traceback": str(details.get("traceback") or ""),
        "failed": status in FAILED_STATUSES,
    }


def _app_of(details: dict[str, Any], two_apps: bool) -> str:
    """Which app a tier ran on; ``both`` for the functional tier and teardown of two."""
    if "apps" in details or isinstance(details.get(UPGRADED), dict):
        return "both"
    return str(details.get("app") or (FRESH if details and not two_apps else ""))


def _no_teardown(state: str) -> str:
    if state == "refused":
        return "nothing was deployed, nothing to tear down"
    if state == "reaped":
        return "torn down by the janitor"
    return "no teardown recorded: the app was kept (--keep), or the run stopped before it"


# -- deploys and upgrade hops -----------------------------------------------------------


def deploy_section(results: dict[str, Any], records: Records) -> dict[str, Any]:
    """Every deploy of each app in order; an upgrade hop shows the version it left."""
    rows = []
    for role in records.roles:
        deploys = records.get(role, "deploys")
        entries = [_plain(d) for d in deploys.deploys] if deploys else []
        if not entries:  # deploy.json absent: what results.json kept of the app
            entries = _list(_dict(_dict(results.get("apps")).get(role)).get("deploys"))
        rows += _deploy_rows(role, [_dict(e) for e in entries])
    upgrade = _details(results, "upgrade")
    return {
        "rows": rows,
        "base_version": upgrade.get("base_version") or "",
        "target_version": upgrade.get("target_version") or "",
        "upgrade_app": upgrade.get("app") or "",
        "hops": sum(1 for row in rows if row["op"] == "upgrade"),
    }


def _deploy_rows(role: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows, previous = [], ""
    for deploy in entries:
        version = deploy.get("version") or ""
        expected = deploy.get("expected_version") or ""
        rows.append({
            "app": role,
            "op": str(deploy.get("op") or "?"),
            "plan": deploy.get("plan") or "",
            "from": previous if deploy.get("op") == "upgrade" else "",
            "version": version or "—",
            "expected": expected,
            "mismatch": bool(version and expected and version != expected),
            "converged": bool(deploy.get("converged")),
            "elapsed": _number(deploy.get("elapsed")),
            "timeout": _number(deploy.get("timeout")),
            "timeout_source": deploy.get("timeout_source") or "",
            "started": when(deploy.get("started")),
            "commit_short": short_commit(deploy.get("commit")),
        })
        if deploy.get("converged") and version:
            previous = version
    return rows


# -- data markers -----------------------------------------------------------------------


def marker_section(records: Records) -> list[dict[str, Any]]:
    """Each seeded marker with every check of it: found, or lost."""
    rows: list[dict[str, Any]] = []
    for role in records.roles:
        markers = records.get(role, "markers")
        if markers is None:
            continue
        checks = [_plain(c) for c in markers.checks]
        for op, marker in markers.seeded.items():
            rows += _marker_rows(role, op, _dict(marker), [c for c in checks
                                                           if c.get("seeded_by") == op])
        for check in checks:  # a check of a marker no seed was recorded for
            if check.get("seeded_by") not in markers.seeded:
                rows += _marker_rows(role, str(check.get("seeded_by")), {}, [check])
    return rows


def _marker_rows(role: str, op: str, marker: dict[str, Any], checks: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    where = marker.get("http_path") or (f"service {marker['service']}"
                                        if marker.get("service") else "")
    seeded = {"app": role, "seeded_by": op, "what": marker.get("description") or "",
              "contains": marker.get("contains") or "", "where": where}
    if not checks:
        return [{**seeded, "after": "", "result": "not checked", "result_class": "not_run",
                 "seen": "", "at": ""}]
    return [{**seeded, "after": check.get("after") or "",
             "result": "found" if check.get("found") else "LOST",
             "result_class": "passed" if check.get("found") else "failed",
             "seen": check.get("seen") or "", "at": when(check.get("at"))}
            for check in checks]


# -- backups ----------------------------------------------------------------------------


def backup_section(results: dict[str, Any], records: Records) -> dict[str, Any]:
    """Every backup attempt: snapshot, sizes, duration, why it failed; the restore's
    snapshot."""
    rows = []
    for role in records.roles:
        found = records.get(role, "backups")
        backups = list(found.backups) if found else []
        details = _details(results, "backup")
        if not backups and details.get("backup") and details.get("app", FRESH) == role:
            backups = [details["backup"]]  # backups.json absent: the tier's copy
        for number, backup in enumerate(backups, 1):
            rows += [_attempt_row(role, number, _dict(a))
                     for a in _list(_dict(backup).get("attempts"))]
    restore = _details(results, "restore")
    return {"rows": rows, "restored": str(restore.get("snapshot_id") or ""),
            "restored_short": str(restore.get("snapshot_id") or "")[:12]}


def _attempt_row(role: str, number: int, attempt: dict[str, Any]) -> dict[str, Any]:
    snapshot = str(attempt.get("snapshot_id") or "")
    settled = attempt.get("settled")
    return {
        "app": role,
        "backup": number,
        "attempt": attempt.get("attempt") or "?",
        "ok": bool(attempt.get("ok")),
        "result": "passed" if attempt.get("ok") else "failed",
        "snapshot": snapshot[:8] or "—",
        "snapshot_full": snapshot,
        "total": size(_number(attempt.get("total_bytes"))),
        "added": size(_number(attempt.get("data_added"))),
        "duration": _number(attempt.get("duration")),
        "reason": str(attempt.get("reason") or ""),
        "warnings": [str(w) for w in _list(attempt.get("warnings"))],
        "settled": "" if settled is None else ("the stack settled before the retry" if settled
                                               else "the stack did not settle before the retry"),
        "paths": [_backup_path(_dict(p)) for p in _list(attempt.get("paths"))],
    }


def _backup_path(path: dict[str, Any]) -> str:
    where = "/".join(str(p) for p in (path.get("volume"), path.get("subpath")) if p)
    return f"{where or path.get('path') or '?'} ({size(_number(path.get('size')))})"


# -- functional tests -------------------------------------------------------------------


def functional_section(results: dict[str, Any], records: Records) -> list[dict[str, Any]]:
    """Each app's session: its tests (generic checks and the recipe's suite apart), with
    the services' last log lines of a failed one. Empty when the tier was not asked."""
    tier = _tiers(results).get("functional")
    blocks = []
    for role in records.roles:
        source = _functional_source(results, records, role)
        if source is None and tier is None:
            continue
        blocks.append(_functional_block(role, source,
                                        _functional_verdict(results, role, source), records))
    return blocks


def _functional_source(results: dict[str, Any], records: Records, role: str
                       ) -> dict[str, Any] | None:
    """functional.json of the app, else what results.json kept of its session."""
    record = records.get(role, "functional")
    if isinstance(record, dict):
        return record
    details = _details(results, "functional")
    kept = details.get(UPGRADED) if role == UPGRADED else (
        details if details.get("app", FRESH) == FRESH else None)
    return kept if isinstance(kept, dict) and "tests" in kept else None


def _functional_verdict(results: dict[str, Any], role: str, source: dict[str, Any] | None
                        ) -> tuple[str, str]:
    """The status and reason of the app's session. With two apps the tier's verdict is
    both apps' (ccci.apps.merge_functional): the upgraded app's is kept apart, and the
    fresh app's is its own session's."""
    tier = _tiers(results).get("functional") or {}
    upgraded = _dict(_dict(tier.get("details")).get(UPGRADED))
    if role == UPGRADED:
        return (str(upgraded.get("status") or ("not_run" if not tier else "unknown")),
                str(upgraded.get("reason") or ""))
    ok = (source or {}).get("ok")
    if upgraded and ok is True:
        return "passed", ""
    if upgraded and ok is False and tier.get("status") not in FAILED_STATUSES:
        return "failed", ""
    return str(tier.get("status") or "not_run"), str(tier.get("reason") or "")


def _functional_block(role: str, source: dict[str, Any] | None, verdict: tuple[str, str],
                      records: Records) -> dict[str, Any]:
    status, reason = verdict
    tests = [_test_row(_dict(t)) for t in _list((source or {}).get("tests"))]
    counts: dict[str, int] = {}
    for test in tests:
        counts[test["outcome"]] = counts.get(test["outcome"], 0) + 1
    session = _dict((source or {}).get("session")) or (source or {})
    log = records.dir(role) / "functional" / "pytest.log"
    return {
        "app": role,
        "status": status,
        "label": status.replace("_", " "),
        "status_class": status_class(status),
        "reason": reason,
        "recorded": source is not None,
        "counts": ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())),
        "failing": sum(1 for t in tests if t["failed"]),
        "total": len(tests),
        "duration": _number(session.get("duration")),
        "exit_code": session.get("exit_code"),
        "timed_out": bool(session.get("timed_out")),
        "error": str(session.get("error") or ""),
        "groups": [{"title": title, "tests": group} for title, group in (
            ("Generic checks", [t for t in tests if t["generic"]]),
            ("The recipe's suite", [t for t in tests if not t["generic"]])) if group],
        "log_href": f"{records.prefix(role)}functional/pytest.log" if log.is_file() else "",
    }


def _test_row(test: dict[str, Any]) -> dict[str, Any]:
    nodeid = str(test.get("nodeid") or "?")
    outcome = str(test.get("outcome") or "unknown")
    message = str(test.get("message") or "")
    shot = _dict(test.get("screenshot"))
    return {
        "nodeid": nodeid,
        "file": nodeid.split("::", 1)[0] if "::" in nodeid else "",
        "name": nodeid.split("::", 1)[-1],
        "outcome": outcome,
        "outcome_class": status_class(outcome),
        "failed": outcome in FAILED_OUTCOMES,
        "generic": bool(test.get("generic")),
        "duration": _number(test.get("duration")),
        "message": message,
        "reruns": test.get("reruns") or 0,
        "rerun_message": str(test.get("rerun_message") or ""),
        "logs": [{"service": service or "logs", "text": cut(text, LOG_CHARS)}
                 for service, text in _dict(test.get("logs")).items()],
        "screenshot_error": str(shot.get("error") or ""),
    }


# -- findings ---------------------------------------------------------------------------


def finding_section(results: dict[str, Any], records: Records) -> dict[str, Any]:
    """Planning's warnings (results.json) and the lint tier's findings (lint.json)."""
    lint = records.get(FRESH, "lint")
    if not isinstance(lint, dict):
        details = _details(results, "lint")
        lint = details if "findings" in details else None
    rows = [_finding_row("plan", _dict(f)) for f in _list(results.get("warnings"))]
    lint_rows = [_finding_row("lint", _dict(f)) for f in _list((lint or {}).get("findings"))]
    return {
        "rows": rows + lint_rows,
        "planning": len(rows),
        "lint_count": len(lint_rows),
        "lint": None if lint is None else {
            "version": lint.get("version") or "—", "previous": lint.get("previous") or "—",
            "errors": lint.get("errors") or 0, "warnings": lint.get("warnings") or 0,
            "error": str(lint.get("error") or "")},
    }


def _finding_row(source: str, finding: dict[str, Any]) -> dict[str, Any]:
    where = ": ".join(str(finding[k]) for k in ("file", "key") if finding.get(k))
    severity = str(finding.get("severity") or "")
    return {
        "source": source,
        "severity": severity,
        "severity_class": "failed" if severity == "error" else "warning",
        "code": str(finding.get("code") or ""),
        "rule": str(finding.get("rule") or ""),
        "message": str(finding.get("message") or ""),
        "where": where,
        "plan": str(finding.get("plan") or ""),
        "fix": str(finding.get("fix") or ""),
    }


# -- screenshots ------------------------------------------------------------------------


def screenshot_section(results: dict[str, Any], records: Records) -> list[dict[str, Any]]:
    """Every screenshot of each app, inlined as a thumbnail that links to its file."""
    shots = []
    for role in records.roles:
        folder = records.dir(role) / SCREENSHOTS
        listed = _list((_functional_source(results, records, role) or {}).get("screenshots"))
        names = [Path(str(_dict(s).get("path") or "")).name for s in listed]
        on_disk = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
        extra = [{"path": name} for name in on_disk if name not in names]
        shots += [_screenshot(role, _dict(s), folder, records.prefix(role))
                  for s in [*listed, *extra]]
    return [shot for shot in shots if shot["file"]]


def _screenshot(role: str, shot: dict[str, Any], folder: Path, prefix: str) -> dict[str, Any]:
    name = Path(str(shot.get("path") or "")).name  # the file in this run directory
    file = folder / name if name else None
    data = _png_data_uri(file) if file else ""
    width, height = shot.get("width"), shot.get("height")
    return {
        "app": role,
        "file": name,
        "name": shot.get("name") or Path(name).stem,
        "nodeid": shot.get("nodeid") or "",
        "url": shot.get("url") or "",  # the app's own address, shown as text only
        "href": f"{prefix}{SCREENSHOTS}/{quote(name)}",
        "data_uri": data,
        "exists": bool(file and file.is_file()),
        "dimensions": f"{width}\u00d7{height}" if width and height else "",
        "size": size(_number(shot.get("size")) if shot.get("size") is not None else (
            file.stat().st_size if file and file.is_file() else None)),
    }


def _png_data_uri(file: Path) -> str:
    """The PNG as a ``data:`` URI, or "" when absent, not a PNG or too big to inline."""
    try:
        if not file.is_file() or file.stat().st_size > THUMBNAIL_BYTES:
            return ""
        data = file.read_bytes()
    except OSError:
        return ""
    if not data.startswith(PNG_SIGNATURE):
        return ""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


# -- artifacts --------------------------------------------------------------------------


ARTIFACTS = (
    (RESULTS, "the verdict"),
    (JUNIT, "JUnit XML for CI"),
    ("functional/pytest.log", "the functional session's pytest output"),
    (ACCESS_LOG, "the proxy's access log of the run's names"),
    ("ansible/", "ansible-runner's data: every stage's events and output"),
    (DEPLOYS, "record: every deploy"), (MARKERS, "record: the data markers"),
    (BACKUPS, "record: every backup"), (FUNCTIONAL, "record: the functional session"),
    (LINT, "record: the lint tier"),
)


def artifact_section(records: Records) -> list[dict[str, Any]]:
    """Relative links to the files each app's directory holds (only those present), one
    group per app."""
    groups = []
    for role in records.roles:
        links = [{"href": records.prefix(role) + quote(name), "name": records.prefix(role) + name,
                  "what": what}
                 for name, what in ARTIFACTS
                 if (records.dir(role) / name.rstrip("/")).exists()]
        if links:
            groups.append({"app": role, "links": links})
    return groups


# -- the summary card -------------------------------------------------------------------


def summary_markdown(view: dict[str, Any], link: str) -> str:
    """The card, within SUMMARY_LIMIT bytes of UTF-8 whatever the records hold."""
    card = summary_view(view, link)
    return fit_summary(render("summary.md", **card), card["footer"])


def summary_view(view: dict[str, Any], link: str) -> dict[str, Any]:
    """The card's pieces, each already cut to its bound and escaped for Markdown."""
    header, verdict = view["header"], view["verdict"]
    failing = [(block["app"], t) for block in view["functional"] for group in block["groups"]
               for t in group["tests"] if t["failed"]]
    link = cut(link, 2_000)
    footer = (f"Full report: [{REPORT}]({_md_link(link)})" if "://" in link
              else f"Full report: {md_code(link)}")
    return {
        "heading": _card_heading(header, verdict),
        "state": _card_state(verdict),
        "quick": md_text(verdict["quick"]),
        "tiers": [{"name": md_text(row["name"]), "app": md_text(row["app"] or "—"),
                   "status": f"{row['icon']} {md_text(row['label'])}",
                   "duration": duration(row["duration"]) if row["duration"] is not None
                   else "—"} for row in view["tiers"]],
        "failure": _card_failure(view),
        "findings": len(view["findings"]["rows"]),
        "planning": view["findings"]["planning"],
        "lint": view["findings"]["lint_count"],
        "tests_failing": len(failing),
        "tests_total": sum(block["total"] for block in view["functional"]),
        "failing": [_card_test(app if len(view["functional"]) > 1 else "", test)
                    for app, test in failing[:CARD_TESTS]],
        "more_failing": max(0, len(failing) - CARD_TESTS),
        "notices": [md_text(cut(f"{row['code']}: {row['message']}", CARD_REASON))
                    for row in view["findings"]["rows"] if row["rule"] in CARD_FINDINGS],
        "footer": footer,
    }


def _card_heading(header: dict[str, Any], verdict: dict[str, Any]) -> str:
    ref = f" {md_code(header['ref'], 100)}" if header["ref"] else ""
    commit = f" @ {md_code(header['commit_short'])}" if header["commit_short"] else ""
    state, level = verdict["state"], md_text(verdict["level_text"])
    if state == "finished":
        failed = f" ({md_text(', '.join(verdict['failed']))})" if verdict["failed"] else ""
        result = f"**{level}**{failed}"
    elif state == "refused":
        result = "**refused** before deploy"
    elif state == "unknown":
        result = "**no verdict** (results.json missing)"
    else:
        result = f"**{state}** ({level} reached before it stopped)"
    return f"### ccci: {md_text(cut(header['recipe'], 100))}{ref}{commit}: {result}"


def _card_state(verdict: dict[str, Any]) -> str:
    """How the run ended when not finished, or its run-level error, as a code block."""
    said = verdict["state_text"] if verdict["state"] != "interrupted" else ""  # the heading
    text = said or (f"error: {verdict['error']}" if verdict["error"] else "")
    return md_fence(cut(text, CARD_REASON)) if text else ""


def _card_test(app: str, test: dict[str, Any]) -> str:
    """A failing test in a line: its id, app (with two), outcome and first message line."""
    first = next((line for line in test["message"].splitlines() if line.strip()), "")
    on = f"{md_text(app)}, " if app else ""
    return (f"{md_code(test['nodeid'], CARD_LINE)} ({on}{md_text(test['outcome'])})"
            + (f": {md_code(first, CARD_LINE)}" if first else ""))


def _card_failure(view: dict[str, Any]) -> dict[str, Any] | None:
    """The first failed tier (ladder order, then teardown), with reason, kind and hint."""
    row = next((r for r in view["tiers"] if r["failed"]), None)
    if row is None:
        return None
    two_apps = len(view["header"]["apps"]) > 1
    on = f" (on the {md_text(row['app'])} app)" if two_apps and row["app"] != "both" else ""
    kind = f", kind: {md_text(row['failure_kind'])}" if row["failure_kind"] else ""
    return {
        "title": f"{md_code(row['name'])}{on} {md_text(row['label'])}{kind}",
        "reason": md_fence(cut(row["reason"], CARD_REASON)) if row["reason"] else "",
        "hint": md_text(cut(" ".join(row["hint"].split()), CARD_HINT)) if row["hint"] else "",
    }


def fit_summary(text: str, footer: str) -> str:
    """``text`` within SUMMARY_LIMIT bytes: past it, the end is cut (a code block left
    open is closed) and a note and ``footer`` (where the full report is) end the card."""
    data = text.encode("utf-8")
    if len(data) <= SUMMARY_LIMIT:
        return text
    tail = f"\n\n_{CUT_NOTE}_\n\n{footer}\n"
    room = SUMMARY_LIMIT - len(tail.encode("utf-8"))
    while True:
        body = data[:max(room, 0)].decode("utf-8", errors="ignore")
        fence = _open_fence(body)
        card = body + (f"\n{fence}" if fence else "") + tail
        over = len(card.encode("utf-8")) - SUMMARY_LIMIT
        if over <= 0 or room <= 0:
            return card
        room -= over


def _open_fence(text: str) -> str:
    """The fence of a code block left open at the end of ``text``, or ""."""
    fence = ""
    for line in text.splitlines():
        stripped = line.strip()
        opening = re.fullmatch(r"(`{3,})[\w-]*", stripped)
        if not fence and opening:
            fence = opening.group(1)
        elif fence and re.fullmatch(r"`+", stripped) and len(stripped) >= len(fence):
            fence = ""
    return fence


def md_text(text: Any) -> str:
    """Text for a Markdown line: one line, Markdown and HTML punctuation escaped."""
    flat = " ".join(str(text or "").split())
    return re.sub(r"([\\`*_\[\]<>|~#])", r"\\\1", flat)


def md_code(text: Any, limit: int = 200) -> str:
    """An inline code span of ``text`` on one line, however many backticks it holds."""
    flat = " ".join(cut(text, limit).split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def md_fence(text: str) -> str:
    """A fenced code block of ``text``: nothing in it is read as Markdown or HTML."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _md_link(link: str) -> str:
    """A link target: spaces and parentheses encoded, so the link stays one."""
    return link.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace(
        "<", "%3C").replace(">", "%3E")
