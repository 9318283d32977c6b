"""``gitrollback access restore``: undo an escalation exactly (``gitrollback.escalation``), and the ``--notes`` check.

``access restore --provider ID`` reads the escalation record in the config's ``state_dir``, re-grants the
``infrastructure:select`` grants escalation revoked (not one re-added meanwhile, not one expired since), sets
``is_global`` back when escalation cleared it, and marks the record restored; run again, it changes nothing.
``--json`` prints ``{"provider_id", "escalated_at", "already_restored", "regranted", "left_alone": [{"tenant_id",
"reason"}], "is_global", "warnings"}``. Exit 0 when restored (or already restored), 2 when nothing was ever
recorded for the provider there, 1 when Image Factory fails.

``NotesPath`` is the pre-flight check the CLI adds for ``run --notes FILE``: the notes must be writable before the
run changes anything. This module imports nothing heavy at import time.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitrollback.cli.output import Output
    from gitrollback.escalation import AccessRestore
    from gitrollback.models import AccessNeeds, AccessProblem
    from gitrollback.settings import Settings
    from gitrollback.testing.clock import SimClock

__all__ = ["NotesPath", "add_parser", "render_restore", "run"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``access restore`` on the CLI's subparsers."""
    access = sub.add_parser("access", help="undo what escalation changed on a provider")
    actions = access.add_subparsers(dest="access_action", required=True, parser_class=type(access))
    actions.add_parser(
        "restore",
        parents=parents,
        help="re-grant the select grants and is_global escalation took away (exactly those; idempotent)",
    )


def render_restore(result: AccessRestore) -> str:
    """The human-readable outcome."""
    when = f"{result.escalated_at:%Y-%m-%d %H:%M:%SZ}" if result.escalated_at else "an unknown time"
    if result.already_restored:
        return f"Nothing to restore: provider {result.provider_id}'s escalation of {when} was restored already."
    lines = [f"Restored provider {result.provider_id} (escalated {when}):"]
    lines.append(f"  re-granted infrastructure:select to: {', '.join(result.regranted) or 'none'}")
    lines += [f"  left alone: {tenant} ({why})" for tenant, why in result.left_alone]
    lines.append(f"  is_global: {result.is_global}")
    lines += [f"Warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def run(
    args: argparse.Namespace,
    env: Mapping[str, str],
    output: Output,
    settings: Settings,
    clock: SimClock | None,
) -> int:
    """Restore access for the provider named by ``--provider`` (the only one when there is one)."""
    from gitrollback.clock import SystemClock
    from gitrollback.errors import ConfigError
    from gitrollback.escalation import restore_access
    from gitrollback.ports import ProviderAccess
    from gitrollback.wiring import build_imagefactory

    provider = settings.provider(args.provider)
    if settings.state_dir is None:  # pragma: no cover - the CLI always sets one
        raise ConfigError("no state_dir: escalation records live there", key="state_dir")
    client = build_imagefactory(settings, env=env, read_file=_read, clock=clock)
    try:
        if not isinstance(client, ProviderAccess):
            raise ConfigError("the Image Factory adapter cannot change grants", key="imagefactory")
        result = restore_access(
            client,
            state_dir=Path(settings.state_dir).expanduser(),
            provider_id=provider.id,
            clock=clock or SystemClock(),
        )
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()
    if args.json:
        output.json(result.to_json())
    else:
        output.result(render_restore(result))
    return 0


def _read(path: str) -> str:
    return Path(path).expanduser().read_text(encoding="utf-8")


class NotesPath:
    """Pre-flight check: the ``--notes`` file can be written (it exists as a writable file, or its folder is a
    writable directory). Nothing is created or changed."""

    service = "notes"

    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """The problem with the notes path, if any."""
        from gitrollback.models import AccessProblem

        problem = self._problem()
        if problem is None:
            return []
        return [AccessProblem("notes", f"--notes {self.path}: {problem}", "pass a path in a writable directory")]

    def _problem(self) -> str | None:
        target = self.path
        if target.is_dir():
            return "is a directory"
        if target.exists():
            return None if os.access(target, os.W_OK) else "the file is not writable"
        parent = target.parent
        if not parent.exists():
            return f"its directory {parent} does not exist"
        if not parent.is_dir():
            return f"{parent} is not a directory"
        return None if os.access(parent, os.W_OK | os.X_OK) else f"its directory {parent} is not writable"
