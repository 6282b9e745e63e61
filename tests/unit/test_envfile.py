"""Dotenv parsing against the shapes real Co-op Cloud .env.sample files take."""

import pytest

from ccci.envfile import expand, parse_dotenv
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


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        # ":-" takes the default when unset or empty, "-" only when unset.
        ("${A:-${B}}", {"B": "b"}, "b"),
        ("${A:-${B}}", {"A": "", "B": "b"}, "b"),
        ("${A:-${B}}", {"A": "a", "B": "b"}, "a"),
        ("${A:-${B:-c}}", {}, "c"),
        ("${A:-${B:-c}}", {"B": ""}, "c"),
        ("${A:-${B:-c}}", {"B": "b"}, "b"),
        ("${A-${B}}", {"B": "b"}, "b"),
        ("${A-${B}}", {"A": "", "B": "b"}, ""),
        ("${A-${B-c}}", {"B": ""}, ""),
        ("${A-${B-c}}", {}, "c"),
        ("${A:-$B}", {"B": "b"}, "b"),
        ("<${A:-${B}-${C:-d}}>", {"B": "b"}, "<b-d>"),
        ("${A:-{x}}", {}, "{x}"),
        ("${A:-a}b}", {}, "ab}"),
        ("${A:-$${B}}", {}, "${B}"),
    ],
)
def test_nested_defaults(text, env, expected):
    assert expand(text, env) == expected


def test_a_default_is_expanded_only_when_used():
    missing: set[str] = set()
    assert expand("${A:-${B}}", {"A": "a"}, missing=missing) == "a"
    assert missing == set()
    assert expand("${A:-${B}}", {}, missing=missing) == ""
    assert missing == {"B"}


@pytest.mark.parametrize("text", ["${A", "${A:-x", "$1", "${A:+x}", "${1}", "5$"])
def test_what_starts_no_reference_stays_literal(text):
    assert expand(text, {"A": "a", "B": "b"}) == text


def test_an_unclosed_default_is_text_and_what_follows_still_expands():
    assert expand("${A:-${B}", {"B": "b"}) == "${A:-b"


def test_required_forms_count_as_missing():
    missing: set[str] = set()
    assert expand("${A:?need A}${B?need B}${C?}", {"A": "", "C": ""}, missing=missing) == ""
    assert missing == {"A", "B"}


def test_nested_default_in_a_dotenv_line():
    env = parse_dotenv('EMPTY=\nURL="${EMPTY:-${UNSET:-https://$DOMAIN}}/x"',
                       {"DOMAIN": "ci.test"}).values
    assert env["URL"] == "https://ci.test/x"


def test_unclosed_nesting_stays_text_without_blowing_up():
    """Each unclosed level is decided once; a naive retry is exponential in the depth."""
    text = "${A:-" * 60
    assert expand(text, {}) == text


def test_absurd_nesting_is_an_error_naming_the_line():
    line = "X=" + "${A:-" * 2000 + "}" * 2000
    with pytest.raises(CcciError, match=r"\.env\.sample:2: variable references nested too"):
        parse_dotenv(f"OK=1\n{line}\n", source=".env.sample")
