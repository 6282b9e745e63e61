"""A controller plugin that cannot import ccci says why, in the import's own words.

"ccci is not importable" alone hid the cause when ccci was installed but one of its
dependencies was not, or when ccci itself failed to import.
"""

from __future__ import annotations

import importlib

import pytest

PLUGINS = ("backup", "dead_runs", "hook", "marker", "run_context", "run_record")
FUNCTION = {"backup": "run_hook", "dead_runs": "dead_runs", "hook": "run_hook",
            "marker": "check_marker", "run_context": "create_run", "run_record": "RunDir"}


@pytest.mark.parametrize("name", PLUGINS)
def test_the_import_error_reaches_the_task_result(name, make_action, monkeypatch):
    plugin = importlib.import_module(f"ansible_collections.ccci.recipe.plugins.action.{name}")
    assert plugin.IMPORT_ERROR == ""  # ccci imports fine here
    monkeypatch.setattr(plugin, FUNCTION[name], None)
    monkeypatch.setattr(plugin, "IMPORT_ERROR", "ModuleNotFoundError: No module named 'yaml'")
    action = make_action(plugin.ActionModule, f"ccci.recipe.{name}", {})
    result = action.run(task_vars={})
    assert result["failed"] is True
    assert "not importable" in result["msg"]
    assert result["msg"].endswith("(ModuleNotFoundError: No module named 'yaml')")
