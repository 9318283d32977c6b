"""The outcome of one command as the CI files describe it: plain, frozen records (``Outcome`` with its
``StepRow`` and ``ProviderRow`` rows) that ``gitrollback/cli/ci.py`` fills in and writes and
``gitrollback/cli/ci_summary.py`` renders. They import nothing else of the CLI, so both can import them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

__all__ = ["Outcome", "ProviderRow", "StepRow"]


@dataclass(frozen=True)
class StepRow:
    """One row of the summary's step table."""

    name: str
    result: str
    detail: str
    seconds: float | None = None


@dataclass(frozen=True)
class ProviderRow:
    """One provider of a fleet run (``gitrollback.fleet.ProviderOutcome``), as the CI files show it."""

    provider: str
    mode: str
    status: str
    exit_code: int
    known_good: str = ""
    rollback_commit: str = ""
    change_request_url: str = ""
    seconds: float | None = None
    error: str = ""

    def redacted(self, redact: Callable[[str], str]) -> ProviderRow:
        """A copy with ``redact`` applied to every text."""
        texts = {f.name: redact(getattr(self, f.name)) for f in fields(self) if isinstance(getattr(self, f.name), str)}
        return replace(self, **texts)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Outcome:
    """What a pipeline needs to know about one command; every field is text so it can be redacted as a whole."""

    command: str
    status: str
    exit_code: int
    provider: str = ""
    known_good: str = ""
    known_good_source: str = ""
    known_good_reason: str = ""
    rollback_commit: str = ""
    change_request_url: str = ""
    error: str = ""
    error_kind: str = ""
    hint: str = ""
    advice: str = ""
    warnings: tuple[str, ...] = ()
    steps: tuple[StepRow, ...] = ()
    notes: str = ""
    #: a fleet run (``run --providers/--all-failed``, ``sandbox --providers N``): one row per provider
    providers: tuple[ProviderRow, ...] = ()

    def redacted(self, redact: Callable[[str], str]) -> Outcome:
        """A copy with ``redact`` applied to every text."""
        changes: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                changes[f.name] = redact(value)
            elif f.name == "warnings":
                changes[f.name] = tuple(redact(w) for w in value)
            elif f.name == "steps":
                changes[f.name] = tuple(replace(s, detail=redact(s.detail), name=redact(s.name)) for s in value)
            elif f.name == "providers":
                changes[f.name] = tuple(p.redacted(redact) for p in value)
        return replace(self, **changes)  # type: ignore[arg-type]

    def values(self) -> dict[str, str]:
        """The outputs by name (``OUTPUT_NAMES``)."""
        return {
            "status": self.status,
            "exit-code": str(self.exit_code),
            "known-good": self.known_good,
            "rollback-commit": self.rollback_commit,
            "change-request-url": self.change_request_url,
        }
