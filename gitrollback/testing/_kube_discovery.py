"""Discovery and OpenAPI documents the Kubernetes simulator serves, built from the resource catalogue.

Legacy discovery only: ``/api``, ``/apis``, ``/apis/G`` and the per-version ``APIResourceList``. kubectl asks
for aggregated discovery first but falls back to these when the reply's Content-Type is plain
``application/json`` (client-go ``discovery/aggregated_discovery.go``), which works for every kubectl from 1.20
to 1.37. ``kind`` and ``namespaced`` are the fields kubectl cannot do without.

The OpenAPI v3 stub is what ``kubectl apply`` (1.29+) needs to decide that the server supports
``fieldValidation``: a root listing every group-version and, per group-version, one ``patch`` operation
per kind carrying ``x-kubernetes-group-version-kind`` and the ``fieldValidation`` query parameter, with no
schemas at all (what cli-runtime's ``QueryParamVerifierV3`` looks for). ``/openapi/v2`` is deliberately
absent (404). ``/version`` reports ``KUBERNETES_VERSION``, the release whose API schemas validate objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from gitrollback.testing._kube_catalog import ResourceType
from gitrollback.testing._kube_schemas import KUBERNETES_VERSION

__all__ = [
    "SERVER_VERSION",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "group_versions",
    "openapi_group_version",
    "openapi_root",
]

SERVER_VERSION: dict[str, str] = {
    "major": KUBERNETES_VERSION.split(".")[0],
    "minor": KUBERNETES_VERSION.split(".")[1],
    "gitVersion": f"v{KUBERNETES_VERSION}",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_STATUS_VERBS = ["get", "patch", "update"]


def group_versions(types: Iterable[ResourceType]) -> dict[str, list[str]]:
    """Named groups (core excluded) -> served versions, preferred first, in catalogue order."""
    out: dict[str, list[str]] = {}
    for rt in types:
        if rt.group:
            versions = out.setdefault(rt.group, [])
            versions.extend(v for v in rt.versions if v not in versions)
    return out


def api_versions(host: str) -> dict[str, Any]:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group_doc(group: str, versions: Sequence[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(types: Iterable[ResourceType]) -> dict[str, Any]:
    """``GET /apis``."""
    groups = [_group_doc(g, vs) for g, vs in group_versions(types).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(types: Iterable[ResourceType], group: str) -> dict[str, Any] | None:
    """``GET /apis/<group>``, or None when the group is not served."""
    versions = group_versions(types).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def api_resource_list(types: Iterable[ResourceType], group: str, version: str) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``, or None when that group-version is not served."""
    resources: list[dict[str, Any]] = []
    for rt in types:
        if rt.group != group or version not in rt.versions:
            continue
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular or rt.kind.lower(),
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs or _VERBS),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.status_subresource and not rt.verbs:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(_STATUS_VERBS),
                }
            )
    if not resources:
        return None
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_group_version(types: Iterable[ResourceType], group: str, version: str) -> dict[str, Any] | None:
    """``GET /openapi/v3/<api/v1 | apis/G/V>``: one schemaless ``patch`` operation per kind."""
    paths: dict[str, Any] = {}
    for rt in types:
        if rt.group != group or version not in rt.versions or (rt.verbs and "patch" not in rt.verbs):
            continue
        scope = "namespaces/{namespace}/" if rt.namespaced else ""
        paths[f"/{_gv_path(group, version)}/{scope}{rt.plural}/{{name}}"] = {
            "patch": {
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rt.kind},
                "parameters": [
                    {
                        "name": "fieldValidation",
                        "in": "query",
                        "schema": {"type": "string", "uniqueItems": True},
                    },
                ],
                "responses": {},
            }
        }
    if not paths:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "gitrollback Kubernetes simulator", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_root(types: Sequence[ResourceType]) -> dict[str, Any]:
    """``GET /openapi/v3``: each group-version with a content hash, as the real server links them."""
    pairs = [("", "v1")] + [(g, v) for g, vs in group_versions(types).items() for v in vs]
    paths: dict[str, Any] = {}
    for group, version in pairs:
        doc = openapi_group_version(types, group, version)
        if doc is None:
            continue
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
        paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": paths}
