"""YAML and JSON as the Go programs the simulators stand in for decode them: the simulators' one YAML reader.

Every Go reader a simulator models decodes YAML the same way, through ``sigs.k8s.io/yaml`` over go-yaml v2:

* the kube-apiserver, a server-side apply body (``sigs.k8s.io/yaml.Unmarshal`` into the patch object's map;
  kubernetes/kubernetes ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go``, ``applyPatcher``):
  ``unmarshal``;
* client-go reading a kubeconfig (``clientcmd.Load``, through the YAML serializer's ``yaml.YAMLToJSON``) and the
  simulator's CRD files: ``unmarshal``;
* Argo CD's repo-server and Flux's kustomize-controller reading manifests (argoproj/argo-cd
  ``reposerver/repository/repository.go``, ``splitYAMLOrJSON``; ``kube.SplitYAML``) and Image Factory's installer
  reading resource files (imagefactoryoss/imagefactory ``backend/internal/domain/infrastructure/service.go``,
  ``parseUnstructuredYAMLFile``): apimachinery's ``NewYAMLOrJSONDecoder``, ``iter_manifest_stream``;
* the installer reading ``kustomization.yaml`` into ``struct{ Resources []string }``
  (``loadKustomizationResourceFiles``): ``unmarshal_resources_list``.

This module reproduces those libraries at the versions in Image Factory's ``backend/go.mod`` (apimachinery v0.35.0,
sigs.k8s.io/yaml v1.6.0, go.yaml.in/yaml/v2 v2.4.x):

* the stream is split into documents by apimachinery's ``YAMLReader`` (a line starting with ``---`` ends a
  document; anything but spaces or a comment after it is an error), unless it looks like JSON, in which case
  ``encoding/json`` decodes a stream of objects (with the decoder's fall-back to YAML);
* each document goes through ``sigs.k8s.io/yaml``: go-yaml v2 decodes it (YAML 1.1 scalars: ``yes``/``on``/``y``
  are booleans, ``0755`` is octal, timestamps stay strings; duplicate keys: the last one wins; a merge key
  ``<<`` overwrites the keys set before it), non-string keys become strings, then ``encoding/json`` decodes the
  JSON into the target (numbers become float64, so an integral float is an integer on the wire).

The parsing itself is libyaml's (PyYAML's C binding; PyYAML's pure-Python port of the same parser where the wheel has
no libyaml): go-yaml v2 is a Go port of libyaml, so the event stream and the syntax errors' problem texts are the
same, and the error's line number is computed as go-yaml's ``parser.fail`` does (decode.go). Tag resolution,
anchors, merge keys and duplicate keys are decided here, as go-yaml v2 decides them (resolve.go, decode.go). Not
modelled: go-yaml's alias-expansion limits, ``%YAML`` directive checks, and an ``Unstructured`` target's int64
numbers (an integer beyond 2^53 is rounded as a float64 map value is). gitrollback itself reads YAML through
``gitrollback._yaml``; the simulators deliberately do not share that reader, so a manifest the product reads one
way and a Go program another shows up in tests instead of agreeing by construction.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gitrollback.testing._extras import require

yaml = require("yaml", "PyYAML")

__all__ = ["GoDecodeError", "decode_manifest_stream", "iter_manifest_stream", "unmarshal", "unmarshal_resources_list"]

_TAG = "tag:yaml.org,2002:"
_STR, _BOOL, _INT, _FLOAT, _NULL = (_TAG + t for t in ("str", "bool", "int", "float", "null"))
_TIMESTAMP, _BINARY, _MERGE = _TAG + "timestamp", _TAG + "binary", _TAG + "merge"
# JSON decodes numbers into float64; Go's json.Marshal writes a float64 without exponent below 1e21.
_FLOAT64_EXACT = 2**53
_JSON_INT_LIMIT = 1e21


class GoDecodeError(Exception):
    """Decoding failed; ``str(exc)`` is the Go error's ``Error()`` text."""


# -- go-yaml v2: resolve.go ------------------------------------------------------------------------------

# go-yaml v2 resolve.go, init(): the resolveMap of plain scalars that are not strings.
_RESOLVE_MAP: dict[str, tuple[str, Any]] = {}
for _value, _tag, _words in (
    (True, _BOOL, "y Y yes Yes YES true True TRUE on On ON"),
    (False, _BOOL, "n N no No NO false False FALSE off Off OFF"),
    (None, _NULL, "~ null Null NULL"),
    (math.nan, _FLOAT, ".nan .NaN .NAN"),
    (math.inf, _FLOAT, ".inf .Inf .INF +.inf +.Inf +.INF"),
    (-math.inf, _FLOAT, "-.inf -.Inf -.INF"),
    ("<<", _MERGE, "<<"),
):
    for _word in _words.split():
        _RESOLVE_MAP[_word] = (_tag, _value)
_RESOLVE_MAP[""] = (_NULL, None)
# resolve.go, init(): resolveTable, the first-character hint.
_HINT = {**dict.fromkeys("+-", "S"), **dict.fromkeys("0123456789", "D"), **dict.fromkeys("yYnNtTfFoO~", "M"), ".": "."}
# resolve.go, yamlStyleFloat.
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
_BASE_PREFIX = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}


def _go_parse_uint_base0(digits: str) -> int | None:
    """``strconv.ParseUint(s, 0, 64)`` without the sign: base from the prefix, a bare leading 0 is octal."""
    base = 10
    if digits[:2] in _BASE_PREFIX:
        base, digits = _BASE_PREFIX[digits[:2]], digits[2:]
    elif len(digits) > 1 and digits[0] == "0":
        base, digits = 8, digits[1:]
    alphabet = "0123456789abcdef"[:base]
    if not digits or any(c not in alphabet for c in digits.lower()):
        return None
    value = int(digits, base)
    return value if value <= _UINT64_MAX else None


def _go_parse_int_base0(text: str) -> int | None:
    """``strconv.ParseInt(s, 0, 64)``: an optional sign, then ``_go_parse_uint_base0``, in int64 range."""
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    magnitude = _go_parse_uint_base0(digits) if digits else None
    if magnitude is None:
        return None
    value = sign * magnitude
    return value if _INT64[0] <= value <= _INT64[1] else None


def _resolve_plain(value: str) -> tuple[str, Any]:
    """go-yaml v2 ``resolve("", in)`` for a plain scalar: ``(tag, value)``.

    Timestamps are left out on purpose: decoding into ``interface{}`` keeps a timestamp as its text
    (decode.go, ``scalar``, "for backward compatibility reasons we set it as a string"), and no text that
    parses as a timestamp also parses as a number.
    """
    hint = _HINT.get(value[0]) if value else "N"
    if hint is None:
        return _STR, value
    if value in _RESOLVE_MAP:
        return _RESOLVE_MAP[value]
    if hint == "." and "_" not in value:  # strconv.ParseFloat takes no underscores without a base prefix
        try:
            return _FLOAT, float(value)
        except ValueError:
            return _STR, value
    if hint in ("D", "S"):
        plain = value.replace("_", "")
        number = _go_parse_int_base0(plain)
        if number is None and plain[0] not in "+-":  # strconv.ParseUint: beyond int64, no sign
            number = _go_parse_uint_base0(plain)
        if number is not None:
            return _INT, number
        if _YAML_STYLE_FLOAT.match(plain):
            return _FLOAT, float(plain)
    return _STR, value


def _resolve(tag: str, value: str) -> Any:
    """go-yaml v2 ``resolve(tag, in)`` with decode.go ``scalar``'s ``!!binary`` step, as a Python value.

    An explicit ``!!timestamp`` keeps the text (into ``interface{}``) and is not checked. A failure is go-yaml's
    ``failf``, which names no line.
    """
    if tag == _BINARY:
        # base64.StdEncoding.DecodeString: padding required; the newlines of a block scalar are skipped
        try:
            data = base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
        except ValueError as exc:
            raise GoDecodeError("yaml: !!binary value contains invalid base64 data") from exc
        return data.decode("utf-8", errors="replace")
    if tag not in ("", _BOOL, _INT, _FLOAT, _NULL):
        return value  # !!str, !!timestamp, or a tag go-yaml does not resolve: the text as is
    rtag, out = _resolve_plain(value)
    if tag in ("", rtag):
        return out
    if tag == _FLOAT and rtag == _INT:
        return float(out)
    have, want = rtag.replace(_TAG, "!!"), tag.replace(_TAG, "!!")
    raise GoDecodeError(f"yaml: cannot decode {have} `{value}` as a {want}")


# -- go-yaml v2: the node tree (yaml.go parser) and decode.go --------------------------------------------


@dataclass(slots=True)
class _Node:
    kind: str  # "scalar", "mapping", "sequence", "alias"
    line: int
    tag: str = ""
    value: str = ""
    implicit: bool = False
    children: list[_Node] = field(default_factory=list)
    alias: _Node | None = None


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
_SCALAR, _ALIAS = yaml.ScalarEvent, yaml.AliasEvent
_MAPPING_START, _SEQUENCE_START = yaml.MappingStartEvent, yaml.SequenceStartEvent
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_DOCUMENT_OVER = (yaml.DocumentEndEvent, yaml.StreamEndEvent)


def _first_document(text: str) -> _Node | None:
    """go-yaml v2 ``parser.parse()``: the first document's node tree (later documents are never read)."""
    anchors: dict[str, _Node] = {}
    stack: list[_Node] = []
    root: _Node | None = None
    for event in yaml.parse(text, Loader=_Loader):
        cls = type(event)
        if cls in _DOCUMENT_OVER:
            break
        if cls in _COLLECTION_END:
            done = stack.pop()
            if not stack:
                root = done
            continue
        line = event.start_mark.line + 1
        if cls is _SCALAR:
            node = _Node("scalar", line, event.tag or "", event.value, implicit=bool(event.implicit[0]))
        elif cls is _ALIAS:
            target = anchors.get(event.anchor)
            if target is None:
                raise GoDecodeError(f"yaml: unknown anchor '{event.anchor}' referenced")
            node = _Node("alias", line, value=event.anchor, alias=target)
        elif cls is _MAPPING_START or cls is _SEQUENCE_START:
            node = _Node("mapping" if cls is _MAPPING_START else "sequence", line, event.tag or "")
        else:  # stream and document starts
            continue
        if event.anchor and cls is not _ALIAS:
            anchors[event.anchor] = node
        if stack:
            stack[-1].children.append(node)
        if node.kind in ("mapping", "sequence"):
            stack.append(node)
        elif not stack:
            root = node
    return root


def _syntax_error(exc: Exception) -> GoDecodeError:
    """go-yaml v2 decode.go ``parser.fail``: ``yaml: line N: <problem>``.

    The line is the problem mark's (0-based, plus one for a scanner error, which "doesn't iterate line"), else the
    context mark's; none when it is 0.
    """
    problem = getattr(exc, "problem", None) or "unknown problem parsing YAML content"
    problem_mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    line = 0
    if problem_mark is not None and problem_mark.line != 0:
        line = problem_mark.line + (1 if isinstance(exc, yaml.scanner.ScannerError) else 0)
    elif context_mark is not None and context_mark.line != 0:
        line = context_mark.line
    return GoDecodeError(f"yaml: {f'line {line}: ' if line else ''}{problem}")


def _key_string(key: Any, value_line: int) -> str:
    """sigs.k8s.io/yaml ``convertToJSONableObject``: YAML map keys become JSON strings."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, str):
        return key
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _format_float32(key)
    raise GoDecodeError(f"unsupported map key of type: <nil>, key: <nil> (line {value_line})")


def _format_float32(value: float) -> str:
    """``strconv.FormatFloat(f, 'g', -1, 32)`` with go-yaml's spellings of the infinities and NaN."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    single = struct.unpack("f", struct.pack("f", value))[0]
    text = f"{single:.8e}"
    for digits in range(9):  # the shortest mantissa that reads back as the same float32
        text = f"{single:.{digits}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, exponent = text.split("e")
    exp = int(exponent)
    if exp < -4 or exp >= 6:  # 'g' with the shortest precision switches to %e at these exponents
        return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return format(Decimal(text), "f")


def _go_syntax(value: Any) -> str:
    """``fmt``'s ``%#v`` of a decoded ``interface{}`` value (maps print with sorted keys)."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_syntax(v) for v in value) + "}"
    if isinstance(value, dict):
        pairs = (f"{_go_syntax(k)}:{_go_syntax(value[k])}" for k in sorted(value))
        return "map[interface {}]interface {}{" + ", ".join(pairs) + "}"
    return str(value)


class _Decoder:
    """go-yaml v2 decode.go ``decoder.unmarshal`` into ``interface{}`` (maps keyed by the JSON key strings)."""

    def unmarshal(self, node: _Node) -> Any:
        if node.kind == "alias":
            assert node.alias is not None
            return self.unmarshal(node.alias)  # decode.go ``alias``: the anchored node, decoded afresh
        if node.kind == "scalar":
            if not node.tag and not node.implicit:
                return node.value  # quoted or block scalar without a tag: a string
            return _resolve(node.tag, node.value)
        if node.kind == "sequence":
            return [self.unmarshal(child) for child in node.children]
        out: dict[str, Any] = {}
        self.mapping(node, out)
        return out

    def mapping(self, node: _Node, out: dict[str, Any]) -> None:
        """decode.go ``mapping``: children in order; a later key overwrites (``setMapIndex``, not strict)."""
        pairs = node.children
        for i in range(0, len(pairs) - 1, 2):
            key_node, value_node = pairs[i], pairs[i + 1]
            if self._is_merge(key_node):
                self.merge(value_node, out)
                continue
            key = self.unmarshal(key_node)
            if isinstance(key, dict | list):
                raise GoDecodeError(f"yaml: invalid map key: {_go_syntax(key)}")  # decode.go failf: no line
            out[_key_string(key, value_node.line)] = self.unmarshal(value_node)

    @staticmethod
    def _is_merge(node: _Node) -> bool:
        """decode.go ``isMerge``: a plain ``<<`` (or one tagged ``!!merge``)."""
        return node.kind == "scalar" and node.value == "<<" and (node.implicit or node.tag == _MERGE)

    def merge(self, node: _Node, out: dict[str, Any]) -> None:
        """decode.go ``merge``: unmarshal the map(s) into ``out``; a sequence's maps go last to first."""
        sources = list(reversed(node.children)) if node.kind == "sequence" else [node]
        for source in sources:
            target = source.alias if source.kind == "alias" else source
            if target is None or target.kind != "mapping":
                raise GoDecodeError("yaml: map merge requires map or sequence of maps as the value")
            self.mapping(target, out)


def _yaml_v2_unmarshal(text: str) -> Any:
    """go-yaml v2 ``Unmarshal(in, &interface{})`` of one document."""
    try:
        root = _first_document(text)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from exc
    except yaml.YAMLError as exc:  # the reader's: a byte or character YAML does not allow
        raise GoDecodeError(f"yaml: {exc}") from exc
    return None if root is None else _Decoder().unmarshal(root)


# -- sigs.k8s.io/yaml v1.6.0 yaml.go and encoding/json ---------------------------------------------------


def _json_roundtrip(value: Any) -> Any:
    """``json.Marshal`` then ``json.Unmarshal`` into ``interface{}``: numbers become float64.

    Raises GoDecodeError for what ``json.Marshal`` refuses (NaN and the infinities).
    """
    if isinstance(value, dict):
        return {k: _json_roundtrip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_roundtrip(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        spelled = "NaN" if math.isnan(number) else ("+Inf" if number > 0 else "-Inf")
        raise GoDecodeError(f"error converting YAML to JSON: json: unsupported value: {spelled}")
    if number.is_integer() and abs(number) < _JSON_INT_LIMIT:
        return int(number) if isinstance(value, float) or abs(value) > _FLOAT64_EXACT else value
    return number


def _text(content: str | bytes) -> str:
    return content if isinstance(content, str) else content.decode("utf-8", errors="replace")


def unmarshal(content: str | bytes) -> Any:
    """``sigs.k8s.io/yaml.Unmarshal(content, &v)`` into an ``interface{}`` (or a map): the first document as plain
    dicts, lists and scalars, numbers as ``encoding/json`` leaves them (float64; integral ones as ``int``).

    JSON is YAML, so a JSON text decodes the same (``json.loads`` is the faster way to the same values for the
    ordinary ones).

    Raises:
        GoDecodeError: not YAML, or a value JSON cannot carry (``error converting YAML to JSON: ...``).
    """
    try:
        value = _yaml_v2_unmarshal(_text(content))
    except GoDecodeError as exc:
        raise GoDecodeError(f"error converting YAML to JSON: {exc}") from exc
    return _json_roundtrip(value)


def _unmarshal_map(document: str) -> dict[str, Any] | None:
    """``sigs.k8s.io/yaml.Unmarshal(doc, &map[string]interface{})``; None for a null document."""
    value = unmarshal(document)
    if value is None or isinstance(value, dict):
        return value
    raise GoDecodeError(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
        f"{_json_type(value)} into Go value of type map[string]interface {{}}"
    )


def _json_type(value: Any) -> str:
    """The JSON value's name in ``encoding/json``'s UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "number"


def _is_resources_key(key: str) -> bool:
    """``encoding/json`` matches the field ``Resources`` exactly or case-insensitively (``bytes.EqualFold``)."""
    return key == "Resources" or key.replace("\u017f", "s").replace("\u212a", "k").lower() == "resources"


def unmarshal_resources_list(content: bytes) -> list[str]:
    """``sigs.k8s.io/yaml.Unmarshal(content, &tektonKustomization{})``, returning ``Resources``.

    ``tektonKustomization`` (service.go) is ``struct{ Resources []string `yaml:"resources"` }``: the
    ``yaml`` tag means nothing to ``encoding/json``, so the JSON field name is ``Resources``, matched
    case-insensitively; of several matching keys the last in sorted order wins (``json.Marshal`` sorts map
    keys). Numbers and booleans in the list become strings (``convertToJSONableObject`` with a string target);
    a null entry stays ``""``.

    Raises:
        GoDecodeError: the text is not YAML or does not fit the struct.
    """
    try:
        value = _yaml_v2_unmarshal(content.decode("utf-8", errors="replace"))
    except GoDecodeError as exc:
        raise GoDecodeError(f"error converting YAML to JSON: {exc}") from exc
    if isinstance(value, dict):  # the string target coerces scalars before the JSON step
        value = {
            key: [_scalar_to_string(e) for e in entries]
            if _is_resources_key(key) and isinstance(entries, list)
            else entries
            for key, entries in value.items()
        }
    value = _json_roundtrip(value)
    cannot = "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal"
    if value is None:
        return []
    if not isinstance(value, dict):
        raise GoDecodeError(f"{cannot} {_json_type(value)} into Go value of type infrastructure.tektonKustomization")
    field_type = "into Go struct field tektonKustomization.Resources of type"
    resources: list[str] = []
    for key in sorted(value):
        if not _is_resources_key(key):
            continue
        entries = value[key]
        if entries is not None and not isinstance(entries, list):
            raise GoDecodeError(f"{cannot} {_json_type(entries)} {field_type} []string")
        for entry in entries or []:
            if not isinstance(entry, str):
                raise GoDecodeError(f"{cannot} {_json_type(entry)} {field_type} string")
        resources = list(entries or [])
    return resources


def _scalar_to_string(value: Any) -> Any:
    """``convertToJSONableObject`` with a ``string`` target: numbers and booleans become their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float32(value).replace(".inf", "+Inf").replace(".nan", "NaN")
    return "" if value is None else value  # a null stays null, and decodes as the zero string


# -- k8s.io/apimachinery v0.35.0 pkg/util/yaml/decoder.go ------------------------------------------------


def _read_lines(text: str) -> Iterator[str]:
    """``LineReader.Read``: each line ending in ``\n`` (bufio ``ReadLine`` drops a ``\r\n`` or ``\n`` end)."""
    lines = text.split("\n")
    last = lines.pop()
    for line in lines:
        yield line.removesuffix("\r") + "\n"
    if last:
        yield last + "\n"


def _yaml_documents(text: str) -> Iterator[str]:
    """``YAMLReader.Read`` until EOF: the raw text of each document.

    A line starting with ``---`` ends a non-empty document (and is dropped); when nothing was buffered yet it
    becomes the first line of the next one. Anything after ``---`` but spaces or a comment is an error.
    """
    buffer: list[str] = []
    for line in _read_lines(text):
        if line.startswith("---"):
            trimmed = line[3:].strip()
            if trimmed and not trimmed.startswith("#"):
                raise GoDecodeError(f"invalid Yaml document separator: {trimmed}")
            if buffer:
                yield "".join(buffer)
                buffer = []
                continue
        buffer.append(line)
    if buffer:
        yield "".join(buffer)


def _is_json_buffer(head: str) -> bool:
    """``IsJSONBuffer``: the first non-space character of the peeked buffer is ``{``."""
    return head.lstrip().startswith("{")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)
_JSON_SPACE = " \t\r\n"


@dataclass
class _JSONStream:
    """What ``encoding/json.Decoder`` read before its first error (or EOF)."""

    values: list[dict[str, Any] | None]
    consumed: int
    error: str | None = None
    offset: int = 0


def _decode_json_objects(text: str) -> _JSONStream:
    """``encoding/json.Decoder.Decode(&map[string]interface{})`` repeatedly, until EOF or an error."""
    stream = _JSONStream([], 0)
    while True:
        start = stream.consumed
        while start < len(text) and text[start] in _JSON_SPACE:
            start += 1
        if start == len(text):
            return stream
        try:
            value, end = _JSON.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            stream.error, stream.offset = exc.msg, exc.pos
            return stream
        except ValueError as exc:
            stream.error, stream.offset = str(exc), start
            return stream
        if value is not None and not isinstance(value, dict):
            stream.error = f"json: cannot unmarshal {_json_type(value)} into Go value of type map[string]interface {{}}"
            return stream
        stream.values.append(_json_roundtrip(value))
        stream.consumed = end


def _consume_whitespace(text: str) -> str | None:
    """``YAMLOrJSONDecoder.consumeWhitespace``: drop spaces up to and including the first newline.

    None when the text ends first: the decoder then has no YAML reader and returns the JSON error.
    """
    for i, char in enumerate(text):
        if not char.isspace():
            return text[i:]
        if char == "\n":
            return text[i + 1 :]
    return None


def iter_manifest_stream(content: str | bytes) -> Iterator[dict[str, Any] | None]:
    """Every value ``NewYAMLOrJSONDecoder(r, 4096).Decode(&map[string]interface{})`` returns before EOF, one by one.

    A ``null`` document gives None (the callers skip empty ones, as ``parseUnstructuredYAMLFile`` and
    ``splitYAMLOrJSON`` do). A value that fails raises ``GoDecodeError`` with the decoder's error text when the
    iteration reaches it, after the values before it.
    """
    text = _text(content)
    if not _is_json_buffer(text[:4096]):
        for document in _yaml_documents(text):
            yield _unmarshal_map(document)
        return
    # decoder.go, YAMLOrJSONDecoder.Decode: JSON first; a failure after at most one object switches to YAML
    # for the rest, and the JSON error is what that first YAML attempt reports if it fails too.
    stream = _decode_json_objects(text)
    yield from stream.values
    if stream.error is None:
        return
    if stream.error.startswith("json: cannot"):
        first_error = stream.error
    else:
        first_error = f"json: offset {stream.offset}: {stream.error}"
    if len(stream.values) > 1:
        raise GoDecodeError(stream.error)  # an unambiguous JSON stream: the raw error, no offset frame
    remaining = _consume_whitespace(text[stream.consumed :])
    if remaining is None:
        raise GoDecodeError(first_error)
    documents = _yaml_documents(remaining)
    try:
        first = next(documents, None)
        if first is None:
            return
        value = _unmarshal_map(first)
    except GoDecodeError:
        raise GoDecodeError(first_error) from None
    yield value
    for document in documents:
        yield _unmarshal_map(document)


def decode_manifest_stream(content: str | bytes) -> list[dict[str, Any] | None]:
    """``iter_manifest_stream`` as a list: every value before EOF, or the first failure's ``GoDecodeError``."""
    return list(iter_manifest_stream(content))
