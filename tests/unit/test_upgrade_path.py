"""Choosing the base version and the hops of an upgrade."""

import pytest

from ccci.errors import BadInput
from ccci.upgrade_path import upgrade_path

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
