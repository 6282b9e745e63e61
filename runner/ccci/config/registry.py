"""Every key a recipe's CI config may set, declared once.

The loader validates against this table, the context plugin turns declarative keys
into role variables from it, and docs/recipe-config.md is generated from it. Add a
key here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ccci.config.rules import (
    Rule,
    absolute_path,
    at_least,
    dns_names,
    env_values,
    not_applicable,
    secret_sources,
    status_codes,
    strings,
)
from ccci.levels import TIERS


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
    # Constraints beyond the type (ccci.config.rules), checked by the loader and shown
    # in the docs.
    rules: tuple[Rule, ...] = ()

    @property
    def reserved(self) -> bool:
        return bool(self.reserved_for)

    @property
    def type_name(self) -> str:
        if self.kind == "hook":
            return f"hook({', '.join(self.params)})"
        names = " | ".join(t.__name__ for t in self.types)
        if self.rules:
            names += f" ({'; '.join(rule.text for rule in self.rules)})"
        return f"{names} | callable(ctx)" if self.may_be_callable else names


def _value(name: str, types: tuple[type, ...], default: Any, role_var: str | None,
           description: str, *, may_be_callable: bool = False, reserved_for: str = "",
           rules: tuple[Rule, ...] = ()) -> Key:
    return Key(name, "value", description, types, default, role_var,
               may_be_callable=may_be_callable, reserved_for=reserved_for, rules=rules)


def _hook(name: str, params: tuple[str, ...], description: str, *,
          reserved_for: str = "") -> Key:
    return Key(name, "hook", description, params=params, reserved_for=reserved_for)



# Seconds a deploy may take to converge when neither the CI config nor the recipe says.
DEFAULT_CONVERGE_TIMEOUT = 300

# RESOLVE_IMAGE: docker stack deploy's --resolve-image choices.
RESOLVE_IMAGE_MODES = ("always", "changed", "never")

# Seconds one call of a hook (or one marker probe) may take unless the config says.
DEFAULT_HOOK_TIMEOUT = 300

# The functional tier: seconds per test and for the whole session; the generic checks
# every recipe gets (ccci.functional.generic), each declarable not applicable.
DEFAULT_TEST_TIMEOUT = 60
DEFAULT_FUNCTIONAL_TIMEOUT = 600
GENERIC_CHECKS = ("converged", "stable_tasks", "health", "version_label", "secrets_hidden",
                  "screenshot")


def _seconds_per_hook() -> Rule:
    """HOOK_TIMEOUTS: a misspelt hook name would leave that hook at the default unseen."""

    def problem(limits: dict[Any, Any]) -> str | None:
        hooks = [key.name for key in REGISTRY.values() if key.kind == "hook"]
        unknown = [name for name in limits if name not in hooks]
        if unknown:
            return f"names unknown hook(s) {unknown!r}; hooks: {', '.join(hooks)}"
        bad = {name: seconds for name, seconds in limits.items()
               if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1}
        if bad:
            return f"must give each hook a whole number of seconds ≥ 1, not {bad!r}"
        return None

    return Rule("{hook name: seconds ≥ 1}", problem)

REGISTRY: dict[str, Key] = {
    key.name: key
    for key in (
        _value("HEALTH_PATH", (str,), "/", "check_health_path",
               "HTTP path the install, upgrade and restore checks request.",
               rules=(absolute_path(),)),
        _value("HEALTH_OK", (list,), [200], "check_health_ok",
               "HTTP status codes that count as healthy.", rules=(status_codes(),)),
        _value("HTTP_TIMEOUT", (int,), 60, "check_http_timeout",
               "Seconds the health check and READY_PROBE may take to succeed.",
               rules=(at_least(1),)),
        _value("DEPLOY_TIMEOUT", (int,), None, None,
               "Seconds a deploy may take to converge; default: the largest "
               "coop-cloud.<stack>.timeout label of the versions the run deploys, else "
               f"{DEFAULT_CONVERGE_TIMEOUT}.", rules=(at_least(1),)),
        _value("MAX_TASK_FAILURES", (int,), 3, "deploy_max_task_failures",
               "Task failures of one service after which a deploy fails at once (a crash "
               "loop). Failures count only while every other service has converged: an "
               "app that exits until its database is up waits for it, within the deploy "
               "timeout.", rules=(at_least(1),)),
        _value("RESOLVE_IMAGE", (str,), "never", "deploy_resolve_image",
               "Pull the stack's images from their registry: always (every deploy pulls "
               "each image first, then deploys with docker stack deploy --resolve-image "
               "always), changed (pulls only images the host lacks; Docker resolves only "
               "changed references) or "
               "never (images are on the host already, e.g. built there). A pull fails the "
               "deploy at once with the registry's answer, before anything is deployed.",
               rules=(Rule("always, changed or never", lambda value: None
                           if value in RESOLVE_IMAGE_MODES
                           else f"must be one of {', '.join(RESOLVE_IMAGE_MODES)}, "
                                f"not {value!r}"),)),
        _value("HOOK_TIMEOUT", (int,), DEFAULT_HOOK_TIMEOUT, None,
               "Seconds one call of a hook or of a marker probe may take before it is "
               "killed (with every process it started) and fails its tier. READY_PROBE "
               "and marker probes also stop at the end of their retry window.",
               rules=(at_least(1),)),
        _value("HOOK_TIMEOUTS", (dict,), {}, None,
               "HOOK_TIMEOUT for single hooks, e.g. {pre_install: 600}.",
               rules=(_seconds_per_hook(),)),
        _value("EXTRA_ENV", (dict,), {}, None,
               "Variables added to the deploy environment, over .env.sample.",
               may_be_callable=True, rules=(env_values(),)),
        _value("SECRET_VALUES", (dict,), {}, None,
               "Values for secrets the operator inserts (generate=false in .env.sample), "
               "or pinned for generated ones: secret name -> name of an environment "
               "variable of the ccci process holding the value. Read on the controller "
               "when the secret is created, never written to the run directory or logs. "
               "A generate=false secret not listed gets a random value (CCCI-W302).",
               rules=(secret_sources(),)),
        _value("UPGRADE_EXTRA_ENV", (dict,), {}, None,
               "Variables added to the environment of the upgraded deploy only.",
               may_be_callable=True, rules=(env_values(),)),
        _value("EXTRA_DOMAINS", (list,), [], None,
               "Aliases of the app (e.g. [www.${DOMAIN}]): deployed in Co-op Cloud's "
               "EXTRA_DOMAINS format (, `www.x`) and each requested by the install, upgrade "
               "and restore checks. Through the proxy each must be under ccci.test; one the "
               "proxy's wildcard certificate does not cover gets a certificate of its own for "
               "the run. ccci run --extra-domain adds more.",
               rules=(dns_names("${DOMAIN}"),)),
        _value("DEPS", (list,), [], None,
               "Names of apps this recipe needs; their credentials reach hooks as ctx.deps "
               "and functional tests as the deps fixture (requires_deps skips without them).",
               rules=(strings(),)),
        _value("UPGRADE_BASE_VERSION", (str,), None, None,
               "Pins the version the upgrade tier starts from."),
        _value("EXPECTED_NA", (dict,), {}, None,
               "Tiers declared not applicable, as {tier: reason}; also `idempotence` (the "
               "install tier's second deploy of the same version, for a recipe whose "
               "deploy cannot be repeated unchanged) and each generic check of the "
               f"functional tier ({', '.join(GENERIC_CHECKS)}).",
               rules=(not_applicable(TIERS, always="install",
                                     checks=("idempotence", *GENERIC_CHECKS)),)),
        _value("TEST_TIMEOUT", (int,), DEFAULT_TEST_TIMEOUT, None,
               "Seconds one functional test (recipe's or generic) may take; a test past it "
               "is stopped and reported as timed out, and the session goes on.",
               rules=(at_least(1),)),
        _value("FUNCTIONAL_TIMEOUT", (int,), DEFAULT_FUNCTIONAL_TIMEOUT, None,
               "Seconds the whole functional session may take; past it the session is "
               "killed with everything it started and the tier fails, naming the test that "
               "was running.", rules=(at_least(1),)),
        _value("COMPOSE_FILE", (list,), [], None,
               "Compose files of the recipe added to its COMPOSE_FILE chain.",
               rules=(strings(),)),
        _hook("READY_PROBE", ("ctx",),
              "Returns true once the app is ready; retried until HTTP_TIMEOUT."),
        _hook("BACKUP_VERIFY", ("ctx",),
              "Checks a backup's content before it is trusted; raise or return false to fail."),
        _hook("SCREENSHOT", ("page", "ctx"),
              "Drives the functional tier's Playwright page (already at the app's front "
              "page) before the screenshot is taken: log in, open a view."),
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
