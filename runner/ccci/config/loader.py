"""Loading and validating ``recipes/<name>/meta.yml`` and ``hooks.py``.

Everything is checked at load time, before any deploy, and each problem is one
error naming the recipe, the file and the key: a typo in a hook name must not
silently turn a tier green by never running the hook.
"""

from __future__ import annotations
import __future__

import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import yaml

from ccci.config.registry import REGISTRY
from ccci.errors import CcciError


class ConfigError(CcciError):
    """A recipe's CI config is invalid."""


@dataclass(frozen=True)
class RecipeConfig:
    """A recipe's validated CI config: declarative values and hooks."""

    recipe: str
    folder: Path | None
    values: Mapping[str, Any] = field(default_factory=dict)
    hooks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        """A key's value, or its registry default."""
        if name in self.values:
            return self.values[name]
        return REGISTRY[name].default

    def overlay(self) -> Path | None:
        """The enrolled recipe's compose overlay, if it has one."""
        if self.folder and (self.folder / "compose.ccci.yml").is_file():
            return self.folder / "compose.ccci.yml"
        return None

    def resolved(self) -> dict[str, Any]:
        """Every declarative key with its value or default (callables left as they are)."""
        return {k.name: self.get(k.name) for k in REGISTRY.values() if k.kind == "value"}


def _check_value(recipe: str, where: str, name: str, value: Any) -> None:
    key = REGISTRY[name]
    if key.kind == "hook":
        raise ConfigError(
            f"{recipe}: {where}: {name} is a hook and must be a function "
            f"{name}({', '.join(key.params)}), not a {type(value).__name__}"
        )
    if callable(value):
        if not key.may_be_callable:
            raise ConfigError(
                f"{recipe}: {where}: {name} must be a value ({key.type_name}), not a callable"
            )
        _check_signature(recipe, where, name, value, ("ctx",))
        return
    if value is None and key.default is None:
        return
    if isinstance(value, bool) and bool not in key.types:
        ok = False
    else:
        ok = isinstance(value, key.types)
    if not ok:
        raise ConfigError(
            f"{recipe}: {where}: {name} must be {key.type_name}, "
            f"not {type(value).__name__} ({value!r})"
        )
    if name == "HEALTH_OK" and not all(isinstance(c, int) for c in value):
        raise ConfigError(f"{recipe}: {where}: HEALTH_OK must list integer status codes")
    if name in ("EXTRA_ENV", "UPGRADE_EXTRA_ENV"):
        bad = [k for k, v in value.items() if not isinstance(v, str | int | float)]
        if bad:
            raise ConfigError(f"{recipe}: {where}: {name} values must be strings: {bad}")


def _check_signature(
    recipe: str, where: str, name: str, func: Callable[..., Any], expected: tuple[str, ...]
) -> None:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        raise ConfigError(f"{recipe}: {where}: {name} is not a plain function") from None
    found = tuple(params)
    required = tuple(
        p.name for p in params.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    if found[: len(expected)] != expected or len(required) > len(expected):
        raise ConfigError(
            f"{recipe}: {where}: {name} has the wrong signature: expected "
            f"{name}({', '.join(expected)}), found {name}({', '.join(found)})"
        )


def _load_meta(recipe: str, path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{recipe}: {path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{recipe}: {path}: must be a mapping of KEY: value")
    for name, value in data.items():
        if name not in REGISTRY:
            raise ConfigError(f"{recipe}: {path}: unknown key {name!r}")
        _check_value(recipe, str(path), name, value)
    return data


def _import_hooks(recipe: str, path: Path) -> ModuleType:
    module_name = f"ccci_recipe_hooks_{recipe.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ConfigError(
            f"{recipe}: {path}:{exc.lineno}: syntax error: {exc.msg}"
        ) from None
    except Exception as exc:
        raise ConfigError(f"{recipe}: {path}: failed to import: {exc!r}") from None
    sys.modules.pop(module_name, None)
    return module


def _load_hooks(recipe: str, path: Path) -> tuple[dict[str, Any], dict[str, Callable[..., Any]]]:
    module = _import_hooks(recipe, path)
    values: dict[str, Any] = {}
    hooks: dict[str, Callable[..., Any]] = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if isinstance(obj, __future__._Feature):
            continue  # `from __future__ import annotations`
        if getattr(obj, "__module__", module.__name__) != module.__name__ and (
            inspect.isfunction(obj) or inspect.isclass(obj)
        ):
            continue  # imported helpers, e.g. `from json import dumps`
        if inspect.isclass(obj):
            continue
        if name not in REGISTRY:
            raise ConfigError(
                f"{recipe}: {path}: unknown name {name!r} (prefix private helpers with '_')"
            )
        key = REGISTRY[name]
        if key.kind == "hook":
            if not callable(obj):
                raise ConfigError(
                    f"{recipe}: {path}: {name} is a hook and must be a function "
                    f"{name}({', '.join(key.params)}), not a {type(obj).__name__}"
                )
            _check_signature(recipe, str(path), name, obj, key.params)
            hooks[name] = obj
        else:
            _check_value(recipe, str(path), name, obj)
            values[name] = obj
    return values, hooks


def load_recipe_config(recipe: str, config_root: Path) -> RecipeConfig:
    """Load ``config_root/<recipe>/``; a recipe without a folder gets the defaults."""
    folder = config_root / recipe
    if not folder.is_dir():
        return RecipeConfig(recipe=recipe, folder=None)
    values: dict[str, Any] = {}
    hooks: dict[str, Callable[..., Any]] = {}
    meta = folder / "meta.yml"
    if meta.is_file():
        values.update(_load_meta(recipe, meta))
    hooks_file = folder / "hooks.py"
    if hooks_file.is_file():
        hook_values, hooks = _load_hooks(recipe, hooks_file)
        for name in hook_values:
            if name in values:
                raise ConfigError(
                    f"{recipe}: {name} is set in both meta.yml and hooks.py; keep one"
                )
        values.update(hook_values)
    return RecipeConfig(
        recipe=recipe,
        folder=folder,
        values=MappingProxyType(values),
        hooks=MappingProxyType(hooks),
    )
