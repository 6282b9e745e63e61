"""Every key a recipe's CI config may set, declared once.

The loader validates against this table, the context plugin turns declarative keys
into role variables from it, and docs/recipe-config.md is generated from it. Add a
key here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Key:
    """One config key: a declarative value (meta.yml) or a hook (hooks.py)."""

    name: str
    kind: Literal["value", "hook"]
    description: str
    types: tuple[type, ...] = ()
    default: Any = None
    role_var: str | None = None
    params: tuple[str, ...] = ()
    may_be_callable: bool = False
    # Accepted and validated so recipes can be written ahead, but nothing reads it
    # until this lands (e.g. "the functional tier").
    reserved_for: str = ""

    @property
    def reserved(self) -> bool:
        return bool(self.reserved_for)

    @property
    def type_name(self) -> str:
        if self.kind == "hook":
            return f"hook({', '.join(self.params)})"
        names = " | ".join(t.__name__ for t in self.types)
        return f"{names} | callable(ctx)" if self.may_be_callable else names


def _value(name: str, types: tuple[type, ...], default: Any, role_var: str | None,
           description: str, *, may_be_callable: bool = False, reserved_for: str = "") -> Key:
    return Key(name, "value", description, types, default, role_var,
               may_be_callable=may_be_callable, reserved_for=reserved_for)


def _hook(name: str, params: tuple[str, ...], description: str, *,
          reserved_for: str = "") -> Key:
    return Key(name, "hook", description, params=params, reserved_for=reserved_for)


FUNCTIONAL_TIER = "the functional tier"


# Seconds a deploy may take to converge when neither the CI config nor the recipe says.
DEFAULT_CONVERGE_TIMEOUT = 300

REGISTRY: dict[str, Key] = {
    key.name: key
    for key in (
        _value("HEALTH_PATH", (str,), "/", "check_health_path",
               "HTTP path the install, upgrade and restore checks request."),
        _value("HEALTH_OK", (list,), [200], "check_health_ok",
               "HTTP status codes that count as healthy."),
        _value("HTTP_TIMEOUT", (int,), 60, "check_http_timeout",
               "Seconds the health check and READY_PROBE may take to succeed."),
        _value("DEPLOY_TIMEOUT", (int,), None, None,
               "Seconds a deploy may take to converge; default: the largest "
               "coop-cloud.<stack>.timeout label of the versions the run deploys, else "
               f"{DEFAULT_CONVERGE_TIMEOUT}."),
        _value("EXTRA_ENV", (dict,), {}, None,
               "Variables added to the deploy environment, over .env.sample.",
               may_be_callable=True),
        _value("UPGRADE_EXTRA_ENV", (dict,), {}, None,
               "Variables added to the environment of the upgraded deploy only.",
               may_be_callable=True),
        _value("DEPS", (list,), [], None,
               "Names of apps this recipe needs; their credentials reach hooks as ctx.deps.",
               reserved_for=FUNCTIONAL_TIER),
        _value("UPGRADE_BASE_VERSION", (str,), None, None,
               "Pins the version the upgrade tier starts from."),
        _value("EXPECTED_NA", (dict,), {}, None,
               "Tiers declared not applicable, as {tier: reason}."),
        _value("COMPOSE_FILE", (list,), [], None,
               "Compose files of the recipe added to its COMPOSE_FILE chain."),
        _hook("READY_PROBE", ("ctx",),
              "Returns true once the app is ready; retried until HTTP_TIMEOUT."),
        _hook("BACKUP_VERIFY", ("ctx",),
              "Checks a backup's content before it is trusted; raise or return false to fail."),
        _hook("SCREENSHOT", ("page", "ctx"),
              "Drives a Playwright page before the screenshot is taken.",
              reserved_for=FUNCTIONAL_TIER),
        _hook("pre_install", ("ctx",), "Runs before the first deploy."),
        _hook("pre_upgrade", ("ctx",), "Runs before the upgrade; seeds the data marker."),
        _hook("pre_backup", ("ctx",), "Runs before the backup; seeds the data marker."),
        _hook("pre_restore", ("ctx",), "Runs before the restore; changes or removes the marker."),
    )
}


def role_vars(values: dict[str, Any]) -> dict[str, Any]:
    """Role variables for the declarative keys that have one."""
    return {
        key.role_var: values[key.name]
        for key in REGISTRY.values()
        if key.kind == "value" and key.role_var and key.name in values
    }
