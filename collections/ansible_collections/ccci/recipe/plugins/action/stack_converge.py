# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the module stack_converge inside the task's worker on a local host (see
plugin_utils/in_process)."""

from __future__ import annotations

from ansible_collections.ccci.recipe.plugins.plugin_utils.in_process import (
    InProcessModuleAction as ActionModule,
)

__all__ = ["ActionModule"]
