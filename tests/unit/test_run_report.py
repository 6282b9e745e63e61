"""report.html, summary.md and badge.svg of a run directory (ccci.report.run_report).

Run directories are built in tmp_path: copies of real ones (tests/fixtures/runs) with
their JSON tweaked, and from scratch for the ends a run can come to (refused,
interrupted, reaped, records missing or broken).
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from ccci.report.run_report import (
    CUT_NOTE,
    SUMMARY_LIMIT,
    build_view,
    fit_summary,
    write_run_report,
)
from ccci.rundir import MarkerCheck, RunDir

# Records of two real runs (2026-11-28), without recipe checkouts, CA files and ansible data.
RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
PASSING = RUNS / "20261128-123732-example-notes-a46d90be"  # L5, two apps, screenshots
FAILING = RUNS / "20261128-123154-example-site-67772a90"  # the functional tier failed
MALICIOUS = "<script>alert(1)</script>"


# -- helpers ----------------------------------------------------------------------------


def _skip_heavy(folder: str, names: list[str]) -> list[str]:
    """What a copy leaves out: the recipe checkouts, and ansible-runner's data (its
    folder is kept, empty, so the report still links it)."""
    if Path(folder).name == "ansible":
        return names
    return [n for n in names if n in ("recipe", "versions") or n.endswith((".tar.gz", ".pem"))]


def copy_run(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / source.name, ignore=_skip_heavy))


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG, grey."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\0" + b"\x80" * 3 * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Page(HTMLParser):
    """The page's tags with their attributes, its text, and each table's rows (cell
    texts) by the table's class."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_style = False
        self.css = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        self._in_style = tag == "style"
        if tag == "table":
            self._table = found.get("class") or ""
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self.tables[self._table].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css += data
            return
        self.texts.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]

    def rows(self, table: str) -> dict[str, list[str]]:
        """The rows of a table by their first cell (its header row left out)."""
        return {row[0]: row for row in self.tables.get(table, [])[1:] if row}


def report(run_dir: Path, **kwargs: Any) -> tuple[Page, str, str]:
    paths = write_run_report(run_dir, **kwargs)
    assert set(paths) == {"report", "summary", "badge"}
    assert all(p.is_file() and p.parent == run_dir for p in paths.values())
    html = paths["report"].read_text()
    return Page(html), html, paths["summary"].read_text()


def assert_self_contained(page: Page, run_dir: Path) -> None:
    """No request leaves the page: no script, no stylesheet link, nothing the CSS loads,
    no remote source, and every relative link points at a file of the run directory."""
    assert not page.attrs("script") and not page.attrs("link")
    assert "url(" not in page.css and "@import" not in page.css and "@font-face" not in page.css
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is None:
                continue
            assert not value.lower().startswith(("http:", "https:", "//")), (tag, value)
            if not value.startswith("data:"):
                assert (run_dir / unquote(value)).exists(), value


def scratch_run(tmp_path: Path, **results: Any) -> Path:
    """A run directory holding only results.json, with the fields given."""
    run_dir = tmp_path / "20261201-100000-example-site-0123abcd"
    body = {"recipe": "example-site", "ref": "main", "run_id": "0123abcd",
            "commit": "94cdc07c397e3316b92214342e79e24edc3959a7", "version": "1.2.0+1.22",
            "domain": "example-site-0123abcd.ccci.test", "started": "2026-12-01T10:00:00+00:00",
            "finished": "2026-12-01T10:01:00+00:00", "duration": 60.0, "tiers": {},
            "teardown": None, "error": "", "exit_code": 0, "reaped": None, "warnings": [],
            "apps": {}, "level": 0, "level_text": "L0", "not_applicable": [],
            "failure_kind": None, **results}
    RunDir(run_dir).save_results(body)
    return run_dir


def tier(status: str, reason: str = "", **more: Any) -> dict[str, Any]:
    """A tier of results.json; one that ran names its app, as the orchestrator does."""
    details = more.pop("details", {})
    if status != "not_run":
        details.setdefault("app", "fresh")
    return {"status": status, "reason": reason, "duration": 1.5, "details": details, **more}


# -- real runs --------------------------------------------------------------------------


def test_a_passing_run_shows_its_level_tiers_apps_and_screenshots(tmp_path):
    run_dir = copy_run(PASSING, tmp_path)
    page, html, summary = report(run_dir)

    assert "Level L5" in page.text
    tiers = page.rows("tiers")
    for name in ("install", "upgrade", "backup", "restore", "functional", "lint", "teardown"):
        assert "passed" in tiers[name], name
    assert tiers["upgrade"][1] == "upgraded" and tiers["install"][1] == "fresh"
    assert "example-notes-a46d90be.ccci.test" in page.text
    assert "example-notes-ec0d0d88.ccci.test" in page.text  # the upgraded app's domain
    assert "30e51bd6" in page.text and "1.2.0+0.3.0" in page.text
    assert "1.1.0+0.2.0 → 1.2.0+0.3.0" in page.text  # the upgrade hop
    assert "9a2b4941" in page.text  # the backup's snapshot
    assert page.text.count("found") >= 2  # both markers checked and found

    links = {a.get("href") for a in page.attrs("a")}
    images = [img for img in page.attrs("img")]
    assert images and all((i.get("src") or "").startswith("data:image/png;base64,")
                          for i in images)
    assert "screenshots/generic-test_screenshot-front-page.png" in links
    assert "upgraded/screenshots/generic-test_screenshot-front-page.png" in links
    assert {"results.json", "junit.xml", "functional/pytest.log", "proxy-access.log",
            "ansible/"} <= links
    # the app's own address is shown, as text only
    assert "https://example-notes-a46d90be.ccci.test:53679/" in page.text
    assert_self_contained(page, run_dir)

    assert summary.startswith("### ccci: example-notes @ `30e51bd6`: **L5**\n")
    assert "| functional | both | ✅ passed |" in summary
    assert "**Failing functional tests:** 0 of 16" in summary
    assert "2 finding(s)" in summary
    assert (run_dir / "badge.svg").read_text().startswith("<svg")
    assert ">L5</text>" in (run_dir / "badge.svg").read_text()
    assert "<svg" in html.split("<h1>", 1)[1].split("</h1>", 1)[0]  # inlined in the page


def test_a_failing_run_shows_the_failure_its_kind_and_the_services_logs(tmp_path):
    run_dir = copy_run(FAILING, tmp_path)
    page, html, summary = report(run_dir)

    tiers = page.rows("tiers")
    assert "failed kind: recipe" in tiers["functional"]
    assert "passed" in tiers["lint"]
    assert "Level L3 — functional failed" in page.text
    assert "test_a_page_put_in_the_content_volume_is_served" in page.text
    summaries = [s for s in html.split("<summary>")[1:]]
    assert any(s.startswith("last log lines of app") for s in summaries)
    assert "GET /missing-page HTTP/1.1" in page.text  # the log lines, in <details>
    assert_self_contained(page, run_dir)

    assert "**L3** (functional failed)" in summary.splitlines()[0]
    assert "**First failure:** `functional` failed, kind: recipe" in summary
    assert "NotImplementedError: service('app')" in summary
    assert "**Failing functional tests:** 1 of 16" in summary
    assert "- `recipes/example-site/tests/test_site.py::test_a_page_put_in" in summary


def test_a_test_message_and_log_lines_are_text_never_markup(tmp_path):
    run_dir = copy_run(FAILING, tmp_path)

    def poison(data: dict[str, Any]) -> None:
        failed = next(t for t in data["tests"] if t["outcome"] == "failed")
        failed["message"] = MALICIOUS
        failed["logs"] = {"app": f"line one\n{MALICIOUS}\n<img src=x onerror=alert(2)>"}
    edit_json(run_dir / "functional.json", poison)
    edit_json(run_dir / "results.json",
              lambda r: r["tiers"]["functional"].update(reason=f"boom {MALICIOUS}"))
    page, html, summary = report(run_dir)

    assert MALICIOUS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert MALICIOUS in page.text  # shown, as text
    assert not page.attrs("script")
    assert all(img.get("src", "").startswith("data:") for img in page.attrs("img"))
    # on the card, inside code (a fenced block and a code span): read literally
    assert f"```text\nboom {MALICIOUS}\n```" in summary
    assert f"`{MALICIOUS}`" in summary


def test_a_failed_backup_attempt_and_a_lost_marker_say_why(tmp_path):
    run_dir = copy_run(PASSING, tmp_path)

    def retried(data: dict[str, Any]) -> None:
        good = data["backups"][0]["attempts"][0]
        bad = {**good, "attempt": 1, "ok": False, "snapshot_id": "deadbeefcafe0000",
               "reason": "BACKUP_VERIFY: the dump is empty", "settled": True,
               "warnings": ["volume uploads is empty"]}
        data["backups"][0]["attempts"] = [bad, {**good, "attempt": 2}]
    edit_json(run_dir / "upgraded" / "backups.json", retried)
    edit_json(run_dir / "upgraded" / "markers.json",
              lambda m: m["checks"][1].update(found=False, seen="exit 1"))
    page, _html, _summary = report(run_dir)

    attempts = page.tables["backups"]
    assert any("failed" in row and "deadbeef" in row for row in attempts)
    assert "Why it failed: BACKUP_VERIFY: the dump is empty" in page.text
    assert "warning: volume uploads is empty" in page.text
    assert "the stack settled before the retry" in page.text
    assert "LOST" in page.text and "exit 1" in page.text


def test_the_summary_links_the_report_where_the_ci_put_it(tmp_path):
    run_dir = copy_run(PASSING, tmp_path)
    link = "https://ci.example.org/artifacts/42/report.html"
    page, _html, summary = report(run_dir, report_link=link)
    assert summary.rstrip().endswith(f"Full report: [report.html]({link})")
    assert link not in page.text
    local = report(run_dir)[2]
    assert local.rstrip().endswith(f"Full report: `{run_dir / 'report.html'}`")


# -- runs that ended early, and records missing or broken -------------------------------


def test_a_refused_run_says_why_with_no_record_but_results(tmp_path):
    run_dir = scratch_run(
        tmp_path, error="recipe example-site has no tag 1.9.0", exit_code=2,
        tiers={"install": tier("not_run", "run refused before deploy"),
               "upgrade": tier("not_run", "run refused before deploy")})
    page, html, summary = report(run_dir)

    assert "refused before deploy: recipe example-site has no tag 1.9.0" in page.text
    assert "not run" in page.rows("tiers")["install"]
    assert "nothing was deployed, nothing to tear down" in page.text
    for section in ("deploys", "markers", "backups", "functional", "screenshots"):
        assert f'id="{section}"' not in html  # nothing was deployed: no such section
    assert "refused" in (run_dir / "badge.svg").read_text()
    assert {a.get("href") for a in page.attrs("a")} == {"results.json"}
    assert "**refused** before deploy" in summary.splitlines()[0]
    assert "recipe example-site has no tag 1.9.0" in summary
    assert_self_contained(page, run_dir)


def test_a_run_refused_by_a_full_host_shows_an_infrastructure_failure(tmp_path):
    run_dir = scratch_run(
        tmp_path, error="the host stayed full for 600 s", exit_code=3,
        failure_kind="infrastructure",
        tiers={"install": tier("error", "the host stayed full for 600 s",
                               failure_kind="infrastructure", hint="retry later"),
               "lint": tier("not_run", "run refused before deploy")})
    page, _html, summary = report(run_dir)
    assert "error kind: infrastructure" in page.rows("tiers")["install"]
    assert "(worth a retry)" in page.text
    assert "**First failure:** `install` error, kind: infrastructure" in summary
    assert "How to fix: retry later" in summary


def test_an_interrupted_run_says_so_and_what_it_reached(tmp_path):
    run_dir = scratch_run(
        tmp_path, exit_code=130, level=1, level_text="L1",
        tiers={"install": tier("passed"),
               "upgrade": tier("failed", "interrupted", failure_kind="infrastructure"),
               "backup": tier("not_run", "interrupted")},
        teardown=tier("passed"))
    page, _html, summary = report(run_dir)
    assert "interrupted" in page.text
    assert "interrupted" in (run_dir / "badge.svg").read_text()
    assert "**interrupted** (L1 reached before it stopped)" in summary.splitlines()[0]
    assert "| upgrade | fresh | ❌ failed |" in summary


def test_a_reaped_run_names_the_janitor_and_its_reason(tmp_path):
    reason = "kept past its deadline 2026-11-28T05:45:38+00:00; process 9199 is gone"
    run_dir = scratch_run(
        tmp_path, exit_code=0, level=1, level_text="L1", tiers={"install": tier("passed")},
        reaped={"at": "2026-11-28T06:11:20+00:00", "by": "janitor", "reason": reason})
    page, _html, summary = report(run_dir)
    assert f"reaped by the janitor: {reason}" in page.text
    assert "No deploy was recorded (no deploy.json)" in page.text  # a record lost
    assert "torn down by the janitor" in page.text
    assert "reaped" in (run_dir / "badge.svg").read_text()
    assert "**reaped**" in summary.splitlines()[0]


def test_missing_results_and_broken_records_are_named_not_fatal(tmp_path):
    run_dir = tmp_path / "20261201-100000-example-notes-0123abcd"
    record = RunDir(run_dir)
    record.record_marker_check(MarkerCheck("upgrade", "upgrade to 1.2.0", True, "exit 0"))
    (run_dir / "backups.json").write_text('{"backups": [')  # cut short by a kill
    (run_dir / "functional.json").write_text(json.dumps({"schema_version": 99}))
    (run_dir / "screenshots").mkdir()
    (run_dir / "screenshots" / "front.png").write_bytes(png())
    page, _html, summary = report(run_dir)

    assert "results.json is missing" in page.text
    assert "backups.json could not be read" in page.text
    assert "functional.json could not be read" in page.text
    assert "example-notes" in page.text  # the recipe, from the directory's name
    assert "upgrade to 1.2.0" in page.text  # what was recorded is still shown
    assert any((i.get("src") or "").startswith("data:image/png") for i in page.attrs("img"))
    assert "**no verdict**" in summary
    assert_self_contained(page, run_dir)


@pytest.mark.parametrize("garbage", [
    {"tiers": ["install"], "apps": ["fresh"], "warnings": {"x": 1}, "teardown": "gone"},
    {"duration": "long", "level": "5", "reaped": "yes", "commit": 42,
     "tiers": {"install": {"status": None, "duration": "1 s", "hint": 3, "details": []}}},
    {"tiers": {"functional": {"status": "failed", "details": {"tests": [
        {"outcome": None, "duration": "x", "logs": ["a"], "message": None}]}}}},
])
def test_results_of_odd_shapes_still_make_a_report(tmp_path, garbage):
    run_dir = scratch_run(tmp_path, **garbage)
    page, _html, summary = report(run_dir)
    assert "example-site" in page.text and summary.startswith("### ccci: example-site")


def test_a_screenshot_that_is_not_a_png_is_linked_not_inlined(tmp_path):
    run_dir = scratch_run(tmp_path, tiers={"install": tier("passed")})
    (run_dir / "screenshots").mkdir()
    (run_dir / "screenshots" / "odd.png").write_text("not a picture")
    page, _html, _summary = report(run_dir)
    assert not page.attrs("img")
    assert "screenshots/odd.png" in {a.get("href") for a in page.attrs("a")}


# -- the card's size --------------------------------------------------------------------


def test_the_summary_stays_under_its_limit_with_a_giant_reason(tmp_path):
    giant = "the deploy said: " + "x" * 2_000_000
    tests = [{"nodeid": f"tests/test_a.py::test_{n}", "outcome": "failed", "duration": 1,
              "message": "é" * 20_000, "logs": {"app": "log " * 5_000}, "generic": False}
             for n in range(25)]
    run_dir = scratch_run(
        tmp_path, ref="r" * 10_000, error=giant, exit_code=1,
        tiers={"install": tier("failed", giant, failure_kind="recipe", hint=giant),
               "functional": tier("failed", giant, details={"tests": tests})})
    _page, _html, summary = report(run_dir)

    assert len(summary.encode("utf-8")) <= SUMMARY_LIMIT
    assert CUT_NOTE in summary
    assert "**Failing functional tests:** 25 of 25" in summary
    assert "```text\nerror: the deploy said: xxx" in summary
    assert "- and 15 more" in summary
    assert summary.rstrip().endswith(f"Full report: `{run_dir / 'report.html'}`")


def test_a_summary_over_the_limit_is_cut_with_its_code_block_closed():
    text = "### heading\n\n```text\n" + "é" * SUMMARY_LIMIT + "\n```\n"
    cut = fit_summary(text, "Full report: `x`")
    assert len(cut.encode("utf-8")) <= SUMMARY_LIMIT
    assert cut.rstrip().endswith("Full report: `x`")
    assert f"_{CUT_NOTE}_" in cut
    fences = [line for line in cut.splitlines() if line.startswith("```")]
    assert len(fences) == 2  # the block opened is closed before the note
    assert fit_summary("short", "x") == "short"

    long_fence = "`" * 80  # what md_fence writes around a text holding 79 backticks
    text = f"{long_fence}text\n" + "`" * 79 + "\n" + "y" * SUMMARY_LIMIT + f"\n{long_fence}\n"
    cut = fit_summary(text, "Full report: `x`")
    assert len(cut.encode("utf-8")) <= SUMMARY_LIMIT
    assert f"\n{long_fence}\n\n_{CUT_NOTE}_" in cut


def test_the_view_keeps_tiers_in_ladder_order(tmp_path):
    run_dir = scratch_run(tmp_path, tiers={name: tier("passed") for name in
                                           ("lint", "backup", "install", "restore")})
    names = [row["name"] for row in build_view(run_dir)["tiers"]]
    assert names == ["install", "backup", "restore", "lint", "teardown"]


# -- quick runs, and the CI build --------------------------------------------------------


QUICK_TEXT = "L1 (quick run: partial, install and functional only)"
DRONE = {"system": "drone", "build": 42, "link": "https://drone.example.org/coop-cloud/ccci/42",
         "pr": 7, "repo": "coop-cloud/example-site", "machine": "ci-1"}


def test_a_quick_run_says_its_level_is_partial_everywhere(tmp_path):
    run_dir = scratch_run(
        tmp_path, quick=True, level=1, level_text=QUICK_TEXT, ci=DRONE,
        tiers={"install": tier("passed"), "functional": tier("passed")},
        teardown=tier("passed"))
    page, _html, summary = report(run_dir)

    assert f"Level {QUICK_TEXT}" in page.text
    assert ("Quick run: install and functional only; upgrade, backup, restore, lint not "
            "run, so the level is partial") in page.text
    assert ">L1 quick</text>" in (run_dir / "badge.svg").read_text()
    heading, _blank, note = summary.splitlines()[:3]
    assert heading == ("### ccci: example-site `main` @ `94cdc07c`: **L1 (quick run: "
                       "partial, install and functional only)**")
    assert note.startswith("Quick run: install and functional only;")
    # the Drone build in the header, its address as text: no request leaves the page
    assert "CI Drone build #42 pull request #7 of coop-cloud/example-site" in page.text
    assert "https://drone.example.org/coop-cloud/ccci/42 on ci-1" in page.text
    assert_self_contained(page, run_dir)


def test_a_quick_run_without_its_level_text_is_still_marked_partial(tmp_path):
    run_dir = scratch_run(tmp_path, quick=True, level=0, level_text="",
                          tiers={"install": tier("failed", "boom")})
    page, _html, summary = report(run_dir)
    assert "Level L0 (quick run: partial)" in page.text
    assert "**L0 (quick run: partial)** (install failed)" in summary.splitlines()[0]
    assert ">L0 quick</text>" in (run_dir / "badge.svg").read_text()


def test_a_full_run_outside_ci_says_neither(tmp_path):
    run_dir = scratch_run(tmp_path, quick=False, ci={}, level=1, level_text="L1",
                          tiers={"install": tier("passed")})
    page, html, summary = report(run_dir)
    assert "quick" not in page.text.lower() and "<dt>CI</dt>" not in html
    assert "quick" not in summary.lower()
    assert ">L1</text>" in (run_dir / "badge.svg").read_text()
