"""``ccci.recipe.labelled_objects`` on the local swarm host, run through Ansible as
``ccci ls`` runs it: objects carrying the run label are listed under the label's
value, by kind; objects without it are not.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ccci.ansible import run_module, run_module_on_hosts

ROOT = Path(__file__).resolve().parents[2]
MODULE = "ccci.recipe.labelled_objects"


@pytest.fixture
def objects(docker_client) -> Iterator[dict[str, str]]:
    """A volume and a secret labelled for a fake run, and an unlabelled volume."""
    token = secrets.token_hex(4)
    run_id = f"lbl{token}"
    name = f"ccci-labelled-{token}"
    bare = f"ccci-unlabelled-{token}"
    made = []
    try:
        made.append(docker_client.volumes.create(name, labels={"ccci.run": run_id}))
        made.append(docker_client.secrets.create(name=name, data=b"labelled",
                                                 labels={"ccci.run": run_id}))
        made.append(docker_client.volumes.create(bare, labels={"ccci.test": run_id}))
        yield {"run_id": run_id, "name": name, "bare": bare}
    finally:
        for obj in made:
            with contextlib.suppress(docker.errors.NotFound):
                obj.remove()


def test_labelled_objects_are_listed_by_their_run(objects):
    result = run_module(MODULE, {}, project_root=ROOT, check=True)
    assert not result["failed"], result
    assert result["changed"] is False
    assert result["objects"][objects["run_id"]] == {
        "volumes": [objects["name"]], "secrets": [objects["name"]]}
    listed = {name for kinds in result["objects"].values() for names in kinds.values()
              for name in names}
    assert objects["bare"] not in listed


def test_another_label_key_is_listed_the_same_way_on_each_host(objects):
    results = run_module_on_hosts(MODULE, {"label": "ccci.test"}, ["localhost"],
                                  project_root=ROOT)
    assert list(results) == ["localhost"]
    result = results["localhost"]
    assert not result["failed"], result
    assert result["objects"][objects["run_id"]] == {"volumes": [objects["bare"]]}
    assert objects["name"] not in str(result["objects"])
