"""Reading what a module printed, and when the worker may stand in for the host."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from ansible_collections.ccci.recipe.plugins.plugin_utils.in_process import (
    parse_result,
    runs_in_process,
)


def test_the_last_printed_line_is_the_result_without_internal_keys():
    printed = 'a warning the module printed\n\n{"changed": true, "_ansible_no_log": false}\n'
    assert parse_result("ccci.recipe.x", printed) == {"changed": True}


@pytest.mark.parametrize("printed", ["", "Traceback (most recent call last):\n  boom"])
def test_no_result_is_a_failure_naming_the_module(printed):
    result = parse_result("ccci.recipe.x", printed)
    assert result["failed"] and "ccci.recipe.x printed no result" in result["msg"]


def _action(transport="local", become=False, async_val=0, environment=None):
    return SimpleNamespace(
        _connection=SimpleNamespace(transport=transport),
        _play_context=SimpleNamespace(become=become),
        _task=SimpleNamespace(async_val=async_val, environment=environment or [{}]),
        _templar=SimpleNamespace(template=lambda value: value),
    )


HERE = {"ansible_python_interpreter": sys.executable}


def test_a_local_host_with_this_python_runs_here():
    assert runs_in_process(_action(), HERE)


@pytest.mark.parametrize(("action", "task_vars"), [
    (_action(transport="ssh"), HERE),
    (_action(become=True), HERE),
    (_action(async_val=30), HERE),
    (_action(environment=[{"DOCKER_HOST": "tcp://x"}]), HERE),
    (_action(), {"ansible_python_interpreter": "/usr/bin/python3.11-not-this-one"}),
    (_action(), {}),
])
def test_anything_else_runs_the_module_the_usual_way(action, task_vars):
    assert not runs_in_process(action, task_vars)
