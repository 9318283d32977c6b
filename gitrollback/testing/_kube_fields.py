"""Field ownership for the simulated server-side apply: field paths, ``fieldsV1``, conflicts, takeovers.

The real apiserver tracks, per manager, the set of fields it last wrote (``metadata.managedFields``), and
server-side apply uses those sets to detect conflicts and to remove fields a manager stopped sending
(kubernetes-sigs/structured-merge-diff ``merge/update.go``, ``Updater.Apply``; the Kubernetes documentation's
"Server-Side Apply", https://kubernetes.io/docs/reference/using-api/server-side-apply/); Update operations (PUT,
merge/JSON/strategic patches) never conflict and take over whatever they changed. This module holds that pure
arithmetic (``server_side_apply``, ``claim_update``) so ``ClusterState`` only has to lock, stamp and store.

Simplification (decided here, documented in ``docs/testing.md``, "KubernetesSimulator"): maps are granular,
every list is *atomic* (owned and compared as a whole). That is exactly what structured-merge-diff does for
schemaless custom resources such as Tekton's (``x-kubernetes-preserve-unknown-fields``); built-in kinds keyed
by ``name`` (containers, env) are coarser here than on a real server. A path is a tuple of map keys; an
empty map is a leaf. ``fieldsV1`` is encoded in the real ``f:<key>`` form with ``.`` marking a map that is
owned itself as well as through its children.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrollback.testing._kube_catalog import StoreError

__all__ = [
    "MISSING",
    "FieldPath",
    "ManagerEntry",
    "changed_paths",
    "claim_update",
    "decode_fields",
    "encode_fields",
    "leaf_paths",
    "merge_applied",
    "overlaps",
    "path_string",
    "remove_path",
    "server_side_apply",
    "value_at",
]

FieldPath = tuple[str, ...]

# Server-owned or identity metadata that is never part of a manager's field set.
_UNTRACKED_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generateName",
    }
)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass
class ManagerEntry:
    """One ``managedFields`` entry, with its field set decoded."""

    manager: str
    operation: str  # "Apply" or "Update"
    api_version: str
    time: str
    paths: set[FieldPath] = field(default_factory=set)
    subresource: str = ""

    @property
    def identity(self) -> tuple[str, str, str]:
        """Real SSA treats the same name with another operation or subresource as another manager."""
        return (self.manager, self.operation, self.subresource)

    def describe(self) -> str:
        """How a conflict message names this manager (apimachinery ``printManager``)."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}"
            if self.time:
                text += f" at {self.time}"
        return text

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ManagerEntry:
        """Decode a stored ``managedFields`` item."""
        return cls(
            manager=str(raw.get("manager", "")),
            operation=str(raw.get("operation", "Update")),
            api_version=str(raw.get("apiVersion", "")),
            time=str(raw.get("time", "")),
            paths=decode_fields(raw.get("fieldsV1") or {}),
            subresource=str(raw.get("subresource", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        """Encode as a ``managedFields`` item."""
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode_fields(self.paths),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _walk(value: Any, path: FieldPath, out: set[FieldPath]) -> None:
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            _walk(child, (*path, str(key)), out)
    else:
        out.add(path)


def leaf_paths(obj: Mapping[str, Any], *, subresource: str = "") -> set[FieldPath]:
    """Every scalar, list and empty-map path of ``obj`` a writer owns.

    A main-resource write owns everything except ``apiVersion``/``kind``, identity metadata and ``status``;
    a ``status`` subresource write owns only ``status``.
    """
    out: set[FieldPath] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if (key == "status") != (subresource == "status"):
            continue
        if key == "metadata" and isinstance(value, Mapping):
            for meta_key, meta_value in value.items():
                if meta_key not in _UNTRACKED_METADATA:
                    _walk(meta_value, ("metadata", str(meta_key)), out)
            continue
        _walk(value, (str(key),), out)
    return out


def value_at(obj: Any, path: FieldPath) -> Any:
    """The value at ``path``, or ``MISSING``."""
    node = obj
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return MISSING
        node = node[key]
    return node


def remove_path(obj: dict[str, Any], path: FieldPath) -> None:
    """Delete ``path`` and then every map it leaves empty (except ``metadata`` itself)."""
    parents: list[dict[str, Any]] = []
    node: Any = obj
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        parents.append(node)
        node = node[key]
    if not isinstance(node, dict):
        return
    node.pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):
        parent = parents[depth - 1]
        child = parent.get(path[depth - 1])
        if child == {} and path[:depth] != ("metadata",):
            parent.pop(path[depth - 1], None)
        else:
            break


def overlaps(path: FieldPath, others: Iterable[FieldPath]) -> bool:
    """True when ``path`` equals, contains or is contained by one of ``others``."""
    for other in others:
        shorter = min(len(path), len(other))
        if path[:shorter] == other[:shorter]:
            return True
    return False


def changed_paths(old: Mapping[str, Any], new: Mapping[str, Any], *, subresource: str = "") -> set[FieldPath]:
    """Leaf paths of ``new`` whose value differs from ``old`` (what an Update takes ownership of)."""
    return {p for p in leaf_paths(new, subresource=subresource) if value_at(old, p) != value_at(new, p)}


def merge_applied(live: Mapping[str, Any], applied: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay an apply configuration: maps merge key by key, lists and scalars replace, ``None`` deletes."""
    out = copy.deepcopy(dict(live))
    for key, value in applied.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_applied(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def path_string(path: FieldPath) -> str:
    """The field path as structured-merge-diff prints it (``.spec.params``)."""
    return "".join(f".{key}" for key in path)


# -- fieldsV1 --------------------------------------------------------------------------------------------


def encode_fields(paths: Iterable[FieldPath]) -> dict[str, Any]:
    """The ``fieldsV1`` trie, ``{"f:spec": {"f:params": {}}}``; ``"."`` marks an owned map with children."""
    root: dict[str, Any] = {}
    owned: set[int] = set()
    for path in sorted(paths):
        node = root
        for key in path:
            node = node.setdefault(f"f:{key}", {})
        owned.add(id(node))

    def mark(node: dict[str, Any]) -> None:
        for child in node.values():
            if child and id(child) in owned:
                child["."] = {}
            mark(child)

    mark(root)
    return root


def decode_fields(fields: Mapping[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    """The inverse of ``encode_fields``."""
    out: set[FieldPath] = set()
    for key, child in fields.items():
        if key == ".":
            out.add(prefix)
        elif key.startswith("f:"):
            path = (*prefix, key[2:])
            if isinstance(child, Mapping) and child:
                out |= decode_fields(child, path)
            else:
                out.add(path)
    return out


# -- operations ------------------------------------------------------------------------------------------


def _apply_conflict(conflicts: list[tuple[ManagerEntry, FieldPath]]) -> StoreError:
    """apimachinery ``NewConflictError``: details carry only the causes (kubernetes/apimachinery
    ``pkg/util/managedfields/internal/conflict.go``, ``NewConflictError``; ``pkg/api/errors``, ``NewApplyConflict``).

    Go calls the cause's kind ``Type``; on the wire ``StatusCause.Type`` is tagged ``json:"reason"``
    (``pkg/apis/meta/v1/types.go``), so that is the key clients (lightkube's ``StatusCause.reason``) read.
    """
    ordered = sorted(conflicts, key=lambda c: (c[0].describe(), c[1]))
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {e.describe()}", "field": path_string(p)}
        for e, p in ordered
    ]
    if len(ordered) == 1:
        entry, path = ordered[0]
        message = f"Apply failed with 1 conflict: conflict with {entry.describe()}: {path_string(path)}"
    else:
        lines: list[str] = []
        for who in sorted({e.describe() for e, _ in ordered}):
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {path_string(p)}" for e, p in ordered if e.describe() == who)
        message = f"Apply failed with {len(ordered)} conflicts: " + "\n".join(lines)
    return StoreError(409, "Conflict", message, {"causes": causes})


def _widens_map(path: FieldPath, owned: set[FieldPath], live: Mapping[str, Any]) -> bool:
    """Owning a map (say an empty ``labels``) does not conflict with someone adding keys to it."""
    return isinstance(value_at(live, path), Mapping) and any(p[: len(path)] == path for p in owned if p != path)


def server_side_apply(
    live: Mapping[str, Any],
    applied: Mapping[str, Any],
    entries: list[ManagerEntry],
    *,
    manager: str,
    api_version: str,
    force: bool,
    now: str,
    subresource: str = "",
) -> dict[str, Any]:
    """Merge an apply configuration over ``live`` and update ``entries`` in place.

    A main-resource apply merges everything but ``status`` and returns the object without it; a ``status``
    subresource apply merges only ``status`` and returns the whole object (writes to ``/status`` ignore everything
    else: apiextensions-apiserver ``pkg/registry/customresource/status_strategy.go``, ``PrepareForUpdate``). Raises
    ``StoreError`` 409 Conflict when a field another manager owns would change and ``force`` is false; with
    ``force`` the fields change hands. Fields this manager applied before and no longer sends are removed unless
    another manager still owns them.
    """
    if subresource == "status":
        merged = merge_applied(dict(live), {"status": applied.get("status") or {}})
    else:
        merged = merge_applied({k: v for k, v in live.items() if k != "status"}, applied)
    owned = leaf_paths(applied, subresource=subresource)
    me = (manager, "Apply", subresource)
    conflicts = [
        (entry, path)
        for entry in entries
        if entry.identity != me
        for path in sorted(entry.paths)
        if overlaps(path, owned)
        and not _widens_map(path, owned, live)
        and value_at(live, path) != value_at(merged, path)
    ]
    if conflicts and not force:
        raise _apply_conflict(conflicts)
    for entry, path in conflicts:
        entry.paths.discard(path)
    mine = next((e for e in entries if e.identity == me), None)
    if mine is None:
        mine = ManagerEntry(manager, "Apply", api_version, now, subresource=subresource)
        entries.append(mine)
    others = [p for e in entries if e is not mine for p in e.paths]
    for dropped in sorted(mine.paths - owned, key=len, reverse=True):
        if not overlaps(dropped, owned) and not overlaps(dropped, others):
            remove_path(merged, dropped)
    mine.paths, mine.api_version, mine.time = owned, api_version, now
    return merged


def claim_update(
    entries: list[ManagerEntry],
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    manager: str,
    api_version: str,
    subresource: str,
    now: str,
) -> list[ManagerEntry]:
    """Update semantics: the writer takes every field it changed away from everyone else; never conflicts."""
    changed = changed_paths(old, new, subresource=subresource)

    def taken(path: FieldPath) -> bool:
        if path in changed:
            return True
        # the owner of a scalar/list someone turned into a map loses it; the owner of a map does not
        return not isinstance(value_at(old, path), Mapping) and any(p[: len(path)] == path for p in changed)

    me = (manager, "Update", subresource)
    for entry in entries:
        if entry.identity != me:
            entry.paths = {p for p in entry.paths if not taken(p)}
    mine = next((e for e in entries if e.identity == me), None)
    if mine is None:
        mine = ManagerEntry(manager, "Update", api_version, now, subresource=subresource)
        entries.append(mine)
    mine.paths |= changed
    if changed:
        mine.api_version, mine.time = api_version, now
    return entries
