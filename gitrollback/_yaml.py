"""The one module that imports ruamel.yaml.

Safe, pure-Python loading only: gitrollback reads its own config and Kubernetes manifests and never needs
arbitrary Python objects. ``YamlSyntaxError`` carries the line and column so callers can name the spot.

gitrollback's own files (config) are YAML 1.2 (``load``). Image Factory's asset files are read with
``load_manifests`` and ``load_go``, which decode as the Go libraries Image Factory's installer uses
(k8s.io/apimachinery ``YAMLOrJSONDecoder`` over sigs.k8s.io/yaml over go-yaml v2; see docs/imagefactory.md):
documents are split at lines starting with ``---``; plain scalars resolve as YAML 1.1 does in go-yaml v2
(``yes``/``no``/``on``/``off``/``y``/``n`` are booleans, ``0755`` is octal, timestamps stay strings); a
duplicate key keeps its last value; a merge key ``<<`` overwrites keys set before it; map keys become
strings; and numbers go through JSON's float64 (``1.0`` is ``1``; NaN and infinities are refused).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

__all__ = ["YamlSyntaxError", "dump", "load", "load_all", "load_go", "load_manifests"]


class YamlSyntaxError(ValueError):
    """The text is not valid YAML; ``line`` and ``column`` are 1-based when known."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{problem}{where}")
        self.problem = problem
        self.line = line
        self.column = column


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


# -- Image Factory's decoding (Go) ------------------------------------------------------------------------

_PLAIN = "!gitrollback/plain"
_CORE = "tag:yaml.org,2002:"
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
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?\Z")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


class _PlainMarkingResolver(VersionedResolver):
    """Tags every untagged plain scalar so ``_GoValues`` resolves it with go-yaml v2's rules, not ruamel's."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            return Tag(suffix=_PLAIN)
        return super().resolve(kind, value, implicit)


def _go_int(text: str) -> int | None:
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
    """A plain scalar as go-yaml v2 resolves it into ``interface{}``."""
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
    if text[:1] in tuple("+-0123456789"):
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return number
        if _GO_FLOAT.match(plain):
            return float(plain)
    return text


class _GoValues:
    """Builds plain Python values from a composed node tree the way go-yaml v2 decodes into ``interface{}``."""

    def value(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            return [self.value(child) for child in node.value]
        out: dict[str, Any] = {}
        self._into(node, out)
        return out

    def _scalar(self, node: ScalarNode) -> Any:
        tag, text = str(node.tag), str(node.value)
        if tag == _PLAIN:
            return _go_plain(text)
        if tag == _CORE + "binary":
            return base64.b64decode(text).decode("utf-8", errors="replace")
        wanted = {"bool": bool, "int": int, "float": float, "null": type(None)}.get(tag.removeprefix(_CORE))
        if wanted is None or not tag.startswith(_CORE):
            return text  # !!str, !!timestamp and unknown tags keep the text
        value = _go_plain(text)
        if wanted is float and type(value) is int:
            return float(value)
        if type(value) is not wanted:
            raise YamlSyntaxError(f"cannot decode {text!r} as {tag}", node.start_mark.line + 1)
        return value

    def _into(self, node: Node, out: dict[str, Any]) -> None:
        """Keys in document order, a later one replacing an earlier one; ``<<`` merges in place."""
        for key_node, value_node in node.value:
            if (
                isinstance(key_node, ScalarNode)
                and key_node.value == "<<"
                and str(key_node.tag)
                in (
                    _PLAIN,
                    _CORE + "merge",
                )
            ):
                sources = list(reversed(value_node.value)) if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        raise YamlSyntaxError(
                            "map merge requires map or sequence of maps", key_node.start_mark.line + 1
                        )
                    self._into(source, out)
                continue
            key = self.value(key_node)
            if isinstance(key, dict | list) or key is None:
                raise YamlSyntaxError(f"unsupported map key {key!r}", key_node.start_mark.line + 1)
            out[_json_key(key)] = self.value(value_node)


def _json_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else format(key, "g") if isinstance(key, float) else str(key)


def _through_json(value: Any) -> Any:
    """What survives ``json.Marshal`` then ``json.Unmarshal``: numbers are float64, NaN and infinities fail."""
    if isinstance(value, dict):
        return {k: _through_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_through_json(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise YamlSyntaxError(f"{value} cannot be represented in JSON")
    if number.is_integer() and abs(number) < 1e21:
        return int(number) if isinstance(value, float) or abs(value) > 2**53 else value
    return number


def load_go(text: str | bytes) -> Any:
    """The first YAML document of ``text``, decoded as sigs.k8s.io/yaml ``Unmarshal`` does."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _PlainMarkingResolver
    try:
        node = next(iter(yaml.compose_all(io.StringIO(text))), None)
        value = None if node is None else _GoValues().value(node)
    except YAMLError as exc:
        raise _translate(exc) from exc
    return _through_json(value)


def _go_documents(text: str) -> Iterator[str]:
    """apimachinery's ``YAMLReader``: a line starting with ``---`` ends a document; only a comment may follow."""
    buffer: list[str] = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.startswith("---"):
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                raise YamlSyntaxError(f"invalid document separator: {rest}", number, 1)
            if buffer:
                yield "".join(buffer)
                buffer = []
                continue
        buffer.append(line)
    if buffer:
        yield "".join(buffer)


def load_manifests(text: str | bytes) -> list[Any]:
    """Every document of a Kubernetes manifest file, decoded as Image Factory's installer decodes it.

    Empty documents (only comments, or ``null``) are dropped; an empty mapping is kept (the caller skips it).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    docs = (load_go(chunk) for chunk in _go_documents(text))
    return [doc for doc in docs if doc is not None]
