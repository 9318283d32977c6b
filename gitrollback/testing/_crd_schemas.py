"""Custom resources checked against their own CustomResourceDefinitions, as an API server with them installed does.

The CRDs ship with the package (``gitrollback/testing/specs/``, copied unchanged from their projects; see the
``SOURCE.md`` there). Each served version's ``openAPIV3Schema`` is a structural schema: the API server prunes or
refuses unknown fields, refuses values of the wrong type, and validates ``required``, ``enum``, ``pattern``,
``maxLength``/``minLength`` and ``minimum``/``maximum`` (kubernetes/apiextensions-apiserver
``pkg/apiserver/validation``, messages from kube-openapi ``pkg/validation/errors``), and fills in ``default`` values
(``pkg/apiserver/schema/defaulting``). ``_kube_schemas.check`` walks a body over these schemas the same way it walks
built-in kinds; ``defaults`` applies the defaults. The ``x-kubernetes-validations`` rules are CEL, evaluated with
cel-python (a real CEL implementation; ``rule_failures``), and a failing rule is worded as the API server words it:
``spec.kubeConfig: Invalid value: "object": <the rule's message>`` (apiextensions-apiserver
``pkg/apiserver/schema/cel``). Not checked: ``format``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any

from gitrollback.testing import _k8s_yaml
from gitrollback.testing._extras import require
from gitrollback.testing._kube_catalog import ResourceType

celpy = require("celpy", "cel-python")

__all__ = ["FLUX_TYPES", "defaults", "rule_failures", "schema_for"]

_SPECS = ("flux/source.toolkit.fluxcd.io_gitrepositories.yaml", "flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml")


def _load() -> tuple[tuple[ResourceType, ...], dict[tuple[str, str, str], Mapping[str, Any]]]:
    types: list[ResourceType] = []
    schemas: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    root = resources.files("gitrollback.testing") / "specs"
    for name in _SPECS:
        crd = _k8s_yaml.unmarshal(root.joinpath(name).read_bytes())
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


_PROGRAMS: dict[str, Any] = {}
_PROGRAMS_LOCK = threading.Lock()


def _program(rule: str) -> Any:
    with _PROGRAMS_LOCK:
        if rule not in _PROGRAMS:
            env = celpy.Environment()
            _PROGRAMS[rule] = env.program(env.compile(rule))
        return _PROGRAMS[rule]


def rule_failures(schema: Mapping[str, Any], value: Any) -> list[str]:
    """The messages of the ``x-kubernetes-validations`` rules ``value`` fails (``self`` is the value)."""
    failures: list[str] = []
    for validation in schema.get("x-kubernetes-validations") or ():
        rule = str(validation.get("rule", ""))
        try:
            result = _program(rule).evaluate({"self": celpy.json_to_cel(value)})
        except celpy.CELEvalError as exc:
            failures.append(f"{validation.get('message') or rule}: {exc.args[0] if exc.args else exc}")
            continue
        if result is not True and not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            failures.append(str(validation.get("message") or f"failed rule: {rule}"))
    return failures
