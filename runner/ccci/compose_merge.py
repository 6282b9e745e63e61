"""Merging a service defined in several compose files, as ``docker stack deploy`` does.

Published recipes split a service over files (``compose.yml`` plus optional files in
``COMPOSE_FILE`` that add labels, environment or volumes to the same service).
docker/cli's loader merges them field by field after normalising the short forms:
labels, deploy labels and environment are mappings (the ``KEY=value`` list form too)
merged by key; ports by published port, volumes by container target, secrets and
configs by source (a later entry replaces an earlier one with the same key); command
and entrypoint are replaced; any other list is appended to; mappings merge
recursively, and a later scalar replaces an earlier one. Replacing lists wholesale, as
a generic deep merge does, drops the first file's labels and hides the HTTP port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# Fields (as paths inside a service) that are mappings, also when written as lists.
_MAPPINGS = (("labels",), ("deploy", "labels"), ("environment",), ("networks",),
             ("build", "args"), ("sysctls",), ("extra_hosts",))
_REPLACED = frozenset({"command", "entrypoint"})


def _as_mapping(value: Any, sep: str = "=") -> dict[str, Any]:
    """``[KEY=value, KEY2]`` or a mapping, as a mapping (a bare key maps to None)."""
    if isinstance(value, Mapping):
        return dict(value)
    pairs = (str(item).split(sep, 1) for item in value or [])
    return {p[0]: (p[1] if len(p) > 1 else None) for p in pairs}


def _port_key(entry: Any) -> str:
    """The published port of a port entry (``"8080:80/tcp"`` or long form); "" if none."""
    if isinstance(entry, Mapping):
        return str(entry.get("published", ""))
    parts = str(entry).split("/", 1)[0].split(":")
    return parts[-2] if len(parts) > 1 else ""


def _volume_key(entry: Any) -> str:
    """The container path of a volume entry (``"data:/srv:ro"`` or long form)."""
    if isinstance(entry, Mapping):
        return str(entry.get("target", ""))
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _source_key(entry: Any) -> str:
    """The source of a secret or config entry (a bare name or long form)."""
    return str(entry.get("source", "")) if isinstance(entry, Mapping) else str(entry)


_KEYED: dict[str, Callable[[Any], str]] = {
    "ports": _port_key, "volumes": _volume_key, "secrets": _source_key,
    "configs": _source_key,
}


def _merge_keyed(base: list[Any], extra: list[Any], key: Callable[[Any], str]) -> list[Any]:
    merged = {key(entry): entry for entry in base}
    merged.update({key(entry): entry for entry in extra})
    return list(merged.values())


def _merge_value(path: tuple[str, ...], base: Any, extra: Any) -> Any:
    if path in _MAPPINGS:
        sep = ":" if path == ("extra_hosts",) else "="
        if path == ("networks",) and not isinstance(extra, Mapping | list):
            return extra
        merged = _as_mapping(base, sep)
        merged.update(_as_mapping(extra, sep))
        return merged
    if len(path) == 1 and path[0] in _REPLACED:
        return extra
    if len(path) == 1 and path[0] in _KEYED and isinstance(base, list) \
            and isinstance(extra, list):
        return _merge_keyed(base, extra, _KEYED[path[0]])
    if isinstance(base, Mapping) and isinstance(extra, Mapping):
        return _merge_mapping(path, base, extra)
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def _merge_mapping(path: tuple[str, ...], base: Mapping[str, Any],
                   extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge_value((*path, key), merged[key], value) if key in merged \
            else value
    return merged


def merge_service(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` (a later compose file's definition of a service) merged into ``base``."""
    return _merge_mapping((), base, extra)
