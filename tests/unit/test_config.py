"""Loading a recipe's CI config: defaults, validation, hook signatures."""

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from ccci.config import load_recipe_config
from ccci.config.loader import ConfigError
from ccci.config.registry import REGISTRY, role_vars

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
        ("DEPLOY_TIMEOUT: soon\n", r"DEPLOY_TIMEOUT must be int, not str"),
        ("HEALTH_OK: 200\n", r"HEALTH_OK must be list, not int"),
        ("HEALTH_OK: ['200']\n", r"HEALTH_OK must list integer status codes"),
        ("READY_PROBE: true\n", r"READY_PROBE is a hook and must be a function READY_PROBE\(ctx\)"),
        ("HTTP_TIMEOUT: true\n", r"HTTP_TIMEOUT must be int, not bool"),
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
        ("HEALTH_PATH = lambda ctx: '/'\n", r"HEALTH_PATH must be a value \(str\), not a callable"),
        ("pre_backup = 3\n", r"pre_backup is a hook and must be a function"),
        ("def broken(:\n", r"hooks.py:1: syntax error"),
        ("raise RuntimeError('boom')\n", r"failed to import: RuntimeError\('boom'\)"),
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


def test_reserved_keys_are_validated_and_documented_as_reserved(tmp_path):
    from ccci.config.docs import render

    assert {k.name for k in REGISTRY.values() if k.reserved} == {"DEPS", "SCREENSHOT"}
    doc = render()
    for name in ("DEPS", "SCREENSHOT"):
        [row] = [line for line in doc.splitlines() if line.startswith(f"| `{name}` |")]
        assert "Reserved: not used until the functional tier lands." in row
    _write(tmp_path, "app", meta="DEPS: postgres\n")
    with pytest.raises(ConfigError, match="DEPS"):
        load_recipe_config("app", tmp_path)
    _write(tmp_path, "ok", meta="DEPS: [postgres]\n",
           hooks="def SCREENSHOT(page, ctx):\n    pass\n")
    config = load_recipe_config("ok", tmp_path)
    assert config.get("DEPS") == ["postgres"]
