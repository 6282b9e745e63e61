# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding the Docker objects of one run, and of a stack namespace, by label.

Shared by the module that prepares a deploy (is the stack free? which secrets does the
run have?) and the one that tears a run down, so both read ownership the same way.
"""

from __future__ import annotations

import time
from typing import Any

from ansible_collections.ccci.recipe.plugins.module_utils import labels
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import NotFound

KINDS = ("services", "containers", "volumes", "secrets", "configs", "networks")


def name_of(obj: Any) -> str:
    """Docker SDK objects all have a name except (in old SDKs) secrets and configs."""
    return getattr(obj, "name", None) or obj.id


def listed(list_call: Any, **kwargs: Any) -> list[Any]:
    """A Docker SDK list call, retried when an object vanishes while it is listed.

    The SDK lists, then inspects each object; one removed in between (a container of a
    stack being torn down) makes the whole call fail with 404.
    """
    for attempt in range(5):
        try:
            return list_call(**kwargs)
        except NotFound:
            if attempt == 4:
                raise
            time.sleep(0.2)
    return []


def collect(client: Any, selectors: list[str], kinds: tuple[str, ...] = KINDS
            ) -> dict[str, list[Any]]:
    """Objects of ``kinds`` matching any of ``selectors``, by kind, without duplicates."""
    found: dict[str, dict[str, Any]] = {kind: {} for kind in kinds}
    for selector in selectors:
        filters = {"label": selector}
        for kind in kinds:
            extra = {"all": True} if kind == "containers" else {}
            listing = listed(getattr(client, kind).list, filters=filters, **extra)
            found[kind].update({obj.id: obj for obj in listing})
    return {kind: list(objs.values()) for kind, objs in found.items()}


def names(found: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {kind: sorted(name_of(o) for o in objs) for kind, objs in found.items()}


def run_label(obj: Any) -> str | None:
    """The ``ccci.run`` label of any kind of object (services keep labels in the spec)."""
    attrs = obj.attrs or {}
    object_labels = (attrs.get("Spec") or {}).get("Labels") or attrs.get("Labels") or {}
    return object_labels.get(labels.RUN)


def namespace_of(client: Any, run_id: str, stack: str) -> tuple[dict[str, list[str]], bool]:
    """Objects in the stack's namespace, and whether this run owns the stack."""
    found = collect(client, [labels.selector(labels.STACK_NAMESPACE, stack)])
    owners = {run_label(obj) for objs in found.values() for obj in objs} - {None}
    return names(found), owners == {run_id}
