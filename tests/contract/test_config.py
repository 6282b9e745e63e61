"""The bridge's configuration (ccci.ci.config): file, environment, secrets apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccci import cli
from ccci.ci.bridge import make_server
from ccci.ci.config import ANSWER, Secret, load_config
from ccci.ci.drone import DroneClient
from ccci.ci.forge import ForgeClient
from ccci.errors import BadInput
from tests.contract.conftest import (
    DRONE_TOKEN,
    FORGE_TOKEN,
    RECIPE,
    RECIPE_REPO,
    SECRET_VALUES,
    WEBHOOK_SECRET,
    secrets_env,
    write_config,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return write_config(tmp_path / "bridge.yml", "https://git.example.org/",
                        "https://drone.example.org")


def test_the_file_and_the_environment(path):
    config = load_config(path, {**secrets_env(), "CCCI_DRONE_BRANCH": "stable",
                                "CCCI_LISTEN_PORT": "9999"})

    assert config.forge_url == "https://git.example.org"
    assert config.drone_repo == "coop-cloud/ccci" and config.drone_branch == "stable"
    assert config.listen_host == "127.0.0.1" and config.listen_port == 9999
    assert config.recipe_for(RECIPE_REPO.upper()) == RECIPE
    assert config.recipe_for("coop-cloud/other") is None
    assert config.forge_token.reveal() == FORGE_TOKEN
    assert config.drone_build_url(12) == "https://drone.example.org/coop-cloud/ccci/12"
    assert config.report_url("run-1") == "https://ccci.example.org/runs/run-1/report.html"


def test_repr_and_str_never_show_a_secret(path):
    config = load_config(path, secrets_env())
    forge = ForgeClient(config.forge_url, config.forge_token)
    drone = DroneClient(config.drone_url, config.drone_token)

    shown = [repr(config), str(config), repr(config.forge_token), str(config.webhook_secret),
             f"{config.drone_token}", repr(forge), repr(drone), repr(vars(config))]

    assert not [text for text in shown for secret in SECRET_VALUES if secret in text]
    assert "https://git.example.org" in repr(config)


def test_secrets_from_files(path, tmp_path):
    (tmp_path / "forge").write_text(FORGE_TOKEN + "\n")
    env = {**secrets_env(), "CCCI_FORGE_TOKEN_FILE": str(tmp_path / "forge")}
    del env["CCCI_FORGE_TOKEN"]

    assert load_config(path, env).forge_token == Secret(FORGE_TOKEN)


@pytest.mark.parametrize("missing", ["CCCI_FORGE_TOKEN", "CCCI_DRONE_TOKEN",
                                     "CCCI_WEBHOOK_SECRET"])
def test_a_missing_secret_is_named(path, missing):
    env = secrets_env()
    del env[missing]

    with pytest.raises(BadInput, match=f"set {missing} or {missing}_FILE"):
        load_config(path, env)


def test_a_missing_key_is_named(tmp_path):
    path = tmp_path / "bridge.yml"
    path.write_text(json.dumps({"forge_url": "https://git.example.org"}))

    with pytest.raises(BadInput, match=r"missing drone_url .*drone_repo"):
        load_config(path, secrets_env())


def test_the_answer_needs_only_the_forge(tmp_path):
    path = tmp_path / "answer.yml"
    path.write_text("forge_url: https://git.example.org\n")

    config = load_config(path, {"CCCI_FORGE_TOKEN": FORGE_TOKEN}, role=ANSWER)

    assert config.drone_token is None and config.webhook_secret is None
    with pytest.raises(BadInput, match="missing forge_token"):
        load_config(path, {}, role=ANSWER)


def test_a_secret_in_the_file_is_refused(tmp_path):
    path = write_config(tmp_path / "bridge.yml", "https://git.example.org",
                        "https://drone.example.org", forge_token="inline")

    with pytest.raises(BadInput, match="secrets are not read from the file") as info:
        load_config(path, secrets_env())
    assert "inline" not in str(info.value)


@pytest.mark.parametrize(("extra", "message"), [
    ({"listen_host": "0.0.0.0"}, "not a loopback address"),
    ({"listen_port": "http"}, "listen_port must be a number"),
    ({"forge_url": "git.example.org"}, "forge_url must be an http"),
    ({"drone_repo": "ccci"}, "drone_repo must be owner/name"),
    ({"recipes": ["example-site"]}, "recipes must map"),
    ({"recipes": {"example-site": "example-site"}}, "must be owner/name"),
    ({"recepies": {}}, "unknown key"),
])
def test_bad_values_are_named(tmp_path, extra, message):
    path = write_config(tmp_path / "bridge.yml", "https://git.example.org",
                        "https://drone.example.org", **extra)

    with pytest.raises(BadInput, match=message):
        load_config(path, secrets_env())


def test_a_public_address_only_when_allowed(tmp_path):
    path = write_config(tmp_path / "bridge.yml", "https://git.example.org",
                        "https://drone.example.org", listen_host="0.0.0.0",
                        allow_non_loopback=True)

    assert load_config(path, secrets_env()).listen_host == "0.0.0.0"  # not bound here


def test_the_server_binds_loopback_by_default(path):
    config = load_config(path, {**secrets_env(), "CCCI_LISTEN_PORT": "0"})
    server = make_server(config)
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/hook")
    finally:
        server.server_close()


def test_both_a_secret_and_its_file_is_refused(path, tmp_path):
    (tmp_path / "secret").write_text(WEBHOOK_SECRET)
    env = {**secrets_env(), "CCCI_WEBHOOK_SECRET_FILE": str(tmp_path / "secret")}

    with pytest.raises(BadInput, match="not both"):
        load_config(path, env)


def test_an_unreadable_secret_file_is_named(path, tmp_path):
    env = {**secrets_env(), "CCCI_DRONE_TOKEN_FILE": str(tmp_path / "absent")}
    del env["CCCI_DRONE_TOKEN"]

    with pytest.raises(BadInput, match=r"CCCI_DRONE_TOKEN_FILE .*cannot read") as info:
        load_config(path, env)
    assert DRONE_TOKEN not in str(info.value)


def test_ccci_bridge_refuses_a_bad_config(tmp_path, monkeypatch, capsys):
    for name in ("CCCI_FORGE_TOKEN", "CCCI_DRONE_TOKEN", "CCCI_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    path = write_config(tmp_path / "bridge.yml", "https://git.example.org",
                        "https://drone.example.org")

    assert cli.main(["bridge", "--config", str(path)]) == 2
    assert "missing forge_token (set CCCI_FORGE_TOKEN" in capsys.readouterr().err
    assert cli.main(["bridge", "--config", str(tmp_path / "absent.yml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_ccci_bridge_serves_the_config_it_loaded(tmp_path, monkeypatch, capsys):
    for name, value in secrets_env().items():
        monkeypatch.setenv(name, value)
    path = write_config(tmp_path / "bridge.yml", "https://git.example.org",
                        "https://drone.example.org")
    served = []

    def fake_serve(config, ready):
        served.append(config)
        ready("http://127.0.0.1:1/hook")

    monkeypatch.setattr("ccci.ci.bridge.serve", fake_serve)

    assert cli.main(["bridge", "--config", str(path)]) == 0
    assert served[0].drone_repo == "coop-cloud/ccci"
    out = capsys.readouterr()
    assert out.out == "http://127.0.0.1:1/hook\n"
    assert not [s for s in SECRET_VALUES if s in out.out + out.err]
