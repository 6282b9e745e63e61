"""Which blanks break a deploy: the values of a compose file checked after interpolation.

Docker substitutes a blank string for an unset variable and deploys, and published
recipes rely on it (``Host(`${DOMAIN}`${EXTRA_DOMAINS})``). A blank is only fatal
where the result is refused or deploys something else: an image reference that is
no longer valid, a port that is not a number, an empty secret or config name (or an
external one that no longer names the object). Those are errors naming the
variable; every other blank is a warning naming the variable and the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ccci.findings import Finding, finding

PORT_LABEL = re.compile(r"^traefik\.http\.services\.[^.]+\.loadbalancer\.server\.port$")

# distribution/reference's grammar, which docker uses to parse an image reference.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
# The first component is a registry only with a dot, a port, or as localhost.
_DOMAIN = (rf"(?:localhost(?::[0-9]+)?|{_DOMAIN_PART}(?:\.{_DOMAIN_PART})+(?::[0-9]+)?"
           rf"|{_DOMAIN_PART}:[0-9]+|\[[0-9a-fA-F:]+\](?::[0-9]+)?)")
_IMAGE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
_PORT_RANGE = re.compile(r"^\d+(?:-\d+)?$")


def valid_image(reference: str) -> bool:
    """Whether docker can parse ``reference`` as an image (name, tag, digest)."""
    return _IMAGE.match(reference) is not None


def valid_port_spec(spec: str) -> bool:
    """A short-syntax port (``[ip:][published:]target[/proto]``) as docker parses it.

    The published part may be empty (docker picks one); the target may not.
    """
    ports = spec.rsplit("/", 1)[0] if "/" in spec else spec
    parts = ports.rsplit(":", 2)
    target = parts[-1]
    published = parts[-2] if len(parts) > 1 else ""
    return bool(_PORT_RANGE.match(target)) and (published == "" or
                                                 bool(_PORT_RANGE.match(published)))


def _port_ok(value: Any, *, long_syntax: bool) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    if not isinstance(value, str):
        return value is None
    return value.isdigit() if long_syntax else valid_port_spec(value)


def _ports(service: Mapping[str, Any], base: str) -> Iterator[tuple[str, Any, bool]]:
    """(path, value, long syntax) of every port value of a service."""
    for i, port in enumerate(service.get("ports") or []):
        if isinstance(port, Mapping):
            for key in ("target", "published"):
                if key in port:
                    yield f"{base}.ports[{i}].{key}", port[key], True
        else:
            yield f"{base}.ports[{i}]", port, False


def _labels(service: Mapping[str, Any], base: str) -> Iterator[tuple[str, str, str]]:
    """(path, label, value) of every deploy label, in either compose form."""
    raw = (service.get("deploy") or {}).get("labels") or {}
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            label, _, value = str(item).partition("=")
            yield f"{base}.deploy.labels[{i}]", label, value
    elif isinstance(raw, Mapping):
        for label, value in raw.items():
            yield f"{base}.deploy.labels.{label}", str(label), "" if value is None else str(value)


def _service_breaks(key: str, service: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(rule, path, what is wrong) for each value of a service that cannot deploy."""
    base = f"services.{key}"
    image = service.get("image")
    if isinstance(image, str) and not valid_image(image):
        yield "compose.image", f"{base}.image", f"image {image!r} is not a valid reference"
    for path, value, long_syntax in _ports(service, base):
        if not _port_ok(value, long_syntax=long_syntax):
            yield "compose.port", path, f"port {value!r} is not a number"
    for path, label, value in _labels(service, base):
        if PORT_LABEL.match(label) and not value.isdigit():
            yield "compose.port", path, f"{label}={value!r} is not a port number"


def _object_breaks(data: Mapping[str, Any], blanks: Mapping[str, list[str]]
                   ) -> Iterator[tuple[str, str, str]]:
    """Secrets and configs whose name is empty, or external and built from a blank."""
    for section in ("secrets", "configs"):
        for key, spec in (data.get(section) or {}).items():
            if not isinstance(spec, Mapping) or "name" not in spec:
                continue
            path = f"{section}.{key}.name"
            name = "" if spec["name"] is None else str(spec["name"])
            if not name:
                yield "compose.object-name", path, f"{section[:-1]} {key} has an empty name"
            elif spec.get("external") and path in blanks:
                yield ("compose.object-name", path,
                       f"external {section[:-1]} {key} is named {name!r}, not what was meant")


def _breaks(data: Mapping[str, Any], blanks: Mapping[str, list[str]]
            ) -> Iterator[tuple[str, str, str]]:
    for key, service in (data.get("services") or {}).items():
        if isinstance(service, Mapping):
            yield from _service_breaks(str(key), service)
    yield from _object_breaks(data, blanks)


def value_findings(file: str, data: Mapping[str, Any], blanks: Mapping[str, list[str]]
                   ) -> list[Finding]:
    """Errors for values that cannot deploy, warnings for every other blank.

    ``blanks`` maps a value's path (``services.app.image``) to the unset variables
    Docker replaced there with a blank string.
    """
    found: list[Finding] = []
    explained: set[str] = set()
    for rule, path, what in _breaks(data, blanks):
        names = blanks.get(path, [])
        verb = "is" if len(names) == 1 else "are"
        because = f" because {', '.join(names)} {verb} not set" if names else ""
        found.append(finding(rule, f"compose file {file}: {path}: {what}{because}",
                             file=file, key=path))
        explained.add(path)
    unset: dict[str, list[str]] = {}
    for path, names in blanks.items():
        if path not in explained:
            for name in names:
                unset.setdefault(name, []).append(path)
    for name, paths in sorted(unset.items()):
        found.append(finding(
            "interp.unset",
            f"compose file {file}: {name} is not set; docker stack deploy uses a blank "
            f"string in {', '.join(paths)}", file=file, key=name))
    return found
