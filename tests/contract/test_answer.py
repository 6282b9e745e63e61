"""The answer at the end of a run the bridge started (ccci.ci.answer.post_answer): the
summary card on the pull request, edited in place on later runs, and the commit
status, against the Gitea stand-in."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from ccci.ci.answer import ANSWER_MARKER, post_answer
from ccci.ci.config import ANSWER, ServiceConfig, load_config
from ccci.report.run_report import SUMMARY_LIMIT, write_run_report
from tests.contract.conftest import (
    FORGE_TOKEN,
    HEAD,
    PR,
    RECIPE_REPO,
    REPORT_BASE,
    SECRET_VALUES,
    write_config,
)

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
PASSING = RUNS / "20261128-123732-example-notes-a46d90be"  # exit 0, L5
FAILING = RUNS / "20261128-123154-example-site-67772a90"  # exit 1, L3
ENV = {"CCCI_REPO": RECIPE_REPO, "CCCI_PR": str(PR), "CCCI_REF": HEAD}


def answer_config(tmp_path: Path, forge_url: str) -> ServiceConfig:
    """As the end of a Drone build loads it: the file, and only the forge token."""
    path = write_config(tmp_path / "answer.yml", forge_url, "https://drone.example.org")
    return load_config(path, {"CCCI_FORGE_TOKEN": FORGE_TOKEN}, role=ANSWER)


def real_run(tmp_path: Path, source: Path) -> Path:
    """A copy of a real run's records, with its report and card written."""
    run_dir = tmp_path / "runs" / source.name
    shutil.copytree(source, run_dir)
    write_run_report(run_dir, report_link=f"{REPORT_BASE}{source.name}/report.html")
    return run_dir


def made_run(tmp_path: Path, card: str | None, exit_code: object = 0,
             name: str = "20261128-130000-example-site-0badcafe") -> Path:
    run_dir = tmp_path / "runs" / name
    run_dir.mkdir(parents=True)
    if card is not None:
        (run_dir / "summary.md").write_text(card, encoding="utf-8")
    if exit_code is not None:
        (run_dir / "results.json").write_text(
            json.dumps({"exit_code": exit_code, "level_text": "L1"}), encoding="utf-8")
    return run_dir


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(forge) -> list[dict]:
    return [c for c in forge.comments_on(RECIPE_REPO, PR) if ANSWER_MARKER in c["body"]]


# -- posting --------------------------------------------------------------------------


def test_the_card_is_posted_and_the_status_set(forge, tmp_path):
    run_dir = real_run(tmp_path, FAILING)
    card = (run_dir / "summary.md").read_text(encoding="utf-8")

    problems = post_answer(run_dir, answer_config(tmp_path, forge.url), ENV)

    assert problems == []
    [comment] = answers(forge)
    assert comment["body"].splitlines()[0] == ANSWER_MARKER
    assert card.strip() in comment["body"] and HEAD[:12] in comment["body"]
    [status] = forge.statuses_of(RECIPE_REPO, HEAD)
    assert status == {**status, "state": "failure", "context": "ccci",
                      "target_url": f"{REPORT_BASE}{FAILING.name}/report.html"}
    assert status["description"] == "ccci L3: failed"
    assert all(r.authorized for r in forge.requests)


def test_a_second_run_edits_the_earlier_answer(forge, tmp_path):
    config = answer_config(tmp_path, forge.url)
    forge.add_comment(RECIPE_REPO, PR, "Looks good, !testme", "maint")
    assert post_answer(real_run(tmp_path, FAILING), config, ENV) == []
    [first] = answers(forge)
    forge.add_comment(RECIPE_REPO, PR, "queued again", "ccci-bot")

    second = real_run(tmp_path, PASSING)
    assert post_answer(second, config, ENV) == []

    [edited] = answers(forge)
    assert edited["id"] == first["id"]
    assert (second / "summary.md").read_text(encoding="utf-8").strip() in edited["body"]
    assert len(forge.comments_on(RECIPE_REPO, PR)) == 3
    assert [r.path for r in forge.calls("PATCH")] == [
        f"/api/v1/repos/{RECIPE_REPO}/issues/comments/{first['id']}"]
    assert [s["state"] for s in forge.statuses_of(RECIPE_REPO, HEAD)] == ["failure", "success"]


def test_a_marker_in_someone_elses_comment_is_left_alone(forge, tmp_path):
    other = forge.add_comment(RECIPE_REPO, PR, f"{ANSWER_MARKER}\nfake answer", "mallory")

    assert post_answer(made_run(tmp_path, "card\n"), answer_config(tmp_path, forge.url),
                       ENV) == []

    assert forge.calls("PATCH") == []
    assert other["body"] == f"{ANSWER_MARKER}\nfake answer"
    assert len(answers(forge)) == 2


def test_a_card_under_60_kb_is_posted_whole(forge, tmp_path):
    line = "| install | app | ✅ passed | 1 s |\n"
    card = "## example-site: L5\n\n" + line * ((SUMMARY_LIMIT - 200) // len(line.encode()))
    assert 55_000 < len(card.encode("utf-8")) <= SUMMARY_LIMIT

    post_answer(made_run(tmp_path, card), answer_config(tmp_path, forge.url), ENV)

    [comment] = answers(forge)
    assert comment["body"].endswith(card.strip() + "\n")
    assert card.strip() in comment["body"]
    assert len(comment["body"].encode("utf-8")) < 61_000


def test_a_card_over_the_limit_is_cut_with_a_note(forge, tmp_path):
    card = "x" * (SUMMARY_LIMIT + 5_000)

    post_answer(made_run(tmp_path, card), answer_config(tmp_path, forge.url), ENV)

    [comment] = answers(forge)
    assert len(comment["body"].encode("utf-8")) <= SUMMARY_LIMIT + 200
    assert "cut, see the full report" in comment["body"]


@pytest.mark.parametrize(("exit_code", "state"), [(0, "success"), (1, "failure"),
                                                  (2, "error"), (130, "error"),
                                                  ("1", "error"), (None, "error")])
def test_the_status_follows_the_exit_code(forge, tmp_path, exit_code, state):
    problems = post_answer(made_run(tmp_path, "card\n", exit_code),
                           answer_config(tmp_path, forge.url), ENV)

    assert [s["state"] for s in forge.statuses_of(RECIPE_REPO, HEAD)] == [state]
    assert (problems == []) == (exit_code is not None)


def test_without_report_base_url_the_status_has_no_link(forge, tmp_path):
    path = write_config(tmp_path / "answer.yml", forge.url, "https://drone.example.org",
                        report_base_url=None)
    config = load_config(path, {"CCCI_FORGE_TOKEN": FORGE_TOKEN}, role=ANSWER)

    assert post_answer(made_run(tmp_path, "card\n"), config, ENV) == []

    assert forge.statuses_of(RECIPE_REPO, HEAD)[0]["target_url"] == ""


# -- problems, never exceptions -------------------------------------------------------


def test_the_forge_unreachable_gives_problem_lines(tmp_path):
    config = answer_config(tmp_path, f"http://127.0.0.1:{closed_port()}")

    problems = post_answer(made_run(tmp_path, "card\n"), config, ENV)

    assert len(problems) == 2
    assert problems[0].startswith("answer: card not posted: forge: GET ")
    assert problems[1].startswith("answer: status not set: forge: POST ")
    assert all("unreachable" in p for p in problems)


def test_forge_errors_give_problem_lines_without_the_token(forge, tmp_path):
    forge.fail, forge.fail_echo = 500, True

    problems = post_answer(made_run(tmp_path, "card\n"), answer_config(tmp_path, forge.url),
                           ENV)

    assert len(problems) == 2 and all("HTTP 500" in p for p in problems)
    assert not [p for p in problems for s in SECRET_VALUES if s in p]


def test_missing_build_parameters_post_nothing(forge, tmp_path):
    problems = post_answer(made_run(tmp_path, "card\n"), answer_config(tmp_path, forge.url),
                           {"CCCI_REPO": "no-slash", "CCCI_PR": "x", "CCCI_REF": ""})

    assert len(problems) == 3 and all("nothing posted" in p for p in problems)
    assert forge.requests == []


def test_missing_records_give_a_short_answer_and_an_error_status(forge, tmp_path):
    run_dir = made_run(tmp_path, None, None)

    problems = post_answer(run_dir, answer_config(tmp_path, forge.url), ENV)

    assert any("results.json not read" in p for p in problems)
    assert any("summary.md not read" in p for p in problems)
    [comment] = answers(forge)
    assert "wrote no summary card" in comment["body"]
    [status] = forge.statuses_of(RECIPE_REPO, HEAD)
    assert status["state"] == "error" and status["description"] == "ccci: the run left no results"


def test_an_unexpected_error_is_a_problem_line(forge, tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError(f"boom {FORGE_TOKEN}")

    monkeypatch.setattr("ccci.ci.forge.ForgeClient.comments", broken)

    problems = post_answer(made_run(tmp_path, "card\n"), answer_config(tmp_path, forge.url),
                           ENV)

    assert problems == ["answer: unexpected RuntimeError: boom <hidden>"]
