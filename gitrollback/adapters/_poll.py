"""How long to pause before the next poll of a remote that is busy with something: a job, a build, a sync.

A fixed interval sees the end of a wait half an interval late on average, a whole one at worst, and a run waits
several times (the installer's validate job, the smoke build, the controller's sync). The remote does not say how
long it still needs, but how long it has needed so far is a fair guide: a job that has run for two seconds is
likely to need seconds more, one that has run for ten minutes, minutes. So the pause is a share of the time waited
so far: short at first, so that a job expected to finish soon is seen finished soon, and longer as the wait goes on,
past the configured interval on long waits (backing off), never longer than a minute or the time left.

With ``interval`` the configured poll interval (the sandbox's 2 s, as a real config has):

* the first pauses are ``interval / 8``, until the wait is ``interval / (8 * SHARE)`` old (5 s at 2 s);
* then each pause is ``SHARE`` (5%) of the time waited, so the end of a wait of T seconds is seen at most
  ``max(interval / 8, SHARE * T)`` late, and a wait costs about ``log(T) / log(1 + SHARE)`` polls after the first
  few seconds (about 120 in all for ten minutes at 2 s, where a fixed interval polls 300 times);
* pauses pass the configured interval once the wait is ``interval / SHARE`` old (40 s at 2 s), and stop growing at
  ``LONGEST`` seconds (or the configured interval, if that is longer).

Pure arithmetic; the adapters sleep on their injected clock, so tests run it on simulated time.
"""

from __future__ import annotations

__all__ = ["LONGEST", "SHARE", "next_pause"]

#: the share of the time waited so far that the next pause may last: the most a wait's end is seen late
SHARE = 0.05
#: the first pauses are the configured interval divided by this
FIRST_DIVISOR = 8.0
#: the longest pause, in seconds, unless the configured interval is longer
LONGEST = 60.0


def next_pause(elapsed: float, *, interval: float, remaining: float) -> float:
    """Seconds to sleep before the next poll of a wait that began ``elapsed`` seconds ago and may go on for
    ``remaining`` more; ``interval`` is the configured poll interval (0 polls without pausing)."""
    if interval <= 0:
        return 0.0
    pause = max(interval / FIRST_DIVISOR, SHARE * max(elapsed, 0.0))
    return max(0.0, min(pause, max(interval, LONGEST), remaining))
