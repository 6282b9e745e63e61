"""The functional tier of one app: which test files run, within which limits, and the
verdict the stage reports.

``ccci run`` and ``ansible-playbook playbooks/functional.yml`` reach this through the
``ccci.recipe.functional`` action, so both run the same session the same way. The
session's record (every test, every screenshot) is ``functional.json`` in the run
directory; results.json and junit.xml are made from it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccci.config import RecipeConfig
from ccci.context import load_run
from ccci.ingress import Ingress
from ccci.rundir import RunDir

if TYPE_CHECKING:  # the session (pytest, Playwright) is only imported to run one
    from ccci.functional.session import SuiteResult, TestOutcome

GENERIC_FILE = Path(__file__).with_name("generic.py")
# Set (to anything) to leave the generic checks out: for local development only.
SKIP_GENERIC = "CCCI_SKIP_GENERIC"
FAILED_OUTCOMES = ("failed", "error", "timeout")


@dataclass
class Verdict:
    """What the stage reports: passed or not, why, and the counts of each outcome."""

    ok: bool
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    generic_skipped: bool = False
    recipe_tests: bool = True


def recipe_test_files(config: RecipeConfig) -> list[Path]:
    """The recipe's own suite: ``tests/test_*.py`` in its CI config folder, and in its
    repository's ``.ccci/`` when the trust gate let that in."""
    return [file for folder in config.test_folders() if folder.is_dir()
            for file in sorted(folder.glob("test_*.py"))]


def run_functional(run_dir: Path, *, host_spec: str = "local://",
                   generic_only: bool = False, app_port: int | None = None) -> Verdict:
    """Run the recipe's suite and the generic checks against the run's live app (only
    the generic checks on the upgraded app of a full run: ``generic_only``); on a remote
    host through the forwarded ``app_port`` (``ccci.forward``)."""
    from ccci.functional.session import run_suite

    context = load_run(run_dir)
    config = context.recipe_config()
    skip_generic = bool(os.environ.get(SKIP_GENERIC))
    own = [] if generic_only else recipe_test_files(config)
    files = ([] if skip_generic else [GENERIC_FILE]) + own
    if not files and generic_only:  # nothing asked of the upgraded app
        return Verdict(True, "", {}, True, True)
    if not files:
        verdict = Verdict(False, "no test to run: the recipe has no tests/test_*.py and "
                          f"{SKIP_GENERIC} skips the generic checks", {}, True, False)
        RunDir(run_dir).save_functional({"files": [], "generic_skipped": True, "tests": [],
                                         "screenshots": [], "ok": False})
        return verdict
    suite = run_suite(run_dir, files, host_spec=host_spec, app_port=app_port,
                      test_timeout=float(config.get("TEST_TIMEOUT")),
                      session_timeout=float(config.get("FUNCTIONAL_TIMEOUT")))
    reached = Ingress.from_dict(context.host["ingress"]).seen_at(app_port)
    RunDir(run_dir).save_functional({
        **asdict(suite), "ok": suite.ok, "files": [str(f) for f in files],
        "base_url": reached.base_url,  # as the session reached it: a forward's port
        "generic_skipped": skip_generic, "generic_only": generic_only,
    })
    return judge(suite, generic_skipped=skip_generic, recipe_tests=bool(own) or generic_only)


def judge(suite: SuiteResult, *, generic_skipped: bool = False,
          recipe_tests: bool = True) -> Verdict:
    """The tier's verdict: every test passed or was skipped with a reason, and the session
    itself ended well; the reason names the first failing tests."""
    counts: dict[str, int] = {}
    for test in suite.tests:
        counts[test.outcome] = counts.get(test.outcome, 0) + 1
    failed = [t for t in suite.tests if t.outcome in FAILED_OUTCOMES]
    problems = [describe(t) for t in failed[:3]]
    if len(failed) > 3:
        problems.append(f"and {len(failed) - 3} more")
    if suite.timed_out or suite.error:
        problems.insert(0, suite.error or "the session ran out of time")
    if not suite.tests and not problems:
        problems.append("no test was collected")
    reason = ""
    if problems:
        reason = f"{len(failed)} of {len(suite.tests)} tests failed: " if failed else ""
        reason += "; ".join(problems)
    return Verdict(not problems, reason, counts, generic_skipped, recipe_tests)


def describe(test: TestOutcome) -> str:
    """A failed test in a line: its id and the first line of what it said."""
    first = next((line.strip() for line in test.message.splitlines() if line.strip()), "")
    return f"{test.nodeid} {test.outcome}" + (f": {first}" if first else "")


def summary(record: dict[str, Any] | None) -> dict[str, Any]:
    """What results.json shows about the tier, from ``functional.json``."""
    if not record:
        return {}
    return {
        "tests": [{key: test.get(key) for key in ("nodeid", "outcome", "duration", "message",
                                                   "generic", "screenshot", "logs", "reruns",
                                                   "rerun_message")}
                  for test in record.get("tests", [])],
        "screenshots": record.get("screenshots", []),
        "generic_skipped": record.get("generic_skipped", False),
        "generic_only": record.get("generic_only", False),
        "session": {key: record.get(key) for key in ("duration", "exit_code", "timed_out",
                                                     "error")},
    }
