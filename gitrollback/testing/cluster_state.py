"""The in-memory object store behind the Kubernetes simulator.

``ClusterState`` is shared in-process by the Kubernetes simulator (which serves it over HTTP to lightkube and
kubectl) and the Image Factory simulator (whose readiness checks, installer jobs and builds look at the same
objects, as the real server does through its ``runtime_auth``/``bootstrap_auth`` clients).

Objects are stored once per (group, plural, namespace, name) whatever version they were written through, the
way a CRD with several served versions behaves (Tekton serves v1 and v1beta1 and converts between them);
reads rewrite ``apiVersion`` to the version asked for. The bookkeeping follows the apiserver (kubernetes/apiserver
``pkg/registry/generic/registry/store.go``, apimachinery ``pkg/util/managedfields``): ``resourceVersion`` bumps
on every write that changes something, ``generation`` only on changes outside metadata/status,
writes to the main resource ignore ``status`` (and ``/status`` writes ignore everything else), stale
``resourceVersion`` preconditions give the real 409 text, and server-side apply tracks per-manager field
ownership (``metadata.managedFields``, see ``_kube_fields``) with real conflict messages. Built-in kinds are
decoded and validated against the Kubernetes API schemas (``_kube_schemas``, messages in ``_kube_catalog``).
``put()`` stays unvalidated and unconditional for test set-up. All methods are thread-safe and return deep
copies; every refusal is a ``StoreError`` carrying the Status fields the HTTP layer sends.
"""

from __future__ import annotations

import builtins
import copy
import itertools
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitrollback.testing._kube_catalog import (
    CATALOG,
    ResourceType,
    StoreError,
    check_apply,
    check_field_manager,
    decode,
    modified_error,
    namespace_not_found,
    not_found_error,
    required_error,
    validate,
)
from gitrollback.testing._kube_fields import (
    MISSING,
    ManagerEntry,
    claim_update,
    path_string,
    server_side_apply,
    value_at,
)
from gitrollback.testing.clock import SimClock, WallClock

__all__ = ["CATALOG", "ApplyResult", "ClusterState", "ResourceType", "StoreError"]

_PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
Key = tuple[str, str, str, str]
Entries = builtins.list[ManagerEntry]


@dataclass(frozen=True)
class ApplyResult:
    """The object after an apply, and whether the apply created it."""

    object: dict[str, Any]
    created: bool


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_api_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _version_of(obj: Mapping[str, Any], rt: ResourceType) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[2] or rt.preferred_version


def _without_times(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object less ``resourceVersion`` and the times of its ``managedFields`` entries."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in meta.get("managedFields") or ()]
    return {**obj, "metadata": meta}


def _spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ClusterState:
    """Thread-safe object store with the Kubernetes bookkeeping clients rely on.

    Args:
        types: the served resource types (default ``CATALOG``).
        namespaces: namespaces to create up front (``default`` always exists).
        ready_nodes: how many Ready nodes the cluster reports (readiness checks count them).
        clock: where ``creationTimestamp`` and ``managedFields`` times come from (the world's shared clock;
            a ``WallClock`` when omitted, which needs no stopping as the store registers no timers).
    """

    def __init__(
        self,
        types: Iterable[ResourceType] = CATALOG,
        *,
        namespaces: Iterable[str] = (),
        ready_nodes: int = 1,
        clock: SimClock | None = None,
    ) -> None:
        self.clock: SimClock = clock if clock is not None else WallClock()
        self.types: tuple[ResourceType, ...] = tuple(types)
        self._lock = threading.RLock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._rv = itertools.count(1)
        self._last_rv = 0
        for ns in ("default", *namespaces):
            self.ensure_namespace(ns)
        for i in range(ready_nodes):
            self.put(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": f"node-{i + 1}"},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }
            )

    # -- resource catalogue -------------------------------------------------------------------------------

    def type_for(self, api_version: str, kind: str) -> ResourceType | None:
        """The resource type serving ``kind`` at ``api_version``, or None."""
        group, version = _split_api_version(api_version)
        for rt in self.types:
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return rt
        return None

    def type_for_plural(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource type at ``/apis/group/version/plural``, or None."""
        for rt in self.types:
            if rt.group == group and rt.plural == plural and version in rt.versions:
                return rt
        return None

    # -- reads ------------------------------------------------------------------------------------------

    def get(
        self, rt: ResourceType, namespace: str | None, name: str, *, version: str | None = None
    ) -> dict[str, Any] | None:
        """A deep copy of one object, or None."""
        with self._lock:
            obj = self._objects.get(self._key(rt, namespace, name))
            return self._view(rt, obj, version) if obj is not None else None

    def list(
        self, rt: ResourceType, namespace: str | None = None, *, version: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Deep copies of all objects of a type (in one namespace, or everywhere when None), by name."""
        with self._lock:
            found = [
                self._view(rt, obj, version)
                for (g, p, ns, _), obj in self._objects.items()
                if g == rt.group and p == rt.plural and (namespace is None or ns == namespace)
            ]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def namespace_exists(self, name: str) -> bool:
        """True when the Namespace object exists."""
        with self._lock:
            return ("", "namespaces", "", name) in self._objects

    def resource_version(self) -> str:
        """The store's current resourceVersion (for List metadata): the last one handed out."""
        with self._lock:
            return str(self._last_rv)

    def managers(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, set[str]]:
        """Manager name -> the field paths (``.spec.x``) it owns in one object; empty when missing."""
        with self._lock:
            out: dict[str, set[str]] = {}
            for entry in self._entries(self._objects.get(self._key(rt, namespace, name))):
                out.setdefault(entry.manager, set()).update(path_string(p) for p in entry.paths)
            return out

    # -- writes -----------------------------------------------------------------------------------------

    def ensure_namespace(self, name: str) -> bool:
        """Create a Namespace when missing; True when it was created."""
        with self._lock:
            if self.namespace_exists(name):
                return False
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            self.put({**namespace, "status": {"phase": "Active"}})
            return True

    def put(self, obj: Mapping[str, Any], *, manager: str = "gitrollback-simulator") -> dict[str, Any]:
        """Create or replace an object unconditionally (test set-up: no validation, keeps status)."""
        rt = self._require_type(obj)
        new = copy.deepcopy(dict(obj))
        meta = new.setdefault("metadata", {})
        key = self._key(rt, meta.get("namespace"), meta["name"])
        with self._lock:
            existing = self._objects.get(key)
            entries = claim_update(
                self._entries(existing),
                existing or {},
                new,
                manager=manager,
                api_version=rt.api_version(),
                subresource="",
                now=_stamp(self.clock.now()),
            )
            return self._commit(rt, key, new, existing, entries, dry_run=False)

    def create(
        self,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        manager: str,
        dry_run: bool = False,
        field_validation: str = "Warn",
        warnings: builtins.list[str] | None = None,
    ) -> dict[str, Any]:
        """POST: create, 409 AlreadyExists when present; ``generateName`` is honoured; status is dropped.

        The body is decoded against its kind's API schema first (``_kube_catalog.decode``: wrong types are a
        400, unknown fields a 400 with ``field_validation="Strict"``, else dropped, with a message appended to
        ``warnings`` for ``"Warn"``), and validated before the name is checked for a clash, as the registry does.
        """
        check_field_manager(manager, "CreateOptions")
        rt = self._require_type(obj, allow_generate_name=True)
        new = copy.deepcopy(dict(obj))
        decode(rt, _version_of(obj, rt), new, field_validation=field_validation, warnings=warnings)
        meta = new.setdefault("metadata", {})
        if meta.get("resourceVersion"):
            # registry store wording; the status code is a guess (unverified against a live server)
            raise StoreError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        ns = self._namespace_for(rt, namespace, meta)
        with self._lock:
            if not meta.get("name"):
                meta["name"] = f"{meta['generateName']}{secrets.token_hex(3)[:5]}"
            name = meta["name"]
            key = self._key(rt, ns, name)
            new.pop("status", None)
            validate(rt, new)
            if key in self._objects:
                raise StoreError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', rt.details(name))
            if rt.kind == "Namespace":
                new["status"] = {"phase": "Active"}
            entries = claim_update(
                [],
                {},
                new,
                manager=manager,
                api_version=str(obj.get("apiVersion")),
                subresource="",
                now=_stamp(self.clock.now()),
            )
            return self._commit(rt, key, new, None, entries, dry_run=dry_run)

    def update(
        self,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "Warn",
        warnings: builtins.list[str] | None = None,
    ) -> dict[str, Any]:
        """PUT: replace an object (or only its status); a ``resourceVersion`` is a precondition.

        The body is decoded as for ``create``.
        """
        check_field_manager(manager, "UpdateOptions")
        rt = self._require_type(obj)
        new = copy.deepcopy(dict(obj))
        if subresource != "status":
            decode(rt, _version_of(obj, rt), new, field_validation=field_validation, warnings=warnings)
        meta = new.setdefault("metadata", {})
        ns = self._namespace_for(rt, namespace, meta, creating=False)
        key = self._key(rt, ns, meta["name"])
        with self._lock:
            existing = self._require(rt, key)
            rv = meta.get("resourceVersion")
            if (rt.custom or rt.conditional_update) and not rv:  # AllowUnconditionalUpdate() == false
                # kubernetes/apiserver pkg/registry/generic/registry/store.go (Update) builds this Invalid with the
                # *resource* as the kind: "leases.coordination.k8s.io", details.kind "leases"
                field, detail = "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update"
                raise StoreError(
                    422,
                    "Invalid",
                    f'{rt.qualified} "{meta["name"]}" is invalid: {field}: {detail}',
                    {
                        **rt.details(meta["name"]),
                        "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}],
                    },
                )
            if rv and rv != existing["metadata"]["resourceVersion"]:
                raise modified_error(rt, meta["name"])
            api_version = str(obj.get("apiVersion"))
            return self._write(
                rt,
                key,
                existing,
                new,
                manager=manager,
                api_version=api_version,
                subresource=subresource,
                dry_run=dry_run,
            )

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        transform: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        manager: str,
        version: str | None = None,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "Warn",
        warnings: builtins.list[str] | None = None,
    ) -> dict[str, Any]:
        """A non-apply PATCH: ``transform`` maps the live object (as seen at ``version``) to the new one.

        ``transform`` runs under the store lock, so the read-modify-write is atomic; a ``resourceVersion``
        it leaves in the result that differs from the live one is a failed precondition, as on a real server.
        The patched object is decoded as for ``create``, failures being a 422 on ``patch``.
        """
        check_field_manager(manager)
        key = self._key(rt, namespace, name)
        with self._lock:
            existing = self._require(rt, key)
            new = transform(self._view(rt, existing, version))
            if subresource != "status":
                decode(
                    rt,
                    version or rt.preferred_version,
                    new,
                    field_validation=field_validation,
                    warnings=warnings,
                    patched=True,
                )
            rv = (new.get("metadata") or {}).get("resourceVersion")
            if rv and rv != existing["metadata"]["resourceVersion"]:
                raise modified_error(rt, name)
            new.setdefault("metadata", {})["name"] = name
            api_version = rt.api_version(version)
            return self._write(
                rt,
                key,
                existing,
                new,
                manager=manager,
                api_version=api_version,
                subresource=subresource,
                dry_run=dry_run,
            )

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        manager: str,
        force: bool = False,
        dry_run: bool = False,
        subresource: str = "",
    ) -> ApplyResult:
        """Server-side apply: create when missing, else merge with ownership checks.

        Raises ``StoreError`` 409 ``Conflict`` when a field owned by another manager would change and
        ``force`` is false; with ``force`` this manager takes those fields over. ``subresource="status"``
        applies only ``status`` to an existing object (404 when missing: a subresource cannot create).
        """
        on_status = subresource == "status"
        check_field_manager(manager, apply=True)
        rt = self._require_type(obj)
        applied = copy.deepcopy(dict(obj))
        meta = applied.setdefault("metadata", {})
        if meta.get("managedFields") is not None:
            raise StoreError(400, "BadRequest", "metadata.managedFields must be nil")
        sent_namespace = str(meta.get("namespace") or "")
        ns = self._namespace_for(rt, namespace, meta)
        name = meta["name"]
        key = self._key(rt, ns, name)
        if not on_status:
            check_apply(rt, {**applied, "metadata": {**meta, "namespace": sent_namespace}}, sent_namespace)
            applied.pop("status", None)
        rv = meta.pop("resourceVersion", None)
        with self._lock:
            existing = self._objects.get(key)
            if on_status and existing is None:
                raise not_found_error(rt, name)
            if rv and (existing is None or rv != existing["metadata"]["resourceVersion"]):
                raise modified_error(rt, name)
            live = existing or {"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": {"name": name}}
            entries = self._entries(existing)
            merged = server_side_apply(
                live,
                applied,
                entries,
                manager=manager,
                api_version=str(obj.get("apiVersion")),
                force=force,
                now=_stamp(self.clock.now()),
                subresource=subresource,
            )
            if on_status:
                pass  # the merge already kept every main-resource field of the live object
            elif existing is not None and "status" in existing:
                merged["status"] = copy.deepcopy(existing["status"])
            elif rt.kind == "Namespace":
                merged["status"] = {"phase": "Active"}
            validate(rt, merged)
            stored = self._commit(rt, key, merged, existing, entries, dry_run=dry_run)
            return ApplyResult(stored, existing is None)

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
        preconditions: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Remove an object (a Namespace takes its contents along); ``StoreError`` 404 when missing.

        ``preconditions`` (``DeleteOptions.preconditions``: ``uid``, ``resourceVersion``) must match the stored
        object, checked under the lock as etcd's transaction does, dry run or not; a mismatch is the 409 below.
        """
        if rt.kind == "Namespace" and name in _PROTECTED_NAMESPACES:
            message = f'namespaces "{name}" is forbidden: this namespace may not be deleted'
            raise StoreError(403, "Forbidden", message, rt.details(name))
        key = self._key(rt, namespace, name)
        with self._lock:
            obj = self._require(rt, key)
            self._check_preconditions(rt, key, obj, preconditions or {})
            if not dry_run:
                del self._objects[key]
                if rt.kind == "Namespace":
                    for inner in [k for k in self._objects if k[2] == name]:
                        del self._objects[inner]
                self._last_rv = next(self._rv)
            return self._view(rt, obj, None)

    # -- internals --------------------------------------------------------------------------------------

    @staticmethod
    def _check_preconditions(rt: ResourceType, key: Key, obj: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
        """k8s.io/apiserver ``storage.Preconditions.Check`` (pkg/storage/interfaces.go), as the registry store
        reports it: ``storeerr.InterpretDeleteError`` turns the storage layer's invalid-object error into
        ``NewConflict`` (pkg/storage/errors/storage.go), so the message nests the StorageError text."""
        meta = obj["metadata"]
        problem = ""
        if wanted.get("uid") and wanted["uid"] != meta.get("uid"):
            problem = f"UID in precondition: {wanted['uid']}, UID in object meta: {meta.get('uid')}"
        elif wanted.get("resourceVersion") and wanted["resourceVersion"] != meta.get("resourceVersion"):
            problem = (
                f"ResourceVersion in precondition: {wanted['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}"
            )
        if problem:
            group, plural, ns, name = key
            path = "/".join(p for p in ("/registry", group if rt.custom else "", plural, ns, name) if p)
            raise StoreError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.qualified} "{name}": StorageError: invalid object, Code: 4, '
                f"Key: {path}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: {problem}",
                rt.details(name),
            )

    @staticmethod
    def _key(rt: ResourceType, namespace: str | None, name: str) -> Key:
        return (rt.group, rt.plural, (namespace or "") if rt.namespaced else "", name)

    @staticmethod
    def _view(rt: ResourceType, obj: Mapping[str, Any], version: str | None) -> dict[str, Any]:
        out = copy.deepcopy(dict(obj))
        out["apiVersion"] = rt.api_version(version)
        return out

    @staticmethod
    def _entries(obj: Mapping[str, Any] | None) -> Entries:
        raw = (obj or {}).get("metadata", {}).get("managedFields") or []
        return [ManagerEntry.from_dict(item) for item in raw]

    def _require(self, rt: ResourceType, key: Key) -> dict[str, Any]:
        # only creating writes check the namespace (NamespaceLifecycle admission); anywhere else the object
        # is simply not found, as on a real server
        obj = self._objects.get(key)
        if obj is None:
            raise not_found_error(rt, key[3])
        return obj

    def _namespace_for(
        self, rt: ResourceType, namespace: str | None, meta: dict[str, Any], *, creating: bool = True
    ) -> str:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        body_ns = meta.get("namespace")
        ns = str(namespace or body_ns or "")
        if not ns or (namespace and body_ns and body_ns != namespace):
            raise StoreError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        meta["namespace"] = ns
        if creating and not self.namespace_exists(ns):
            raise namespace_not_found(ns)
        return ns

    def _require_type(self, obj: Mapping[str, Any], *, allow_generate_name: bool = False) -> ResourceType:
        rt = self.type_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if rt is None:
            raise StoreError(
                404,
                "NotFound",
                f'no matches for kind "{obj.get("kind")}" in version "{obj.get("apiVersion")}"',
            )
        meta = obj.get("metadata") or {}
        if not meta.get("name") and not (allow_generate_name and meta.get("generateName")):
            error = required_error(rt, "", "metadata.name", "Required value: name or generateName is required")
            error.details.pop("name", None)
            raise error
        return rt

    def _write(
        self,
        rt: ResourceType,
        key: Key,
        existing: dict[str, Any],
        new: dict[str, Any],
        *,
        manager: str,
        api_version: str,
        subresource: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        """An Update-operation write (PUT or non-apply PATCH) of the main resource or of its status."""
        if subresource == "status":
            new = {**copy.deepcopy(existing), "status": copy.deepcopy(new.get("status", {}))}
        else:
            new = {k: v for k, v in new.items() if k != "status"}
            if "status" in existing:
                new["status"] = copy.deepcopy(existing["status"])
            validate(rt, new)
        entries = claim_update(
            self._entries(existing),
            existing,
            new,
            manager=manager,
            api_version=api_version,
            subresource=subresource,
            now=_stamp(self.clock.now()),
        )
        return self._commit(rt, key, new, existing, entries, dry_run=dry_run)

    def _commit(
        self,
        rt: ResourceType,
        key: Key,
        obj: dict[str, Any],
        existing: Mapping[str, Any] | None,
        entries: Entries,
        *,
        dry_run: bool,
    ) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        old_meta = dict(existing["metadata"]) if existing else {}
        meta["name"] = key[3]
        if rt.namespaced:
            meta["namespace"] = key[2]
        meta["uid"] = old_meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = old_meta.get("creationTimestamp") or _stamp(self.clock.now())
        generation = int(old_meta.get("generation", 0))
        if existing is None or _spec_of(existing) != _spec_of(obj):
            generation += 1
        meta["generation"] = max(generation, 1)
        for entry in entries:  # a field that no longer exists is nobody's
            entry.paths = {p for p in entry.paths if value_at(obj, p) is not MISSING}
        meta["managedFields"] = [e.to_dict() for e in entries if e.paths]
        obj["apiVersion"] = rt.api_version()
        obj["kind"] = rt.kind
        if existing is not None and _without_times(obj) == _without_times(existing):
            # A write that changes nothing but managedFields times is not stored: the registry reverts those times
            # (kubernetes/apiserver pkg/endpoints/handlers/fieldmanager/equality.go,
            # IgnoreManagedFieldsTimestampsTransformer, called from pkg/registry/generic/registry/store.go Update)
            # and etcd3's GuaranteedUpdate skips a write whose bytes equal the stored ones (pkg/storage/etcd3/
            # store.go), so resourceVersion stays.
            return self._view(rt, existing, None)
        if dry_run:
            meta["resourceVersion"] = old_meta.get("resourceVersion", "")
            return self._view(rt, obj, None)
        self._last_rv = next(self._rv)
        meta["resourceVersion"] = str(self._last_rv)
        self._objects[key] = obj
        return self._view(rt, obj, None)
