"""The non-apply PATCH bodies the Kubernetes simulator understands.

Who sends what: JSON merge patch (RFC 7386) from kubectl annotate (kubernetes/kubectl
``pkg/cmd/annotate/annotate.go``, ``jsonpatch.CreateMergePatch``), ``kubectl patch --type=merge``, lightkube
``PatchType.MERGE`` and Flux's reconcile requests (fluxcd/flux2 ``cmd/flux/reconcile.go``); JSON patch (RFC 6902)
from lightkube ``PatchType.JSON``; strategic merge patch from ``kubectl patch`` and lightkube's ``Client.patch`` by
default. A real apiserver accepts the strategic form only for built-in kinds: custom resources get 415
(kubernetes/kubernetes ``staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/customresource_handler.go``,
``supportedTypes``: JSON patch, merge patch and apply only), so the router checks the kind first and this module
only approximates it: lists of maps that all carry ``name`` merge by name (the ``patchMergeKey`` of containers,
env, ports and volumes), other lists replace, and ``$patch``/``$setElementOrder`` directives are honoured or
dropped.

Every function raises ``PatchError`` (a ``ValueError``) for a body that cannot be applied; the router turns
it into the Status the real server sends.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["PatchError", "apply_json_patch", "apply_merge_patch", "apply_strategic_patch"]


class PatchError(ValueError):
    """A patch body is malformed or does not apply; ``code`` is the HTTP status to answer with."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: ``null`` deletes, objects merge recursively, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply_merge_patch(out.get(key), value)
    return out


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}", 400)
    return [_unescape(part) for part in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str], op: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(tokens)}")
    return node


def _get(doc: Any, tokens: list[str], op: str) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens, op)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(tokens)}")


def _remove(doc: Any, tokens: list[str], op: str) -> Any:
    parent = _parent(doc, tokens, op)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(tokens)}")


def _add(doc: Any, tokens: list[str], value: Any, op: str, *, replace: bool = False) -> Any:
    if not tokens:
        return copy.deepcopy(value)
    parent = _parent(doc, tokens, op)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: /{'/'.join(tokens)}")
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(copy.deepcopy(value))
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = copy.deepcopy(value)
            else:
                parent.insert(int(last), copy.deepcopy(value))
        else:
            raise PatchError(f"{op} operation does not apply: index out of range: /{'/'.join(tokens)}")
    else:
        raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(tokens)}")
    return doc


def apply_json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: ``add``, ``remove``, ``replace``, ``move``, ``copy`` and ``test``."""
    if not isinstance(operations, list):
        raise PatchError("json patch body must be a JSON array of operations", 400)
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, Mapping) or "op" not in operation or "path" not in operation:
            raise PatchError("json patch operation must carry 'op' and 'path'", 400)
        op, tokens = str(operation["op"]), _pointer(str(operation["path"]))
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"{op} operation must carry 'value'", 400)
        if op == "add":
            doc = _add(doc, tokens, operation["value"], op)
        elif op == "replace":
            doc = _add(doc, tokens, operation["value"], op, replace=True)
        elif op == "remove":
            _remove(doc, tokens, op)
        elif op in ("move", "copy"):
            source = _pointer(str(operation.get("from", "")))
            value = _remove(doc, source, op) if op == "move" else copy.deepcopy(_get(doc, source, op))
            doc = _add(doc, tokens, value, op)
        elif op == "test":
            if _get(doc, tokens, op) != operation["value"]:
                raise PatchError(f"testing value /{'/'.join(tokens)} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {op}", 400)
    return doc


def _named(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(i, Mapping) and "name" in i for i in items)


def apply_strategic_patch(target: Any, patch: Any) -> Any:
    """An approximation of strategic merge patch good enough for built-in kinds (see module docstring)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not str(k).startswith("$")}
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if str(key).startswith("$"):
            continue  # $setElementOrder/..., $retainKeys, $deleteFromPrimitiveList/... only steer ordering
        if value is None or (isinstance(value, Mapping) and value.get("$patch") == "delete"):
            out.pop(key, None)
        elif _named(value) and _named(out.get(key)):
            merged = {item["name"]: item for item in out[key]}
            for item in value:
                if item.get("$patch") == "delete":
                    merged.pop(item["name"], None)
                else:
                    merged[item["name"]] = apply_strategic_patch(merged.get(item["name"]), item)
            out[key] = list(merged.values())
        else:
            out[key] = apply_strategic_patch(out.get(key), value)
    return out
