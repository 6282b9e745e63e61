"""Names that reach shell commands and Docker objects are checked strictly."""

import pytest

from ccci.errors import BadInput
from ccci.names import (
    check_domain,
    check_recipe_name,
    docker_object_name,
    secret_key_name,
    stack_name,
)


@pytest.mark.parametrize(
    "name", ["../etc", "a/b", "x;rm -rf", "$(id)", "Upper", "", "a b", "-dash", "a`b`"]
)
def test_unsafe_recipe_names_are_refused(name):
    with pytest.raises(BadInput, match="invalid recipe name"):
        check_recipe_name(name)


@pytest.mark.parametrize("domain", ["x", "a..b", "a.b;c", "a/b.c", "-a.b", "a.b$(x)", "A.b"])
def test_unsafe_domains_are_refused(domain):
    with pytest.raises(BadInput, match="invalid domain"):
        check_domain(domain)


def test_stack_name_and_object_names():
    assert stack_name("notes-1a2b.ccci.test") == "notes-1a2b_ccci_test"
    assert docker_object_name("s_t", "db_password", "v1") == "s_t_db_password_v1"
    assert secret_key_name("SECRET_DB_PASSWORD_VERSION") == "db_password"
    assert secret_key_name("NGINX_CONF_VERSION") is None


def test_docker_name_limit_is_reported():
    with pytest.raises(BadInput, match="over Docker's limit of 64"):
        docker_object_name("a" * 50, "db_password", "v1")
