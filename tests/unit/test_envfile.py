"""Dotenv parsing against the shapes real Co-op Cloud .env.sample files take."""

import pytest

from ccci.envfile import expand, parse_dotenv, variables_used
from ccci.errors import CcciError

NEXTCLOUD_LIKE = """\
TYPE=nextcloud:3.0.1+29.0.4-fpm
DOMAIN=nextcloud.example.com
## Domain aliases
#EXTRA_DOMAINS=', `www.nextcloud.example.com`'
LETS_ENCRYPT_ENV=production

COMPOSE_FILE="compose.yml"
#COMPOSE_FILE="$COMPOSE_FILE:compose.apps.yml"
COMPOSE_FILE="$COMPOSE_FILE:compose.postgres.yml"

SECRET_DB_PASSWORD_VERSION=v1
SECRET_ADMIN_PASSWORD_VERSION=v1 # length=32
SECRET_SMTP_PASSWORD_VERSION=v2   # length=64 charset=special-chars
DEFAULT_QUOTA="10 GB"
SMTP_FROM=noreply@${DOMAIN}
X_FRAME=SAMEORIGIN # inline comment
LITERAL='no $expansion here'
EMPTY=
URL=https://example.com/#anchor
export TIMEOUT=300
"""


def test_values_and_expansion_in_file_order():
    env = parse_dotenv(NEXTCLOUD_LIKE).values
    assert env["TYPE"] == "nextcloud:3.0.1+29.0.4-fpm"
    assert env["COMPOSE_FILE"] == "compose.yml:compose.postgres.yml"
    assert env["DEFAULT_QUOTA"] == "10 GB"
    assert env["SMTP_FROM"] == "noreply@nextcloud.example.com"
    assert env["X_FRAME"] == "SAMEORIGIN"
    assert env["LITERAL"] == "no $expansion here"
    assert env["EMPTY"] == ""
    assert env["URL"] == "https://example.com/#anchor"
    assert env["TIMEOUT"] == "300"
    assert "EXTRA_DOMAINS" not in env, "commented-out lines are options, not values"


def test_comment_modifiers_per_key():
    mods = parse_dotenv(NEXTCLOUD_LIKE).modifiers
    assert mods["SECRET_ADMIN_PASSWORD_VERSION"] == {"length": "32"}
    assert mods["SECRET_SMTP_PASSWORD_VERSION"] == {"length": "64", "charset": "special-chars"}
    assert "SECRET_DB_PASSWORD_VERSION" not in mods


def test_pinned_keys_keep_the_harness_values():
    parsed = parse_dotenv(
        NEXTCLOUD_LIKE, {"DOMAIN": "ci.test", "STACK_NAME": "ci_test"},
        pinned=frozenset({"DOMAIN", "STACK_NAME"}),
    )
    assert "DOMAIN" not in parsed.values
    assert parsed.values["SMTP_FROM"] == "noreply@ci.test"


def test_base_env_is_visible_to_expansion():
    parsed = parse_dotenv('COMPOSE_FILE="$COMPOSE_FILE:extra.yml"', {"COMPOSE_FILE": "a.yml"})
    assert parsed.values["COMPOSE_FILE"] == "a.yml:extra.yml"


def test_double_quotes_keep_hashes_and_escapes():
    env = parse_dotenv('A="x # not a comment" # real comment length=9\nB="say \\"hi\\""').values
    assert env == {"A": "x # not a comment", "B": 'say "hi"'}


def test_abra_sh_exports_only():
    text = """#!/bin/bash
export NGINX_CONF_VERSION=v2
export ENTRYPOINT_VERSION=v5
PLAIN=ignored
custom_cmd() {
  echo "$1"
}
"""
    env = parse_dotenv(text, exports_only=True, source="abra.sh").values
    assert env == {"NGINX_CONF_VERSION": "v2", "ENTRYPOINT_VERSION": "v5"}


@pytest.mark.parametrize(
    "line",
    ["NOT A LINE", "1KEY=x", 'Q="unterminated'],
)
def test_malformed_lines_name_file_and_line(line):
    with pytest.raises(CcciError, match=r"\.env\.sample:2:"):
        parse_dotenv(f"OK=1\n{line}\n", source=".env.sample")


def test_expand_forms_and_missing():
    missing: set[str] = set()
    env = {"SET": "v", "EMPTY": ""}
    text = "$SET ${SET} ${UNSET:-d} ${EMPTY:-e} ${EMPTY-f} $$HOME ${GONE}"
    assert expand(text, env, missing=missing) == "v v d e  $HOME "
    assert missing == {"GONE"}


def test_variables_used_ignores_defaults_and_escapes():
    text = "${STACK_NAME}_x ${TIMEOUT:-120} $$ESCAPED $DOMAIN ${OPT-}"
    assert variables_used(text) == {"STACK_NAME", "DOMAIN"}
