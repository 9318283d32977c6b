"""CLI test helpers: a captured Output and a sandbox world per test, on simulated time.

The CLI runs in-process (``main(argv, env=..., output=..., clock=...)``) with the world's ``FakeClock``, so its waits
step the simulators instead of sleeping.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitrollback.cli.output import Output
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld, build_sandbox


@dataclass
class Captured:
    """stdout and stderr of one CLI call."""

    out: io.StringIO
    err: io.StringIO

    @property
    def output(self) -> Output:
        return Output(self.out, self.err)


@pytest.fixture(name="cap")
def _cap() -> Captured:
    """Fresh captured streams."""
    return Captured(io.StringIO(), io.StringIO())


@pytest.fixture(name="world")
def _world(tmp_path: Path) -> Iterator[SandboxWorld]:
    """A sandbox world with its config file written, on a FakeClock (pass ``clock=world.clock`` to ``main``)."""
    with build_sandbox(tmp_path / "world", clock=FakeClock(), tick=5.0, poll_interval=2.0) as world:
        yield world
