"""The one manifest loader: hostile and oversized YAML is refused with file and line before anything is applied."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitrollback import _yaml
from gitrollback.assets import expand_assets
from gitrollback.errors import AssetError
from gitrollback.settings import AssetLimits

LIMITS = {"max_documents": 1000, "max_nodes": 100_000, "max_depth": 64}
KUSTOMIZATION = b"resources:\n  - tasks/v1/a.yaml\n"

#: Nine anchors, each a list of nine aliases to the previous one: 9**9 strings, about 0.4 GB of JSON.
ALIAS_BOMB = (
    b"apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: bomb}\nspec:\n"
    + b"".join(
        [b'  a: &a ["x","x","x","x","x","x","x","x","x"]\n'],
    )
    + b"".join(
        f"  {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n".encode() for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
)


def load(data: bytes, **limits: int) -> list[Any]:
    """The values of every document, with the default limits unless overridden."""
    return [d.value for d in _yaml.load_manifest_documents(data, **{**LIMITS, **limits})]


def refusal(data: bytes, **limits: int) -> _yaml.YamlLimitError:
    """The limit error the loader raises for ``data``."""
    with pytest.raises(_yaml.YamlLimitError) as info:
        load(data, **limits)
    return info.value


def tree(task: bytes) -> dict[str, bytes]:
    """A one-file asset tree."""
    return {"kustomization.yaml": KUSTOMIZATION, "tasks/v1/a.yaml": task}


def test_alias_bomb_is_refused_by_counting_expanded_nodes() -> None:
    """An alias bomb is refused from its node graph, without expanding it, naming the line."""
    error = refusal(ALIAS_BOMB)
    assert error.kind == "nodes" and error.line == 1
    assert "490,329,074 nodes" in str(error)
    with pytest.raises(AssetError, match=r"tasks/v1/a\.yaml:1: the document expands to") as info:
        expand_assets(tree(ALIAS_BOMB))
    assert info.value.kind == "yaml_nodes"


def test_a_few_aliases_within_the_limit_load_expanded() -> None:
    """Aliases are allowed while the expansion stays within the limit; each use is a separate value."""
    docs = load(b"a: &x {k: [1, 2]}\nb: *x\n")
    assert docs == [{"a": {"k": [1, 2]}, "b": {"k": [1, 2]}}]
    assert docs[0]["a"] is not docs[0]["b"]
    assert refusal(b"a: &x {k: [1, 2]}\nb: *x\n", max_nodes=12).kind == "nodes"
    assert load(b"a: &x {k: [1, 2]}\nb: *x\n", max_nodes=13)


def test_an_alias_to_its_own_anchor_is_refused() -> None:
    """A recursive alias (a node containing itself) is refused, not looped over."""
    assert refusal(b"a: &x [1, *x]\n").kind == "recursive_alias"


def test_depth_and_document_count_limits() -> None:
    """Nesting beyond the depth limit and more documents than allowed are refused with the line."""
    assert load(b"a: {b: {c: 1}}\n", max_depth=4) == [{"a": {"b": {"c": 1}}}]
    error = refusal(b"a: {b: {c: 1}}\n", max_depth=3)
    assert error.kind == "depth" and "3" in str(error)
    error = refusal(b"a: 1\n---\nb: 2\n---\nc: 3\n", max_documents=2)
    assert error.kind == "documents" and error.line == 5


def test_libyaml_nesting_cap_is_a_syntax_error_not_a_crash() -> None:
    """Ten thousand nested brackets end as a YAML error, never a stack overflow."""
    with pytest.raises(_yaml.YamlSyntaxError, match="nesting depth"):
        load(b"[" * 10_000 + b"]" * 10_000)


@pytest.mark.parametrize(
    ("text", "kind", "line"),
    [
        (b"metadata:\n  name: a\n  name: b\n", "duplicate_key", 3),
        (b"a: !!binary aGVsbG8=\n", "tag", 1),
        (b"a: !!python/object:os.system {}\n", "tag", 1),
        (b"a: !custom x\n", "tag", 1),
        (b"a: !!set {x: null}\n", "tag", 1),
        (b"base: &b {x: 1}\nother:\n  <<: *b\n", "merge_key", 3),
        (b"a: 1\nb: .inf\n", "number", 2),
        (b"{[1]: x}\n", "key", 1),
        (b"a: 1\nb: caf\xe9\n", "encoding", 2),
        (b"\xff\xfea\x00:\x00", "encoding", 1),
    ],
)
def test_unsafe_yaml_is_refused_with_its_line(text: bytes, kind: str, line: int) -> None:
    """Duplicate keys, tags outside the core schema, merge keys, NaN/inf, complex keys and non-UTF-8 are refused."""
    error = refusal(text)
    assert (error.kind, error.line) == (kind, line)


def test_scalars_resolve_as_go_yaml_does() -> None:
    """YAML 1.1 booleans and octal numbers, timestamps kept as text, core tags honoured."""
    docs = load(b"a: yes\nb: 0755\nc: 2024-05-01\nd: !!str 10\ne: ~\nf: 1.5\n")
    assert docs == [{"a": True, "b": 493, "c": "2024-05-01", "d": "10", "e": None, "f": 1.5}]


def test_values_come_out_as_after_go_yamls_json_round_trip() -> None:
    """go-yaml v2's words and ParseInt forms, then JSON's float64: y is true, 1e5 and 1.0 are integers."""
    text = b"a: y\nb: N\nc: 1e5\nd: 1.0\ne: 0o17\nf: 0b101\ng: 1_000\nh: 1e400\ni: !!float 2\n3: key\nyes: bool key\n"
    assert load(text) == [
        {"a": True, "b": False, "c": 100000, "d": 1, "e": 15, "f": 5, "g": 1000, "h": "1e400", "i": 2}
        | {"3": "key", "true": "bool key"}
    ]
    assert type(load(b"a: 2.5\n")[0]["a"]) is float
    assert load(b"big: 9007199254740993\n") == [{"big": 9007199254740992}]  # float64 keeps 2**53 + 0
    with pytest.raises(_yaml.YamlSyntaxError, match="cannot decode"):
        load(b"a: !!int yes\n")


def test_documents_split_as_apimachinerys_reader_splits_them() -> None:
    """A line starting with --- ends a document (a comment may follow), text after it is refused, {} is kept."""
    text = b"# header\n---\n---\na: 1\n--- # next\n{}\n---\nb: 2\n...\nc: 3\n"
    docs = _yaml.load_manifest_documents(text, **LIMITS)
    assert [(d.value, d.line) for d in docs] == [({"a": 1}, 4), ({}, 6), ({"b": 2}, 8)]  # a part's first doc only
    with pytest.raises(_yaml.YamlSyntaxError, match="invalid document separator: -") as info:
        load(b"a: 1\n----\nb: 2\n")
    assert info.value.line == 2


def test_a_kustomization_is_one_document_as_unmarshal_reads_it() -> None:
    """load_manifest_value decodes the first document of the whole file, within the same limits."""
    found = _yaml.load_manifest_value(
        b"---\nresources: [a.yaml]\n---\nresources: [b.yaml]\n", max_nodes=99, max_depth=9
    )
    assert found is not None and found.value == {"resources": ["a.yaml"]} and found.line == 2
    assert _yaml.load_manifest_value(b"# nothing\n", max_nodes=99, max_depth=9) is None
    with pytest.raises(_yaml.YamlLimitError, match="duplicate key"):
        _yaml.load_manifest_value(b"resources: []\nresources: []\n", max_nodes=99, max_depth=9)


def test_oversized_file_and_tree_are_refused_before_parsing() -> None:
    """A file over the per-file limit, or listed files over the total, are refused naming the file."""
    big = b"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n# " + b"x" * 2000 + b"\n"
    with pytest.raises(AssetError, match=r"tasks/v1/a\.yaml is 2,0\d\d bytes, over the limit of 1,000") as info:
        expand_assets(tree(big), limits=AssetLimits(file_bytes=1000))
    assert info.value.kind == "file_too_large"
    with pytest.raises(AssetError, match="add up to") as info:
        expand_assets(tree(big), limits=AssetLimits(total_bytes=1500))
    assert info.value.kind == "tree_too_large"


def test_documents_are_limited_across_the_whole_tree(fixture_tree: dict[str, bytes]) -> None:
    """The real tree (26 objects) passes the default limits and fails a document limit of 25."""
    assert len(expand_assets(fixture_tree)) == 26
    with pytest.raises(AssetError, match="more than"):
        expand_assets(fixture_tree, limits=AssetLimits(documents=25))


def test_each_object_knows_its_file_and_line(fixture_tree: dict[str, bytes]) -> None:
    """Objects carry the file and the line their document starts on."""
    objs = {m.ref: m for m in expand_assets(fixture_tree)}
    assert objs["RoleBinding/tekton-history-cleanup"].where == "jobs/v1/tekton-history-cleanup-cronjob.yaml:18"
    assert objs["Task/git-clone"].where == "tasks/v1/git-clone-task.yaml:1"


def test_a_hostile_kustomization_is_refused_too() -> None:
    """kustomization.yaml goes through the same loader: an alias bomb there is refused."""
    files = {"kustomization.yaml": ALIAS_BOMB.replace(b"apiVersion", b"resources: []\nx")}
    with pytest.raises(AssetError, match=r"kustomization\.yaml:\d+: the document expands"):
        expand_assets(files)


# -- properties ------------------------------------------------------------------------------------------

_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20),
)
_KEY = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=10)
_JSON = st.recursive(
    _SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEY, inner, max_size=4), max_leaves=20
)


def _count(value: Any) -> int:
    """Nodes of a plain value as the loader counts them: one per scalar, list and dict, plus one per key."""
    if isinstance(value, list):
        return 1 + sum(_count(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(1 + _count(v) for v in value.values())
    return 1


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 1


class _GoSafeDumper(yaml.SafeDumper):
    """PyYAML's dumper, quoting the strings go-yaml v2 would read as something else where PyYAML would not.

    PyYAML leaves ``y``/``n`` and forms such as ``1e5`` or ``0o7`` plain, which go-yaml reads as a boolean or a
    number; quoting every string that starts like a number is more than needed, and enough.
    """


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if text in ("y", "Y", "n", "N") or text[:1] in tuple("+-.0123456789"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
    return dumper.represent_str(text)


_GoSafeDumper.add_representer(str, _represent_str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON, st.booleans())
def test_property_plain_values_round_trip(value: Any, block: bool) -> None:
    """Any JSON-like value written as JSON or as block YAML loads back equal, with exact node count and depth."""
    doc = {"root": value}
    dumped = yaml.dump(doc, Dumper=_GoSafeDumper, allow_unicode=True)
    text = dumped if block else json.dumps(doc, ensure_ascii=False)
    assert load(text.encode("utf-8")) == [doc]
    nodes, depth = _count(doc), _depth(doc)
    assert load(text.encode("utf-8"), max_nodes=nodes, max_depth=depth) == [doc]
    assert refusal(text.encode("utf-8"), max_nodes=nodes - 1).kind == "nodes"
    assert refusal(text.encode("utf-8"), max_depth=depth - 1).kind == "depth"


@settings(max_examples=40, deadline=None)
@given(_JSON, st.integers(min_value=1, max_value=6))
def test_property_aliases_count_as_their_expansion(anchored: Any, uses: int) -> None:
    """A document that uses an anchor ``uses`` times counts exactly like the same document written out in full."""
    aliased = "a: &x " + json.dumps(anchored, ensure_ascii=False) + "\nb: [" + ", ".join(["*x"] * uses) + "]\n"
    expanded = {"a": anchored, "b": [anchored] * uses}
    assert load(aliased.encode()) == [expanded]
    assert load(aliased.encode(), max_nodes=_count(expanded)) == [expanded]
    assert refusal(aliased.encode(), max_nodes=_count(expanded) - 1).kind == "nodes"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_property_arbitrary_bytes_load_or_are_refused_cleanly(data: bytes) -> None:
    """Whatever the bytes, the loader returns documents or raises YamlSyntaxError, nothing else."""
    with contextlib.suppress(_yaml.YamlSyntaxError):
        load(data)


_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["tasks/v1", "pipelines/v1", "jobs/v1"]), _NAME), min_size=1, max_size=6),
    st.lists(st.integers(min_value=1, max_value=3), min_size=6, max_size=6),
    st.sampled_from(["v1", "v2", " V2 "]),
)
def test_property_resources_list_expansion(entries: list[tuple[str, str]], docs: list[int], profile: str) -> None:
    """Objects come out in resources-list order, one per document, with their (profile-rewritten) file and line."""
    files: dict[str, bytes] = {}
    listed: list[str] = []
    expected: list[tuple[str, str, int]] = []
    version = profile.strip().lower()
    for index, (folder, stem) in enumerate(dict.fromkeys(entries)):
        path = f"{folder}/{stem}.yaml"
        listed.append(path)
        target = path.replace("/v1/", f"/{version}/") if folder != "jobs/v1" else path
        text = ""
        for n in range(docs[index]):
            line = text.count("\n") + 1 + (1 if n else 0)
            text += ("---\n" if n else "") + f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {stem}-{n}\n"
            expected.append((f"{stem}-{n}", target, line))
        files[path] = text.encode()
        files[target] = text.encode()
    files["kustomization.yaml"] = ("resources:\n" + "".join(f"  - ./{p}\n" for p in listed)).encode()
    manifests = expand_assets(files, profile)
    assert [(m.name, m.source_file, m.line) for m in manifests] == expected


# -- the decode cache --------------------------------------------------------------------------------------------

CACHED = (
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: [1, yes, 0755, '2']\n"
    b"---\n{}\n---\nb: &x {c: 1}\nd: *x\n"
)


def test_cached_decode_equals_a_fresh_one_and_each_caller_gets_its_own_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second decode of the same bytes and limits is served from the cache: same values and lines as an uncached
    decode, and changing one caller's values changes neither the cache nor another caller's."""
    _yaml.clear_manifest_cache()
    fresh = _yaml._documents(CACHED, split=True, **LIMITS)
    first = _yaml.load_manifest_documents(CACHED, **LIMITS)
    calls: list[bytes] = []
    real = _yaml._documents
    monkeypatch.setattr(_yaml, "_documents", lambda data, **kw: calls.append(data) or real(data, **kw))
    second = _yaml.load_manifest_documents(bytearray(CACHED), **LIMITS)  # equal bytes, another object
    assert calls == []  # served from the cache
    assert first == second == fresh
    first[0].value["data"]["k"].append("changed")
    second[2].value["b"]["c"] = 2
    third = _yaml.load_manifest_documents(CACHED, **LIMITS)
    assert third == fresh
    assert third[2].value["b"] is not third[2].value["d"]  # an alias is built twice, as an uncached decode builds it
    # other limits are another key: decoded again (and refused by their own rule)
    with pytest.raises(_yaml.YamlLimitError) as info:
        _yaml.load_manifest_documents(CACHED, **{**LIMITS, "max_nodes": 3})
    assert info.value.kind == "nodes"
    assert calls == [CACHED]


def test_refusals_are_not_cached_and_raise_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused file is decoded (and refused) again on every call, with the same error."""
    _yaml.clear_manifest_cache()
    bad = b"a: 1\na: 2\n"
    calls: list[bytes] = []
    real = _yaml._documents
    monkeypatch.setattr(_yaml, "_documents", lambda data, **kw: calls.append(data) or real(data, **kw))
    for _ in range(2):
        with pytest.raises(_yaml.YamlLimitError) as info:
            _yaml.load_manifest_documents(bad, **LIMITS)
        assert info.value.kind == "duplicate_key"
    assert calls == [bad, bad]


def test_the_cache_stays_within_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Least recently used entries go first, by count and by the bytes keyed on; a file over the byte bound is
    decoded but not kept."""
    _yaml.clear_manifest_cache()
    monkeypatch.setattr(_yaml, "_CACHE_ENTRIES", 2)
    monkeypatch.setattr(_yaml, "_CACHE_BYTES", 20)
    for name in (b"a", b"b", b"c"):
        _yaml.load_manifest_documents(b"k: " + name + b"\n", **LIMITS)
    assert [key[0] for key in _yaml._cache.entries] == [b"k: b\n", b"k: c\n"]
    assert _yaml.load_manifest_documents(b"k: " + b"x" * 30 + b"\n", **LIMITS)[0].value == {"k": "x" * 30}
    assert [key[0] for key in _yaml._cache.entries] == [b"k: b\n", b"k: c\n"]
    assert _yaml._cache.size == 10
    _yaml.clear_manifest_cache()


def test_load_keeps_recent_texts_and_hands_out_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load`` (gitrollback's own files: config, kubeconfig) answers a text it loaded before without parsing it
    again; each caller's value is its own; errors are raised every time; str and bytes are separate keys."""
    _yaml.clear_manifest_cache()
    text = "clusters:\n- name: a\n  cluster: {server: 'https://x', insecure-skip-tls-verify: true}\nwhen: 2026-01-02\n"
    fresh = _yaml.load(text)
    parsed: list[object] = []
    real = _yaml._loader
    monkeypatch.setattr(_yaml, "_loader", lambda: parsed.append(1) or real())
    first = _yaml.load(text)
    assert parsed == [] and first == fresh
    first["clusters"][0]["cluster"]["server"] = "changed"
    assert _yaml.load(text) == fresh
    assert _yaml.load(text.encode()) == fresh and parsed == [1]  # bytes: another key, parsed once
    for _ in range(2):
        with pytest.raises(_yaml.YamlSyntaxError):
            _yaml.load("a: [1\n")
    assert len(parsed) == 3
    _yaml.clear_manifest_cache()
