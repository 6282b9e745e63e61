"""A service over several compose files merges as docker stack deploy merges it."""

from ccci.compose_merge import merge_service

BASE = {
    "image": "app:1",
    "command": ["serve", "--port", "80"],
    "environment": ["A=1", "B=2"],
    "volumes": ["data:/srv/data", "cache:/srv/cache:ro"],
    "secrets": ["db_password"],
    "ports": ["8080:80"],
    "dns": ["1.1.1.1"],
    "networks": ["proxy"],
    "deploy": {"labels": ["traefik.enable=true", "x.port=80"], "replicas": 1},
}


def test_labels_and_environment_merge_by_key_in_either_form():
    merged = merge_service(BASE, {
        "environment": {"B": "3", "C": "4"},
        "deploy": {"labels": {"x.port": "8080", "x.middleware": "h"}},
    })
    assert merged["environment"] == {"A": "1", "B": "3", "C": "4"}
    assert merged["deploy"] == {"labels": {"traefik.enable": "true", "x.port": "8080",
                                           "x.middleware": "h"}, "replicas": 1}


def test_keyed_lists_replace_entries_with_the_same_key_and_add_the_rest():
    merged = merge_service(BASE, {
        "volumes": [{"type": "volume", "source": "other", "target": "/srv/cache"}, "logs:/log"],
        "secrets": [{"source": "db_password", "target": "pw"}, "smtp"],
        "ports": ["8080:81", "9090:90"],
    })
    assert merged["volumes"] == [
        "data:/srv/data", {"type": "volume", "source": "other", "target": "/srv/cache"},
        "logs:/log"]
    assert merged["secrets"] == [{"source": "db_password", "target": "pw"}, "smtp"]
    assert merged["ports"] == ["8080:81", "9090:90"]


def test_commands_are_replaced_other_lists_appended_scalars_overridden():
    merged = merge_service(BASE, {"command": ["other"], "dns": ["8.8.8.8"], "image": "app:2",
                                  "networks": ["internal"]})
    assert merged["command"] == ["other"]
    assert merged["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert merged["image"] == "app:2"
    assert set(merged["networks"]) == {"proxy", "internal"}
    assert BASE["environment"] == ["A=1", "B=2"]  # inputs untouched
