"""What a Drone pipeline step is asked to test, read from its environment.

The bridge creates a Drone custom build whose build parameters become the step's
environment: ``CCCI_RECIPE`` (the recipe, required), ``CCCI_REF`` (the commit to test),
``CCCI_PR`` (the pull request's number), ``CCCI_REPO`` (the forge repository, owner/name)
and ``CCCI_QUICK`` (``true`` or ``false``). Drone itself sets ``DRONE=true``,
``DRONE_BUILD_NUMBER``, ``DRONE_BUILD_LINK`` and ``DRONE_STAGE_MACHINE``.

Pure: nothing here reads the process environment; the caller passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccci.errors import BadInput

QUICK_VALUES = {"true": True, "false": False}


@dataclass(frozen=True)
class DroneBuild:
    """One Drone build of a recipe."""

    recipe: str
    ref: str | None = None
    pr: int | None = None
    repo: str | None = None  # the forge repository, owner/name (not a local path)
    quick: bool = False
    build_number: int | None = None
    build_link: str | None = None
    machine: str | None = None  # the Drone runner the step ran on

    def ci_record(self) -> dict[str, Any]:
        """What the run records of the build (the ``ci`` of its results)."""
        return {"system": "drone", "build": self.build_number, "link": self.build_link,
                "pr": self.pr, "repo": self.repo, "machine": self.machine}


def _value(env: Mapping[str, str], name: str) -> str | None:
    """The variable, stripped; None when absent or blank."""
    value = (env.get(name) or "").strip()
    return value or None


def _number(env: Mapping[str, str], name: str, what: str) -> int | None:
    value = _value(env, name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise BadInput(f"{name} must be {what} (digits only), not {value!r}")
    return int(value)


def _quick(env: Mapping[str, str]) -> bool:
    value = _value(env, "CCCI_QUICK")
    if value is None:
        return False
    if value not in QUICK_VALUES:
        raise BadInput(f'CCCI_QUICK must be "true" or "false" (or unset), not {value!r}')
    return QUICK_VALUES[value]


def in_drone(env: Mapping[str, str]) -> bool:
    """Whether the environment is a Drone pipeline step's (``DRONE=true``)."""
    return env.get("DRONE") == "true"


def from_environment(env: Mapping[str, str]) -> DroneBuild | None:
    """The build the step is asked to test; None outside Drone (``DRONE`` is not
    ``true``); BadInput naming the variable that is missing or invalid."""
    if not in_drone(env):
        return None
    recipe = _value(env, "CCCI_RECIPE")
    if recipe is None:
        raise BadInput("CCCI_RECIPE is not set: the Drone build does not say which recipe "
                       "to test (the bridge sets it as a build parameter)")
    return DroneBuild(
        recipe=recipe,
        ref=_value(env, "CCCI_REF"),
        pr=_number(env, "CCCI_PR", "a pull request number"),
        repo=_value(env, "CCCI_REPO"),
        quick=_quick(env),
        build_number=_number(env, "DRONE_BUILD_NUMBER", "a build number"),
        build_link=_value(env, "DRONE_BUILD_LINK"),
        machine=_value(env, "DRONE_STAGE_MACHINE"),
    )
