"""Pytest fixtures for ccci's own tests: runs planned against the bundled examples.

Unit tests of planning, gates and the controller actions need real recipe
repositories (git, tags) but nothing deployed. Shared here, used through
``pytest_plugins = ["ccci.testing"]``, so the project's tests and the collection's
tests make them the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccci import paths
from ccci.examples import materialize_all


@pytest.fixture(scope="session")
def example_recipes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example recipes as git repositories, made once per session."""
    dest = tmp_path_factory.mktemp("recipes")
    materialize_all(paths.project_root() / "examples" / "recipes", dest)
    return dest


@pytest.fixture
def isolated_run_dirs(example_recipes: Path, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> Path:
    """Recipes found among the examples; runs, leases and registry under ``tmp_path``."""
    monkeypatch.setenv("CCCI_RECIPES_DIR", str(example_recipes))
    monkeypatch.setenv("CCCI_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CCCI_STATE_DIR", str(tmp_path / "state"))
    return tmp_path
