"""What a Drone pipeline step is asked to test, from its environment (ccci.drone_env)."""

from __future__ import annotations

import pytest

from ccci.drone_env import DroneBuild, from_environment
from ccci.errors import BadInput

SHA = "94cdc07c397e3316b92214342e79e24edc3959a7"
STEP = {  # what Drone and the bridge's build parameters give a step
    "DRONE": "true", "DRONE_BUILD_NUMBER": "42", "DRONE_REPO": "coop-cloud/ccci",
    "DRONE_COMMIT_SHA": "0" * 40, "DRONE_STAGE_MACHINE": "ci-runner-1",
    "DRONE_BUILD_LINK": "https://drone.example.org/coop-cloud/ccci/42",
    "CCCI_RECIPE": "example-site", "CCCI_REF": SHA, "CCCI_PR": "7",
    "CCCI_REPO": "coop-cloud/example-site", "CCCI_QUICK": "true",
}


def test_a_build_with_every_variable():
    build = from_environment(STEP)
    assert build == DroneBuild(
        recipe="example-site", ref=SHA, pr=7, repo="coop-cloud/example-site", quick=True,
        build_number=42, build_link="https://drone.example.org/coop-cloud/ccci/42",
        machine="ci-runner-1")
    assert build.ci_record() == {
        "system": "drone", "build": 42, "link": "https://drone.example.org/coop-cloud/ccci/42",
        "pr": 7, "repo": "coop-cloud/example-site", "machine": "ci-runner-1"}


def test_only_the_recipe_is_required():
    build = from_environment({"DRONE": "true", "CCCI_RECIPE": " example-notes\n"})
    assert build == DroneBuild(recipe="example-notes")
    assert build.ci_record()["build"] is None and build.quick is False


@pytest.mark.parametrize("value", ["true", "false", ""])
def test_quick_is_true_false_or_unset(value):
    assert from_environment({**STEP, "CCCI_QUICK": value}).quick is (value == "true")


def test_the_pipelines_own_commit_is_not_the_ref_under_test():
    step = {k: v for k, v in STEP.items() if k != "CCCI_REF"}
    assert from_environment(step).ref is None  # DRONE_COMMIT_SHA is ccci's commit


@pytest.mark.parametrize(("change", "named"), [
    ({"CCCI_RECIPE": None}, "CCCI_RECIPE is not set"),
    ({"CCCI_RECIPE": "  "}, "CCCI_RECIPE is not set"),
    ({"CCCI_QUICK": "yes"}, "CCCI_QUICK must be \"true\" or \"false\" (or unset), not 'yes'"),
    ({"CCCI_QUICK": "True"}, "CCCI_QUICK must be"),
    ({"CCCI_PR": "#7"}, "CCCI_PR must be a pull request number (digits only), not '#7'"),
    ({"CCCI_PR": "-1"}, "CCCI_PR must be"),
    ({"CCCI_PR": "\u0667"}, "CCCI_PR must be"),  # a digit, but not an ASCII one
    ({"DRONE_BUILD_NUMBER": "x"}, "DRONE_BUILD_NUMBER must be a build number"),
])
def test_a_missing_or_invalid_variable_is_named(change, named):
    step = {k: v for k, v in {**STEP, **change}.items() if v is not None}
    with pytest.raises(BadInput) as refused:
        from_environment(step)
    assert named in str(refused.value)


@pytest.mark.parametrize("drone", [None, "", "false", "TRUE", "1"])
def test_outside_drone_there_is_no_build(drone):
    step = {k: v for k, v in {**STEP, "DRONE": drone}.items() if v is not None}
    assert from_environment(step) is None
    assert from_environment({}) is None
