# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every Docker label name the collection's modules read or select by, defined once.

Labels are a contract with Docker (the stack namespace), with Co-op Cloud recipes
(``coop-cloud.<stack>.*``, backupbot) and with ccci's own teardown (``ccci.run``); a
name spelt twice drifts, so modules and module_utils import them from here.
"""

from __future__ import annotations

# Set by `docker stack deploy` on the services, networks, volumes, secrets and configs
# of a stack, and on the containers of its tasks.
STACK_NAMESPACE = "com.docker.stack.namespace"

# Carried by everything a ccci run creates (see docs/decisions.md).
RUN = "ccci.run"

# backupbot: marks a service to back up; its volume labels share one prefix
# (``backupbot.backup.volumes.<vol>`` and ``backupbot.backup.volumes.<vol>.path``).
BACKUPBOT_PREFIX = "backupbot."
BACKUP = "backupbot.backup"
BACKUP_VOLUMES_PREFIX = "backupbot.backup.volumes."
BACKUP_VOLUME_PATH_SUFFIX = ".path"
# backupbot hooks, by (phase, when).
HOOKS: dict[tuple[str, str], str] = {
    ("backup", "pre"): "backupbot.backup.pre-hook",
    ("backup", "post"): "backupbot.backup.post-hook",
    ("restore", "pre"): "backupbot.restore.pre-hook",
    ("restore", "post"): "backupbot.restore.post-hook",
}


def coop_cloud(stack: str, name: str) -> str:
    """A recipe label of the stack's main service, e.g. ``coop-cloud.<stack>.version``."""
    return f"coop-cloud.{stack}.{name}"


def selector(label: str, value: str) -> str:
    """A Docker API ``label`` filter matching objects whose ``label`` is ``value``."""
    return f"{label}={value}"
