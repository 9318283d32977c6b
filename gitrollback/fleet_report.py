"""Render a ``FleetReport`` (``gitrollback.fleet``) as a table for people and as JSON for machines. No printing here.

The JSON shape is documented in ``docs/fleet.md``; each provider's ``report`` is the single-run report of
``gitrollback.report.report_json`` (``docs/cli.md``).
"""

from __future__ import annotations

from typing import Any

from gitrollback.fleet import FleetReport, ProviderOutcome
from gitrollback.models import to_json
from gitrollback.report import report_json

__all__ = ["fleet_json", "render_fleet"]


def _change(o: ProviderOutcome) -> str:
    """The rollback commit and change request, or why there is none."""
    r = o.report
    if r is None:
        return o.message or ""
    parts = []
    if r.rollback_commit:
        parts.append(r.rollback_commit[:12])
    if r.change_request is not None:
        parts.append(r.change_request.url or f"#{r.change_request.number}")
    elif o.group is not None and o.group != o.label and r.status == "rolled_back":
        parts.append(f"{o.group}'s change request")
    if r.status != "rolled_back" and r.error:
        parts.append(r.error)
    return " ".join(parts)


def _shorten(text: str, limit: int = 72) -> str:
    line = text.splitlines()[0] if text else text
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _row(o: ProviderOutcome) -> list[str]:
    kg = o.report.known_good if o.report is not None else None
    took = f"{o.duration_seconds:.1f}s" if o.duration_seconds is not None else "-"
    return [
        o.label,
        o.mode or "-",
        o.status,
        kg.revision[:12] if kg is not None else "-",
        _shorten(_change(o) or "-"),
        took,
    ]


def render_fleet(report: FleetReport) -> str:
    """The summary table (provider, mode, status, known-good, rollback commit / change request, duration) and a
    last line with the fleet's status, counts and exit code."""
    header = ["PROVIDER", "MODE", "STATUS", "KNOWN-GOOD", "ROLLBACK / CHANGE REQUEST", "DURATION"]
    rows = [_row(o) for o in report.outcomes]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]) for r in [header, *rows]]
    counts = ", ".join(f"{n} {status}" for status, n in report.counts().items())
    lines.append("")
    lines.append(
        f"Fleet: {report.status} ({counts}; at most {report.parallel} at a time; {report.duration_seconds:.1f}s); "
        f"exit code {report.exit_code}"
    )
    return "\n".join(lines)


def _outcome_json(o: ProviderOutcome) -> dict[str, Any]:
    return {
        "provider_id": o.provider_id,
        "provider": o.label,
        "status": o.status,
        "exit_code": o.exit_code,
        "mode": o.mode,
        "message": o.message,
        "kind": o.kind,
        "group": o.group,
        "started_at": to_json(o.started_at),
        "duration_seconds": o.duration_seconds,
        "report": report_json(o.report) if o.report is not None else None,
    }


def fleet_json(report: FleetReport) -> dict[str, Any]:
    """``{"fleet": {status, exit_code, parallel, only_failed, interrupted, duration_seconds, counts},
    "providers": [{provider_id, provider, status, exit_code, mode, message, kind, group, started_at,
    duration_seconds, report}]}``."""
    return {
        "fleet": {
            "status": report.status,
            "exit_code": report.exit_code,
            "parallel": report.parallel,
            "only_failed": report.only_failed,
            "interrupted": report.interrupted,
            "duration_seconds": report.duration_seconds,
            "counts": report.counts(),
        },
        "providers": [_outcome_json(o) for o in report.outcomes],
    }
