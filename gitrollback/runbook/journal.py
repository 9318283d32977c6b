"""The run journal: every step result as it is produced, one JSON line each, and the source a rerun resumes from.

``<state_dir>/runs/<provider>/<run id>.jsonl`` holds events, oldest first:

* ``start``: the request (``to``, ``force``, ``prune``) and when;
* ``result``: a step finished; its typed result (``runbook/results.py``) and its record (``recheck``: a finished
  read-only step that a resumed attempt ran again, the dry run);
* ``checkpoint``: a step produced a result before finishing (a job or build id, written before waiting);
* ``failed``: a step failed, with the error's ``kind`` and message;
* ``interrupted``: the run stopped inside a step (Ctrl-C, an unexpected exception);
* ``end``: the run ended (``rolled_back``, ``failed``, ``refused``), stopped as asked once its change request was
  open (``proposed``: ``Rollback.propose``), or was ``superseded`` by a run with another request.

Each line is written whole and flushed to disk (``fsync``) before the run goes on, so a kill loses at most the line
being written; a torn last line is ignored when reading and cut off before the next write. A run is *unfinished*
(``JournalView.resumable``) when it did not end, or ended ``failed``, ``refused`` or ``proposed``, and changed
something: a rerun resumes it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gitrollback.codec import from_json
from gitrollback.errors import GitRollbackError
from gitrollback.models import StepRecord, to_json
from gitrollback.runbook.engine import Prior
from gitrollback.runbook.results import StepResult, result_from_json, result_json

__all__ = ["FileJournal", "JournalView", "find_unfinished", "read_journal"]

logger = logging.getLogger(__name__)

FORMAT = 2
#: how a run may have ended and still be continued by a rerun (None: it never ended)
CONTINUABLE = (None, "failed", "refused", "proposed")


class FileJournal:
    """Appends one run's events to ``<directory>/<provider>/<run_id>.jsonl`` (the engine's ``RunObserver``)."""

    def __init__(self, directory: Path, provider_id: str, run_id: str) -> None:
        self.path = directory / provider_id / f"{run_id}.jsonl"
        self.provider_id = provider_id
        self.run_id = run_id
        self._repaired = False

    def start(self, *, to: str | None, force: bool, at: datetime, prune: bool | None = None) -> None:
        """The run (or a resumed attempt of it) begins; ``prune`` is the caller's ``--prune`` (None: the config)."""
        self._write({"event": "start", "format": FORMAT, "run_id": self.run_id, "provider_id": self.provider_id,
                     "to": to, "force": force, "prune": prune, "at": to_json(at)})  # fmt: skip

    def result(
        self, step: str, result: StepResult, record: StepRecord, *, mutates: bool, recheck: bool = False
    ) -> None:
        """A step finished (``recheck``: a finished read-only step that a resumed attempt ran again)."""
        event = {"event": "result", "step": step, "mutates": mutates, "result": result_json(result),
                 "record": to_json(record)}  # fmt: skip
        self._write({**event, "recheck": True} if recheck else event)

    def checkpoint(self, step: str, result: StepResult) -> None:
        """A step produced a result before finishing."""
        self._write({"event": "checkpoint", "step": step, "result": result_json(result)})

    def failed(self, step: str, record: StepRecord, error: GitRollbackError) -> None:
        """A step failed."""
        self._write({"event": "failed", "step": step, "kind": error.kind, "message": str(error),
                     "record": to_json(record)})  # fmt: skip

    def interrupted(self, step: str, reason: str) -> None:
        """The run stopped inside ``step`` without a result."""
        self._write({"event": "interrupted", "step": step, "reason": reason})

    def end(self, status: str, *, error_kind: str | None = None, at: datetime | None = None) -> None:
        """The run ended (``rolled_back``, ``failed``, ``refused``, ``proposed``, ``superseded``); escalation
        counts failed runs from this event (``gitrollback.escalation``)."""
        self._write({"event": "end", "status": status, "error_kind": error_kind, "at": to_json(at)})

    def _write(self, event: Mapping[str, Any]) -> None:
        line = (json.dumps(event, sort_keys=True) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._repaired:
            _cut_torn_tail(self.path)
            self._repaired = True
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def _cut_torn_tail(path: Path) -> None:
    """Drop a last line a kill left half-written, so the next event starts on a line of its own."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


@dataclass(frozen=True)
class JournalView:
    """What one run's journal says."""

    path: Path
    run_id: str
    provider_id: str
    to: str | None
    force: bool
    started_at: datetime | None
    prior: Prior
    ended: str | None = None
    interrupted_in: str | None = None
    changed: bool = False
    last_step: str | None = None
    attempts: int = 1
    notes: tuple[str, ...] = field(default=())
    prune: bool | None = None

    @property
    def resumable(self) -> bool:
        """Not ended (or ended ``failed``, ``refused`` by a later step, or ``proposed``: stopped once its change
        request was open) after changing something: a rerun continues it."""
        return self.ended in CONTINUABLE and self.changed


def read_journal(path: Path) -> JournalView:
    """Read one journal; a torn last line is ignored.

    Raises:
        ValueError: a line other than the last is not a journal event, or there is no start event.
    """
    lines = path.read_bytes().split(b"\n")
    events: list[dict[str, Any]] = []
    notes: list[str] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except ValueError:
            if number >= len(lines) - 1:  # the last line, cut by a kill
                notes.append(f"ignored a torn last line ({len(raw)} bytes)")
                break
            raise ValueError(f"{path}:{number}: not a journal event") from None
        events.append(event)
    starts = [e for e in events if e.get("event") == "start"]
    if not starts:
        raise ValueError(f"{path}: no start event")
    first = starts[0]
    done: dict[str, tuple[StepResult, StepRecord]] = {}
    checkpoints: list[tuple[str, StepResult]] = []
    failures: dict[str, int] = {}
    ended: str | None = None
    interrupted: str | None = None
    changed = False
    last_step: str | None = None
    for event in events:
        kind, step = event.get("event"), event.get("step")
        if kind == "result" and isinstance(step, str):
            done[step] = (result_from_json(event["result"]), from_json(StepRecord, event["record"]))
            changed = changed or bool(event.get("mutates"))
            interrupted = None
            if not event.get("recheck"):
                last_step = step
        elif kind == "checkpoint" and isinstance(step, str):
            checkpoints.append((step, result_from_json(event["result"])))
            changed = True
        elif kind == "failed" and isinstance(step, str):
            failures[step] = failures.get(step, 0) + 1
        elif kind == "interrupted" and isinstance(step, str):
            interrupted = step
        elif kind == "end":
            ended = event.get("status")
        elif kind == "start":
            ended = None if ended in CONTINUABLE else ended
    return JournalView(
        path=path,
        run_id=str(first.get("run_id") or path.stem),
        provider_id=str(first.get("provider_id") or path.parent.name),
        to=first.get("to"),
        force=bool(first.get("force")),
        started_at=from_json(datetime | None, first.get("at")),
        prior=Prior(done=done, checkpoints=tuple(checkpoints), failures=failures),
        ended=ended,
        interrupted_in=interrupted,
        changed=changed,
        last_step=last_step,
        attempts=len(starts),
        notes=tuple(notes),
        prune=first.get("prune") if isinstance(first.get("prune"), bool) else None,
    )


def find_unfinished(directory: Path, provider_id: str) -> JournalView | None:
    """The provider's newest resumable run under ``directory`` (``<state_dir>/runs``), or None.

    Journals that cannot be read (an older format, a corrupt line) are skipped with a warning.
    """
    folder = directory / provider_id
    if not folder.is_dir():
        return None
    views: list[JournalView] = []
    for path in folder.glob("*.jsonl"):
        try:
            view = read_journal(path)
        except (ValueError, KeyError, OSError) as exc:
            logger.warning("ignoring run journal %s: %s", path, exc)
            continue
        if view.resumable:
            views.append(view)
    if not views:
        return None
    return max(views, key=lambda v: v.path.stat().st_mtime_ns)
