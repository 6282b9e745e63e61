"""Stand-in for the get-pip script ansible-test bootstraps its sanity venvs with.

ansible-test makes each sanity test's venv without pip, then runs a get-pip script it
downloads from ci-files.testing.ansible.com (unreachable from CI hosts that only reach
PyPI) and caches under ~/.ansible/test/cache. This file does the same job with the
interpreter's own ``ensurepip`` and PyPI.

``python scripts/ansible_test_get_pip.py --seed`` copies this file into that cache
when no script is there yet (a real download, if one was made, is kept). ansible-test
then runs it as ``python get_pip.py [--disable-pip-version-check] pip==X.Y
[--no-setuptools] [--no-wheel]``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

# get-pip options that are not pip options: this stand-in never installs those anyway.
GET_PIP_ONLY = frozenset({"--no-setuptools", "--no-wheel"})


def cache_path() -> Path:
    """Where ansible-test looks for the bootstrap script of its pinned pip version."""
    from ansible_test._internal.python_requirements import get_venv_packages

    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    pip_version = get_venv_packages(SimpleNamespace(version=version))["pip"]
    return Path.home() / ".ansible/test/cache" / f"get_pip_{pip_version.replace('.', '_')}.py"


def seed() -> None:
    """Put this file in ansible-test's cache unless a script is there already."""
    target = cache_path()
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(__file__, target)


def bootstrap(args: list[str]) -> None:
    """Install pip with ensurepip, then the requested packages from PyPI."""
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True)
    wanted = [a for a in args if a not in GET_PIP_ONLY]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *wanted], check=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--seed"]:
        seed()
    else:
        bootstrap(sys.argv[1:])
