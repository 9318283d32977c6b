"""Request-body and identifier parsing with the semantics of the Go code the simulator stands in for.

Image Factory's handlers decode bodies with ``json.NewDecoder(r.Body).Decode(&req)`` into typed structs and
parse ids with ``uuid.Parse`` (imagefactoryoss/imagefactory ``backend/internal/adapters/primary/rest/``, e.g.
``infrastructure_provider_handler.go``, ``startTektonInstallerJob`` and ``RetryTektonJob``). Python's
``json.loads`` and ``uuid.UUID`` are both more and less lenient than that, and a simulator that agrees with our
client but not with Go hides client bugs, so this module reproduces the observable rules: an empty body is
``io.EOF`` (tolerated only where the handler says so: ``startTektonInstallerJob`` ignores it), a JSON ``null``
decodes to the zero struct, only the first JSON value is read (trailing bytes are ignored by a ``Decoder``),
object keys match struct tags case-insensitively with the last occurrence winning, a ``null`` member leaves the
zero value, and a member of the wrong JSON type is an ``UnmarshalTypeError`` (the handler's
``400 Invalid request body``). ``uuid.Parse`` takes exactly the 36-character hyphenated form, ``{...}``,
``urn:uuid:...`` or 32 bare hex digits. ``go_trim_space`` is ``strings.TrimSpace``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["BodyError", "decode_struct", "go_atoi", "go_trim_space", "go_uuid"]

_HEX32 = re.compile(r"[0-9a-fA-F]{32}\Z")
_HYPHENATED = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_ATOI = re.compile(r"[+-]?[0-9]+\Z")
# unicode.IsSpace: Python's str.strip() also drops U+001C-U+001F, which Go keeps.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


class BodyError(Exception):
    """The body does not decode into the handler's request struct (Go returned an error)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character in literal {name}")  # Go's JSON has no NaN/Infinity


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _matches(value: Any, kind: type | tuple[type, ...]) -> bool:
    if kind is int or kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if kind is list:  # every list field in these handlers is a []string
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, kind)


def decode_struct(body: bytes, fields: Mapping[str, type], *, allow_empty: bool) -> dict[str, Any]:
    """Decode ``body`` as Go would into a struct with ``fields`` (json tag → Python type).

    Returns only the fields the body set to a non-null value, under their tag names.

    Raises:
        BodyError: empty body (unless ``allow_empty``), malformed JSON, a non-object top-level value, or a
            member whose JSON type does not fit its field.
    """
    try:
        text = body.decode("utf-8").lstrip(" \t\r\n")
    except UnicodeDecodeError as exc:
        raise BodyError("invalid UTF-8") from exc
    if not text:
        if allow_empty:
            return {}
        raise BodyError("EOF")
    try:
        value, _ = _DECODER.raw_decode(text)  # trailing data after the first value is never read
    except ValueError as exc:
        raise BodyError(str(exc)) from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BodyError("cannot unmarshal non-object into Go struct")
    folded = {tag.lower(): tag for tag in fields}
    out: dict[str, Any] = {}
    for key, member in value.items():
        tag = folded.get(key.lower())
        if tag is None:
            continue  # encoding/json ignores fields the struct does not have
        if member is None:
            out.pop(tag, None)
            continue
        if not _matches(member, fields[tag]):
            raise BodyError(f"cannot unmarshal into Go struct field .{tag}")
        out[tag] = member
    return out


def go_uuid(value: Any) -> str | None:
    """``uuid.Parse``: the lowercase canonical form, or None for anything Go would refuse."""
    if not isinstance(value, str):
        return None
    text = value
    if len(text) == 45 and text[:9].lower() == "urn:uuid:":
        text = text[9:]
    elif len(text) == 38 and text[0] == "{" and text[-1] == "}":
        text = text[1:-1]
    if _HYPHENATED.match(text):
        text = text.replace("-", "")
    elif not _HEX32.match(text):
        return None
    text = text.lower()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def go_atoi(value: str) -> int | None:
    """``strconv.Atoi``: optional sign and ASCII digits only (no spaces, no underscores), else None."""
    return int(value) if _ATOI.match(value) else None


def go_trim_space(value: str) -> str:
    """``strings.TrimSpace``: strip the characters ``unicode.IsSpace`` accepts from both ends."""
    return value.strip(_GO_SPACE)
