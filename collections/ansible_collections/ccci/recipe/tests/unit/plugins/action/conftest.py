"""Build controller-side action plugins the way Ansible's task executor does.

``ActionModule(task, connection, play_context, loader, templar, shared_loader_obj)``
with a real ``Task`` (its ``args`` are what the plugin reads) and a connection that
is only asked whether it has a remote tmp dir yet: these plugins transfer no files.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task


class _Connection:
    """What ``ActionBase.run`` touches on a connection when nothing is transferred."""

    def __init__(self) -> None:
        self._shell = SimpleNamespace(tmpdir=None)


@pytest.fixture
def make_action():
    """``make_action(ActionModule, "ccci.recipe.x", args)``: a plugin ready to ``run``."""

    def build(cls, action: str, args: dict):
        task = Task()
        task.action = action
        task.args = dict(args)
        return cls(task, _Connection(), PlayContext(), DataLoader(), None, None)

    return build
