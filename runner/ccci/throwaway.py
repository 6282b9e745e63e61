"""Throwaway stacks for the tests and benchmarks that drive modules directly.

Deploying is one ``docker stack deploy``; removing goes through the product's own
``ccci.recipe.run_resources`` (by stack namespace), so tests and benchmarks clean up
exactly the way a run's teardown does. It lives in the package (not in tests/) because
bench/ needs it too.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from ccci.ansible import run_module
from ccci.paths import project_root


def deploy_stack(stack: str, compose: str, workdir: Path) -> float:
    """Deploy ``compose`` (YAML text) as ``stack``; returns the epoch just before."""
    path = workdir / f"{stack}-{time.monotonic_ns()}.yml"
    path.write_text(compose)
    started = time.time()
    subprocess.run(
        ["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(path), stack],
        check=True,
        capture_output=True,
        text=True,
    )
    return started


def remove_stack(stack: str) -> dict[str, Any]:
    """Remove the stack and everything carrying its namespace label; fail on residue."""
    result = run_module(
        "ccci.recipe.run_resources",
        {"run_id": stack, "stack": stack, "claim_stack": True, "state": "absent",
         "timeout": 120},
        project_root=project_root(),
    )
    if result.get("failed"):
        raise AssertionError(f"stack {stack} left resources behind: {result.get('msg')}")
    return result
