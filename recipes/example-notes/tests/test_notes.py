"""Functional tests of the notes example: notes round-trip through the API, the
database and the browser form."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

PSQL = "runuser -u postgres -- psql -tA -c '{}' notes"


def test_a_note_created_over_http_is_read_back(http):
    text = f"functional note {uuid.uuid4()}"
    created = http.post("/notes", json={"body": text})
    assert created.status_code == 201
    note = created.json()
    listed = http.get("/notes").json()
    assert {"id": note["id"], "body": text} in [
        {"id": n["id"], "body": n["body"]} for n in listed]


def test_the_note_is_a_row_in_postgresql(http, service):
    text = f"row check {uuid.uuid4()}"
    note = http.post("/notes", data=text.encode()).json()
    row = service("db").check_output(PSQL.format(f"select body from notes where id = {note['id']}"))
    assert row.strip() == text


def test_an_empty_note_is_refused(http):
    assert http.post("/notes", data=b"").status_code == 400


def test_the_browser_form_adds_a_note_and_shows_it(page):
    text = f"typed in the browser {uuid.uuid4()}"
    page.goto("/")
    page.get_by_label("New note").fill(text)
    with page.expect_navigation():  # the POST, its 303 and the list it leads back to
        page.get_by_role("button", name="Add").click()
    expect(page.locator("#notes li").last).to_have_text(text)
