"""The one module that imports a YAML library (ruamel.yaml for gitrollback's own files, PyYAML for manifests).

Safe loading only: gitrollback reads its own config and Kubernetes manifests and never needs arbitrary Python
objects. ``YamlSyntaxError`` carries the line and column so callers can name the spot.

Manifests from an asset repository are hostile input: ``load_manifest_documents`` composes them with libyaml
(PyYAML's C parser, about 25x faster than a pure-Python parser; the pure one is the fallback where PyYAML was
built without libyaml) into a node graph, in which an alias is a second reference to the same node, so composing
costs memory in proportion to the text, never to its expansion. Plain values are then built against a node budget
that every node spends, an alias each time it is used, so an alias bomb stops at the limit (its full expansion is
then measured on the graph, for the message), and against a depth limit; an alias inside its own anchor is
refused. Duplicate keys, merge keys and tags outside the core schema (str, int, float, bool, null, seq, map) are
refused too. Plain scalars resolve as YAML 1.1 (``yes``/``on`` are booleans, ``0755`` is octal), as the Go decoder
Kubernetes and Image Factory's installer use does (go-yaml v2); timestamps stay text, as go-yaml leaves them when
decoding into ``interface{}``.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

__all__ = [
    "LoadedDocument",
    "YamlLimitError",
    "YamlSyntaxError",
    "dump",
    "load",
    "load_all",
    "load_manifest_documents",
]


class YamlSyntaxError(ValueError):
    """The text is not valid YAML; ``line`` and ``column`` are 1-based when known."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        where = "" if line is None else f" (line {line}, column {column})" if column is not None else f" (line {line})"
        super().__init__(f"{problem}{where}")
        self.problem = problem
        self.line = line
        self.column = column


class YamlLimitError(YamlSyntaxError):
    """The text is YAML but gitrollback refuses it: a limit, a duplicate key, a tag, an encoding.

    ``kind`` says which rule: ``encoding``, ``documents``, ``nodes``, ``depth``, ``recursive_alias``,
    ``duplicate_key``, ``merge_key``, ``tag``, ``key`` or ``number``.
    """

    def __init__(self, kind: str, problem: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(problem, line, column)
        self.kind = kind


def _loader() -> YAML:
    return YAML(typ="safe", pure=True)


def _translate(exc: YAMLError) -> YamlSyntaxError:
    if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return YamlSyntaxError(str(exc.problem or exc.context or "invalid YAML"), mark.line + 1, mark.column + 1)
    return YamlSyntaxError(str(exc) or "invalid YAML")


def load(text: str | bytes) -> Any:
    """One YAML document as plain dicts, lists and scalars."""
    try:
        return _loader().load(text)
    except YAMLError as exc:
        raise _translate(exc) from exc


def load_all(text: str | bytes) -> list[Any]:
    """Every document of a multi-document stream, empty documents dropped."""
    try:
        return [doc for doc in _loader().load_all(text) if doc is not None]
    except YAMLError as exc:
        raise _translate(exc) from exc


def dump(data: Any) -> str:
    """Block-style YAML text."""
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue()


# -- manifests: hostile input ------------------------------------------------------------------------------

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP, _MERGE = _CORE + "seq", _CORE + "map", _CORE + "merge"
#: Implicitly resolved YAML 1.1 tags that go-yaml v2 leaves as text when decoding into ``interface{}``.
_AS_TEXT = frozenset({_CORE + "timestamp", _CORE + "value"})


@dataclass(frozen=True)
class LoadedDocument:
    """One document of a manifest file: its value and the 1-based line it starts on."""

    value: Any
    line: int


_RESOLVERS = pyyaml.resolver.Resolver.yaml_implicit_resolvers


@functools.lru_cache(maxsize=4096)
def _plain_tag(value: str) -> str:
    """The YAML 1.1 tag of a plain scalar (PyYAML's implicit resolvers: null, bool, int, float, timestamp, merge,
    value); memoised, because manifests repeat the same keys and words over and over."""
    for tag, regexp in _RESOLVERS.get(value[:1] if value else "", []) + _RESOLVERS.get(None, []):
        if regexp.match(value):
            return str(tag)
    return _STR


class _FastResolver(pyyaml.resolver.BaseResolver):
    """PyYAML's resolver without path resolvers, with the plain-scalar answer memoised."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None  # no path resolvers: nothing to track

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is pyyaml.nodes.ScalarNode:
            return _plain_tag(value) if implicit[0] else _STR
        return _SEQ if kind is pyyaml.nodes.SequenceNode else _MAP


if getattr(pyyaml, "__with_libyaml__", False):
    from yaml.cyaml import CParser as _CParser

    class _Composer(_CParser, _FastResolver):
        """libyaml's parser and composer with YAML 1.1 tag resolution; no constructor."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _FastResolver.__init__(self)

else:  # pragma: no cover - PyYAML wheels ship libyaml; a source build without it falls back to pure Python

    class _Composer(  # type: ignore[no-redef]
        pyyaml.reader.Reader,
        pyyaml.scanner.Scanner,
        pyyaml.parser.Parser,
        pyyaml.composer.Composer,
        _FastResolver,
    ):
        def __init__(self, stream: str) -> None:
            pyyaml.reader.Reader.__init__(self, stream)
            pyyaml.scanner.Scanner.__init__(self)
            pyyaml.parser.Parser.__init__(self)
            pyyaml.composer.Composer.__init__(self)
            _FastResolver.__init__(self)


_SCALARS = pyyaml.constructor.SafeConstructor()


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1


def _children(node: Any) -> list[Any]:
    if node.id == "sequence":
        return list(node.value)
    if node.id == "mapping":
        return [child for pair in node.value for child in pair]
    return []


def _measure(root: Any) -> tuple[int, int]:
    """(expanded node count, expanded depth) of a composed document, without expanding it.

    Each distinct node is visited once; an alias is a repeated reference to a node, so its size counts again
    wherever it is referenced. Iterative, because libyaml allows 1,000 levels of nesting and Python's recursion
    limit is about that. A node reached again while it is being measured is an alias to itself: refused.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            continue
        if key in size:
            continue
        if key in depth:  # started, not finished: we are inside it
            raise YamlLimitError("recursive_alias", "an alias refers to a node that contains it", _line(node))
        depth[key] = -1
        stack.append((node, True))
        for kid in _children(node):
            if depth.get(id(kid)) == -1 and id(kid) not in size:
                raise YamlLimitError("recursive_alias", "an alias refers to a node that contains it", _line(kid))
            if id(kid) not in size:
                stack.append((kid, False))
    return size[id(root)], depth[id(root)]


def _json_key(value: Any, node: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise YamlLimitError("key", "a mapping key must be a string, number or boolean", _line(node))


class _OverBudget(Exception):
    """More nodes than the file may expand to; the caller measures the document for the message."""


class _Builder:
    """Plain values from a composed document, within a node budget and a depth limit.

    Every node built counts against the budget, an alias as often as it is used, so an alias bomb stops after
    ``max_nodes`` nodes however far it would expand: work and memory stay bounded by the limit. A node met again
    while it is being built is an alias to itself.
    """

    def __init__(self, max_nodes: int, max_depth: int) -> None:
        self.left = max_nodes
        self.max_depth = max_depth
        self.building: set[int] = set()

    def value(self, node: Any, depth: int = 1) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _OverBudget
        if depth > self.max_depth:
            raise YamlLimitError("depth", f"nested more than {self.max_depth} levels deep", _line(node))
        tag = node.tag
        if node.id == "scalar":
            if tag == _STR or tag in _AS_TEXT:
                return node.value
            if tag == _NULL:
                return None
            if tag == _BOOL:
                return _SCALARS.construct_yaml_bool(node)
            if tag == _INT:
                return _SCALARS.construct_yaml_int(node)
            if tag == _FLOAT:
                number = _SCALARS.construct_yaml_float(node)
                if math.isnan(number) or math.isinf(number):
                    raise YamlLimitError("number", f"{node.value!r} cannot be represented in JSON", _line(node))
                return number
        elif (node.id == "sequence" and tag == _SEQ) or (node.id == "mapping" and tag == _MAP):
            key = id(node)
            if key in self.building:
                raise YamlLimitError("recursive_alias", "an alias refers to a node that contains it", _line(node))
            self.building.add(key)
            try:
                if node.id == "sequence":
                    return [self.value(child, depth + 1) for child in node.value]
                return self._mapping(node, depth)
            finally:
                self.building.discard(key)
        shown = tag if not tag.startswith(_CORE) else "!!" + tag[len(_CORE) :]
        raise YamlLimitError(
            "tag", f"tag {shown} is not allowed (only str, int, float, bool, null, seq, map)", _line(node)
        )

    def _mapping(self, node: Any, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                raise YamlLimitError("merge_key", "merge keys (<<) are not allowed", _line(key_node))
            if key_node.id != "scalar":
                raise YamlLimitError("key", "a mapping key must be a scalar", _line(key_node))
            key = _json_key(self.value(key_node, depth + 1), key_node)
            if key in out:
                raise YamlLimitError("duplicate_key", f"duplicate key {key!r}", _line(key_node))
            out[key] = self.value(value_node, depth + 1)
        return out


def load_manifest_documents(data: bytes, *, max_documents: int, max_nodes: int, max_depth: int) -> list[LoadedDocument]:
    """Every non-empty document of a manifest file, checked against the limits before any value is built.

    ``max_nodes`` bounds the expanded node count of the whole file (every scalar, sequence and mapping, aliases
    counted where they are used), ``max_depth`` the nesting of any document, ``max_documents`` their number.

    Raises:
        YamlLimitError: not UTF-8, a limit exceeded, a duplicate key, a merge key, a tag outside the core schema.
        YamlSyntaxError: not YAML at all.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise YamlLimitError("encoding", problem, line) from exc
    composer = _Composer(text)
    documents: list[LoadedDocument] = []
    builder = _Builder(max_nodes, max_depth)
    try:
        while composer.check_node():
            node = composer.get_node()
            if node is None or (node.id == "scalar" and node.tag == _NULL):
                continue  # an empty document
            if len(documents) >= max_documents:
                raise YamlLimitError("documents", f"more than {max_documents} documents", _line(node))
            try:
                documents.append(LoadedDocument(builder.value(node), _line(node)))
            except _OverBudget:
                size, _ = _measure(node)  # visits each distinct node once, so cheap even for a bomb
                raise YamlLimitError(
                    "nodes",
                    f"the document expands to {size:,} nodes, over the limit of {max_nodes:,} for the file "
                    "(aliases, *name, count as often as they are used)",
                    _line(node),
                ) from None
    except pyyaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = str(exc.problem or exc.context or "invalid YAML")
        if mark is None:
            raise YamlSyntaxError(problem) from exc
        raise YamlSyntaxError(problem, mark.line + 1, mark.column + 1) from exc
    except pyyaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc) or "invalid YAML") from exc
    except RecursionError as exc:  # only the pure-Python composer recurses; libyaml stops at 1,000 levels
        raise YamlLimitError("depth", f"nested more than {max_depth} levels deep") from exc
    finally:
        dispose = getattr(composer, "dispose", None)
        if dispose is not None:
            dispose()
    return documents
