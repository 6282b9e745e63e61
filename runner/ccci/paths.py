"""Where ccci finds its playbooks, recipe CI configs, recipe repositories and runs.

ccci runs from its project checkout (``pip install -e .``): the collection and the
playbooks are files of that checkout, not package data.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The ccci checkout: ``CCCI_HOME``, else the folder above ``runner/``."""
    if os.environ.get("CCCI_HOME"):
        return Path(os.environ["CCCI_HOME"]).resolve()
    return Path(__file__).resolve().parents[2]


def config_root() -> Path:
    """Where enrolled recipes' CI configs live: ``CCCI_CONFIG_DIR``, else ``recipes/``."""
    if os.environ.get("CCCI_CONFIG_DIR"):
        return Path(os.environ["CCCI_CONFIG_DIR"]).resolve()
    return project_root() / "recipes"


def runs_root() -> Path:
    """Where run directories are made: ``CCCI_RUNS_DIR``, else ``runs/``."""
    return Path(os.environ.get("CCCI_RUNS_DIR") or project_root() / "runs").resolve()


def examples_dest() -> Path:
    """Where the bundled example recipes are materialized as git repositories."""
    return project_root() / "build" / "recipes"


def recipe_search_path() -> list[Path]:
    """Folders holding recipe repositories by name, like abra's ``~/.abra/recipes``.

    ``CCCI_RECIPES_DIR`` (colon-separated) replaces the default of abra's folder
    followed by the materialized examples.
    """
    if os.environ.get("CCCI_RECIPES_DIR"):
        return [Path(p) for p in os.environ["CCCI_RECIPES_DIR"].split(":") if p]
    return [Path.home() / ".abra" / "recipes", examples_dest()]


def host_root() -> str:
    """Where runs keep their files on the swarm host: ``CCCI_HOST_ROOT``, else /var/lib/ccci.

    A path on the host, not the controller; it is only joined, never opened here.
    """
    return os.environ.get("CCCI_HOST_ROOT") or "/var/lib/ccci"


def state_root() -> Path:
    """The controller's shared state: leases and the registry of active runs.

    ``CCCI_STATE_DIR``, else /var/lib/ccci/state. Every ccci process on the machine
    must see the same folder, whatever runs folder it writes to.
    """
    return Path(os.environ.get("CCCI_STATE_DIR") or "/var/lib/ccci/state")
