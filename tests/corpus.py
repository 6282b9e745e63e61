"""The corpus of published-recipe patterns (tests/fixtures/corpus/), for its tests.

Each fixture directory holding a versions.yml is a recipe source (ccci.examples:
base/, steps/<tag>/), its expected.yml, and the recipe's CI config (hooks.py, optional
meta.yml), as recipes/<name>/ is for an enrolled recipe: the corpus folder is the
config root of its runs and checks. A new fixture directory is picked up on its own.

expected.yml keys:
  findings        what `ccci check` finds, exactly: [code, severity, file, key], ...
  lint            what `ccci lint` finds, exactly, in the same form
  deployable      true, or false with `reason`
  docker_refuses  why Docker refuses the recipe: only then may a finding be an error
  ccci_bug        a ccci bug this fixture shows: `what` it is, and which tests it `fails`
                  (check: the unit check tests; run: the deploy test; labels: the
                  comparison with Docker's reading); those are strict xfails until fixed
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
FIXTURES = sorted(p.name for p in CORPUS.iterdir() if (p / "versions.yml").is_file())
EXPECTED_KEYS = {"findings", "deployable", "reason", "docker_refuses", "ccci_bug", "lint"}


def expected(name: str) -> dict[str, Any]:
    """A fixture's expected.yml, checked for shape."""
    data = yaml.safe_load((CORPUS / name / "expected.yml").read_text())
    assert isinstance(data, dict), f"{name}/expected.yml must be a mapping"
    assert set(data) <= EXPECTED_KEYS, f"{name}/expected.yml: unknown {set(data) - EXPECTED_KEYS}"
    return data


def expected_findings(name: str, severity: str | None = None) -> list[tuple[str, str, str, str]]:
    """(code, severity, file, key) of what the check must find, sorted."""
    found = sorted(tuple(item) for item in expected(name).get("findings") or [])
    return [f for f in found if severity is None or f[1] == severity]


def deployable() -> list[str]:
    return [name for name in FIXTURES if expected(name)["deployable"]]


BUG_SHOWS_IN = {"check", "run", "labels"}


def with_known_bug(names: list[str], test: str) -> list[Any]:
    """Fixtures as parameters; a strict xfail where expected.yml's ccci_bug fails ``test``."""
    assert test in BUG_SHOWS_IN, test
    params = []
    for name in names:
        bug = expected(name).get("ccci_bug") or {}
        fails = test in (bug.get("fails") or [])
        marks = [pytest.mark.xfail(strict=True, reason=f"ccci bug: {bug['what']}")] if fails else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params
