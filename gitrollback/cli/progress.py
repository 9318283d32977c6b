"""``StepPrinter``: each step of a run as it happens, in the form the place it is shown in needs.

- **GitHub Actions**: each step is a ``::group::`` … ``::endgroup::``; a failed step adds an ``::error`` annotation
  (workflow commands, escaped as actions/toolkit does: ``gitrollback/cli/ci_format.py``).
- **GitLab CI**: each step is a collapsible section whose start and end carry the clock's time, so GitLab shows
  the step's real duration. A step that succeeded is collapsed, a failed one open. The option is part of the
  section's first line (``[collapsed=true]``; docs.gitlab.com ci/jobs/job_logs, "Pre-collapse sections"), so the
  step's lines are kept back until it ends; a step still running after ``SECTION_HOLD_SECONDS`` is opened
  expanded and its lines stream from then on, so a long wait shows in the log while it lasts.
- **A terminal** (stderr is a tty, no CI): one live status line, rewritten in place: the current step and its
  description, then while it waits ``-> step [12s] waiting for <what>: <state>`` (the seconds since the step
  started); when the step ends the line is replaced by the same lines plain mode prints.
- **Anything else** (a pipe, a file, a log collector): plain lines, ``-> step: description`` and
  ``   ok (0.2s): detail``, and a ``... waiting for`` line at most every 5 s.

All of it goes to stderr through ``Output``. ``--json`` runs print nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitrollback.cli import ci_format
from gitrollback.cli.output import Output

if TYPE_CHECKING:  # models pull in dataclasses; keep `--help` from importing them
    from gitrollback.models import StepRecord
    from gitrollback.ports import Clock

__all__ = ["StepPrinter"]

#: plain mode prints a still-running wait at most this often
WAIT_LINE_EVERY = 5.0
#: under GitLab a step's lines are kept back at most this long (clock seconds) to learn whether it succeeds
SECTION_HOLD_SECONDS = 30.0


class StepPrinter:
    """``gitrollback.ports.ProgressSink`` that prints each step as it happens.

    Args:
        output: where to write.
        ci: ``"github"``, ``"gitlab"`` or ``""`` (not under a CI that has its own log format).
        quiet: print nothing (``--json`` runs).
        live: draw a live status line (only sensible on a terminal, never under CI).
        clock: the time GitLab sections and the live line's elapsed seconds are read from (default: the system's).
    """

    def __init__(
        self, output: Output, *, ci: str = "", quiet: bool = False, live: bool = False, clock: Clock | None = None
    ) -> None:
        self.output = output
        self.ci = ci
        self.quiet = quiet
        self.live = live and not ci and not quiet
        self._clock = clock
        self._last_wait = 0.0
        self._step = ("", "")  # the running step's name and description
        self._started = 0.0  # its start on the clock's monotonic scale
        self._section: tuple[str, str, int] | None = None  # GitLab: the held section's name, header and start time
        #: the steps that emitted an ``::error`` annotation (the CLI adds one of its own only when none did)
        self.annotated: list[str] = []

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            from gitrollback.clock import SystemClock

            self._clock = SystemClock()
        return self._clock

    def _unix_time(self) -> int:
        return int(self.clock.now().timestamp())

    def step_started(self, name: str, description: str) -> None:
        if self.quiet:
            return
        self._step, self._started, self._last_wait = (name, description), self.clock.monotonic(), 0.0
        if self.ci == "github":
            self.output.command(ci_format.workflow_command("group", f"{name}: {description}"))
        elif self.ci == "gitlab":
            self.close()
            self._section = (name, f"{name}: {description}", self._unix_time())
            self.output.hold()
        elif self.live:
            self.output.status(f"-> {name}: {description}")
        else:
            self.output.message(f"-> {name}: {description}")

    def step_finished(self, record: StepRecord) -> None:
        if self.quiet:
            return
        took = (record.finished_at - record.started_at).total_seconds()
        status = record.status.value
        if status == "skipped" and record.detail.startswith("not run:"):
            return  # never started: the failure above says why
        if self.live:
            self.output.clear_status()
            name, description = self._step if self._step[0] == record.name else (record.name, "")
            self.output.message(f"-> {name}: {description}" if description else f"-> {name}")
        self._step = ("", "")
        if self.ci == "gitlab":
            self._open_section(collapsed=status == "succeeded")
        mark = {"succeeded": "ok", "failed": "FAILED"}.get(status, status)
        self.output.message(f"   {mark} ({took:.1f}s): {record.detail}")
        if self.ci == "github":
            self.output.command(ci_format.workflow_command("endgroup", ""))
            if status == "failed":
                self.annotate(f"gitrollback {record.name}", record.detail)
                self.annotated.append(record.name)
        elif self.ci == "gitlab":
            self.output.command(ci_format.section_end(record.name, self._unix_time()))

    def _open_section(self, *, collapsed: bool) -> None:
        """Write the held GitLab section's first line, collapsed or not, and the lines kept back since."""
        if self._section is not None:
            name, header, started = self._section
            self._section = None
            self.output.release(ci_format.section_start(name, header, started, collapsed=collapsed))

    def close(self) -> None:
        """Write whatever a GitLab step still holds back, expanded, and end its section (the command stopped
        inside the step)."""
        if self._section is not None:
            name = self._section[0]
            self._open_section(collapsed=False)
            self.output.command(ci_format.section_end(name, self._unix_time()))

    def annotate(self, title: str, message: str, *, level: str = "error") -> None:
        """An annotation on the GitHub run, ``::error`` or (``level="warning"``) ``::warning``, with a ``title``
        property (docs.github.com, "Workflow commands for GitHub Actions": "Setting an error message", "Setting a
        warning message"); the values are redacted before they are escaped."""
        redact = self.output.redact
        self.output.command(ci_format.workflow_command(level, redact(message), title=redact(title)))

    def step_resumed(self, record: StepRecord) -> None:
        """A step an earlier attempt of this run finished: reused, not run again."""
        if self.quiet:
            return
        self.output.message(f"-- {record.name}: done earlier ({record.status.value}): {record.detail}")

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        if self.quiet:
            return
        if self.live:
            name = self._step[0]
            took = self.clock.monotonic() - self._started if name else elapsed
            self.output.status(f"-> {name or 'wait'} [{took:.0f}s] waiting for {what}: {state}")
            return
        if self._section is not None and self.clock.monotonic() - self._started >= SECTION_HOLD_SECONDS:
            self._open_section(collapsed=False)  # a long wait: show it while it lasts
        if elapsed - self._last_wait < WAIT_LINE_EVERY and elapsed > 0.5:
            return
        self._last_wait = elapsed
        self.output.message(f"   ... waiting for {what} ({elapsed:.0f}s): {state}")
