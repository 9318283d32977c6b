"""The one module that imports a YAML library (ruamel.yaml for gitrollback's own files, PyYAML for manifests).

Safe loading only: gitrollback reads its own config and Kubernetes manifests and never needs arbitrary Python
objects. ``YamlSyntaxError`` carries the line and column so callers can name the spot. gitrollback's own files
(config) are YAML 1.2 (``load``).

Image Factory's asset files are hostile input (whoever can push to the asset repository writes them) and are read
the way the installer reads them (k8s.io/apimachinery ``YAMLOrJSONDecoder`` over sigs.k8s.io/yaml over go-yaml
v2; see docs/imagefactory.md), within limits (docs/installer-mode.md):

* ``load_manifest_documents`` splits a file into documents as apimachinery's ``YAMLReader`` does (a line starting
  with ``---`` ends a document; only spaces or a comment may follow it) and decodes the first YAML document of
  each part; ``load_manifest_value`` decodes the first document of a whole file (``sigs.k8s.io/yaml.Unmarshal``,
  for ``kustomization.yaml``).
* Each part is composed by libyaml (PyYAML's C parser, about 25x faster than a pure-Python parser; the pure one
  is the fallback where PyYAML was built without libyaml) into a node graph, in which an alias is a second
  reference to the same node, so composing costs memory in proportion to the text, never to its expansion. Plain
  values are then built against a node budget that every node spends, an alias each time it is used, so an alias
  bomb stops at the limit (its full expansion is then measured on the graph, for the message), and against a
  depth limit; an alias inside its own anchor is refused.
* Values decode as go-yaml v2 decodes into ``interface{}`` (resolve.go): ``yes``/``no``/``on``/``off``/``y``/``n``
  are booleans, ``0755`` is octal (``strconv.ParseInt(s, 0, 64)``), timestamps stay strings; map keys become
  strings; numbers then go through JSON's float64 (``1.0`` is ``1``).
* Stricter than Go, on purpose (issue 9's refusals): duplicate keys (go-yaml keeps the last), merge keys ``<<``
  (go-yaml merges), tags outside the core schema (str, int, float, bool, null, seq, map; go-yaml keeps the text
  of an unknown tag), NaN and infinities (which JSON cannot carry) and text that is not UTF-8 are refused.
* Decoding is a pure function of the bytes and the limits, so successful decodes are kept in a small process-wide
  cache keyed by exactly those (the bytes themselves, not a name or a path): a fleet's providers reading the same
  asset tree decode each file once. Every caller gets its own copy of the values (they are plain dicts and lists
  that callers may change); refusals are never cached, so they are raised afresh each time.
"""

from __future__ import annotations

import copy
import functools
import io
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

__all__ = [
    "LoadedDocument",
    "YamlLimitError",
    "YamlSyntaxError",
    "clear_manifest_cache",
    "dump",
    "load",
    "load_manifest_documents",
    "load_manifest_value",
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


#: Texts ``load`` keeps its answer for (a fleet's providers often name one kubeconfig file), and the longest text kept
_LOADED_ENTRIES = 32
_LOADED_CHARS = 1024 * 1024
_loaded: OrderedDict[tuple[type, str | bytes], Any] = OrderedDict()
_loaded_lock = threading.Lock()


def load(text: str | bytes) -> Any:
    """One YAML document as plain dicts, lists and scalars.

    Loading is a pure function of the text, so the answers for a few recent texts are kept (keyed by the text
    itself); every caller gets its own deep copy. Errors are not kept.
    """
    key = (type(text), text)
    with _loaded_lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return copy.deepcopy(_loaded[key])
    try:
        data = _loader().load(text)
    except YAMLError as exc:
        raise _translate(exc) from exc
    if len(text) <= _LOADED_CHARS:
        with _loaded_lock:
            _loaded[key] = copy.deepcopy(data)
            while len(_loaded) > _LOADED_ENTRIES:
                _loaded.popitem(last=False)
    return data


def dump(data: Any) -> str:
    """Block-style YAML text."""
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue()


# -- manifests: hostile input, decoded as Go decodes it -----------------------------------------------------

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP, _MERGE = _CORE + "seq", _CORE + "map", _CORE + "merge"
#: The tag the composer gives every untagged plain scalar: its value is decided by go-yaml v2's rules below.
_PLAIN = "!gitrollback/plain"


@dataclass(frozen=True)
class LoadedDocument:
    """One document of a manifest file: its value and the 1-based line it starts on."""

    value: Any
    line: int


# go-yaml v2 resolve.go: the resolve table of plain scalars that are not strings.
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE_WORDS = frozenset(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"])
_FALSE_WORDS = frozenset(["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"])
_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
# strconv.ParseInt(s, 0, 64) forms (go-yaml v2 strips "_" first): hex, octal (0o or a bare leading 0), binary.
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
# resolve.go yamlStyleFloat, the only floats ParseFloat is asked about.
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?\Z")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def _go_int(text: str) -> int | None:
    """``strconv.ParseInt(s, 0, 64)``, then ``ParseUint`` for what only fits unsigned; None when neither parses."""
    match = _GO_INT.match(text)
    if match is None:
        return None
    sign, digits = match.groups()
    if digits[:1] != "0" or len(digits) == 1:
        base, body = 10, digits
    elif digits[1] in "xXoObB":
        base, body = {"x": 16, "o": 8, "b": 2}[digits[1].lower()], digits[2:]
    else:
        base, body = 8, digits[1:]
    value = int(body, base) * (-1 if sign == "-" else 1)
    if _INT64_MIN <= value <= _INT64_MAX or (not sign and value <= _UINT64_MAX):
        return value
    return None


def _go_plain(text: str) -> Any:
    """A plain scalar as go-yaml v2 resolves it into ``interface{}`` (resolve.go ``resolve``)."""
    if text in _NULL_WORDS:
        return None
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if text[:1] == ".":
        return float(text) if _DOT_FLOAT.match(text) else text
    if text[:1] in "+-0123456789":
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return number
        if _GO_FLOAT.match(plain):
            value = float(plain)
            return text if math.isinf(value) else value  # ParseFloat's range error leaves the text a string
    return text


#: What a plain value becomes that JSON cannot carry (NaN, infinities): the builder refuses it with its line.
_NOT_JSON = object()


def _through_json(value: Any) -> Any:
    """What survives ``json.Marshal`` then ``json.Unmarshal`` into ``interface{}``: numbers are float64.

    An integral number below 1e21 is written without a fraction, so it is an integer here (``1.0`` is ``1``);
    an integer beyond 2**53 keeps only float64's precision. NaN and infinities cannot be marshalled.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) and abs(value) <= 2**53:
        return value
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return _NOT_JSON
    if number.is_integer() and abs(number) < 1e21:
        return int(number)
    return number


@functools.lru_cache(maxsize=4096)
def _plain_value(text: str) -> Any:
    """go-yaml's value of a plain scalar after the JSON round trip; memoised, as manifests repeat their words."""
    return _through_json(_go_plain(text))


def _tagged_value(node: Any, line: int) -> Any:
    """A scalar with an explicit core tag: go-yaml resolves the text and it must fit the tag (decode.go)."""
    tag, text = node.tag, node.value
    if tag == _STR:
        return text
    value = _go_plain(text)
    wanted = {_BOOL: bool, _INT: int, _FLOAT: float, _NULL: type(None)}[tag]
    if wanted is float and type(value) is int:
        value = float(value)
    if type(value) is not wanted:
        raise YamlSyntaxError(f"cannot decode {text!r} as {tag}", line)
    return _through_json(value)


class _Resolver(pyyaml.resolver.BaseResolver):
    """Marks untagged plain scalars for go-yaml's rules; quoted scalars are strings; no path resolvers."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None  # no path resolvers: nothing to track

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is pyyaml.nodes.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is pyyaml.nodes.SequenceNode else _MAP


if getattr(pyyaml, "__with_libyaml__", False):
    from yaml.cyaml import CParser as _CParser

    class _Composer(_CParser, _Resolver):
        """libyaml's parser and composer with go-yaml's tag resolution; no constructor."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Resolver.__init__(self)

else:  # pragma: no cover - PyYAML wheels ship libyaml; a source build without it falls back to pure Python

    class _Composer(  # type: ignore[no-redef]
        pyyaml.reader.Reader,
        pyyaml.scanner.Scanner,
        pyyaml.parser.Parser,
        pyyaml.composer.Composer,
        _Resolver,
    ):
        def __init__(self, stream: str) -> None:
            pyyaml.reader.Reader.__init__(self, stream)
            pyyaml.scanner.Scanner.__init__(self)
            pyyaml.parser.Parser.__init__(self)
            pyyaml.composer.Composer.__init__(self)
            _Resolver.__init__(self)


def _line(node: Any, offset: int = 0) -> int:
    """The 1-based line of a node in the file, for a node composed from a part starting at line ``offset``."""
    return offset + int(node.start_mark.line) + 1


def _children(node: Any) -> list[Any]:
    if node.id == "sequence":
        return list(node.value)
    if node.id == "mapping":
        return [child for pair in node.value for child in pair]
    return []


def _measure(root: Any, offset: int) -> int:
    """The expanded node count of a composed document, without expanding it.

    Each distinct node is visited once; an alias is a repeated reference to a node, so its size counts again
    wherever it is referenced. Iterative, because libyaml allows 1,000 levels of nesting and Python's recursion
    limit is about that. A node reached again while it is being measured is an alias to itself: refused.
    """
    size: dict[int, int] = {}
    started: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            size[key] = 1 + sum(size[id(k)] for k in _children(node))
            continue
        if key in size:
            continue
        if key in started:  # started, not finished: we are inside it
            raise YamlLimitError("recursive_alias", "an alias refers to a node that contains it", _line(node, offset))
        started.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in started and id(kid) not in size:
                raise YamlLimitError(
                    "recursive_alias", "an alias refers to a node that contains it", _line(kid, offset)
                )
            if id(kid) not in size:
                stack.append((kid, False))
    return size[id(root)]


def _json_key(value: Any, line: int) -> str:
    """A map key as sigs.k8s.io/yaml writes it into JSON (numbers and booleans as text); others are refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, "g")
    raise YamlLimitError("key", "a mapping key must be a string, number or boolean", line)


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
        self.offset = 0  # the line the part being built starts on

    def line(self, node: Any) -> int:
        return _line(node, self.offset)

    def value(self, node: Any, depth: int = 1) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _OverBudget
        if depth > self.max_depth:
            raise YamlLimitError("depth", f"nested more than {self.max_depth} levels deep", self.line(node))
        tag = node.tag
        if node.id == "scalar":
            if tag == _PLAIN:
                value = _plain_value(node.value)
            elif tag in (_STR, _NULL, _BOOL, _INT, _FLOAT):
                value = _tagged_value(node, self.line(node))
            else:
                raise self._tag_error(node)
            if value is _NOT_JSON:
                raise YamlLimitError("number", f"{node.value!r} cannot be represented in JSON", self.line(node))
            return value
        if (node.id == "sequence" and tag == _SEQ) or (node.id == "mapping" and tag == _MAP):
            key = id(node)
            if key in self.building:
                raise YamlLimitError("recursive_alias", "an alias refers to a node that contains it", self.line(node))
            self.building.add(key)
            try:
                if node.id == "sequence":
                    return [self.value(child, depth + 1) for child in node.value]
                return self._mapping(node, depth)
            finally:
                self.building.discard(key)
        raise self._tag_error(node)

    def _tag_error(self, node: Any) -> YamlLimitError:
        tag = str(node.tag)
        shown = tag if not tag.startswith(_CORE) else "!!" + tag[len(_CORE) :]
        return YamlLimitError(
            "tag", f"tag {shown} is not allowed (only str, int, float, bool, null, seq, map)", self.line(node)
        )

    def _mapping(self, node: Any, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.id == "scalar" and (
                key_node.tag == _MERGE or (key_node.tag == _PLAIN and key_node.value == "<<")
            ):
                # go-yaml v2 decode.go merges here; gitrollback refuses (docs/installer-mode.md).
                raise YamlLimitError("merge_key", "merge keys (<<) are not allowed", self.line(key_node))
            if key_node.id != "scalar":
                raise YamlLimitError("key", "a mapping key must be a scalar", self.line(key_node))
            key = self.value(key_node, depth + 1)
            if type(key) is not str:
                key = _json_key(key, self.line(key_node))
            if key in out:
                # go-yaml v2 keeps the last value; gitrollback refuses (docs/installer-mode.md).
                raise YamlLimitError("duplicate_key", f"duplicate key {key!r}", self.line(key_node))
            out[key] = self.value(value_node, depth + 1)
        return out


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise YamlLimitError("encoding", problem, line) from exc


_SEPARATOR = re.compile(r"^---(.*)$", re.MULTILINE)


def _go_documents(text: str) -> Iterator[tuple[str, int]]:
    """apimachinery's ``YAMLReader.Read``: (part, 0-based line it starts on) for each document of the stream.

    A line starting with ``---`` ends the document before it and is dropped; at the start of a document (nothing
    read yet) it is kept, as the reader does. Only spaces or a comment may follow it on its line.
    """
    start = 0
    for match in _SEPARATOR.finditer(text):
        rest = match.group(1).strip()
        if rest and not rest.startswith("#"):
            line = text.count("\n", 0, match.start()) + 1
            raise YamlSyntaxError(f"invalid document separator: {rest}", line, 1)
        if match.start() > start:
            yield text[start : match.start()], text.count("\n", 0, start)
            start = match.end() + 1
    if start < len(text):
        yield text[start:], text.count("\n", 0, start)


def _first_node(part: str, offset: int) -> Any:
    """The first YAML document of ``part`` as a node graph (go-yaml's ``Unmarshal`` reads no further)."""
    composer = _Composer(part)
    try:
        return composer.get_node() if composer.check_node() else None
    except pyyaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = str(exc.problem or exc.context or "invalid YAML")
        if mark is None:
            raise YamlSyntaxError(problem) from exc
        raise YamlSyntaxError(problem, offset + mark.line + 1, mark.column + 1) from exc
    except pyyaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc) or "invalid YAML") from exc
    finally:
        dispose = getattr(composer, "dispose", None)
        if dispose is not None:
            dispose()


def _build(builder: _Builder, node: Any, max_nodes: int) -> Any:
    try:
        return builder.value(node)
    except _OverBudget:
        size = _measure(node, builder.offset)  # visits each distinct node once, so cheap even for a bomb
        raise YamlLimitError(
            "nodes",
            f"the document expands to {size:,} nodes, over the limit of {max_nodes:,} for the file "
            "(aliases, *name, count as often as they are used)",
            builder.line(node),
        ) from None


def _documents(data: bytes, *, split: bool, max_documents: int, max_nodes: int, max_depth: int) -> list[Any]:
    text = _decode(data)
    builder = _Builder(max_nodes, max_depth)
    documents: list[LoadedDocument] = []
    parts = _go_documents(text) if split else iter([(text, 0)])
    try:
        for part, offset in parts:
            node = _first_node(part, offset)
            if node is None:
                continue
            builder.offset = offset
            scalar = node.id == "scalar"
            value = _build(builder, node, max_nodes) if scalar else None
            if scalar and value is None:
                continue  # an empty document (comments only, or null)
            if len(documents) >= max_documents:
                raise YamlLimitError("documents", f"more than {max_documents} documents", builder.line(node))
            if not scalar:
                value = _build(builder, node, max_nodes)
            documents.append(LoadedDocument(value, builder.line(node)))
    except RecursionError as exc:  # only the pure-Python composer recurses; libyaml stops at 1,000 levels
        raise YamlLimitError("depth", f"nested more than {max_depth} levels deep") from exc
    return documents


#: The decode cache's bounds: entries, and the bytes of the files it keys on (each entry's values are of the same
#: order as its text). Small: a fleet shares one or two asset trees of a few dozen files.
_CACHE_ENTRIES = 256
_CACHE_BYTES = 16 * 1024 * 1024
_CacheKey = tuple[bytes, bool, int, int, int]


class _DecodeCache:
    """Successful decodes by (bytes, split, limits), least recently used first; safe to share between threads."""

    def __init__(self) -> None:
        self.entries: OrderedDict[_CacheKey, tuple[LoadedDocument, ...]] = OrderedDict()
        self.size = 0  # bytes of the keys' texts
        self.lock = threading.Lock()

    def get(self, key: _CacheKey) -> tuple[LoadedDocument, ...] | None:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: _CacheKey, documents: tuple[LoadedDocument, ...]) -> None:
        if len(key[0]) > _CACHE_BYTES:
            return
        with self.lock:
            if key not in self.entries:
                self.entries[key] = documents
                self.size += len(key[0])
            while len(self.entries) > _CACHE_ENTRIES or self.size > _CACHE_BYTES:
                old, _ = self.entries.popitem(last=False)
                self.size -= len(old[0])

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.size = 0


_cache = _DecodeCache()


def _copy(value: Any) -> Any:
    """A deep copy of a decoded value (dicts, lists and immutable scalars only), much cheaper than ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    if kind is list:
        return [_copy(item) for item in value]
    return value


def _cached_documents(
    data: bytes, *, split: bool, max_documents: int, max_nodes: int, max_depth: int
) -> list[LoadedDocument]:
    """``_documents`` through the decode cache (see the module docstring); each call returns fresh values."""
    key: _CacheKey = (bytes(data), split, max_documents, max_nodes, max_depth)
    found = _cache.get(key)
    if found is None:
        decoded = _documents(data, split=split, max_documents=max_documents, max_nodes=max_nodes, max_depth=max_depth)
        _cache.put(key, tuple(LoadedDocument(_copy(doc.value), doc.line) for doc in decoded))
        return decoded
    return [LoadedDocument(_copy(doc.value), doc.line) for doc in found]


def clear_manifest_cache() -> None:
    """Forget every cached decode and load (tests; the caches never need clearing for correctness)."""
    _cache.clear()
    with _loaded_lock:
        _loaded.clear()


def load_manifest_documents(data: bytes, *, max_documents: int, max_nodes: int, max_depth: int) -> list[LoadedDocument]:
    """Every non-empty document of a manifest file, as the installer decodes it, within the limits.

    ``max_nodes`` bounds the expanded node count of the whole file (every scalar, sequence and mapping, aliases
    counted where they are used), ``max_depth`` the nesting of any document, ``max_documents`` their number.
    Documents are split as apimachinery's ``YAMLReader`` splits them; an empty mapping ``{}`` is returned (the
    installer skips it after decoding).

    Raises:
        YamlLimitError: not UTF-8, a limit exceeded, a duplicate key, a merge key, a tag outside the core schema,
            NaN or an infinity.
        YamlSyntaxError: not YAML at all, or a document separator followed by text.
    """
    return _cached_documents(data, split=True, max_documents=max_documents, max_nodes=max_nodes, max_depth=max_depth)


def load_manifest_value(data: bytes, *, max_nodes: int, max_depth: int) -> LoadedDocument | None:
    """The first document of a file as ``sigs.k8s.io/yaml.Unmarshal`` decodes it (no ``---`` splitting first).

    None when the document is empty. Limits and refusals as ``load_manifest_documents``.
    """
    found = _cached_documents(data, split=False, max_documents=1, max_nodes=max_nodes, max_depth=max_depth)
    return found[0] if found else None
