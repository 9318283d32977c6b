"""``python -m gitrollback``: the command line, a thin layer over ``gitrollback.api``.

This package is the composition root: the only code that reads argv, the environment and files, installs a log
handler, and writes to the terminal. Heavy imports (httpx, lightkube, gitpython) happen inside the command that
needs them so ``--help`` stays fast.

Exit codes (``docs/cli.md``): 0 rolled back and verified (or the command succeeded), 1 rollback or verification
failed, 2 usage or configuration error, 3 refused by a precondition, 130 interrupted.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitrollback import __version__
from gitrollback.cli.output import Output, OutputHandler, RedactingFilter
from gitrollback.cli.progress import StepPrinter
from gitrollback.errors import ConfigError, GitRollbackError, PreconditionFailedError

if TYPE_CHECKING:
    from gitrollback.api import Rollback
    from gitrollback.cli.ci import CIEnvironment
    from gitrollback.models import RunReport
    from gitrollback.settings import Settings
    from gitrollback.testing.clock import SimClock

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "error_json", "main"]

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
        "--resume",
        metavar="RUN_ID",
        help="continue this unfinished run (default: the provider's unfinished run, if any)",
    )
    run.add_argument(
        "--propose",
        action="store_true",
        help="gitops with a pull/merge request: stop once the change request is open (status proposed); a later run "
        "resumes the run and reuses it",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="refuse, instead of warning, when the Image Factory token expires before the run's waits could end",
    )
    from gitrollback.cli import fleet

    fleet.add_arguments(run)
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
        "--providers",
        type=int,
        default=1,
        metavar="N",
        help="build N providers sharing one broken release and roll them all back as a fleet (default 1)",
    )
    sandbox.add_argument(
        "--parallel", type=int, default=None, metavar="N", help="with --providers: at most N at a time (default 4)"
    )
    sandbox.add_argument(
        "--tick",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between the simulators' background ticks (default 1)",
    )
    sandbox.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the poll interval the sandbox's config gives gitrollback (default 2)",
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
    # watch: the remediation service (docs/watch.md); gitrollback/cli/watch.py imports nothing heavy.
    from gitrollback.cli import watch

    watch.add_parser(sub, [common])
    return parser


def _read_file(path: str) -> str:
    """Read a file the config names; bytes that are not UTF-8 are an ``OSError`` naming the file and the position."""
    data = Path(path).expanduser().read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OSError(errno.EILSEQ, f"{path} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})") from None


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
    state_dir = Path(settings.state_dir or ".").expanduser()
    if state_dir.exists() and not state_dir.is_dir():
        raise ConfigError(
            f"state_dir {state_dir} is a file, not a directory",
            path=path,
            key="state_dir",
            hint="point state_dir at a directory (it holds locks, run journals and clones), or remove that file",
        )
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
    _install_redaction(_secret_values(settings, env), progress.output)
    return Rollback.from_settings(
        settings, args.provider, env=env, read_file=_read_file, progress=progress, clock=clock
    )


#: the (handler, filter) pairs this process's ``main()`` installed; removed again when it returns
_installed_filters: list[tuple[logging.Handler, logging.Filter]] = []


def _install_redaction(secrets: Sequence[str], output: Output) -> None:
    output.redact.add(secrets)
    for handler in logging.getLogger().handlers:
        redacting = RedactingFilter(secrets)
        handler.addFilter(redacting)
        _installed_filters.append((handler, redacting))


def _remove_redaction() -> None:
    while _installed_filters:
        handler, redacting = _installed_filters.pop()
        handler.removeFilter(redacting)


def _report_exit(report: RunReport) -> int:
    if report.error_kind == "preflight_failed":  # a credential or permission is missing: nothing was changed
        return EXIT_USAGE
    return {"rolled_back": EXIT_OK, "proposed": EXIT_OK, "refused": EXIT_REFUSED}.get(report.status, EXIT_FAILED)


def _print_report(output: Output, report: RunReport, as_json: bool) -> None:
    """The report on stdout; an incident notes file that could not be written is a warning on stderr (the exit code
    stays the rollback's: the notes are in the report)."""
    from gitrollback.report import render_report, report_json

    output.recorded = report
    if report.notes_error is not None:
        output.message(f"gitrollback: warning: could not write the incident notes to {report.notes_path}: "
                       f"{report.notes_error}")  # fmt: skip
        output.message("  next: the notes are in the report (incident); copy them from there")
    if as_json:
        output.json(report_json(report))
    else:
        output.result(render_report(report))


def _cmd_assess(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.report import assessment_json, render_assessment

    with _rollback(args, env, progress, clock) as rb:
        assessment = rb.assess()
    output.recorded = assessment
    if args.json:
        output.json(assessment_json(assessment))
    else:
        output.result(render_assessment(assessment))
        command = _NEXT_COMMAND.get(assessment.verdict)
        if command:
            output.result(f"next          {command}")
    return EXIT_REFUSED if assessment.verdict in ("wait", "unsupported") else EXIT_OK


#: what the CLI tells a person to do after ``assess`` (library advice names no commands)
_NEXT_COMMAND = {
    "rollback": "`gitrollback plan` shows what would change; `gitrollback run` rolls back",
    "resume": "`gitrollback run` continues the unfinished run (`gitrollback plan` shows what is left)",
    "wait": "rerun `gitrollback assess` to watch the job",
    "healthy": "nothing to do (`gitrollback run --to REV --force` rolls back anyway)",
}


def _cmd_plan(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.report import plan_json, render_plan

    with _rollback(args, env, progress, clock) as rb:
        plan = rb.plan(to=args.to, force=args.force, prune=args.prune)
    output.recorded = plan
    if args.json:
        output.json(plan_json(plan))
    else:
        output.result(render_plan(plan) + "\nNothing was changed. Run `gitrollback run` to do this.")
    return EXIT_OK


def _confirm(args: argparse.Namespace, rb: Rollback, output: Output) -> None:
    """Show the plan and ask, or refuse without a terminal (``ask``)."""

    def show_plan() -> None:
        from gitrollback.report import render_plan

        output.message(render_plan(rb.plan(to=args.to, force=args.force, prune=args.prune)))

    ask(
        args,
        output,
        "Roll back now?",
        show=show_plan,
        hint="pass --yes to run non-interactively (`gitrollback plan` shows first what will change)",
    )


def ask(
    args: argparse.Namespace, output: Output, question: str, *, hint: str, show: Callable[[], None] | None = None
) -> None:
    """Ask ``question`` (after ``show()``), or refuse (``confirmation_required``, ``not_confirmed``): exit 3 either way.

    ``--yes`` skips the question. ``--json`` never prompts: without ``--yes`` it refuses, like a run without a
    terminal; ``hint`` says how to run non-interactively.
    """
    if args.yes:
        return
    if args.json or not sys.stdin.isatty():
        why = "--json never prompts" if args.json else "stdin is not a terminal"
        raise PreconditionFailedError(
            f"refusing to change anything without confirmation ({why})",
            step="confirm",
            kind="confirmation_required",
            hint=hint,
        )
    if show is not None:
        show()
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
        output.message("")
    if answer.strip().lower() not in ("y", "yes"):
        raise PreconditionFailedError(
            "not confirmed: nothing was changed", step="confirm", kind="not_confirmed", hint="answer y to roll back"
        )


def _cmd_run(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.cli import fleet

    if fleet.wants_fleet(args):
        return fleet.run_fleet(args, env, output, clock)
    if args.parallel is not None:
        raise ConfigError("--parallel needs --providers or --all-failed", key="--parallel")
    with _rollback(args, env, progress, clock) as rb:
        _confirm(args, rb, output)
        if args.resume is None and not args.json:
            unfinished = rb.unfinished_run()
            if unfinished is not None and unfinished.to == args.to:
                where = f"after {unfinished.last_step}" if unfinished.last_step else "in its first step"
                output.message(f"Resuming run {unfinished.run_id}, which stopped {where}.")
        from gitrollback.cli.access import NotesPath

        checks = [NotesPath(args.notes)] if args.notes else []
        notes = Path(args.notes) if args.notes else None
        if args.propose:
            if args.resume is not None or args.prune is not None:
                raise ConfigError(
                    "--propose takes neither --resume nor --prune",
                    kind="usage",
                    hint="propose finds the provider's unfinished run itself; prune is an installer-mode option",
                )
            report = rb.propose(to=args.to, force=args.force, notes=notes, strict=args.strict, access_checks=checks)
        else:
            report = rb.run(
                to=args.to,
                force=args.force,
                resume=args.resume,
                notes=notes,
                prune=args.prune,
                strict=args.strict,
                access_checks=checks,
            )
    _print_report(output, report, args.json)
    return _report_exit(report)


def _cmd_sandbox(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.cli.sandbox import SandboxOptions, check_faults, run_sandbox, serve_sandbox

    check_faults(args.fault)  # a bad --fault is refused before the world is built
    options = SandboxOptions(
        mode=args.mode,
        scm=args.scm,
        auto_merge=args.auto_merge,
        sync=args.sync,
        faults=tuple(args.fault),
        providers=args.providers,
        tick=args.tick,
        poll_interval=args.poll_interval,
    )
    options.check()
    if args.action == "serve":
        if args.parallel is not None:
            raise ConfigError("--parallel is for `sandbox run`", key="--parallel", hint="pass it to `gitrollback run`")
        return serve_sandbox(args.dir, output, options=options, clock=clock, as_json=args.json)
    if args.parallel is not None and args.parallel < 1:  # refused before the world is built, as `run` does
        raise ConfigError(f"--parallel must be at least 1, got {args.parallel}", key="--parallel")
    if args.providers > 1 or args.parallel is not None:
        from gitrollback.cli.ci import detect
        from gitrollback.cli.sandbox import run_sandbox_fleet
        from gitrollback.fleet_report import fleet_json, render_fleet

        quiet = args.json and not detect(env).kind  # a CI log shows progress even with --json
        fleet = run_sandbox_fleet(args.dir, output, options=options, parallel=args.parallel, clock=clock, quiet=quiet)
        output.recorded = fleet
        if args.json:
            output.json(fleet_json(fleet))
        else:
            output.result(render_fleet(fleet))
        return fleet.exit_code
    report = run_sandbox(args.dir, progress, output, options=options, clock=clock)
    _print_report(output, report, args.json)
    return _report_exit(report)


def _cmd_access(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.cli.access import run as run_access

    settings = _load_settings(args, env)
    _install_redaction(_secret_values(settings, env), output)
    return run_access(args, env, output, settings, clock)


def _cmd_known_good(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.cli.known_good import run as run_known_good

    return run_known_good(args, env, output)


def _cmd_watch(
    args: argparse.Namespace, env: Mapping[str, str], output: Output, progress: StepPrinter, clock: SimClock | None
) -> int:
    from gitrollback.cli.watch import run as run_watch

    settings = _load_settings(args, env)
    _install_redaction(_secret_values(settings, env), output)
    return run_watch(args, env, output, settings, clock, read_file=_read_file)


_COMMANDS = {
    "assess": _cmd_assess,
    "plan": _cmd_plan,
    "run": _cmd_run,
    "sandbox": _cmd_sandbox,
    "known-good": _cmd_known_good,
    "access": _cmd_access,
    "watch": _cmd_watch,
}


def _exit_code(exc: GitRollbackError) -> int:
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, PreconditionFailedError):
        return EXIT_REFUSED
    return EXIT_FAILED


def error_json(kind: str, message: str, hint: str | None, exit_code: int) -> dict[str, object]:
    """The ``--json`` document of every exit without a result: ``{"error": {kind, message, hint, exit_code}}``."""
    return {"error": {"kind": kind, "message": message, "hint": hint, "exit_code": exit_code}}


def _fail(output: Output, as_json: bool, kind: str, message: str, hint: str | None, *, code: int) -> int:
    output.message(f"gitrollback: {'error: ' if kind != 'interrupted' else ''}{message}")
    if hint:
        output.message(f"  next: {hint}")
    if as_json and not output.printed_json:
        output.json(error_json(kind, message, hint, code))
    return code


def _parse(arguments: list[str], output: Output, as_json: bool) -> argparse.Namespace | None:
    """Parse ``arguments``; None when argparse answered ``--help`` or ``--version`` itself, which then goes to
    ``output``: as text, or with ``--json`` as one document (``{"help": text}``, ``{"version": version}``)."""
    import contextlib
    import io

    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            return _parser().parse_args(arguments)
    except SystemExit as exc:  # argparse exits after --help and --version; its usage errors raise ConfigError
        if exc.code not in (0, None):  # pragma: no cover - _Parser.error raises instead of exiting
            raise
    text = captured.getvalue().rstrip("\n")
    if not as_json:
        output.result(text)
    elif text == f"gitrollback {__version__}":
        output.json({"version": __version__})
    else:
        output.json({"help": text})
    return None


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    output: Output | None = None,
    clock: SimClock | None = None,
) -> int:
    """Run the CLI; returns the exit code (``__main__`` passes it to ``SystemExit``).

    With ``--json`` stdout holds exactly one JSON document whatever the exit code: the command's result, or
    ``{"error": {"kind", "message", "hint", "exit_code"}}``. Under a CI (``docs/ci.md``) the outcome also goes to
    the CI's files, with and without ``--json``. Logging handlers and filters installed here are removed again
    before returning.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        env: the environment secrets, defaults and the CI's variables are read from (default: ``os.environ``).
        output: where results and messages go (default: stdout and stderr).
        clock: the time every wait and retry uses, and progress reads (default: the system clock). ``sandbox``
            also runs its simulated world on it (default: a ``WallClock`` of the world's own). Passing a
            ``FakeClock`` (``gitrollback.testing.clock``) runs the command in simulated time: this is how a caller
            drives the CLI in-process against a world it built on that clock, or gets a sandbox run without waiting.
    """
    from gitrollback.cli.ci import detect

    output = output or Output()
    env = os.environ if env is None else env
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments  # known before parsing, so a usage error is JSON too
    debug = "--debug" in arguments
    ci = detect(env)
    output.quote_commands = ci.kind == "github"  # only gitrollback's own workflow commands may reach the runner
    root = logging.getLogger()
    handler = OutputHandler(output)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    previous_level = root.level
    args: argparse.Namespace | None = None
    progress: StepPrinter | None = None
    failure: tuple[str, str, str | None] | None = None
    try:
        args = _parse(arguments, output, as_json)
        if args is None:  # --help or --version: answered
            return EXIT_OK
        as_json, debug = args.json, args.debug
        root.setLevel(logging.DEBUG if debug else logging.INFO if args.verbose else logging.WARNING)
        # a CI log is for people: steps go to stderr there even with --json (stdout keeps the one document)
        quiet = args.json and not ci.kind
        live = not ci.kind and not quiet and _is_terminal(output, env)
        if live:
            output.width = _columns(env)
        progress = StepPrinter(output, ci=ci.kind, quiet=quiet, live=live, clock=clock)
        code = _COMMANDS[args.command](args, env, output, progress, clock)
    except GitRollbackError as exc:
        if debug:
            output.message(traceback.format_exc().rstrip("\n"))
        failure = (exc.kind, str(exc), exc.hint)
        code = _fail(output, as_json, exc.kind, str(exc), exc.hint, code=_exit_code(exc))
    except KeyboardInterrupt:
        hint = "rerun the same command: an unfinished run resumes where it stopped"
        failure = ("interrupted", "interrupted", hint)
        code = _fail(output, as_json, "interrupted", "interrupted", hint, code=EXIT_INTERRUPTED)
    except BrokenPipeError:
        raise  # the reader of stdout went away: nothing more can be said there (gitrollback/entry.py: exit 141)
    except Exception as exc:
        if debug:
            output.message(traceback.format_exc().rstrip("\n"))
        message = f"internal error: {type(exc).__name__}: {exc}"
        failure = ("internal", message, "rerun with --debug for the traceback and report it")
        code = _fail(output, as_json, *failure, code=EXIT_FAILED)
    finally:
        if progress is not None:
            progress.close()
        output.clear_status()
        root.removeHandler(handler)
        root.setLevel(previous_level)
        _remove_redaction()
    _report_to_ci(ci, output, _ci_command(args, arguments), code=code, failure=failure, progress=progress)
    return code


def _is_terminal(output: Output, env: Mapping[str, str]) -> bool:
    """Whether progress may draw a live status line: stderr is a terminal that can move its cursor, and no CI
    (``CI`` is set by most CI systems) shows the log."""
    return output.is_terminal() and env.get("TERM") != "dumb" and env.get("CI", "").lower() not in ("true", "1")


def _columns(env: Mapping[str, str]) -> int | None:
    """The terminal width ``COLUMNS`` gives in ``env`` (a positive number), else None: the terminal is asked."""
    value = env.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


#: commands whose outcome the CI files describe (``known-good``, ``access`` and ``sandbox serve`` have none)
_CI_COMMANDS = ("assess", "plan", "run", "sandbox")


def _ci_command(args: argparse.Namespace | None, arguments: Sequence[str]) -> str | None:
    """The command the CI files are about, or None for a command they do not describe; a usage error names the
    first word of the command line (or none)."""
    if args is None:
        word = next((a for a in arguments if not a.startswith("-")), "")
        return None if word in ("known-good", "access") or "serve" in arguments else word
    if args.command not in _CI_COMMANDS or getattr(args, "action", "run") == "serve":
        return None
    return str(args.command)


def _report_to_ci(
    ci: CIEnvironment,
    output: Output,
    command: str | None,
    *,
    code: int,
    failure: tuple[str, str, str | None] | None,
    progress: StepPrinter | None,
) -> None:
    """Write the outcome to the CI's files (``gitrollback/cli/ci.py``) and, on GitHub, annotate a failure that no
    step annotated; a file that cannot be written is a warning, never a different exit code."""
    from gitrollback.cli.ci import outcome, write_files

    if command is None or not (ci.kind or ci.tekton_results):
        return
    result = outcome(command or "gitrollback", output.recorded, code, error=failure)
    if ci.kind == "github":  # a warning belongs on the run's page, not only in the summary
        printer = progress or StepPrinter(output, ci=ci.kind)
        for warning in result.warnings:
            printer.annotate(f"gitrollback {result.command}: warning", warning, level="warning")
    if ci.kind == "github" and code != EXIT_OK and not (progress and progress.annotated):
        printer = progress or StepPrinter(output, ci=ci.kind)
        failed = [p for p in result.providers if p.exit_code != EXIT_OK]
        for p in failed:  # a fleet: one annotation per provider that did not end well, named in its title
            printer.annotate(f"gitrollback {result.command}: {p.provider}: {p.status}", p.error or p.status)
        if not failed:
            printer.annotate(
                f"gitrollback {result.command}: {result.status}", result.error or result.advice or "failed"
            )
    try:
        problems = write_files(ci, result, output.redact)
    except Exception as exc:  # a bug here must not replace the command's exit code
        problems = [f"could not write the CI files: internal error: {type(exc).__name__}: {exc}"]
    for problem in problems:
        output.message(f"gitrollback: warning: {problem}")
