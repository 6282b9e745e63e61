"""The trust gate: code shipped in a recipe's repository runs on the controller only
when the recipe is approved.

A recipe repository may carry CI code of its own in ``.ccci/`` (``hooks.py``,
``tests/test_*.py``, any other Python file there), so it changes with the recipe. That
code runs on the controller (ccci's machine, the CI host) with ccci's rights, and in a
pull request it is whatever the pull request says. So it runs only for recipes an
operator approved: the CI config's ``trusted_recipes`` list (ccci.ci.config), or
``--trust-repo-code`` for a run by hand. Default deny. The recipe's compose files
always deploy: they run on the swarm host, and they are what is being tested.

A skipped folder is recorded in the run's context and becomes a warning (CCCI-W901) in
the results and the report, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ccci.findings import finding

REPO_CONFIG_DIR = ".ccci"
# What the gate decided about a checkout's .ccci/ folder.
NONE, USED, SKIPPED = "none", "used", "skipped"


@dataclass(frozen=True)
class TrustPolicy:
    """Which recipes may run code from their own repository, and who said so."""

    approved: frozenset[str] = frozenset()
    source: str = "no approval given (default deny)"

    def allows(self, recipe: str) -> bool:
        return recipe in self.approved


DENY = TrustPolicy()


def policy(*, listed: Iterable[str] = (), listed_in: str | None = None,
           flagged: str | None = None) -> TrustPolicy:
    """The policy of a run: the recipes ``listed`` in the CI config at ``listed_in``,
    plus ``flagged`` (the recipe of a run started with ``--trust-repo-code``)."""
    approved = set(listed)
    sources = []
    if listed_in is not None:
        sources.append(f"trusted_recipes of the CI config {listed_in}")
    if flagged:
        approved.add(flagged)
        sources.append("--trust-repo-code")
    if not sources:
        return DENY
    return TrustPolicy(frozenset(approved), " and ".join(sources))


@dataclass(frozen=True)
class RepoCode:
    """What the gate decided for one checkout: whether its ``.ccci/`` code runs."""

    state: str = NONE
    folder: str | None = None  # the checkout's .ccci/, when it holds code
    files: list[str] = field(default_factory=list)  # relative to the checkout
    reason: str = ""

    @property
    def used_folder(self) -> Path | None:
        """The folder to load hooks and tests from; None unless the gate let it in."""
        return Path(self.folder) if self.state == USED and self.folder else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RepoCode:
        return cls(**data) if data else cls()


def code_files(checkout: Path) -> list[str]:
    """Every Python file under the checkout's ``.ccci/``, relative to the checkout."""
    folder = checkout / REPO_CONFIG_DIR
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(checkout)) for p in folder.rglob("*.py") if p.is_file())


def decide(recipe: str, checkout: Path, trust: TrustPolicy) -> RepoCode:
    """The gate for ``recipe``'s checkout: USED, SKIPPED (with the reason) or NONE."""
    files = code_files(checkout)
    if not files:
        return RepoCode()
    folder = str(checkout / REPO_CONFIG_DIR)
    if trust.allows(recipe):
        return RepoCode(USED, folder, files, f"{recipe} is approved ({trust.source})")
    return RepoCode(SKIPPED, folder, files,
                    f"{recipe} is not approved to run repository code on the controller "
                    f"({trust.source}); approve it in the CI config's trusted_recipes")


def files_shown(files: list[str], most: int = 5) -> str:
    """The first ``most`` files, and how many more, for one line of a message."""
    more = f" and {len(files) - most} more" if len(files) > most else ""
    return ", ".join(files[:most]) + more


def skipped_warning(repo: RepoCode) -> dict[str, Any] | None:
    """The run's warning about repository code it did not run; None when nothing was."""
    if repo.state != SKIPPED:
        return None
    return finding("trust.repo-code-skipped",
                   f"the recipe repository's CI code was not run ({files_shown(repo.files)}): "
                   f"{repo.reason}", file=REPO_CONFIG_DIR).as_dict()
