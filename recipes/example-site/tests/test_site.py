"""Functional tests of the static-site example: its page, its headers, its volume."""

from __future__ import annotations


def test_the_front_page_is_the_seeded_index(http):
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>example-site</h1>" in page.text


def test_every_response_names_the_deployed_version(http, run_context):
    for path in ("/", "/health", "/missing-page"):
        response = http.get(path)
        assert response.headers.get("X-Example-Site-Version") == run_context.version, path


def test_a_page_put_in_the_content_volume_is_served(http, service):
    app = service("app")
    app.run_test("printf 'hello from the volume\\n' > /var/www/html/functional.txt")
    assert http.get("/functional.txt").text == "hello from the volume\n"
    assert app.file("/var/www/html/functional.txt").exists


def test_the_browser_sees_the_title_and_heading(page):
    page.goto("/")
    assert page.title() == "example-site"
    assert page.locator("h1").inner_text() == "example-site"
