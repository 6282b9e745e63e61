"""The hook context: frozen, with dependency credentials from CCCI_DEPS_FILE."""

import dataclasses
import json

import pytest

from ccci.config import HookCtx
from ccci.hooks import load_deps


def test_ctx_is_frozen():
    ctx = HookCtx(domain="a.ccci.test", base_url="http://127.0.0.1:1", meta={}, op="install")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.domain = "b.ccci.test"  # type: ignore[misc]


def test_deps_come_from_the_file_ccci_deps_file_names(tmp_path, monkeypatch):
    monkeypatch.delenv("CCCI_DEPS_FILE", raising=False)
    assert load_deps() == {}
    deps = {"postgres": {"host": "db.example.test", "user": "app"}}
    (tmp_path / "deps.json").write_text(json.dumps(deps))
    monkeypatch.setenv("CCCI_DEPS_FILE", str(tmp_path / "deps.json"))
    assert load_deps() == deps
