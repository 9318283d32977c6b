"""The shared simulated clock: stepped time runs due timers in order; wall time runs them on threads."""

from __future__ import annotations

import threading

import pytest

from gitrollback.testing.clock import FakeClock, TimerSet, WallClock


def test_sleep_runs_each_due_timer_at_its_own_time_in_order() -> None:
    """Advancing 10 s fires a 3 s timer three times and a 4 s one twice, each seeing its own due time."""
    clock = FakeClock()
    seen: list[tuple[str, float]] = []
    clock.every(3, lambda: seen.append(("a", clock.monotonic())), name="a")
    clock.every(4, lambda: seen.append(("b", clock.monotonic())), name="b")
    clock.sleep(10)
    assert seen == [("a", 3), ("b", 4), ("a", 6), ("b", 8), ("a", 9)]
    assert clock.monotonic() == 10
    assert clock.sleeps == [10]


def test_after_fires_once_and_cancel_stops_a_timer() -> None:
    """A one-shot timer fires once; a cancelled repeating timer never fires again."""
    clock = FakeClock()
    once: list[float] = []
    rep: list[float] = []
    clock.after(2, lambda: once.append(clock.monotonic()))
    timer = clock.every(1, lambda: rep.append(clock.monotonic()))
    clock.advance(2.5)
    timer.cancel()
    clock.advance(5)
    assert once == [2]
    assert rep == [1, 2]
    assert clock.next_due() is None


def test_wait_until_steps_through_timers_and_gives_up_at_the_deadline() -> None:
    """The predicate turns true at the third tick; a predicate that never does costs exactly the timeout."""
    clock = FakeClock()
    ticks: list[int] = []
    clock.every(5, lambda: ticks.append(1))
    assert clock.wait_until(lambda: len(ticks) >= 3, timeout=60)
    assert clock.monotonic() == 15
    assert not clock.wait_until(lambda: False, timeout=30)
    assert clock.monotonic() == 45


def test_a_failing_timer_does_not_stop_time(caplog: pytest.LogCaptureFixture) -> None:
    """A callback that raises is logged, and later timers still run."""
    clock = FakeClock()
    ran: list[int] = []

    def boom() -> None:
        raise RuntimeError("bug")

    clock.every(1, boom, name="boom")
    clock.every(1, lambda: ran.append(1))
    clock.advance(2)
    assert ran == [1, 1]
    assert "timer boom failed" in caplog.text


def test_non_positive_interval_is_refused() -> None:
    """A zero interval would loop forever, so it is refused."""
    with pytest.raises(ValueError, match="positive"):
        FakeClock().every(0, lambda: None)


def test_wall_clock_runs_timers_on_threads_until_stopped() -> None:
    """A wall-clock timer fires from a daemon thread; stop() ends it (waited on an event, not on a sleep)."""
    clock = WallClock()
    fired = threading.Event()
    clock.every(0.001, fired.set, name="t")
    assert fired.wait(30)
    clock.stop()
    assert clock.wait_until(lambda: True, timeout=0)


def test_a_timer_registered_by_a_callback_fires_in_the_same_step() -> None:
    """A one-shot timer that schedules a follow-up one second later sees it run within the same advance."""
    clock = FakeClock()
    seen: list[float] = []

    def first() -> None:
        seen.append(clock.monotonic())
        clock.after(1, lambda: seen.append(clock.monotonic()))

    clock.after(1, first)
    clock.advance(3)
    assert seen == [1, 2]
    assert clock.monotonic() == 3


def test_other_threads_read_and_schedule_while_a_callback_runs() -> None:
    """While a timer callback runs, another thread can read the time and register a timer without blocking."""
    clock = FakeClock()
    inside, registered = threading.Event(), threading.Event()
    later: list[float] = []

    def slow() -> None:
        inside.set()
        assert registered.wait(30), "registering a timer blocked on the running callback"

    def other() -> None:
        assert inside.wait(30)
        assert clock.monotonic() == 1
        clock.after(2, lambda: later.append(clock.monotonic()))
        registered.set()

    clock.after(1, slow)
    helper = threading.Thread(target=other)
    helper.start()
    clock.advance(5)
    helper.join(30)
    assert later == [3]


def test_wall_clock_cancel_ends_a_long_timer_at_once_and_stop_refuses_new_ones() -> None:
    """Cancelling an hourly wall-clock timer ends its thread immediately; after stop() new timers never fire."""
    clock = WallClock()
    timer = clock.every(3600, lambda: None, name="hourly")
    timer.cancel()
    assert timer.wait_cancelled(0)
    clock.stop()
    fired = threading.Event()
    late = clock.after(0, fired.set)
    assert late.cancelled and not fired.is_set()
    assert threading.active_count() >= 1 and not any(t.name == "hourly" for t in threading.enumerate())


def test_a_timer_set_on_a_shared_clock_cancels_only_its_own_timers() -> None:
    """A simulator's TimerSet starts its timers on the shared clock and cancels just those when it stops."""
    clock = FakeClock()
    ticks: list[str] = []
    other = clock.every(5, lambda: ticks.append("other"))
    timers = TimerSet(clock)
    timers.add("sim", 2, lambda: ticks.append("sim"))
    clock.advance(3)
    assert ticks == []  # nothing runs before start()
    timers.start()
    clock.advance(4)  # t=7: sim at 5 and 7, other at 5
    timers.stop()
    clock.advance(10)  # t=17: other at 10 and 15 only
    assert ticks == ["other", "sim", "sim", "other", "other"]
    assert not other.cancelled and timers.clock is clock


def test_a_timer_set_without_a_clock_owns_a_wall_clock_and_stops_it() -> None:
    """Without a clock a TimerSet makes a WallClock, and stop() stops it, so no timer thread outlives it."""
    fired = threading.Event()
    timers = TimerSet()
    timers.add("t", 0.001, fired.set)
    timers.start()
    assert fired.wait(30)
    timers.stop()
    late = timers.clock.after(0, lambda: None)
    assert isinstance(timers.clock, WallClock) and late.cancelled
