"""A fresh sandbox world per test: real git, Kubernetes and Image Factory simulators on loopback, simulated time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld, build_sandbox


@pytest.fixture(name="world")
def _world(tmp_path: Path) -> Iterator[SandboxWorld]:
    """The sandbox on a FakeClock (dispatchers every 5 s, client polls every 2 s): provider offline after a failed
    v0.4.0 upgrade. Pass ``clock=world.clock`` to the client."""
    with build_sandbox(tmp_path / "world", clock=FakeClock(), tick=5.0, poll_interval=2.0) as world:
        yield world
