"""GitWorkspace on real repositories: a bare repository at a path, and GitHttpServer with a token."""

from __future__ import annotations

import base64
import itertools
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitrollback.adapters.git_workspace import GitWorkspace
from gitrollback.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    GitError,
    PreconditionFailedError,
)
from gitrollback.markers import parse_marker
from gitrollback.ports import RollbackWorkspace
from gitrollback.testing.git_http import GitHttpServer
from gitrollback.testing.repos import ASSET_PATH, CommitSpec, SandboxRepo, build_sandbox_repo, make_repo, run_git
from gitrollback.testing.server import Request, Response

TOKEN = "ghs_w0rksp4ce-t0ken"
_counter = itertools.count()


def _bare(work: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_git(dest.parent, "clone", "--bare", "--quiet", str(work), str(dest))
    return dest


def _push_commit(origin: Path, tmp_path: Path, spec: CommitSpec) -> str:
    """Someone else commits to origin's main (through a clone of their own)."""
    work = tmp_path / f"other-{next(_counter)}"
    run_git(tmp_path, "clone", "--quiet", str(origin), str(work))
    sha = make_repo(work, [spec])[spec.label or "c1"]
    run_git(work, "push", "--quiet", "origin", "main")
    return sha


def _trailers(origin: Path, rev: str) -> dict[str, str]:
    message = run_git(origin, "log", "-1", "--format=%B", rev)
    done = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    )
    return dict(line.split(": ", 1) for line in done.stdout.splitlines())


@pytest.fixture(name="world", scope="module")
def _world(tmp_path_factory: pytest.TempPathFactory) -> SandboxRepo:
    """The sandbox history (good c3, bad c5, tip c6), built once per module."""
    return build_sandbox_repo(tmp_path_factory.mktemp("world") / "repo")


@pytest.fixture(name="origin")
def _origin(world: SandboxRepo, tmp_path: Path) -> Path:
    """A fresh bare copy of the sandbox repository: the remote."""
    return _bare(world.path, tmp_path / "origin.git")


@pytest.fixture(name="ws")
def _ws(origin: Path, tmp_path: Path) -> Iterator[GitWorkspace]:
    """A workspace on the bare origin, tracking main."""
    with GitWorkspace(str(origin), cache_dir=tmp_path / "cache", branch="main", author=("Ops Bot", "ops@x.test")) as ws:
        yield ws


class TestRestore:
    def test_restores_the_asset_tree_and_nothing_else(self, ws: GitWorkspace, world: SandboxRepo, origin: Path) -> None:
        """restore gives backend/tekton the good tree id; every other top-level entry keeps the tip's tree id."""
        commit = ws.prepare(provider_id="prov-1", bad=world.bad, good="v0.3.0", paths=[ASSET_PATH])
        assert commit.created and not commit.already_rolled_back
        assert (commit.bad_revision, commit.good_revision, commit.base) == (world.bad, world.good, world.tip)
        assert commit.branch == f"gitrollback/prov-1/{world.bad[:7]}-to-{world.good[:7]}"
        assert isinstance(ws, RollbackWorkspace)
        ws.push(commit)
        assert run_git(origin, "rev-parse", f"refs/heads/{commit.branch}") == commit.sha
        assert run_git(origin, "rev-parse", f"{commit.sha}^") == world.tip
        assert run_git(origin, "rev-parse", f"{commit.sha}:{ASSET_PATH}") == run_git(
            origin, "rev-parse", f"{world.good}:{ASSET_PATH}"
        )
        for other in ("README.md", "docs", "backend/cmd"):
            assert run_git(origin, "rev-parse", f"{commit.sha}:{other}") == run_git(
                origin, "rev-parse", f"{world.tip}:{other}"
            )
        changed = run_git(origin, "diff", "--no-renames", "--name-status", world.tip, commit.sha).splitlines()
        assert sorted(changed) == sorted(
            [
                f"A\t{ASSET_PATH}/tasks/v1/kaniko-no-push-task.yaml",
                f"D\t{ASSET_PATH}/tasks/v1/kaniko-build-task.yaml",
                f"M\t{ASSET_PATH}/jobs/v1/internal-registry-deployment.yaml",
                f"M\t{ASSET_PATH}/kustomization.yaml",
                f"M\t{ASSET_PATH}/pipelines/v1/image-factory-build-kaniko.yaml",
            ]
        )
        assert run_git(origin, "rev-parse", "main") == world.tip  # the tracked branch is untouched

    def test_several_paths_non_ascii_and_added_files(self, tmp_path: Path) -> None:
        """Modified, deleted and added files under several paths (with non-ASCII names) come back exactly."""
        work = tmp_path / "work"
        shas = make_repo(
            work,
            [
                CommitSpec(
                    "good",
                    files={"a/x.yaml": "x: 1\n", "a/ü/é.yaml": "é: 1\n", "b/y.yaml": "y: 1\n", "keep.txt": "1\n"},
                ),
                CommitSpec(
                    "bad",
                    files={"a/x.yaml": "x: 2\n", "a/new ñ.yaml": "n: 1\n", "b/y.yaml": "y: 2\n", "keep.txt": "2\n"},
                    delete=("a/ü/é.yaml",),
                ),
            ],
        )
        origin = _bare(work, tmp_path / "origin.git")
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            commit = ws.push(ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a/", "./b", "a"]))
        for path in ("a", "b"):
            assert run_git(origin, "rev-parse", f"{commit.sha}:{path}") == run_git(
                origin, "rev-parse", f"c1:{path}".replace("c1", shas["c1"])
            )
        assert run_git(origin, "show", f"{commit.sha}:keep.txt") == "2"
        files = run_git(origin, "-c", "core.quotepath=false", "ls-tree", "-r", "--name-only", commit.sha).splitlines()
        assert files == ["a/x.yaml", "a/ü/é.yaml", "b/y.yaml", "keep.txt"]
        assert (
            run_git(origin, "log", "-1", "--format=%s", commit.sha)
            == f"Roll back a, b to {shas['c1'][:12]} (provider p)"
        )

    def test_workspace_is_cached_and_reused(
        self, ws: GitWorkspace, world: SandboxRepo, origin: Path, tmp_path: Path
    ) -> None:
        """The clone lives in cache/workspaces/<sha256[:16]>, is reused by a later run and fetches new commits."""
        import hashlib

        ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH])
        expected = tmp_path / "cache" / "workspaces" / hashlib.sha256(str(origin).encode()).hexdigest()[:16]
        assert ws.path == expected
        assert run_git(expected, "rev-parse", "--is-bare-repository") == "true"
        (expected / "gitrollback-test-marker").write_text("kept")
        newer = _push_commit(origin, tmp_path, CommitSpec("later", files={"docs/x.md": "x\n"}))
        with GitWorkspace(str(origin), cache_dir=tmp_path / "cache", branch="main") as again:
            assert again.tip() == newer
        assert (expected / "gitrollback-test-marker").read_text() == "kept"
        assert run_git(world.path, "status", "--porcelain") == ""  # the user's working copy is never used
        assert not list(expected.glob("gitrollback-index-*"))


class TestMessage:
    def test_subject_body_and_trailers(self, ws: GitWorkspace, world: SandboxRepo, origin: Path) -> None:
        """The message explains the rollback and its trailers parse back with git interpret-trailers."""
        commit = ws.prepare(
            provider_id="prov-1",
            bad=world.bad,
            good=world.good,
            paths=[ASSET_PATH],
            failed_job="job-42",
            context="Readiness failed: Task kaniko-no-push is missing.",
            trailers={"Incident": "INC-7"},
        )
        ws.push(commit)
        assert _trailers(origin, commit.sha) == {
            "Rollback-Of": world.bad,
            "Rollback-To": world.good,
            "Provider": "prov-1",
            "Failed-Job": "job-42",
            "Rollback-Strategy": "restore",
            "Incident": "INC-7",
        }
        assert run_git(origin, "log", "-1", "--format=%s", commit.sha) == (
            f"Roll back backend/tekton to {world.good[:12]} (provider prov-1)"
        )
        body = run_git(origin, "log", "-1", "--format=%b", commit.sha)
        assert "rename kaniko-no-push task to kaniko-build; registry v2" in body
        assert "feat(tasks): pin git-clone image" in body
        assert "Failed installer job: job-42" in body
        assert "Readiness failed: Task kaniko-no-push is missing." in body
        assert run_git(origin, "log", "-1", "--format=%an <%ae>|%cn <%ce>", commit.sha) == (
            "Ops Bot <ops@x.test>|Ops Bot <ops@x.test>"
        )

    @pytest.mark.parametrize(
        ("kwargs", "key"),
        [
            ({"provider_id": "bad/id"}, "provider_id"),
            ({"paths": []}, "paths"),
            ({"trailers": {"Rollback-Of": "x"}}, "trailers"),
            ({"trailers": {"Bad Key": "x"}}, "trailers"),
            ({"failed_job": "a\nb"}, "failed_job"),
            ({"strategy": "squash"}, "strategy"),
        ],
    )
    def test_unusable_arguments_are_config_errors(self, tmp_path: Path, kwargs: dict[str, object], key: str) -> None:
        """Unusable provider ids, paths, trailers, job ids and strategies are refused before any git work."""
        ws = GitWorkspace(str(tmp_path / "nowhere.git"), cache_dir=tmp_path / "cache", branch="main")
        args: dict[str, object] = {"provider_id": "p", "bad": "HEAD~1", "good": "HEAD", "paths": [ASSET_PATH]}
        with pytest.raises(ConfigError) as caught:
            ws.prepare(**{**args, **kwargs})  # type: ignore[arg-type]
        assert caught.value.key == key
        assert not (tmp_path / "cache").exists()

    def test_unknown_revision_and_missing_path(self, ws: GitWorkspace, world: SandboxRepo) -> None:
        """An unknown revision is a GitError; a path absent at the good revision is a refusal."""
        with pytest.raises(GitError, match=r"unknown revision 'v9\.9\.9'") as unknown:
            ws.prepare(provider_id="p", bad=world.bad, good="v9.9.9", paths=[ASSET_PATH])
        with pytest.raises(PreconditionFailedError, match="backend/nope does not exist at") as missing:
            ws.prepare(provider_id="p", bad=world.bad, good=world.good, paths=["backend/nope"])
        assert (unknown.value.kind, missing.value.kind) == ("unknown_revision", "path_missing_at_good")


class TestIdempotency:
    def test_rerun_reuses_branch_and_commit(
        self, ws: GitWorkspace, world: SandboxRepo, origin: Path, tmp_path: Path
    ) -> None:
        """A rerun (same workspace, or a fresh cache that only sees the remote branch) reuses the commit."""
        first = ws.push(ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH]))
        again = ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH])
        assert (again.sha, again.created) == (first.sha, False)
        with GitWorkspace(str(origin), cache_dir=tmp_path / "fresh", branch="main") as other:
            third = other.prepare(provider_id="prov-1", bad=world.bad[:10], good="v0.3.0", paths=[ASSET_PATH])
            assert (third.sha, third.created, third.base) == (first.sha, False, world.tip)
            assert other.push(third) == third
        assert run_git(origin, "rev-list", "--count", f"main..{first.branch}") == "1"

    def test_other_provider_gets_its_own_commit(self, ws: GitWorkspace, world: SandboxRepo) -> None:
        """A commit for another provider is not reused (the Provider trailer differs)."""
        mine = ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH])
        theirs = ws.prepare(provider_id="prov-2", bad=world.bad, good=world.good, paths=[ASSET_PATH])
        assert theirs.created and theirs.sha != mine.sha

    def test_hand_revert_is_already_rolled_back(
        self, ws: GitWorkspace, world: SandboxRepo, origin: Path, tmp_path: Path
    ) -> None:
        """When main already has the good trees, prepare creates nothing and push does nothing."""
        work = tmp_path / "hand"
        run_git(tmp_path, "clone", "--quiet", str(origin), str(work))
        run_git(work, "rm", "-r", "--quiet", ASSET_PATH)
        run_git(work, "checkout", world.good, "--", ASSET_PATH)
        run_git(work, "commit", "--quiet", "-m", "Revert the v0.4.0 Tekton assets by hand")
        run_git(work, "push", "--quiet", "origin", "main")
        hand = run_git(work, "rev-parse", "HEAD")
        commit = ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH])
        assert commit.already_rolled_back and not commit.created
        assert (commit.sha, commit.base) == (hand, hand)
        assert ws.push(commit) == commit
        assert run_git(origin, "branch", "--list", "gitrollback/*") == ""
        assert run_git(ws.path, "for-each-ref", "refs/heads/") == ""


class TestRevert:
    @staticmethod
    def _history(tmp_path: Path, bad_extra: dict[str, str] | None = None) -> tuple[Path, dict[str, str]]:
        work = tmp_path / "work"
        shas = make_repo(
            work,
            [
                CommitSpec("base", files={"a/f.yaml": "f: 1\n", "a/g.yaml": "g: 1\n", "README.md": "r1\n"}),
                CommitSpec("change f", files={"a/f.yaml": "f: 2\n", **(bad_extra or {})}),
                CommitSpec("docs only", files={"README.md": "r2\n"}),
                CommitSpec("add h, drop g", files={"a/h.yaml": "h: 1\n"}, delete=("a/g.yaml",)),
            ],
        )
        return _bare(work, tmp_path / "origin.git"), shas

    def test_reverts_path_commits_newest_first(self, tmp_path: Path) -> None:
        """revert undoes c4 then c2 (not the docs commit), landing on the good tree with one commit."""
        origin, shas = self._history(tmp_path)
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            commit = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], strategy="revert")
            ws.push(commit)
        assert commit.reverted == (shas["c4"], shas["c2"])
        assert commit.strategy == "revert"
        assert run_git(origin, "rev-parse", f"{commit.sha}:a") == run_git(origin, "rev-parse", f"{shas['c1']}:a")
        assert run_git(origin, "show", f"{commit.sha}:README.md") == "r2"
        assert _trailers(origin, commit.sha)["Rollback-Strategy"] == "revert"
        body = run_git(origin, "log", "-1", "--format=%b", commit.sha)
        assert f"- {shas['c4'][:12]} add h, drop g\n- {shas['c2'][:12]} change f" in body

    def test_commit_touching_other_files_is_refused_cleanly(self, tmp_path: Path) -> None:
        """A path commit that also changed README.md is refused by name, leaving no branch and no index."""
        origin, shas = self._history(tmp_path, bad_extra={"README.md": "r-bad\n"})
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            with pytest.raises(PreconditionFailedError) as caught:
                ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], strategy="revert")
            assert run_git(ws.path, "for-each-ref", "refs/heads/") == ""
            assert not list(ws.path.glob("gitrollback-index-*"))
        assert str(caught.value) == f"commit {shas['c2'][:12]} (change f) also changed files outside a: README.md"
        assert caught.value.step == "prepare"
        assert caught.value.hint == "revert that commit by hand, or use the restore strategy"
        assert run_git(origin, "branch", "--list") == "* main"

    def test_conflicting_revert_is_refused_cleanly(self, tmp_path: Path) -> None:
        """Undoing a commit whose file changed again later (c2 under c5) conflicts and writes nothing."""
        origin, shas = self._history(tmp_path)
        later = _push_commit(origin, tmp_path, CommitSpec("change f again", files={"a/f.yaml": "f: 3\n"}))
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            tip = ws.tip()
            only_c2 = ws._first_parent_changes(shas["c1"], shas["c2"])
            with pytest.raises(PreconditionFailedError) as caught:
                ws._revert_onto(tip, only_c2, ["a"])
            assert not list(ws.path.glob("gitrollback-index-*"))
            # the public path reverts both commits and gets the good tree
            commit = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], strategy="revert")
        assert str(caught.value) == f"reverting commit {shas['c2'][:12]} (change f) conflicts in a/f.yaml"
        assert caught.value.kind == "revert_conflict"
        assert commit.reverted == (later, shas["c4"], shas["c2"])

    def test_good_outside_the_history_is_refused(self, tmp_path: Path) -> None:
        """revert refuses a good revision that is not an ancestor of the tracked branch."""
        origin, shas = self._history(tmp_path)
        side = tmp_path / "work"
        make_repo(side, [CommitSpec("side", files={"a/f.yaml": "f: side\n"})], branch="side", start=shas["c1"])
        run_git(side, "push", "--quiet", str(origin), "side")
        side_sha = run_git(side, "rev-parse", "side")
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            with pytest.raises(PreconditionFailedError, match="is not in the history of main") as caught:
                ws.prepare(provider_id="p", bad=shas["c2"], good=side_sha, paths=["a"], strategy="revert")
            assert caught.value.kind == "good_not_in_history"
            restored = ws.push(ws.prepare(provider_id="p", bad=shas["c2"], good=side_sha, paths=["a"]))
        assert run_git(origin, "rev-parse", f"{restored.sha}:a") == run_git(origin, "rev-parse", f"{side_sha}:a")


class TestStrategyExactReuse:
    @staticmethod
    def _history(tmp_path: Path, bad_extra: dict[str, str]) -> tuple[Path, dict[str, str]]:
        work = tmp_path / "work"
        shas = make_repo(
            work,
            [
                CommitSpec("good", files={"a/f.yaml": "f: 1\n", "README.md": "r1\n"}),
                CommitSpec("bad", files={"a/f.yaml": "f: 2\n", **bad_extra}),
            ],
        )
        return _bare(work, tmp_path / "origin.git"), shas

    def test_revert_after_restore_on_the_same_pair_is_refused(self, tmp_path: Path) -> None:
        """The bad commit also changed README.md: after a restore, a revert of the same pair is refused
        (outside_paths) instead of handing back the restore commit labelled as a revert."""
        origin, shas = self._history(tmp_path, {"README.md": "r-bad\n"})
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            restore = ws.push(ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"]))
            with pytest.raises(PreconditionFailedError) as caught:
                ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], strategy="revert")
            again = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"])
        assert caught.value.kind == "outside_paths"
        assert str(caught.value) == f"commit {shas['c2'][:12]} (bad) also changed files outside a: README.md"
        assert (again.sha, again.created, again.strategy) == (restore.sha, False, "restore")
        assert run_git(origin, "rev-parse", f"refs/heads/{restore.branch}") == restore.sha
        assert _trailers(origin, restore.sha)["Rollback-Strategy"] == "restore"
        assert run_git(origin, "diff", "--name-only", shas["c2"], restore.sha) == "a/f.yaml"
        assert run_git(origin, "rev-parse", f"{restore.sha}:a") == run_git(origin, "rev-parse", f"{shas['c1']}:a")

    def test_revert_after_restore_makes_its_own_commit(self, tmp_path: Path) -> None:
        """When the revert is allowed, it gets its own commit with the revert trailer; a rerun reuses that one."""
        origin, shas = self._history(tmp_path, {})
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            restore = ws.push(ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"]))
            revert = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], strategy="revert")
            ws.push(revert)
            rerun = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], strategy="revert")
        assert revert.created and revert.sha != restore.sha and revert.reverted == (shas["c2"],)
        assert _trailers(origin, revert.sha)["Rollback-Strategy"] == "revert"
        assert (rerun.sha, rerun.created, rerun.reverted) == (revert.sha, False, (shas["c2"],))
        assert run_git(origin, "diff", "--name-only", shas["c2"], revert.sha) == "a/f.yaml"

    def test_commit_whose_tree_differs_from_the_request_is_not_reused(self, tmp_path: Path) -> None:
        """A commit with the right trailers but an extra change outside the paths is replaced, not reused."""
        origin, shas = self._history(tmp_path, {})
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            first = ws.push(ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"]))
        # Someone amends the rollback commit on its branch to also change README.md, keeping its message.
        work = tmp_path / "amend"
        run_git(tmp_path, "clone", "--quiet", "--branch", first.branch, str(origin), str(work))
        (work / "README.md").write_text("hacked\n", encoding="utf-8")
        run_git(work, "commit", "--quiet", "--amend", "-a", "--no-edit")
        run_git(work, "push", "--quiet", "--force", "origin", first.branch)
        amended = run_git(work, "rev-parse", "HEAD")
        with GitWorkspace(str(origin), cache_dir=tmp_path / "fresh", branch="main") as ws:
            second = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"])
            assert run_git(ws.path, "diff", "--name-only", shas["c2"], second.sha) == "a/f.yaml"
        assert _trailers(origin, amended)["Rollback-Of"] == shas["c2"]
        # A new commit with exactly the first one's tree (it may even be the same commit, made in the same second).
        assert second.created and second.sha != amended and second.root_tree == first.root_tree
        assert second.trees == {"a": run_git(origin, "rev-parse", f"{shas['c1']}:a")}


class TestExplicitBase:
    def test_prepare_on_an_explicit_base_reports_its_trees(self, tmp_path: Path) -> None:
        """base= builds on that commit, not on the fetched tip; the result carries the paths' and the root's trees."""
        work = tmp_path / "work"
        shas = make_repo(
            work,
            [
                CommitSpec("good", files={"a/f.yaml": "f: 1\n", "README.md": "r1\n"}),
                CommitSpec("bad", files={"a/f.yaml": "f: 2\n"}),
                CommitSpec("docs", files={"README.md": "r2\n"}),
            ],
        )
        origin = _bare(work, tmp_path / "origin.git")
        with GitWorkspace(str(origin), cache_dir=tmp_path / "c", branch="main") as ws:
            at_tip = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"])
            commit = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], base=shas["c2"])
            rerun = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], base=shas["c2"])
            same = ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], base=shas["c1"])
            with pytest.raises(GitError) as unknown:
                ws.prepare(provider_id="p", bad=shas["c2"], good=shas["c1"], paths=["a"], base="nope")
            assert run_git(ws.path, "rev-parse", f"{commit.sha}^") == commit.base == shas["c2"]
            assert commit.trees == {"a": run_git(ws.path, "rev-parse", f"{shas['c1']}:a")}
            assert commit.root_tree == run_git(ws.path, "rev-parse", f"{commit.sha}^{{tree}}")
            assert run_git(ws.path, "show", f"{commit.sha}:README.md") == "r1"
            assert run_git(ws.path, "diff", "--name-only", shas["c2"], commit.sha) == "a/f.yaml"
        assert at_tip.created and at_tip.sha != commit.sha and at_tip.base == shas["c3"] and commit.created
        assert (rerun.sha, rerun.created, rerun.base) == (commit.sha, False, shas["c2"])
        assert (same.already_rolled_back, same.sha, same.created) == (True, shas["c1"], False)
        assert same.root_tree == run_git(origin, "rev-parse", f"{shas['c1']}^{{tree}}")
        assert unknown.value.kind == "unknown_revision"


class TestPush:
    def test_direct_push_lands_on_main_once(self, ws: GitWorkspace, world: SandboxRepo, origin: Path) -> None:
        """direct=True puts the commit on main as a fast-forward; pushing it again is a no-op."""
        commit = ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH])
        pushed = ws.push(commit, direct=True)
        assert (pushed.sha, pushed.branch) == (commit.sha, "main")
        assert run_git(origin, "rev-parse", "main") == commit.sha
        assert ws.push(commit, direct=True).created is False
        assert run_git(origin, "rev-parse", "main") == commit.sha
        assert run_git(origin, "branch", "--list", "gitrollback/*") == ""

    def test_direct_push_rebuilds_when_main_moved(
        self, ws: GitWorkspace, world: SandboxRepo, origin: Path, tmp_path: Path
    ) -> None:
        """When main moved after prepare, the commit is rebuilt on the new tip, keeping the newcomer's change."""
        commit = ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH])
        newcomer = _push_commit(origin, tmp_path, CommitSpec("docs: more", files={"docs/more.md": "m\n"}))
        pushed = ws.push(commit, direct=True)
        assert pushed.sha != commit.sha
        assert (pushed.base, run_git(origin, "rev-parse", "main")) == (newcomer, pushed.sha)
        assert run_git(origin, "rev-parse", f"main:{ASSET_PATH}") == run_git(
            origin, "rev-parse", f"{world.good}:{ASSET_PATH}"
        )
        assert run_git(origin, "show", "main:docs/more.md") == "m"

    def test_delete_branch(self, ws: GitWorkspace, world: SandboxRepo, origin: Path) -> None:
        """delete_branch removes the rollback branch here and on the remote, and refuses the tracked branch."""
        commit = ws.push(ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH]))
        ws.delete_branch(commit.branch)
        ws.delete_branch(commit.branch)  # already gone: fine
        assert run_git(origin, "branch", "--list", "gitrollback/*") == ""
        assert run_git(ws.path, "for-each-ref", "refs/heads/", "refs/remotes/origin/gitrollback/") == ""
        with pytest.raises(GitError, match="refusing to delete the tracked branch"):
            ws.delete_branch("main")


class TestMarkers:
    def test_marker_tag_is_pushed_idempotent_and_parses_back(
        self, ws: GitWorkspace, world: SandboxRepo, origin: Path
    ) -> None:
        """record_marker pushes an annotated tag that parse_marker reads back; a second call changes nothing."""
        at = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
        evidence = {"job": "job-42", "readiness": "ready"}
        tag = ws.record_marker("v0.3.0", provider_id="prov-1", at=at, evidence=evidence)
        assert tag == "gitrollback/verified/prov-1/20260301T123005Z"
        tag_object = run_git(origin, "rev-parse", f"refs/tags/{tag}")
        assert ws.record_marker(world.good, provider_id="prov-1", at=at, evidence=evidence) == tag
        assert run_git(origin, "rev-parse", f"refs/tags/{tag}") == tag_object
        assert run_git(origin, "cat-file", "-t", tag_object) == "tag"
        message = run_git(origin, "tag", "-l", "--format=%(contents)", tag)
        marker = parse_marker(tag, message, run_git(origin, "rev-parse", f"{tag}^{{commit}}"))
        assert marker is not None
        assert (marker.provider_id, marker.revision, marker.verified_at) == ("prov-1", world.good, at)
        assert dict(marker.evidence) == evidence
        with pytest.raises(ConflictError, match=f"tag {tag} already marks {world.good[:12]}"):
            ws.record_marker(world.bad, provider_id="prov-1", at=at, evidence=evidence)


class _RacingServer(GitHttpServer):
    """Moves main (as another pusher would) whenever a push asks for the receive-pack refs, up to ``races`` times."""

    def __init__(self, root: Path, *, token: str, work: Path, races: int) -> None:
        super().__init__(root, token=token)
        self.work, self.races, self.raced = work, races, 0

    def handle(self, request: Request) -> Response:
        if request.query_value("service") == "git-receive-pack" and self.raced < self.races:
            self.raced += 1
            make_repo(self.work, [CommitSpec(f"racer {self.raced}", files={f"docs/race{self.raced}.md": "r\n"})])
            run_git(self.work, "push", "--quiet", str(self.root / "acme" / "gitops.git"), "main")
        return super().handle(request)


@pytest.fixture(name="http_origin")
def _http_origin(world: SandboxRepo, tmp_path: Path) -> Path:
    """The git root for the HTTP tests, holding acme/gitops.git as a copy of the sandbox."""
    _bare(world.path, tmp_path / "srv" / "acme" / "gitops.git")
    run_git(tmp_path, "clone", "--quiet", str(tmp_path / "srv" / "acme" / "gitops.git"), str(tmp_path / "racer"))
    return tmp_path / "srv"


def _auth_env(token: str) -> dict[str, str]:
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


class TestOverHttp:
    def test_token_reaches_git_only_through_the_environment(
        self, http_origin: Path, world: SandboxRepo, tmp_path: Path
    ) -> None:
        """With an env header or a user:token URL, clone and push work and the token is in no file or message."""
        with GitHttpServer(http_origin, token=TOKEN) as server:
            url = server.url_for("acme", "gitops")
            with GitWorkspace(url, cache_dir=tmp_path / "c1", branch="main", env=_auth_env(TOKEN)) as ws:
                commit = ws.push(ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH]))
                assert run_git(http_origin / "acme" / "gitops.git", "rev-parse", commit.branch) == commit.sha
                texts = [p.read_bytes() for p in ws.path.rglob("*") if p.is_file() and p.stat().st_size < 1_000_000]
                # a blob:none partial clone: restore needed no file contents, so blobs stay on the server
                assert run_git(ws.path, "config", "remote.origin.partialclonefilter") == "blob:none"
                missing = run_git(ws.path, "rev-list", "--objects", "--missing=print", "--all").splitlines()
                assert sum(line.startswith("?") for line in missing) > 20
            with_url = url.replace("http://", f"http://x-access-token:{TOKEN}@")
            with GitWorkspace(with_url, cache_dir=tmp_path / "c2", branch="main") as ws2:
                assert ws2.remote == url
                assert ws2.tip() == world.tip
                config = (ws2.path / "config").read_text()
        basic = _auth_env(TOKEN)["GIT_CONFIG_VALUE_0"].split()[-1]
        assert not any(TOKEN.encode() in t or basic.encode() in t for t in texts)
        assert TOKEN not in config and url in config
        assert all(req.header("Authorization") for req, resp in server.requests if resp.status != 401)

    def test_wrong_token_is_authentication_error(self, http_origin: Path, world: SandboxRepo, tmp_path: Path) -> None:
        """A wrong token gives AuthenticationError (401) whose text names neither token nor header."""
        with GitHttpServer(http_origin, token=TOKEN) as server:
            ws = GitWorkspace(
                server.url_for("acme", "gitops"), cache_dir=tmp_path / "c", branch="main", env=_auth_env("wr0ng-t0ken")
            )
            with pytest.raises(AuthenticationError) as caught:
                ws.prepare(provider_id="p", bad=world.bad, good=world.good, paths=[ASSET_PATH])
            ws.close()
        error = caught.value
        assert (error.status, error.operation) == (401, "clone")
        assert error.hint == "the remote refused the credentials: check the token passed in the environment"
        text = f"{error} {error.hint} {error.__cause__}"
        assert "wr0ng-t0ken" not in str(error)
        assert _auth_env("wr0ng-t0ken")["GIT_CONFIG_VALUE_0"].split()[-1] not in text
        workspaces = tmp_path / "c" / "workspaces"
        assert not workspaces.exists() or all(p.suffix == ".lock" for p in workspaces.iterdir())

    def test_rejected_push_is_rebuilt_and_pushed(self, http_origin: Path, world: SandboxRepo, tmp_path: Path) -> None:
        """A push rejected because main moved meanwhile is refetched, rebuilt on the new tip and pushed."""
        with (
            _RacingServer(http_origin, token=TOKEN, work=tmp_path / "racer", races=1) as server,
            GitWorkspace(
                server.url_for("acme", "gitops"), cache_dir=tmp_path / "c", branch="main", env=_auth_env(TOKEN)
            ) as ws,
        ):
            commit = ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH])
            pushed = ws.push(commit, direct=True)
        origin = http_origin / "acme" / "gitops.git"
        racer = run_git(tmp_path / "racer", "rev-parse", "HEAD")
        assert server.raced == 1
        assert pushed.sha != commit.sha
        assert run_git(origin, "rev-parse", "main") == pushed.sha
        assert run_git(origin, "rev-parse", "main^") == racer == pushed.base
        assert run_git(origin, "rev-parse", f"main:{ASSET_PATH}") == run_git(
            origin, "rev-parse", f"{world.good}:{ASSET_PATH}"
        )

    def test_push_gives_up_without_forcing(self, http_origin: Path, world: SandboxRepo, tmp_path: Path) -> None:
        """When main keeps moving, push stops after push_attempts with ConflictError and never forces main."""
        with _RacingServer(http_origin, token=TOKEN, work=tmp_path / "racer", races=5) as server:
            url = server.url_for("acme", "gitops")
            with GitWorkspace(
                url, cache_dir=tmp_path / "c", branch="main", env=_auth_env(TOKEN), push_attempts=2
            ) as ws:
                commit = ws.prepare(provider_id="prov-1", bad=world.bad, good=world.good, paths=[ASSET_PATH])
                with pytest.raises(ConflictError) as caught:
                    ws.push(commit, direct=True)
        assert caught.value.status == 409
        assert server.raced == 2
        assert run_git(http_origin / "acme" / "gitops.git", "rev-parse", "main") == run_git(
            tmp_path / "racer", "rev-parse", "HEAD"
        )
