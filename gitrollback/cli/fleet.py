"""``gitrollback run --providers ID,ID,… | --all-failed [--parallel N]``: parse, run ``gitrollback.fleet``, print.

The fleet logic is the library's (``gitrollback.fleet``); this module only turns options into a ``FleetRunner``,
prints each provider's progress as plain lines prefixed with its label (so interleaved lines stay readable), and
prints the summary: a table, or with ``--json`` one document (``gitrollback.fleet_report.fleet_json``).

Under a CI the progress stays these prefixed lines: providers run in threads at once, and GitHub's ``::group::`` and
GitLab's sections cannot nest or interleave, so a group per provider would gather lines of other providers. The CI
files (``gitrollback/cli/ci.py``) get the fleet's outcome, a row per provider (``docs/ci.md``, "Fleet runs").
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from gitrollback.cli.output import Output
from gitrollback.errors import ConfigError

if TYPE_CHECKING:
    from gitrollback.fleet import ProviderOutcome
    from gitrollback.models import StepRecord
    from gitrollback.settings import ProviderSettings, Settings
    from gitrollback.testing.clock import SimClock

__all__ = ["ProviderProgress", "add_arguments", "outcome_printer", "run_fleet", "stop_printer", "wants_fleet"]

DEFAULT_PARALLEL = 4


def add_arguments(run: argparse.ArgumentParser) -> None:
    """The fleet options of ``run``."""
    run.add_argument(
        "--providers",
        metavar="ID,ID,...",
        help="roll back these providers (names or ids from the config), each with its own lock, journal and report",
    )
    run.add_argument(
        "--all-failed",
        action="store_true",
        help="roll back every provider (of --providers, else of the config) whose last installer job failed",
    )
    run.add_argument(
        "--parallel",
        type=int,
        default=None,
        metavar="N",
        help=f"with --providers or --all-failed: at most N providers at a time (default {DEFAULT_PARALLEL})",
    )


def wants_fleet(args: argparse.Namespace) -> bool:
    """True when ``run`` was asked for several providers."""
    return args.providers is not None or bool(args.all_failed)  # `--providers ""` is refused, not a single run


class ProviderProgress:
    """``gitrollback.ports.ProgressSink`` for one provider of a fleet: plain lines on stderr, each prefixed with
    ``[label]``; one lock shared by every provider's sink keeps lines whole."""

    def __init__(self, output: Output, label: str, lock: threading.Lock) -> None:
        self.output = output
        self.prefix = f"[{label}]"
        self.lock = lock
        self._last_wait = 0.0

    def _line(self, text: str) -> None:
        with self.lock:
            self.output.message(f"{self.prefix} {text}")

    def step_started(self, name: str, description: str) -> None:
        self._line(f"-> {name}: {description}")

    def step_finished(self, record: StepRecord) -> None:
        status = record.status.value
        if status == "skipped" and record.detail.startswith("not run:"):
            return
        took = (record.finished_at - record.started_at).total_seconds()
        mark = {"succeeded": "ok", "failed": "FAILED"}.get(status, status)
        self._line(f"   {mark} ({took:.1f}s): {record.detail}")

    def step_resumed(self, record: StepRecord) -> None:
        self._line(f"-- {record.name}: done earlier ({record.status.value}): {record.detail}")

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        if elapsed - self._last_wait < 5.0 and elapsed > 0.5:
            return
        self._last_wait = elapsed
        self._line(f"   ... waiting for {what} ({elapsed:.0f}s): {state}")


def outcome_printer(output: Output, lock: threading.Lock) -> Callable[[ProviderOutcome], None]:
    """Prints ``[label] => status: why`` on stderr as each provider's outcome is known."""

    def printer(outcome: ProviderOutcome) -> None:
        why = f": {outcome.message}" if outcome.message and outcome.status != "rolled_back" else ""
        with lock:
            output.message(f"[{outcome.label}] => {outcome.status}{why}")

    return printer


def stop_printer(output: Output) -> Callable[[int], None]:
    """Says on stderr what each Ctrl-C did (``FleetRunner.on_stop``)."""

    def printer(count: int) -> None:
        if count == 1:
            text = "no further provider starts; the running ones finish (Ctrl-C again to interrupt them)"
        elif count == 2:
            text = "interrupting the running providers at their next wait; rerunning resumes them"
        else:
            text = "still waiting for running providers to reach a wait (a network call or git command ends first)"
        output.message(f"gitrollback: stopping: {text}")

    return printer


def _selected(args: argparse.Namespace, settings: Settings) -> list[ProviderSettings]:
    if args.providers is None:  # --all-failed alone: every configured provider
        return list(settings.providers)
    chosen: list[ProviderSettings] = []
    for key in (k.strip() for k in args.providers.split(",")):
        if not key:
            continue
        provider = settings.provider(key)  # ConfigError naming the configured ones
        if provider not in chosen:
            chosen.append(provider)
    if not chosen:
        raise ConfigError("--providers names no provider", key="--providers", hint="--providers NAME_OR_ID,...")
    return chosen


def _check(args: argparse.Namespace) -> int:
    if args.provider:
        raise ConfigError(
            "--provider names one provider; --providers and --all-failed name several",
            key="--provider",
            hint="use --providers ID,ID,... (or --all-failed) without --provider",
        )
    for flag, value in (("--resume", args.resume), ("--notes", args.notes)):
        if value:
            raise ConfigError(
                f"{flag} is for one provider's run",
                key=flag,
                hint="each provider's report carries its incident notes (`--json`); resuming is automatic",
            )
    parallel: int = DEFAULT_PARALLEL if args.parallel is None else args.parallel
    if parallel < 1:
        raise ConfigError(f"--parallel must be at least 1, got {parallel}", key="--parallel")
    return parallel


def _confirm(args: argparse.Namespace, providers: list[ProviderSettings], output: Output) -> None:
    from gitrollback.cli import ask

    which = ", ".join(p.label for p in providers)
    scope = "every provider whose last installer job failed, of" if args.all_failed else "these providers:"
    ask(args, output, f"Roll back {scope} {which}?", hint="pass --yes to run non-interactively")


def run_fleet(args: argparse.Namespace, env: Mapping[str, str], output: Output, clock: SimClock | None) -> int:
    """``run`` for several providers; returns the fleet's exit code (its worst outcome's)."""
    from gitrollback.cli import _install_redaction, _load_settings, _read_file, _secret_values
    from gitrollback.cli.ci import detect
    from gitrollback.clock import SystemClock
    from gitrollback.fleet import FleetOptions, FleetRunner, open_from_settings
    from gitrollback.fleet_report import fleet_json, render_fleet

    parallel = _check(args)
    settings = _load_settings(args, env)
    _install_redaction(_secret_values(settings, env), output)
    providers = _selected(args, settings)
    _confirm(args, providers, output)
    lock = threading.Lock()
    # under a CI the log is for people: progress goes to stderr even with --json (as for one provider)
    quiet = args.json and not detect(env).kind

    def progress_for(provider: ProviderSettings) -> ProviderProgress | None:
        return None if quiet else ProviderProgress(output, provider.label, lock)

    runner = FleetRunner(
        providers,
        open_from_settings(settings, env=env, read_file=_read_file, progress_for=progress_for),
        parallel=parallel,
        options=FleetOptions(to=args.to, force=args.force, prune=args.prune, strict=args.strict),
        only_failed=args.all_failed,
        clock=clock or SystemClock(),
        on_outcome=None if quiet else outcome_printer(output, lock),
        on_stop=stop_printer(output),
    )
    report = runner.run()
    output.recorded = report  # the CI files (gitrollback/cli/ci.py) describe the fleet
    if args.json:
        output.json(fleet_json(report))
    else:
        output.result(render_fleet(report))
    return report.exit_code
