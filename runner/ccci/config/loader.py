"""Loading and validating ``recipes/<name>/meta.yml`` and ``hooks.py``.

A recipe repository's own ``.ccci/hooks.py`` joins them when the trust gate let it in
(``ccci.trust``); a key may be set in one place only.

Everything is checked at load time, before any deploy, and each problem is one
error naming the recipe, the file and the key: a typo in a hook name must not
silently turn a tier green by never running the hook.
"""

from __future__ import annotations
import __future__

import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import yaml

from ccci.config.registry import REGISTRY, Key
from ccci.errors import BadInput


class ConfigError(BadInput):
    """A recipe's CI config is invalid: every problem found, one per line.

    A run stops at it; ``ccci check`` lists ``problems`` one by one, so a maintainer
    fixes them all in one pass.
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class RecipeConfig:
    """A recipe's validated CI config: declarative values and hooks."""

    recipe: str
    folder: Path | None
    values: Mapping[str, Any] = field(default_factory=dict)
    hooks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    # The recipe repository's .ccci/ folder, when its code was let in (ccci.trust).
    repo_folder: Path | None = None
    # The names set by the repository's .ccci/hooks.py (the rest come from ``folder``).
    repo_names: frozenset[str] = frozenset()

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

    @property
    def hooks_file(self) -> Path | None:
        """The enrolled hooks file; messages about its callables name it."""
        return self.folder / "hooks.py" if self.folder else None

    def file_of(self, name: str) -> Path | None:
        """The hooks file ``name`` comes from: the repository's or the enrolled one."""
        if name in self.repo_names and self.repo_folder is not None:
            return self.repo_folder / "hooks.py"
        return self.hooks_file

    def test_folders(self) -> list[Path]:
        """Where the recipe's own functional tests are: ``tests/`` of the enrolled
        folder, then of the repository's ``.ccci/`` when its code was let in."""
        return [f / "tests" for f in (self.folder, self.repo_folder) if f is not None]

    def resolved(self) -> dict[str, Any]:
        """Every declarative key with its value or default (callables left as they are)."""
        return {k.name: self.get(k.name) for k in REGISTRY.values() if k.kind == "value"}


def _hook_problem(key: Key, value: Any) -> str | None:
    if not callable(value):
        return (f"is a hook and must be a function {key.name}({', '.join(key.params)}), "
                f"not a {type(value).__name__}")
    return _signature_problem(key.name, value, key.params)


def _value_problem(key: Key, value: Any) -> str | None:
    """Why ``value`` cannot be ``key``'s value (kind, type, then its rules), or None."""
    if key.kind == "hook":
        return _hook_problem(key, value)
    if callable(value):
        if not key.may_be_callable:
            return f"must be a value ({key.type_name}), not a callable"
        return _signature_problem(key.name, value, ("ctx",))
    if value is None and key.default is None:
        return None
    if not isinstance(value, key.types) or (isinstance(value, bool) and bool not in key.types):
        return f"must be {key.type_name}, not {type(value).__name__} ({value!r})"
    for rule in key.rules:
        problem = rule.problem(value)
        if problem:
            return problem
    return None


def _signature_problem(
    name: str, func: Callable[..., Any], expected: tuple[str, ...]
) -> str | None:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return "is not a plain function"
    found = tuple(params)
    required = tuple(
        p.name for p in params.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    if found[: len(expected)] != expected or len(required) > len(expected):
        return (f"has the wrong signature: expected {name}({', '.join(expected)}), "
                f"found {name}({', '.join(found)})")
    return None


def describe_raised(exc: BaseException, hooks_file: Path | None) -> str:
    """``ValueError: boom at hooks.py:12``: the exception and the recipe's line that raised.

    The line is the innermost frame in ``hooks_file``, so a maintainer is pointed at
    their own code rather than at a library it called.
    """
    text = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    frames = [
        frame for frame in traceback.extract_tb(exc.__traceback__)
        if hooks_file is not None and frame.filename == str(hooks_file)
    ]
    if frames and hooks_file is not None:
        text += f" at {hooks_file.name}:{frames[-1].lineno}"
    if isinstance(exc, SystemExit):
        text += " (a hooks file must not exit: ccci would stop with it)"
    return text


def call_value(config: RecipeConfig, name: str, ctx: Any) -> Any:
    """A callable value's result (e.g. ``EXTRA_ENV(ctx)``), validated like a literal one.

    Whatever the callable raises (sys.exit() too; Ctrl-C excepted) becomes a
    ConfigError naming the recipe, hooks.py and its line, so the run is refused with
    a results.json instead of ending in a traceback.
    """
    key, func, where = REGISTRY[name], config.get(name), config.file_of(name)
    try:
        value = func(ctx)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise ConfigError(
            f"{config.recipe}: {where}: {name}(ctx) raised {describe_raised(exc, where)}"
        ) from None
    problem = _value_problem(replace(key, may_be_callable=False), value)
    if problem:
        raise ConfigError(f"{config.recipe}: {where}: {name}(ctx)'s result {problem}")
    return value


def _load_meta(recipe: str, path: Path, problems: list[str]) -> dict[str, Any]:
    """meta.yml's valid keys; each problem is appended to ``problems``."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        problems.append(f"{recipe}: {path}: invalid YAML: {exc}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{recipe}: {path}: must be a mapping of KEY: value, "
                        f"not a {type(data).__name__}")
        return {}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in REGISTRY:
            problems.append(f"{recipe}: {path}: unknown key {name!r}")
            continue
        problem = _value_problem(REGISTRY[name], value)
        if problem:
            problems.append(f"{recipe}: {path}: {name} {problem}")
        else:
            values[name] = value
    return values


def _import_hooks(recipe: str, path: Path, problems: list[str], *,
                  suffix: str = "") -> ModuleType | None:
    """hooks.py as a module, or None with the reason appended to ``problems``.

    Importing runs the recipe's code: anything it raises, sys.exit() included, is a
    problem of the recipe, never a silent exit of ccci.
    """
    module_name = f"ccci_recipe_hooks_{recipe.replace('-', '_')}{suffix}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        problems.append(f"{recipe}: {path}:{exc.lineno}: syntax error: {exc.msg}")
        return None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        problems.append(f"{recipe}: {path}: importing it raised {describe_raised(exc, path)}")
        return None
    finally:
        sys.modules.pop(module_name, None)
    return module


def _public_names(module: ModuleType) -> Iterator[tuple[str, Any]]:
    """The names of hooks.py that are config: not private, imported or a class."""
    for name, obj in vars(module).items():
        if name.startswith("_") or inspect.ismodule(obj) or inspect.isclass(obj):
            continue
        if isinstance(obj, __future__._Feature):
            continue  # `from __future__ import annotations`
        if inspect.isfunction(obj) and obj.__module__ != module.__name__:
            continue  # imported helpers, e.g. `from json import dumps`
        yield name, obj


def _load_hooks(
    recipe: str, path: Path, problems: list[str], *, suffix: str = ""
) -> tuple[dict[str, Any], dict[str, Callable[..., Any]]]:
    """hooks.py's valid values and hooks; each problem is appended to ``problems``."""
    values: dict[str, Any] = {}
    hooks: dict[str, Callable[..., Any]] = {}
    module = _import_hooks(recipe, path, problems, suffix=suffix)
    for name, obj in _public_names(module) if module else ():
        if name not in REGISTRY:
            problems.append(
                f"{recipe}: {path}: unknown name {name!r} (prefix private helpers with '_')"
            )
            continue
        key = REGISTRY[name]
        problem = _value_problem(key, obj)
        if problem:
            problems.append(f"{recipe}: {path}: {name} {problem}")
        elif key.kind == "hook":
            hooks[name] = obj
        else:
            values[name] = obj
    return values, hooks


def load_recipe_config(recipe: str, config_root: Path,
                       repo_folder: Path | None = None) -> RecipeConfig:
    """Load ``config_root/<recipe>/`` and, when given, the hooks of ``repo_folder`` (the
    recipe repository's ``.ccci/``, which the trust gate let in); a recipe without
    either gets the defaults.

    Every file is read in full before failing, so one ConfigError lists every
    problem found.
    """
    folder = config_root / recipe
    problems: list[str] = []
    values: dict[str, Any] = {}
    hooks: dict[str, Callable[..., Any]] = {}
    if folder.is_dir():
        meta, hooks_file = folder / "meta.yml", folder / "hooks.py"
        values = _load_meta(recipe, meta, problems) if meta.is_file() else {}
        hook_values, hooks = (
            _load_hooks(recipe, hooks_file, problems) if hooks_file.is_file() else ({}, {})
        )
        problems += [
            f"{recipe}: {folder}: {name} is set in both meta.yml and hooks.py; keep one"
            for name in hook_values if name in values
        ]
        values.update(hook_values)
    repo_names: set[str] = set()
    repo_hooks = repo_folder / "hooks.py" if repo_folder is not None else None
    if repo_hooks is not None and repo_hooks.is_file():
        repo_values, repo_own = _load_hooks(recipe, repo_hooks, problems, suffix="_repo")
        repo_names = {*repo_values, *repo_own}
        problems += [
            f"{recipe}: {name} is set in both {folder} and the recipe repository's "
            f"{repo_hooks}; keep one" for name in sorted(repo_names)
            if name in values or name in hooks
        ]
        values.update(repo_values)
        hooks.update(repo_own)
    if problems:
        raise ConfigError(problems)
    return RecipeConfig(
        recipe=recipe,
        folder=folder if folder.is_dir() else None,
        values=MappingProxyType(values),
        hooks=MappingProxyType(hooks),
        repo_folder=repo_folder,
        repo_names=frozenset(repo_names),
    )
