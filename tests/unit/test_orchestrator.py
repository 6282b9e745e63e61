"""The orchestrator's decisions: which tiers run, in what order, gates, exit codes.

Stage playbooks are replaced by a scripted runner (the edge of this unit); the plan is
real: the bundled example recipes are materialized as git repositories and planned.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from ccci import active_runs
from ccci.ansible import StageRun
from ccci.context import load_run
from ccci.leases import lease_domain
from ccci.orchestrator import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INFRASTRUCTURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Orchestrator,
    RunRequest,
    describe_app,
    summary,
)
from ccci.progress import Progress
from ccci.rundir import DeployEntry, ProbeRound, Redeploy, RunDir

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("isolated_run_dirs")


class ScriptedRunner:
    """Plays each stage as scripted: its status, and the records a real stage leaves.

    The orchestrator makes one runner per app; each stage is listed as ``stage`` for the
    fresh app and ``stage@upgraded`` for the upgraded one (the two may run together, so
    tests compare the stages of each app in order, or sets across apps).
    """

    def __init__(self, outcomes: dict[str, str], on_stage=None, *, no_host=(),
                 no_record=(), failures=None, crash=None) -> None:
        self.outcomes = outcomes
        self.crash = crash or {}
        self.failures = failures or {}
        self.no_host = no_host
        self.no_record = no_record
        self.on_stage = on_stage
        self.stages: list[str] = []
        self.run_dir: Path | None = None  # the fresh app's
        self._lock = threading.Lock()

    def __call__(self, project_root, run_dir, progress, *, inventory=None, cancel=None,
                 limit=None):
        run_dir = Path(run_dir)
        if run_dir.name != "upgraded":
            self.run_dir = run_dir
        return _AppRunner(self, run_dir, cancel or (lambda: False))

    def of(self, app: str = "") -> list[str]:
        """The stages of one app, in order: the fresh app's, or ``of("upgraded")``."""
        suffix = f"@{app}" if app else ""
        return [s.removesuffix(suffix) for s in self.stages
                if (s.endswith(suffix) if app else "@" not in s)]


class _AppRunner:
    def __init__(self, script: ScriptedRunner, run_dir: Path, cancel) -> None:
        self.script = script
        self.run_dir = run_dir
        self.cancel = cancel  # as the real runner: a cancelled stage ends where it is
        self.label = "@upgraded" if run_dir.name == "upgraded" else ""

    def run(self, stage, playbook, extravars, *, cancellable=True):
        """One stage: a tier's playbook, or playbooks/tiers.yml playing several tiers in
        order up to the first that does not succeed (each listed as a stage)."""
        if playbook == "playbooks/tiers.yml":
            tiers = extravars["tiers"]
            assert stage == "+".join(tiers) and len(tiers) > 1
            assert extravars == {"run_dir": str(self.run_dir), "tiers": tiers}
            for tier in tiers:
                status, failures = self._play(tier)
                if status != "successful":
                    break
                if cancellable and self.cancel():
                    status = "canceled"
                    break
        else:
            assert playbook == f"playbooks/{stage}.yml"
            # the upgraded app's functional stage runs the generic checks only
            generic_only = (stage, self.label) == ("functional", "@upgraded")
            assert extravars == {"run_dir": str(self.run_dir),
                                 **({"generic_only": True} if generic_only else {})}
            status, failures = self._play(stage)
        hosts = [] if stage in self.script.no_host else ["localhost"]
        return StageRun(stage, status, 0 if status == "successful" else 2, 0.1, failures,
                        hosts=hosts)

    def _play(self, stage):
        """One tier as scripted, with the records a real one leaves: status, failures."""
        script = self.script
        with script._lock:
            script.stages.append(stage + self.label)
        if stage + self.label in script.crash:
            raise script.crash[stage + self.label]
        status = script.outcomes.get(stage + self.label, script.outcomes.get(stage, "successful"))
        record = RunDir(self.run_dir)
        if stage not in ("teardown", *script.no_host, *script.no_record):
            if stage == "upgrade" and not record.tiers().started("install"):
                record.record_tier("install", "started")  # upgrade.yml installs first
                record.record_tier("install", "passed")
            record.record_tier(stage, "started")
            if status == "successful":
                record.record_tier(stage, "passed")
        if stage == "backup" and status == "successful":
            record.record_backup({"ok": True, "snapshot_id": "snap"})
        if script.on_stage:
            script.on_stage(stage + self.label)
        failures = [] if status == "successful" else script.failures.get(
            stage, [{"task": "t", "msg": f"{stage} broke"}])
        return status, failures


def _run(request: RunRequest, runner: ScriptedRunner) -> tuple[object, dict]:
    orchestrator = Orchestrator(request, Progress(live=False), runner_factory=runner)
    result, path = orchestrator.run()
    return result, json.loads(path.read_text())


def _statuses(results: dict) -> dict[str, str]:
    return {name: tier["status"] for name, tier in results["tiers"].items()}


def test_tiers_run_in_ladder_order_then_teardown():
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-notes", tiers=("restore", "install", "backup")),
                           runner)
    assert runner.stages == ["install", "backup", "restore", "teardown"]
    assert _statuses(results) == {"install": "passed", "backup": "passed", "restore": "passed"}
    assert result.exit_code == EXIT_OK and results["level"] == 1  # upgrade not asked for


def test_not_applicable_tiers_are_shown_next_to_the_level():
    first = RunRequest("example-site", ref="1.0.0+1.22", tiers=("install", "upgrade"))
    _, results = _run(first, ScriptedRunner({}))
    assert results["tiers"]["upgrade"]["status"] == "skipped"
    assert results["not_applicable"] == ["upgrade"]
    assert results["level_text"] == "L2, upgrade n/a"


def test_a_failed_install_blocks_the_rest_of_its_app_and_still_tears_down():
    runner = ScriptedRunner({"install": "failed"})
    result, results = _run(RunRequest("example-notes", tiers=("install", "backup", "restore")),
                           runner)
    assert runner.stages == ["install", "teardown"]
    assert results["tiers"]["install"]["reason"] == "t: install broke"
    for tier in ("backup", "restore"):
        assert results["tiers"][tier] == {**results["tiers"][tier], "status": "not_run",
                                          "reason": "no live app: install failed"}
    assert result.exit_code == EXIT_FAILED and results["level"] == 0


def test_a_full_run_installs_the_version_under_test_fresh_and_upgrades_another_app():
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-notes"), runner)
    assert runner.of() == ["install", "functional", "lint", "teardown"]
    assert runner.of("upgraded") == ["upgrade", "backup", "restore", "functional", "teardown"]
    assert result.exit_code == EXIT_OK and results["level"] == 5
    apps = results["apps"]
    assert apps["fresh"]["first_version"] == results["version"] == "1.2.0+0.3.0"
    assert apps["upgraded"]["first_version"] == "1.1.0+0.2.0"
    assert apps["fresh"]["domain"] == results["domain"] != apps["upgraded"]["domain"]
    assert apps["upgraded"]["run_dir"] == f"{results['run_dir']}/upgraded"
    assert {t: results["tiers"][t]["details"]["app"] for t in results["tiers"]} == {
        "install": "fresh", "upgrade": "upgraded", "backup": "upgraded",
        "restore": "upgraded", "functional": "fresh", "lint": "fresh"}
    assert results["tiers"]["functional"]["details"]["upgraded"]["status"] == "passed"


def test_the_summary_names_both_apps_and_the_app_of_each_tier():
    result, results = _run(RunRequest("example-notes"), ScriptedRunner({"backup": "failed"}))
    text = summary(result).splitlines()
    fresh, upgraded = results["apps"]["fresh"], results["apps"]["upgraded"]
    assert text[1] == f"  fresh app: {fresh['domain']}: not deployed"
    assert text[2] == f"  upgraded app: {upgraded['domain']}: not deployed"
    assert text[3] == "  install    fresh    passed"
    assert text[5].startswith("  backup     upgraded failed [")
    assert text[-1] == "  teardown   both     passed"


def test_describe_app_gives_each_deploy_and_its_convergence():
    app = {"domain": "n.ccci.test", "deploys": [
        {"op": "install", "version": "1.0.0", "converged": True, "elapsed": 4.25},
        {"op": "upgrade", "version": None, "expected_version": "1.1.0", "converged": False,
         "elapsed": None}]}
    assert describe_app(app) == ("n.ccci.test: install 1.0.0 converged in 4.2 s; "
                                 "upgrade 1.1.0 did not converge")


@pytest.mark.parametrize(("max_apps", "together"), [("2", True), ("1", False)])
def test_the_apps_deploy_together_only_when_the_host_has_room(monkeypatch, max_apps,
                                                               together):
    monkeypatch.setenv("CCCI_HOST_MAX_APPS", max_apps)  # the run registers two apps
    threads = {}
    runner = ScriptedRunner({}, on_stage=lambda stage: threads.setdefault(
        stage, threading.current_thread().name))
    result, results = _run(RunRequest("example-notes"), runner)
    assert results["side_by_side"] is together and result.exit_code == EXIT_OK
    on_pool = {s for s, name in threads.items() if name.startswith("ccci-app")}
    chains = {"install", "functional", "lint", "upgrade@upgraded", "backup@upgraded",
              "restore@upgraded", "functional@upgraded"}
    assert on_pool == (chains if together else set())
    assert runner.of("upgraded") == ["upgrade", "backup", "restore", "functional", "teardown"]


def test_a_failed_fresh_install_does_not_stop_the_upgraded_app():
    """The fresh install is what fails (the head does not install on an empty volume);
    the upgrade path still proves what it can, side by side."""
    runner = ScriptedRunner({"install": "failed"})
    result, results = _run(RunRequest("example-notes"), runner)
    assert runner.of() == ["install", "lint", "teardown"]  # lint needs no live app
    assert runner.of("upgraded") == ["upgrade", "backup", "restore", "functional", "teardown"]
    assert _statuses(results) == {"install": "failed", "upgrade": "passed",
                                  "backup": "passed", "restore": "passed",
                                  "functional": "not_run", "lint": "passed"}
    functional = results["tiers"]["functional"]
    assert functional["reason"] == "no live app: install failed"
    assert functional["details"]["upgraded"]["status"] == "passed"
    assert result.exit_code == EXIT_FAILED and results["level"] == 0


def test_the_upgraded_apps_generic_checks_fail_the_functional_tier():
    runner = ScriptedRunner({"functional@upgraded": "failed"}, failures={"functional": [
        {"task": "Run the functional tests against the live app", "msg": "1 of 6 tests "
         "failed: generic.py::test_stable_tasks failed: service app: 2 tasks"}]})
    result, results = _run(RunRequest("example-notes"), runner)
    functional = results["tiers"]["functional"]
    assert functional["status"] == "failed"
    assert functional["reason"].startswith("the upgraded app's generic checks: ")
    assert "1 of 6 tests failed: generic.py::test_stable_tasks" in functional["reason"]
    assert functional["details"]["app"] == "fresh"
    assert functional["details"]["upgraded"]["status"] == "failed"
    assert result.exit_code == EXIT_FAILED and results["level"] == 3


def test_the_upgraded_app_gets_no_generic_checks_when_its_upgrade_failed():
    runner = ScriptedRunner({"upgrade@upgraded": "failed"})
    _, results = _run(RunRequest("example-notes"), runner)
    assert runner.of("upgraded") == ["upgrade", "backup", "restore", "teardown"]
    assert results["tiers"]["functional"]["status"] == "passed"
    assert results["tiers"]["functional"]["details"]["upgraded"] == {
        "status": "not_run", "reason": "the upgrade did not pass", "app": "upgraded"}


def test_a_base_that_does_not_deploy_fails_the_upgrade_as_the_base(tmp_path):
    runner = ScriptedRunner({}, no_record=("upgrade",))
    runner.outcomes["upgrade@upgraded"] = "failed"
    result, results = _run(RunRequest("example-notes", tiers=("install", "upgrade")), runner)
    upgrade = results["tiers"]["upgrade"]
    assert upgrade["failure_kind"] == "base"
    assert upgrade["reason"].startswith("the base release 1.1.0+0.2.0 does not deploy: ")
    assert "UPGRADE_BASE_VERSION" in upgrade["hint"]
    assert results["tiers"]["install"]["status"] == "passed"
    assert results["failure_kind"] == "base" and result.exit_code == EXIT_FAILED


def test_a_failed_backup_blocks_restore_only():
    runner = ScriptedRunner({"backup": "failed"})
    result, results = _run(RunRequest("example-notes"), runner)
    assert runner.of("upgraded") == ["upgrade", "backup", "functional", "teardown"]
    assert results["tiers"]["restore"]["status"] == "not_run"
    assert "no verified backup" in results["tiers"]["restore"]["reason"]
    assert result.exit_code == EXIT_FAILED and results["level"] == 2


def test_a_failed_teardown_fails_the_run():
    runner = ScriptedRunner({"teardown": "failed"})
    result, results = _run(RunRequest("example-site", tiers=("install",)), runner)
    assert _statuses(results) == {"install": "passed"}
    assert results["teardown"]["status"] == "failed"
    assert result.exit_code == EXIT_FAILED == results["exit_code"]


def test_keep_skips_the_teardown():
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-site", tiers=("install",), keep=True), runner)
    assert runner.stages == ["install"]
    assert results["teardown"] is None and result.exit_code == EXIT_OK


def test_an_interrupt_stops_later_tiers_and_exits_130():
    runner = ScriptedRunner({})
    orchestrator = Orchestrator(RunRequest("example-notes"), Progress(live=False),
                                runner_factory=runner)
    runner.on_stage = lambda stage: stage == "install" and orchestrator.interrupt(2, None)
    result, path = orchestrator.run()
    results = json.loads(path.read_text())
    assert runner.of() == ["install", "teardown"]
    assert runner.of("upgraded")[-1] == "teardown"
    assert {results["tiers"][t]["reason"] for t in ("backup", "restore")} == {"interrupted"}
    assert result.exit_code == EXIT_INTERRUPTED


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (RunRequest("example-site", tiers=("install", "bogus")), "unknown or unavailable tier"),
        (RunRequest("no-such-recipe"), "unknown recipe 'no-such-recipe'"),
        (RunRequest("../etc"), "recipe name"),
    ],
)
def test_bad_input_is_refused_before_any_stage(request_, message):
    runner = ScriptedRunner({})
    result, results = _run(request_, runner)
    assert runner.stages == []
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in results["error"]
    assert {t["status"] for t in results["tiers"].values()} == {"not_run"}


def test_a_run_refused_after_planning_the_upgraded_app_leaves_nothing_of_it():
    """The upgraded app is planned first; the fresh app's domain is the one taken."""
    runner = ScriptedRunner({})
    with lease_domain("notes.ccci.test", "another-run"):
        result, results = _run(RunRequest("example-notes", domain="notes.ccci.test"), runner)
    assert result.exit_code == EXIT_BAD_INPUT and "in use by run another-run" in result.error
    assert runner.stages == []
    assert sorted(p.name for p in Path(results["run_dir"]).iterdir()) == [
        "badge.svg", "junit.xml", "report.html", "results.json", "summary.md"]
    assert not active_runs.runs()
    lease_domain("notes-up.ccci.test", "next").release()  # the upgraded app's lease is free


def test_a_stage_that_matched_no_host_passes_nothing():
    runner = ScriptedRunner({}, no_host=("install",))
    result, results = _run(RunRequest("example-site", tiers=("install",)), runner)
    assert results["tiers"]["install"]["status"] == "failed"
    assert "matched no host" in results["tiers"]["install"]["reason"]
    assert result.exit_code == EXIT_FAILED and results["level"] == 0


def test_a_tier_passes_only_with_its_recorded_evidence():
    runner = ScriptedRunner({}, no_record=("upgrade",))
    _, results = _run(RunRequest("example-notes", tiers=("install", "upgrade")), runner)
    assert results["tiers"]["install"]["status"] == "passed"
    assert results["tiers"]["upgrade"]["status"] == "failed"
    assert "no evidence" in results["tiers"]["upgrade"]["reason"]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [((), "no tier selected"), (("install", "install"), "more than once: install")],
)
def test_empty_or_repeated_tiers_are_refused(tiers, message):
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-site", tiers=tiers), runner)
    assert runner.stages == [] and result.exit_code == EXIT_BAD_INPUT
    assert message in results["error"]


def test_an_inventory_without_swarm_hosts_is_refused(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    other:\n      ansible_connection: local\n")
    for path, message in ((inventory, "has no host in group swarm"),
                          (tmp_path / "missing.yml", "does not exist")):
        runner = ScriptedRunner({})
        result, results = _run(RunRequest("example-site", inventory=str(path)), runner)
        assert runner.stages == [] and result.exit_code == EXIT_BAD_INPUT
        assert message in results["error"]


def test_an_upgrade_declared_not_applicable_deploys_the_version_under_test(tmp_path,
                                                                            monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "recipes" / "example-site", config / "example-site")
    meta = config / "example-site" / "meta.yml"
    meta.write_text(meta.read_text() + "EXPECTED_NA: {upgrade: no upgrade path supported}\n")
    monkeypatch.setenv("CCCI_CONFIG_DIR", str(config))
    _, results = _run(RunRequest("example-site", tiers=("install", "upgrade")),
                      ScriptedRunner({}))
    context = load_run(Path(results["run_dir"]))
    assert context.upgrade_path == [] and context.first_plan == "target"
    assert results["tiers"]["upgrade"] == {**results["tiers"]["upgrade"], "status": "skipped",
                                           "reason": "declared not applicable: "
                                                     "no upgrade path supported"}


REGISTRY_DOWN = {
    "task": "Pull the stack's images before deploying", "action":
    "community.docker.docker_image_pull",
    "msg": 'Error pulling image 127.0.0.1:5099/ccci/nginx:1.23 - 500 Server Error: Internal '
           'Server Error ("Get "http://127.0.0.1:5099/v2/": dial tcp 127.0.0.1:5099: connect: '
           'connection refused")'}
LABELS_ONLY = {
    "task": "Deploy the stack", "action": "community.docker.docker_stack",
    "msg": "docker stack up deploy command failed", "rc": 1,
    "detail": "failed to update config s_nginx_conf_v1: Error response from daemon: rpc error: "
              "code = InvalidArgument desc = only updates to Labels are allowed"}


def test_only_infrastructure_failures_exit_3_with_the_kind_in_the_summary():
    runner = ScriptedRunner({"upgrade": "failed"}, failures={"upgrade": [REGISTRY_DOWN]})
    result, results = _run(RunRequest("example-notes", tiers=("install", "upgrade")), runner)
    upgrade = results["tiers"]["upgrade"]
    assert upgrade["failure_kind"] == "infrastructure"
    assert "connection refused" in upgrade["reason"]
    assert "failure_kind" not in results["tiers"]["install"]
    assert result.exit_code == EXIT_INFRASTRUCTURE == results["exit_code"]
    assert results["failure_kind"] == "infrastructure"
    text = summary(result)
    assert "upgrade    upgraded failed [infrastructure] (Pull the stack's images" in text
    assert "exit 3" in text


def test_a_recipe_failure_next_to_an_infrastructure_one_exits_1():
    runner = ScriptedRunner({"upgrade": "failed", "backup": "failed"},
                            failures={"upgrade": [LABELS_ONLY], "backup": [REGISTRY_DOWN]})
    result, results = _run(RunRequest("example-notes", tiers=("install", "upgrade", "backup")),
                           runner)
    upgrade = results["tiers"]["upgrade"]
    assert upgrade["failure_kind"] == "recipe"
    assert upgrade["reason"].endswith("desc = only updates to Labels are allowed")
    assert "bump its *_VERSION" in upgrade["hint"]
    assert "how to fix: a config or secret changed" in summary(result)
    assert results["failure_kind"] == "recipe" and result.exit_code == EXIT_FAILED


def test_an_unclassified_task_failure_is_the_harness():
    runner = ScriptedRunner({"install": "failed"})
    result, results = _run(RunRequest("example-site", tiers=("install",)), runner)
    assert results["tiers"]["install"]["failure_kind"] == "harness"
    assert result.exit_code == EXIT_FAILED


def test_a_crash_of_ccci_code_is_a_harness_error_and_teardown_still_runs():
    runner = ScriptedRunner({}, crash={"install": KeyError("plans")})
    result, results = _run(RunRequest("example-site", tiers=("install",)), runner)
    install = results["tiers"]["install"]
    assert runner.stages == ["install", "teardown"]
    assert install["status"] == "error" and install["failure_kind"] == "harness"
    assert install["reason"] == "ccci failed in the install tier: KeyError: 'plans'"
    assert "Traceback" in install["details"]["traceback"]
    assert result.exit_code == EXIT_FAILED


def _record_probe(run_dir: Path, ok: bool) -> None:
    context = load_run(run_dir)
    RunDir(run_dir).record_deploy(DeployEntry(op="install", plan="target", converged=True),
                                  published_port=None, stack=context.stack)
    RunDir(run_dir).record_probe(ProbeRound(
        op="install", plan="target", mode="traefik", ok=ok, elapsed=0.4,
        probes=[{"url": f"https://{context.domain}:18443/health", "status": 200 if ok else 404,
                 "seconds": 0.4, "ok": ok}]))


def test_results_say_how_the_app_was_reached_and_what_the_check_requested():
    runner = ScriptedRunner({})
    runner.on_stage = lambda stage: _record_probe(runner.run_dir, True) if (
        stage == "install") else None
    _, results = _run(RunRequest("example-site", tiers=("install",)), runner)
    domain, stack = results["domain"], results["stack"]
    assert results["ingress"] == {"mode": "traefik", "base_url": f"https://{domain}:18443",
                                  "names": [domain]}
    details = results["tiers"]["install"]["details"]
    assert details["ingress"] == "traefik" and details["published_port"] is None
    [router] = details["routers"]
    assert (router["name"], router["port"], router["probed"]) == (stack, 80, True)
    assert [p["status"] for p in details["probes"]] == [200]


def test_direct_ingress_leases_a_published_port():
    _, results = _run(RunRequest("example-site", tiers=("install",), ingress="direct"),
                      ScriptedRunner({}))
    context = load_run(results["run_dir"])
    assert results["ingress"]["mode"] == "direct"
    port = context.host["published_port"]
    assert 20000 <= port <= 29999 and results["ingress"]["base_url"].endswith(f":{port}")


CHANGED = [{"service": "s_app", "fields": ["TaskTemplate.ContainerSpec.Image"],
            "tasks_replaced": True}]


@pytest.mark.parametrize(("changes", "warned"), [([], False), (CHANGED, True)])
def test_a_redeploy_that_changes_services_is_a_warning_not_a_failure(changes, warned):
    runner = ScriptedRunner({})
    runner.on_stage = lambda stage: RunDir(runner.run_dir).record_redeploy(
        Redeploy("target", changes)) if stage == "install" else None
    result, results = _run(RunRequest("example-site", tiers=("install",)), runner)
    assert result.exit_code == EXIT_OK
    details = results["tiers"]["install"]["details"]
    assert details["idempotence"]["changes"] == changes
    w601 = [w for w in results["warnings"] if w["code"] == "CCCI-W601"]
    assert bool(w601) == warned
    if warned:
        assert w601[0]["message"].endswith(
            "s_app: TaskTemplate.ContainerSpec.Image (tasks replaced)")


# -- quick runs, and the CI build a run is part of ----------------------------------------


DRONE = {"system": "drone", "build": 42, "link": "https://drone.example.org/c/ccci/42",
         "pr": 7, "repo": "coop-cloud/example-notes", "machine": "ci-1"}


def test_a_quick_run_runs_install_and_functional_only_and_its_level_is_partial():
    runner = ScriptedRunner({})
    request = RunRequest("example-notes", quick=True)
    assert request.tiers == ("install", "functional")
    result, results = _run(request, runner)
    assert runner.stages == ["install", "functional", "teardown"]  # no upgraded app
    assert _statuses(results) == {"install": "passed", "functional": "passed"}
    assert results["quick"] is True and set(results["apps"]) == {"fresh"}
    # functional passed, but upgrade, backup and restore were not proven: L1, said partial
    assert results["level"] == 1 and result.exit_code == EXIT_OK
    assert results["level_text"] == "L1 (quick run: partial, install and functional only)"
    text = summary(result).splitlines()
    assert text[0] == ("example-notes: level L1 (quick run: partial, install and "
                       "functional only)")
    assert text[1].startswith("  quick run: upgrade, backup, restore, lint not run; the "
                              "level is partial")
    junit = (Path(results["run_dir"]) / "junit.xml").read_text()
    assert '<property name="ccci.quick" value="true" />' in junit
    assert 'value="L1 (quick run: partial, install and functional only)"' in junit
    assert "quick" in (Path(results["run_dir"]) / "badge.svg").read_text()


def test_a_quick_run_whose_install_fails_is_still_marked_quick():
    result, results = _run(RunRequest("example-site", quick=True),
                           ScriptedRunner({"install": "failed"}))
    assert result.exit_code == EXIT_FAILED and results["quick"] is True
    assert results["level_text"] == "L0 (quick run: partial, install and functional only)"


@pytest.mark.parametrize("tiers", [("install", "upgrade"), ("install",),
                                   ("functional", "install")])
def test_quick_with_a_selection_of_tiers_is_refused(tiers):
    runner = ScriptedRunner({})
    result, results = _run(RunRequest("example-site", tiers=tiers, quick=True), runner)
    assert runner.stages == [] and result.exit_code == EXIT_BAD_INPUT
    assert results["error"] == (
        "a quick run runs the install and functional tiers only; it cannot be combined "
        f"with a selection of tiers ({', '.join(tiers)})")
    assert results["quick"] is True


def test_a_full_run_is_not_quick_and_records_the_ci_build_it_is_part_of():
    _, results = _run(RunRequest("example-site", tiers=("install",)), ScriptedRunner({}))
    assert results["quick"] is False and results["ci"] == {}
    assert "quick" not in results["level_text"]
    assert "<properties>" not in (Path(results["run_dir"]) / "junit.xml").read_text()

    _, results = _run(RunRequest("example-site", tiers=("install",), ci=dict(DRONE)),
                      ScriptedRunner({}))
    assert results["ci"] == DRONE
    junit = (Path(results["run_dir"]) / "junit.xml").read_text()
    assert '<property name="ci.build" value="42" />' in junit
