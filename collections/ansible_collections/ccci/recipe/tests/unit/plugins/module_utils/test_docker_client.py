"""The one Docker client factory: which daemon, which timeout, and its documented options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from ansible_collections.ccci.recipe.plugins.doc_fragments.docker import ModuleDocFragment
from ansible_collections.ccci.recipe.plugins.module_utils import docker_client as dc


def test_docker_host_wins_over_the_environment():
    env = {"DOCKER_HOST": "tcp://10.0.0.1:2375"}
    assert dc.client_kwargs("unix:///run/other.sock", env) == {"base_url": "unix:///run/other.sock"}


def test_docker_host_environment_then_local_socket():
    assert dc.client_kwargs(None, {"DOCKER_HOST": "ssh://ci@host"})["base_url"] == "ssh://ci@host"
    assert dc.client_kwargs(None, {}) == {"base_url": dc.LOCAL_SOCKET}
    assert dc.client_kwargs("", {}) == {"base_url": dc.LOCAL_SOCKET}


def test_tls_settings_come_with_docker_host_from_the_environment(tmp_path: Path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("")
    env = {
        "DOCKER_HOST": "tcp://127.0.0.1:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path),
    }
    kwargs = dc.client_kwargs(None, env)
    assert kwargs["base_url"] == "tcp://127.0.0.1:2376"
    tls = kwargs["tls"]
    assert tls.verify is True
    assert tls.ca_cert == str(tmp_path / "ca.pem")
    assert tls.cert == (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))


def test_connect_passes_the_timeout(monkeypatch: pytest.MonkeyPatch):
    seen: dict[str, Any] = {}

    class FakeClient:
        def __init__(self, **kwargs: Any) -> None:
            seen.update(kwargs)

    monkeypatch.setattr(docker, "DockerClient", FakeClient)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    dc.connect(None, timeout=365)
    assert seen == {"version": "auto", "timeout": 365, "base_url": dc.LOCAL_SOCKET}
    dc.connect("unix:///x.sock")
    assert seen["timeout"] == dc.DEFAULT_TIMEOUT and seen["base_url"] == "unix:///x.sock"


def test_an_unreachable_daemon_raises_docker_exception(tmp_path: Path):
    """Modules catch DockerException to fail with 'cannot talk to Docker'."""
    with pytest.raises(dc.DockerException):
        dc.connect(f"unix://{tmp_path}/missing.sock", timeout=2)


def test_argument_spec_matches_the_doc_fragment():
    doc = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(doc) == set(dc.DOCKER_ARGS)
    for name, spec in dc.DOCKER_ARGS.items():
        assert doc[name]["type"] == spec["type"]
        assert doc[name].get("default") == spec.get("default")
