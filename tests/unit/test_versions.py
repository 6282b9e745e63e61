"""Recipe version tags order by their semver part only."""

from ccci.versions import (
    not_releases,
    parse_version,
    previous_versions,
    sort_versions,
    tag_findings,
)


def test_order_by_semver_not_upstream():
    tags = ["1.10.0+1.0", "1.2.0+9.9", "1.1.1+6-alpine", "0.9.0+2.0.1-social-amd64"]
    assert [v.tag for v in sort_versions(tags)] == [
        "0.9.0+2.0.1-social-amd64", "1.1.1+6-alpine", "1.2.0+9.9", "1.10.0+1.0",
    ]


def test_non_version_tags_are_dropped():
    assert [v.tag for v in sort_versions(["latest", "v1.0.0", "1.0", "2.0.0+x"])] == ["2.0.0+x"]


def test_prerelease_sorts_before_release():
    ordered = [v.tag for v in sort_versions(["1.0.0+a", "1.0.0-rc.2+a", "1.0.0-rc.10+a"])]
    assert ordered == ["1.0.0-rc.2+a", "1.0.0-rc.10+a", "1.0.0+a"]


def test_parse_parts():
    version = parse_version("2.0.1+1.0.6-social-amd64")
    assert version is not None
    assert version.semver == "2.0.1"
    assert version.upstream == "1.0.6-social-amd64"
    assert parse_version("not-a-version") is None


def test_previous_versions_are_strictly_below():
    tags = ["1.0.0+1", "1.1.0+1", "1.2.0+1", "1.2.0+2"]
    assert [v.tag for v in previous_versions(tags, "1.2.0+2")] == ["1.0.0+1", "1.1.0+1"]
    assert previous_versions(tags, "1.0.0+1") == []


def test_a_release_needs_both_parts_and_the_upstream_may_carry_suffixes():
    for tag in ("1.0.0+1.0.6-social-amd64", "3.1.0+27.0.1-fpm", "0.1.0-rc.1+2_3"):
        assert parse_version(tag) is not None, tag
    for tag in ("2.0.0", "v2.4.8", "v2.4.8+1.0", "1.0+2", "latest", "1.0.0+"):
        assert parse_version(tag) is None, tag


def test_tags_that_are_not_releases_are_one_warning():
    [warning] = tag_findings(["1.0.0+1", "v2.4.8", "latest", "2.0.0"])
    assert (warning.code, warning.severity, warning.key) == ("CCCI-W401", "warning", "tags")
    assert warning.message.endswith("never upgrade bases: 2.0.0, latest, v2.4.8")
    assert tag_findings(["1.0.0+1", "1.1.0+27.0.1-fpm"]) == []
    assert not_releases([]) == []
