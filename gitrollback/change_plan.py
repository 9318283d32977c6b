"""The dry-run plan table: what a run changes per object, from the live object and the API server's dry run.

Pure: the live objects and the answers to ``dryRun=All`` applies come in as values. A run server-side applies
the known-good set, so what the API server returns from a dry-run apply is exactly the object the run would
leave behind (defaulting, admission and field ownership included: fields the installer's manager owns and the
known-good set no longer sends are already gone from it). Comparing it with the live object gives the table:

* ``create``: not in the cluster;
* ``update``: the top-level fields that differ (``spec``, ``data``; ``metadata.labels`` and the like inside
  metadata, ignoring the bookkeeping the API server changes on every write);
* ``unchanged``: nothing a reader would see changes;
* ``conflict``: another field manager owns fields the apply changes (the API server's 409 names them); with
  ``force`` the run takes them over, as Image Factory's installer does.

``added_objects`` lists what the bad revision has and the known-good one lacks; ``gitrollback.prune`` decides
which of them a prune deletes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from gitrollback.models import LiveObject, Manifest, ObjectChange

__all__ = ["added_objects", "changed_fields", "conflict_fields", "identity", "object_change"]

#: Metadata the API server maintains itself; a difference there is not a change anyone made.
_BOOKKEEPING = frozenset({"resourceVersion", "managedFields", "generation", "uid", "creationTimestamp", "selfLink"})
_SKIPPED = frozenset({"apiVersion", "kind", "metadata", "status"})
_CONFLICT_FIELD = re.compile(r"(?:^|: |- )(\.[^\s:]+)\s*$", re.MULTILINE)


def identity(api_version: str, kind: str, name: str) -> tuple[str, str, str]:
    """(group, kind, name): the same object whatever version it is written in."""
    return api_version.rpartition("/")[0], kind, name


def changed_fields(live: Mapping[str, Any], proposed: Mapping[str, Any]) -> tuple[str, ...]:
    """Top-level fields (and ``metadata.<key>``) whose values differ; status and bookkeeping are ignored."""
    fields = [key for key in sorted((set(live) | set(proposed)) - _SKIPPED) if live.get(key) != proposed.get(key)]
    old_meta, new_meta = live.get("metadata") or {}, proposed.get("metadata") or {}
    fields += [
        f"metadata.{key}"
        for key in sorted((set(old_meta) | set(new_meta)) - _BOOKKEEPING)
        if old_meta.get(key) != new_meta.get(key)
    ]
    return tuple(fields)


def conflict_fields(message: str) -> tuple[str, ...]:
    """The field paths an apply conflict names (``Apply failed with N conflicts: ...: .spec.x`` / ``- .spec.y``)."""
    return tuple(dict.fromkeys(_CONFLICT_FIELD.findall(message)))


def object_change(
    manifest: Manifest,
    namespace: str | None,
    *,
    live: LiveObject | None,
    proposed: Mapping[str, Any] | None,
    conflict: str = "",
) -> ObjectChange:
    """One row of the table. ``proposed`` is the dry-run answer (None when the API server could not be asked)."""
    row = ObjectChange(
        kind=manifest.kind,
        name=manifest.name,
        namespace=namespace,
        action="create",
        file=manifest.source_file,
        line=manifest.line,
        api_version=manifest.api_version,
    )
    if conflict:
        return replace(row, action="conflict", fields=conflict_fields(conflict), detail=conflict)
    if live is None:
        return row
    fields = changed_fields(live.body, proposed) if proposed is not None else ()
    return replace(row, action="update" if fields else "unchanged", fields=fields)


def added_objects(bad: Sequence[Manifest], good: Sequence[Manifest]) -> list[Manifest]:
    """Objects of the bad revision that the known-good one does not have, in the bad revision's order."""
    kept = {identity(m.api_version, m.kind, m.name) for m in good}
    seen: set[tuple[str, str, str]] = set()
    out: list[Manifest] = []
    for m in bad:
        key = identity(m.api_version, m.kind, m.name)
        if key not in kept and key not in seen:
            seen.add(key)
            out.append(m)
    return out
