"""The trust gate (ccci.trust): a recipe repository's own .ccci/ code is loaded only for
an approved recipe, and the CI config's list is the only way in from a build."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ccci.cli import run_request
from ccci.config import load_recipe_config
from ccci.config.loader import ConfigError
from ccci.errors import BadInput
from ccci.functional.tier import recipe_test_files
from ccci.trust import DENY, NONE, SKIPPED, USED, RepoCode, decide, policy, skipped_warning


def checkout_with_code(tmp_path: Path, hooks: str = "TEST_TIMEOUT = 77\n") -> Path:
    checkout = tmp_path / "recipe"
    (checkout / ".ccci" / "tests").mkdir(parents=True)
    (checkout / ".ccci" / "hooks.py").write_text(hooks)
    (checkout / ".ccci" / "tests" / "test_repo.py").write_text("def test_x():\n    pass\n")
    (checkout / "compose.yml").write_text("version: '3.8'\n")
    return checkout


def test_without_approval_the_code_is_skipped_and_the_warning_says_why(tmp_path):
    repo = decide("site", checkout_with_code(tmp_path), DENY)
    assert repo.state == SKIPPED and repo.used_folder is None
    assert repo.files == [".ccci/hooks.py", ".ccci/tests/test_repo.py"]
    warning = skipped_warning(repo)
    assert warning["code"] == "CCCI-W901" and warning["severity"] == "warning"
    assert ".ccci/hooks.py" in warning["message"] and "default deny" in warning["message"]


def test_an_approved_recipe_uses_its_code_and_others_stay_denied(tmp_path):
    trust = policy(listed=["site"], listed_in="/etc/ccci/service.yml")
    checkout = checkout_with_code(tmp_path)
    used = decide("site", checkout, trust)
    assert used.state == USED and used.used_folder == checkout / ".ccci"
    assert skipped_warning(used) is None
    assert decide("other", checkout, trust).state == SKIPPED
    assert RepoCode.from_dict(used.as_dict()) == used


def test_a_checkout_without_python_in_ccci_has_nothing_to_gate(tmp_path):
    (tmp_path / "recipe" / ".ccci").mkdir(parents=True)
    (tmp_path / "recipe" / ".ccci" / "notes.txt").write_text("no code")
    assert decide("site", tmp_path / "recipe", DENY).state == NONE
    assert decide("site", tmp_path / "missing", DENY).state == NONE


def test_the_flag_approves_only_the_run_s_recipe():
    assert policy() is DENY and not DENY.allows("site")
    flagged = policy(flagged="site")
    assert flagged.allows("site") and not flagged.allows("other")
    assert flagged.source == "--trust-repo-code"


def test_repository_hooks_and_tests_join_the_enrolled_config(tmp_path):
    config_root = tmp_path / "recipes"
    (config_root / "site" / "tests").mkdir(parents=True)
    (config_root / "site" / "hooks.py").write_text("HOOK_TIMEOUT = 30\n")
    (config_root / "site" / "tests" / "test_enrolled.py").write_text("")
    repo = checkout_with_code(tmp_path, "TEST_TIMEOUT = 77\n\ndef pre_install(ctx):\n    pass\n")
    config = load_recipe_config("site", config_root, repo / ".ccci")
    assert config.get("TEST_TIMEOUT") == 77 and config.get("HOOK_TIMEOUT") == 30
    assert "pre_install" in config.hooks
    assert config.file_of("pre_install") == repo / ".ccci" / "hooks.py"
    assert config.file_of("HOOK_TIMEOUT") == config_root / "site" / "hooks.py"
    assert [f.name for f in recipe_test_files(config)] == ["test_enrolled.py", "test_repo.py"]
    enrolled_only = load_recipe_config("site", config_root)
    assert enrolled_only.get("TEST_TIMEOUT") != 77 and "pre_install" not in enrolled_only.hooks
    assert [f.name for f in recipe_test_files(enrolled_only)] == ["test_enrolled.py"]


def test_a_key_set_in_both_places_is_refused_naming_both(tmp_path):
    config_root = tmp_path / "recipes"
    (config_root / "site").mkdir(parents=True)
    (config_root / "site" / "meta.yml").write_text("TEST_TIMEOUT: 30\n")
    repo = checkout_with_code(tmp_path)
    with pytest.raises(ConfigError, match=r"TEST_TIMEOUT is set in both .*\.ccci/hooks\.py"):
        load_recipe_config("site", config_root, repo / ".ccci")


def test_a_repository_hooks_file_that_raises_is_a_config_error_naming_it(tmp_path):
    repo = checkout_with_code(tmp_path, "raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match=r"\.ccci/hooks\.py: importing it raised RuntimeError"):
        load_recipe_config("site", tmp_path / "recipes", repo / ".ccci")


def _args(**given) -> argparse.Namespace:
    values = dict(recipe="site", ref=None, tiers=None, stages=None, quick=None, drone=False,
                  keep=False, repo=None, domain=None, inventory=None, host=None,
                  upgrade_from=None, ingress="traefik", extra_domains=[],
                  trust_repo_code=False)
    return argparse.Namespace(**{**values, **given})


def test_the_run_s_policy_comes_from_the_ci_config_file_never_its_environment(tmp_path):
    config = tmp_path / "service.yml"
    config.write_text(json.dumps({"trusted_recipes": ["notes"]}))
    env = {"CCCI_SERVICE_CONFIG": str(config), "CCCI_TRUSTED_RECIPES": "site"}
    trust = run_request(_args(), env).trust
    assert trust.allows("notes") and not trust.allows("site")
    assert str(config) in trust.source
    assert not run_request(_args(), {}).trust.allows("site")
    assert run_request(_args(trust_repo_code=True), {}).trust.allows("site")


def test_a_malformed_approved_list_is_refused(tmp_path):
    config = tmp_path / "service.yml"
    config.write_text(json.dumps({"trusted_recipes": "site"}))
    with pytest.raises(BadInput, match="trusted_recipes must be a list"):
        run_request(_args(), {"CCCI_SERVICE_CONFIG": str(config)})
