"""Which published versions an upgrade run deploys before the version under test.

The base is the highest published version below the version under test, by the
semver part of the tags; ``UPGRADE_BASE_VERSION`` pins it, and ``--upgrade-from N``
starts N versions back and upgrades through every later one (N=0: no chain).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccci.findings import problem
from ccci.versions import parse_version, previous_versions, sort_versions

NO_RELEASE = ("the recipe has no release tag (<semver>+<upstream>, e.g. 1.2.0+3.4), so "
              "there is no published version to upgrade from")


@dataclass(frozen=True)
class UpgradePath:
    """The versions to deploy before the target, oldest first; empty with a reason."""

    versions: tuple[str, ...] = ()
    skip_reason: str = ""


def upgrade_path(
    tags: list[str],
    target: str | None,
    *,
    pinned_base: str | None = None,
    hops_back: int | None = None,
) -> UpgradePath:
    """Plan the upgrade to ``target`` (a version string) from the published ``tags``.

    ``hops_back`` None or 0 means no chain: one hop, from the pinned or the default
    base. The playbooks' ``upgrade_from`` defaults to 0 with that meaning, and
    ``ccci run --upgrade-from 0`` must plan what ``-e upgrade_from=0`` plans. The
    arguments are checked first, so bad input is refused even when the target has
    no version to upgrade to.
    """
    releases = [v.tag for v in sort_versions(tags)]
    _check_arguments(releases, pinned_base, hops_back)
    if not releases:
        return UpgradePath(skip_reason=NO_RELEASE)
    if target is None or parse_version(target) is None:
        return UpgradePath(skip_reason="the version under test has no version label or "
                           "release tag")
    earlier = [v.tag for v in previous_versions(tags, target)]
    if pinned_base:
        if pinned_base not in earlier:
            raise problem("upgrade.base", f"UPGRADE_BASE_VERSION {pinned_base} is not below "
                          f"{target}", key="UPGRADE_BASE_VERSION")
        return UpgradePath(versions=(pinned_base,))
    if hops_back:
        if hops_back > len(earlier):
            raise problem("upgrade.base", f"--upgrade-from {hops_back}: only {len(earlier)} "
                          f"published version(s) below {target}")
        return UpgradePath(versions=tuple(earlier[-hops_back:]))
    if not earlier:
        return UpgradePath(skip_reason=f"no published version below {target}")
    return UpgradePath(versions=(earlier[-1],))


def _check_arguments(releases: list[str], pinned_base: str | None,
                     hops_back: int | None) -> None:
    """Refuse what can be refused without a target, so bad input never passes silently."""
    if hops_back is not None and hops_back < 0:
        raise problem("upgrade.base", f"--upgrade-from {hops_back}: must be a number of "
                      "versions, 1 or more")
    if pinned_base and hops_back:
        raise problem("upgrade.base", "UPGRADE_BASE_VERSION and --upgrade-from cannot be "
                      "used together", key="UPGRADE_BASE_VERSION")
    if pinned_base and pinned_base not in releases:
        raise problem("upgrade.base", f"UPGRADE_BASE_VERSION {pinned_base} is not a published "
                      "version (a release tag <semver>+<upstream>)", key="UPGRADE_BASE_VERSION")
