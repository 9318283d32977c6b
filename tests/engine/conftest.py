"""A fresh sandbox world per test: real git, Kubernetes and Image Factory simulators on loopback, simulated time;
``make_world`` builds gitops worlds (several per test if needed), closed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld, build_sandbox
from gitrollback.testing.sandbox_gitops import GitOpsSandbox, build_gitops_sandbox


@pytest.fixture(name="world")
def _world(tmp_path: Path) -> Iterator[SandboxWorld]:
    """The sandbox on a FakeClock (dispatchers every 5 s, client polls every 2 s): provider offline after a failed
    v0.4.0 upgrade. Pass ``clock=world.clock`` to the client."""
    with build_sandbox(tmp_path / "world", clock=FakeClock(), tick=5.0, poll_interval=2.0) as world:
        yield world


@pytest.fixture(name="make_world")
def _make_world(tmp_path: Path) -> Iterator:
    """``make_world(scm, **build_gitops_sandbox options)``: a gitops world on its own FakeClock (controllers every
    3 s, client polls every 5 s)."""
    worlds: list[GitOpsSandbox] = []

    def make(scm: str = "github", **kwargs: object) -> GitOpsSandbox:
        world = build_gitops_sandbox(
            tmp_path / f"w{len(worlds)}", scm=scm, clock=FakeClock(), tick=3.0, poll_interval=5.0, **kwargs
        )
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()
