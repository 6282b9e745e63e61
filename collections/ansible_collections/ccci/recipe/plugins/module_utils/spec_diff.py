# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a redeploy of the same version changed, from Docker's service records.

Docker keeps a service's ``PreviousSpec`` when an update changes its ``Spec``, and
bumps ``Version.Index``. A redeploy that changes nothing leaves both alone, so
comparing the index before and after, then ``Spec`` with ``PreviousSpec``, names the
fields that changed without keeping a copy of every spec. Plain API dicts only, so it
is unit-tested without Docker.
"""

from __future__ import annotations

from typing import Any

# Swarm fills these in itself on every update; they say nothing about the recipe.
IGNORED = frozenset({"TaskTemplate.ForceUpdate"})


def changed_fields(before: Any, after: Any, path: str = "") -> list[str]:
    """Dotted paths where ``after`` differs from ``before`` (lists compared whole)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key in sorted(set(before) | set(after)):
            where = f"{path}.{key}" if path else str(key)
            found += changed_fields(before.get(key), after.get(key), where)
        return found
    if before == after or path in IGNORED:
        return []
    return [path]


def revisions(services: list[dict[str, Any]], tasks: list[dict[str, Any]]
              ) -> dict[str, dict[str, Any]]:
    """Each service's version index and the ids of its running tasks."""
    running: dict[str, list[str]] = {}
    for task in tasks:
        if (task.get("Status") or {}).get("State") == "running":
            running.setdefault(task.get("ServiceID", ""), []).append(task["ID"])
    return {
        svc["Spec"]["Name"]: {"version": (svc.get("Version") or {}).get("Index", 0),
                              "tasks": sorted(running.get(svc["ID"], []))}
        for svc in services
    }


def redeploy_changes(before: dict[str, dict[str, Any]], services: list[dict[str, Any]],
                     after: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Services the redeploy updated (their changed spec fields) or whose tasks it
    replaced; a service that appeared or vanished counts as changed too."""
    by_name = {svc["Spec"]["Name"]: svc for svc in services}
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            changes.append({"service": name, "fields": ["(service added)" if old is None
                                                        else "(service removed)"],
                            "tasks_replaced": True})
            continue
        # docker stack deploy updates every service, so the index moves even when the
        # spec is the same: only a real difference, or replaced tasks, is a change.
        svc = by_name.get(name, {})
        fields = changed_fields(svc.get("PreviousSpec") or {}, svc.get("Spec") or {}) \
            if new["version"] != old["version"] else []
        replaced = bool(set(old["tasks"]) - set(new["tasks"]))
        if fields or replaced:
            changes.append({"service": name, "fields": fields, "tasks_replaced": replaced})
    return changes
