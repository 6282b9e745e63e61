"""The command line: --tiers, and --stages kept working as a deprecated alias."""

from __future__ import annotations

import pytest

from ccci import cli
from ccci.orchestrator import AVAILABLE_TIERS


@pytest.fixture
def requested(monkeypatch):
    """Capture the RunRequest the CLI builds instead of running it."""
    seen = []

    class _Orchestrator:
        def __init__(self, request):
            seen.append(request)

        def run(self):
            raise SystemExit(0)

    monkeypatch.setattr(cli, "Orchestrator", _Orchestrator)
    return seen


def _tiers(requested, *argv):
    with pytest.raises(SystemExit):
        cli.main(["run", "example-site", *argv])
    return requested[-1].tiers


def test_tiers_default_and_selection(requested):
    assert _tiers(requested) == AVAILABLE_TIERS
    assert _tiers(requested, "--tiers", "install, backup,") == ("install", "backup")


def test_stages_is_a_deprecated_alias(requested, capsys):
    assert _tiers(requested, "--stages", "install,restore") == ("install", "restore")
    assert "--stages is deprecated, use --tiers" in capsys.readouterr().err


def test_ingress_and_aliases(requested):
    with pytest.raises(SystemExit):
        cli.main(["run", "example-site"])
    assert (requested[-1].ingress, requested[-1].extra_domains) == ("traefik", ())
    with pytest.raises(SystemExit):
        cli.main(["run", "example-site", "--ingress", "direct", "--extra-domain",
                  "www.${DOMAIN}", "--extra-domain", "a.ccci.test"])
    assert requested[-1].ingress == "direct"
    assert requested[-1].extra_domains == ("www.${DOMAIN}", "a.ccci.test")
    with pytest.raises(SystemExit) as refused:
        cli.main(["run", "example-site", "--ingress", "nginx"])
    assert refused.value.code == 2


# -- quick runs, and a Drone pipeline step ----------------------------------------------


SHA = "94cdc07c397e3316b92214342e79e24edc3959a7"
STEP = {"DRONE": "true", "DRONE_BUILD_NUMBER": "42",
        "DRONE_BUILD_LINK": "https://drone.example.org/coop-cloud/ccci/42",
        "CCCI_RECIPE": "example-site", "CCCI_REF": SHA, "CCCI_PR": "7",
        "CCCI_REPO": "coop-cloud/example-site", "CCCI_QUICK": "true"}


@pytest.fixture
def drone_step(monkeypatch):
    """Set the environment of a Drone step (none of it outside Drone): ``drone_step()``
    for the whole of STEP, ``drone_step(NAME=None)`` to leave a variable out."""
    for name in [*STEP, "DRONE_STAGE_MACHINE"]:
        monkeypatch.delenv(name, raising=False)

    def set_step(**change):
        for name, value in {**STEP, **change}.items():
            if value is not None:
                monkeypatch.setenv(name, value)
    return set_step


def _refused(argv, capsys) -> str:
    assert cli.main(argv) == 2
    return capsys.readouterr().err


def test_quick_runs_install_and_functional_and_refuses_a_tier_selection(requested, capsys,
                                                                         drone_step):
    with pytest.raises(SystemExit):
        cli.main(["run", "example-site", "--quick"])
    assert (requested[-1].quick, requested[-1].tiers) == (True, ("install", "functional"))
    for tiers in (["--tiers", "install,functional"], ["--stages", "install"]):
        err = _refused(["run", "example-site", "--quick", *tiers], capsys)
        assert "--quick runs the install and functional tiers only; it cannot be combined " \
               "with --tiers" in err
    assert len(requested) == 1  # nothing refused reached the orchestrator


def test_in_drone_the_run_comes_from_the_build(requested, capsys, drone_step):
    drone_step(DRONE_STAGE_MACHINE="ci-1")
    for argv in (["run"], ["run", "--drone"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        request = requested[-1]
        assert (request.recipe, request.ref, request.quick) == ("example-site", SHA, True)
        assert request.tiers == ("install", "functional")
        assert request.repo is None  # CCCI_REPO is the forge's name, not a local path
        assert request.ci == {"system": "drone", "build": 42, "pr": 7, "machine": "ci-1",
                              "link": "https://drone.example.org/coop-cloud/ccci/42",
                              "repo": "coop-cloud/example-site"}
    assert capsys.readouterr().out.splitlines()[0] == (
        f"Drone build #42: example-site at {SHA}, pull request #7 of "
        "coop-cloud/example-site, quick")


def test_in_drone_the_command_line_wins(requested, capsys, drone_step):
    drone_step()
    with pytest.raises(SystemExit):
        cli.main(["run", "example-notes", "--drone", "--ref", "main", "--no-quick"])
    request = requested[-1]
    assert (request.recipe, request.ref, request.quick) == ("example-notes", "main", False)
    assert request.tiers == AVAILABLE_TIERS and request.ci["build"] == 42
    with pytest.raises(SystemExit):
        cli.main(["run", "--tiers", "install,lint"])
    assert (requested[-1].tiers, requested[-1].quick) == (("install", "lint"), False)
    assert "CCCI_QUICK=true ignored: --tiers given on the command line" in (
        capsys.readouterr().err)
    drone_step(CCCI_RECIPE=None)  # a recipe on the command line needs none in the build
    with pytest.raises(SystemExit):
        cli.main(["run", "example-notes", "--drone"])
    assert requested[-1].recipe == "example-notes" and requested[-1].ci["pr"] == 7


def test_a_recipe_given_outside_drone_mode_is_a_plain_run(requested, drone_step):
    drone_step()  # DRONE=true, but a recipe given without --drone
    with pytest.raises(SystemExit):
        cli.main(["run", "example-notes"])
    request = requested[-1]
    assert (request.ref, request.quick, request.ci) == (None, False, {})


def test_drone_mode_refuses_what_it_cannot_run(requested, capsys, drone_step):
    assert "give a recipe, or run in a Drone pipeline step" in _refused(["run"], capsys)
    assert 'not in a Drone pipeline step (DRONE is not "true")' in _refused(
        ["run", "--drone"], capsys)
    drone_step(CCCI_RECIPE=None)
    assert "CCCI_RECIPE is not set" in _refused(["run"], capsys)
    drone_step(CCCI_PR="seven")
    assert "CCCI_PR must be a pull request number" in _refused(["run"], capsys)
    drone_step(CCCI_QUICK="yes")
    assert "CCCI_QUICK must be" in _refused(["run", "--drone"], capsys)
    assert requested == []


def test_the_help_says_the_command_line_wins(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--quick, --no-quick" in text and "--drone" in text
    assert "A value given on the command line wins over the environment's" in text
