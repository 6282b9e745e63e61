"""The deploy_prepare action reads an inserted secret's value on the controller, never on
the host, and refuses a variable that is not set rather than create an empty secret."""

from __future__ import annotations

import pytest
from ansible_collections.ccci.recipe.plugins.action.deploy_prepare import with_controller_values

PLANNED = [
    {"name": "db_password", "version": "v1", "docker_name": "app_db_password_v1",
     "length": 32, "value_env": None},
    {"name": "smtp_password", "version": "v2", "docker_name": "app_smtp_password_v2",
     "length": 48, "value_env": "CI_SMTP_PASSWORD"},
]


def test_an_inserted_value_comes_from_the_controller_environment():
    secrets = with_controller_values(PLANNED, {"CI_SMTP_PASSWORD": "s3cret"})
    assert secrets == [
        {"docker_name": "app_db_password_v1", "length": 32},
        {"docker_name": "app_smtp_password_v2", "length": 48, "value": "s3cret"},
    ]


@pytest.mark.parametrize("environ", [{}, {"CI_SMTP_PASSWORD": ""}])
def test_an_unset_or_empty_variable_is_refused_naming_it_not_a_value(environ):
    with pytest.raises(ValueError) as caught:
        with_controller_values(PLANNED, environ)
    message = str(caught.value)
    assert "app_smtp_password_v2" in message and "CI_SMTP_PASSWORD" in message


def test_keys_the_module_does_not_know_still_reach_its_argument_check():
    """Only the planning keys (name, version) are dropped: a misspelt key is refused by
    the module, not lost here."""
    [secret] = with_controller_values([{"docker_name": "x_v1", "lenght": 8}], {})
    assert secret == {"docker_name": "x_v1", "lenght": 8}
