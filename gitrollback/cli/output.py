"""The one place the CLI writes to the terminal, plus log redaction.

Results go to stdout (``--json`` output stays machine-clean); progress, logs and errors go to stderr. Every line
passes through a ``Redactor`` first, so a secret the CLI resolved is written as ``***`` wherever it turns up, in
its raw form and in the escaped forms the CI formats give it (``gitrollback/cli/ci_format.py``). On a terminal a
status line can be drawn and rewritten in place (``status``); other messages are printed above it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO

from gitrollback.cli import ci_format

__all__ = ["MASK", "Output", "OutputHandler", "RedactingFilter", "Redactor"]

#: what a secret is replaced with
MASK = "***"
#: secrets shorter than this are not masked: they would mask ordinary words and numbers
MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces known secret values, and each form the CLI's output formats could turn them into, with ``***``.

    The forms: the raw value, workflow-command data and property escapes, the JSON string escape, a Markdown
    table cell and a one-line dotenv value. Redact a value before escaping it and the written line after.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these values too."""
        forms = set(self._forms)
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            forms |= {
                secret,
                ci_format.escape_data(secret),
                ci_format.escape_property(secret),
                json.dumps(secret)[1:-1],
                ci_format.markdown_cell(secret),
                ci_format.one_line(secret),
            }
        self._forms = sorted((f for f in forms if len(f) >= MIN_SECRET_LENGTH), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        return text


class Output:
    """Writes results to ``out`` and messages to ``err``, every line redacted by ``redact``."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        #: True once a JSON document went to stdout (``--json`` prints exactly one)
        self.printed_json = False
        #: the secrets to mask (``gitrollback.cli`` adds them once the config is read)
        self.redact = Redactor()
        #: the command's result (a run report, plan or assessment), for the CI files (``gitrollback/cli/ci.py``)
        self.recorded: object | None = None
        self._status = ""  # the status line drawn on ``err``, "" when none
        #: the terminal's width in columns for the status line; None: ask the terminal ``err`` is (80 if it cannot
        #: say). The CLI sets it from ``COLUMNS`` in the environment it was given, never from ``os.environ``.
        self.width: int | None = None
        self._held: list[str] | None = None  # messages kept back while ``hold`` is on (None: written at once)
        #: under GitHub Actions: quote message lines the runner would take for workflow commands (``command``
        #: writes gitrollback's own)
        self.quote_commands = False
        #: one line at a time from every thread (a fleet's workers print progress and logs at once)
        self._lock = threading.RLock()

    def _write(self, stream: TextIO, text: str) -> None:
        """``text`` and its newline in one write, so a line from another thread cannot land inside it."""
        stream.write(text + "\n")
        stream.flush()

    def result(self, text: str) -> None:
        """A human-readable result on stdout."""
        with self._lock:
            self._write(self.out, self.redact(text))

    def json(self, payload: Any) -> None:
        """A JSON document on stdout."""
        with self._lock:
            self._write(self.out, self.redact(json.dumps(payload, indent=2, sort_keys=False)))
            self.printed_json = True

    def message(self, text: str) -> None:
        """Progress or diagnostics on stderr (above the status line, when one is drawn); kept back, redacted, while
        ``hold`` is on. With ``quote_commands`` a line that would read as a workflow command is quoted."""
        if self.quote_commands:
            text = _WORKFLOW_COMMAND_LINE.sub(r"\1> \2", text)
        self._emit(text)

    def command(self, text: str) -> None:
        """A CI log command gitrollback issues itself (a GitHub workflow command, a GitLab section line): like
        ``message``, without the quoting."""
        self._emit(text)

    def _emit(self, text: str) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(self.redact(text))
                return
            status = self._status
            if status:
                self.clear_status()
            self._write(self.err, self.redact(text))
            if status:
                self.status(status)

    def hold(self) -> None:
        """Keep messages back until ``release``: a GitLab section's first line says whether it starts collapsed,
        which is known only once the step has ended (``gitrollback/cli/progress.py``)."""
        with self._lock:
            if self._held is None:
                self._held = []

    @property
    def holding(self) -> bool:
        """Whether messages are being kept back."""
        return self._held is not None

    def release(self, first: str | None = None) -> None:
        """Write ``first`` (when given), then the messages kept back since ``hold``, and write the next ones at
        once again."""
        with self._lock:
            held, self._held = self._held or [], None
            for text in ([first] if first is not None else []) + held:
                self._write(self.err, self.redact(text))

    def is_terminal(self) -> bool:
        """Whether stderr is a terminal (a live status line only makes sense there)."""
        isatty = getattr(self.err, "isatty", None)
        return bool(isatty and isatty())

    def status(self, text: str) -> None:
        """Draw ``text`` as the status line on stderr, replacing the one drawn before: one terminal row (cut to the
        terminal's width), no newline."""
        width = self.width or self._terminal_width()
        line = ci_format.shorten(ci_format.one_line(self.redact(text)), max(width - 1, 10))
        with self._lock:
            self.err.write(f"\r\x1b[K{line}")
            self.err.flush()
            self._status = text

    def _terminal_width(self) -> int:
        """The columns of the terminal ``err`` writes to (80 when it is not one or cannot say)."""
        try:
            return os.get_terminal_size(self.err.fileno()).columns or 80
        except (AttributeError, OSError, ValueError):  # io.StringIO has no usable fileno; a pipe has no size
            return 80

    def clear_status(self) -> None:
        """Erase the status line, if one is drawn."""
        with self._lock:
            if self._status:
                self.err.write("\r\x1b[K")
                self.err.flush()
                self._status = ""


#: a line GitHub's runner reads as a workflow command: ``::`` after leading white space (actions/runner
#: ``src/Runner.Worker/ActionCommandManager.cs`` and ``ActionCommand.TryParseV2``, which trims the line's start)
_WORKFLOW_COMMAND_LINE = re.compile(r"^(\s*)(::)", re.MULTILINE)

#: ``gitrollback.fleet.FleetRunner`` names a worker thread ``gitrollback-fleet[<provider>]`` while it runs one
_FLEET_THREAD = re.compile(r"^gitrollback-fleet\[(.+)\]$")


class OutputHandler(logging.Handler):
    """A logging handler that writes each record through ``Output.message`` (redacted, above the status line)."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # a fleet's worker thread is named after the provider it runs (gitrollback/fleet.py): say which
            match = _FLEET_THREAD.match(record.threadName or "")
            prefix = f"[{match.group(1)}] " if match else ""
            self.output.message(prefix + self.format(record))
        except Exception:  # pragma: no cover - logging's contract: a handler reports its own failures
            self.handleError(record)


class RedactingFilter(logging.Filter):
    """Replaces every known secret value in log records with ``***`` (for handlers other than ``OutputHandler``)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redact:
            return True
        record.msg, record.args = self.redact(record.getMessage()), None
        return True
