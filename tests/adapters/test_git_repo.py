"""GitAssetSource on real repositories in tmp_path: local work trees, bare clones of file:// and http URLs."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.errors import ConfigError, GitError
from gitrollback.ports import AssetSource
from gitrollback.testing.git_http import GitHttpServer
from gitrollback.testing.repos import (
    ASSET_PATH,
    CommitSpec,
    SandboxRepo,
    make_repo,
    run_git,
)

FILE_ENV = {"GIT_ALLOW_PROTOCOL": "file"}


def _git_dir_snapshot(repo: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in (repo / ".git").rglob("*")}


class TestLocalRepository:
    def test_satisfies_the_port(self, source: GitAssetSource) -> None:
        """GitAssetSource is an AssetSource."""
        assert isinstance(source, AssetSource)

    def test_resolve_commit_tag_and_branch(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """Full and short ids, annotated tags (peeled to the commit) and branches resolve to the commit id."""
        assert source.resolve(sandbox.good) == sandbox.good
        assert source.resolve(sandbox.good[:8]) == sandbox.good
        assert source.resolve("v0.3.0") == sandbox.good
        assert run_git(sandbox.path, "rev-parse", "v0.3.0") != sandbox.good  # the tag object itself
        assert source.resolve("main") == sandbox.tip
        assert source.resolve("main~1") == sandbox.bad

    @pytest.mark.parametrize("rev", ["no-such-branch", "v9.9.9", "0" * 40, "--all", ""])
    def test_unknown_revision_is_a_git_error(self, source: GitAssetSource, rev: str) -> None:
        """An unknown or option-like revision raises GitError naming the operation, not a GitPython error."""
        with pytest.raises(GitError) as caught:
            source.resolve(rev)
        assert (caught.value.adapter, caught.value.operation) == ("git", "resolve")
        assert caught.value.hint
        assert not type(caught.value).__module__.startswith("git.")

    def test_describe(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """describe gives the subject, commit time, author and the tags pointing at the commit."""
        info = source.describe("v0.4.0")
        assert info.sha == sandbox.bad
        assert info.summary == "feat(tekton)!: rename kaniko-no-push task to kaniko-build; registry v2"
        assert info.tags == ("v0.4.0",)
        assert info.author == "Image Factory Bot"
        assert info.committed_at.isoformat() == "2026-01-09T09:00:00+00:00"
        assert source.describe(sandbox.shas["c4"]).tags == ()

    def test_tree_id(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """tree_id gives git's own object id for folders, files and the root, and None for a missing path."""
        expected = run_git(sandbox.path, "rev-parse", f"v0.3.0:{ASSET_PATH}")
        assert source.tree_id(sandbox.good, ASSET_PATH) == expected
        for spelling in (f"/{ASSET_PATH}/", f"./{ASSET_PATH}", "backend//tekton"):
            assert source.tree_id(sandbox.good, spelling) == expected
        assert source.tree_id(sandbox.good, ASSET_PATH) != source.tree_id(sandbox.bad, ASSET_PATH)
        assert source.tree_id(sandbox.bad, ASSET_PATH) == source.tree_id(sandbox.tip, ASSET_PATH)
        readme = run_git(sandbox.path, "rev-parse", f"{sandbox.tip}:README.md")
        assert source.tree_id(sandbox.tip, "README.md") == readme
        root = run_git(sandbox.path, "rev-parse", "main^{tree}")
        assert source.tree_id(sandbox.tip, "") == source.tree_id(sandbox.tip, ".") == root
        assert source.tree_id(sandbox.tip, "backend/nope") is None
        assert source.tree_id(sandbox.tip, "README.md/x") is None
        assert source.tree_id(sandbox.good, f"{ASSET_PATH}/tasks/v1/kaniko-build-task.yaml") is None

    def test_path_history_first_parent_newest_first(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """path_history lists only commits that changed the paths, newest first, honouring the limit."""
        shas = sandbox.shas
        history = source.path_history("main", [ASSET_PATH])
        assert [i.sha for i in history] == [shas["c5"], shas["c3"], shas["c1"]]
        assert [i.tags for i in history] == [("v0.4.0",), ("v0.3.0",), ("v0.1.0",)]
        assert [i.sha for i in source.path_history("main", [ASSET_PATH], limit=1)] == [shas["c5"]]
        both = source.path_history("main", [ASSET_PATH, "docs"])
        assert [i.sha for i in both] == [shas["c6"], shas["c5"], shas["c3"], shas["c1"]]
        assert [i.sha for i in source.path_history("v0.3.0", [ASSET_PATH])] == [shas["c3"], shas["c1"]]
        assert source.path_history("main", ["no/such/path"]) == []

    def test_read_tree(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """read_tree returns every file under the path, keyed relative to it, with git's exact bytes."""
        files = source.read_tree("v0.3.0", ASSET_PATH)
        assert "kustomization.yaml" in files
        assert "tasks/v1/git-clone-task.yaml" in files
        assert len(files) == 26
        blob = run_git(sandbox.path, "show", f"v0.3.0:{ASSET_PATH}/kustomization.yaml")
        assert files["kustomization.yaml"].decode() == blob + "\n"
        assert source.read_tree("v0.3.0", f"{ASSET_PATH}/jobs") == {
            name.removeprefix("jobs/"): data for name, data in files.items() if name.startswith("jobs/")
        }

    def test_read_tree_missing_path_or_file(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """A missing path or a file instead of a folder raises GitError for read_tree."""
        with pytest.raises(GitError, match="backend/nope does not exist at") as caught:
            source.read_tree(sandbox.tip, "backend/nope")
        assert caught.value.operation == "read_tree"
        with pytest.raises(GitError, match=r"README\.md is not a folder"):
            source.read_tree(sandbox.tip, "README.md")

    def test_branch_tip(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """branch_tip resolves branches only: a tag or unknown name is a GitError."""
        assert source.branch_tip("main") == sandbox.tip
        assert source.branch_tip("refs/heads/main") == sandbox.tip
        for name in ("v0.3.0", "nope"):
            with pytest.raises(GitError, match=f"no branch named '{name}'") as caught:
                source.branch_tip(name)
            assert caught.value.operation == "branch_tip"

    def test_is_on_first_parent(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """Every sandbox commit is on main's first-parent chain; a later commit is not on an older tag's."""
        assert all(source.is_on_first_parent(sha, "main") for sha in sandbox.release_tags.values())
        assert not source.is_on_first_parent(sandbox.tip, "v0.3.0")

    def test_opens_in_place_without_writing(self, tmp_path: Path) -> None:
        """Reading a work tree leaves its .git and working files untouched."""
        shas = make_repo(tmp_path / "wt", [CommitSpec("one", files={"a/f.yaml": "x: 1\n"})])
        (tmp_path / "wt" / "a" / "f.yaml").write_text("x: 2\n")  # an uncommitted edit must survive
        before = _git_dir_snapshot(tmp_path / "wt")
        with GitAssetSource(str(tmp_path / "wt")) as src:
            assert src.read_tree("main", "a") == {"f.yaml": b"x: 1\n"}
            assert src.path_history("main", ["a"])[0].sha == shas["c1"]
        assert _git_dir_snapshot(tmp_path / "wt") == before
        assert (tmp_path / "wt" / "a" / "f.yaml").read_text() == "x: 2\n"

    def test_opens_a_bare_repository(self, tmp_path: Path) -> None:
        """A bare repository at a local path is read in place like a work tree."""
        shas = make_repo(tmp_path / "wt", [CommitSpec("one", files={"a/f": "1"}, tag="v1")])
        run_git(tmp_path, "clone", "--quiet", "--bare", str(tmp_path / "wt"), str(tmp_path / "bare.git"))
        with GitAssetSource(str(tmp_path / "bare.git")) as src:
            assert src.resolve("v1") == shas["c1"]
            assert src.read_tree("main", "a") == {"f": b"1"}

    def test_not_a_repository(self, tmp_path: Path) -> None:
        """A path that is not a git repository raises GitError on first use, not in the constructor."""
        src = GitAssetSource(str(tmp_path / "missing"))
        with pytest.raises(GitError, match="not a git repository") as caught:
            src.resolve("main")
        assert caught.value.operation == "open"
        assert caught.value.__cause__ is not None

    def test_non_ascii_paths(self, tmp_path: Path) -> None:
        """Folder and file names outside ASCII are read, looked up and path-limited exactly."""
        shas = make_repo(
            tmp_path,
            [
                CommitSpec("add", files={"tâches/é tape.yaml": "name: ü\n", "other": "x"}),
                CommitSpec("unrelated", files={"other": "y"}),
            ],
        )
        with GitAssetSource(str(tmp_path)) as src:
            assert src.read_tree("main", "tâches") == {"é tape.yaml": "name: ü\n".encode()}
            assert src.tree_id("main", "tâches/é tape.yaml") is not None
            assert [i.sha for i in src.path_history("main", ["tâches"])] == [shas["c1"]]

    def test_merge_is_attributed_to_the_merge_commit(self, tmp_path: Path) -> None:
        """A change that entered main through a merge shows up as the merge commit in first-parent history."""
        base = make_repo(tmp_path, [CommitSpec("base", files={"assets/t.yaml": "v: 1\n"})])
        side = make_repo(tmp_path, [CommitSpec("feature work", files={"assets/t.yaml": "v: 2\n"})], branch="feature")
        main = make_repo(
            tmp_path,
            [CommitSpec("docs", files={"README": "r"}), CommitSpec("Merge feature", merge="feature")],
            branch="main",
        )
        with GitAssetSource(str(tmp_path)) as src:
            history = src.path_history("main", ["assets"])
            assert [i.sha for i in history] == [main["c2"], base["c1"]]
            assert history[0].summary == "Merge feature"
            assert not src.is_on_first_parent(side["c1"], "main")
            assert src.is_on_first_parent(main["c2"], "main")
            assert src.tree_id(main["c2"], "assets") == src.tree_id(side["c1"], "assets")


class TestBareClone:
    def test_url_needs_a_cache_dir(self) -> None:
        """A URL without cache_dir is a configuration error raised by the (I/O-free) constructor."""
        with pytest.raises(ConfigError, match="cache directory"):
            GitAssetSource("https://git.example.test/acme/app.git")

    def test_clone_into_cache_then_fetch_on_reopen(self, tmp_path: Path) -> None:
        """A file:// URL is cloned bare into cache_dir/<sha256(url)[:16]>.git once, then fetched on reopen."""
        upstream = tmp_path / "upstream"
        first = make_repo(upstream, [CommitSpec("one", files={"a/f": "1"}, tag="v1")])
        url = upstream.as_uri()
        cache = tmp_path / "cache"
        expected = cache / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.git"
        with GitAssetSource(url, cache_dir=cache, env=FILE_ENV) as src:
            assert src.path == expected
            assert src.resolve("main") == first["c1"]
            assert src.resolve("origin/main") == first["c1"]
            assert src.branch_tip("origin/main") == first["c1"]
            assert src.resolve("v1") == first["c1"]
        assert run_git(expected, "rev-parse", "--is-bare-repository") == "true"
        assert sorted(p.name for p in cache.iterdir()) == [expected.name, expected.name + ".lock"]
        marker = expected / "gitrollback-test-marker"
        marker.write_text("reused")

        second = make_repo(upstream, [CommitSpec("two", files={"a/f": "2"}, tag="v2")])
        run_git(upstream, "tag", "-d", "v1")
        with GitAssetSource(url, cache_dir=cache, env=FILE_ENV) as src:
            assert src.resolve("main") == second["c1"]
            assert src.read_tree("v2", "a") == {"f": b"2"}
            assert [i.sha for i in src.path_history("origin/main", ["a"])] == [second["c1"], first["c1"]]
            with pytest.raises(GitError):
                src.resolve("v1")  # pruned with the upstream tag
        assert marker.read_text() == "reused"
        assert run_git(upstream, "status", "--porcelain") == ""
        assert run_git(upstream, "rev-parse", "HEAD") == second["c1"]

    def test_the_cached_clone_keeps_a_commit_graph_with_bloom_filters(self, tmp_path: Path) -> None:
        """The clone gets a commit-graph with changed-path Bloom filters, each fetch of new commits adds a layer
        with them, and a cache made without one gets one on its next open; git verifies the graph each time."""
        upstream = tmp_path / "upstream"
        make_repo(upstream, [CommitSpec("one", files={"a/f": "1"})])
        url = upstream.as_uri()

        def graph(path: Path) -> tuple[int, bool]:
            """Commits in the graph's layers (the last entry of each OID fanout, gitformat-commit-graph) and
            whether every layer has the Bloom filter chunks; git verifies the graph too."""
            info = path / "objects" / "info"
            layers = [
                f.read_bytes() for f in [info / "commit-graph", *info.glob("commit-graphs/*.graph")] if f.exists()
            ]
            commits = 0
            for layer in layers:
                table = layer[8 : 8 + 12 * (layer[6] + 1)]
                offsets = {
                    table[i : i + 4]: int.from_bytes(table[i + 4 : i + 12], "big") for i in range(0, len(table), 12)
                }
                fanout = offsets[b"OIDF"]
                commits += int.from_bytes(layer[fanout + 255 * 4 : fanout + 256 * 4], "big")
            run_git(path, "commit-graph", "verify")
            return commits, bool(layers) and all(b"BIDX" in layer and b"BDAT" in layer for layer in layers)

        with GitAssetSource(url, cache_dir=tmp_path / "cache", env=FILE_ENV) as src:
            src.resolve("main")
        assert graph(src.path) == (1, True)
        assert run_git(src.path, "config", "fetch.writeCommitGraph") == "true"
        make_repo(upstream, [CommitSpec("two", files={"a/f": "2"})])
        with GitAssetSource(url, cache_dir=tmp_path / "cache", env=FILE_ENV) as src:
            src.resolve("main")
        assert graph(src.path) == (2, True)

        info = src.path / "objects" / "info"  # as a cache made before this change: no graph, no setting
        (info / "commit-graph").unlink(missing_ok=True)
        shutil.rmtree(info / "commit-graphs", ignore_errors=True)
        run_git(src.path, "config", "--unset", "fetch.writeCommitGraph")
        with GitAssetSource(url, cache_dir=tmp_path / "cache", env=FILE_ENV) as src:
            src.resolve("main")
        assert graph(src.path) == (2, True)
        assert run_git(src.path, "config", "fetch.writeCommitGraph") == "true"

    def test_refresh_fetches_new_commits(self, tmp_path: Path) -> None:
        """refresh() brings commits pushed after the clone into an open source."""
        upstream = tmp_path / "upstream"
        make_repo(upstream, [CommitSpec("one", files={"a/f": "1"})])
        with GitAssetSource(upstream.as_uri(), cache_dir=tmp_path / "cache", env=FILE_ENV) as src:
            src.resolve("main")
            later = make_repo(upstream, [CommitSpec("two", files={"a/f": "2"})])
            src.refresh()
            assert src.branch_tip("main") == later["c1"]

    def test_failed_fetch_of_a_cached_clone(self, tmp_path: Path) -> None:
        """A cached clone that cannot be fetched fails with a fetch GitError instead of stale answers."""
        upstream = tmp_path / "upstream"
        make_repo(upstream, [CommitSpec("one", files={"a/f": "1"})])
        url = upstream.as_uri()
        with GitAssetSource(url, cache_dir=tmp_path / "cache", env=FILE_ENV) as src:
            src.resolve("main")
        shutil.rmtree(upstream)
        stale = GitAssetSource(url, cache_dir=tmp_path / "cache", env=FILE_ENV)
        with pytest.raises(GitError, match="git fetch failed: fatal: ") as caught:
            stale.resolve("main")
        assert caught.value.operation == "fetch"
        with pytest.raises(GitError):
            stale.resolve("main")  # still refuses: the cache is never used without a successful fetch

    def test_credentials_stay_out_of_config_and_messages(self, tmp_path: Path) -> None:
        """An extraHeader from env is never written to the clone's config, and URL passwords are masked."""
        upstream = tmp_path / "upstream"
        make_repo(upstream, [CommitSpec("one", files={"a/f": "1"})])
        env = {
            **FILE_ENV,
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": "Authorization: Basic c2VjcmV0LXRva2Vu",
        }
        with GitAssetSource(upstream.as_uri(), cache_dir=tmp_path / "cache", env=env) as src:
            src.resolve("main")
            config = (src.path / "config").read_text()
        assert "c2VjcmV0LXRva2Vu" not in config
        assert upstream.as_uri() in config

    def test_http_url_password_becomes_a_header(self, tmp_path: Path) -> None:
        """user:password in an http URL is sent as a Basic header and never lands in config or cache names."""
        make_repo(tmp_path / "work", [CommitSpec("one", files={"a/f": "1"})])
        with GitHttpServer(tmp_path / "srv", token="s3cr3t-t0ken") as server:
            run_git(tmp_path / "work", "push", "--quiet", str(server.create_bare("acme", "app")), "main")
            url = server.url_for("acme", "app").replace("http://", "http://x-access-token:s3cr3t-t0ken@")
            with GitAssetSource(url, cache_dir=tmp_path / "cache") as src:
                assert src.read_tree("main", "a") == {"f": b"1"}
                config = (src.path / "config").read_text()
                assert src.location == server.url_for("acme", "app")
            assert "s3cr3t" not in config
            assert "s3cr3t" not in str(src.path)
            assert all(req.header("Authorization") for req, _ in server.requests)

            wrong = url.replace("s3cr3t-t0ken", "wr0ng-t0ken")
            with pytest.raises(
                GitError, match=r"git clone failed: fatal: could not read Username.*terminal prompts disabled"
            ) as caught:
                GitAssetSource(wrong, cache_dir=tmp_path / "other").open()
        assert caught.value.operation == "clone"
        assert caught.value.hint == "the remote refused the credentials: check the token passed in the environment"
        assert "wr0ng" not in str(caught.value)
        # no half-made cache entry (the lock file beside where the clone would be stays: _cache_lock.py)
        assert [p.suffix for p in (tmp_path / "other").iterdir()] == [".lock"]

    def test_missing_remote_repository(self, tmp_path: Path) -> None:
        """A URL with no repository behind it gives a GitError carrying git's own fatal line."""
        upstream = tmp_path / "no-such-repo"
        with pytest.raises(
            GitError, match=r"git clone failed: fatal: .* does not appear to be a git repository"
        ) as caught:
            GitAssetSource(upstream.as_uri(), cache_dir=tmp_path / "cache", env=FILE_ENV).open()
        assert caught.value.hint == "check the URL, the network and the credentials"

    def test_reopen_after_close(self, tmp_path: Path) -> None:
        """A closed source reopens lazily on the next query."""
        shas = make_repo(tmp_path, [CommitSpec("one", files={"a/f": "1"})])
        src = GitAssetSource(str(tmp_path))
        src.open()
        src.close()
        assert src.resolve("main") == shas["c1"]
        src.close()
