"""The wire form of a ``coordination.k8s.io/v1`` Lease, for the run lock: pure, no third-party imports.

A Lease's ``acquireTime`` and ``renewTime`` are ``metav1.MicroTime``, which the API server parses with the layout
``2006-01-02T15:04:05.000000Z07:00`` (k8s.io/apimachinery ``pkg/apis/meta/v1/micro_time.go``): the six fractional
digits are required, so a timestamp that happens to fall on a whole second must still carry ``.000000``
(Python's ``isoformat`` drops them). ``metadata.resourceVersion`` goes back on every replace: the Lease registry
refuses an unconditional update and answers a stale one with 409 Conflict (kubernetes
``pkg/registry/coordination/lease/strategy.go``, ``AllowUnconditionalUpdate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gitrollback.models import LeaseRecord

__all__ = ["lease_body", "micro_time", "parse_lease", "parse_micro_time"]

API_VERSION = "coordination.k8s.io/v1"


def micro_time(at: datetime) -> str:
    """``metav1.MicroTime`` text: UTC, always six fractional digits."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: Any) -> datetime | None:
    """A MicroTime (or a plain RFC 3339 time) as an aware datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def lease_body(lease: LeaseRecord) -> dict[str, Any]:
    """The Lease object to create or replace (``resourceVersion`` included when known)."""
    meta: dict[str, Any] = {"name": lease.name, "namespace": lease.namespace}
    if lease.annotations:
        meta["annotations"] = dict(lease.annotations)
    if lease.resource_version:
        meta["resourceVersion"] = lease.resource_version
    spec: dict[str, Any] = {
        "holderIdentity": lease.holder,
        "leaseDurationSeconds": lease.duration_seconds,
        "leaseTransitions": lease.transitions,
    }
    if lease.acquire_time is not None:
        spec["acquireTime"] = micro_time(lease.acquire_time)
    if lease.renew_time is not None:
        spec["renewTime"] = micro_time(lease.renew_time)
    return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": meta, "spec": spec}


def parse_lease(body: Mapping[str, Any]) -> LeaseRecord:
    """A Lease object from the API server as a ``LeaseRecord``."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    annotations = meta.get("annotations") or {}
    return LeaseRecord(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        holder=str(spec.get("holderIdentity") or ""),
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(spec.get("acquireTime")),
        renew_time=parse_micro_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        annotations={str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, Mapping) else {},
        resource_version=str(meta.get("resourceVersion") or ""),
    )
