"""CLI test helpers: a captured Output and a sandbox world per test."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitrollback.cli.output import Output
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
    """A sandbox world with its config file written."""
    with build_sandbox(tmp_path / "world", tick=0.01, poll_interval=0.02) as world:
        yield world
