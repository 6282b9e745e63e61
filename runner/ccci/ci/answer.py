"""The answer on the pull request at the end of a run the bridge started.

The Drone build carries the bridge's parameters (CCCI_REPO, CCCI_PR, CCCI_REF); at the
end of the run the pipeline calls ``post_answer`` with the run directory. It posts the
run's summary card (``summary.md``, written by ``ccci.report.run_report``) as a comment
on the pull request, editing the bridge's own earlier answer there (the comment holding
ANSWER_MARKER, by ``forge_user`` when that is configured) instead of adding another,
and sets the commit status of CCCI_REF: success for exit code 0, failure for 1, error
otherwise (or without results.json), linking the report when ``report_base_url`` is set.

It never raises and never changes the run's verdict: problems come back as lines for
the caller to log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ccci.ci.config import ServiceConfig
from ccci.ci.forge import STATUS_CONTEXT, ForgeClient, ForgeError
from ccci.ci.http_api import scrub
from ccci.report.run_report import SUMMARY
from ccci.rundir import RESULTS

ANSWER_MARKER = "<!-- ccci:answer -->"
SHA = re.compile(r"[0-9a-fA-F]{7,64}")
SLUG = re.compile(r"[^/\s]+/[^/\s]+")


def post_answer(run_dir: Path, config: ServiceConfig, env: Mapping[str, str], *,
                forge: ForgeClient | None = None) -> list[str]:
    """Post the card of ``run_dir`` on the pull request ``env`` names and set the commit
    status; the problems met, as lines ([] when all went well). Never raises."""
    token = config.forge_token.reveal() if config.forge_token else None
    try:
        return _post_answer(Path(run_dir), config, env, forge)
    except Exception as exc:  # the answer must never take the run down with it
        return [f"answer: unexpected {type(exc).__name__}: {scrub(str(exc), token)}"]


def _post_answer(run_dir: Path, config: ServiceConfig, env: Mapping[str, str],
                 forge: ForgeClient | None) -> list[str]:
    target, problems = pull_target(env)
    if target is None:
        return problems
    if forge is None:
        if config.forge_token is None:
            return ["answer: no forge token (set CCCI_FORGE_TOKEN or CCCI_FORGE_TOKEN_FILE)"]
        forge = ForgeClient(config.forge_url, config.forge_token)
    results, problems = read_results(run_dir)
    body = answer_body(run_dir, results, target["sha"], config, problems)
    problems += _post_card(forge, target, body, config.forge_user)
    problems += _post_status(forge, target, results, run_dir, config)
    return problems


def pull_target(env: Mapping[str, str]) -> tuple[dict[str, Any] | None, list[str]]:
    """owner, repo, number and sha from the build parameters, or the problems."""
    repo, pr, sha = (env.get(k, "").strip() for k in ("CCCI_REPO", "CCCI_PR", "CCCI_REF"))
    problems = []
    if not SLUG.fullmatch(repo):
        problems.append(f"answer: CCCI_REPO {repo!r} is not owner/name")
    if not re.fullmatch(r"[0-9]+", pr) or int(pr) < 1:
        problems.append(f"answer: CCCI_PR {pr!r} is not a pull request number")
    if not SHA.fullmatch(sha):
        problems.append(f"answer: CCCI_REF {sha!r} is not a commit sha")
    if problems:
        return None, [p + " (nothing posted)" for p in problems]
    owner, name = repo.split("/")
    return {"owner": owner, "repo": name, "number": int(pr), "sha": sha.lower()}, []


def read_results(run_dir: Path) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        data = json.loads((run_dir / RESULTS).read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"answer: {RESULTS} not read: {exc.strerror or exc}"]
    except ValueError:
        return None, [f"answer: {RESULTS} is not JSON"]
    if not isinstance(data, dict):
        return None, [f"answer: {RESULTS} is not a JSON object"]
    return data, []


def status_state(results: Mapping[str, Any] | None) -> str:
    """success for exit code 0, failure for 1, error for anything else."""
    code = (results or {}).get("exit_code")
    if isinstance(code, bool) or not isinstance(code, int):
        return "error"
    return {0: "success", 1: "failure"}.get(code, "error")


def answer_body(run_dir: Path, results: Mapping[str, Any] | None, sha: str,
                config: ServiceConfig, problems: list[str]) -> str:
    """The comment: the marker, the commit it is about, then the card (whole when under
    the card limit; appends to ``problems`` when the card is missing)."""
    from ccci.report.run_report import SUMMARY_LIMIT, fit_summary

    report = config.report_url(run_dir.name)
    try:
        card = (run_dir / SUMMARY).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"answer: {SUMMARY} not read ({type(exc).__name__}); "
                        "a short answer was posted")
        code = (results or {}).get("exit_code", "unknown")
        card = (f"ccci run `{run_dir.name}` ended with exit code {code}; it wrote no "
                "summary card." + (f"\n\nFull report: {report}" if report else ""))
    if len(card.encode("utf-8")) > SUMMARY_LIMIT:
        card = fit_summary(card, f"Full report: {report}" if report else "")
    return f"{ANSWER_MARKER}\nccci run for commit `{sha[:12]}`\n\n{card.strip()}\n"


def _post_card(forge: ForgeClient, target: dict[str, Any], body: str,
               forge_user: str | None) -> list[str]:
    where = (target["owner"], target["repo"])
    try:
        earlier = own_answer(forge.comments(*where, target["number"]), forge_user)
        if earlier is not None:
            try:
                forge.edit_comment(*where, earlier, body)
                return []
            except ForgeError as exc:
                if exc.status not in (403, 404):
                    raise
        forge.create_comment(*where, target["number"], body)
    except ForgeError as exc:
        return [f"answer: card not posted: {exc}"]
    return []


def own_answer(comments: list[dict[str, Any]], forge_user: str | None) -> int | None:
    """The id of the latest comment holding ANSWER_MARKER (by ``forge_user`` if set)."""
    for comment in reversed(comments):
        body, login = comment.get("body"), (comment.get("user") or {}).get("login")
        if not isinstance(body, str) or not any(
                line.strip() == ANSWER_MARKER for line in body.splitlines()):
            continue
        if forge_user and (not isinstance(login, str) or login.lower() != forge_user.lower()):
            continue
        if isinstance(comment.get("id"), int):
            return comment["id"]
    return None


def _post_status(forge: ForgeClient, target: dict[str, Any],
                 results: Mapping[str, Any] | None, run_dir: Path,
                 config: ServiceConfig) -> list[str]:
    state = status_state(results)
    try:
        forge.set_status(target["owner"], target["repo"], target["sha"], state,
                         config.report_url(run_dir.name), status_description(results),
                         STATUS_CONTEXT)
    except ForgeError as exc:
        return [f"answer: status not set: {exc}"]
    return []


def status_description(results: Mapping[str, Any] | None) -> str:
    if results is None:
        return "ccci: the run left no results"
    level, code = results.get("level_text") or "", results.get("exit_code")
    state = status_state(results)
    if state == "error":
        return f"ccci: the run did not finish (exit {code})"
    verdict = "passed" if state == "success" else "failed"
    return f"ccci {level}: {verdict}" if level else f"ccci: {verdict}"
