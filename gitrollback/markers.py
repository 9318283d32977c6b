"""gitrollback's verified-good markers: annotated tags under ``gitrollback/verified/``.

After a verified rollback (or a verified upgrade), gitrollback records the revision as known-good for that provider
so the next incident can start from evidence instead of guesswork. Why annotated tags rather than git notes: tags are
fetched by default with the history they point into, survive mirrors and host migrations, show in every host's UI,
and never need a notes merge when two writers race (each marker is its own ref). The tag name carries the provider
and the time; the message carries a human line and a JSON block with the evidence. Pure functions only.

Tag: ``gitrollback/verified/<provider-id>/<YYYYmmddTHHMMSSZ>``; message::

    gitrollback: verified known-good for provider <provider-id>

    {"provider_id": "...", "revision": "<40-hex>", "verified_at": "...Z", "evidence": {...}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["MARKER_PREFIX", "Marker", "format_marker", "marker_tag", "parse_marker"]

MARKER_PREFIX = "gitrollback/verified"
_TAG = re.compile(rf"^{re.escape(MARKER_PREFIX)}/(?P<provider>[^/]+)/(?P<stamp>\d{{8}}T\d{{6}}Z)$")


@dataclass(frozen=True)
class Marker:
    """One verified-good record."""

    tag: str
    provider_id: str
    revision: str
    verified_at: datetime
    evidence: Mapping[str, Any] = field(default_factory=dict)


def marker_tag(provider_id: str, at: datetime) -> str:
    """The tag name for a marker written at ``at``."""
    return f"{MARKER_PREFIX}/{provider_id}/{at.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def format_marker(provider_id: str, revision: str, at: datetime, evidence: Mapping[str, Any]) -> str:
    """The annotated tag message."""
    payload = {
        "provider_id": provider_id,
        "revision": revision,
        "verified_at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "evidence": dict(evidence),
    }
    return f"gitrollback: verified known-good for provider {provider_id}\n\n{json.dumps(payload, sort_keys=True)}\n"


def parse_marker(tag: str, message: str, target: str) -> Marker | None:
    """A ``Marker`` from a tag name, its message and the commit it points at; None when it is not one of ours.

    The tag's target commit is authoritative for the revision (a message that names another revision is ignored).
    """
    match = _TAG.match(tag)
    if match is None:
        return None
    evidence: Mapping[str, Any] = {}
    for line in message.splitlines():
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                break
            if isinstance(data, dict) and isinstance(data.get("evidence"), dict):
                evidence = data["evidence"]
            break
    at = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return Marker(tag=tag, provider_id=match["provider"], revision=target, verified_at=at, evidence=evidence)
