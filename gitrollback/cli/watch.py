"""``gitrollback watch``: run the remediation service (``gitrollback.watch``) until SIGTERM or SIGINT.

This module only wires: it reads the config, the pod's identity and namespace from ``POD_NAME`` and
``POD_NAMESPACE``, builds the leader election's Lease store, the ``Rollback`` factory and the HTTP server, installs
the signal handlers and runs ``WatchService``. A stop signal ends the loop: an action in progress stops at its next
wait (its journal stays for a resume), the Lease is released, and the exit code is 0. ``--once`` runs one loop (an
election tick and, when leading, one poll) and exits. Nothing heavy is imported at import time.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitrollback.cli.output import Output
    from gitrollback.ports import Clock
    from gitrollback.settings import ProviderSettings, Settings
    from gitrollback.testing.clock import SimClock
    from gitrollback.watch.service import WatchedRollback, WatchService

__all__ = ["add_parser", "build_service", "run"]

logger = logging.getLogger(__name__)


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``watch`` on the CLI's subparsers."""
    watch = sub.add_parser(
        "watch", parents=parents, help="poll Image Factory and remediate failed installer jobs (a long-running service)"
    )
    watch.add_argument(
        "-c", "--config", default=None, help="config file (default: $GITROLLBACK_CONFIG or gitrollback.yaml)"
    )
    watch.add_argument("--listen", metavar="HOST:PORT", help="serve /healthz and /metrics here (default: watch.listen)")
    watch.add_argument("--once", action="store_true", help="run one loop (election and one poll), then exit")


def _identity(env: Mapping[str, str]) -> str:
    return env.get("POD_NAME") or f"{socket.gethostname()}/{os.getpid()}"


def build_service(
    settings: Settings,
    env: Mapping[str, str],
    *,
    read_file: Callable[[str], str],
    clock: Clock,
    real_time: bool,
    stop: threading.Event,
) -> tuple[WatchService, Callable[[], None]]:
    """The service for ``settings``, and what to close after it."""
    from gitrollback.errors import ConfigError
    from gitrollback.watch.handled import FileHandled, LeaseHandled
    from gitrollback.watch.leader import LeaderElector, LeaseTiming
    from gitrollback.watch.service import WatchService
    from gitrollback.wiring import build_watch_lease_store

    w = settings.watch
    state = Path(settings.state_dir or ".").expanduser()
    notes = Path(w.notes_dir).expanduser() if w.notes_dir else state / "watch" / "notes"
    closers: list[Callable[[], None]] = []
    elector = None
    if w.leader_election.enabled:
        le = w.leader_election
        namespace = le.namespace or env.get("POD_NAMESPACE")
        if not namespace:
            raise ConfigError(
                "no namespace for the watch Lease",
                path=settings.source,
                key="watch.leader_election.namespace",
                hint="set it, or POD_NAMESPACE (deploy/kubernetes/watch-deployment.yaml sets it from the pod)",
            )
        store, close = build_watch_lease_store(settings, read_file=read_file)
        closers.append(close)
        timing = LeaseTiming(le.lease_duration, le.renew_deadline, le.retry_period)
        elector = LeaderElector(
            store, namespace=namespace, name=le.lease_name, identity=_identity(env), clock=clock, timing=timing
        )
        handled: Any = LeaseHandled(elector, limit=w.handled_history)
    else:
        handled = FileHandled(state / "watch" / "handled.json", limit=w.handled_history)

    def open_rollback(provider: ProviderSettings, action_clock: Clock) -> WatchedRollback:
        from gitrollback.api import Rollback

        return Rollback.from_settings(settings, provider.id, env=env, read_file=read_file, clock=action_clock)

    service = WatchService(
        settings,
        open_rollback=open_rollback,
        clock=clock,
        handled=handled,
        notes_dir=notes,
        elector=elector,
        stop=stop,
        real_time=real_time,
    )

    def close_all() -> None:
        for close in closers:
            close()

    return service, close_all


def run(
    args: argparse.Namespace,
    env: Mapping[str, str],
    output: Output,
    settings: Settings,
    clock: SimClock | None,
    *,
    read_file: Callable[[str], str],
) -> int:
    """Serve until stopped; 0 on a clean stop."""
    from dataclasses import replace

    from gitrollback.clock import SystemClock
    from gitrollback.watch.http import HealthServer

    if args.listen:
        from gitrollback.errors import ConfigError
        from gitrollback.watch.http import split_listen

        try:
            split_listen(args.listen)
        except ValueError as exc:
            raise ConfigError(f"--listen: {exc}", hint="pass HOST:PORT, e.g. 0.0.0.0:8080") from None
        settings = replace(settings, watch=replace(settings.watch, listen=args.listen))
    stop = threading.Event()
    service, close = build_service(
        settings, env, read_file=read_file, clock=clock or SystemClock(), real_time=clock is None, stop=stop
    )
    server = HealthServer(settings.watch.listen, health=service.health, metrics=service.metrics.render)
    previous = _install_signals(stop)
    try:
        server.start()
        host, port = server.address
        output.message(f"gitrollback watch: serving /healthz and /metrics on {host}:{port}")
        if args.once:
            try:
                service.step()
            finally:
                service.close()
        else:
            service.run()
    finally:
        server.stop()
        close()
        _restore_signals(previous)
    summary = {"stopped": True, "actions": service.actions, "identity": service.health()[1]["identity"]}
    if args.json:
        output.json({"watch": summary})
    else:
        output.result(f"gitrollback watch stopped after {service.actions} action(s)")
    return 0


def _install_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGTERM and SIGINT set ``stop`` (only in the main thread, where Python delivers signals)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: object) -> None:
        logger.warning("watch: %s received: stopping", signal.Signals(signum).name)
        stop.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
