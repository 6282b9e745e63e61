"""The bridge's configuration: a YAML file, environment overrides, secrets apart.

The file holds what may be read by anyone with access to the machine::

    forge_url: https://git.coopcloud.tech      # Gitea or Forgejo
    drone_url: https://build.coopcloud.tech
    drone_repo: coop-cloud/ccci                # whose pipeline runs ccci
    drone_branch: main
    forge_user: ccci-bot                       # the account the forge token belongs to
    report_base_url: https://ccci.example.org/runs/
    listen_host: 127.0.0.1
    listen_port: 8810
    recipes:                                   # forge repository -> ccci recipe
      coop-cloud/example-site: example-site
    trusted_recipes: [example-site]            # may run their repository's .ccci/ code

``trusted_recipes`` is the trust gate's approved list (ccci.trust): recipes whose
repository's own ``.ccci/`` hooks and tests run on the controller; default none. Like
``recipes`` it is read from the file only, never from the environment, which a build's
parameters reach.

Every plain key may be overridden by ``CCCI_<KEY>`` in the environment (e.g.
``CCCI_DRONE_URL``). Secrets are never read from the file (a file that names one is
refused): ``CCCI_FORGE_TOKEN``, ``CCCI_DRONE_TOKEN`` and ``CCCI_WEBHOOK_SECRET``, or
the same names with ``_FILE`` naming a file that holds the value. They are kept as
``Secret`` objects whose repr and str never show the value.

The bridge listens on a loopback address unless the file says ``allow_non_loopback:
true`` (put a reverse proxy with TLS in front of it instead).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ccci.errors import BadInput

DEFAULT_PORT = 8810
DEFAULT_BRANCH = "main"
# Roles: what the configuration is loaded for, hence what it must hold.
BRIDGE, ANSWER, TRUST = "bridge", "answer", "trust"
SECRETS = {"forge_token": "CCCI_FORGE_TOKEN", "drone_token": "CCCI_DRONE_TOKEN",
           "webhook_secret": "CCCI_WEBHOOK_SECRET"}
PLAIN_KEYS = ("forge_url", "drone_url", "drone_repo", "drone_branch", "forge_user",
              "report_base_url", "listen_host", "listen_port", "allow_non_loopback")
FILE_KEYS = (*PLAIN_KEYS, "recipes", "trusted_recipes")
REQUIRED = {
    BRIDGE: ("forge_url", "drone_url", "drone_repo", "forge_token", "drone_token",
             "webhook_secret"),
    ANSWER: ("forge_url", "forge_token"),
    TRUST: (),
}


class Secret:
    """A token or key: its value only through ``reveal()``, never in a repr or str."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('<hidden>')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ServiceConfig:
    """What the bridge (and the answer at the end of a run) needs; secrets hidden."""

    forge_url: str
    drone_url: str = ""
    drone_repo: str = ""
    drone_branch: str = DEFAULT_BRANCH
    recipes: Mapping[str, str] = field(default_factory=dict)
    trusted_recipes: frozenset[str] = frozenset()
    report_base_url: str | None = None
    forge_user: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = DEFAULT_PORT
    allow_non_loopback: bool = False
    forge_token: Secret | None = field(default=None, repr=False)
    drone_token: Secret | None = field(default=None, repr=False)
    webhook_secret: Secret | None = field(default=None, repr=False)

    def recipe_for(self, full_name: str) -> str | None:
        """The ccci recipe enrolled for forge repository ``owner/name`` (any case)."""
        return self.recipes.get(full_name.lower())

    def drone_build_url(self, number: int | str) -> str:
        """The Drone web page of build ``number`` of ``drone_repo``."""
        return f"{self.drone_url.rstrip('/')}/{self.drone_repo}/{number}"

    def report_url(self, run_name: str) -> str | None:
        """Where the report of run directory ``run_name`` is served, if anywhere."""
        if not self.report_base_url:
            return None
        return f"{self.report_base_url.rstrip('/')}/{run_name}/report.html"


def load_config(path: Path | str | None, env: Mapping[str, str] | None = None, *,
                role: str = BRIDGE) -> ServiceConfig:
    """The configuration from the YAML file at ``path`` (None: environment only) and
    ``env`` (default: the process environment). ``role`` (BRIDGE or ANSWER) says which
    keys must be present. Raises BadInput naming the problem."""
    env = os.environ if env is None else env
    values = _read_file(Path(path)) if path is not None else {}
    for key in PLAIN_KEYS:
        if env.get(_env_name(key)):
            values[key] = env[_env_name(key)]
    for key, name in SECRETS.items():
        secret = _secret(name, env)
        if secret is not None:
            values[key] = secret
    missing = [key for key in REQUIRED[role] if not values.get(key)]
    if missing:
        raise BadInput("bridge config: missing " + ", ".join(
            f"{key} (set {SECRETS[key]} or {SECRETS[key]}_FILE)" if key in SECRETS
            else f"{key} (config file key, or {_env_name(key)})" for key in missing))
    return _build(values)


def _env_name(key: str) -> str:
    return f"CCCI_{key.upper()}"


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"bridge config {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"bridge config {path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"bridge config {path}: must be a mapping of keys")
    secrets = sorted(k for k in data if k in SECRETS or str(k).endswith("_token"))
    if secrets:
        raise BadInput(f"bridge config {path}: secrets are not read from the file ("
                       + ", ".join(f"{k}: use {SECRETS.get(k, 'the environment')}"
                                   for k in secrets) + ")")
    unknown = sorted(str(k) for k in data if k not in FILE_KEYS)
    if unknown:
        raise BadInput(f"bridge config {path}: unknown key(s) {', '.join(unknown)}; "
                       f"known: {', '.join(FILE_KEYS)}")
    return dict(data)


def _secret(name: str, env: Mapping[str, str]) -> Secret | None:
    """``name`` from ``env``, or the content of the file ``<name>_FILE`` names."""
    direct, file_name = env.get(name), env.get(f"{name}_FILE")
    if direct and file_name:
        raise BadInput(f"bridge config: set {name} or {name}_FILE, not both")
    if direct:
        return Secret(direct.strip())
    if not file_name:
        return None
    try:
        value = Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BadInput(f"bridge config: {name}_FILE {file_name}: cannot read: "
                       f"{exc.strerror}") from None
    if not value:
        raise BadInput(f"bridge config: {name}_FILE {file_name} is empty")
    return Secret(value)


def _build(values: dict[str, Any]) -> ServiceConfig:
    config = ServiceConfig(
        forge_url=_url(values, "forge_url"),
        drone_url=_url(values, "drone_url"),
        drone_repo=_slug(values.get("drone_repo"), "drone_repo", required=False),
        drone_branch=_text(values, "drone_branch") or DEFAULT_BRANCH,
        recipes=_recipes(values.get("recipes")),
        trusted_recipes=_recipe_names(values.get("trusted_recipes"), "trusted_recipes"),
        report_base_url=_url(values, "report_base_url") or None,
        forge_user=_text(values, "forge_user") or None,
        listen_host=_text(values, "listen_host") or "127.0.0.1",
        listen_port=_port(values.get("listen_port", DEFAULT_PORT)),
        allow_non_loopback=_flag(values.get("allow_non_loopback", False)),
        forge_token=values.get("forge_token"),
        drone_token=values.get("drone_token"),
        webhook_secret=values.get("webhook_secret"),
    )
    if not config.allow_non_loopback and not is_loopback(config.listen_host):
        raise BadInput(f"bridge config: listen_host {config.listen_host} is not a loopback "
                       "address; put a reverse proxy in front, or set allow_non_loopback: "
                       "true")
    return config


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(values: dict[str, Any], key: str) -> str:
    value = values.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise BadInput(f"bridge config: {key} must be a string")
    return str(value).strip()


def _url(values: dict[str, Any], key: str) -> str:
    url = _text(values, key)
    if url and not url.startswith(("http://", "https://")):
        raise BadInput(f"bridge config: {key} must be an http(s) URL, not {url!r}")
    return url.rstrip("/")


def _slug(value: Any, key: str, *, required: bool = True) -> str:
    text = "" if value is None else str(value).strip()
    if not text and not required:
        return ""
    parts = text.split("/")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in text):
        raise BadInput(f"bridge config: {key} must be owner/name, not {text!r}")
    return text


def _recipes(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput("bridge config: recipes must map forge repositories (owner/name) "
                       "to ccci recipe names")
    recipes = {}
    for repo, recipe in value.items():
        name = _slug(repo, "a key of recipes")
        if not isinstance(recipe, str) or not recipe.strip():
            raise BadInput(f"bridge config: recipes: {name} needs a recipe name")
        recipes[name.lower()] = recipe.strip()
    return recipes


def _recipe_names(value: Any, key: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                              for v in value):
        raise BadInput(f"bridge config: {key} must be a list of ccci recipe names")
    return frozenset(v.strip() for v in value)


def _port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise BadInput(f"bridge config: listen_port must be a number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise BadInput(f"bridge config: listen_port {port} is out of range")
    return port


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0", ""):
        return False
    raise BadInput(f"bridge config: allow_non_loopback must be true or false, not {value!r}")
