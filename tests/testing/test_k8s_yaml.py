"""The simulators' YAML reader decodes as the Go libraries do, beyond what the golden table covers.

The golden table (``tests/golden/installer_cases.yaml``) pins how Image Factory's installer reads asset files; these
tests pin the rest: go-yaml v2's own test tables (kubernetes-sigs/yaml ``goyaml.v2/decode_test.go``,
``unmarshalTests`` and ``unmarshalErrorTests``), the JSON-or-YAML stream, and the callers' entry points.
"""

from __future__ import annotations

import pytest

from gitrollback.testing._k8s_yaml import (
    GoDecodeError,
    decode_manifest_stream,
    iter_manifest_stream,
    unmarshal,
    unmarshal_resources_list,
)

#: go-yaml v2 decode_test.go ``unmarshalErrorTests`` (the rows whose text does not depend on Go's type names),
#: each as ``Unmarshal`` into ``interface{}`` reports it
GO_YAML_ERRORS = [
    ("v: !!float 'error'", "yaml: cannot decode !!str `error` as a !!float"),
    ("v: [A,", "yaml: line 1: did not find expected node content"),
    ("v:\n- [A,", "yaml: line 2: did not find expected node content"),
    ("a:\n- b: *,", "yaml: line 2: did not find expected alphabetic or numeric character"),
    ("a: *b\n", "yaml: unknown anchor 'b' referenced"),
    ("a: &x null\n<<:\n- *x\nb: &x {}\n", "yaml: map merge requires map or sequence of maps as the value"),
    ("value: -", "yaml: block sequence entries are not allowed in this context"),
    ("a: !!binary ==", "yaml: !!binary value contains invalid base64 data"),
    ("{[.]}", 'yaml: invalid map key: []interface {}{"."}'),
    ("{{.}}", 'yaml: invalid map key: map[interface {}]interface {}{".":interface {}(nil)}'),
    ("b: *a\na: &a {c: 1}", "yaml: unknown anchor 'a' referenced"),
    ("%TAG !%79! tag:yaml.org,2002:\n---\nv: !%79!int '1'", "yaml: did not find expected whitespace"),
    ("a:\n  1:\nb\n  2:", "yaml: line 4: could not find expected ':'"),
]

#: go-yaml v2 decode_test.go ``unmarshalTests`` into ``interface{}``, after sigs.k8s.io/yaml's JSON step
GO_YAML_VALUES = [
    ("canonical: y", {"canonical": True}),
    ("answer: NO", {"answer": False}),
    ("option: on", {"option": True}),
    ("v: 0b10", {"v": 2}),
    ("v: 0xA", {"v": 10}),
    ("octal: 02472256", {"octal": 685230}),
    ("hexa: 0x_0A_74_AE", {"hexa": 685230}),
    ("bin: -0b101010", {"bin": -42}),
    ("decimal: +685_230", {"decimal": 685230}),
    ("expo: 685.230_15e+03", {"expo": 685230.15}),
    ("a: 123456e1\n", {"a": 1234560}),
    ("v: .1", {"v": 0.1}),
    ("a: 1:1\n", {"a": "1:1"}),  # base 60 is not supported
    ("a: 2015-01-01", {"a": "2015-01-01"}),  # a timestamp into interface{} stays its text
    ("v: !!float 0", {"v": 0}),  # float64(0), an integral number once it is JSON
    ("v: ! test", {"v": "test"}),
    ("a: !!binary gIGC\n", {"a": "\ufffd\ufffd\ufffd"}),  # the bytes 80 81 82, not UTF-8 in JSON
    ("a: -b_c", {"a": "-b_c"}),
    ("a: {b: https://github.com/go-yaml/yaml}", {"a": {"b": "https://github.com/go-yaml/yaml"}}),
    ("---\nhello\n...\n}not yaml", "hello"),  # only the first document is read
]


@pytest.mark.parametrize(("text", "error"), GO_YAML_ERRORS, ids=[t for t, _ in GO_YAML_ERRORS])
def test_errors_read_as_go_yaml_reports_them(text: str, error: str) -> None:
    """A document go-yaml refuses fails with go-yaml's text (its problem wording and line rule) in sigs.k8s.io/yaml's
    frame."""
    with pytest.raises(GoDecodeError) as info:
        unmarshal(text)
    assert str(info.value) == f"error converting YAML to JSON: {error}"


@pytest.mark.parametrize(("text", "value"), GO_YAML_VALUES, ids=[t for t, _ in GO_YAML_VALUES])
def test_values_resolve_as_go_yaml_resolves_them(text: str, value: object) -> None:
    """YAML 1.1 scalars as go-yaml v2 resolves them (``y`` is true, ``1:1`` a string, ``123456e1`` a number)."""
    assert unmarshal(text) == value


def test_a_stream_is_read_lazily_up_to_its_first_bad_document() -> None:
    """``iter_manifest_stream`` yields the documents before a bad one, then raises (Argo CD tells those apart)."""
    stream = iter_manifest_stream(b"kind: A\n---\n\n---\nkind: [\n")
    assert next(stream) == {"kind": "A"}
    assert next(stream) is None  # an empty document
    with pytest.raises(GoDecodeError, match="did not find expected node content"):
        next(stream)


def test_a_json_stream_holds_several_objects_and_may_continue_as_yaml() -> None:
    """Concatenated JSON objects are separate documents; after one object the decoder switches to YAML."""
    assert decode_manifest_stream(b'{"kind": "A"}\n{"kind": "B"}') == [{"kind": "A"}, {"kind": "B"}]
    assert decode_manifest_stream(b'{"kind": "A"}\n---\nkind: B\n') == [{"kind": "A"}, {"kind": "B"}]


def test_after_two_json_objects_an_error_is_final() -> None:
    """With more than one JSON object decoded, a bad value fails the stream instead of switching to YAML."""
    with pytest.raises(GoDecodeError):
        decode_manifest_stream(b'{"kind": "A"}{"kind": "B"}\nkind: C\n')


def test_keys_resolve_like_values() -> None:
    """go-yaml v2 resolves plain keys too, so `y:` and `off:` become the JSON keys "true" and "false"."""
    assert decode_manifest_stream(b"y: 1\noff: 2\n10: 3\n") == [{"true": 1, "false": 2, "10": 3}]


def test_merge_sequence_prefers_the_earlier_map() -> None:
    """In `<<: [*a, *b]` the maps are merged last to first, so the first one wins."""
    text = b"a: &a {x: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n"
    assert decode_manifest_stream(text)[0]["c"] == {"x": 1, "z": 2}


def test_values_json_cannot_carry_are_refused() -> None:
    """A NaN fails where json.Marshal fails, with its error text."""
    with pytest.raises(GoDecodeError, match="json: unsupported value: NaN"):
        decode_manifest_stream(b"kind: A\nratio: .nan\n")


def test_resources_entries_become_strings_and_maps_are_refused() -> None:
    """Scalars in `resources:` are converted to strings; a mapping entry is a JSON type error."""
    assert unmarshal_resources_list(b"resources: [a.yaml, 7, true, ~]\n") == ["a.yaml", "7", "true", ""]
    with pytest.raises(GoDecodeError, match=r"into Go struct field tektonKustomization\.Resources of type string"):
        unmarshal_resources_list(b"resources:\n  - path: a.yaml\n")
