"""compose_images: the images a deploy will pull, interpolated as the deploy will be."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ccci.recipe.plugins.filter.compose_images import FilterModule

compose_images = FilterModule().filters()["compose_images"]

COMPOSE = """\
version: "3.8"
services:
  app:
    image: ${REGISTRY}/app:${APP_TAG:-1.0}
  db:
    image: ${REGISTRY}/db:15
  worker:
    image: ${REGISTRY}/app:${APP_TAG:-1.0}
"""


def test_images_of_the_chain_and_the_overlay_each_once(tmp_path):
    (tmp_path / "compose.yml").write_text(COMPOSE)
    overlay = tmp_path / "ci" / "compose.ccci.yml"
    overlay.parent.mkdir()
    overlay.write_text('version: "3.8"\nservices:\n  db:\n    image: ${REGISTRY}/db:16\n')
    env = {"REGISTRY": "127.0.0.1:5000", "APP_TAG": 2}
    assert compose_images(str(tmp_path), ["compose.yml"], env, [str(overlay)]) == [
        "127.0.0.1:5000/app:2", "127.0.0.1:5000/db:16"]


def test_a_compose_file_the_reader_refuses_is_a_filter_error(tmp_path):
    with pytest.raises(AnsibleFilterError, match=r"compose_images: .*missing\.yml"):
        compose_images(str(tmp_path), ["missing.yml"], {})
