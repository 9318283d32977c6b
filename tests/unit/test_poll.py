"""The poll schedule: short pauses while a job may finish soon, a share of the wait later, a bounded lag."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gitrollback.adapters._poll import LONGEST, SHARE, next_pause


def _seen_at(done: float, interval: float) -> tuple[float, int]:
    """When a poller on this schedule sees a job that finished ``done`` seconds into the wait, and after how many
    polls (the first one at 0 included)."""
    now, polls = 0.0, 1
    while now < done:
        now += next_pause(now, interval=interval, remaining=10**9)
        polls += 1
    return now, polls


def test_first_pauses_are_an_eighth_of_the_interval_then_a_share_of_the_wait() -> None:
    """2 s interval: 0.25 s until the wait is 5 s old, then 5% of it; past 40 s longer than the interval."""
    assert next_pause(0.0, interval=2.0, remaining=100) == 0.25
    assert next_pause(4.9, interval=2.0, remaining=100) == 0.25
    assert next_pause(10.0, interval=2.0, remaining=100) == 0.5
    assert next_pause(100.0, interval=2.0, remaining=100) == 5.0
    assert next_pause(5000.0, interval=2.0, remaining=10**6) == LONGEST
    assert next_pause(5000.0, interval=120.0, remaining=10**6) == 120.0  # a longer configured interval is kept


def test_a_pause_never_outlasts_the_wait_and_an_interval_of_zero_does_not_pause() -> None:
    """The remaining time cuts the pause; poll_interval 0 polls back to back, as before."""
    assert next_pause(100.0, interval=2.0, remaining=1.5) == 1.5
    assert next_pause(100.0, interval=2.0, remaining=-1.0) == 0.0
    assert next_pause(100.0, interval=0.0, remaining=10.0) == 0.0


@given(st.floats(min_value=0.001, max_value=7200.0), st.sampled_from([0.5, 2.0, 5.0]))
def test_the_end_of_a_wait_is_seen_at_most_a_share_of_it_late(done: float, interval: float) -> None:
    """Whenever the job finishes, it is seen at most max(interval / 8, 5% of the wait) later (and a minute at most)."""
    seen, _ = _seen_at(done, interval)
    assert done <= seen <= done + min(max(interval / 8, SHARE * done), max(interval, LONGEST)) + 1e-9


def test_long_waits_poll_less_than_a_fixed_interval_and_short_ones_see_the_end_sooner() -> None:
    """Ten minutes at 2 s: about 120 polls instead of 300; a 4.1 s job is seen at 4.25 s instead of 6 s."""
    _, polls = _seen_at(600.0, 2.0)
    assert 110 <= polls <= 125 < 600 / 2
    seen, polls = _seen_at(4.1, 2.0)
    assert (seen, polls) == (4.25, 18)
