"""The declarative repository builder and the sandbox's GitOps history, checked with the git CLI itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitrollback import _yaml
from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.assets import expand_assets
from gitrollback.testing.repos import (
    ASSET_PATH,
    IDENTITY,
    CommitSpec,
    SandboxRepo,
    fixture_files,
    make_repo,
    run_git,
)

# The tree id of backend/tekton in imagefactoryoss/imagefactory at v0.3.0 (a8d0b6d) and at cf15747, the commit
# gitrollback/testing/assets/imagefactory-tekton was copied from (its SOURCE.md): `git rev-parse v0.3.0:backend/tekton`.
UPSTREAM_TEKTON_TREE = "a38bc24fc1fbef3fbc510dc86f0e69e669d0ef77"


class TestMakeRepo:
    def test_commits_files_deletes_and_tags(self, tmp_path: Path) -> None:
        """Each spec becomes one commit with its files written and deleted, keyed by label and tag."""
        shas = make_repo(
            tmp_path,
            [
                CommitSpec("one", files={"a/x.txt": "x\n", "a/y.bin": b"\x00\x01"}, tag="v1"),
                CommitSpec("two", files={"a/x.txt": "x2\n"}, delete=["a/y.bin"], label="second"),
            ],
        )
        assert set(shas) == {"c1", "v1", "second"}
        assert shas["v1"] == shas["c1"] != shas["second"]
        assert run_git(tmp_path, "ls-tree", "-r", "--name-only", shas["c1"]).split() == ["a/x.txt", "a/y.bin"]
        assert run_git(tmp_path, "ls-tree", "-r", "--name-only", shas["second"]).split() == ["a/x.txt"]
        assert run_git(tmp_path, "show", f"{shas['second']}:a/x.txt") == "x2"
        assert run_git(tmp_path, "cat-file", "-t", "v1") == "tag"
        assert run_git(tmp_path, "symbolic-ref", "HEAD") == "refs/heads/main"

    def test_identity_and_dates_are_pinned(self, tmp_path: Path) -> None:
        """Author, committer and dates are fixed, so the same specs give the same commit ids anywhere."""
        specs = [CommitSpec("one", files={"f": "1"}), CommitSpec("two", files={"f": "2"})]
        first = make_repo(tmp_path / "a", specs)
        second = make_repo(tmp_path / "b", specs)
        assert first == second
        fmt = "%an <%ae>|%cn <%ce>|%aI"
        lines = run_git(tmp_path / "a", "log", f"--format={fmt}").splitlines()
        who = f"{IDENTITY['name']} <{IDENTITY['email']}>"
        assert lines == [f"{who}|{who}|2026-01-06T09:00:00+00:00", f"{who}|{who}|2026-01-05T09:00:00+00:00"]

    def test_extends_with_a_branch_and_a_merge(self, tmp_path: Path) -> None:
        """An existing repository gains a side branch, and a merge spec makes a two-parent commit on main."""
        base = make_repo(tmp_path, [CommitSpec("base", files={"f": "0"})])
        side = make_repo(tmp_path, [CommitSpec("side", files={"g": "1"})], branch="feature", start=base["c1"])
        merged = make_repo(tmp_path, [CommitSpec("Merge feature", merge="feature")], branch="main")
        parents = run_git(tmp_path, "rev-list", "--parents", "-1", merged["c1"]).split()
        assert parents == [merged["c1"], base["c1"], side["c1"]]

    def test_git_failure_raises(self, tmp_path: Path) -> None:
        """A failing git command raises with git's own message."""
        make_repo(tmp_path, [CommitSpec("one")])
        with pytest.raises(RuntimeError, match=r"bad revision .no-such-rev."):
            run_git(tmp_path, "log", "no-such-rev", "--")


class TestSandbox:
    def test_labels_and_tags(self, sandbox: SandboxRepo) -> None:
        """Six commits on main: good c3 (v0.3.0), bad c5 (v0.4.0), tip c6, four release tags."""
        assert [sandbox.shas[f"c{i}"] for i in range(1, 7)] == run_git(
            sandbox.path, "rev-list", "--reverse", "main"
        ).split()
        assert (sandbox.good, sandbox.bad, sandbox.tip) == (
            sandbox.shas["c3"],
            sandbox.shas["c5"],
            sandbox.shas["c6"],
        )
        assert sandbox.release_tags == {
            "v0.1.0": sandbox.shas["c1"],
            "v0.2.0": sandbox.shas["c2"],
            "v0.3.0": sandbox.shas["c3"],
            "v0.4.0": sandbox.shas["c5"],
        }
        assert (sandbox.branch, sandbox.asset_path) == ("main", "backend/tekton")
        assert run_git(sandbox.path, "status", "--porcelain") == ""

    def test_only_c1_c3_c5_touch_the_assets(self, sandbox: SandboxRepo) -> None:
        """Commits outside backend/tekton (c2, c4, c6) touch only README, server code and docs."""
        touching = run_git(sandbox.path, "log", "--format=%H", "main", "--", ASSET_PATH).split()
        assert touching == [sandbox.shas["c5"], sandbox.shas["c3"], sandbox.shas["c1"]]
        outside = {
            label: run_git(sandbox.path, "show", "--name-only", "--format=", sandbox.shas[label]).split()
            for label in ("c2", "c4", "c6")
        }
        assert outside == {
            "c2": ["backend/cmd/server/main.go"],
            "c4": ["README.md"],
            "c6": ["docs/CHANGELOG.md"],
        }

    def test_known_good_state_is_the_upstream_tree(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """At c3 backend/tekton equals the package data byte for byte and expands to 26 objects."""
        files = source.read_tree(sandbox.good, ASSET_PATH)
        assert files == fixture_files()
        assert source.tree_id(sandbox.good, ASSET_PATH) == UPSTREAM_TEKTON_TREE
        manifests = expand_assets(files, "v1")
        assert len(manifests) == 26
        assert "Task/kaniko-no-push" in [m.ref for m in manifests]
        c1 = source.read_tree(sandbox.shas["c1"], ASSET_PATH)
        assert b"alpine/git:latest" in c1["tasks/v1/git-clone-task.yaml"]
        assert b"alpine/git:2.45.2" in files["tasks/v1/git-clone-task.yaml"]

    def test_broken_upgrade_content(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """At c5 Task kaniko-build replaces kaniko-no-push and the registry Deployment has no selector."""
        files = source.read_tree(sandbox.bad, ASSET_PATH)
        assert "tasks/v1/kaniko-no-push-task.yaml" not in files
        manifests = {m.ref: m for m in expand_assets(files, "v1")}
        assert len(manifests) == 26
        assert "Task/kaniko-build" in manifests
        assert "Task/kaniko-no-push" not in manifests
        deployment = manifests["Deployment/image-factory-registry"].body
        assert "selector" not in deployment["spec"]
        assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == (
            "image-factory-registry"
        )
        pipeline = _yaml.load(files["pipelines/v1/image-factory-build-kaniko.yaml"])
        refs = [task["taskRef"]["name"] for task in pipeline["spec"]["tasks"] if "taskRef" in task]
        assert "kaniko-build" in refs
        assert "kaniko-no-push" not in refs
        assert source.read_tree(sandbox.tip, ASSET_PATH) == files
