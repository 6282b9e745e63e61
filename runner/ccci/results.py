"""What a run leaves behind for people and CI: results.json and a JUnit XML file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ccci.failures import run_kind
from ccci.levels import QUICK_TIERS, level
from ccci.rundir import RunDir

QUICK_NOTE = f"quick run: partial, {' and '.join(QUICK_TIERS)} only"


@dataclass
class TierResult:
    """The verdict of one tier."""

    status: str  # passed, failed, skipped, error, not_run
    reason: str = ""
    duration: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    # For a failed tier: recipe, infrastructure or harness (ccci.failures), and how to
    # fix it when the cause is a known one.
    failure_kind: str | None = None
    hint: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "error")


@dataclass
class RunResult:
    """Everything results.json records about one run."""

    recipe: str
    ref: str | None
    run_id: str = ""
    run_dir: str = ""
    commit: str = ""
    version: str | None = None
    version_deployed: str | None = None
    domain: str = ""
    stack: str = ""
    started: str = ""
    finished: str = ""
    duration: float = 0.0
    fresh_deploys: int = 0
    tiers: dict[str, TierResult] = field(default_factory=dict)
    teardown: TierResult | None = None
    error: str = ""
    exit_code: int = 0
    # Set when the janitor tore the run down after its process died: at, by, reason.
    reaped: dict[str, str] | None = None
    # Planning's warnings (ccci.findings: code, message, file, key, fix), shown and kept.
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # How the app was reached (ccci.ingress): mode (traefik or direct), base_url, names.
    ingress: dict[str, Any] = field(default_factory=dict)
    # The run's apps (ccci.apps): "fresh", and "upgraded" when the run upgraded one.
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Whether the two apps were deployed together (ccci.host_room), None with one app.
    side_by_side: bool | None = None
    # A quick run (levels.QUICK_TIERS only): its level is partial, and its text says so.
    quick: bool = False
    # The CI build that ran it (ccci.drone_env: system, build, link, pr, repo, machine).
    ci: dict[str, Any] = field(default_factory=dict)
    # The trust gate's decision on the recipe repository's .ccci/ code (ccci.trust).
    repo_code: dict[str, Any] = field(default_factory=dict)

    @property
    def level(self) -> int:
        return level({name: (t.status, t.reason) for name, t in self.tiers.items()})

    @property
    def not_applicable(self) -> list[str]:
        """Tiers climbed past because they do not apply (skipped with a reason)."""
        return [name for name, t in self.tiers.items()
                if t.status == "skipped" and t.reason.strip()]

    @property
    def level_text(self) -> str:
        """The level as people read it: "L3, upgrade n/a"; a quick run's says it is
        partial: "L1 (quick run: partial, install and functional only)"."""
        text = ", ".join([f"L{self.level}", *(f"{t} n/a" for t in self.not_applicable)])
        return f"{text} ({QUICK_NOTE})" if self.quick else text

    @property
    def failed_tiers(self) -> list[TierResult]:
        """Failed tiers, and the teardown when it failed."""
        found = [t for t in self.tiers.values() if t.failed]
        return found + ([self.teardown] if self.teardown and self.teardown.failed else [])

    @property
    def failure_kind(self) -> str | None:
        """The run's kind of failure: ``infrastructure`` only when every failure is."""
        return run_kind(t.failure_kind for t in self.failed_tiers)

    def app_of(self, tier: TierResult) -> str | None:
        """Which app a tier (or the teardown) ran on, when the run had two."""
        if len(self.apps) < 2:
            return None
        return tier.details.get("app") or ("both" if "apps" in tier.details else None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failure_kind"] = self.failure_kind
        for tier in [*data["tiers"].values(), data["teardown"] or {}]:
            for key in ("failure_kind", "hint"):  # only failed tiers carry them
                if key in tier and not tier[key]:
                    del tier[key]
        data["level"] = self.level
        data["level_text"] = self.level_text
        data["not_applicable"] = self.not_applicable
        return data


def write_results(result: RunResult, record: RunDir) -> Path:
    """Write the run's ``results.json``; returns its path."""
    return record.save_results(result.to_dict())


def write_junit(result: RunResult, record: RunDir) -> Path:
    """One test case per tier (and teardown), for CI systems that read JUnit.

    A run-level error (a refused run) is a test case of its own, ``plan``, so its text
    reaches CI even when every tier is there as not run; the suite's counts are taken
    from the cases written, so they always agree with them. With two apps, a case's
    class names its app (``recipe.fresh``, ``recipe.upgraded``) and its properties give
    the app's domain and the version it was first deployed at.
    """
    cases = dict(result.tiers)
    if result.teardown:
        cases["teardown"] = result.teardown
    suite = ET.Element("testsuite", name=f"ccci.{result.recipe}")
    _suite_properties(suite, result)
    if result.error:
        case = ET.SubElement(suite, "testcase", classname=result.recipe, name="plan")
        ET.SubElement(case, "error", message=result.error.splitlines()[0]).text = result.error
    for name, tier in cases.items():
        app = result.app_of(tier)
        case = ET.SubElement(
            suite, "testcase", classname=f"{result.recipe}.{app}" if app else result.recipe,
            name=name, time=f"{tier.duration:.3f}",
        )
        if app in result.apps:
            _app_properties(case, app, result.apps[app])
        first_line = (tier.reason.splitlines() or [""])[0]
        if tier.failed:
            tag = "failure" if tier.status == "failed" else "error"
            node = ET.SubElement(case, tag, message=first_line,
                                 type=tier.failure_kind or "unclassified")
            node.text = tier.reason + (f"\nhow to fix: {tier.hint}" if tier.hint else "")
        elif tier.status in ("skipped", "not_run"):
            ET.SubElement(case, "skipped", message=first_line or tier.status)
        if name == "functional":
            _test_cases(suite, result.recipe, tier.details.get("tests") or [])
    written = suite.findall("testcase")
    suite.attrib.update(
        tests=str(len(written)),
        failures=str(sum(1 for c in written if c.find("failure") is not None)),
        errors=str(sum(1 for c in written if c.find("error") is not None)),
        skipped=str(sum(1 for c in written if c.find("skipped") is not None)),
        time=f"{result.duration:.3f}",
    )
    path = record.junit_path()
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _suite_properties(suite: ET.Element, result: RunResult) -> None:
    """A quick run says so (its level is partial), and a CI build is named: the suite's
    properties, before its cases. A full run outside CI has none."""
    found = [("ccci.quick", "true"), ("ccci.level", result.level_text)] if result.quick else []
    found += [(f"ci.{key}", str(value)) for key, value in result.ci.items()
              if value is not None]
    if found:
        properties = ET.SubElement(suite, "properties")
        for name, value in found:
            ET.SubElement(properties, "property", name=name, value=value)


def _test_cases(suite: ET.Element, recipe: str, tests: list[dict[str, Any]]) -> None:
    """The functional tier's tests, one case each, with the services' last log lines of
    a failed one."""
    for test in tests:
        case = ET.SubElement(suite, "testcase", classname=f"{recipe}.functional",
                             name=test["nodeid"], time=f"{test.get('duration') or 0:.3f}")
        message = test.get("message") or ""
        first_line = (message.splitlines() or [""])[0]
        if test["outcome"] in ("failed", "error", "timeout"):
            tag = "failure" if test["outcome"] == "failed" else "error"
            logs = "".join(f"\n--- last log lines of {service} ---\n{lines}"
                           for service, lines in (test.get("logs") or {}).items())
            ET.SubElement(case, tag, message=first_line, type=test["outcome"]).text = (
                message + logs)
        elif test["outcome"] == "skipped":
            ET.SubElement(case, "skipped", message=first_line)


def _app_properties(case: ET.Element, role: str, app: dict[str, Any]) -> None:
    properties = ET.SubElement(case, "properties")
    for name, value in (("app", role), ("app.domain", app.get("domain")),
                        ("app.first_version", app.get("first_version")),
                        ("app.version_deployed", app.get("version_deployed"))):
        ET.SubElement(properties, "property", name=name, value=str(value or ""))
