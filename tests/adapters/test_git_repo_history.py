"""GitAssetSource's streamed history questions on real repositories: path walks, tags, ancestry, shallow clones."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitrollback.adapters._git_history import build_path_commits, parse_path_log, split_nul
from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.errors import GitError
from gitrollback.known_good import Ancestry, HistoryWalker, MoveDetector, ShallowClone, TagLister
from gitrollback.testing.repos import CommitSpec, make_repo, run_git

FILE_ENV = {"GIT_ALLOW_PROTOCOL": "file"}


def _tree(repo: Path, rev: str, path: str) -> str | None:
    try:
        return run_git(repo, "rev-parse", f"{rev}:{path}")
    except RuntimeError:
        return None


@pytest.fixture(name="history")
def _history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """main: add, change, unrelated, a merged side branch, a rollback commit with trailers, a hand-made revert."""
    repo = tmp_path / "repo"
    shas = make_repo(
        repo,
        [
            CommitSpec("add assets", files={"assets/t.yaml": "v: 1\n", "README": "r"}, tag="v1"),
            CommitSpec("change assets", files={"assets/t.yaml": "v: 2\n"}),
            CommitSpec("docs only", files={"README": "r2"}, label="docs"),
        ],
    )
    side = make_repo(repo, [CommitSpec("side change", files={"assets/s.yaml": "s: 1\n"})], branch="feature")
    main = make_repo(
        repo,
        [
            CommitSpec("Merge feature", merge="feature", label="merge"),
            CommitSpec("Roll back assets", files={"assets/t.yaml": "v: 1\n"}, label="rollback"),
            CommitSpec(
                f'Revert "change"\n\nThis reverts commit {shas["c2"]}.',
                files={"assets/t.yaml": "v: 3\n"},
                label="revert",
            ),
        ],
    )
    return repo, {**shas, **{f"side-{k}": v for k, v in side.items()}, **main}


@pytest.fixture(name="src")
def _src(history: tuple[Path, dict[str, str]]) -> Iterator[GitAssetSource]:
    """A GitAssetSource on the history fixture."""
    with GitAssetSource(str(history[0])) as source:
        yield source


def test_capabilities_are_declared(src: GitAssetSource) -> None:
    """GitAssetSource offers every optional capability the known-good search looks for."""
    for capability in (HistoryWalker, TagLister, Ancestry, MoveDetector, ShallowClone):
        assert isinstance(src, capability)


def test_walk_gives_first_parent_path_commits_with_exact_trees(
    history: tuple[Path, dict[str, str]], src: GitAssetSource
) -> None:
    """Each commit carries the path's tree ids before and after it, exactly as git rev-parse reports them."""
    repo, shas = history
    with contextlib.closing(src.walk_path_history("main", ["assets"])) as walk:
        commits = list(walk)
    assert [c.sha for c in commits] == [shas["revert"], shas["rollback"], shas["merge"], shas["c2"], shas["c1"]]
    for commit in commits:
        assert commit.after == {"assets": _tree(repo, commit.sha, "assets")}
        expected_before = _tree(repo, f"{commit.sha}^1", "assets") if commit.parents else None
        assert commit.before == {"assets": expected_before}
    assert commits[2].info.summary == "Merge feature" and len(commits[2].parents) == 2
    assert commits[-1].before == {"assets": None} and commits[-1].info.tags == ("v1",)
    assert commits[0].reverts == (shas["c2"],)


def test_walk_reads_gitrollback_trailers(tmp_path: Path) -> None:
    """Rollback-Of, Rollback-To and Provider trailers are read with git's own trailer parser."""
    good = "a" * 40
    message = f"Roll back assets\n\nBody text.\n\nRollback-Of: {'b' * 40}\nRollback-To: {good}\nProvider: p-1\n"
    make_repo(tmp_path, [CommitSpec("one", files={"a/f": "1"}), CommitSpec(message, files={"a/f": "0"})])
    with GitAssetSource(str(tmp_path)) as src, contextlib.closing(src.walk_path_history("main", ["a"])) as walk:
        newest = next(walk)
    assert newest.trailers == {"Rollback-Of": ("b" * 40,), "Rollback-To": (good,), "Provider": ("p-1",)}
    assert newest.info.summary == "Roll back assets"


def test_walk_several_paths_root_and_non_ascii(tmp_path: Path) -> None:
    """Several paths (one non-ASCII, one a file, the root) get their own exact trees in one walk."""
    make_repo(
        tmp_path,
        [
            CommitSpec("one", files={"tâches/é tape.yaml": "a: 1\n", "jobs/j.yaml": "j: 1\n"}),
            CommitSpec("two", files={"jobs/j.yaml": "j: 2\n"}),
            CommitSpec("three", files={"other": "x"}),
            CommitSpec("four", files={"tâches/é tape.yaml": "a: 2\n"}),
        ],
    )
    paths = ["tâches", "jobs/j.yaml", ""]
    with GitAssetSource(str(tmp_path)) as src, contextlib.closing(src.walk_path_history("main", paths)) as walk:
        commits = list(walk)
    assert [c.info.summary for c in commits] == ["four", "three", "two", "one"]
    for commit in commits:
        assert commit.after == {p: _tree(tmp_path, commit.sha, p) for p in paths}
        parent = f"{commit.sha}^1"
        assert commit.before == {p: _tree(tmp_path, parent, p) if commit.parents else None for p in paths}


def test_early_stop_ends_the_git_process(src: GitAssetSource) -> None:
    """Closing a walk after one commit kills git instead of reading the rest (no ResourceWarning either)."""
    walk = src.walk_path_history("main", ["assets"])
    first = next(walk)
    walk.close()
    assert first.info.summary.startswith("Revert")
    commits = src.walk_first_parent("main")
    assert next(commits).summary.startswith("Revert")
    commits.close()


def test_walk_first_parent_and_max_count(history: tuple[Path, dict[str, str]], src: GitAssetSource) -> None:
    """walk_first_parent lists every first-parent commit; max_count caps the path walk."""
    _, shas = history
    order = ("revert", "rollback", "merge", "docs", "c2", "c1")
    assert [i.sha for i in src.walk_first_parent("main")] == [shas[k] for k in order]
    assert shas["side-c1"] not in {i.sha for i in src.walk_first_parent("main")}
    with contextlib.closing(src.walk_path_history("main", ["assets"], max_count=2)) as walk:
        assert len(list(walk)) == 2


def test_list_tags_with_relations(history: tuple[Path, dict[str, str]], src: GitAssetSource) -> None:
    """list_tags peels annotated tags and says where each target sits relative to a revision."""
    repo, shas = history
    run_git(repo, "tag", "light", shas["c2"])
    run_git(repo, "tag", "-a", "vside", "-m", "side release", shas["side-c1"])
    run_git(repo, "tag", "-a", "vtip", "-m", "tip release", shas["revert"])
    tags = {t.name: t for t in src.list_tags("v*", relative_to=shas["merge"])}
    assert set(tags) == {"v1", "vside", "vtip"}
    assert (tags["v1"].target, tags["v1"].relation, tags["v1"].annotated) == (shas["c1"], "ancestor", True)
    assert tags["v1"].message.startswith("Release v1")
    assert tags["vside"].relation == "ancestor"  # merged into main by the merge commit
    assert tags["vtip"].relation == "descendant"
    assert {t.name: t.relation for t in src.list_tags("light", relative_to=shas["c2"])} == {"light": "same"}
    assert src.list_tags("nothing-*") == []


def test_is_ancestor(history: tuple[Path, dict[str, str]], src: GitAssetSource) -> None:
    """is_ancestor follows all parents and is reflexive; unknown revisions are GitErrors."""
    _, shas = history
    assert src.is_ancestor(shas["c1"], "main") and src.is_ancestor("main", "main")
    assert src.is_ancestor(shas["side-c1"], "main")
    assert not src.is_ancestor("main", shas["c1"])
    with pytest.raises(GitError):
        src.is_ancestor("nope", "main")


def test_moved_from_detects_a_folder_move(tmp_path: Path) -> None:
    """moved_from names the folder a commit moved the asset path from, and None for a plain add."""
    shas = make_repo(
        tmp_path,
        [
            CommitSpec("add", files={"tekton/a.yaml": "a: 1\n", "tekton/sub/b.yaml": "b: 1\n"}),
            CommitSpec(
                "move",
                files={"backend/tekton/a.yaml": "a: 1\n", "backend/tekton/sub/b.yaml": "b: 1\n"},
                delete=("tekton",),
            ),
            CommitSpec("add other", files={"other/x.yaml": "x: 1\n"}),
        ],
    )
    with GitAssetSource(str(tmp_path)) as src:
        assert src.moved_from(shas["c2"], "backend/tekton") == "tekton"
        assert src.moved_from(shas["c3"], "other") is None
        assert src.moved_from(shas["c1"], "tekton") is None  # a root commit has nothing to move from


def test_shallow_clone_is_detected_and_deepened(tmp_path: Path) -> None:
    """A depth-1 managed clone is shallow, its walk marks the edge, and deepen() fetches the rest."""
    upstream = tmp_path / "upstream"
    shas = make_repo(upstream, [CommitSpec(f"c{i}", files={"a/f": f"{i}\n"}) for i in range(1, 5)])
    with GitAssetSource(upstream.as_uri(), cache_dir=tmp_path / "cache", env=FILE_ENV, depth=1) as src:
        assert src.is_shallow() and src.can_deepen()
        with contextlib.closing(src.walk_path_history("main", ["a"])) as walk:
            commits = list(walk)
        assert [c.sha for c in commits] == [shas["c4"]]
        assert commits[0].boundary and commits[0].before == {}
        src.deepen(1)
        with contextlib.closing(src.walk_path_history("main", ["a"])) as walk:
            assert [c.sha for c in walk] == [shas["c4"], shas["c3"]]
        src.deepen()
        assert not src.is_shallow()
        with contextlib.closing(src.walk_path_history("main", ["a"])) as walk:
            assert len(list(walk)) == 4


def test_local_repositories_are_never_deepened(tmp_path: Path) -> None:
    """deepen() on a local path refuses: gitrollback does not fetch into a user's repository."""
    make_repo(tmp_path / "wt", [CommitSpec("one", files={"a/f": "1"})])
    with GitAssetSource(str(tmp_path / "wt")) as src:
        assert not src.can_deepen() and not src.is_shallow()
        with pytest.raises(GitError, match="does not fetch into it") as caught:
            src.deepen()
    assert caught.value.hint and "unshallow" in caught.value.hint


def test_parser_handles_type_changes_and_chunk_boundaries() -> None:
    """A file replaced by a folder of the same name keeps both ids, whatever the chunk boundaries."""
    zero, old, new = "0" * 40, "1" * 40, "2" * 40
    header = "\x1e" + "\x1f".join(["c" * 40, "p" * 40, "t" * 40, "1700000000", "A", "tag: v1", "subject", "", "body"])
    stream = (
        f"{header}\0\n:100644 000000 {old} {zero} D\0assets\0:000000 040000 {zero} {new} A\0assets\0"
        f":000000 100644 {zero} {'3' * 40} A\0assets/x\0"
    ).encode()
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    raw = list(parse_path_log(split_nul(chunks), ["assets"]))
    assert len(raw) == 1 and raw[0].changes == {"assets": (old, new)}
    assert raw[0].info.tags == ("v1",) and raw[0].info.committed_at == datetime.fromtimestamp(1700000000, UTC)
    built = list(build_path_commits(raw, ["assets"], {"assets": new}, shallow=frozenset(), parent_root=lambda _: None))
    assert built[0].before == {"assets": old} and built[0].after == {"assets": new}
