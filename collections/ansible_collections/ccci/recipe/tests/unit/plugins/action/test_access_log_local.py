"""The access_log action: on a local host it selects in-process, as the module would."""

from __future__ import annotations

import json

from ansible_collections.ccci.recipe.plugins.action import access_log


def test_a_local_host_is_read_in_process(make_action, tmp_path):
    log = tmp_path / "access.log"
    mine = json.dumps({"RequestHost": "a.ccci.test", "StartUTC": "2026-11-27T09:00:01Z"})
    other = json.dumps({"RequestHost": "b.ccci.test", "StartUTC": "2026-11-27T09:00:01Z"})
    log.write_text(f"{mine}\n{other}\n")
    action = make_action(access_log.ActionModule, "ccci.recipe.access_log",
                         {"path": str(log), "hosts": ["a.ccci.test"]})
    result = action.run(task_vars={"ansible_connection": "local"})
    assert (result["lines"], result["scanned"]) == ([mine], 2)
    missing = make_action(access_log.ActionModule, "ccci.recipe.access_log",
                          {"path": str(tmp_path / "none"), "hosts": ["a.ccci.test"]})
    assert missing.run(task_vars={"ansible_connection": "local"})["lines"] == []
    empty = make_action(access_log.ActionModule, "ccci.recipe.access_log", {"hosts": []})
    assert empty.run(task_vars={"ansible_connection": "local"})["failed"] is True
