"""``python -m gitrollback``: the command line, a thin layer over ``gitrollback.api``.

This package is the composition root: the only code that reads argv, the environment and files, installs a log
handler, and writes to the terminal. Heavy imports (httpx, lightkube, gitpython) happen inside the command that
needs them so ``--help`` stays fast.

Exit codes (``docs/cli.md``): 0 rolled back and verified (or the command succeeded), 1 rollback or verification
failed, 2 usage or configuration error, 3 refused by a precondition, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitrollback import __version__
from gitrollback.cli.output import Output, RedactingFilter, StepPrinter
from gitrollback.errors import ConfigError, GitRollbackError, PreconditionFailedError

if TYPE_CHECKING:
    from gitrollback.api import Rollback
    from gitrollback.models import RunReport
    from gitrollback.settings import Settings
    from gitrollback.testing.clock import SimClock

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_INTERRUPTED = 130

DEFAULT_CONFIG = "gitrollback.yaml"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise ConfigError(message, hint=f"see `{self.prog} --help`")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common.add_argument("-v", "--verbose", action="store_true", help="show info logs")

    target = _Parser(add_help=False)
    target.add_argument(
        "-c", "--config", default=None, help=f"config file (default: $GITROLLBACK_CONFIG or {DEFAULT_CONFIG})"
    )
    target.add_argument("-p", "--provider", help="provider name or id from the config (optional when there is one)")

    rollback = _Parser(add_help=False)
    rollback.add_argument(
        "--to", metavar="REV", help="roll back to this commit, tag or branch instead of the resolved one"
    )
    rollback.add_argument("--force", action="store_true", help="roll back even when assess finds nothing wrong")
    rollback.add_argument(
        "--prune",
        action="store_true",
        default=None,
        help="installer mode: also delete what the bad revision added (only objects an installer or rollback run "
        "wrote; default: cluster.prune)",
    )

    parser = _Parser(
        prog="gitrollback", description="Roll Image Factory's Tekton assets back to the last known-good revision."
    )
    parser.add_argument("--version", action="version", version=f"gitrollback {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("assess", parents=[common, target], help="read installer status and readiness; say what to do")
    sub.add_parser("plan", parents=[common, target, rollback], help="show exactly what run would do; change nothing")
    run = sub.add_parser("run", parents=[common, target, rollback], help="roll back, verify and write incident notes")
    run.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    run.add_argument("--notes", metavar="FILE", help="also write the incident notes (Markdown) to FILE")
    run.add_argument(
        "--strict",
        action="store_true",
        help="refuse, instead of warning, when the Image Factory token expires before the run's waits could end",
    )
    sandbox = sub.add_parser("sandbox", parents=[common], help="roll back a throwaway simulated world, for real")
    sandbox.add_argument("action", nargs="?", choices=["run", "serve"], default="run", help="run (default) or serve")
    sandbox.add_argument("--dir", help="where to build the world (default: a temporary directory)")
    sandbox.add_argument(
        "--mode", choices=["image_factory_installer", "gitops"], default="image_factory_installer", help="install mode"
    )
    sandbox.add_argument(
        "--scm", choices=["github", "gitlab", "direct"], default="github", help="gitops: where the GitOps repo lives"
    )
    sandbox.add_argument("--sync", choices=["argocd", "flux"], default="argocd", help="gitops: the GitOps controller")
    sandbox.add_argument(
        "--auto-merge", action="store_true", help="gitops: gitrollback merges its own change request (no reviewer)"
    )
    sandbox.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SERVER:KIND[,key=value...]",
        help="inject a network fault into one simulator (repeatable; docs/cli.md lists the kinds and keys)",
    )
    # known-good (issue 3): the resolver on its own; gitrollback/cli/known_good.py imports nothing heavy.
    from gitrollback.cli import known_good

    known_good.add_parser(sub, [common])
    # access restore (issue 10): undo an escalation; gitrollback/cli/access.py imports nothing heavy.
    from gitrollback.cli import access

    access.add_parser(sub, [common, target])
    return parser


def _ci_kind(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return ""


def _read_file(path: str) -> str:
    return Path(path).expanduser().read_text(encoding="utf-8")


def _load_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    from gitrollback.config import parse_config

    path = args.config or env.get("GITROLLBACK_CONFIG") or DEFAULT_CONFIG
    try:
        text = _read_file(path)
    except FileNotFoundError:
        raise ConfigError(
            "config file not found", path=path, hint="pass --config FILE (docs/configuration.md has an example)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", path=path) from exc
    settings = parse_config(text, source=path)
    if settings.state_dir is None:
        cache = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", ".")) / ".cache")
        from dataclasses import replace

        settings = replace(settings, state_dir=str(Path(cache) / "gitrollback"))
    return settings


def _secret_values(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """Every secret the config names, from env or file, so log output can mask them."""
    from gitrollback.secrets import resolve_secret

    refs = [settings.imagefactory.token, settings.imagefactory.password]
    for p in settings.providers:
        refs += [p.cluster.token, p.gitops.token if p.gitops else None, p.sync.token if p.sync else None]
    values = []
    for ref in refs:
        if ref is None:
            continue
        try:
            values.append(resolve_secret(ref, env=env, read_file=_read_file))
        except GitRollbackError:
            continue  # a missing secret is reported when an adapter needs it
    return values


def _rollback(
    args: argparse.Namespace, env: Mapping[str, str], progress: StepPrinter, clock: SimClock | None
) -> Rollback:
    from gitrollback.api import Rollback

    settings = _load_settings(args, env)
    _install_redaction(_secret_values(settings, env))
    return Rollback.from_settings(
        settings, args.provider, env=env, read_file=_read_file, progress=progress, clock=clock
    )


def _install_redaction(secrets: Sequence[str]) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(secrets))


def _report_exit(report: RunReport) -> int:
    if report.error_kind == "preflight_failed":  # a credential or permission is missing: nothing was changed
        return EXIT_USAGE
    return {"rolled_back": EXIT_OK, "refused": EXIT_REFUSED}.get(report.status, EXIT_FAILED)


def _print_report(output: Output, report: RunReport, as_json: bool, notes: str | None = None) -> None:
    from gitrollback.report import incident_markdown, render_report, report_json

    if as_json:
        output.json(report_json(report))
    else:
        output.result(render_report(report))
    # a run the pre-flight check stopped changed nothing (and its notes path may be the problem): no notes
    if notes and report.incident is not None and report.error_kind != "preflight_failed":
        Path(notes).write_text(incident_markdown(report.incident, report) + "\n", encoding="utf-8")


def _cmd_assess(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.report import assessment_json, render_assessment

    with _rollback(args, env, progress, clock) as rb:
        assessment = rb.assess()
    if args.json:
        output.json(assessment_json(assessment))
    else:
        output.result(render_assessment(assessment))
    return EXIT_REFUSED if assessment.verdict in ("wait", "unsupported") else EXIT_OK


def _cmd_plan(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.report import plan_json, render_plan

    with _rollback(args, env, progress, clock) as rb:
        plan = rb.plan(to=args.to, force=args.force, prune=args.prune)
    output.json(plan_json(plan)) if args.json else output.result(render_plan(plan))
    return EXIT_OK


def _confirm(args: argparse.Namespace, rb: Rollback, output: Output) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise PreconditionFailedError(
            "refusing to change the cluster without confirmation (stdin is not a terminal)",
            step="confirm",
            hint="pass --yes to run non-interactively (run `gitrollback plan` first to see what will change)",
        )
    from gitrollback.report import render_plan

    output.message(render_plan(rb.plan(to=args.to, force=args.force, prune=args.prune)))
    answer = input("Roll back now? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _cmd_run(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    with _rollback(args, env, progress, clock) as rb:
        if not _confirm(args, rb, output):
            output.message("Not confirmed: nothing was changed.")
            return EXIT_REFUSED
        from gitrollback.cli.access import NotesPath

        checks = [NotesPath(args.notes)] if args.notes else []
        report = rb.run(to=args.to, force=args.force, prune=args.prune, strict=args.strict, access_checks=checks)
    _print_report(output, report, args.json, args.notes)
    return _report_exit(report)


def _cmd_sandbox(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.cli.sandbox import SandboxOptions, check_faults, run_sandbox, serve_sandbox

    check_faults(args.fault)  # a bad --fault is refused before the world is built
    options = SandboxOptions(
        mode=args.mode, scm=args.scm, auto_merge=args.auto_merge, sync=args.sync, faults=tuple(args.fault)
    )
    if args.action == "serve":
        return serve_sandbox(args.dir, output, options=options, clock=clock)
    report = run_sandbox(args.dir, progress, output, options=options, clock=clock)
    _print_report(output, report, args.json)
    return _report_exit(report)


def _cmd_access(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.cli.access import run as run_access

    settings = _load_settings(args, env)
    _install_redaction(_secret_values(settings, env))
    return run_access(args, env, output, settings, clock)


def _cmd_known_good(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.cli.known_good import run as run_known_good

    return run_known_good(args, env, output)


_COMMANDS = {
    "assess": _cmd_assess,
    "plan": _cmd_plan,
    "run": _cmd_run,
    "sandbox": _cmd_sandbox,
    "known-good": _cmd_known_good,
    "access": _cmd_access,
}


def _exit_code(exc: GitRollbackError) -> int:
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, PreconditionFailedError):
        return EXIT_REFUSED
    return EXIT_FAILED


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    output: Output | None = None,
    clock: SimClock | None = None,
) -> int:
    """Run the CLI; returns the exit code (``__main__`` passes it to ``SystemExit``).

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        env: the environment secrets and defaults are read from (default: ``os.environ``).
        output: where results and messages go (default: stdout and stderr).
        clock: the time every wait and retry uses (default: the system clock). ``sandbox`` also runs its
            simulated world on it (default: a ``WallClock`` of the world's own). Passing a ``FakeClock``
            (``gitrollback.testing.clock``) runs the command in simulated time: this is how a caller drives the
            CLI in-process against a world it built on that clock, or gets a sandbox run without waiting.
    """
    output = output or Output()
    env = os.environ if env is None else env
    debug = False
    root = logging.getLogger()
    handler = logging.StreamHandler(output.err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    previous_level = root.level
    try:
        args = _parser().parse_args(argv)
        debug = args.debug
        root.setLevel(logging.DEBUG if debug else logging.INFO if args.verbose else logging.WARNING)
        progress = StepPrinter(output, ci=_ci_kind(env), quiet=args.json)
        return _COMMANDS[args.command](args, env, output, progress, clock)
    except GitRollbackError as exc:
        if debug:
            traceback.print_exc(file=output.err)
        output.message(f"gitrollback: error: {exc}")
        if exc.hint:
            output.message(f"  next: {exc.hint}")
        return _exit_code(exc)
    except KeyboardInterrupt:
        output.message("gitrollback: interrupted; every step is safe to rerun")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # argparse --help / --version
        return int(exc.code or 0)
    except Exception as exc:
        if debug:
            traceback.print_exc(file=output.err)
        output.message(f"gitrollback: internal error: {type(exc).__name__}: {exc}")
        output.message("  next: rerun with --debug for the traceback and report it")
        return EXIT_FAILED
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
