"""Custom resources checked against their own CustomResourceDefinitions, as an API server with them installed does.

The CRDs ship with the package (``gitrollback/testing/specs/``, copied unchanged from their projects; see the
``SOURCE.md`` there). Each served version's ``openAPIV3Schema`` is a structural schema: the API server prunes or
refuses unknown fields, refuses values of the wrong type, and validates ``required``, ``enum``, ``pattern``,
``maxLength``/``minLength`` and ``minimum``/``maximum`` (kubernetes/apiextensions-apiserver
``pkg/apiserver/validation``, messages from kube-openapi ``pkg/validation/errors``), and fills in ``default`` values
(``pkg/apiserver/schema/defaulting``). ``_kube_schemas.check`` walks a body over these schemas the same way it walks
built-in kinds; ``defaults`` applies the defaults. Not evaluated: ``x-kubernetes-validations`` (CEL rules) and
``format``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from typing import Any

from gitrollback.testing import _k8s_yaml
from gitrollback.testing._kube_catalog import ResourceType

__all__ = ["FLUX_TYPES", "defaults", "schema_for"]

_SPECS = ("flux/source.toolkit.fluxcd.io_gitrepositories.yaml", "flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml")


def _load() -> tuple[tuple[ResourceType, ...], dict[tuple[str, str, str], Mapping[str, Any]]]:
    types: list[ResourceType] = []
    schemas: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    root = resources.files("gitrollback.testing") / "specs"
    for name in _SPECS:
        crd = _k8s_yaml.load(root.joinpath(name).read_bytes())
        spec, names = crd["spec"], crd["spec"]["names"]
        served = [v for v in spec["versions"] if v.get("served")]
        storage = [v["name"] for v in served if v.get("storage")] + [v["name"] for v in served if not v.get("storage")]
        types.append(
            ResourceType(
                spec["group"],
                tuple(storage),
                names["kind"],
                names["plural"],
                spec["scope"] == "Namespaced",
                names.get("singular", ""),
                tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()),
                custom=True,
                status_subresource=all("status" in (v.get("subresources") or {}) for v in served),
            )
        )
        for version in served:
            schemas[(spec["group"], version["name"], names["kind"])] = version["schema"]["openAPIV3Schema"]
    return tuple(types), schemas


FLUX_TYPES, _SCHEMAS = _load()


def schema_for(group: str, version: str, kind: str) -> Mapping[str, Any] | None:
    """The structural schema of a custom resource version, or None for a kind without a CRD here."""
    return _SCHEMAS.get((group, version, kind))


def defaults(group: str, version: str, kind: str, obj: dict[str, Any]) -> None:
    """Fill in the schema's ``default`` values in place, where the field is missing and its parent exists."""
    schema = schema_for(group, version, kind)
    if schema is not None:
        _default(obj, schema)


def _default(value: Any, schema: Mapping[str, Any]) -> None:
    if isinstance(value, dict):
        for key, child in (schema.get("properties") or {}).items():
            if key not in value and "default" in child:
                value[key] = copy.deepcopy(child["default"])
            if key in value:
                _default(value[key], child)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _default(item, schema["items"])
