"""The dashboard over all runs (ccci report, ccci serve), from synthetic runs folders."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import threading
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from ccci import cli
from ccci.report import dashboard, serve
from ccci.report.badge import level_colour
from ccci.report.dashboard import build_dashboard, file_stem, update_dashboard

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>&/../evil'
HOSTILE_REASON = "<img src=x onerror=alert(1)> broke"


def make_run(root: Path, recipe: str, hours: float, level: int | None = 3, *,
             report: bool = True, folder_time: datetime | None = None, **extra) -> Path:
    """A run folder of ``recipe`` started ``hours`` after T0, with results.json."""
    started = T0 + timedelta(hours=hours)
    run_id = f"{abs(hash((recipe, hours))) % 16**8:08x}"
    stamp = (folder_time or started).strftime("%Y%m%d-%H%M%S")
    path = root / f"{stamp}-{file_stem(recipe)}-{run_id}"
    path.mkdir(parents=True)
    results = {
        "recipe": recipe, "ref": None, "commit": "0123456789abcdef0123", "version": "1.0.0+1",
        "run_id": run_id, "started": started.isoformat(),
        "finished": (started + timedelta(minutes=2)).isoformat(), "duration": 60.0 + hours,
        "level": level, "level_text": f"L{level}",
        "tiers": {"install": {"status": "passed", "reason": ""}},
        "error": "", "exit_code": 0, "reaped": None, "failure_kind": None,
    }
    results.update(extra)
    (path / "results.json").write_text(json.dumps(results))
    if report:
        (path / "report.html").write_text("<!doctype html><title>run</title>")
    return path


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """alpha: L1, L3, L5 (latest); beta: L4, then a refused run; one broken results.json,
    one folder of a run in progress (no results.json) and one with JSON that is no run."""
    root = tmp_path / "runs"
    make_run(root, "alpha", 0, 1)
    make_run(root, "alpha", 1, 3, report=False)
    make_run(root, "alpha", 2, 5)
    make_run(root, "beta", 0.5, 4)
    make_run(root, "beta", 3, 0, error="the host stayed full", exit_code=2,
             tiers={"install": {"status": "not_run", "reason": ""}})
    (root / "20261128-050000-beta-broken").mkdir()
    (root / "20261128-050000-beta-broken" / "results.json").write_text("{not json")
    (root / "20261128-060000-alpha-running").mkdir()
    (root / "20261128-070000-gamma-list").mkdir()
    (root / "20261128-070000-gamma-list" / "results.json").write_text("[1, 2]")
    return root


class Page(HTMLParser):
    """Every tag with its attributes, the text, and the table body's rows."""

    def __init__(self, path: Path):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.rows: list[dict[str, list[str]]] = []
        self._in_body = False
        self.feed(path.read_text())

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attrs))
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append({"text": [], "hrefs": [], "labels": [], "times": []})
        if self._in_body and self.rows:
            row = self.rows[-1]
            row["hrefs"] += [attrs["href"]] if "href" in attrs else []
            row["labels"] += [attrs["aria-label"]] if "aria-label" in attrs else []
            row["times"] += [attrs["datetime"]] if tag == "time" else []

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_body and self.rows:
            self.rows[-1]["text"].append(data)

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def marks(self, kind: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == "g" and f"{kind}-mark" in a.get("class", "")]

    def bar_fills(self, kind: str) -> list[str]:
        """The colour of each bar of the ``kind`` chart: the rect after each mark."""
        fills, in_mark = [], False
        for tag, attrs in self.tags:
            if tag == "g":
                in_mark = f"{kind}-mark" in attrs.get("class", "")
            elif tag == "rect" and in_mark:
                fills.append(attrs["fill"])
                in_mark = False
        return fills


def _row_text(row: dict[str, list[str]]) -> str:
    return " ".join(" ".join(row["text"]).split())


def test_index_lists_each_recipe_once_with_its_latest_level(runs: Path):
    index = build_dashboard(runs)
    assert index == runs / "_dashboard" / "index.html"
    page = Page(index)
    assert [_row_text(r).split()[0] for r in page.rows] == ["alpha", "beta"]
    alpha, beta = page.rows
    assert "ccci: L5" in alpha["labels"]
    assert "3 runs" in _row_text(alpha)
    assert "ccci: refused" in beta["labels"]  # the latest run was refused: no level
    assert "recipes/alpha.html" in alpha["hrefs"]
    latest = sorted(p.name for p in runs.glob("*-alpha-*"))[-2]  # the L5 run, not "running"
    assert f"../{latest}/report.html" in alpha["hrefs"]
    assert "3 run folders were skipped" in page.all_text()
    assert 'aria-label="ccci: L5"' in (runs / "_dashboard" / "badges" / "alpha.svg").read_text()


def test_runs_are_ordered_by_their_start_not_their_folder(tmp_path: Path):
    root = tmp_path / "runs"
    make_run(root, "alpha", 5, 2, folder_time=T0)  # the latest run, in the oldest folder
    make_run(root, "alpha", 1, 4, folder_time=T0 + timedelta(hours=9))
    page = Page(build_dashboard(root))
    assert "ccci: L2" in page.rows[0]["labels"]


def test_recipe_page_lists_runs_newest_first_and_links_each_report(runs: Path):
    build_dashboard(runs)
    path = runs / "_dashboard" / "recipes" / "alpha.html"
    page = Page(path)
    times = [row["times"][0] for row in page.rows]
    assert times == sorted(times, reverse=True) and len(times) == 3
    assert [_row_text(r).split("L")[1][0] for r in page.rows] == ["5", "3", "1"]
    for row, folder in zip(page.rows, sorted(runs.glob("*-alpha-*"))[::-1][1:], strict=True):
        assert f"../../{folder.name}/results.json" in row["hrefs"]
        has_report = f"../../{folder.name}/report.html" in row["hrefs"]
        assert has_report == (folder / "report.html").exists()
    assert "no report" in _row_text(page.rows[1])


def test_chart_has_one_mark_per_run(runs: Path):
    build_dashboard(runs)
    page = Page(runs / "_dashboard" / "recipes" / "alpha.html")
    levels = page.marks("level")
    assert len(levels) == 3 and len(page.marks("duration")) == 3
    assert page.bar_fills("level") == [level_colour(n) for n in (1, 3, 5)]  # oldest first
    text = page.all_text()
    for label in ("L0", "L5", "runs, oldest → newest", "Level per run", "Duration per run"):
        assert label in text
    build_dashboard(runs, history=2)
    page = Page(runs / "_dashboard" / "recipes" / "alpha.html")
    assert len(page.marks("level")) == len(page.marks("duration")) == len(page.rows) == 2


def test_hostile_recipe_name_and_reason_are_escaped(tmp_path: Path):
    root = tmp_path / "runs"
    make_run(root, HOSTILE, 0, 0, failure_kind="recipe",
             tiers={"install": {"status": "failed", "reason": HOSTILE_REASON}})
    index = build_dashboard(root)
    pages = list((root / "_dashboard" / "recipes").iterdir())
    assert len(pages) == 1 and pages[0].parent.name == "recipes"
    assert [p.suffix for p in (root / "_dashboard" / "badges").iterdir()] == [".svg"]
    for path in (index, pages[0]):
        raw = path.read_text()
        assert "<script>" not in raw and "<img" not in raw
        page = Page(path)
        assert not [t for t, _ in page.tags if t in ("script", "img")]
        assert HOSTILE in page.all_text()
    assert HOSTILE_REASON in Page(pages[0]).all_text()


def _links(page: Page) -> list[str]:
    return [a[key] for _, a in page.tags for key in ("href", "src") if key in a]


def test_links_are_relative_and_pages_self_contained(runs: Path, tmp_path: Path):
    for out in (None, tmp_path / "elsewhere" / "site"):
        index = build_dashboard(runs, out)
        for path in index.parent.rglob("*.html"):
            page = Page(path)
            for link in _links(page):
                assert not link.startswith(("http:", "https:", "//", "/")), (path, link)
                assert (path.parent / link).resolve().exists(), (path, link)
            assert not [a for t, a in page.tags if t == "script"]
            assert not [a for t, a in page.tags
                        if t == "link" and "stylesheet" in a.get("rel", "")]
            assert 'name="viewport"' in path.read_text()


def test_pages_are_written_whole(runs: Path, monkeypatch):
    renamed = []
    real_replace = os.replace

    def replace(src, dst):
        assert Path(src).parent == Path(dst).parent and Path(src).name.endswith(".tmp")
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(dashboard.os, "replace", replace)
    build_dashboard(runs)
    assert renamed[-1] == "index.html"
    assert sorted(renamed) == sorted(["alpha.svg", "alpha.html", "beta.svg", "beta.html",
                                      "index.html"])
    assert not list((runs / "_dashboard").rglob("*.tmp"))


def test_update_builds_and_tolerates_garbage(runs: Path):
    garbage = {"recipe": "odd", "tiers": [1], "level": "high", "level_text": 7,
               "duration": "long", "started": 5, "failure_kind": ["x"], "reaped": "yes"}
    (runs / "20261128-080000-odd-1").mkdir()
    (runs / "20261128-080000-odd-1" / "results.json").write_text(json.dumps(garbage))
    (runs / "20261128-080000-odd-2").mkdir()
    (runs / "20261128-080000-odd-2" / "results.json").write_bytes(b"\xff\xfe\x00garbage")
    (runs / "20261128-090000-odd-3").mkdir()
    (runs / "20261128-090000-odd-3" / "results.json").write_text(
        '{"recipe": "odd", "level": 9, "duration": Infinity, "started": "yesterday"}')
    assert update_dashboard(runs) is None
    rows = Page(runs / "_dashboard" / "index.html").rows
    assert [_row_text(r).split()[0] for r in rows] == ["alpha", "beta", "odd"]


def test_update_returns_a_message_when_the_build_fails(runs: Path, monkeypatch):
    def boom(_root):
        raise RuntimeError("disk\non fire")

    monkeypatch.setattr(dashboard, "build_dashboard", boom)
    assert update_dashboard(runs) == "dashboard not updated: disk on fire"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a read-only folder")
def test_update_returns_a_message_when_the_runs_folder_is_read_only(runs: Path):
    runs.chmod(0o555)
    try:
        message = update_dashboard(runs)
    finally:
        runs.chmod(0o755)
    assert message and message.startswith("dashboard not updated:")


def test_update_returns_a_message_when_it_cannot_write(runs: Path, tmp_path: Path):
    (runs / "_dashboard").write_text("a file where the dashboard goes")
    message = update_dashboard(runs)
    assert message and message.startswith("dashboard not updated:") and "\n" not in message
    missing = update_dashboard(tmp_path / "no-such-runs")
    assert missing and missing.startswith("dashboard not updated:")
    (runs / "_dashboard").unlink()
    (runs / "_dashboard.lock").unlink()
    (runs / "_dashboard.lock").mkdir()  # the lock cannot be opened
    assert update_dashboard(runs).startswith("dashboard not updated:")


def test_update_skips_when_another_process_holds_the_lock(runs: Path):
    with open(runs / "_dashboard.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        message = update_dashboard(runs)
    assert message and "another process" in message
    assert not (runs / "_dashboard").exists()
    assert update_dashboard(runs) is None  # released: the next run builds it


def test_serve_answers_on_loopback_only(runs: Path):
    build_dashboard(runs)
    server = serve.make_server(runs, 0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()
    urls: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(target=serve.serve, args=(runs, 0, urls.put),
                              kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        url = urls.get(timeout=5)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/_dashboard/index.html")
        answer = requests.get(url, timeout=5)
        assert answer.status_code == 200 and "alpha" in answer.text
        badge = requests.get(url.replace("index.html", "badges/alpha.svg"), timeout=5)
        assert badge.headers["Content-Type"] == "image/svg+xml"
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_cli_report(runs: Path, tmp_path: Path, capsys, monkeypatch):
    assert cli.main(["report", str(runs)]) == 0
    assert capsys.readouterr().out.strip() == str(runs / "_dashboard" / "index.html")
    assert cli.main(["report", str(runs), "--out", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "recipes" / "beta.html").is_file()
    monkeypatch.setenv("CCCI_RUNS_DIR", str(runs))
    capsys.readouterr()
    assert cli.main(["report"]) == 0
    assert capsys.readouterr().out.strip().endswith("_dashboard/index.html")
    assert cli.main(["report", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_cli_serve(runs: Path, tmp_path: Path, capsys, monkeypatch):
    calls = []

    def fake_serve(root, port, ready):
        calls.append((root, port))
        ready(f"http://127.0.0.1:{port}/_dashboard/index.html")

    monkeypatch.setattr(serve, "serve", fake_serve)
    assert cli.main(["serve", str(runs), "--port", "0"]) == 0
    assert calls == [(runs, 0)]
    assert capsys.readouterr().out.strip() == "http://127.0.0.1:0/_dashboard/index.html"
    assert (runs / "_dashboard" / "index.html").is_file()
    assert cli.main(["serve", str(runs)]) == 0 and calls[-1][1] == 8808
    assert cli.main(["serve", str(tmp_path / "nowhere")]) == 2
