"""Contract tests: ccci's forge and Drone clients, and the ``!testme`` bridge, against
local stand-ins of the Gitea/Forgejo and Drone APIs (fake_forge, fake_drone).

Everything listens on 127.0.0.1 (free ports) and every request goes there. The tokens
and the webhook secret are random per session, so a test can look for them anywhere
(logs, replies, recorded requests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ccci.ci.bridge import Bridge, BridgeServer, make_server
from ccci.ci.config import ServiceConfig, load_config
from tests.contract.fake_drone import FakeDrone
from tests.contract.fake_forge import FakeForge

FORGE_TOKEN = "forge-" + secrets.token_hex(16)
DRONE_TOKEN = "drone-" + secrets.token_hex(16)
WEBHOOK_SECRET = "hook-" + secrets.token_hex(16)
SECRET_VALUES = (FORGE_TOKEN, DRONE_TOKEN, WEBHOOK_SECRET)

RECIPE_REPO = "coop-cloud/example-site"  # enrolled as RECIPE
RECIPE = "example-site"
OTHER_REPO = "coop-cloud/not-enrolled"
DRONE_REPO = "coop-cloud/ccci"
MAINTAINER = "maint"
PR = 7
HEAD = "3f" * 20
REPORT_BASE = "https://ccci.example.org/runs/"


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    fake = FakeForge(FORGE_TOKEN).start()
    fake.set_permission(RECIPE_REPO, MAINTAINER, "write")
    fake.add_pull(RECIPE_REPO, PR, HEAD)
    yield fake
    fake.stop()


@pytest.fixture
def drone() -> Iterator[FakeDrone]:
    fake = FakeDrone(DRONE_TOKEN, repos=(DRONE_REPO,)).start()
    yield fake
    fake.stop()


def secrets_env() -> dict[str, str]:
    return {"CCCI_FORGE_TOKEN": FORGE_TOKEN, "CCCI_DRONE_TOKEN": DRONE_TOKEN,
            "CCCI_WEBHOOK_SECRET": WEBHOOK_SECRET}


def write_config(path: Path, forge_base: str, drone_base: str, **extra: Any) -> Path:
    data = {"forge_url": forge_base, "drone_url": drone_base, "drone_repo": DRONE_REPO,
            "drone_branch": "main", "forge_user": "ccci-bot",
            "report_base_url": REPORT_BASE, "listen_host": "127.0.0.1", "listen_port": 0,
            "recipes": {RECIPE_REPO: RECIPE}, **extra}
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture
def config(forge: FakeForge, drone: FakeDrone, tmp_path: Path) -> ServiceConfig:
    """The configuration as the CLI loads it: a file and the environment."""
    path = write_config(tmp_path / "bridge.yml", forge.url, drone.url)
    return load_config(path, secrets_env())


@pytest.fixture
def bridge(config: ServiceConfig) -> Iterator[BridgeServer]:
    """The real bridge serving on 127.0.0.1 (a free port) in a thread."""
    server = make_server(config, Bridge(config))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def comment_payload(body: str = "!testme", *, repo: str = RECIPE_REPO, number: int = PR,
                    user: str = MAINTAINER, state: str = "open", pull: bool = True,
                    action: str = "created") -> dict[str, Any]:
    """An ``issue_comment`` payload as Gitea sends it (the fields the bridge reads and
    a few around them)."""
    owner, name = repo.split("/")
    pull_request = {"merged": False, "merged_at": None} if pull else None
    return {
        "action": action,
        "issue": {"id": 9000 + number, "number": number, "title": "Bump the image",
                  "state": state, "user": {"login": "contributor"},
                  "pull_request": pull_request},
        "comment": {"id": 77, "body": body, "user": {"login": user},
                    "html_url": f"https://git.example.org/{repo}/pulls/{number}"},
        "repository": {"id": 3, "name": name, "full_name": repo,
                       "owner": {"login": owner}, "private": False},
        "sender": {"login": user},
        "is_pull": pull,
    }


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


Send = Callable[..., requests.Response]


@pytest.fixture
def send(bridge: BridgeServer) -> Send:
    """POST a payload to the bridge as Gitea does: signed, ``X-Gitea-Event`` set.
    ``signature=None`` sends no signature; ``forgejo=True`` sends Forgejo's headers."""

    def post(payload: dict[str, Any] | bytes, *, event: str = "issue_comment",
             secret: str = WEBHOOK_SECRET, signature: str | bool | None = True,
             forgejo: bool = False) -> requests.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        prefix = "X-Forgejo" if forgejo else "X-Gitea"
        headers = {"Content-Type": "application/json", f"{prefix}-Event": event,
                   f"{prefix}-Delivery": secrets.token_hex(8)}
        if signature is True:
            headers[f"{prefix}-Signature"] = sign(body, secret)
        elif isinstance(signature, str):
            headers[f"{prefix}-Signature"] = signature
        return requests.post(bridge.url, data=body, headers=headers, timeout=30)

    return post
