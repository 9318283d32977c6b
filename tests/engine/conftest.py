"""A fresh sandbox world per test: real git, Kubernetes and Image Factory simulators on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback.testing.sandbox import SandboxWorld, build_sandbox


@pytest.fixture(name="world")
def _world(tmp_path: Path) -> Iterator[SandboxWorld]:
    """The sandbox: provider offline after a failed v0.4.0 upgrade."""
    with build_sandbox(tmp_path / "world", tick=0.01, poll_interval=0.02) as world:
        yield world
