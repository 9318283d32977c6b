"""The simulator decodes asset files as Image Factory's Go libraries do, beyond what the golden table covers."""

from __future__ import annotations

import pytest

from gitrollback.testing.imagefactory.goyaml import GoDecodeError, decode_manifest_stream, unmarshal_resources_list


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
