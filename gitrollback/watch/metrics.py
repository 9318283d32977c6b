"""The watch service's counters and gauges, rendered in the Prometheus text format 0.0.4 (stdlib only).

Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (``# HELP`` and ``# TYPE`` before each
family, ``name{label="value"} number``, label values escaped for ``\\``, ``"`` and newline).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("gitrollback_watch_rollbacks_started_total", "counter", "Actions started on a failed installer job."),
    ("gitrollback_watch_rollbacks_succeeded_total", "counter", "Actions that finished as their policy intends."),
    ("gitrollback_watch_rollbacks_failed_total", "counter", "Actions that failed or raised an exception."),
    (
        "gitrollback_watch_actions_skipped_total",
        "counter",
        "Failed jobs not acted on yet: rate_limited (once per job), cut_short (each time).",
    ),
    ("gitrollback_watch_last_success_timestamp_seconds", "gauge", "Unix time of the provider's last success."),
    ("gitrollback_watch_is_leader", "gauge", "1 while this replica holds the watch Lease (or has no election)."),
    ("gitrollback_watch_polls_total", "counter", "Polls of Image Factory made by this replica."),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


class Metrics:
    """Thread-safe samples by family and label set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {name: {} for name, _, _ in _FAMILIES}
        self.set("gitrollback_watch_is_leader", 0.0)
        self.set("gitrollback_watch_polls_total", 0.0)

    def inc(self, name: str, labels: Mapping[str, str] | None = None, by: float = 1.0) -> None:
        """Add ``by`` to a counter."""
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            family = self._samples[name]
            family[key] = family.get(key, 0.0) + by

    def set(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Set a gauge."""
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            self._samples[name][key] = value

    def get(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """One sample's value (0 when never set)."""
        with self._lock:
            return self._samples[name].get(tuple(sorted((labels or {}).items())), 0.0)

    def render(self) -> str:
        """The exposition text, every family with its HELP and TYPE lines."""
        lines: list[str] = []
        with self._lock:
            for name, kind, help_text in _FAMILIES:
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                for key, value in sorted(self._samples[name].items()):
                    lines.append(f"{name}{_labels(dict(key))} {value:.17g}")
        return "\n".join(lines) + "\n"
