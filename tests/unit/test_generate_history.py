"""The benchmark history generator at a tiny size: the shape it promises, its expected answer, determinism."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from benchmarks.generate_history import ASSET_PATHS, GeneratedHistory, generate_history, main
from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.known_good import find_known_good

COMMITS, TAG_EVERY, SEED = 80, 10, 7


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(name="history", scope="module")
def _history(tmp_path_factory: pytest.TempPathFactory) -> GeneratedHistory:
    """A tiny generated history shared by the module."""
    return generate_history(tmp_path_factory.mktemp("gen") / "repo", commits=COMMITS, seed=SEED, tag_every=TAG_EVERY)


def test_first_parent_count_merges_and_tags(history: GeneratedHistory) -> None:
    """main has exactly the requested first-parent commits, real merges of side commits, and a tag every N."""
    repo = history.path
    assert int(git(repo, "rev-list", "--first-parent", "--count", "main")) == COMMITS == history.commits
    merges = git(repo, "rev-list", "--first-parent", "--merges", "main").split()
    assert len(merges) == history.merges > 0
    assert history.total_commits == int(git(repo, "rev-list", "--count", "main")) > COMMITS
    assert git(repo, "for-each-ref", "--format=%(objecttype)", "refs/tags/").split() == ["tag"] * (COMMITS // TAG_EVERY)
    assert history.tags == COMMITS // TAG_EVERY
    assert git(repo, "for-each-ref", "--format=%(refname)").split() == sorted(
        ["refs/heads/main", *(f"refs/tags/v1.{n}.0" for n in range(1, history.tags + 1))]
    )
    assert git(repo, "status", "--porcelain") == ""


def test_asset_folders_and_move(history: GeneratedHistory) -> None:
    """The three asset folders exist at the tip, and tekton/ was moved to backend/tekton/ unchanged in one commit."""
    repo, moved = history.path, history.moved
    for path in ASSET_PATHS:
        assert git(repo, "cat-file", "-t", f"main:{path}") == "tree"
    assert git(repo, "rev-parse", f"{moved}^:tekton") == git(repo, "rev-parse", f"{moved}:backend/tekton")
    assert git(repo, "ls-tree", "--name-only", moved, "tekton") == ""
    assert git(repo, "ls-tree", "--name-only", f"{moved}^", "backend") == ""
    names = git(repo, "-c", "core.quotePath=false", "ls-tree", "-r", "--name-only", "main", "docs").splitlines()
    assert "docs/runbooks/übersicht.md" in names


def test_bad_change_and_expected_known_good(history: GeneratedHistory) -> None:
    """The bad commit is the newest backend/tekton change, its first parent is the expected known-good commit."""
    repo = history.path
    changes = git(repo, "rev-list", "--first-parent", "main", "--", "backend/tekton").split()
    assert changes[:2] == [history.bad, history.expected_known_good]
    assert git(repo, "rev-parse", f"{history.bad}^1") == history.expected_known_good
    assert git(repo, "rev-parse", f"{history.expected_known_good}:backend/tekton") == history.expected_tree
    assert git(repo, "rev-parse", "main:backend/tekton") == history.bad_tree != history.expected_tree
    after = git(repo, "rev-list", "--first-parent", f"{history.bad}..main").split()
    assert 3 <= len(after) <= 5 and after[0] == history.tip
    assert git(repo, "diff", "--name-only", history.bad, "main", "--", *ASSET_PATHS) == ""
    assert git(repo, "diff", "--name-only", history.bad, "main") != ""


def test_resolver_agrees(history: GeneratedHistory) -> None:
    """gitrollback's resolver finds the generator's expected known-good commit and tree."""
    with GitAssetSource(str(history.path)) as source:
        known = find_known_good(source, branch=history.branch, paths=[history.bad_path])
    assert (known.revision, dict(known.trees)) == (
        history.expected_known_good,
        {"backend/tekton": history.expected_tree},
    )


def test_deterministic_by_seed(history: GeneratedHistory, tmp_path: Path) -> None:
    """The same seed gives the same commit ids, another seed a different history."""
    again = generate_history(tmp_path / "same", commits=COMMITS, seed=SEED, tag_every=TAG_EVERY)
    other = generate_history(tmp_path / "other", commits=COMMITS, seed=SEED + 1, tag_every=TAG_EVERY)
    assert (again.tip, again.expected_known_good, again.moved) == (
        history.tip,
        history.expected_known_good,
        history.moved,
    )
    assert other.tip != history.tip


def test_refuses_existing_path_and_tiny_sizes(tmp_path: Path) -> None:
    """A non-empty target is refused unless forced, and fewer than 20 commits is refused."""
    (tmp_path / "keep.txt").write_text("mine\n")
    with pytest.raises(ValueError, match="not empty"):
        generate_history(tmp_path, commits=20)
    assert (tmp_path / "keep.txt").read_text() == "mine\n"
    with pytest.raises(ValueError, match="at least 20"):
        generate_history(tmp_path / "new", commits=19)
    forced = generate_history(tmp_path, commits=20, force=True, commit_graph=True)
    assert not (tmp_path / "keep.txt").exists()
    assert (forced.path / ".git" / "objects" / "info" / "commit-graph").is_file()


def test_cli_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI prints the path, branch and expected known-good commit as JSON, and exits 2 on a refusal."""
    assert main([str(tmp_path / "cli"), "--commits", "25", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == str(tmp_path / "cli") and out["branch"] == "main" and out["commits"] == 25
    assert out["expected_known_good"] == git(tmp_path / "cli", "rev-parse", f"{out['bad']}^")
    assert main([str(tmp_path / "cli"), "--commits", "25"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_stable_for_puts_the_known_good_change_far_back(tmp_path: Path) -> None:
    """With stable_for, backend/tekton stays untouched that many commits before the bad one; the resolver agrees."""
    deep = generate_history(tmp_path / "deep", commits=COMMITS, seed=SEED, stable_for=30)
    repo = deep.path
    changes = git(repo, "rev-list", "--first-parent", "main", "--", "backend/tekton").split()
    assert changes[:2] == [deep.bad, deep.expected_known_good]
    assert int(git(repo, "rev-list", "--first-parent", "--count", f"{deep.expected_known_good}..{deep.bad}")) >= 30
    assert deep.bad_parent != deep.expected_known_good
    assert git(repo, "rev-parse", f"{deep.bad_parent}:backend/tekton") == deep.expected_tree
    with GitAssetSource(str(repo)) as source:
        known = find_known_good(source, branch="main", paths=["backend/tekton"])
    assert known.revision == deep.expected_known_good
    with pytest.raises(ValueError, match="stable_for"):
        generate_history(tmp_path / "too-deep", commits=COMMITS, stable_for=COMMITS // 2 + 10)
