"""The ``ccci`` command line; kept apart from the orchestrator it drives."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ccci import ingress, paths
from ccci.orchestrator import AVAILABLE_TIERS, Orchestrator, RunRequest, summary
from ccci.report.dashboard import DASHBOARD_DIR
from ccci.report.run_report import REPORT

if TYPE_CHECKING:
    from ccci.drone_env import DroneBuild
    from ccci.trust import TrustPolicy


def _tiers(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccci", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    _add_run(sub)

    check = sub.add_parser(
        "check", help="validate a recipe and its CI config without deploying anything"
    )
    check.add_argument("recipe")
    check.add_argument("--ref", help="git ref to check (default: the recipe's HEAD)")
    check.add_argument("--repo", help="path of the recipe repository (default: found by name)")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="text: a table for people (default); json: the findings as data")

    _add_lint(sub)
    sub.add_parser("config-doc", help="print docs/recipe-config.md, generated from the registry")
    sub.add_parser("check-doc", help="print docs/check-rules.md, generated from the rules")

    examples = sub.add_parser(
        "examples", help="materialize the bundled example recipes as git repositories"
    )
    examples.add_argument("--dest", type=Path, default=None)
    _run_admin_parsers(sub)
    _report_parsers(sub)
    _service_parsers(sub)
    return parser


def _run_admin_parsers(sub: argparse._SubParsersAction) -> None:
    """Subcommands about runs already started: the janitor, ls, teardown."""
    janitor = sub.add_parser(
        "janitor", help="tear down registered runs whose process died (playbooks/janitor.yml)"
    )
    janitor.add_argument("--inventory", help="Ansible inventory of the swarm host "
                         "(default: the local one); only runs deployed through it are reaped")
    janitor.add_argument("--expired", action="store_true",
                         help="also reap kept runs (--keep) past their deadline")
    listing = sub.add_parser("ls", help="list registered runs, and the Docker objects on each "
                             "swarm host labelled for runs the registry does not know")
    listing.add_argument("--inventory", help="Ansible inventory whose swarm hosts are listed "
                         "(default: the local one)")
    teardown = sub.add_parser(
        "teardown", help="tear a run down (e.g. one kept with --keep) and unregister it"
    )
    teardown.add_argument("run", help="the run directory or the run id")
    teardown.add_argument("--inventory", help="Ansible inventory of the swarm host "
                          "(default: the one the run registered)")


def _report_parsers(sub: argparse._SubParsersAction) -> None:
    """Subcommands about all runs: the dashboard, built or served."""
    runs_help = "the runs folder (default: CCCI_RUNS_DIR, else runs/ of the checkout)"
    report = sub.add_parser("report", help="build the dashboard over all runs: an index, a "
                            "page and a badge per recipe (RUNS_DIR/_dashboard)")
    report.add_argument("runs_dir", nargs="?", type=Path, metavar="RUNS_DIR", help=runs_help)
    report.add_argument("--out", type=Path, metavar="DIR",
                        help="where to write the dashboard (default: RUNS_DIR/_dashboard)")
    serve = sub.add_parser("serve", help="build the dashboard, then serve the runs folder on "
                           "127.0.0.1 (this machine only) until Ctrl-C")
    serve.add_argument("runs_dir", nargs="?", type=Path, metavar="RUNS_DIR", help=runs_help)
    serve.add_argument("--port", type=int, default=8808,
                       help="port to listen on (default: 8808; 0: any free port)")


def _service_parsers(sub: argparse._SubParsersAction) -> None:
    """Subcommands of ccci as a CI service: the !testme bridge."""
    bridge = sub.add_parser("bridge", help="serve the !testme webhook of a Gitea/Forgejo "
                            "forge and queue Drone builds of ccci (127.0.0.1) until Ctrl-C")
    bridge.add_argument("--config", type=Path, required=True, metavar="FILE",
                        help="the bridge's YAML config (ccci.ci.config); tokens and the "
                             "webhook secret come from CCCI_FORGE_TOKEN, CCCI_DRONE_TOKEN "
                             "and CCCI_WEBHOOK_SECRET (or their *_FILE variants)")


def _add_run(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="deploy a recipe and take it through the selected tiers")
    run.add_argument("recipe", nargs="?", help="recipe name, e.g. example-site (in a Drone "
                     "pipeline, CCCI_RECIPE when not given)")
    run.add_argument("--ref", help="git ref of the recipe to test (default: CCCI_REF with "
                     "--drone, else the recipe's HEAD)")
    run.add_argument(
        "--tiers", type=_tiers, default=None,
        help=f"comma-separated tiers (default: {','.join(AVAILABLE_TIERS)}); not with --quick",
    )
    run.add_argument(
        "--stages", type=_tiers, dest="stages", default=None, help=argparse.SUPPRESS,
    )
    run.add_argument(
        "--quick", action=argparse.BooleanOptionalAction, default=None,
        help="run the install and functional tiers only: fast feedback, and a partial level "
             "(L1 at most, marked quick); not with --tiers (default: CCCI_QUICK with "
             "--drone, else a full run)",
    )
    run.add_argument(
        "--drone", action="store_true",
        help="a Drone pipeline step: take the recipe, ref and quick from the build's "
             "environment (CCCI_RECIPE, CCCI_REF, CCCI_QUICK) and record the build (number, "
             "link, CCCI_PR, CCCI_REPO) in the results; the default when no recipe is given "
             "and DRONE=true. A value given on the command line wins over the environment's",
    )
    run.add_argument("--keep", action="store_true", help="leave the app deployed at the end")
    run.add_argument(
        "--trust-repo-code", action="store_true",
        help="let the recipe repository's own .ccci/ code (hooks.py, tests/) run on this "
             "machine; without it (or the CI config's trusted_recipes) that code is "
             "skipped and the run warns (CCCI-W901)",
    )
    run.add_argument("--repo", help="path of the recipe repository (default: found by name)")
    run.add_argument("--domain", help="app domain (default: <recipe>-<run id>.ccci.test)")
    run.add_argument("--inventory", help="Ansible inventory of the swarm host(s): its group "
                     "swarm (default: playbooks/inventory/local.yml, this machine)")
    run.add_argument("--host", help="the swarm host of the inventory to deploy on "
                     "(needed when its group swarm has several)")
    run.add_argument(
        "--upgrade-from", type=int, metavar="N",
        help="upgrade from the Nth previous published version through each later one",
    )
    run.add_argument(
        "--ingress", choices=ingress.MODES, default=ingress.TRAEFIK,
        help="how the app is reached: through the host's Traefik proxy by its names over "
             "https (traefik, the default), or on a published port (direct: recipes "
             "without Traefik labels)",
    )
    run.add_argument(
        "--extra-domain", action="append", default=[], metavar="NAME", dest="extra_domains",
        help="an alias of the app (repeatable), e.g. www.<domain>: deployed as EXTRA_DOMAINS "
             "and requested by the checks; added to the CI config's EXTRA_DOMAINS",
    )


def _run(args: argparse.Namespace) -> int:
    """Exit 0 passed, 1 failed, 2 bad input, 3 only infrastructure failed (retry)."""
    import os

    from ccci.errors import BadInput

    try:
        request = run_request(args, os.environ)
    except BadInput as exc:
        print(f"ccci run: {exc}", file=sys.stderr)
        return 2
    result, path = Orchestrator(request).run()
    print(summary(result))
    print(f"results: {path}")
    for label, page in (("report", path.with_name(REPORT)),
                        ("dashboard", paths.runs_root() / DASHBOARD_DIR / "index.html")):
        if page.is_file():
            print(f"{label}: {page}")
    if request.ci:
        _answer(path.parent, os.environ)
    return result.exit_code


SERVICE_CONFIG_ENV = "CCCI_SERVICE_CONFIG"


def _answer(run_dir: Path, env: Mapping[str, str]) -> None:
    """A run of a Drone build answers on its pull request (the card, the commit status).
    Whatever goes wrong is printed, never the verdict: the exit code stays the run's."""
    from ccci.ci.answer import post_answer
    from ccci.ci.config import ANSWER, load_config
    from ccci.errors import CcciError

    if not env.get(SERVICE_CONFIG_ENV):
        print(f"answer: not posted ({SERVICE_CONFIG_ENV} names no CI service config)")
        return
    try:
        config = load_config(env[SERVICE_CONFIG_ENV], env, role=ANSWER)
    except (CcciError, OSError) as exc:
        print(f"answer: not posted: {exc}", file=sys.stderr)
        return
    problems = post_answer(run_dir, config, env)
    for line in problems:
        print(f"answer: {line}", file=sys.stderr)
    if not problems:
        print("answer: posted on the pull request")


def run_request(args: argparse.Namespace, env: Mapping[str, str]) -> RunRequest:
    """The run the command line asks for; in a Drone pipeline step, completed from the
    build's environment, where a value given on the command line wins. BadInput when
    the two cannot make one run."""
    from ccci.errors import BadInput

    tiers = args.tiers
    if args.stages is not None:
        print("warning: --stages is deprecated, use --tiers (a stage is a playbook)",
              file=sys.stderr)
        tiers = args.stages
    if args.quick and tiers is not None:
        raise BadInput("--quick runs the install and functional tiers only; it cannot be "
                       "combined with --tiers")
    build = _drone_build(args, env)
    quick = bool(args.quick)
    if build is not None and args.quick is None:
        quick = build.quick and tiers is None
        if build.quick and tiers is not None:
            print("note: CCCI_QUICK=true ignored: --tiers given on the command line wins",
                  file=sys.stderr)
    recipe = args.recipe or (build.recipe if build else "")
    return RunRequest(
        recipe=recipe,
        ref=args.ref or (build.ref if build else None),
        tiers=AVAILABLE_TIERS if tiers is None else tiers, keep=args.keep,
        repo=args.repo, domain=args.domain, inventory=args.inventory, host=args.host,
        upgrade_from=args.upgrade_from, ingress=args.ingress,
        extra_domains=tuple(args.extra_domains), quick=quick,
        ci=build.ci_record() if build else {},
        trust=_trust(recipe if args.trust_repo_code else None, env),
        pull_request=build.pr if build else None,
    )


def _trust(flagged: str | None, env: Mapping[str, str]) -> TrustPolicy:
    """The trust gate's policy: the CI config's ``trusted_recipes`` (when
    CCCI_SERVICE_CONFIG names one) and the ``flagged`` recipe (``--trust-repo-code``);
    default deny."""
    from ccci.ci.config import TRUST, load_config
    from ccci.trust import policy

    path = env.get(SERVICE_CONFIG_ENV)
    if not path:
        return policy(flagged=flagged)
    config = load_config(path, env, role=TRUST)
    return policy(listed=config.trusted_recipes, listed_in=path, flagged=flagged)


def _drone_build(args: argparse.Namespace, env: Mapping[str, str]) -> DroneBuild | None:
    """The Drone build of the step with --drone, or without a recipe when DRONE=true; None
    for a run outside Drone. BadInput without a recipe anywhere."""
    from ccci.drone_env import from_environment, in_drone
    from ccci.errors import BadInput

    if not args.drone and (args.recipe or not in_drone(env)):
        if not args.recipe:
            raise BadInput("give a recipe, or run in a Drone pipeline step (--drone, "
                           "with DRONE=true and CCCI_RECIPE set)")
        return None
    given = {"CCCI_RECIPE": args.recipe} if args.recipe else {}
    build = from_environment({**env, **given})
    if build is None:
        raise BadInput('--drone: not in a Drone pipeline step (DRONE is not "true")')
    print(f"Drone build #{build.build_number or '?'}: {build.recipe}"
          + (f" at {args.ref or build.ref}" if args.ref or build.ref else "")
          + (f", pull request #{build.pr}" if build.pr else "")
          + (f" of {build.repo}" if build.repo else "")
          + (", quick" if build.quick else ""))
    return build


def _check(args: argparse.Namespace) -> int:
    """Exit 1 when any finding is an error (a run would be refused), else 0."""
    from ccci.check import check_recipe
    from ccci.findings import findings_json, findings_table

    found = check_recipe(args.recipe, args.ref, repo=args.repo)
    errors = sum(1 for f in found if f.is_error)
    if args.format == "json":
        print(findings_json(args.recipe, found))
    else:
        print(findings_table(args.recipe, found))
    return 1 if errors else 0


def _add_lint(sub: argparse._SubParsersAction) -> None:
    lint = sub.add_parser(
        "lint", help="apply the lint rules (L5) to a recipe, or to every recipe of a folder"
    )
    lint.add_argument("recipe", nargs="?", help="recipe name (its repository found by name)")
    lint.add_argument("--ref", help="git ref to lint (default: the recipe's HEAD)")
    lint.add_argument("--repo", help="path of the recipe repository (default: found by name)")
    lint.add_argument("--all", type=Path, metavar="DIR", dest="all_in",
                      help="lint every recipe repository in DIR; one summary line each")
    lint.add_argument("--format", choices=("text", "json"), default="text",
                      help="text: a table for people (default); json: the findings as data")


def _lint(args: argparse.Namespace) -> int:
    """Exit 1 when a recipe has a lint error (or could not be linted), else 0."""
    import json

    from ccci.findings import findings_table
    from ccci.lint.apply import lint_all, lint_recipe

    if bool(args.recipe) == bool(args.all_in):
        print("ccci lint: give a recipe, or --all DIR", file=sys.stderr)
        return 2
    if args.all_in:
        if not args.all_in.is_dir():
            print(f"ccci lint: {args.all_in} is not a folder", file=sys.stderr)
            return 2
        results = lint_all(args.all_in)
        if args.format == "json":
            print(json.dumps([r.as_dict() for r in results], indent=2))
        else:
            print("\n".join(r.summary_line() for r in results) or f"no recipe in {args.all_in}")
        return 0 if all(r.ok for r in results) else 1
    result = lint_recipe(args.recipe, args.ref, repo=args.repo)
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2))
    elif result.error:
        print(f"{args.recipe}: not linted: {result.error}")
    else:
        print(findings_table(args.recipe, result.findings, failing="fails lint"))
    return 0 if result.ok else 1


def _check_doc(_args: argparse.Namespace) -> int:
    from ccci.findings import render_doc

    print(render_doc(), end="")
    return 0


def _config_doc(_args: argparse.Namespace) -> int:
    from ccci.config.docs import render

    print(render(), end="")
    return 0


def _examples(args: argparse.Namespace) -> int:
    from ccci.examples import materialize_all

    dest = args.dest or paths.examples_dest()
    sources = [paths.project_root() / "examples" / "recipes"]
    for source in sources:
        for name, repo in materialize_all(source, dest).items():
            print(f"{name}: {repo}")
    return 0


def _janitor(args: argparse.Namespace) -> int:
    from ccci.janitor import BY_HAND_WAIT, janitor_pass

    if args.inventory and not Path(args.inventory).exists():
        print(f"error: inventory {args.inventory} does not exist", file=sys.stderr)
        return 2
    report = janitor_pass(args.inventory, expired=args.expired, wait=BY_HAND_WAIT)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _ls(args: argparse.Namespace) -> int:
    from ccci.janitor import ls

    if args.inventory and not Path(args.inventory).exists():
        print(f"error: inventory {args.inventory} does not exist", file=sys.stderr)
        return 2
    print(ls(args.inventory))
    return 0


def _teardown(args: argparse.Namespace) -> int:
    from ccci.errors import CcciError
    from ccci.janitor import teardown_run

    try:
        stage = teardown_run(args.run, inventory=args.inventory)
    except CcciError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"teardown {stage.status}" + (f": {stage.reason()}" if not stage.ok else ""))
    return 0 if stage.ok else 1


def _runs_dir(args: argparse.Namespace) -> Path | None:
    runs = args.runs_dir or paths.runs_root()
    if not runs.is_dir():
        problem = "is not a folder" if runs.exists() else "does not exist"
        print(f"error: runs folder {runs} {problem}", file=sys.stderr)
        return None
    return runs


def _report(args: argparse.Namespace) -> int:
    from ccci.report.dashboard import build_dashboard

    runs = _runs_dir(args)
    if runs is None:
        return 2
    try:
        index = build_dashboard(runs, args.out)
    except OSError as exc:
        print(f"error: dashboard not written: {exc}", file=sys.stderr)
        return 1
    print(index)
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Serve even when the dashboard cannot be rebuilt (a read-only runs folder): the
    runs, and the dashboard last built, are still worth reading."""
    from ccci.report.dashboard import build_dashboard
    from ccci.report.serve import serve

    runs = _runs_dir(args)
    if runs is None:
        return 2
    try:
        build_dashboard(runs)
    except OSError as exc:
        print(f"warning: dashboard not rebuilt: {exc}", file=sys.stderr)

    def ready(url: str) -> None:
        print(url, flush=True)
        print(f"serving {runs} on 127.0.0.1 only; Ctrl-C to stop", file=sys.stderr)

    try:
        serve(runs, args.port, ready)
    except (OSError, OverflowError) as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


def _bridge(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; exit 2 on a bad config or a port that cannot be bound."""
    import logging

    from ccci.ci.bridge import serve
    from ccci.ci.config import load_config
    from ccci.errors import CcciError

    try:
        config = load_config(args.config)
    except CcciError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not config.recipes:
        print("warning: no recipe enrolled (recipes:): every trigger will be ignored",
              file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def ready(url: str) -> None:
        print(url, flush=True)
        print(f"bridge: {config.forge_url} -> Drone {config.drone_url} {config.drone_repo}; "
              "Ctrl-C to stop", file=sys.stderr)

    try:
        serve(config, ready)
    except (OSError, OverflowError) as exc:
        print(f"error: cannot listen on {config.listen_host}:{config.listen_port}: {exc}",
              file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "check": _check, "config-doc": _config_doc,
                "check-doc": _check_doc, "lint": _lint, "examples": _examples,
                "janitor": _janitor, "ls": _ls, "teardown": _teardown,
                "report": _report, "serve": _serve, "bridge": _bridge}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
