"""The release rules of the lint tier: the version under test against the previous
release, on copies of the bundled examples with a maintainer's commits on top."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ccci.findings import RULES, Finding
from ccci.lint import release_rules as rr
from ccci.lint.subject import lint_subject
from tests.lint_repos import commit, edit, example_repo

CHECKS = (rr.config_version, rr.version_not_bumped, rr.unreleased_change, rr.image_upstream,
          rr.release_notes, rr.uninterpolated_field, rr.env_unused, rr.env_removed)
SITE_LABEL = "coop-cloud.${STACK_NAME}.version="


def lint(repo: Path, ref: str | None = None, recipe: str | None = None) -> list[Finding]:
    """Every finding of the release rules on ``repo`` at ``ref`` (HEAD)."""
    with lint_subject(recipe or repo.name, repo, ref) as subject:
        return [item for check in CHECKS for item in check(subject)]


def only(found: list[Finding], rule: str) -> list[Finding]:
    return [f for f in found if f.rule == rule]


def tags(repo: Path) -> list[str]:
    return subprocess.run(["git", "-C", str(repo), "tag"], capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.fixture
def site(tmp_path) -> Path:
    return example_repo(tmp_path, "example-site")


@pytest.fixture
def notes(tmp_path) -> Path:
    return example_repo(tmp_path, "example-notes")


def site_release(repo: Path, version: str = "1.3.0+1.22") -> dict[str, str]:
    """The files a release of example-site changes: its label, its notes."""
    return {
        "compose.yml": edit(repo, "compose.yml", SITE_LABEL + "1.2.0+1.22",
                            SITE_LABEL + version),
        f"release/{version}": "Notes.\n",
    }


def nginx_edit(repo: Path) -> dict[str, str]:
    return {"nginx.conf.tmpl": edit(repo, "nginx.conf.tmpl", "worker_connections 256;",
                                    "worker_connections 512;")}


def nginx_bump(repo: Path) -> dict[str, str]:
    return {"abra.sh": edit(repo, "abra.sh", "NGINX_CONF_VERSION=v2", "NGINX_CONF_VERSION=v3")}


# --- the rules are registered, in the codes given to them -------------------------

def test_rules_are_registered_with_their_codes():
    codes = {name: RULES[name].code for name in (
        "lint.config-version", "lint.version-not-bumped", "lint.unreleased-change",
        "lint.image-upstream", "lint.release-notes", "lint.uninterpolated-field",
        "lint.env-unused", "lint.env-removed")}
    assert codes == {
        "lint.config-version": "CCCI-E850", "lint.version-not-bumped": "CCCI-E851",
        "lint.unreleased-change": "CCCI-W852", "lint.image-upstream": "CCCI-W853",
        "lint.release-notes": "CCCI-W854", "lint.uninterpolated-field": "CCCI-E855",
        "lint.env-unused": "CCCI-W856", "lint.env-removed": "CCCI-W857"}
    numbers = [code[-3:] for code in codes.values()]
    assert len(set(numbers)) == len(numbers)


# --- the bundled examples are clean --------------------------------------------------

@pytest.mark.parametrize("recipe", ["example-site", "example-notes"])
def test_examples_at_head_and_every_tag_give_nothing(tmp_path, recipe):
    repo = example_repo(tmp_path, recipe)
    assert len(tags(repo)) == 3
    for ref in [None, *tags(repo)]:
        assert lint(repo, ref) == [], ref


def test_first_release_has_no_previous_to_compare(site):
    with lint_subject("example-site", site, "1.0.0+1.22") as subject:
        assert subject.previous is None
        assert [list(check(subject)) for check in CHECKS] == [[]] * len(CHECKS)


# --- 1. a config changed under the same name ----------------------------------------

def test_config_edited_without_bump_in_a_release(site):
    commit(site, {**site_release(site), **nginx_edit(site)}, tag="1.3.0+1.22")
    found = lint(site)
    assert [(f.code, f.severity, f.file, f.key) for f in found] == [
        ("CCCI-E850", "error", "abra.sh", "NGINX_CONF_VERSION")]
    message = found[0].message
    for words in ("template config nginx_conf", "compose.yml", "nginx.conf.tmpl",
                  "since 1.2.0+1.22", "NGINX_CONF_VERSION=v2 in both",
                  "only updates to Labels are allowed", "Bump NGINX_CONF_VERSION in abra.sh"):
        assert words in message


def test_config_edited_without_bump_in_an_unreleased_head(site):
    commit(site, nginx_edit(site))
    found = lint(site)
    assert [(f.code, f.file, f.key) for f in found] == [
        ("CCCI-E850", "abra.sh", "NGINX_CONF_VERSION")]


def test_config_edited_with_bump_is_clean(site):
    commit(site, {**nginx_edit(site), **nginx_bump(site)})
    assert lint(site) == []
    commit(site, site_release(site), tag="1.3.0+1.22")
    assert lint(site) == []
    assert lint(site, "1.3.0+1.22") == []


def test_config_renamed_with_its_content_unchanged_needs_no_bump(site):
    text = (site / "nginx.conf.tmpl").read_text()
    commit(site, {"nginx.conf.tmpl": None, "nginx.conf": text,
                  "compose.yml": edit(site, "compose.yml", "file: nginx.conf.tmpl",
                                      "file: nginx.conf")})
    assert only(lint(site), "lint.config-version") == []


def test_config_renamed_and_edited_names_both_files(site):
    text = (site / "nginx.conf.tmpl").read_text().replace("256", "512")
    commit(site, {"nginx.conf.tmpl": None, "nginx.conf": text,
                  "compose.yml": edit(site, "compose.yml", "file: nginx.conf.tmpl",
                                      "file: nginx.conf")})
    [found] = only(lint(site), "lint.config-version")
    assert "file nginx.conf (was nginx.conf.tmpl)" in found.message


def test_plain_config_of_an_optional_compose_file(notes):
    """example-notes' app.py config: no template, in compose.yml; the database's
    entrypoint lives in compose.postgres.yml."""
    app = edit(notes, "app.py", "MAX_BODY = 64 * 1024", "MAX_BODY = 128 * 1024")
    entry = edit(notes, "entrypoint.postgres.sh", "set -eu", "set -eux")
    commit(notes, {"app.py": app, "entrypoint.postgres.sh": entry})
    found = lint(notes)
    assert sorted((f.code, f.file, f.key) for f in found) == [
        ("CCCI-E850", "abra.sh", "APP_PY_VERSION"),
        ("CCCI-E850", "abra.sh", "DB_ENTRYPOINT_VERSION")]
    by_key = {f.key: f.message for f in found}
    assert by_key["APP_PY_VERSION"].startswith("config app_py (compose.yml): its file app.py")
    assert "config db_entrypoint (compose.postgres.yml)" in by_key["DB_ENTRYPOINT_VERSION"]


def test_config_name_without_version_variable(site):
    compose = edit(site, "compose.yml", "name: ${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}",
                   "name: ${STACK_NAME}_nginx_conf")
    commit(site, {"compose.yml": compose}, tag="1.2.1+1.22")
    commit(site, nginx_edit(site))
    [found] = lint(site)
    assert (found.code, found.file, found.key) == (
        "CCCI-E850", "compose.yml", "configs.nginx_conf.name")
    assert "has no version variable" in found.message


def test_secret_file_versioned_in_env_sample(site):
    """A secret the recipe ships as a file, versioned by a .env.sample variable."""
    compose = (site / "compose.yml").read_text() + (
        "\nsecrets:\n  banner:\n    name: ${STACK_NAME}_banner_${BANNER_VERSION}\n"
        "    file: banner.txt\n")
    env = (site / ".env.sample").read_text() + "\nBANNER_VERSION=v1\n"
    commit(site, {"compose.yml": compose, ".env.sample": env, "banner.txt": "hello\n"},
           tag="1.2.1+1.22")
    commit(site, {"banner.txt": "hello, world\n"})
    [found] = lint(site)
    assert (found.code, found.file, found.key) == ("CCCI-E850", ".env.sample", "BANNER_VERSION")
    assert found.message.startswith("secret banner (compose.yml): its file banner.txt")
    commit(site, {".env.sample": env.replace("BANNER_VERSION=v1", "BANNER_VERSION=v2")})
    assert lint(site) == []


# --- 2. compose changed, version did not ------------------------------------------

def retries_edit(repo: Path) -> dict[str, str]:
    return {"compose.yml": edit(repo, "compose.yml", "retries: 5", "retries: 6")}


def test_release_with_compose_change_and_stale_label_is_an_error(site):
    commit(site, {**retries_edit(site), "release/1.3.0+1.22": "Notes.\n"}, tag="1.3.0+1.22")
    found = lint(site)
    assert [(f.code, f.severity, f.file, f.key) for f in found] == [
        ("CCCI-E851", "error", "compose.yml", "services.app.deploy.labels")]
    assert "release 1.3.0+1.22 changes the compose files" in found[0].message
    assert "still says 1.2.0+1.22" in found[0].message


def test_head_with_compose_change_and_stale_label_is_a_warning(site):
    commit(site, retries_edit(site))
    found = lint(site)
    assert [(f.code, f.severity, f.file, f.key) for f in found] == [
        ("CCCI-W852", "warning", "compose.yml", "services.app.deploy.labels")]
    assert "still says 1.2.0+1.22" in found[0].message


def test_compose_change_with_the_version_moved_is_clean(site):
    commit(site, retries_edit(site))
    commit(site, site_release(site))
    assert lint(site) == []
    commit(site, {}, tag="1.3.0+1.22")
    assert lint(site) == []


def test_no_compose_change_needs_no_new_version(site):
    commit(site, {"README.md": "A better README.\n"})
    assert lint(site) == []


def test_image_bump_without_upstream_bump(site):
    image = edit(site, "compose.yml", "ccci-example/nginx:1.22", "ccci-example/nginx:1.23")
    commit(site, {"compose.yml": image})
    commit(site, site_release(site), tag="1.3.0+1.22")
    found = lint(site)
    assert [(f.code, f.severity, f.file, f.key) for f in found] == [
        ("CCCI-W853", "warning", "compose.yml", "services.app.image")]
    for words in ("ccci-example/nginx", "tag 1.22 to 1.23", "stays 1.22",
                  "1.2.0+1.22 -> 1.3.0+1.22"):
        assert words in found[0].message


def test_image_bump_in_a_head_labelled_with_the_same_upstream(site):
    image = edit(site, "compose.yml", "ccci-example/nginx:1.22", "ccci-example/nginx:1.23")
    commit(site, {"compose.yml": image})
    commit(site, site_release(site))
    assert [f.code for f in lint(site)] == ["CCCI-W853"]


def test_image_bump_with_upstream_bump_is_clean(site):
    image = edit(site, "compose.yml", "ccci-example/nginx:1.22", "ccci-example/nginx:1.23")
    commit(site, {"compose.yml": image})
    commit(site, site_release(site, "1.3.0+1.23"), tag="1.3.0+1.23")
    assert lint(site) == []


def test_a_dependency_bump_leaves_the_upstream_alone(notes):
    db = edit(notes, "compose.postgres.yml", "ccci-example/postgres:15",
              "ccci-example/postgres:16")
    label = "coop-cloud.${STACK_NAME}.version="
    app = edit(notes, "compose.yml", label + "1.2.0+0.3.0", label + "1.2.1+0.3.0")
    commit(notes, {"compose.postgres.yml": db, "compose.yml": app,
                   "release/1.2.1+0.3.0": "PostgreSQL 16.\n"}, tag="1.2.1+0.3.0")
    assert lint(notes) == []


@pytest.mark.parametrize(("tag", "upstream", "expected"), [
    ("1.22", "1.22", True), ("v1.22", "1.22", True), ("1.22-alpine", "1.22", True),
    ("1.22.1", "1.22", True), ("6-alpine", "6-alpine", True), ("15", "1.22", False),
    ("1.2", "1.22", False), ("latest", "1.22", False)])
def test_tag_is_upstream(tag, upstream, expected):
    assert rr._tag_is_upstream(tag, upstream) is expected


# --- 3. release notes -------------------------------------------------------------

def test_release_without_notes_when_the_previous_had_them(site):
    files = site_release(site)
    del files["release/1.3.0+1.22"]
    commit(site, files, tag="1.3.0+1.22")
    found = lint(site)
    assert [(f.code, f.severity, f.file, f.key) for f in found] == [
        ("CCCI-W854", "warning", "release/1.3.0+1.22", "1.3.0+1.22")]
    assert "1.2.0+1.22 had them" in found[0].message


def test_release_with_notes_is_clean(site):
    commit(site, site_release(site), tag="1.3.0+1.22")
    assert lint(site) == []


def test_head_labelled_with_a_new_version_needs_notes_or_release_next(site):
    files = site_release(site)
    del files["release/1.3.0+1.22"]
    commit(site, files)
    assert [(f.code, f.file) for f in lint(site)] == [("CCCI-W854", "release/1.3.0+1.22")]
    commit(site, {"release/next": "Coming up.\n"})
    assert lint(site) == []


def test_head_still_labelled_with_the_previous_version_needs_no_notes(site):
    commit(site, {"README.md": "More.\n"})
    assert lint(site) == []


def test_no_notes_asked_for_when_the_previous_release_had_none(site):
    files = site_release(site)
    del files["release/1.3.0+1.22"]
    commit(site, files, tag="1.3.0+1.22")
    commit(site, {"compose.yml": edit(site, "compose.yml", SITE_LABEL + "1.3.0+1.22",
                                      SITE_LABEL + "1.4.0+1.22")}, tag="1.4.0+1.22")
    assert lint(site) == []


# --- 4. a variable where abra reads before interpolating --------------------------

def test_variable_in_a_duration_field(site):
    compose = edit(site, "compose.yml", "start_period: 10s", "start_period: ${START:-10s}")
    commit(site, {"compose.yml": compose})
    found = only(lint(site), "lint.uninterpolated-field")
    assert [(f.code, f.severity, f.file, f.key) for f in found] == [
        ("CCCI-E855", "error", "compose.yml", "services.app.healthcheck.start_period")]
    assert "'${START:-10s}'" in found[0].message
    assert "as a duration before interpolating" in found[0].message
    assert "variable START" in found[0].message


def test_variables_in_number_and_boolean_fields_of_any_compose_file(site):
    extra = (
        "version: '3.8'\nservices:\n  app:\n    stop_grace_period: $GRACE\n"
        "    ports:\n      - target: 80\n        published: ${PORT}\n        mode: host\n"
        "      - \"${OTHER_PORT}:81\"\n"
        "    deploy:\n      replicas: ${REPLICAS:-1}\n"
        "      restart_policy:\n        max_attempts: 3\n    read_only: ${RO}\n"
        "    environment:\n      - GREETING=${GREETING}\n")
    commit(site, {"compose.extra.yml": extra})
    found = only(lint(site), "lint.uninterpolated-field")
    assert sorted((f.code, f.file, f.key) for f in found) == [
        ("CCCI-E855", "compose.extra.yml", "services.app.deploy.replicas"),
        ("CCCI-E855", "compose.extra.yml", "services.app.ports[0].published"),
        ("CCCI-E855", "compose.extra.yml", "services.app.read_only"),
        ("CCCI-E855", "compose.extra.yml", "services.app.stop_grace_period")]
    kinds = {f.key: f.message for f in found}
    assert "as a number" in kinds["services.app.deploy.replicas"]
    assert "as true or false" in kinds["services.app.read_only"]


def test_variable_field_found_without_a_previous_release(site):
    for tag in tags(site):
        subprocess.run(["git", "-C", str(site), "tag", "-d", tag], check=True,
                       capture_output=True)
    compose = edit(site, "compose.yml", "interval: 2s", "interval: ${INTERVAL}")
    commit(site, {"compose.yml": compose})
    with lint_subject("example-site", site) as subject:
        assert subject.previous is None
        found = list(rr.uninterpolated_field(subject))
    assert [(f.code, f.key) for f in found] == [
        ("CCCI-E855", "services.app.healthcheck.interval")]


def test_escaped_dollar_is_no_variable(site):
    compose = edit(site, "compose.yml", "start_period: 10s", "start_period: $$10s")
    commit(site, {"compose.yml": compose})
    assert only(lint(site), "lint.uninterpolated-field") == []


@pytest.mark.parametrize(("path", "kind"), [
    (("services", "app", "healthcheck", "timeout"), rr.DURATION),
    (("services", "db", "deploy", "update_config", "delay"), rr.DURATION),
    (("services", "app", "configs", "[0]", "mode"), rr.NUMBER),
    (("services", "app", "ulimits", "nofile", "soft"), rr.NUMBER),
    (("networks", "proxy", "external"), rr.BOOLEAN),
    (("services", "app", "ports", "[0]"), None),
    (("services", "app", "environment", "[0]"), None),
    (("services", "app", "configs", "mode"), None)])
def test_typed_field(path, kind):
    assert rr.typed_field(path) == kind


@pytest.mark.parametrize(("text", "refs"), [
    ("${A}", [("A", False)]), ("$A", [("A", False)]), ("${A:-x}", [("A", True)]),
    ("${A-x}", [("A", True)]), ("${A:?no}", [("A", False)]), ("$A-x", [("A", True)]),
    ("$$A", []), ("$${A}", []), ("a${B}c$C", [("B", False), ("C", False)])])
def test_references(text, refs):
    assert list(rr.references(text)) == refs


# --- 5. .env.sample against the compose files ------------------------------------

def test_new_env_variable_nobody_uses(site):
    env = (site / ".env.sample").read_text() + "\nCACHE_SIZE=64\n#DEBUG_LOG=1\n"
    commit(site, {".env.sample": env})
    found = lint(site)
    assert [(f.code, f.severity, f.file, f.key) for f in found] == [
        ("CCCI-W856", "warning", ".env.sample", "CACHE_SIZE"),
        ("CCCI-W856", "warning", ".env.sample", "DEBUG_LOG")]
    assert "gains CACHE_SIZE (not in 1.2.0+1.22)" in found[0].message


def test_new_env_variable_used_is_clean(site):
    env = (site / ".env.sample").read_text() + "\nCACHE_SIZE=64\nSECRET_API_KEY_VERSION=v1\n"
    compose = edit(site, "compose.yml", "- EXAMPLE_SITE_VERSION=1.2.0+1.22",
                   "- EXAMPLE_SITE_VERSION=1.2.0+1.22\n      - CACHE_SIZE=${CACHE_SIZE}")
    commit(site, {".env.sample": env, "compose.yml": compose})
    assert only(lint(site), "lint.env-unused") == []


def test_env_variable_removed_but_still_used(site):
    env = edit(site, ".env.sample", "LETS_ENCRYPT_ENV=production\n", "")
    commit(site, {".env.sample": env})
    found = lint(site)
    assert [(f.code, f.severity, f.file, f.key) for f in found] == [
        ("CCCI-W857", "warning", "compose.yml", "LETS_ENCRYPT_ENV")]
    assert "no longer sets LETS_ENCRYPT_ENV (1.2.0+1.22 did)" in found[0].message


def test_env_variable_removed_but_commented_or_defaulted_is_clean(site):
    env = edit(site, ".env.sample", "LETS_ENCRYPT_ENV=production", "#LETS_ENCRYPT_ENV=production")
    commit(site, {".env.sample": env})
    assert lint(site) == []
    compose = edit(site, "compose.yml", "${LETS_ENCRYPT_ENV}", "${LETS_ENCRYPT_ENV:-production}")
    commit(site, {".env.sample": edit(site, ".env.sample", "#LETS_ENCRYPT_ENV=production\n", ""),
                  "compose.yml": compose})
    assert only(lint(site), "lint.env-removed") == []
