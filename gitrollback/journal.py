"""A JSON-lines journal of step records, one file per run, written as each step ends.

If a run is killed half-way, ``<state_dir>/runs/<provider>/<run id>.jsonl`` still says which steps finished and
how; every step is idempotent, so rerunning is the way to resume. A run that ends writes one last line,
``{"outcome": <report status>, "error_kind": ..., "finished_at": ...}``: escalation counts failed runs from it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from gitrollback.models import StepRecord, to_json

__all__ = ["FileJournal"]


class FileJournal:
    """``gitrollback.ports.Journal`` writing ``<directory>/<provider>/<run_id>.jsonl``."""

    def __init__(self, directory: Path, run_id: str) -> None:
        self.directory = directory
        self.run_id = run_id

    def path_for(self, provider_id: str) -> Path:
        """Where this run's records for a provider go."""
        return self.directory / provider_id / f"{self.run_id}.jsonl"

    def append(self, provider_id: str, record: StepRecord) -> None:
        """Append one record and flush it to disk."""
        path = self.path_for(provider_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(to_json(record), sort_keys=True) + "\n")

    def finish(self, provider_id: str, *, outcome: str, error_kind: str | None, at: datetime) -> None:
        """Append the run's outcome line (the last line of a run that ended)."""
        path = self.path_for(provider_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {"outcome": outcome, "error_kind": error_kind, "finished_at": to_json(at)}
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, sort_keys=True) + "\n")
