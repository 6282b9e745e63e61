"""Linting a recipe, or every recipe of a folder: what ``ccci lint`` and the lint tier
call. The rules themselves live in ``abra_rules`` and ``release_rules``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from ccci.context import find_recipe_repo
from ccci.errors import CcciError
from ccci.findings import Finding

from .registry import lint
from .subject import lint_subject

RULE_MODULES = ("ccci.lint.abra_rules", "ccci.lint.release_rules")


def load_rules() -> None:
    """Import the rule modules, which register their rules (and the rule page's rows)."""
    for module in RULE_MODULES:
        importlib.import_module(module)


@dataclass
class LintResult:
    """One recipe's lint: the versions compared and what was found."""

    recipe: str
    commit: str = ""
    version: str | None = None
    previous: str | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str = ""  # the recipe could not be linted at all (no repository, bad ref)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def ok(self) -> bool:
        return not self.error and not self.errors

    def summary_line(self) -> str:
        """One line per recipe, for ``ccci lint --all``."""
        if self.error:
            return f"{self.recipe}: not linted: {self.error}"
        warnings = len(self.findings) - self.errors
        codes = sorted({f.code for f in self.findings})
        where = f" ({self.version or self.commit[:10]}"
        where += f" against {self.previous})" if self.previous else ")"
        state = "ok" if self.ok else "fails lint"
        return (f"{self.recipe}: {state}, {self.errors} error(s), {warnings} warning(s)"
                f"{where}" + (f": {', '.join(codes)}" if codes else ""))

    def as_dict(self) -> dict:
        return {"recipe": self.recipe, "commit": self.commit, "version": self.version,
                "previous": self.previous, "ok": self.ok, "errors": self.errors,
                "warnings": len(self.findings) - self.errors, "error": self.error,
                "findings": [f.as_dict() for f in self.findings]}


def lint_recipe(recipe: str, ref: str | None = None, *, repo: str | Path | None = None
                ) -> LintResult:
    """Lint ``recipe`` (its repository found by name, or ``repo``) at ``ref`` (HEAD)."""
    load_rules()
    try:
        source = find_recipe_repo(recipe, str(repo) if repo else None)
        with lint_subject(recipe, source, ref) as subject:
            return LintResult(recipe, subject.current.commit, subject.current.version,
                              subject.previous.version if subject.previous else None,
                              lint(subject))
    except CcciError as exc:
        return LintResult(recipe, error=str(exc))


def lint_all(folder: Path) -> list[LintResult]:
    """Every recipe repository directly in ``folder`` (a folder holding ``.git``), by name."""
    return [lint_recipe(path.name, repo=path) for path in sorted(folder.iterdir())
            if (path / ".git").exists()]


def lint_run(run_dir: Path) -> LintResult:
    """The lint tier of a run: the committed state of the commit under test (a working
    tree's uncommitted changes are not a release), recorded as ``lint.json``."""
    from ccci.context import load_run
    from ccci.rundir import RunDir

    context = load_run(run_dir)
    result = lint_recipe(context.recipe, context.commit, repo=context.repo)
    RunDir(run_dir).save_lint(result.as_dict())
    return result
