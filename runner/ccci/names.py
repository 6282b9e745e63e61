"""Names that end up in shell commands, paths and Docker object names.

Recipe and domain names reach ``docker`` command lines and file paths, so they are
checked against strict patterns before anything runs; Docker also caps secret and
config names at 64 characters, which long domains overflow.
"""

from __future__ import annotations

import re

from ccci.errors import BadInput

DOCKER_NAME_MAX = 64
RECIPE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")
RUN_LABEL = "ccci.run"
STACK_LABEL = "com.docker.stack.namespace"


def check_recipe_name(name: str) -> str:
    """Return ``name`` if safe as a recipe name, else raise naming the problem."""
    if not RECIPE_NAME.match(name or ""):
        raise BadInput(
            f"invalid recipe name {name!r}: use lower-case letters, digits, '-' and '_' "
            "(no path separators, spaces or shell metacharacters)"
        )
    return name


def check_domain(domain: str) -> str:
    """Return ``domain`` if it is a plain DNS name, else raise naming the problem."""
    if not DOMAIN_NAME.match(domain or ""):
        raise BadInput(
            f"invalid domain {domain!r}: use a DNS name of lower-case letters, digits, "
            "'-' and '.' such as app.example.test"
        )
    return domain


def stack_name(domain: str) -> str:
    """The Co-op Cloud stack name: the domain with dots replaced by underscores."""
    return check_domain(domain).replace(".", "_")


def secret_key_name(env_key: str) -> str | None:
    """``SECRET_DB_PASSWORD_VERSION`` -> ``db_password``; None for other keys."""
    match = re.fullmatch(r"SECRET_([A-Z0-9_]+)_VERSION", env_key)
    return match.group(1).lower() if match else None


def docker_object_name(stack: str, name: str, version: str) -> str:
    """``${STACK_NAME}_<name>_<version>``, the shape of recipe secrets and configs."""
    full = f"{stack}_{name}_{version}"
    if len(full) > DOCKER_NAME_MAX:
        raise BadInput(
            f"Docker object name {full!r} is {len(full)} characters, over Docker's limit "
            f"of {DOCKER_NAME_MAX}: use a shorter domain"
        )
    return full
