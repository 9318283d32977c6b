"""What the watch service already did: the failed jobs it handled, and its per-provider rate limit.

Handled jobs are keyed on the failed installer job's id (Image Factory gives every job a new UUID, a retry too), so
"the same failure" is one job and a new failure is a new job. The record must survive a restart and a change of
leader, so it lives where every replica sees it:

* with leader election, in an annotation of the watch Lease (``gitrollback.io/watch-handled``: a JSON list, the
  most recent ``limit`` entries), written by the leader only (``LeaseHandled``);
* without it, in ``<state_dir>/watch/handled.json`` (``FileHandled``), for a single replica.

An entry is added only after this replica acted on the job (or its policy decided not to act) and, on the Lease,
only while it still leads: the write quotes the Lease's ``resourceVersion``, so a replica that lost the Lease cannot
record anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from gitrollback.watch.leader import LeaderElector

__all__ = [
    "ANNOTATION",
    "MAX_BYTES",
    "FileHandled",
    "Handled",
    "HandledStore",
    "LeaseHandled",
    "RateLimiter",
    "decode",
    "encode",
]

ANNOTATION = "gitrollback.io/watch-handled"


@dataclass(frozen=True)
class Handled:
    """One failed job the service handled: which provider, which job, the policy, the outcome and when its action
    started (UTC, ISO 8601; the rate limit counts these)."""

    provider: str
    job: str
    policy: str
    outcome: str
    at: str


#: the most the record may take, in bytes: the Lease is written at every renewal, and all of an object's
#: annotations together may hold 256 KiB (apimachinery ``ValidateAnnotationsSize``)
MAX_BYTES = 64 * 1024


def encode(entries: list[Handled], limit: int, max_bytes: int = MAX_BYTES) -> str:
    """The JSON list kept, most recent first: one entry per job (the newest), at most ``limit`` entries and
    ``max_bytes`` bytes (the oldest are dropped first)."""
    seen: set[str] = set()
    kept: list[dict[str, str]] = []
    for entry in entries:
        if entry.job not in seen and len(kept) < limit:
            seen.add(entry.job)
            kept.append(asdict(entry))
    text = json.dumps(kept, separators=(",", ":"), sort_keys=True)
    while len(text.encode("utf-8")) > max_bytes and kept:
        kept.pop()
        text = json.dumps(kept, separators=(",", ":"), sort_keys=True)
    return text


def decode(text: str | None) -> list[Handled]:
    """Entries from ``encode``'s text; unreadable text or entries are dropped (never raises)."""
    if not text:
        return []
    try:
        raw = json.loads(text)
    except ValueError:
        return []
    out: list[Handled] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping) and all(isinstance(item.get(k), str) for k in Handled.__dataclass_fields__):
            out.append(Handled(**{k: item[k] for k in Handled.__dataclass_fields__}))
    return out


class HandledStore(Protocol):
    """Where handled jobs are recorded."""

    def entries(self) -> list[Handled]:
        """Every entry kept, most recent first."""
        ...

    def add(self, entry: Handled) -> None:
        """Record one more (raises ``StepError`` ``leadership_lost`` on the Lease when this replica no longer leads)."""
        ...


class LeaseHandled:
    """Handled jobs in the watch Lease's annotation, through the elector (so only the leader writes)."""

    def __init__(self, elector: LeaderElector, *, limit: int) -> None:
        self.elector = elector
        self.limit = limit

    def entries(self) -> list[Handled]:
        """As of the elector's last read or write of the Lease."""
        return decode(self.elector.annotations().get(ANNOTATION))

    def add(self, entry: Handled) -> None:
        """Prepend ``entry`` and write the Lease (quoting its resourceVersion)."""
        annotations = dict(self.elector.annotations())
        annotations[ANNOTATION] = encode([entry, *self.entries()], self.limit)
        self.elector.write_annotations(annotations)


class FileHandled:
    """Handled jobs in a JSON file (one replica, no leader election); written atomically."""

    def __init__(self, path: Path, *, limit: int) -> None:
        self.path = path
        self.limit = limit

    def entries(self) -> list[Handled]:
        """The file's entries (none when it does not exist yet)."""
        try:
            return decode(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []

    def add(self, entry: Handled) -> None:
        """Prepend ``entry`` and rewrite the file (write a temporary file, then rename it over)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = encode([entry, *self.entries()], self.limit)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(self.path)


class RateLimiter:
    """At most ``max_actions`` actions per provider in any ``window`` seconds.

    The history is the handled record itself: every entry carries its provider and when its action started
    (``Handled.at``), and the record lives on the Lease (or in the file), so a restart or a change of leader keeps
    the count. Actions this process started that are not recorded (yet, or ever: one cut short by a lost
    leadership is left for the next leader) are counted from memory too. Times are the clock's UTC wall time,
    which every replica shares; the record is bounded by ``handled_history``, which the config keeps at least
    ``max_actions``.
    """

    def __init__(self, max_actions: int, window: float) -> None:
        self.max_actions = max_actions
        self.window = window
        self._started: list[tuple[str, str]] = []

    def _recent(self, provider: str, now: datetime, recorded: Iterable[Handled]) -> list[datetime]:
        seen = {(e.provider, e.at) for e in recorded} | set(self._started)
        times: list[datetime] = []
        for who, at in seen:
            when = _parse_at(at)
            if who == provider and when is not None and 0 <= (now - when).total_seconds() < self.window:
                times.append(when)
        return sorted(times)

    def allows(self, provider: str, now: datetime, recorded: Iterable[Handled]) -> bool:
        """True when one more action for ``provider`` at ``now`` stays within the limit."""
        return len(self._recent(provider, now, recorded)) < self.max_actions

    def next_allowed(self, provider: str, now: datetime, recorded: Iterable[Handled]) -> float:
        """Seconds until the next action is allowed (0 when it is now)."""
        times = self._recent(provider, now, recorded)
        if len(times) < self.max_actions:
            return 0.0
        return max(0.0, (times[-self.max_actions] - now).total_seconds() + self.window)

    def record(self, provider: str, at: datetime) -> str:
        """Count an action that starts at ``at``; returns the time as ``Handled.at`` keeps it. Those older than the
        window are forgotten, so memory stays bounded."""
        stamp = at.isoformat()
        kept = []
        for who, when in self._started:
            parsed = _parse_at(when)
            if parsed is not None and (at - parsed).total_seconds() < self.window:
                kept.append((who, when))
        self._started = [*kept, (provider, stamp)]
        return stamp

    def forget(self, provider: str, stamp: str) -> None:
        """Do not count the action ``record`` returned ``stamp`` for (it was cut short before it concluded)."""
        self._started = [s for s in self._started if s != (provider, stamp)]


def _parse_at(at: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
