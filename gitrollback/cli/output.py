"""The one place the CLI writes to the terminal, plus progress and log redaction.

Results go to stdout (``--json`` output stays machine-clean); progress and errors go to stderr. Under GitHub
Actions each step is a collapsible ``::group::`` and failures become ``::error::`` annotations; under GitLab CI
steps become collapsible sections. Secrets the CLI resolved are masked in every log record.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # models pull in dataclasses; keep `--help` from importing them
    from gitrollback.models import StepRecord

__all__ = ["Output", "RedactingFilter", "StepPrinter"]


class Output:
    """Writes results to ``out`` and messages to ``err``."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        #: True once a JSON document went to stdout (``--json`` prints exactly one)
        self.printed_json = False

    def result(self, text: str) -> None:
        """A human-readable result on stdout."""
        print(text, file=self.out, flush=True)

    def json(self, payload: Any) -> None:
        """A JSON document on stdout."""
        print(json.dumps(payload, indent=2, sort_keys=False), file=self.out, flush=True)
        self.printed_json = True

    def message(self, text: str) -> None:
        """Progress or diagnostics on stderr."""
        print(text, file=self.err, flush=True)


class StepPrinter:
    """``gitrollback.ports.ProgressSink`` that prints each step as it happens.

    Args:
        output: where to write.
        ci: ``"github"``, ``"gitlab"`` or ``""`` for plain terminal output.
        quiet: print nothing (``--json`` runs).
    """

    def __init__(self, output: Output, *, ci: str = "", quiet: bool = False) -> None:
        self.output = output
        self.ci = ci
        self.quiet = quiet
        self._last_wait = 0.0

    def step_started(self, name: str, description: str) -> None:
        if self.quiet:
            return
        if self.ci == "github":
            self.output.message(f"::group::{name}: {description}")
        elif self.ci == "gitlab":
            self.output.message(
                f"\x1b[0Ksection_start:{int(time.time())}:{name.replace('-', '_')}\r\x1b[0K{name}: {description}"
            )
        else:
            self.output.message(f"-> {name}: {description}")

    def step_finished(self, record: StepRecord) -> None:
        if self.quiet:
            return
        took = (record.finished_at - record.started_at).total_seconds()
        status = record.status.value
        if status == "skipped" and record.detail.startswith("not run:"):
            return  # never started: the failure above says why
        mark = {"succeeded": "ok", "failed": "FAILED"}.get(status, status)
        line = f"   {mark} ({took:.1f}s): {record.detail}"
        self.output.message(line)
        if self.ci == "github":
            self.output.message("::endgroup::")
            if status == "failed":
                self.output.message(f"::error title=gitrollback {record.name}::{record.detail}")
        elif self.ci == "gitlab":
            self.output.message(f"\x1b[0Ksection_end:{int(time.time())}:{record.name.replace('-', '_')}\r\x1b[0K")

    def step_resumed(self, record: StepRecord) -> None:
        """A step an earlier attempt of this run finished: reused, not run again."""
        if self.quiet:
            return
        self.output.message(f"-- {record.name}: done earlier ({record.status.value}): {record.detail}")

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        if self.quiet or (elapsed - self._last_wait < 5.0 and elapsed > 0.5):
            return
        self._last_wait = elapsed
        self.output.message(f"   ... waiting for {what} ({elapsed:.0f}s): {state}")


class RedactingFilter(logging.Filter):
    """Replaces every known secret value in log records with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        return True
