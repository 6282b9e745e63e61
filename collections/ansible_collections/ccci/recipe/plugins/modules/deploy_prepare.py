#!/usr/bin/python
# Copyright: ccci developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything a deploy needs from the host before docker stack deploy, in one module run."""

# Ansible wants the documentation before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_prepare
short_description: Prepare the host for one deploy of a ccci run
description:
  - Creates the run's folder on the host, writes the files a deploy reads from it
    (the harness overlay), creates the Docker secrets the run lacks and, with O(stack),
    looks up the stack's namespace, so that a deploy costs one module run before
    C(docker stack deploy) instead of one per step (and one more per secret).
  - The namespace is reported, not judged; the caller refuses a fresh deploy over a
    stack that exists (RV(namespace)). While it exists no secret is created.
version_added: 0.1.0
author: ccci developers (!UNKNOWN)
options:
  run_id:
    description: The run id, value of the C(ccci.run) label its secrets carry.
    type: str
    required: true
  folder:
    description: Absolute path of the run's folder on the host; created (mode C(0700))
      with its parents when missing.
    type: path
    required: true
  files:
    description: Files to write into O(folder) (mode C(0644)), file name to content; a
      file whose content is already the same is left alone. Names may not contain
      C(/).
    type: dict
    default: {}
  stack:
    description: The stack about to be deployed fresh; its namespace is looked up.
    type: str
  secrets:
    description:
      - Docker secrets the deploy needs; each one the run does not have yet is created
        with the run's label. A secret the run has keeps its value.
      - Through the collection's action plugin an element may name, in C(value_env),
        the controller's environment variable that holds its value (the recipe's
        C(SECRET_VALUES)); the action reads it on the controller and passes O(secrets[].value).
        Other keys of a planned secret (C(name), C(version)) are ignored there.
    type: list
    elements: dict
    default: []
    suboptions:
      docker_name:
        description: The secret's Docker name.
        type: str
        required: true
      length:
        description: Characters of the value generated (letters and digits) when no
          O(secrets[].value) is given.
        type: int
        default: 32
      value:
        description: The value; never shown in results or logs.
        type: str
extends_documentation_fragment:
  - ccci.recipe.docker
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Looks up everything and reports what it would write and create; writes and
      creates nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Prepare the host for the deploy
  ccci.recipe.deploy_prepare:
    run_id: "{{ deploy_run.run_id }}"
    folder: "{{ deploy_run.host.workdir }}"
    files:
      compose.harness.target.yml: >-
        {{ lookup('ansible.builtin.template', 'harness-overlay.yml.j2') }}
    stack: "{{ deploy_run.stack }}"
    secrets:
      - docker_name: notes_ccci_test_db_password_v1
        length: 32
      - docker_name: notes_ccci_test_api_key_v1
        value_env: NOTES_API_KEY  # read on the controller
  register: deploy_prepared
"""

RETURN = r"""
secrets:
  description: Names of the Docker secrets that carried the run's label before the call.
  returned: always
  type: list
  elements: str
created:
  description: Names of the secrets created (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
written:
  description: Paths of the files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
namespace:
  description: Objects carrying the O(stack) namespace label, whoever owns them, by kind.
  returned: when O(stack) is given
  type: dict
stack_owned:
  description: Whether the run owns the O(stack) namespace.
  returned: when O(stack) is given
  type: bool
"""

import os
import secrets as randomness
import string
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccci.recipe.plugins.module_utils import labels
from ansible_collections.ccci.recipe.plugins.module_utils.docker_client import (
    DOCKER_ARGS,
    DockerException,
    connect,
    require_docker,
)
from ansible_collections.ccci.recipe.plugins.module_utils.run_objects import (
    collect,
    names,
    namespace_of,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "run_id": {"type": "str", "required": True},
    "folder": {"type": "path", "required": True},
    "files": {"type": "dict", "default": {}},
    "stack": {"type": "str"},
    "secrets": {  # the names and lengths are not secret; ``value`` is
        "type": "list", "elements": "dict", "default": [], "no_log": False,
        "options": {
            "docker_name": {"type": "str", "required": True},
            "length": {"type": "int", "default": 32},
            "value": {"type": "str", "no_log": True},
        },
    },
    **DOCKER_ARGS,
}
ALPHABET = string.ascii_letters + string.digits


def check_files(folder: str, files: dict[str, Any]) -> dict[str, str]:
    """The files' absolute paths with their content; raises ValueError naming a bad name."""
    if not os.path.isabs(folder):
        raise ValueError(f"folder must be an absolute path, got {folder!r}")
    checked = {}
    for name, content in files.items():
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"file name {name!r} must be a plain name inside the folder")
        checked[os.path.join(folder, name)] = "" if content is None else str(content)
    return checked


def outdated(files: dict[str, str]) -> list[str]:
    """The paths whose content on disk is not the one wanted (missing ones included)."""
    stale = []
    for path, content in files.items():
        try:
            with open(path, encoding="utf-8") as handle:
                if handle.read() == content:
                    continue
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        stale.append(path)
    return stale


def write_files(folder: str, files: dict[str, str], paths: list[str]) -> None:
    """Create the folder (0700) and write ``paths`` of ``files`` (0644), each atomically."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    for path in paths:
        partial = f"{path}.ccci-partial"
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                  "w", encoding="utf-8") as handle:
            handle.write(files[path])
        os.chmod(partial, 0o644)
        os.replace(partial, path)


def missing_secrets(wanted: list[dict[str, Any]], existing: list[str]) -> list[dict[str, Any]]:
    """The wanted secrets the run does not have; ValueError for a length below 1."""
    for spec in wanted:
        if spec["value"] is None and spec["length"] < 1:
            raise ValueError(f"secret {spec['docker_name']}: length must be 1 or more, "
                             f"got {spec['length']}")
    return [spec for spec in wanted if spec["docker_name"] not in existing]


def create_secrets(client: Any, run_id: str, specs: list[dict[str, Any]]) -> None:
    """Create each secret, labelled with the run; a generated value is letters and
    digits from the system's secure random source."""
    for spec in specs:
        value = spec["value"]
        if value is None:
            value = "".join(randomness.choice(ALPHABET) for _ in range(spec["length"]))
        client.secrets.create(name=spec["docker_name"], data=value.encode(),
                              labels={labels.RUN: run_id})


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_docker(module)
    params = module.params
    if not params["run_id"].strip():
        module.fail_json(msg="run_id must not be empty")
    try:
        files = check_files(params["folder"], params["files"])
        result: dict[str, Any] = {}
        client = connect(params["docker_host"])
        if params["stack"]:
            result["namespace"], result["stack_owned"] = namespace_of(
                client, params["run_id"], params["stack"])
        run = [labels.selector(labels.RUN, params["run_id"])]
        result["secrets"] = names(collect(client, run, kinds=("secrets",)))["secrets"]
        taken = any(result.get("namespace", {}).values())  # the deploy will be refused
        creating = [] if taken else missing_secrets(params["secrets"], result["secrets"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except DockerException as exc:
        module.fail_json(msg=f"Docker API error: {exc}")
    result["created"] = [spec["docker_name"] for spec in creating]
    stale = outdated(files)
    folder_missing = not os.path.isdir(params["folder"])
    if not module.check_mode:
        try:
            write_files(params["folder"], files, stale)
            create_secrets(client, params["run_id"], creating)
        except OSError as exc:
            module.fail_json(msg=f"cannot write the run's folder {params['folder']}: {exc}")
        except DockerException as exc:
            module.fail_json(msg="cannot create the run's secrets: "
                                 f"{getattr(exc, 'explanation', None) or exc}")
    module.exit_json(changed=bool(stale or folder_missing or creating), written=stale,
                     **result)


if __name__ == "__main__":
    main()
