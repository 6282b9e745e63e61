"""Reports people look at, opened in a real browser: the report.html of a passing, a
failing and a refused run, and the dashboard over them.

Debian's chromium (Playwright) opens each page from disk at 1280 and 390 px wide; the
tests assert what is visible, that no request leaves the page (everything is inline
or a data: URI), and save a screenshot of each page and width into the test
artifacts (``CCCI_TEST_ARTIFACTS``, else build/test-artifacts/reports).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccci.functional.browser import CHROMIUM_FLAGS, find_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CCCI_TEST_ARTIFACTS") or ROOT / "build" / "test-artifacts")
WIDTHS = ((1280, 900), (390, 844))

FAILING_TEST = '''
def test_the_page_says_goodbye(http):
    page = http.get("/")
    assert "goodbye" in page.text, "<script>alert('the page says hello')</script>"
'''


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        opened = playwright.chromium.launch(executable_path=str(find_chromium()),
                                            args=list(CHROMIUM_FLAGS))
        yield opened
        opened.close()


def look(browser, page_file: Path, name: str) -> tuple[str, object]:
    """The page's visible text at 1280 px (its screenshots saved at both widths), and a
    page left open at 1280 px for further checks; fails if a request left the page."""
    folder = ARTIFACTS / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    pages = []
    for width, height in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        pages.append(page)
    outside = [url for url in requested
               if not url.startswith("data:") and url != page_file.as_uri()]
    assert outside == [], f"{name}: requests left the page: {outside}"
    for page in pages[1:]:
        page.context.close()
    return pages[0].inner_text("body"), pages[0]


def ccci(runs: Path, recipes_dir: Path, *args: str, env: dict[str, str] | None = None
         ) -> tuple[int, str, dict]:
    environ = {**os.environ, "CI": "true", "CCCI_RECIPES_DIR": str(recipes_dir),
               "CCCI_RUNS_DIR": str(runs), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "ccci.cli", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("results: ")]
    return proc.returncode, output, json.loads(Path(line.removeprefix("results: ")).read_text())


def test_a_passing_run_reports_its_level_tiers_and_screenshots_and_the_dashboard_both_examples(
        browser, recipes_dir, tmp_path, docker_client):
    runs = tmp_path / "runs"
    rc, output, results = ccci(runs, recipes_dir, "run", "example-site")
    assert rc == 0, output[-3000:]
    report = Path(results["run_dir"]) / "report.html"
    assert f"report: {report}" in output
    assert f"dashboard: {runs / '_dashboard' / 'index.html'}" in output

    text, page = look(browser, report, "passing-run")
    assert "example-site" in text and "L5" in text
    for tier in ("install", "upgrade", "backup", "restore", "functional", "lint"):
        row = page.locator("tr", has_text=tier).first
        assert "passed" in row.inner_text(), (tier, row.inner_text())
    assert page.locator("img[src^='data:image/png']").count() >= 1
    snapshot = results["tiers"]["backup"]["details"]["backup"]["snapshot_id"]
    assert snapshot[:8] in text
    page.context.close()

    summary = (Path(results["run_dir"]) / "summary.md").read_text()
    assert "L5" in summary and len(summary.encode()) < 60_000

    rc, output, _ = ccci(runs, recipes_dir, "run", "example-notes", "--tiers", "install")
    assert rc == 0, output[-3000:]
    text, page = look(browser, runs / "_dashboard" / "index.html", "dashboard")
    assert "example-site" in text and "example-notes" in text
    assert page.locator("svg").count() >= 2  # the latest level badges
    page.context.close()
    recipe_page = next((runs / "_dashboard" / "recipes").glob("example-site*.html"))
    text, page = look(browser, recipe_page, "dashboard-example-site")
    assert "L5" in text
    assert page.locator("a[href$='report.html']").count() >= 1
    page.context.close()


def test_a_failing_and_a_refused_run_say_why(browser, recipes_dir, tmp_path, docker_client):
    runs = tmp_path / "runs"
    config = tmp_path / "config"
    shutil.copytree(ROOT / "recipes" / "example-site", config / "example-site")
    (config / "example-site" / "tests" / "test_goodbye.py").write_text(FAILING_TEST)
    rc, output, failing = ccci(runs, recipes_dir, "run", "example-site", "--tiers",
                               "install,functional", env={"CCCI_CONFIG_DIR": str(config)})
    assert rc == 1, output[-3000:]
    text, page = look(browser, Path(failing["run_dir"]) / "report.html", "failing-run")
    assert "L1" in text and "test_the_page_says_goodbye" in text
    assert "<script>alert('the page says hello')</script>" in text  # shown, not run
    row = page.locator("tr", has_text="functional").first
    assert "failed" in row.inner_text()
    page.context.close()

    rc, output, refused = ccci(runs, recipes_dir, "run", "example-site", "--tiers", "install",
                               "--domain", "not a domain")
    assert rc == 2, output[-3000:]
    text, page = look(browser, Path(refused["run_dir"]) / "report.html", "refused-run")
    assert "refused" in text.lower() and refused["error"].splitlines()[0][:40] in text
    page.context.close()
