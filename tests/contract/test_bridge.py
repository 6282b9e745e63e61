"""The ``!testme`` bridge end to end: signed webhooks in (requests, as the forge sends
them), Drone builds and pull request comments out, against the stand-ins."""

from __future__ import annotations

import http.client
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from ccci.ci.drone import DroneClient
from tests.contract.conftest import (
    DRONE_REPO,
    HEAD,
    MAINTAINER,
    OTHER_REPO,
    PR,
    RECIPE,
    RECIPE_REPO,
    SECRET_VALUES,
    comment_payload,
    sign,
)


def _queued_params(drone) -> dict[str, str]:
    created = drone.created(DRONE_REPO)
    assert len(created) == 1, created
    return created[0]["params"]


def _nothing_sent(forge, drone, *, permission_asked: bool = False) -> None:
    """No build, no comment, no status: at most the read-only forge questions."""
    assert drone.calls("POST") == []
    assert forge.calls("POST") == [] and forge.calls("PATCH") == []
    if not permission_asked:
        assert forge.requests == [] and drone.requests == []


# -- a valid trigger ------------------------------------------------------------------


def test_valid_trigger_creates_the_build_and_says_so(forge, drone, send, config):
    reply = send(comment_payload("!testme"))

    assert reply.status_code == 201, reply.text
    assert reply.text.startswith("queued: build #1 ")
    [create] = drone.calls("POST")
    assert create.path == f"/api/repos/{DRONE_REPO}/builds" and create.body == b""
    assert create.authorized and create.query["branch"] == "main"
    assert "commit" not in create.query  # the ccci branch's head; the recipe ref is a param
    assert _queued_params(drone) == {
        "CCCI_RECIPE": RECIPE, "CCCI_REF": HEAD, "CCCI_PR": str(PR),
        "CCCI_REPO": RECIPE_REPO, "CCCI_QUICK": "false"}
    [comment] = forge.comments_on(RECIPE_REPO, PR)
    link = f"{drone.url}/{DRONE_REPO}/1"
    assert "queued" in comment["body"] and f"[Drone build #1]({link})" in comment["body"]
    assert HEAD[:12] in comment["body"] and "quick" not in comment["body"]
    [status] = forge.statuses_of(RECIPE_REPO, HEAD)
    assert status["state"] == "pending" and status["target_url"] == link
    assert status["context"] == "ccci"
    assert all(r.authorized for r in forge.requests + drone.requests)


def test_the_forge_is_asked_who_commented_and_what_the_head_is(forge, drone, send):
    send(comment_payload("!testme"))

    paths = [(r.method, r.path) for r in forge.requests]
    assert paths[:2] == [
        ("GET", f"/api/v1/repos/{RECIPE_REPO}/collaborators/{MAINTAINER}/permission"),
        ("GET", f"/api/v1/repos/{RECIPE_REPO}/pulls/{PR}")]
    assert drone.calls("GET")[0].query == {"page": "1", "per_page": "100"}


def test_quick_mode(forge, drone, send):
    reply = send(comment_payload("  !testme --quick\n"))

    assert reply.status_code == 201, reply.text
    assert _queued_params(drone)["CCCI_QUICK"] == "true"
    assert "quick run" in forge.comments_on(RECIPE_REPO, PR)[0]["body"]


def test_forgejo_headers_are_accepted(forge, drone, send):
    reply = send(comment_payload("!testme"), forgejo=True)

    assert reply.status_code == 201, reply.text
    assert len(drone.created(DRONE_REPO)) == 1


@pytest.mark.parametrize("permission", ["admin", "owner"])
def test_admins_and_owners_may_trigger(forge, drone, send, permission):
    forge.set_permission(RECIPE_REPO, MAINTAINER, permission)

    assert send(comment_payload("!testme")).status_code == 201


# -- refused and ignored deliveries ---------------------------------------------------


@pytest.mark.parametrize("signature", [None, "0" * 64, "not hex at all", "é"])
def test_bad_or_missing_signature_is_401_and_nothing_is_asked(forge, drone, send, signature):
    reply = send(comment_payload("!testme"), signature=signature)

    assert reply.status_code == 401
    assert "signature" in reply.text
    _nothing_sent(forge, drone)


def test_the_signature_is_checked_before_the_body_is_read(forge, drone, send):
    assert send(b"not json", signature="0" * 64).status_code == 401
    assert send(b"not json", signature=None).status_code == 401
    assert send(b"not json").status_code == 400  # signed: now it is read
    _nothing_sent(forge, drone)


def test_signature_with_another_secret_is_401(forge, drone, send):
    reply = send(comment_payload("!testme"), secret="guessed")

    assert reply.status_code == 401 and reply.text.strip() == "bad signature"
    _nothing_sent(forge, drone)


def test_the_signature_covers_the_raw_body(forge, drone, bridge):
    body = json.dumps(comment_payload("!testme")).encode()
    signature = sign(body)
    tampered = body.replace(b'"state": "open"', b'"state":  "open"')
    connection = http.client.HTTPConnection("127.0.0.1", bridge.server_address[1], timeout=10)
    connection.request("POST", "/hook", tampered, {
        "X-Gitea-Event": "issue_comment", "X-Gitea-Signature": signature,
        "Content-Type": "application/json"})
    assert connection.getresponse().status == 401
    _nothing_sent(forge, drone)


@pytest.mark.parametrize("body", ["!testme please", "/testme", "please !testme", "!TESTME",
                                  "!testme --quick --now", "!testme  --quick", "", "!test"])
def test_a_comment_that_is_not_exactly_the_trigger_is_ignored(forge, drone, send, body):
    reply = send(comment_payload(body))

    assert reply.status_code == 202
    assert reply.text.strip() == "ignored: the comment is not !testme or !testme --quick"
    _nothing_sent(forge, drone)


def test_an_issue_that_is_not_a_pull_request_is_ignored(forge, drone, send):
    reply = send(comment_payload("!testme", pull=False, number=3))

    assert reply.status_code == 202
    assert reply.text.strip() == "ignored: issue 3 is not a pull request"
    _nothing_sent(forge, drone)


def test_a_closed_pull_request_is_ignored(forge, drone, send):
    reply = send(comment_payload("!testme", state="closed"))

    assert reply.status_code == 202
    assert reply.text.strip() == f"ignored: pull request {PR} is closed"
    _nothing_sent(forge, drone)


def test_a_pull_request_closed_since_the_comment_is_ignored(forge, drone, send):
    forge.add_pull(RECIPE_REPO, PR, HEAD, state="closed")

    reply = send(comment_payload("!testme"))

    assert reply.status_code == 202 and "is closed" in reply.text
    _nothing_sent(forge, drone, permission_asked=True)


@pytest.mark.parametrize("permission", ["read", "none"])
def test_a_user_without_write_access_is_ignored(forge, drone, send, permission):
    forge.set_permission(RECIPE_REPO, "visitor", permission)

    reply = send(comment_payload("!testme", user="visitor"))

    assert reply.status_code == 202
    assert reply.text.strip() == (f"ignored: visitor has {permission} access to the "
                                  "repository, needs write")
    _nothing_sent(forge, drone, permission_asked=True)
    assert drone.requests == []


def test_a_user_the_forge_does_not_know_is_ignored(forge, drone, send):
    reply = send(comment_payload("!testme", user="ghost"))

    assert reply.status_code == 202 and "ghost has none access" in reply.text
    assert drone.requests == []


def test_a_repository_not_enrolled_is_ignored(forge, drone, send):
    forge.set_permission(OTHER_REPO, MAINTAINER, "admin")
    forge.add_pull(OTHER_REPO, PR, HEAD)

    reply = send(comment_payload("!testme", repo=OTHER_REPO))

    assert reply.status_code == 202
    assert reply.text.strip() == f"ignored: repository {OTHER_REPO} is not enrolled"
    _nothing_sent(forge, drone)


@pytest.mark.parametrize(("event", "action"), [("push", "created"),
                                               ("pull_request", "created"),
                                               ("issue_comment", "edited"),
                                               ("issue_comment", "deleted")])
def test_other_events_and_actions_are_ignored(forge, drone, send, event, action):
    reply = send(comment_payload("!testme", action=action), event=event)

    assert reply.status_code == 202 and reply.text.startswith("ignored: ")
    assert (event if event != "issue_comment" else action) in reply.text
    _nothing_sent(forge, drone)


def test_a_signed_body_that_is_not_a_payload_is_400(forge, drone, send):
    assert send(b"not json").status_code == 400
    assert send(b"[1, 2]").status_code == 400
    assert send(json.dumps({"action": "created"}).encode()).status_code == 400
    _nothing_sent(forge, drone)


def test_only_post_hook_is_served(bridge):
    port = bridge.server_address[1]
    for method, path, status in [("GET", "/hook", 405), ("GET", "/", 404),
                                 ("POST", "/other", 404), ("DELETE", "/hook", 405)]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(method, path, b"" if method == "POST" else None)
        response = connection.getresponse()
        assert response.status == status, (method, path)
        assert response.read().decode().strip()  # a one-line reason
        connection.close()


def test_a_body_without_length_or_too_long_is_refused(bridge):
    port = bridge.server_address[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/hook")
    connection.endheaders()
    assert connection.getresponse().status == 411
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/hook")
    connection.putheader("Content-Length", str(10 * 1024 * 1024))
    connection.endheaders()
    assert connection.getresponse().status == 413


# -- duplicates -----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "running"])
def test_a_duplicate_while_a_build_for_the_head_is_active_is_refused(forge, drone, send,
                                                                     status):
    drone.add_build(DRONE_REPO, status, {"CCCI_RECIPE": RECIPE, "CCCI_REF": HEAD,
                                         "CCCI_PR": str(PR), "CCCI_REPO": RECIPE_REPO,
                                         "CCCI_QUICK": "false"})

    reply = send(comment_payload("!testme --quick"))

    assert reply.status_code == 200
    assert reply.text.startswith(f"duplicate: build #1 for {HEAD[:12]} is already {status}")
    assert drone.calls("POST") == []
    [comment] = forge.comments_on(RECIPE_REPO, PR)
    word = "running" if status == "running" else "queued"
    assert f"already {word}" in comment["body"] and f"{DRONE_REPO}/1)" in comment["body"]


def test_a_second_trigger_right_after_the_first_is_a_duplicate(forge, drone, send):
    assert send(comment_payload("!testme")).status_code == 201
    reply = send(comment_payload("!testme"))

    assert reply.status_code == 200 and "duplicate: build #1" in reply.text
    assert len(drone.created(DRONE_REPO)) == 1


def test_simultaneous_triggers_make_one_build(forge, drone, send):
    drone.delay = 0.1  # every trigger would list the builds before any is created

    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: send(comment_payload("!testme")), range(6)))

    assert sorted(r.status_code for r in replies) == [200] * 5 + [201]
    assert len(drone.created(DRONE_REPO)) == 1


def test_a_finished_build_or_another_head_does_not_block(forge, drone, send):
    drone.add_build(DRONE_REPO, "success", {"CCCI_RECIPE": RECIPE, "CCCI_REF": HEAD})
    drone.add_build(DRONE_REPO, "running", {"CCCI_RECIPE": RECIPE, "CCCI_REF": "9" * 40})
    drone.add_build(DRONE_REPO, "running", {"CCCI_RECIPE": "other", "CCCI_REF": HEAD})

    reply = send(comment_payload("!testme"))

    assert reply.status_code == 201 and reply.text.startswith("queued: build #4 ")


def test_a_restarted_bridge_still_sees_the_queued_build(forge, drone, send, config):
    """The record is Drone's, not the process's: a fresh client sees the build."""
    assert send(comment_payload("!testme")).status_code == 201

    active = DroneClient(config.drone_url, config.drone_token).active_builds(DRONE_REPO)

    assert [b["params"]["CCCI_REF"] for b in active] == [HEAD]


# -- the forge or Drone failing -------------------------------------------------------


def test_drone_failing_is_502_and_nothing_is_posted(forge, drone, send):
    drone.fail = 500

    reply = send(comment_payload("!testme"))

    assert reply.status_code == 502 and "HTTP 500" in reply.text
    assert forge.calls("POST") == []


def test_drone_refusing_the_token_is_502(forge, drone, send):
    drone.token = "another"

    reply = send(comment_payload("!testme"))

    assert reply.status_code == 502 and "HTTP 401" in reply.text


def test_the_forge_failing_to_answer_permission_is_502(forge, drone, send):
    forge.fail = 503

    reply = send(comment_payload("!testme"))

    assert reply.status_code == 502 and "permission not known" in reply.text
    assert drone.requests == []


def test_a_comment_that_cannot_be_posted_does_not_undo_the_build(forge, drone, send):
    forge.comments.clear()  # the comment POST answers 404

    reply = send(comment_payload("!testme"))

    assert reply.status_code == 201 and "comment not posted" in reply.text
    assert len(drone.created(DRONE_REPO)) == 1


# -- secrets --------------------------------------------------------------------------


def test_no_log_line_or_reply_shows_a_token_or_the_secret(forge, drone, send, config, caplog):
    caplog.set_level(logging.DEBUG)
    replies = [send(comment_payload("!testme")), send(comment_payload("!testme")),
               send(comment_payload("!testme"), secret="wrong"),
               send(comment_payload("/testme")),
               send(comment_payload("!testme", user="ghost"))]
    forge.fail, forge.fail_echo = 500, True  # a server that echoes the token back
    replies.append(send(comment_payload("!testme")))
    forge.fail, drone.fail, drone.fail_echo = None, 500, True
    forge.add_pull(RECIPE_REPO, PR, "4" * 40)
    replies.append(send(comment_payload("!testme")))

    assert [r.status_code for r in replies] == [201, 200, 401, 202, 202, 502, 502]
    lines = [r.getMessage() for r in caplog.records if r.name == "ccci.bridge"]
    assert sum(line.startswith("delivery ") for line in lines) == len(replies)
    texts = [caplog.text, *lines, *(r.text for r in replies), repr(config), str(config)]
    texts += [json.dumps(c) for c in forge.comments_on(RECIPE_REPO, PR)]
    for secret in SECRET_VALUES:
        assert not [t for t in texts if secret in t]
    assert "<hidden>" in replies[-1].text and "<hidden>" in replies[-2].text


def test_the_log_line_names_event_repo_pr_and_decision(forge, drone, send, caplog):
    caplog.set_level(logging.INFO, logger="ccci.bridge")

    send(comment_payload("!testme"))

    [line] = [r.getMessage() for r in caplog.records if r.name == "ccci.bridge"]
    assert f"event=issue_comment repo={RECIPE_REPO} pr={PR} user={MAINTAINER} -> 201 queued" \
        in line
