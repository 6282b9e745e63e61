"""Choosing the base version and the hops of an upgrade."""

import pytest

from ccci.errors import BadInput
from ccci.upgrade_path import NO_RELEASE, upgrade_path

TAGS = ["1.0.0+1", "1.1.0+1", "1.10.0+1", "1.2.0+1", "not-a-version"]


def test_base_is_the_highest_version_below_the_target():
    assert upgrade_path(TAGS, "1.10.0+1").versions == ("1.2.0+1",)
    assert upgrade_path(TAGS, "2.0.0+2").versions == ("1.10.0+1",)


def test_no_earlier_version_is_a_skip_with_reason():
    path = upgrade_path(TAGS, "1.0.0+1")
    assert path.versions == ()
    assert path.skip_reason == "no published version below 1.0.0+1"
    assert upgrade_path(TAGS, None).skip_reason.startswith("the version under test has no")


def test_pinned_base():
    assert upgrade_path(TAGS, "1.10.0+1", pinned_base="1.0.0+1").versions == ("1.0.0+1",)
    with pytest.raises(BadInput, match="is not a published version"):
        upgrade_path(TAGS, "1.10.0+1", pinned_base="0.9.0+1")
    with pytest.raises(BadInput, match="is not below"):
        upgrade_path(TAGS, "1.1.0+1", pinned_base="1.2.0+1")


def test_chain_goes_through_every_later_version():
    assert upgrade_path(TAGS, "1.10.0+1", hops_back=3).versions == (
        "1.0.0+1", "1.1.0+1", "1.2.0+1")
    with pytest.raises(BadInput, match="only 3 published version"):
        upgrade_path(TAGS, "1.10.0+1", hops_back=4)


def test_zero_hops_back_is_no_chain():
    """0 is what the playbooks pass for "not given"; the CLI's 0 must plan the same."""
    assert upgrade_path(TAGS, "1.10.0+1", hops_back=0) == upgrade_path(TAGS, "1.10.0+1")
    assert upgrade_path(TAGS, "1.0.0+1", hops_back=0).skip_reason == (
        "no published version below 1.0.0+1")


def test_zero_hops_back_with_a_pinned_base_keeps_the_pinned_base():
    path = upgrade_path(TAGS, "1.10.0+1", pinned_base="1.0.0+1", hops_back=0)
    assert path.versions == ("1.0.0+1",)


@pytest.mark.parametrize("hops", [1, 2])
def test_a_chain_and_a_pinned_base_conflict(hops):
    with pytest.raises(BadInput, match="cannot be used together"):
        upgrade_path(TAGS, "1.10.0+1", pinned_base="1.0.0+1", hops_back=hops)


@pytest.mark.parametrize("pinned", [None, "1.0.0+1"])
def test_negative_hops_back_is_refused(pinned):
    with pytest.raises(BadInput, match="--upgrade-from -1: must be a number of versions"):
        upgrade_path(TAGS, "1.10.0+1", pinned_base=pinned, hops_back=-1)


def test_one_hop_back_is_the_default_base_but_needs_one():
    assert upgrade_path(TAGS, "1.10.0+1", hops_back=1).versions == ("1.2.0+1",)
    with pytest.raises(BadInput, match="only 0 published version"):
        upgrade_path(TAGS, "1.0.0+1", hops_back=1)


def test_bad_arguments_are_refused_even_without_a_target_version():
    with pytest.raises(BadInput, match="is not a published version"):
        upgrade_path(TAGS, None, pinned_base="0.9.0+1")
    with pytest.raises(BadInput, match="cannot be used together"):
        upgrade_path(TAGS, None, pinned_base="1.0.0+1", hops_back=2)


def test_without_any_release_tag_the_upgrade_is_skipped_with_a_reason():
    for target in ("1.0.0+1", None):
        path = upgrade_path(["v2.4.8", "latest"], target)
        assert path.versions == ()
        assert path.skip_reason == NO_RELEASE


def test_a_tag_that_is_not_a_release_is_never_a_base():
    tags = ["1.0.0+1", "v1.5.0", "1.6.0", "2.0.0+1"]
    assert upgrade_path(tags, "2.0.0+1").versions == ("1.0.0+1",)
    assert upgrade_path(tags, "2.0.0+1", hops_back=1).versions == ("1.0.0+1",)
    with pytest.raises(BadInput, match=r"CCCI-E501 UPGRADE_BASE_VERSION v1.5.0 is not a "
                                       r"published version \(a release tag"):
        upgrade_path(tags, "2.0.0+1", pinned_base="v1.5.0")
