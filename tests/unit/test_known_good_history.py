"""The git-history rule and its guards on real histories: reverts, rollbacks, merges, squashes, moves, shallows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.errors import PreconditionFailedError
from gitrollback.known_good import find_known_good
from gitrollback.testing.repos import CommitSpec, make_repo, run_git

FILE_ENV = {"GIT_ALLOW_PROTOCOL": "file"}


@pytest.fixture(name="open_source")
def _open_source() -> Iterator[object]:
    """Opens GitAssetSources on paths and closes them after the test."""
    opened: list[GitAssetSource] = []

    def open_source(path: Path) -> GitAssetSource:
        opened.append(GitAssetSource(str(path)))
        return opened[-1]

    yield open_source
    for source in opened:
        source.close()


def _v(n: object) -> dict[str, str]:
    return {"assets/t.yaml": f"v: {n}\n"}


def _rollback_message(bad: str, good: str) -> str:
    return f"Roll back assets to {good[:12]} (provider p1)\n\nMade by gitrollback.\n\n" + (
        f"Rollback-Of: {bad}\nRollback-To: {good}\nProvider: p1\nRollback-Strategy: restore\n"
    )


def test_hand_made_revert_in_history_is_the_known_good_state(tmp_path: Path, open_source) -> None:
    """v2 broke, was reverted by hand, v3 broke again: the revert commit (v1 content) is the known-good state."""
    shas = make_repo(tmp_path, [CommitSpec("v1", files=_v(1)), CommitSpec("v2", files=_v(2))])
    more = make_repo(
        tmp_path,
        [
            CommitSpec(f'Revert "v2"\n\nThis reverts commit {shas["c2"]}.', files=_v(1), label="revert"),
            CommitSpec("v3", files=_v(3), label="v3"),
        ],
    )
    known = find_known_good(open_source(tmp_path), branch="main", paths=["assets"])
    assert (known.revision, known.bad_revision, known.source) == (more["revert"], more["v3"], "git-history")
    assert [r.revision for r in known.rejected] == [more["v3"]]


def test_revert_as_the_bad_change_answers_the_state_it_replaced(tmp_path: Path, open_source) -> None:
    """When the failing change reverts an older commit, the state just before it wins: later work is kept."""
    shas = make_repo(
        tmp_path,
        [
            CommitSpec("base", files={"assets/a.yaml": "a: 0\n", "assets/b.yaml": "b: 0\n"}),
            CommitSpec("change a", files={"assets/a.yaml": "a: 1\n"}),
            CommitSpec("change b", files={"assets/b.yaml": "b: 1\n"}),
        ],
    )
    message = f'Revert "change a"\n\nThis reverts commit {shas["c2"]}.'
    revert = make_repo(tmp_path, [CommitSpec(message, files={"assets/a.yaml": "a: 0\n"})])
    known = find_known_good(open_source(tmp_path), branch="main", paths=["assets"])
    assert (known.revision, known.bad_revision) == (shas["c3"], revert["c1"])
    assert [r.revision for r in known.rejected] == [revert["c1"]]
    assert len(known.warnings) == 1 and f"re-applies {shas['c2'][:7]} 'change a'" in known.warnings[0]


def test_clean_revert_as_the_bad_change_answers_the_reverted_state(tmp_path: Path, open_source) -> None:
    """A failing clean revert of the last change: the state it replaced is the answer, with a warning."""
    shas = make_repo(tmp_path, [CommitSpec("v1", files=_v(1)), CommitSpec("v2", files=_v(2))])
    revert = make_repo(tmp_path, [CommitSpec(f'Revert "v2"\n\nThis reverts commit {shas["c2"]}.', files=_v(1))])
    known = find_known_good(open_source(tmp_path), branch="main", paths=["assets"])
    assert (known.revision, known.bad_revision) == (shas["c2"], revert["c1"])
    assert known.warnings == (
        f"{revert['c1'][:7]} 'Revert \"v2\"' reverts {shas['c2'][:7]} 'v2': rolling back to the state before it "
        f"({shas['c2'][:7]} 'v2') re-applies {shas['c2'][:7]} 'v2', which that revert undid",
    )


@pytest.mark.parametrize("how", ["trailers", "merge-commit", "squash"])
def test_gitrollback_rollback_as_the_bad_change(tmp_path: Path, open_source, how: str) -> None:
    """gitrollback's own rollback (direct, merged PR or squash) at the tip: a rerun refuses instead of undoing it;
    naming it as the bad revision undoes it, with a warning."""
    shas = make_repo(
        tmp_path,
        [CommitSpec("v0", files=_v(0)), CommitSpec("v1", files=_v(1)), CommitSpec("v2", files=_v(2))],
    )
    message = _rollback_message(shas["c3"], shas["c2"])
    if how == "trailers":
        tip = make_repo(tmp_path, [CommitSpec(message, files=_v(1))])["c1"]
    else:
        branch = f"gitrollback/p1/{shas['c3'][:7]}-to-{shas['c2'][:7]}"
        make_repo(tmp_path, [CommitSpec(message, files=_v(1))], branch=branch)
        if how == "merge-commit":
            merge = f"Merge pull request #7 from acme/{branch}"
            tip = make_repo(tmp_path, [CommitSpec(merge, merge=branch)], branch="main")["c1"]
        else:
            squash = f"Roll back assets (#7)\n\n* {message}\nCo-authored-by: bot <bot@example.test>"
            tip = make_repo(tmp_path, [CommitSpec(squash, files=_v(1))], branch="main")["c1"]
    with pytest.raises(PreconditionFailedError, match="nothing to roll back") as caught:
        find_known_good(open_source(tmp_path), branch="main", paths=["assets"])
    assert "already holds what gitrollback's rollback" in caught.value.message
    assert f"the content it rolled back ({shas['c3'][:12]})" in caught.value.message
    assert caught.value.kind == "already_rolled_back"
    assert caught.value.hint == (
        "if this content fails too, name an older known-good revision with --to; to undo the rollback on "
        f"purpose, name {tip[:12]} as the bad revision"
    )
    known = find_known_good(open_source(tmp_path), branch="main", paths=["assets"], bad=tip)
    assert (known.revision, known.bad_revision) == (shas["c3"], tip)
    assert len(known.warnings) == 1
    assert known.warnings[0].startswith("this re-applies content that an earlier rollback removed: ")
    assert known.warnings[0].endswith("(it recorded no failed installer job)")


def test_new_failure_after_a_rollback_goes_back_to_the_rollback(tmp_path: Path, open_source) -> None:
    """After a rollback, a new failing change rolls back to the rollback commit's state."""
    shas = make_repo(tmp_path, [CommitSpec("v1", files=_v(1)), CommitSpec("v2", files=_v(2))])
    later = make_repo(
        tmp_path,
        [CommitSpec(_rollback_message(shas["c2"], shas["c1"]), files=_v(1)), CommitSpec("v3", files=_v(3))],
    )
    known = find_known_good(open_source(tmp_path), branch="main", paths=["assets"])
    assert (known.revision, known.bad_revision) == (later["c1"], later["c2"])


def test_explicit_revision_that_undoes_a_rollback_says_so(tmp_path: Path, open_source) -> None:
    """--to naming content gitrollback rolled back is allowed (explicit), and the reason says it undoes it."""
    shas = make_repo(
        tmp_path,
        [CommitSpec("v0", files=_v(0)), CommitSpec("v1", files=_v(1)), CommitSpec("v2", files=_v(2))],
    )
    make_repo(tmp_path, [CommitSpec(_rollback_message(shas["c3"], shas["c2"]), files=_v(1))])
    known = find_known_good(open_source(tmp_path), branch="main", paths=["assets"], to=shas["c3"])
    assert known.revision == shas["c3"] and known.source == "explicit"
    assert "this undoes that rollback" in known.reason


def test_squash_merge_is_one_change(tmp_path: Path, open_source) -> None:
    """A squash-merged pull request is a single first-parent commit: the state before it is known-good."""
    base = make_repo(tmp_path, [CommitSpec("v1", files=_v(1))])
    make_repo(
        tmp_path,
        [CommitSpec("wip 1", files=_v("1a")), CommitSpec("wip 2", files=_v(2))],
        branch="feature",
    )
    run_git(tmp_path, "checkout", "--quiet", "main")
    run_git(tmp_path, "merge", "--quiet", "--squash", "feature")
    squash = make_repo(tmp_path, [CommitSpec("feat: v2 (#12)")])
    known = find_known_good(open_source(tmp_path), branch="main", paths=["assets"])
    assert (known.revision, known.bad_revision) == (base["c1"], squash["c1"])


def test_merge_commit_is_the_change_and_side_commits_are_not_candidates(tmp_path: Path, open_source) -> None:
    """Through a --no-ff merge, the merge is the bad change and no side-branch commit is ever proposed."""
    base = make_repo(tmp_path, [CommitSpec("v1", files=_v(1)), CommitSpec("docs", files={"README": "r"})])
    side = make_repo(tmp_path, [CommitSpec("half", files=_v("1a")), CommitSpec("v2", files=_v(2))], branch="f")
    merge = make_repo(tmp_path, [CommitSpec("Merge f", merge="f")], branch="main")
    known = find_known_good(open_source(tmp_path), branch="main", paths=["assets"])
    assert (known.revision, known.bad_revision) == (base["c1"], merge["c1"])
    assert {r.revision for r in known.rejected}.isdisjoint(side.values())


def test_moved_asset_folder_is_refused_with_the_move_named(tmp_path: Path, open_source) -> None:
    """When the bad change moved the folder, the state before has no such path: refuse, naming the move."""
    files = {"a.yaml": "a: 1\n", "sub/b.yaml": "b: 1\n"}
    make_repo(tmp_path, [CommitSpec("add", files={f"tekton/{k}": v for k, v in files.items()})])
    moved = {f"backend/tekton/{k}": v for k, v in files.items()}
    moved["backend/tekton/a.yaml"] = "a: 2\n"
    shas = make_repo(tmp_path, [CommitSpec("move and change", files=moved, delete=("tekton",))])
    with pytest.raises(PreconditionFailedError) as caught:
        find_known_good(open_source(tmp_path), branch="main", paths=["backend/tekton"])
    assert "before it backend/tekton did not exist" in caught.value.message
    assert f"{shas['c1'][:7]} 'move and change' moved it there from tekton" in caught.value.message


def test_move_before_the_bad_change_is_transparent(tmp_path: Path, open_source) -> None:
    """A pure move earlier in history does not matter: the state before the bad change is after the move."""
    make_repo(tmp_path, [CommitSpec("add", files={"tekton/a.yaml": "a: 1\n"})])
    moved = make_repo(tmp_path, [CommitSpec("move", files={"backend/tekton/a.yaml": "a: 1\n"}, delete=("tekton",))])
    bad = make_repo(tmp_path, [CommitSpec("change", files={"backend/tekton/a.yaml": "a: 2\n"})])
    known = find_known_good(open_source(tmp_path), branch="main", paths=["backend/tekton"])
    assert (known.revision, known.bad_revision) == (moved["c1"], bad["c1"])


def test_path_missing_before_a_plain_add_is_named(tmp_path: Path, open_source) -> None:
    """With several paths, a path the bad change added is reported as added by that commit."""
    make_repo(tmp_path, [CommitSpec("tasks", files={"tasks/a.yaml": "a: 1\n"})])
    make_repo(tmp_path, [CommitSpec("jobs", files={"tasks/a.yaml": "a: 2\n", "jobs/j.yaml": "j: 1\n"})])
    with pytest.raises(PreconditionFailedError, match=r"jobs does not exist at .* 'tasks', .*; .* 'jobs' added it"):
        find_known_good(open_source(tmp_path), branch="main", paths=["tasks", "jobs"])


def test_several_paths_and_non_ascii(tmp_path: Path, open_source) -> None:
    """Several paths (one non-ASCII) are judged together: a change to either is a change of the state."""
    shas = make_repo(
        tmp_path,
        [
            CommitSpec("both", files={"tâches/é.yaml": "a: 1\n", "jobs/j.yaml": "j: 1\n"}),
            CommitSpec("jobs 2", files={"jobs/j.yaml": "j: 2\n"}),
            CommitSpec("unrelated", files={"README": "r"}),
            CommitSpec("tâches 2", files={"tâches/é.yaml": "a: 2\n"}),
            CommitSpec("docs", files={"README": "r2"}),
        ],
    )
    src = open_source(tmp_path)
    known = find_known_good(src, branch="main", paths=["tâches", "jobs"])
    assert (known.revision, known.bad_revision) == (shas["c2"], shas["c4"])
    assert known.trees == {"tâches": src.tree_id(shas["c2"], "tâches"), "jobs": src.tree_id(shas["c2"], "jobs")}
    assert "tâches, jobs last changed in" in known.reason
    only_jobs = find_known_good(src, branch="main", paths=["jobs"])
    assert (only_jobs.revision, only_jobs.bad_revision) == (shas["c1"], shas["c2"])


def test_force_pushed_bad_revision_is_refused(tmp_path: Path, open_source) -> None:
    """A bad commit that a force-push removed from the branch is refused before any search."""
    shas = make_repo(tmp_path, [CommitSpec("v1", files=_v(1)), CommitSpec("v2", files=_v(2))])
    run_git(tmp_path, "reset", "--quiet", "--hard", shas["c1"])
    make_repo(tmp_path, [CommitSpec("v2 again", files=_v("2b"))])
    with pytest.raises(PreconditionFailedError, match="is not in the history of main") as caught:
        find_known_good(open_source(tmp_path), branch="main", paths=["assets"], bad=shas["c2"])
    assert "force-pushed away" in caught.value.message and caught.value.kind == "force_pushed_away"


def test_shallow_local_clone_is_refused_with_a_hint(tmp_path: Path, open_source) -> None:
    """A shallow local clone (e.g. a CI checkout) whose edge cuts the search is refused, not deepened."""
    upstream = tmp_path / "upstream"
    make_repo(upstream, [CommitSpec("v1", files=_v(1)), CommitSpec("v2", files=_v(2))])
    run_git(tmp_path, "clone", "--quiet", "--depth", "1", upstream.as_uri(), str(tmp_path / "ci"))
    with pytest.raises(PreconditionFailedError, match="is cut short: the repository is a shallow clone") as caught:
        find_known_good(open_source(tmp_path / "ci"), branch="main", paths=["assets"])
    assert caught.value.hint is not None and "git fetch --unshallow" in caught.value.hint
    assert run_git(tmp_path / "ci", "rev-parse", "--is-shallow-repository") == "true"


def test_shallow_managed_clone_is_deepened_automatically(tmp_path: Path) -> None:
    """A shallow clone gitrollback manages (URL, depth=1) is deepened until the search can decide."""
    upstream = tmp_path / "upstream"
    shas = make_repo(upstream, [CommitSpec(f"v{i}", files=_v(i)) for i in range(1, 4)])
    make_repo(upstream, [CommitSpec(f"docs {i}", files={"README": str(i)}) for i in range(3)])
    with GitAssetSource(upstream.as_uri(), cache_dir=tmp_path / "cache", env=FILE_ENV, depth=1) as src:
        assert src.is_shallow()
        known = find_known_good(src, branch="main", paths=["assets"])
    assert (known.revision, known.bad_revision) == (shas["c2"], shas["c3"])


def test_root_path_as_the_asset_path(tmp_path: Path, open_source) -> None:
    """The repository root can be the asset path (a dedicated GitOps repository)."""
    shas = make_repo(tmp_path, [CommitSpec("one", files={"a.yaml": "1"}), CommitSpec("two", files={"a.yaml": "2"})])
    known = find_known_good(open_source(tmp_path), branch="main", paths=[""])
    assert (known.revision, known.bad_revision) == (shas["c1"], shas["c2"])
