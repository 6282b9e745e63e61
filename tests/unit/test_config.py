"""Loading a recipe's CI config: defaults, validation, hook signatures."""

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from ccci.config import load_recipe_config
from ccci.config.loader import ConfigError
from ccci.config.registry import REGISTRY, role_vars
from ccci.context import env_overrides
from ccci.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]


def _write(root, recipe, meta=None, hooks=None):
    folder = root / recipe
    folder.mkdir(parents=True)
    if meta is not None:
        (folder / "meta.yml").write_text(textwrap.dedent(meta))
    if hooks is not None:
        (folder / "hooks.py").write_text(textwrap.dedent(hooks))
    return folder


def test_recipe_without_folder_gets_defaults(tmp_path):
    config = load_recipe_config("unknown", tmp_path)
    assert config.folder is None
    assert config.get("HEALTH_PATH") == "/"
    assert config.get("HEALTH_OK") == [200]
    assert config.hooks == {}


def test_meta_and_hooks_load(tmp_path):
    _write(tmp_path, "app", meta="HEALTH_PATH: /health\nDEPLOY_TIMEOUT: 90\n", hooks="""
        import json

        def _helper():
            return 1

        def READY_PROBE(ctx):
            return True

        def pre_install(ctx):
            pass

        EXTRA_ENV = {"FEATURE": "on"}
    """)
    config = load_recipe_config("app", tmp_path)
    assert config.get("HEALTH_PATH") == "/health"
    assert config.get("EXTRA_ENV") == {"FEATURE": "on"}
    assert set(config.hooks) == {"READY_PROBE", "pre_install"}
    assert role_vars(config.resolved())["check_health_path"] == "/health"
    assert "deploy_timeout" not in role_vars(config.resolved())  # planned in the context


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("HEALTHPATH: /\n", r"app: .*meta.yml: unknown key 'HEALTHPATH'"),
        ("DEPLOY_TIMEOUT: soon\n", r"DEPLOY_TIMEOUT must be int \(≥ 1\), not str"),
        ("HEALTH_OK: 200\n",
         r"HEALTH_OK must be list \(HTTP status codes 100-599, at least one\), not int"),
        ("HEALTH_OK: ['200']\n", r"HEALTH_OK must list HTTP status codes \(integers 100-599\), "
                                 r"not \['200'\]"),
        ("READY_PROBE: true\n", r"READY_PROBE is a hook and must be a function READY_PROBE\(ctx\)"),
        ("HTTP_TIMEOUT: true\n", r"HTTP_TIMEOUT must be int \(≥ 1\), not bool"),
        ("[unclosed\n", r"invalid YAML"),
    ],
)
def test_bad_meta_is_named(tmp_path, meta, message):
    _write(tmp_path, "app", meta=meta)
    with pytest.raises(ConfigError, match=message):
        load_recipe_config("app", tmp_path)


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ("def READY_PROBE(domain):\n    pass\n",
         r"READY_PROBE has the wrong signature: expected READY_PROBE\(ctx\), "
         r"found READY_PROBE\(domain\)"),
        ("def SCREENSHOT(ctx):\n    pass\n",
         r"expected SCREENSHOT\(page, ctx\), found SCREENSHOT\(ctx\)"),
        ("def pre_instal(ctx):\n    pass\n", r"unknown name 'pre_instal'"),
        ("HEALTH_PATH = lambda ctx: '/'\n",
         r"HEALTH_PATH must be a value \(str \(starts with /\)\), not a callable"),
        ("pre_backup = 3\n", r"pre_backup is a hook and must be a function"),
        ("def broken(:\n", r"hooks.py:1: syntax error"),
        ("raise RuntimeError('boom')\n",
         r"app: .*/app/hooks.py: importing it raised RuntimeError: boom at hooks.py:1$"),
    ],
)
def test_bad_hooks_are_named(tmp_path, hooks, message):
    _write(tmp_path, "app", hooks=hooks)
    with pytest.raises(ConfigError, match=message):
        load_recipe_config("app", tmp_path)


def test_callable_env_is_allowed_with_ctx(tmp_path):
    _write(tmp_path, "app", hooks="def EXTRA_ENV(ctx):\n    return {'A': ctx.domain}\n")
    config = load_recipe_config("app", tmp_path)
    assert callable(config.get("EXTRA_ENV"))


def test_same_key_in_both_files_is_refused(tmp_path):
    _write(tmp_path, "app", meta="EXTRA_ENV: {A: b}\n", hooks="EXTRA_ENV = {'A': 'c'}\n")
    with pytest.raises(ConfigError, match=r"set in both meta.yml and hooks.py"):
        load_recipe_config("app", tmp_path)


def test_every_key_is_documented():
    for key in REGISTRY.values():
        assert key.description.endswith("."), key.name


def test_role_argument_specs_agree_with_the_registry():
    """Role variables fed from the config keep the registry's defaults and types."""
    roles = ROOT / "collections/ansible_collections/ccci/recipe/roles"
    types = {str: "str", int: "int", list: "list", dict: "dict"}
    for key in REGISTRY.values():
        if not key.role_var:
            continue
        role = key.role_var.split("_", 1)[0]
        spec = yaml.safe_load((roles / role / "meta/argument_specs.yml").read_text())
        option = spec["argument_specs"]["main"]["options"][key.role_var]
        assert option["type"] == types[key.types[0]], key.name
        assert option.get("default") == key.default, key.name


# Where a key could be read: the runner, the collection's code and roles, the playbooks.
# Role argument specs only describe options, so they do not count as a use.
USERS = [ROOT / "runner/ccci", ROOT / "collections/ansible_collections/ccci/recipe/plugins",
         ROOT / "collections/ansible_collections/ccci/recipe/roles", ROOT / "playbooks"]
NOT_USES = {"registry.py", "docs.py", "argument_specs.yml"}


def _used(word: str) -> list[str]:
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])")
    return [
        str(path.relative_to(ROOT))
        for folder in USERS
        for path in folder.rglob("*")
        if path.suffix in (".py", ".yml", ".yaml") and path.name not in NOT_USES
        and pattern.search(path.read_text())
    ]


@pytest.mark.parametrize("key", list(REGISTRY.values()), ids=lambda key: key.name)
def test_a_key_is_reserved_exactly_when_nothing_uses_it(key):
    """A documented key nothing reads misleads recipe authors: mark it reserved."""
    users = _used(key.name) + (_used(key.role_var) if key.role_var else [])
    if key.reserved:
        assert not users, f"{key.name} is used by {users}: it is no longer reserved"
    else:
        assert users, f"nothing uses {key.name}: implement it or mark it reserved_for"


def test_the_functional_tier_keys_are_validated_and_no_longer_reserved(tmp_path):
    from ccci.config.docs import render

    assert {k.name for k in REGISTRY.values() if k.reserved} == set()
    doc = render()
    for name in ("DEPS", "SCREENSHOT", "TEST_TIMEOUT"):
        [row] = [line for line in doc.splitlines() if line.startswith(f"| `{name}` |")]
        assert "Reserved" not in row
    _write(tmp_path, "slow", meta="TEST_TIMEOUT: 0\n")
    with pytest.raises(ConfigError, match="TEST_TIMEOUT"):
        load_recipe_config("slow", tmp_path)
    _write(tmp_path, "na", meta="EXPECTED_NA: {screenshot: no web page}\n")
    assert load_recipe_config("na", tmp_path).get("EXPECTED_NA") == {
        "screenshot": "no web page"}
    _write(tmp_path, "app", meta="DEPS: postgres\n")
    with pytest.raises(ConfigError, match="DEPS"):
        load_recipe_config("app", tmp_path)
    _write(tmp_path, "ok", meta="DEPS: [postgres]\n",
           hooks="def SCREENSHOT(page, ctx):\n    pass\n")
    config = load_recipe_config("ok", tmp_path)
    assert config.get("DEPS") == ["postgres"]


# Constraints beyond the type: each declared once in the registry (ccci.config.rules),
# checked here and shown in docs/recipe-config.md.
@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("EXPECTED_NA: {bakup: stateless}\n",
         r"app: .*/app/meta.yml: EXPECTED_NA names unknown tier\(s\) or check\(s\) "
         r"\['bakup'\]; choose among upgrade, backup, restore, functional, lint, "
         r"idempotence, converged, stable_tasks, health, version_label, secrets_hidden, "
         r"screenshot$"),
        ("EXPECTED_NA: {install: no app}\n",
         r"EXPECTED_NA cannot declare install not applicable: nothing would be deployed, "
         r"so nothing would be tested"),
        ("EXPECTED_NA: {backup: ''}\n",
         r"EXPECTED_NA needs a reason \(a non-empty string\) for each tier: none for \['backup'\]"),
        ("EXPECTED_NA: {backup: null}\n", r"EXPECTED_NA needs a reason"),
        ("EXPECTED_NA: [backup]\n", r"EXPECTED_NA must be dict .*, not list"),
        ("HEALTH_OK: []\n", r"HEALTH_OK is empty: list at least one HTTP status code"),
        ("HEALTH_OK: [200, 999]\n", r"HEALTH_OK must list HTTP status codes .*not \[999\]"),
        ("HEALTH_OK: [99]\n", r"not \[99\]"),
        ("HEALTH_OK: [true]\n", r"not \[True\]"),
        ("DEPLOY_TIMEOUT: 0\n", r"app: .*meta.yml: DEPLOY_TIMEOUT must be at least 1, not 0$"),
        ("HTTP_TIMEOUT: -5\n", r"HTTP_TIMEOUT must be at least 1, not -5$"),
        ("HOOK_TIMEOUT: 0\n", r"HOOK_TIMEOUT must be at least 1, not 0$"),
        ("HEALTH_PATH: health\n", r"HEALTH_PATH must start with '/', not 'health'"),
        ("COMPOSE_FILE: [compose.extra.yml, '']\n", r"COMPOSE_FILE must list non-empty strings"),
        ("DEPS: [1]\n", r"DEPS must list non-empty strings, not \[1\]"),
        ("EXTRA_ENV: {A: {nested: 1}}\n",
         r"EXTRA_ENV values must be strings or numbers: \['A'\]"),
        ("UPGRADE_EXTRA_ENV: {A: [1]}\n", r"UPGRADE_EXTRA_ENV values must be strings or numbers"),
        ("- HEALTH_PATH: /\n", r"meta.yml: must be a mapping of KEY: value, not a list"),
        ("just text\n", r"meta.yml: must be a mapping of KEY: value, not a str"),
    ],
)
def test_value_constraints(tmp_path, meta, message):
    _write(tmp_path, "app", meta=meta)
    with pytest.raises(ConfigError, match=message):
        load_recipe_config("app", tmp_path)


def test_valid_constraints_pass(tmp_path):
    _write(tmp_path, "app", meta="""\
        EXPECTED_NA: {backup: stateless, restore: stateless}
        HEALTH_OK: [200, 301, 599, 100]
        DEPLOY_TIMEOUT: 1
        HEALTH_PATH: /health?full=1
        EXTRA_ENV: {A: x, B: 2, C: 1.5}
        COMPOSE_FILE: [compose.smtp.yml]
    """)
    config = load_recipe_config("app", tmp_path)
    assert config.get("EXPECTED_NA") == {"backup": "stateless", "restore": "stateless"}


def test_hooks_values_are_held_to_the_same_constraints(tmp_path):
    _write(tmp_path, "app", hooks="EXPECTED_NA = {'install': 'x'}\nHTTP_TIMEOUT = 0\n")
    with pytest.raises(ConfigError) as info:
        load_recipe_config("app", tmp_path)
    assert [p.split(": ", 2)[2] for p in info.value.problems] == [
        "EXPECTED_NA cannot declare install not applicable: nothing would be deployed, "
        "so nothing would be tested",
        "HTTP_TIMEOUT must be at least 1, not 0",
    ]
    assert all(p.startswith("app: ") and "/app/hooks.py: " in p for p in info.value.problems)


def test_every_problem_of_both_files_is_listed(tmp_path):
    """One ConfigError lists them all, so `ccci check` can show every one."""
    _write(tmp_path, "app", meta="HEALTH_OK: []\nDEPLOY_TIMEOUT: 0\nNOPE: 1\n",
           hooks="def pre_instal(ctx):\n    pass\n")
    with pytest.raises(ConfigError) as info:
        load_recipe_config("app", tmp_path)
    problems = info.value.problems
    assert len(problems) == 4, problems
    assert str(info.value) == "\n".join(problems)
    assert isinstance(info.value, BadInput)


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ("import sys\nsys.exit()\n",
         r"app: .*/app/hooks.py: importing it raised SystemExit at hooks.py:2 "
         r"\(a hooks file must not exit: ccci would stop with it\)$"),
        ("import sys\n\nsys.exit(3)\n", r"importing it raised SystemExit: 3 at hooks.py:3"),
        ("def _f():\n    raise ValueError('bad')\n\n_f()\n",
         r"importing it raised ValueError: bad at hooks.py:2$"),
        ("import json\njson.loads('{')\n",
         r"importing it raised JSONDecodeError: .* at hooks.py:2$"),
        ("import no_such_module_here\n",
         r"importing it raised ModuleNotFoundError: No module named 'no_such_module_here'"),
    ],
)
def test_hooks_that_fail_on_import_are_named(tmp_path, hooks, message):
    _write(tmp_path, "app", hooks=hooks)
    with pytest.raises(ConfigError, match=message):
        load_recipe_config("app", tmp_path)


def test_ctrl_c_while_importing_hooks_is_not_swallowed(tmp_path):
    _write(tmp_path, "app", hooks="raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        load_recipe_config("app", tmp_path)


EXTRA_ENV_HOOKS = """\
def _port(ctx):
    return int(ctx.domain)


def EXTRA_ENV(ctx):
    return {"PORT": _port(ctx)}


def UPGRADE_EXTRA_ENV(ctx):
    return _RESULT


_RESULT = None
"""


def _env_config(tmp_path, result: str = "{'A': 'b'}"):
    _write(tmp_path, "app", hooks=EXTRA_ENV_HOOKS.replace("_RESULT = None", f"_RESULT = {result}"))
    return load_recipe_config("app", tmp_path)


def test_extra_env_that_raises_is_bad_input_naming_the_line(tmp_path):
    config = _env_config(tmp_path)
    with pytest.raises(ConfigError) as info:
        env_overrides(config, "EXTRA_ENV", "not-a-number.test")
    assert isinstance(info.value, BadInput)
    assert str(info.value) == (
        f"app: {tmp_path}/app/hooks.py: EXTRA_ENV(ctx) raised ValueError: invalid literal "
        "for int() with base 10: 'not-a-number.test' at hooks.py:2"
    )


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ("['A=b']", r"UPGRADE_EXTRA_ENV\(ctx\)'s result must be dict \(values: strings or "
                    r"numbers\), not list \(\['A=b'\]\)$"),
        ("{'A': {'x': 1}}", r"UPGRADE_EXTRA_ENV\(ctx\)'s result values must be strings or numbers"),
        ("lambda ctx: {}", r"UPGRADE_EXTRA_ENV\(ctx\)'s result must be a value \(dict .*\), "
                           r"not a callable$"),
    ],
)
def test_extra_env_results_are_validated_like_literals(tmp_path, result, message):
    config = _env_config(tmp_path, result)
    with pytest.raises(ConfigError, match=message):
        env_overrides(config, "UPGRADE_EXTRA_ENV", "app.test")


def test_extra_env_results_become_strings(tmp_path):
    assert env_overrides(_env_config(tmp_path, "{'A': 1}"), "UPGRADE_EXTRA_ENV", "x.test") == {
        "A": "1"
    }


def test_sys_exit_in_extra_env_is_caught(tmp_path):
    _write(tmp_path, "app", hooks="import sys\n\ndef EXTRA_ENV(ctx):\n    sys.exit(1)\n")
    config = load_recipe_config("app", tmp_path)
    with pytest.raises(ConfigError, match=r"EXTRA_ENV\(ctx\) raised SystemExit: 1 at hooks.py:4"):
        env_overrides(config, "EXTRA_ENV", "app.test")


def test_constraints_are_documented():
    """The docs show every rule's text next to its key, from the same declaration."""
    from ccci.config.docs import render

    doc = render()
    for key in REGISTRY.values():
        [row] = [line for line in doc.splitlines() if line.startswith(f"| `{key.name}` |")]
        for rule in key.rules:
            assert rule.text in row, key.name
    assert sum(bool(key.rules) for key in REGISTRY.values()) >= 8
