"""Label and field selectors as the Kubernetes simulator evaluates them on list requests.

Label selectors follow apimachinery ``labels.Parse``: comma-separated requirements ``k=v``, ``k==v``,
``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist) and ``k>n``/``k<n``.
Field selectors support what every custom resource supports: ``metadata.name`` and ``metadata.namespace`` with
``=``, ``==`` and ``!=`` (kubernetes/kubernetes
``staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresource/strategy.go``, ``objectMetaFieldsSet``; a
CRD's ``selectableFields`` are not modelled). Any other field is refused the way the apiserver refuses it for CRDs.
A malformed selector raises ``SelectorError``, which the router answers with 400 BadRequest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SelectorError", "parse_field_selector", "parse_label_selector"]

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_OP = re.compile(r"^(?P<key>[^\s!=<>()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)$")
_BINARY = re.compile(r"^(?P<key>[^\s!=<>()]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s!=<>(),]*)$")
_EXISTS = re.compile(r"^(?P<neg>!?)\s*(?P<key>[^\s!=<>(),]+)$")
_FIELDS = ("metadata.name", "metadata.namespace")


class SelectorError(ValueError):
    """A selector string that does not parse."""


def _split(selector: str) -> list[str]:
    parts: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    return [p.strip() for p in parts if p.strip()]


def _numeric(value: str, term: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise SelectorError(
            f"unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer: {term}"
        ) from exc


def _requirement(term: str) -> Callable[[Mapping[str, str]], bool]:
    if match := _SET_OP.match(term):
        key, op = match["key"], match["op"]
        values = {v.strip() for v in match["values"].split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _BINARY.match(term):
        key, op, value = match["key"], match["op"], match["value"]
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            return lambda labels: labels.get(key) != value
        bound = _numeric(value, term)
        if op == ">":
            return lambda labels: labels.get(key, "").lstrip("-").isdigit() and int(labels[key]) > bound
        return lambda labels: labels.get(key, "").lstrip("-").isdigit() and int(labels[key]) < bound
    if match := _EXISTS.match(term):
        key, negate = match["key"], bool(match["neg"])
        return lambda labels: (key in labels) != negate
    raise SelectorError(f"unable to parse requirement: found '{term}', expected: identifier or operator")


def parse_label_selector(selector: str) -> Predicate:
    """A predicate over whole objects (reading ``metadata.labels``)."""
    requirements = [_requirement(term) for term in _split(selector)]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = {str(k): str(v) for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items()}
        return all(req(labels) for req in requirements)

    return matches


def parse_field_selector(selector: str) -> Predicate:
    """A predicate over whole objects for ``metadata.name``/``metadata.namespace`` selectors."""
    checks: list[tuple[str, bool, str]] = []
    for term in _split(selector):
        match = re.match(r"^(?P<field>[^!=]+?)\s*(?P<op>==|=|!=)\s*(?P<value>.*)$", term)
        if match is None:
            raise SelectorError(f"invalid selector: '{selector}'; can't understand '{term}'")
        if match["field"] not in _FIELDS:
            raise SelectorError(f"field label not supported: {match['field']}")
        checks.append((match["field"].split(".", 1)[1], match["op"] != "!=", match["value"]))

    def matches(obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return all((str(meta.get(key, "")) == value) == equal for key, equal, value in checks)

    return matches
