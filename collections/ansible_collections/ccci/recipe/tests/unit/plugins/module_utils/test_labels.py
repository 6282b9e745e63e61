"""Each label name the collection uses is spelt once, in module_utils/labels.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from ansible_collections.ccci.recipe.plugins.module_utils import labels

PLUGINS = Path(labels.__file__).resolve().parents[1]
# Documentation may name labels; code must import them.
DOC_NAMES = frozenset({"DOCUMENTATION", "EXAMPLES", "RETURN"})
LABEL_TEXTS = ("com.docker.stack.namespace", "ccci.run", "backupbot.", "coop-cloud.")


def code_strings(tree: ast.Module) -> list[ast.Constant]:
    """String constants of a module that are neither docstrings nor documentation."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in DOC_NAMES for t in node.targets
        ):
            skip.add(id(node.value))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def test_label_helpers():
    assert labels.coop_cloud("app_example_com", "version") == "coop-cloud.app_example_com.version"
    assert labels.selector(labels.RUN, "r-1") == "ccci.run=r-1"
    assert labels.HOOKS[("restore", "pre")] == "backupbot.restore.pre-hook"
    assert all(h.startswith(labels.BACKUPBOT_PREFIX) for h in labels.HOOKS.values())
    assert labels.BACKUP_VOLUMES_PREFIX.startswith(labels.BACKUP + ".")


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PLUGINS.rglob("*.py") if p.name != "labels.py"),
    ids=lambda p: str(p.relative_to(PLUGINS)),
)
def test_no_plugin_spells_a_label_itself(path: Path):
    found = [
        f"{path.name}:{node.lineno}: {node.value!r}"
        for node in code_strings(ast.parse(path.read_text()))
        if any(text in node.value for text in LABEL_TEXTS)
    ]
    assert not found, "use module_utils/labels.py instead of:\n" + "\n".join(found)
