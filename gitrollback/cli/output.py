"""The one place the CLI writes to the terminal, plus log redaction.

Results go to stdout (``--json`` output stays machine-clean); progress, logs and errors go to stderr. Every line
passes through a ``Redactor`` first, so a secret the CLI resolved is written as ``***`` wherever it turns up, in
its raw form and in the escaped forms the CI formats give it (``gitrollback/cli/ci_format.py``). On a terminal a
status line can be drawn and rewritten in place (``status``); other messages are printed above it.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
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

    def result(self, text: str) -> None:
        """A human-readable result on stdout."""
        print(self.redact(text), file=self.out, flush=True)

    def json(self, payload: Any) -> None:
        """A JSON document on stdout."""
        print(self.redact(json.dumps(payload, indent=2, sort_keys=False)), file=self.out, flush=True)
        self.printed_json = True

    def message(self, text: str) -> None:
        """Progress or diagnostics on stderr (above the status line, when one is drawn)."""
        status = self._status
        if status:
            self.clear_status()
        print(self.redact(text), file=self.err, flush=True)
        if status:
            self.status(status)

    def is_terminal(self) -> bool:
        """Whether stderr is a terminal (a live status line only makes sense there)."""
        isatty = getattr(self.err, "isatty", None)
        return bool(isatty and isatty())

    def status(self, text: str) -> None:
        """Draw ``text`` as the status line on stderr, replacing the one drawn before: one terminal row (cut to the
        terminal's width), no newline."""
        width = shutil.get_terminal_size((80, 24)).columns
        line = ci_format.shorten(ci_format.one_line(self.redact(text)), max(width - 1, 10))
        self.err.write(f"\r\x1b[K{line}")
        self.err.flush()
        self._status = text

    def clear_status(self) -> None:
        """Erase the status line, if one is drawn."""
        if self._status:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._status = ""


class OutputHandler(logging.Handler):
    """A logging handler that writes each record through ``Output.message`` (redacted, above the status line)."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.output.message(self.format(record))
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
