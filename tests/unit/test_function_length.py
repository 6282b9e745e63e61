"""No function of ccci's own code is longer than MAX_LINES lines.

A long function hides several steps behind one name; split it into named steps. The
count runs from the ``def`` line to the function's last line, docstring included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 60
# Python code of the package and of the collection's plugins (modules, module_utils,
# action, doc_fragments, ...).
SOURCES = {
    "runner": ROOT / "runner",
    "collection": ROOT / "collections/ansible_collections/ccci/recipe/plugins",
}


def long_functions(root: Path) -> Iterator[str]:
    """``path:line name (N lines)`` for each function of ``root`` over MAX_LINES lines."""
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_LINES:
                where = path.relative_to(ROOT)
                yield f"{where}:{node.lineno} {node.name} ({length} lines)"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_no_function_is_longer_than_the_limit(name: str):
    offenders = list(long_functions(SOURCES[name]))
    assert not offenders, f"functions over {MAX_LINES} lines:\n" + "\n".join(offenders)
