"""The known-good rules of issue 8 on real git histories, each followed by the rollback commit it leads to.

Reverts and "Reapply" commits named as bad, gitrollback's own rollbacks named as bad, bad commits that landed
through a merge, squash-merged and force-pushed-away commits. Every answer is checked for its exact revision and
trees, and the restore commit ``GitWorkspace`` makes from it is checked to change nothing outside the paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.adapters.git_workspace import GitWorkspace
from gitrollback.errors import PreconditionFailedError
from gitrollback.known_good import Evidence, find_known_good
from gitrollback.models import KnownGood
from gitrollback.testing.repos import CommitSpec, make_repo, run_git

PATHS = ["assets"]


def _lines(**changed: str) -> str:
    """A ten-line file whose first and last lines can differ: two edits to it never touch the same hunk."""
    lines = [f"k{i}: {i}" for i in range(10)]
    lines[0] = f"k0: {changed.get('first', '0')}"
    lines[9] = f"k9: {changed.get('last', '9')}"
    return "\n".join(lines) + "\n"


@pytest.fixture(name="source")
def _source() -> Iterator[object]:
    """Opens GitAssetSources on local repositories and closes them after the test."""
    opened: list[GitAssetSource] = []

    def open_source(path: Path) -> GitAssetSource:
        opened.append(GitAssetSource(str(path)))
        return opened[-1]

    yield open_source
    for src in opened:
        src.close()


def _tree(repo: Path, rev: str, path: str = "assets") -> str:
    return run_git(repo, "rev-parse", f"{rev}:{path}")


def _assert_restore_touches_only_the_paths(repo: Path, known: KnownGood, tmp_path: Path) -> None:
    """The restore commit for ``known`` puts exactly the known-good trees at the paths and changes nothing else."""
    with GitWorkspace(str(repo), cache_dir=tmp_path / "ws-cache", branch="main") as ws:
        commit = ws.prepare(provider_id="p1", bad=known.bad_revision, good=known.revision, paths=PATHS)
        assert commit.created and commit.base == run_git(repo, "rev-parse", "main")
        changed = run_git(ws.path, "diff", "--name-only", commit.base, commit.sha).splitlines()
        assert changed and all(name.startswith("assets/") for name in changed)
        assert commit.trees == dict(known.trees) == {"assets": run_git(ws.path, "rev-parse", f"{commit.sha}:assets")}
        assert commit.root_tree == run_git(ws.path, "rev-parse", f"{commit.sha}^{{tree}}")


class TestRevertNamedAsBad:
    def test_revert_with_later_edits_answers_the_state_it_replaced(self, tmp_path: Path, source) -> None:
        """A `git revert` of an older change, after later edits to the same file, answers the state just before
        the revert: the later edits stay, and a warning says the reverted change comes back."""
        repo = tmp_path / "repo"
        shas = make_repo(
            repo,
            [
                CommitSpec("base", files={"assets/a.yaml": _lines(), "README.md": "r\n"}),
                CommitSpec("change a", files={"assets/a.yaml": _lines(first="changed")}),
                CommitSpec("tune a", files={"assets/a.yaml": _lines(first="changed", last="tuned")}),
                CommitSpec("add b", files={"assets/b.yaml": "b: 1\n"}),
            ],
        )
        run_git(repo, "revert", "--no-edit", shas["c2"])
        revert = run_git(repo, "rev-parse", "HEAD")
        make_repo(repo, [CommitSpec("docs", files={"README.md": "r2\n"})])
        for bad in (revert, None):  # named explicitly, or the tip's newest change
            known = find_known_good(source(repo), branch="main", paths=PATHS, bad=bad)
            assert (known.revision, known.bad_revision, known.source) == (shas["c4"], revert, "git-history")
            assert known.trees == {"assets": _tree(repo, shas["c4"])}
            assert known.warnings == (
                f"{revert[:7]} 'Revert \"change a\"' reverts {shas['c2'][:7]} 'change a': rolling back to the state "
                f"before it ({shas['c4'][:7]} 'add b') re-applies {shas['c2'][:7]} 'change a', which that revert "
                "undid",
            )
        assert run_git(repo, "show", f"{known.revision}:assets/a.yaml") == _lines(first="changed", last="tuned").strip()
        _assert_restore_touches_only_the_paths(repo, known, tmp_path)

    def test_reapply_named_as_bad_answers_the_revert(self, tmp_path: Path, source) -> None:
        """A "Reapply" (a revert of a revert) named as bad answers the revert's state, not anything older."""
        repo = tmp_path / "repo"
        shas = make_repo(
            repo,
            [
                CommitSpec("v1", files={"assets/a.yaml": _lines()}),
                CommitSpec("v2", files={"assets/a.yaml": _lines(first="2")}),
                CommitSpec("tune", files={"assets/a.yaml": _lines(first="2", last="tuned")}),
            ],
        )
        run_git(repo, "revert", "--no-edit", shas["c2"])
        revert = run_git(repo, "rev-parse", "HEAD")
        run_git(repo, "revert", "--no-commit", revert)
        run_git(repo, "commit", "--quiet", "-m", f'Reapply "v2"\n\nThis reverts commit {revert}.')
        reapply = run_git(repo, "rev-parse", "HEAD")
        known = find_known_good(source(repo), branch="main", paths=PATHS, bad=reapply)
        assert (known.revision, known.bad_revision) == (revert, reapply)
        assert known.trees == {"assets": _tree(repo, revert)} != {"assets": _tree(repo, shas["c3"])}
        assert known.warnings and f"re-applies {revert[:7]} 'Revert \"v2\"'" in known.warnings[0]
        _assert_restore_touches_only_the_paths(repo, known, tmp_path)

    def test_content_equal_to_an_older_state_answers_its_parent(self, tmp_path: Path, source) -> None:
        """A hand edit that brings back an older content (no revert line) is an ordinary change: its parent wins."""
        repo = tmp_path / "repo"
        shas = make_repo(
            repo,
            [
                CommitSpec("v1", files={"assets/a.yaml": "v: 1\n"}),
                CommitSpec("v2", files={"assets/a.yaml": "v: 2\n"}),
                CommitSpec("back to v1 by hand", files={"assets/a.yaml": "v: 1\n"}),
            ],
        )
        known = find_known_good(source(repo), branch="main", paths=PATHS)
        assert (known.revision, known.bad_revision, known.warnings) == (shas["c2"], shas["c3"], ())
        assert known.trees == {"assets": _tree(repo, shas["c2"])}


class TestGitrollbackRollbackNamedAsBad:
    @staticmethod
    def _world(tmp_path: Path) -> tuple[Path, dict[str, str], str]:
        """v1 good, v2 failed, gitrollback rolled it back (a real GitWorkspace commit pushed onto main)."""
        work = tmp_path / "work"
        shas = make_repo(
            work,
            [
                CommitSpec("v1", files={"assets/a.yaml": "v: 1\n", "README.md": "r\n"}),
                CommitSpec("v2", files={"assets/a.yaml": "v: 2\n"}),
            ],
        )
        origin = tmp_path / "origin.git"
        run_git(tmp_path, "clone", "--bare", "--quiet", str(work), str(origin))
        with GitWorkspace(str(origin), cache_dir=tmp_path / "rb-cache", branch="main") as ws:
            made = ws.prepare(provider_id="p1", bad=shas["c2"], good=shas["c1"], paths=PATHS, failed_job="job-42")
            rollback = ws.push(made, direct=True).sha
        return origin, shas, rollback

    def test_rerun_on_the_rollback_refuses(self, tmp_path: Path, source) -> None:
        """With the rollback at the tip and no bad revision named, the search refuses (already_rolled_back)."""
        origin, shas, rollback = self._world(tmp_path)
        with pytest.raises(PreconditionFailedError) as caught:
            find_known_good(source(origin), branch="main", paths=PATHS)
        assert caught.value.kind == "already_rolled_back"
        assert f"rollback {rollback[:7]} 'Roll back assets to {shas['c1'][:12]}" in caught.value.message
        assert "after installer job job-42 failed" in caught.value.message
        assert caught.value.hint is not None and f"name {rollback[:12]} as the bad revision" in caught.value.hint

    def test_named_rollback_answers_the_state_it_replaced_with_a_warning(self, tmp_path: Path, source) -> None:
        """Named as bad on purpose, the rollback is undone: the state it replaced, and a warning with the job."""
        origin, shas, rollback = self._world(tmp_path)
        known = find_known_good(source(origin), branch="main", paths=PATHS, bad=rollback)
        assert (known.revision, known.bad_revision, known.source) == (shas["c2"], rollback, "git-history")
        assert known.trees == {"assets": _tree(origin, shas["c2"])}
        assert known.warnings == (
            f"this re-applies content that an earlier rollback removed: {rollback[:7]} 'Roll back assets to "
            f"{shas['c1'][:12]} (provider p1)' is gitrollback's rollback of {shas['c2'][:12]} to "
            f"{shas['c1'][:12]}, made after installer job job-42 failed",
        )
        _assert_restore_touches_only_the_paths(origin, known, tmp_path)

    def test_named_merged_rollback_finds_the_job_on_the_merged_side(self, tmp_path: Path, source) -> None:
        """A rollback merged as a pull request (merge commit) names the failed job its own commit recorded."""
        work = tmp_path / "work"
        shas = make_repo(work, [CommitSpec("v1", files={"assets/a.yaml": "v: 1\n"})])
        shas |= make_repo(work, [CommitSpec("v2", files={"assets/a.yaml": "v: 2\n"}, label="v2")])
        origin = tmp_path / "origin.git"
        run_git(tmp_path, "clone", "--bare", "--quiet", str(work), str(origin))
        with GitWorkspace(str(origin), cache_dir=tmp_path / "rb", branch="main") as ws:
            pushed = ws.push(
                ws.prepare(provider_id="p1", bad=shas["v2"], good=shas["c1"], paths=PATHS, failed_job="j-7")
            )
        run_git(work, "fetch", "--quiet", str(origin), f"{pushed.branch}:{pushed.branch}")
        merge = make_repo(
            work, [CommitSpec(f"Merge pull request #7 from acme/{pushed.branch}", merge=pushed.branch)], branch="main"
        )["c1"]
        known = find_known_good(source(work), branch="main", paths=PATHS, bad=merge)
        assert (known.revision, known.bad_revision) == (shas["v2"], merge)
        assert len(known.warnings) == 1 and known.warnings[0].endswith("made after installer job j-7 failed")

    def test_evidence_never_picks_what_the_rollback_removed(self, tmp_path: Path, source) -> None:
        """The guard stays for evidence: --to may undo the rollback (with the warning), a release tag may not."""
        origin, shas, _ = self._world(tmp_path)
        run_git(origin, "tag", "v2.0.0", shas["c2"])
        with pytest.raises(PreconditionFailedError) as caught:
            find_known_good(source(origin), branch="main", paths=PATHS, evidence=Evidence(tag_pattern="v*"))
        assert caught.value.kind == "already_rolled_back"
        explicit = find_known_good(source(origin), branch="main", paths=PATHS, to="v2.0.0")
        assert (explicit.revision, explicit.source) == (shas["c2"], "explicit")
        assert explicit.warnings and "after installer job job-42 failed" in explicit.warnings[0]


class TestLandedThroughAMerge:
    def test_side_branch_commit_answers_the_merges_first_parent(self, tmp_path: Path, source) -> None:
        """A bad commit merged with --no-ff: the change landed with the merge, so its first parent is known-good."""
        repo = tmp_path / "repo"
        shas = make_repo(repo, [CommitSpec("v1", files={"assets/a.yaml": "a: 1\n", "README.md": "r\n"})])
        side = make_repo(
            repo,
            [CommitSpec("side: a 2", files={"assets/a.yaml": "a: 2\n"}), CommitSpec("side: docs", files={"x": "1"})],
            branch="feature",
        )
        main = make_repo(repo, [CommitSpec("main: add b", files={"assets/b.yaml": "b: 1\n"})], branch="main")
        merge = make_repo(repo, [CommitSpec("Merge branch 'feature'", merge="feature")], branch="main")["c1"]
        make_repo(repo, [CommitSpec("main: docs", files={"README.md": "r2\n"})], branch="main")
        assert run_git(repo, "rev-parse", f"{merge}^1") == main["c1"]
        known = find_known_good(source(repo), branch="main", paths=PATHS, bad=side["c1"])
        assert (known.revision, known.bad_revision, known.source) == (main["c1"], merge, "git-history")
        assert known.trees == {"assets": _tree(repo, f"{merge}^1")}
        assert known.reason.startswith(
            f"assets last changed in {merge[:7]} 'Merge branch 'feature'', which introduced the failing content; "
            f"the state before it is {main['c1'][:7]} 'main: add b'"
        )
        assert f"the bad revision {side['c1'][:7]} 'side: a 2' is not on main's first-parent history" in known.reason
        assert f"merged by {merge[:7]} 'Merge branch 'feature'', so the change landed with that merge" in known.reason
        _assert_restore_touches_only_the_paths(repo, known, tmp_path)
        assert known.revision != shas["c1"]  # not the older state before the side branch forked

    def test_squash_merged_commit_is_refused_naming_the_squash(self, tmp_path: Path, source) -> None:
        """The same change squash-merged: the side commit is not in main's history (squash_merged, names it)."""
        repo = tmp_path / "repo"
        make_repo(repo, [CommitSpec("v1", files={"assets/a.yaml": "a: 1\n"})])
        side = make_repo(repo, [CommitSpec("a 2", files={"assets/a.yaml": "a: 2\n"})], branch="feature")
        run_git(repo, "checkout", "--quiet", "main")
        run_git(repo, "merge", "--quiet", "--squash", "feature")
        squash = make_repo(repo, [CommitSpec("a 2 (#12)")])["c1"]
        run_git(repo, "branch", "--quiet", "-D", "feature")
        with pytest.raises(PreconditionFailedError) as caught:
            find_known_good(source(repo), branch="main", paths=PATHS, bad=side["c1"])
        assert caught.value.kind == "squash_merged"
        assert f"reached main as another commit, {squash[:7]} 'a 2 (#12)'" in caught.value.message
        assert caught.value.hint == f"pass {squash[:12]} as the bad revision"

    def test_cherry_picked_commit_is_found_by_patch_id(self, tmp_path: Path, source) -> None:
        """A change cherry-picked onto a branch whose other files differ is found by its patch, not its tree."""
        repo = tmp_path / "repo"
        make_repo(repo, [CommitSpec("v1", files={"assets/a.yaml": _lines(), "assets/b.yaml": "b: 1\n"})])
        side = make_repo(repo, [CommitSpec("a first", files={"assets/a.yaml": _lines(first="x")})], branch="f")
        make_repo(repo, [CommitSpec("b 2", files={"assets/b.yaml": "b: 2\n"})], branch="main")
        run_git(repo, "cherry-pick", side["c1"])
        picked = run_git(repo, "rev-parse", "HEAD")
        with pytest.raises(PreconditionFailedError) as caught:
            find_known_good(source(repo), branch="main", paths=PATHS, bad=side["c1"])
        assert caught.value.kind == "squash_merged" and f"{picked[:7]} 'a first'" in caught.value.message

    def test_force_pushed_away_and_unknown_commits_are_told_apart(self, tmp_path: Path, source) -> None:
        """A commit main's reflog held is force_pushed_away; one only another branch holds is not_in_history."""
        repo = tmp_path / "repo"
        shas = make_repo(
            repo,
            [CommitSpec("v1", files={"assets/a.yaml": "a: 1\n"}), CommitSpec("v2", files={"assets/a.yaml": "a: 2\n"})],
        )
        run_git(repo, "reset", "--quiet", "--hard", shas["c1"])
        make_repo(repo, [CommitSpec("v2 reworked", files={"assets/a.yaml": "a: 2b\n"})])
        other = make_repo(repo, [CommitSpec("elsewhere", files={"assets/a.yaml": "a: 9\n"})], branch="other")
        run_git(repo, "checkout", "--quiet", "main")
        src = source(repo)
        with pytest.raises(PreconditionFailedError) as gone:
            find_known_good(src, branch="main", paths=PATHS, bad=shas["c2"])
        with pytest.raises(PreconditionFailedError) as elsewhere:
            find_known_good(src, branch="main", paths=PATHS, bad=other["c1"])
        assert (gone.value.kind, elsewhere.value.kind) == ("force_pushed_away", "not_in_history")
        assert "main's reflog shows it there before" in gone.value.message
        assert "no merge brought it in" in elsewhere.value.message

    def test_managed_clone_keeps_reflogs_to_recognise_a_force_push(self, tmp_path: Path) -> None:
        """A cached clone of a URL records the tips it fetched, so a later force-push is named as one."""
        upstream = tmp_path / "upstream"
        shas = make_repo(
            upstream,
            [CommitSpec("v1", files={"assets/a.yaml": "a: 1\n"}), CommitSpec("v2", files={"assets/a.yaml": "a: 2\n"})],
        )
        env = {"GIT_ALLOW_PROTOCOL": "file"}
        with GitAssetSource(upstream.as_uri(), cache_dir=tmp_path / "cache", env=env) as src:
            src.resolve("main")
        run_git(upstream, "reset", "--quiet", "--hard", shas["c1"])
        make_repo(upstream, [CommitSpec("v2 again", files={"assets/a.yaml": "a: 2b\n"})])
        with (
            GitAssetSource(upstream.as_uri(), cache_dir=tmp_path / "cache", env=env) as src,
            pytest.raises(PreconditionFailedError) as caught,
        ):
            find_known_good(src, branch="main", paths=PATHS, bad=shas["c2"])
        assert caught.value.kind == "force_pushed_away"


class TestReports:
    def test_run_and_plan_reports_carry_the_warnings_and_the_refusal_kind(self, tmp_path: Path, source) -> None:
        """The run report's JSON (known_good.warnings, error_kind) and its text show what the resolver warned."""
        from gitrollback.models import RollbackPlan, RunReport
        from gitrollback.report import plan_json, render_plan, render_report, report_json

        repo = tmp_path / "repo"
        shas = make_repo(repo, [CommitSpec("v1", files={"assets/a.yaml": "v: 1\n"})])
        shas |= make_repo(repo, [CommitSpec("v2", files={"assets/a.yaml": "v: 2\n"}, label="v2")])
        run_git(repo, "revert", "--no-edit", shas["v2"])
        known = find_known_good(source(repo), branch="main", paths=PATHS)
        assert known.revision == shas["v2"] and len(known.warnings) == 1
        report = RunReport(
            status="refused",
            provider_id="p1",
            mode="gitops",
            failed_job=None,
            known_good=known,
            steps=(),
            incident=None,
            error="a later step refused",
            error_kind="outside_paths",
        )
        doc = report_json(report)
        assert doc["known_good"]["warnings"] == list(known.warnings)
        assert (doc["error_kind"], doc["known_good"]["revision"]) == ("outside_paths", shas["v2"])
        assert f"\nWarning: {known.warnings[0]}" in render_report(report)
        plan = RollbackPlan(
            provider_id="p1", mode="gitops", target_namespace="ns", failed_job=None, known_good=known, steps=()
        )
        assert plan_json(plan)["known_good"]["warnings"] == list(known.warnings)
        assert f"  WARNING     {known.warnings[0]}" in render_plan(plan)
