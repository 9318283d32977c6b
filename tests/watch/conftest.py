"""A sandbox world (Image Factory and Kubernetes simulators, a real asset repository with a broken upgrade) on a
``FakeClock``, and ``WatchService``s wired to it exactly as ``gitrollback watch`` wires them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitrollback.cli.watch import build_service
from gitrollback.config import parse_config
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld, build_sandbox
from gitrollback.watch.service import WatchService

WATCH_NS = "gitrollback"


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="world")
def _world(tmp_path: Path, clock: FakeClock) -> Iterator[SandboxWorld]:
    with build_sandbox(tmp_path / "world", clock=clock, watcher_interval=None) as world:
        world.cluster.ensure_namespace(WATCH_NS)
        yield world


def watch_yaml(
    world: SandboxWorld, *, policy: str = "rollback", election: bool = True, timing: str = "", extra: str = ""
) -> str:
    """The config's ``watch:`` section for the sandbox (the Lease in the sandbox's own Kubernetes simulator)."""
    election_yaml = (
        f"  leader_election: {{kubeconfig: {world.kubeconfig_path}, context: sandbox, namespace: {WATCH_NS}{timing}}}\n"
        if election
        else "  leader_election: {enabled: false}\n"
    )
    return (
        f"watch:\n  policy: {policy}\n  poll_interval_seconds: 30\n  listen: 127.0.0.1:0\n"
        f"  rate_limit: {{max_actions: 1, window_seconds: 600}}\n{election_yaml}{extra}"
    )


MakeService = Callable[..., WatchService]


@pytest.fixture(name="make_service")
def _make_service(world: SandboxWorld, clock: FakeClock) -> Iterator[MakeService]:
    made: list[WatchService] = []

    def make(identity: str = "watch-0", **kw: Any) -> WatchService:
        text = world.config_text + watch_yaml(world, **kw)
        settings = parse_config(text, source=str(world.config_path))
        env = {**world.env, "POD_NAME": identity}
        service, close = build_service(
            settings,
            env,
            read_file=lambda p: Path(p).read_text(encoding="utf-8"),
            clock=clock,
            real_time=False,
            stop=threading.Event(),
        )
        made.append(service)
        service.closers = close  # type: ignore[attr-defined]
        return service

    yield make
    for service in made:
        service.close()
        service.closers()  # type: ignore[attr-defined]
