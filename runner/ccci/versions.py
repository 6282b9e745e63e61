"""Recipe versions: git tags ``<recipe semver>+<upstream version>``.

Co-op Cloud orders versions by the semver part alone; the upstream part after ``+``
is a label (``6-alpine``, ``1.0.6-social-amd64``) and may not even be semver. Only
tags with both parts are releases: repositories also carry other tags (``v2.4.8``
from before the convention, an app's own tags), which are never upgrade bases and
are reported once, as a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ccci.findings import Finding, finding

_TAG = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?\+(?P<upstream>[0-9A-Za-z._-]+)$"
)


def _pre_key(pre: str | None) -> tuple:
    # A release sorts after its pre-releases; numeric identifiers sort numerically.
    if pre is None:
        return (1,)
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (0, parts)


@dataclass(frozen=True, order=True)
class Version:
    """A parsed recipe version; compares by semver, ties broken by the full tag."""

    sort_key: tuple = field(repr=False)
    tag: str = field(compare=True)
    upstream: str = field(compare=False, default="")

    @property
    def semver(self) -> str:
        return self.tag.split("+", 1)[0]


def parse_version(tag: str) -> Version | None:
    """The release a tag names, or None when it is not ``<semver>+<upstream>``."""
    match = _TAG.match(tag.strip())
    if not match:
        return None
    key = (
        int(match["major"]),
        int(match["minor"]),
        int(match["patch"]),
        _pre_key(match["pre"]),
    )
    return Version(sort_key=key, tag=tag.strip(), upstream=match["upstream"])


def sort_versions(tags: list[str]) -> list[Version]:
    """Recipe versions among ``tags``, oldest first; other tags are dropped."""
    return sorted(v for v in map(parse_version, tags) if v is not None)


def previous_versions(tags: list[str], current: str) -> list[Version]:
    """Published versions strictly below ``current`` by semver, oldest first."""
    target = parse_version(current)
    if target is None:
        return []
    return [v for v in sort_versions(tags) if v.sort_key[:4] < target.sort_key[:4]]


def not_releases(tags: list[str]) -> list[str]:
    """The tags that are not releases, sorted."""
    return sorted(tag for tag in tags if parse_version(tag) is None)


def tag_findings(tags: list[str]) -> list[Finding]:
    """One warning listing every tag that is not a release; none when all are."""
    others = not_releases(tags)
    if not others:
        return []
    return [finding(
        "tags.not-release",
        f"{len(others)} tag(s) are not releases (<semver>+<upstream>, e.g. 1.2.0+3.4) and "
        f"are never upgrade bases: {', '.join(others)}", key="tags")]
