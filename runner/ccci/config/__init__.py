"""A recipe's CI config: the key registry, the loader and the hook context."""

from ccci.config.hookctx import CommandResult, HookCtx, Snapshot
from ccci.config.loader import RecipeConfig, load_recipe_config
from ccci.config.registry import REGISTRY, Key

__all__ = [
    "REGISTRY",
    "CommandResult",
    "HookCtx",
    "Key",
    "RecipeConfig",
    "Snapshot",
    "load_recipe_config",
]
