"""Which swarm host a run deploys on, and what its inventory variables say."""

from __future__ import annotations

import pytest

from ccci.errors import BadInput
from ccci.inventory import SwarmHost, choose_host, group_hosts, swarm_hosts

LISTING = {
    "_meta": {"hostvars": {}},
    "all": {"children": ["ungrouped", "swarm"]},
    "swarm": {"hosts": ["a"], "children": ["eu", "us"]},
    "eu": {"hosts": ["b", "a"], "children": ["us"]},
    "us": {"hosts": ["c"]},
    "other": {"hosts": ["d"]},
}


def test_the_group_takes_its_children_hosts_once_in_order():
    assert group_hosts(LISTING) == ["a", "b", "c"]
    assert group_hosts(LISTING, "other") == ["d"]
    assert group_hosts({}, "swarm") == []


def test_a_host_is_named_by_its_address_so_two_inventories_share_its_capacity():
    assert SwarmHost("h", {"ansible_connection": "local"}).address == "local"
    assert SwarmHost("h").address == "h:22"
    remote = SwarmHost("alias", {"ansible_host": "192.0.2.1", "ansible_port": 2222,
                                 "ansible_user": "root"})
    assert remote.address == "root@192.0.2.1:2222"
    assert not remote.local


@pytest.mark.parametrize(("raw", "expected"), [(None, 2), (1, 1), ("4", 4)])
def test_capacity_defaults_to_two_runs(raw, expected):
    hostvars = {} if raw is None else {"ccci_capacity": raw}
    assert SwarmHost("h", hostvars).capacity == expected


@pytest.mark.parametrize("raw", [0, -1, "two", True, 1.5])
def test_a_capacity_that_is_not_a_positive_whole_number_is_refused(raw):
    with pytest.raises(BadInput, match="ccci_capacity of h is"):
        SwarmHost("h", {"ccci_capacity": raw}).capacity  # noqa: B018 - the check is the read


def test_choosing_the_host():
    one, two = SwarmHost("one"), SwarmHost("two")
    assert choose_host([one], None, "inv.yml") is one
    assert choose_host([one, two], "two", "inv.yml") is two
    with pytest.raises(BadInput, match=r"has 2 swarm hosts \(one, two\): choose .* --host"):
        choose_host([one, two], None, "inv.yml")
    with pytest.raises(BadInput, match=r"three is not a host of group swarm in inventory "
                                       r"inv.yml \(one, two\)"):
        choose_host([one, two], "three", "inv.yml")
    with pytest.raises(BadInput, match="the default inventory has no host in group swarm"):
        choose_host([], None, None)


def test_hosts_and_their_variables_come_from_ansible_inventory(tmp_path):
    inventory = tmp_path / "inv.yml"
    inventory.write_text("swarm:\n  children:\n    eu:\n      hosts:\n        m1:\n"
                         "          ansible_host: 192.0.2.7\n          ccci_capacity: 3\n"
                         "all:\n  hosts:\n    elsewhere: {}\n")
    [host] = swarm_hosts(tmp_path, str(inventory))
    assert (host.name, host.address, host.capacity) == ("m1", "192.0.2.7:22", 3)
    with pytest.raises(BadInput, match="does not exist"):
        swarm_hosts(tmp_path, str(tmp_path / "missing.yml"))
