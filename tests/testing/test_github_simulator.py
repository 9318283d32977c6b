"""GitHubSimulator fidelity, driven by the real PyGithub 2.x and real git over smart HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github import (
    Auth,
    BadCredentialsException,
    Github,
    GithubException,
    RateLimitExceededException,
    UnknownObjectException,
)

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.repos import CommitSpec, make_repo, run_git


def _client(base_url: str, token: str = "ghp_sim", **options: Any) -> Github:
    return Github(
        base_url=base_url,
        auth=Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **options,
    )


@pytest.fixture(name="sim")
def _sim(tmp_path: Path) -> Iterator[GitHubSimulator]:
    with GitHubSimulator(tmp_path / "gh", collaborators=("alice", "bob")) as sim:
        yield sim


@pytest.fixture(name="work")
def _work(sim: GitHubSimulator, tmp_path: Path) -> Path:
    """A work tree whose ``main`` (one commit) is pushed to a fresh ``acme/app`` on the simulator."""
    bare = sim.create_repo("acme", "app")
    work = tmp_path / "work"
    make_repo(work, [CommitSpec("init", files={"app.yaml": "replicas: 1\n", "notes.txt": "n\n"})])
    run_git(work, "push", "--quiet", str(bare), "main")
    return work


@pytest.fixture(name="gh")
def _gh(sim: GitHubSimulator) -> Iterator[Github]:
    client = _client(sim.api_url)
    yield client
    client.close()


def _branch(work: Path, bare: Path, branch: str, files: dict[str, str], *, start: str = "main") -> str:
    """Commit ``files`` on a new ``branch`` from ``start`` and push it; returns the new tip."""
    shas = make_repo(work, [CommitSpec(f"change on {branch}", files=files)], branch=branch, start=start)
    run_git(work, "push", "--quiet", str(bare), branch)
    return next(iter(shas.values()))


def _raw(sim: GitHubSimulator, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(sim.api_url + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


class TestRepositoriesAndAuth:
    def test_repository_urls_reuse_the_clients_host_and_api_prefix(self, sim: GitHubSimulator, work: Path) -> None:
        """Repository.url is built from the Host header and /api/v3, so PyGithub accepts follow-up calls."""
        with _client(sim.api_url) as gh:
            repo = gh.get_repo("acme/app")
            assert repo.url == f"{sim.api_url}/repos/acme/app"
            assert repo.default_branch == "main"
            assert repo.get_branch("main").name == "main"

    def test_unprefixed_base_url_works_like_api_github_com(self, sim: GitHubSimulator, work: Path) -> None:
        """A base URL without /api/v3 gets api.github.com-style paths and URLs without the prefix."""
        with _client(sim.url) as gh:
            repo = gh.get_repo("acme/app")
            assert repo.url == f"{sim.url}/repos/acme/app"
            assert repo.get_branch("main").commit.sha == sim.branch_sha("acme", "app", "main")
        assert sim.requests[0][0].path == "/repos/acme/app"

    def test_wrong_token_is_401_bad_credentials(self, sim: GitHubSimulator, work: Path) -> None:
        """A wrong token gets GitHub's 401 body, which PyGithub raises as BadCredentialsException."""
        with _client(sim.api_url, token="ghp_wrong") as gh, pytest.raises(BadCredentialsException) as info:
            gh.get_repo("acme/app")
        assert info.value.status == 401
        assert info.value.data == {
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        }

    def test_missing_token_is_401_and_bearer_is_accepted(self, sim: GitHubSimulator, work: Path) -> None:
        """No Authorization header is 401 "Requires authentication"; "Bearer <token>" works like "token"."""
        status, body = _raw(sim, "GET", "/repos/acme/app", {})
        assert (status, body["message"]) == (401, "Requires authentication")
        status, body = _raw(sim, "GET", "/repos/acme/app", {"Authorization": "Bearer ghp_sim"})
        assert (status, body["full_name"]) == (200, "acme/app")

    def test_unknown_repository_is_404(self, gh: Github, work: Path) -> None:
        """An unknown repository is a 404 Not Found (UnknownObjectException)."""
        with pytest.raises(UnknownObjectException) as info:
            gh.get_repo("acme/nope").full_name  # noqa: B018 - reading a field triggers the request
        assert info.value.status == 404
        assert info.value.data["message"] == "Not Found"

    def test_branch_with_slash_and_missing_branch(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """Branch names with "/" resolve; a missing branch is 404 "Branch not found"; protection shows."""
        tip = _branch(work, sim.repo_path("acme", "app"), "rollback/abc", {"app.yaml": "replicas: 2\n"})
        sim.protect_branch("acme", "app", "main")
        repo = gh.get_repo("acme/app")
        branch = repo.get_branch("rollback/abc")
        assert (branch.name, branch.commit.sha, branch.protected) == ("rollback/abc", tip, False)
        assert repo.get_branch("main").protected is True
        with pytest.raises(UnknownObjectException) as info:
            repo.get_branch("nope")
        assert info.value.data["message"] == "Branch not found"


class TestGitOverHTTP:
    def test_clone_and_push_go_through_the_same_port(self, sim: GitHubSimulator, work: Path, tmp_path: Path) -> None:
        """git clones and pushes over smart HTTP on the API's port; a push without the token is refused."""
        clone = tmp_path / "clone"
        run_git(tmp_path, "clone", "--quiet", sim.clone_url("acme", "app"), str(clone))
        make_repo(clone, [CommitSpec("over http", files={"http.txt": "x\n"})], branch="feature")
        run_git(clone, "push", "--quiet", "origin", "feature")
        assert sim.branch_sha("acme", "app", "feature") == run_git(clone, "rev-parse", "HEAD")
        with pytest.raises(RuntimeError, match=r"terminal prompts disabled|Authentication failed"):
            run_git(clone, "push", sim.clone_url("acme", "app", with_token=False), "feature:other")
        assert sim.branch_sha("acme", "app", "other") is None

    def test_add_repo_serves_an_existing_bare_repository(self, sim: GitHubSimulator, tmp_path: Path) -> None:
        """add_repo links an outside bare repo under root: the API reads it and git clones it over HTTP."""
        source = tmp_path / "src"
        shas = make_repo(source, [CommitSpec("seed", files={"a.txt": "a\n"})])
        outside = tmp_path / "elsewhere" / "ops.git"
        run_git(tmp_path, "clone", "--quiet", "--bare", str(source), str(outside))
        link = sim.add_repo("acme", "ops", outside)
        assert link == sim.root / "acme" / "ops.git" and link.is_symlink()
        with _client(sim.api_url) as gh:
            assert gh.get_repo("acme/ops").get_branch("main").commit.sha == shas["c1"]
        run_git(tmp_path, "clone", "--quiet", sim.clone_url("acme", "ops"), str(tmp_path / "ops"))
        assert run_git(tmp_path / "ops", "rev-parse", "HEAD") == shas["c1"]


class TestPullRequests:
    def test_create_then_duplicate_gives_422_with_githubs_exact_body(
        self, sim: GitHubSimulator, gh: Github, work: Path
    ) -> None:
        """The second create for the same head and base is 422 "A pull request already exists for acme:…"."""
        head = _branch(work, sim.repo_path("acme", "app"), "rollback/abc", {"app.yaml": "replicas: 2\n"})
        repo = gh.get_repo("acme/app")
        pr = repo.create_pull(title="Roll back", body="why", head="rollback/abc", base="main")
        assert (pr.number, pr.state, pr.head.label, pr.head.sha, pr.base.ref) == (
            1,
            "open",
            "acme:rollback/abc",
            head,
            "main",
        )
        assert pr.url == f"{sim.api_url}/repos/acme/app/pulls/1"
        assert pr.issue_url == f"{sim.api_url}/repos/acme/app/issues/1"
        assert pr.html_url == f"{sim.url}/acme/app/pull/1"
        with pytest.raises(GithubException) as info:
            repo.create_pull(title="again", body="", head="rollback/abc", base="main")
        assert info.value.status == 422
        assert info.value.data == {
            "message": "Validation Failed",
            "documentation_url": "https://docs.github.com/rest",
            "errors": [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": "A pull request already exists for acme:rollback/abc.",
                }
            ],
            "status": "422",
        }
        assert len(sim.pulls("acme", "app")) == 1

    def test_create_validates_branches_and_commits(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """Unknown head or base is a 422 field error; a head with nothing new is "No commits between"."""
        run_git(work, "push", "--quiet", str(sim.repo_path("acme", "app")), "main:same")
        repo = gh.get_repo("acme/app")
        cases = {
            ("nope", "main"): {"resource": "PullRequest", "field": "head", "code": "invalid"},
            ("same", "nope"): {"resource": "PullRequest", "field": "base", "code": "invalid"},
            ("same", "main"): {
                "resource": "PullRequest",
                "code": "custom",
                "message": "No commits between main and same",
            },
        }
        for (head, base), error in cases.items():
            with pytest.raises(GithubException) as info:
                repo.create_pull(title="t", body="b", head=head, base=base)
            assert (info.value.status, info.value.data["errors"]) == (422, [error])
        assert sim.pulls("acme", "app") == []

    def test_list_filters_on_head_label_base_and_state(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """GET /pulls filters on head=owner:branch (head.label), base and state; lists lack "merged"."""
        bare = sim.repo_path("acme", "app")
        _branch(work, bare, "rollback/abc", {"app.yaml": "replicas: 2\n"})
        _branch(work, bare, "other", {"other.txt": "o\n"})
        repo = gh.get_repo("acme/app")
        first = repo.create_pull(title="one", body="", head="rollback/abc", base="main")
        repo.create_pull(title="two", body="", head="other", base="main")
        first.edit(state="closed")
        open_abc = repo.get_pulls(state="open", head="acme:rollback/abc", base="main")
        assert [p.number for p in open_abc] == []
        closed_abc = list(repo.get_pulls(state="closed", head="acme:rollback/abc", base="main"))
        assert [(p.number, p.state) for p in closed_abc] == [(1, "closed")]
        assert [p.number for p in repo.get_pulls(state="all")] == [2, 1]
        assert [p.number for p in repo.get_pulls(state="open", head="acme:other", base="elsewhere")] == []
        request = next(r for r, _ in sim.requests if r.query.get("head") == ["acme:rollback/abc"])
        assert request.query == {"state": ["open"], "head": ["acme:rollback/abc"], "base": ["main"]}
        reply = next(resp for r, resp in sim.requests if r.query.get("state") == ["all"])
        assert "merged" not in json.loads(reply.body)[0]

    def test_head_without_owner_is_ignored_like_github_does(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """A bare-branch ``head`` filter is silently ignored, so every open pull request comes back (PyGithub#1566)."""
        bare = sim.repo_path("acme", "app")
        _branch(work, bare, "rollback/abc", {"app.yaml": "replicas: 2\n"})
        _branch(work, bare, "other", {"other.txt": "o\n"})
        repo = gh.get_repo("acme/app")
        repo.create_pull(title="one", body="", head="rollback/abc", base="main")
        repo.create_pull(title="two", body="", head="other", base="main")
        assert [p.number for p in repo.get_pulls(state="open", head="rollback/abc", base="main")] == [2, 1]
        assert [p.number for p in repo.get_pulls(state="open", head="acme:rollback/abc", base="main")] == [1]
        assert [p.number for p in repo.get_pulls(state="open", head="other-owner:rollback/abc")] == []

    def test_pagination_follows_link_headers(self, sim: GitHubSimulator, work: Path) -> None:
        """With per_page=3 and 7 pull requests PyGithub walks three pages through absolute Link URLs."""
        bare = sim.repo_path("acme", "app")
        with _client(sim.api_url, per_page=3) as gh:
            repo = gh.get_repo("acme/app")
            for i in range(7):
                make_repo(work, [CommitSpec(f"c{i}", files={f"f{i}.txt": f"{i}\n"})], branch=f"b{i}", start="main")
            run_git(work, "push", "--quiet", str(bare), *(f"b{i}" for i in range(7)))
            for i in range(7):
                repo.create_pull(title=f"pr {i}", body="", head=f"b{i}", base="main")
            sim.requests.clear()
            numbers = [p.number for p in repo.get_pulls(state="open")]
        assert numbers == [7, 6, 5, 4, 3, 2, 1]
        queries = [r.query for r, _ in sim.requests]
        assert queries == [
            {"per_page": ["3"], "state": ["open"]},
            {"per_page": ["3"], "state": ["open"], "page": ["2"]},
            {"per_page": ["3"], "state": ["open"], "page": ["3"]},
        ]
        first_link = sim.requests[0][1].headers["Link"]
        assert first_link == (
            f'<{sim.api_url}/repos/acme/app/pulls?per_page=3&state=open&page=2>; rel="next", '
            f'<{sim.api_url}/repos/acme/app/pulls?per_page=3&state=open&page=3>; rel="last"'
        )
        assert sim.requests[2][1].headers["Link"] == (
            f'<{sim.api_url}/repos/acme/app/pulls?per_page=3&state=open&page=1>; rel="first", '
            f'<{sim.api_url}/repos/acme/app/pulls?per_page=3&state=open&page=2>; rel="prev"'
        )

    def test_edit_labels_reviewers_and_comments_are_recorded(
        self, sim: GitHubSimulator, gh: Github, work: Path
    ) -> None:
        """PATCH, labels, review requests and issue comments change the stored pull request."""
        _branch(work, sim.repo_path("acme", "app"), "rollback/abc", {"app.yaml": "replicas: 2\n"})
        pr = gh.get_repo("acme/app").create_pull(title="t", body="old", head="rollback/abc", base="main")
        pr.edit(title="new title", body="new body")
        pr.add_to_labels("rollback", "incident")
        pr.add_to_labels("rollback")
        pr.create_review_request(reviewers=["alice", "bob"])
        comment = pr.create_issue_comment("rolled back because …")
        assert comment.html_url == f"{sim.url}/acme/app/pull/1#issuecomment-{comment.id}"
        stored = sim.pull("acme", "app", 1)
        assert (stored.title, stored.body) == ("new title", "new body")
        assert stored.labels == ["rollback", "incident"]
        assert stored.requested_reviewers == ["alice", "bob"]
        assert sim.comments("acme", "app", 1) == ["rolled back because …"]
        assert [c.body for c in pr.get_issue_comments()] == ["rolled back because …"]
        fresh = gh.get_repo("acme/app").get_pull(1)
        assert [label.name for label in fresh.labels] == ["rollback", "incident"]
        assert [u.login for u in fresh.requested_reviewers] == ["alice", "bob"]

    def test_review_requests_refused_for_author_and_non_collaborators(
        self, sim: GitHubSimulator, gh: Github, work: Path
    ) -> None:
        """Requesting the author, or a non-collaborator when collaborators are set, is a 422 with GitHub's text."""
        _branch(work, sim.repo_path("acme", "app"), "rollback/abc", {"app.yaml": "replicas: 2\n"})
        pr = gh.get_repo("acme/app").create_pull(title="t", body="", head="rollback/abc", base="main")
        with pytest.raises(GithubException) as info:
            pr.create_review_request(reviewers=[sim.login])
        assert (info.value.status, info.value.data["message"]) == (
            422,
            "Review cannot be requested from pull request author.",
        )
        sim.set_collaborators("acme", "app", ["alice"])
        with pytest.raises(GithubException) as info:
            pr.create_review_request(reviewers=["mallory"])
        assert info.value.data["message"].startswith("Reviews may only be requested from collaborators.")
        assert sim.pull("acme", "app", 1).requested_reviewers == []


class TestMerge:
    def test_merge_writes_a_real_merge_commit_on_the_base_branch(
        self, sim: GitHubSimulator, gh: Github, work: Path
    ) -> None:
        """PUT /merge makes a two-parent merge commit on main in the bare repo; GET /merge turns 404 into 204."""
        bare = sim.repo_path("acme", "app")
        base = sim.branch_sha("acme", "app", "main")
        head = _branch(work, bare, "rollback/abc", {"app.yaml": "replicas: 2\n"})
        pr = gh.get_repo("acme/app").create_pull(title="Roll back", body="", head="rollback/abc", base="main")
        assert pr.is_merged() is False
        status = pr.merge(commit_message="incident 42", sha=head)
        assert (status.merged, status.message) == (True, "Pull Request successfully merged")
        assert sim.branch_sha("acme", "app", "main") == status.sha
        assert run_git(bare, "rev-parse", f"{status.sha}^1", f"{status.sha}^2").split() == [base, head]
        assert run_git(bare, "log", "-1", "--format=%s%n%b", status.sha) == (
            "Merge pull request #1 from acme/rollback/abc\nincident 42"
        )
        assert run_git(bare, "show", f"{status.sha}:app.yaml") == "replicas: 2"
        assert pr.is_merged() is True
        merged = gh.get_repo("acme/app").get_pull(1)
        assert (merged.state, merged.merged, merged.merge_commit_sha) == ("closed", True, status.sha)

    def test_conflict_is_405_not_mergeable(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """When main changed the same lines, the PR reports mergeable=false and the merge is 405."""
        bare = sim.repo_path("acme", "app")
        _branch(work, bare, "rollback/abc", {"app.yaml": "replicas: 2\n"})
        pr = gh.get_repo("acme/app").create_pull(title="t", body="", head="rollback/abc", base="main")
        make_repo(work, [CommitSpec("hotfix", files={"app.yaml": "replicas: 9\n"})], branch="main")
        run_git(work, "push", "--quiet", str(bare), "main")
        fresh = gh.get_repo("acme/app").get_pull(1)
        assert (fresh.mergeable, fresh.mergeable_state) == (False, "dirty")
        with pytest.raises(GithubException) as info:
            pr.merge()
        assert (info.value.status, info.value.data["message"]) == (405, "Pull Request is not mergeable")
        assert sim.pull("acme", "app", 1).merged is False

    def test_stale_sha_is_409_head_branch_was_modified(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """A merge whose sha guard no longer matches the head is 409 and leaves main alone."""
        bare = sim.repo_path("acme", "app")
        old = _branch(work, bare, "rollback/abc", {"app.yaml": "replicas: 2\n"})
        pr = gh.get_repo("acme/app").create_pull(title="t", body="", head="rollback/abc", base="main")
        main = sim.branch_sha("acme", "app", "main")
        make_repo(work, [CommitSpec("more", files={"more.txt": "m\n"})], branch="rollback/abc")
        run_git(work, "push", "--quiet", str(bare), "rollback/abc")
        with pytest.raises(GithubException) as info:
            pr.merge(sha=old)
        assert (info.value.status, info.value.data["message"]) == (
            409,
            "Head branch was modified. Review and try the merge again.",
        )
        assert sim.branch_sha("acme", "app", "main") == main

    def test_required_status_checks_refuse_until_green(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """A protected main needs its required check: 405 "expected", then 405 "failing", then the merge works."""
        _branch(work, sim.repo_path("acme", "app"), "rollback/abc", {"app.yaml": "replicas: 2\n"})
        pr = gh.get_repo("acme/app").create_pull(title="t", body="", head="rollback/abc", base="main")
        sim.protect_branch("acme", "app", "main", required_checks=["ci"])
        messages = []
        for failing in (None, True):
            if failing is not None:
                sim.set_checks_failing("acme", "app", failing)
            with pytest.raises(GithubException) as info:
                pr.merge()
            messages.append((info.value.status, info.value.data["message"], info.value.data["documentation_url"]))
        assert messages == [
            (
                405,
                'Required status check "ci" is expected.',
                "https://help.github.com/articles/about-protected-branches",
            ),
            (
                405,
                'Required status check "ci" is failing.',
                "https://help.github.com/articles/about-protected-branches",
            ),
        ]
        assert gh.get_repo("acme/app").get_pull(1).mergeable_state == "blocked"
        sim.set_checks_failing("acme", "app", False)
        assert pr.merge().merged is True

    def test_a_failing_check_that_is_not_required_makes_the_pull_unstable(
        self, sim: GitHubSimulator, gh: Github, work: Path
    ) -> None:
        """Without protection a red check leaves the merge allowed: mergeable_state is "unstable", not "clean"."""
        _branch(work, sim.repo_path("acme", "app"), "rollback/abc", {"app.yaml": "replicas: 2\n"})
        pr = gh.get_repo("acme/app").create_pull(title="t", body="", head="rollback/abc", base="main")
        assert gh.get_repo("acme/app").get_pull(1).mergeable_state == "clean"
        sim.set_checks_failing("acme", "app", contexts=("lint",))
        fresh = gh.get_repo("acme/app").get_pull(1)
        assert (fresh.mergeable, fresh.mergeable_state) == (True, "unstable")
        assert pr.merge().merged is True

    def test_required_approvals_refuse_until_approved(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """Branch protection with one required review refuses with GitHub's text until someone approves."""
        _branch(work, sim.repo_path("acme", "app"), "rollback/abc", {"app.yaml": "replicas: 2\n"})
        pr = gh.get_repo("acme/app").create_pull(title="t", body="", head="rollback/abc", base="main")
        sim.protect_branch("acme", "app", "main", required_checks=(), required_approvals=1)
        with pytest.raises(GithubException) as info:
            pr.merge()
        assert info.value.data["message"] == "At least 1 approving review is required by reviewers with write access."
        sim.approve("acme", "app", 1, "alice")
        assert pr.merge().merged is True

    def test_closed_pull_request_and_rebase_method_are_refused(
        self, sim: GitHubSimulator, gh: Github, work: Path
    ) -> None:
        """Rebase merges are disabled (405), a closed pull request is not mergeable (405), squash works."""
        bare = sim.repo_path("acme", "app")
        _branch(work, bare, "a", {"a.txt": "a\n"})
        _branch(work, bare, "b", {"b.txt": "b\n"})
        repo = gh.get_repo("acme/app")
        pr_a = repo.create_pull(title="A", body="", head="a", base="main")
        pr_b = repo.create_pull(title="B", body="", head="b", base="main")
        with pytest.raises(GithubException) as info:
            pr_a.merge(merge_method="rebase")
        assert (info.value.status, info.value.data["message"]) == (
            405,
            "Rebase merges are not allowed on this repository.",
        )
        pr_a.edit(state="closed")
        with pytest.raises(GithubException) as info:
            pr_a.merge()
        assert (info.value.status, info.value.data["message"]) == (405, "Pull Request is not mergeable")
        squashed = pr_b.merge(merge_method="squash")
        assert run_git(bare, "log", "-1", "--format=%P%n%s", squashed.sha).splitlines()[1] == "B (#2)"
        assert len(run_git(bare, "log", "-1", "--format=%P", squashed.sha).split()) == 1


class TestBackgroundMergeability:
    def test_mergeable_is_null_while_computed_and_a_merge_meanwhile_is_405(self, tmp_path: Path) -> None:
        """For mergeability_delay after opening, and again after the base moves, mergeable is null and a merge is
        refused with 405 although nothing conflicts; once computed, the same merge goes through."""
        clock = FakeClock()
        with GitHubSimulator(tmp_path / "gh", clock=clock, mergeability_delay=5) as sim:
            bare = sim.create_repo("acme", "app")
            work = tmp_path / "work"
            make_repo(work, [CommitSpec("init", files={"app.yaml": "replicas: 1\n"})])
            run_git(work, "push", "--quiet", str(bare), "main")
            _branch(work, bare, "rollback/abc", {"app.yaml": "replicas: 2\n"})
            gh = _client(sim.api_url)
            repo = gh.get_repo("acme/app")
            pr = repo.create_pull(title="t", body="", head="rollback/abc", base="main")
            seen = [(repo.get_pull(1).mergeable, repo.get_pull(1).mergeable_state)]
            with pytest.raises(GithubException) as info:
                pr.merge()
            assert (info.value.status, info.value.data["message"]) == (405, "Pull Request is not mergeable")
            clock.advance(5)
            seen.append((repo.get_pull(1).mergeable, repo.get_pull(1).mergeable_state))
            make_repo(work, [CommitSpec("unrelated", files={"other.txt": "o\n"})], branch="main")
            run_git(work, "push", "--quiet", str(bare), "main")
            seen.append((repo.get_pull(1).mergeable, repo.get_pull(1).mergeable_state))
            assert sim.mergeable("acme", "app", 1) is None
            clock.advance(5)
            seen.append((repo.get_pull(1).mergeable, repo.get_pull(1).mergeable_state))
            assert seen == [(None, "unknown"), (True, "clean"), (None, "unknown"), (True, "clean")]
            assert pr.merge().merged is True
            gh.close()


class TestRateLimits:
    def test_every_reply_carries_the_rate_limit_headers(self, sim: GitHubSimulator, gh: Github, work: Path) -> None:
        """X-RateLimit-Limit/-Remaining/-Used/-Reset/-Resource come with every API reply and count down."""
        gh.get_repo("acme/app").get_branch("main")
        first, second = (reply.headers for _, reply in sim.requests[-2:])
        assert (first["X-RateLimit-Limit"], first["X-RateLimit-Resource"]) == ("5000", "core")
        assert (int(first["X-RateLimit-Remaining"]), int(second["X-RateLimit-Remaining"])) == (4999, 4998)
        assert second["X-RateLimit-Used"] == "2"
        assert 0 <= int(second["X-RateLimit-Reset"]) - (sim.clock.now().timestamp() + 3600) <= 2  # wall clock here

    def test_a_spent_primary_limit_is_403_until_the_reset(self, tmp_path: Path) -> None:
        """PyGithub gets RateLimitExceededException with Remaining 0 and the reset time, and succeeds after it."""
        clock = FakeClock()
        with GitHubSimulator(tmp_path / "gh", clock=clock) as sim:
            sim.create_repo("acme", "app")
            gh = _client(sim.api_url)
            sim.exhaust_rate_limit(120)
            with pytest.raises(RateLimitExceededException) as info:
                gh.get_repo("acme/app")
            headers = {k.lower(): v for k, v in (info.value.headers or {}).items()}
            assert info.value.status == 403
            assert info.value.data["message"].startswith("API rate limit exceeded for user ID ")
            assert (headers["x-ratelimit-remaining"], headers["x-ratelimit-reset"]) == (
                "0",
                str(int(clock.now().timestamp()) + 120),
            )
            clock.advance(120)
            assert gh.get_repo("acme/app").full_name == "acme/app"
            gh.close()

    @pytest.mark.parametrize(("status", "exception"), [(403, RateLimitExceededException), (429, GithubException)])
    def test_a_secondary_limit_sends_retry_after(
        self, tmp_path: Path, status: int, exception: type[GithubException]
    ) -> None:
        """A secondary limit refuses with 403 or 429 and Retry-After counting down, then lifts."""
        clock = FakeClock()
        with GitHubSimulator(tmp_path / "gh", clock=clock) as sim:
            sim.create_repo("acme", "app")
            gh = _client(sim.api_url)
            sim.secondary_rate_limit(30, status=status)
            clock.advance(10)
            with pytest.raises(exception) as info:
                gh.get_repo("acme/app")
            assert type(info.value) is exception
            headers = {k.lower(): v for k, v in (info.value.headers or {}).items()}
            assert (info.value.status, headers["retry-after"]) == (status, "20")
            assert info.value.data["message"].startswith("You have exceeded a secondary rate limit.")
            clock.advance(20)
            assert gh.get_repo("acme/app").name == "app"
            gh.close()
