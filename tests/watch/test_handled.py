"""The handled record (``gitrollback.watch.handled``): its bounds, de-duplication, and the rate limit it carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitrollback.watch.handled import FileHandled, Handled, RateLimiter, decode, encode

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _entry(job: str, at: datetime = T0, provider: str = "p-1") -> Handled:
    return Handled(provider, job, "rollback", "rolled_back", at.isoformat())


def test_the_record_keeps_the_newest_entries_once_per_job_within_its_count_and_byte_bounds() -> None:
    entries = [_entry(f"job-{i}", T0 + timedelta(minutes=i)) for i in range(10, 0, -1)]  # newest first
    kept = decode(encode(entries, 4))
    assert [e.job for e in kept] == ["job-10", "job-9", "job-8", "job-7"]
    again = decode(encode([_entry("job-9", T0 + timedelta(hours=1)), *entries], 100))
    assert [e.job for e in again].count("job-9") == 1 and again[0].at == (T0 + timedelta(hours=1)).isoformat()
    small = encode(entries, 100, max_bytes=500)
    assert len(small.encode()) <= 500 and decode(small)[0].job == "job-10" and len(decode(small)) < 10


def test_a_file_record_written_twice_for_one_job_keeps_one_entry(tmp_path: Path) -> None:
    store = FileHandled(tmp_path / "watch" / "handled.json", limit=10)
    store.add(_entry("job-1"))
    store.add(_entry("job-1"))
    store.add(_entry("job-2"))
    assert [e.job for e in store.entries()] == ["job-2", "job-1"]


def test_the_rate_limit_counts_recorded_actions_of_the_provider_inside_the_window() -> None:
    limiter = RateLimiter(2, 600)
    recorded = [_entry("a", T0), _entry("b", T0 + timedelta(seconds=100)), _entry("c", T0, provider="p-2")]
    assert not limiter.allows("p-1", T0 + timedelta(seconds=200), recorded)
    assert limiter.next_allowed("p-1", T0 + timedelta(seconds=200), recorded) == 400
    assert limiter.allows("p-1", T0 + timedelta(seconds=600), recorded)  # "a" left the window
    assert limiter.allows("p-2", T0 + timedelta(seconds=200), recorded)
    # an action started here but not recorded (yet) counts too, once, even when it is recorded later
    started = limiter.record("p-2", T0 + timedelta(seconds=300))
    assert not limiter.allows("p-2", T0 + timedelta(seconds=301), recorded)
    recorded.append(Handled("p-2", "d", "rollback", "rolled_back", started))
    assert not limiter.allows("p-2", T0 + timedelta(seconds=301), recorded)
    assert limiter.allows("p-2", T0 + timedelta(seconds=601), recorded)
    limiter.forget("p-2", started)
    assert limiter.allows("p-2", T0 + timedelta(seconds=301), recorded[:-1])
