"""The lint rules that cover ``abra recipe lint``: each found where it should be, and
only there, on small changes to the bundled examples."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ccci import git
from ccci.findings import RULES, Finding
from ccci.lint import abra_rules
from ccci.lint.registry import CHECKS, lint
from ccci.lint.subject import lint_subject
from tests.lint_repos import commit, edit, example_repo

ABRA_RULES = [name for name, check in CHECKS.items() if check.__module__ == abra_rules.__name__]
SITE_CONFIG_NAME = "name: ${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}"
SITE_HEALTHCHECK_TEST = (
    'test: ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1/health"]')
METADATA = """
<!-- metadata -->
* **Category**: Apps
* **Status**: 1, alpha
* **Image**: [`nginx`](https://hub.docker.com/_/nginx), 4, upstream
* **Healthcheck**: Yes
* **Backups**: Yes
* **Email**: N/A
* **Tests**: No
* **SSO**: N/A
<!-- endmetadata -->
"""


@pytest.fixture
def repos(tmp_path: Path, example_recipes: Path) -> Path:
    """``tmp_path`` where example_repo clones the session's materialized examples."""
    (tmp_path / "sources").symlink_to(example_recipes)
    return tmp_path


@pytest.fixture
def site(repos: Path) -> Path:
    return example_repo(repos, "example-site")


@pytest.fixture
def notes(repos: Path) -> Path:
    return example_repo(repos, "example-notes")


def found(repo: Path, rule: str, ref: str | None = None) -> list[Finding]:
    """What one rule finds at ``ref`` (HEAD), checking each finding is of that rule."""
    with lint_subject(repo.name, repo, ref) as subject:
        items = list(CHECKS[rule](subject))
    spec = RULES[rule]
    assert all((f.code, f.rule, f.severity, f.fix) == (spec.code, rule, spec.severity, spec.fix)
               for f in items), items
    return items


def one(repo: Path, rule: str, ref: str | None = None) -> Finding:
    [item] = found(repo, rule, ref)
    return item


def change(repo: Path, name: str, old: str, new: str) -> None:
    commit(repo, {name: edit(repo, name, old, new)})


# -- the rules as registered ---------------------------------------------------------------


def test_every_abra_rule_has_a_code_of_its_own_range():
    assert len(ABRA_RULES) == 18
    numbers = [RULES[name].code[-3:] for name in ABRA_RULES]
    assert len(set(numbers)) == len(numbers)
    for name in ABRA_RULES:
        rule = RULES[name]
        assert name.startswith("lint.") and rule.summary and rule.fix
        assert rule.code[:6] == ("CCCI-E" if rule.severity == "error" else "CCCI-W")
        assert 800 <= int(rule.code[-3:]) <= 849


@pytest.mark.parametrize("recipe", ["example-site", "example-notes"])
def test_the_examples_are_clean_at_head_and_at_every_release(repos, recipe):
    repo = example_repo(repos, recipe)
    for ref in [None, *git.tags(repo)]:
        with lint_subject(recipe, repo, ref) as subject:
            items = [f for f in lint(subject) if f.rule in ABRA_RULES or f.rule == "lint.crashed"]
        assert items == [], (ref, items)


# -- compose file version ------------------------------------------------------------------


def test_compose_files_of_different_versions_are_an_error(notes):
    assert found(notes, "lint.compose-version") == []
    change(notes, "compose.postgres.yml", 'version: "3.8"', 'version: "3.7"')
    error = one(notes, "lint.compose-version")
    assert (error.severity, error.file, error.key) == ("error", "compose.postgres.yml", "version")
    assert "version 3.7" in error.message and "different versions" in error.message
    assert found(notes, "lint.compose-version-style") == []  # told once, as the error


def test_a_file_without_version_next_to_one_with_is_an_error(notes):
    change(notes, "compose.postgres.yml", 'version: "3.8"\n', "")
    error = one(notes, "lint.compose-version")
    assert error.file == "compose.postgres.yml" and "has no version" in error.message


def test_an_optional_compose_file_must_match_too(site):
    smtp = 'version: "3.7"\nservices:\n  app:\n    environment:\n      - SMTP_HOST=mail\n'
    commit(site, {"compose.smtp.yml": smtp})  # not in COMPOSE_FILE: an operator's choice
    error = one(site, "lint.compose-version")
    assert (error.file, error.key) == ("compose.smtp.yml", "version")
    assert "version 3.7" in error.message and "first file of COMPOSE_FILE has 3.8" in error.message


def test_a_version_other_than_3_x_is_an_error(site):
    change(site, "compose.yml", 'version: "3.8"', 'version: "2.4"')
    error = one(site, "lint.compose-version")
    assert (error.file, error.key) == ("compose.yml", "version")
    assert "only 3.x" in error.message


def test_no_version_at_all_is_a_warning(site):
    change(site, "compose.yml", 'version: "3.8"\n', "")
    assert found(site, "lint.compose-version") == []
    warning = one(site, "lint.compose-version-style")
    assert (warning.severity, warning.file, warning.key) == ("warning", "compose.yml", "version")
    assert "no version key" in warning.message and "before 25" in warning.message


def test_another_3_x_is_a_warning_and_3_equals_3_0(notes):
    change(notes, "compose.yml", 'version: "3.8"', "version: 3")
    change(notes, "compose.postgres.yml", 'version: "3.8"', 'version: "3.0"')
    assert found(notes, "lint.compose-version") == []
    warnings = found(notes, "lint.compose-version-style")
    assert [w.file for w in warnings] == ["compose.yml", "compose.postgres.yml"]
    assert all("abra expects 3.8" in w.message for w in warnings)


# -- healthchecks --------------------------------------------------------------------------


def test_a_service_without_healthcheck_is_a_warning(site):
    assert found(site, "lint.healthcheck") == []
    text = (site / "compose.yml").read_text()
    start = text.index("    healthcheck:")
    commit(site, {"compose.yml": text[:start] + text[text.index("    deploy:"):]})
    warning = one(site, "lint.healthcheck")
    assert (warning.severity, warning.file, warning.key) == (
        "warning", "compose.yml", "services.app.healthcheck")
    assert "service app has no healthcheck" in warning.message


def test_a_disabled_healthcheck_needs_a_comment_saying_why(site):
    change(site, "compose.yml", SITE_HEALTHCHECK_TEST, "disable: true")
    warning = one(site, "lint.healthcheck")
    assert warning.key == "services.app.healthcheck"
    assert "disables its healthcheck without a comment" in warning.message
    change(site, "compose.yml", "disable: true", "disable: true  # the image has no HTTP client")
    assert found(site, "lint.healthcheck") == []


def test_a_comment_above_the_healthcheck_explains_it(site):
    change(site, "compose.yml", SITE_HEALTHCHECK_TEST, "disable: true")
    change(site, "compose.yml", "    healthcheck:",
           "    # nginx answers before its content volume is seeded; nothing to probe\n"
           "    healthcheck:")
    assert found(site, "lint.healthcheck") == []


def test_a_none_test_in_another_compose_file_is_a_disable(notes):
    change(notes, "compose.postgres.yml",
           'test: ["CMD", "pg_isready", "--host=127.0.0.1", "--username=postgres", '
           '"--dbname=notes"]', 'test: ["NONE"]')
    warning = one(notes, "lint.healthcheck")
    assert (warning.file, warning.key) == ("compose.postgres.yml", "services.db.healthcheck")


# -- images --------------------------------------------------------------------------------


def test_an_image_without_tag_is_a_warning_a_digest_pins_it(site):
    assert found(site, "lint.image-untagged") == []
    change(site, "compose.yml", "image: ccci-example/nginx:1.22", "image: ccci-example/nginx")
    warning = one(site, "lint.image-untagged")
    assert (warning.severity, warning.file, warning.key) == (
        "warning", "compose.yml", "services.app.image")
    assert "image ccci-example/nginx has no tag" in warning.message
    change(site, "compose.yml", "image: ccci-example/nginx",
           "image: ccci-example/nginx@sha256:" + "ab" * 32)
    assert found(site, "lint.image-untagged") == []
    assert found(site, "lint.image-tag-format") == []


def test_a_registry_port_is_not_a_tag(site):
    change(site, "compose.yml", "image: ccci-example/nginx:1.22",
           "image: localhost:5000/ccci-example/nginx")
    assert "has no tag" in one(site, "lint.image-untagged").message


@pytest.mark.parametrize("tag", ["latest", "stable-alpine", "edge", "LATEST"])
def test_a_moving_tag_is_a_warning(notes, tag):
    assert found(notes, "lint.image-unstable") == []
    change(notes, "compose.postgres.yml", "ccci-example/postgres:15",
           f"ccci-example/postgres:{tag}")
    warning = one(notes, "lint.image-unstable")
    assert (warning.file, warning.key) == ("compose.postgres.yml", "services.db.image")
    assert f"moving tag {tag}" in warning.message
    assert found(notes, "lint.image-tag-format") == []  # told once


def test_a_dated_nightly_is_pinned_but_not_semver_like(site):
    change(site, "compose.yml", "nginx:1.22", "nginx:nightly-20240101")
    assert found(site, "lint.image-unstable") == []
    assert "nightly-20240101" in one(site, "lint.image-tag-format").message


@pytest.mark.parametrize("tag", ["bookworm", "sha-3f2a9c1", "1.22.x"])
def test_a_tag_that_is_not_semver_like_is_a_warning(site, tag):
    change(site, "compose.yml", "nginx:1.22", f"nginx:{tag}")
    warning = one(site, "lint.image-tag-format")
    assert (warning.severity, warning.key) == ("warning", "services.app.image")
    assert f"image tag {tag}" in warning.message and "not semver-like" in warning.message


@pytest.mark.parametrize("tag", ["15", "1.22", "v2.4.1", "3.11-slim", "1.2.3-alpine3.18"])
def test_semver_like_tags_pass(site, tag):
    change(site, "compose.yml", "nginx:1.22", f"nginx:{tag}")
    assert found(site, "lint.image-tag-format") == []


def test_a_service_without_image_is_an_error(site):
    assert found(site, "lint.image-missing") == []
    change(site, "compose.yml", "    image: ccci-example/nginx:1.22\n", "    build: .\n")
    error = one(site, "lint.image-missing")
    assert (error.severity, error.file, error.key) == ("error", "compose.yml",
                                                       "services.app.image")
    assert "service app has no image" in error.message


# -- the main service and its routing ------------------------------------------------------


def test_no_service_named_app_is_an_error(site):
    assert found(site, "lint.app-service") == []
    change(site, "compose.yml", "\n  app:\n", "\n  web:\n")
    error = one(site, "lint.app-service")
    assert (error.severity, error.file, error.key) == ("error", "compose.yml", "services")
    assert "no service is named app (services: web)" in error.message
    assert found(site, "lint.deploy-labels") == []  # nothing more to say without app


def test_an_app_service_without_deploy_labels_is_an_error(site):
    assert found(site, "lint.deploy-labels") == []
    change(site, "compose.yml", "    deploy:\n      labels:\n",
           "    deploy:\n      replicas: 1\n    x-labels:\n")
    error = one(site, "lint.deploy-labels")
    assert (error.severity, error.file, error.key) == ("error", "compose.yml",
                                                       "services.app.deploy.labels")
    assert "service app has no deploy labels" in error.message


def test_no_service_enabling_traefik_is_a_warning(notes):
    """A warning, not abra's error: recipes without a web service are published."""
    assert found(notes, "lint.traefik") == []
    change(notes, "compose.yml", '"traefik.enable=true"', '"traefik.enable=false"')
    error = one(notes, "lint.traefik")
    assert (error.severity, error.file, error.key) == ("warning", "compose.yml",
                                                       "services.app.deploy.labels")
    assert "traefik.enable=true" in error.message


def test_traefik_on_a_service_other_than_app_is_enough(notes):
    change(notes, "compose.yml", '"traefik.enable=true"', '"traefik.enable=false"')
    change(notes, "compose.postgres.yml", '        - "backupbot.backup=true"',
           '        - "backupbot.backup=true"\n        - "traefik.enable=True"\n'
           '        - "traefik.tcp.routers.${STACK_NAME}_db.rule=HostSNI(`*`)"')
    assert found(notes, "lint.traefik") == []
    assert found(notes, "lint.traefik-rule") == []


def test_traefik_without_a_router_rule_is_a_warning(site):
    assert found(site, "lint.traefik-rule") == []
    rule = '"traefik.http.routers.${STACK_NAME}.rule=Host(`${DOMAIN}`${EXTRA_DOMAINS})"'
    change(site, "compose.yml", f"        - {rule}\n", "")
    warning = one(site, "lint.traefik-rule")
    assert (warning.severity, warning.file, warning.key) == ("warning", "compose.yml",
                                                             "services.app.deploy.labels")
    assert "enables traefik but has no traefik.http.routers.<name>.rule" in warning.message


# -- config versions -----------------------------------------------------------------------


def test_a_config_version_set_in_env_sample_is_an_error(site):
    assert found(site, "lint.config-vendored") == []
    env = (site / ".env.sample").read_text()
    commit(site, {"abra.sh": None, ".env.sample": env + "NGINX_CONF_VERSION=v2\n"})
    error = one(site, "lint.config-vendored")
    assert (error.severity, error.file, error.key) == ("error", "compose.yml",
                                                       "configs.nginx_conf.name")
    assert "NGINX_CONF_VERSION is set in .env.sample, not exported by abra.sh" in error.message
    assert "(the recipe has no abra.sh)" in error.message


def test_an_abra_sh_that_does_not_export_the_version_is_no_better(notes):
    env = (notes / ".env.sample").read_text()
    commit(notes, {"abra.sh": "export APP_PY_VERSION=v1\nDB_ENTRYPOINT_VERSION=v1\n",
                   ".env.sample": env + "DB_ENTRYPOINT_VERSION=v1\n"})
    error = one(notes, "lint.config-vendored")
    assert (error.file, error.key) == ("compose.postgres.yml", "configs.db_entrypoint.name")
    assert "no abra.sh" not in error.message


def test_a_config_version_set_nowhere_is_left_to_ccci_check(site):
    commit(site, {"abra.sh": None})  # ccci check: CCCI-W201, NGINX_CONF_VERSION not set
    assert found(site, "lint.config-vendored") == []


def test_a_config_without_version_variable_is_a_warning(site):
    assert found(site, "lint.config-unversioned") == []
    change(site, "compose.yml", SITE_CONFIG_NAME, "name: ${STACK_NAME}_nginx_conf")
    warning = one(site, "lint.config-unversioned")
    assert (warning.severity, warning.file, warning.key) == ("warning", "compose.yml",
                                                             "configs.nginx_conf.name")
    assert "no version variable" in warning.message
    assert found(site, "lint.config-vendored") == []


def test_a_config_without_name_is_unversioned(site):
    change(site, "compose.yml", f"    {SITE_CONFIG_NAME}\n", "")
    assert "unnamed (Docker names it <stack>_nginx_conf)" in one(
        site, "lint.config-unversioned").message


def test_an_external_config_is_the_operators(site):
    change(site, "compose.yml", SITE_CONFIG_NAME, "external: true")
    assert found(site, "lint.config-unversioned") == []


# -- name lengths --------------------------------------------------------------------------


def test_names_fit_for_the_longest_stack_name_even_over_12_characters(notes):
    # db_entrypoint has 13 characters, which abra's R015 would warn about.
    assert "db_entrypoint:" in (notes / "compose.postgres.yml").read_text()
    assert found(notes, "lint.name-length") == []


def test_a_config_name_over_64_characters_on_a_long_domain_is_a_warning(site):
    """Short domains still deploy: a warning that says which ones do not."""
    change(site, "compose.yml", SITE_CONFIG_NAME,
           "name: ${STACK_NAME}_nginx_configuration_file_${NGINX_CONF_VERSION}")
    error = one(site, "lint.name-length")
    assert (error.severity, error.file, error.key) == ("warning", "compose.yml",
                                                       "configs.nginx_conf.name")
    assert "(73 characters) for a stack name of 45 characters" in error.message
    assert "over 64" in error.message
    assert "longer than 36 characters cannot deploy" in error.message


def test_a_long_secret_version_counts_too(notes):
    change(notes, ".env.sample", "SECRET_DB_PASSWORD_VERSION=v1",
           "SECRET_DB_PASSWORD_VERSION=v2024-01-01-rotated")
    error = one(notes, "lint.name-length")
    assert (error.file, error.key) == ("compose.yml", "secrets.db_password.name")
    assert "secret db_password" in error.message and "(77 characters)" in error.message


# -- tags and releases ---------------------------------------------------------------------


def test_a_lightweight_tag_is_an_error(site):
    assert found(site, "lint.tag-lightweight") == []
    commit(site, {}, tag="1.3.0+1.22", annotated=False)
    subprocess.run(["git", "-C", str(site), "tag", "v0.9", "1.0.0+1.22^{}"], check=True)
    errors = found(site, "lint.tag-lightweight")
    assert [(e.severity, e.key) for e in errors] == [("error", "1.3.0+1.22"), ("error", "v0.9")]
    assert "tag 1.3.0+1.22 is a lightweight tag" in errors[0].message


def test_a_recipe_without_release_is_a_warning(site):
    assert found(site, "lint.no-release") == []
    subprocess.run(["git", "-C", str(site), "tag", "-d", *git.tags(site)], check=True,
                   capture_output=True)
    commit(site, {}, tag="v1.0")  # not a release: ccci check's CCCI-W401
    warning = one(site, "lint.no-release")
    assert (warning.severity, warning.key) == ("warning", "tags")
    assert "no release tag" in warning.message


# -- README --------------------------------------------------------------------------------


def test_a_recipe_without_readme_is_a_warning(site):
    assert found(site, "lint.readme") == []
    commit(site, {"README.md": None})
    warning = one(site, "lint.readme")
    assert (warning.severity, warning.file) == ("warning", "README.md")
    assert "no README.md" in warning.message
    assert found(site, "lint.readme-metadata") == []  # told once


def test_the_readme_metadata_block_is_a_warning_until_filled_in(site):
    assert found(site, "lint.readme-metadata") == []  # the example has one
    readme = re.sub(r"<!-- metadata -->.*<!-- endmetadata -->\n", "",
                    (site / "README.md").read_text(), flags=re.S)
    commit(site, {"README.md": readme})
    warning = one(site, "lint.readme-metadata")
    assert (warning.severity, warning.file, warning.key) == ("warning", "README.md", "metadata")
    assert "no <!-- metadata --> block" in warning.message
    commit(site, {"README.md": readme + METADATA.replace("* **Email**: N/A", "* **Email**:")})
    assert "leaves Email empty" in one(site, "lint.readme-metadata").message
    commit(site, {"README.md": readme + METADATA})
    assert found(site, "lint.readme-metadata") == []


# -- robustness ----------------------------------------------------------------------------


def test_without_env_sample_the_compose_files_are_still_linted(site):
    # ccci check reports the missing .env.sample (CCCI-E101); lint goes on without it.
    text = edit(site, "compose.yml", "ccci-example/nginx:1.22", "ccci-example/nginx")
    commit(site, {".env.sample": None, "compose.yml": text})
    assert "has no tag" in one(site, "lint.image-untagged").message


def test_an_unreadable_compose_file_is_left_to_ccci_check(notes):
    commit(notes, {"compose.postgres.yml": "services: [unclosed\n"})
    with lint_subject("example-notes", notes) as subject:
        items = [f for f in lint(subject) if f.rule in ABRA_RULES or f.rule == "lint.crashed"]
    assert items == [], items
