"""access_log: the proxy's lines of some names, from a time on; nothing else."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.ccci.recipe.plugins.modules import access_log


def line(host: str, start: str, status: int = 200) -> str:
    return json.dumps({"RequestHost": host, "StartUTC": start, "DownstreamStatus": status,
                       "RouterName": f"{host}@swarm"})


def run_module(args: dict, capsys) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        access_log.main()
    return json.loads(capsys.readouterr().out)


def test_only_the_names_lines_since_the_run_started(tmp_path, capsys):
    log = tmp_path / "access.log"
    mine = [line("a.ccci.test", "2026-11-27T09:00:01.5Z"),
            line("www.a.ccci.test", "2026-11-27T09:00:02.1Z", 404)]
    log.write_text("\n".join([
        line("a.ccci.test", "2026-11-27T08:59:59.9Z"),  # an earlier run with the same name
        mine[0],
        line("b.ccci.test", "2026-11-27T09:00:01.6Z"),
        line("xa.ccci.test", "2026-11-27T09:00:01.7Z"),  # contains the name, is not it
        "not json a.ccci.test",
        mine[1],
    ]) + "\n")
    result = run_module({"path": str(log), "hosts": ["A.ccci.test", "www.a.ccci.test"],
                         "since": "2026-11-27T09:00:00+00:00"}, capsys)
    assert result["lines"] == mine and result["scanned"] == 6


def test_a_missing_log_has_no_lines(tmp_path, capsys):
    result = run_module({"path": str(tmp_path / "none.log"), "hosts": ["a.ccci.test"]}, capsys)
    assert result["lines"] == [] and result.get("failed") is not True
