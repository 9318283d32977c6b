"""GitHubHost (PyGithub) against GitHubSimulator over real sockets, with real git pushes into its bare repos."""

from __future__ import annotations

import logging
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import github
import pytest
import requests
from github import Auth, Github

from gitrollback.adapters import github as github_adapter
from gitrollback.adapters.github import GitHubHost
from gitrollback.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    GitRollbackError,
    NotFoundError,
    PermissionDeniedError,
    RemoteHTTPError,
    ServerError,
    StepError,
    TemporaryError,
    TransportError,
    UnexpectedResponseError,
    UnprocessableError,
    WaitTimeoutError,
)
from gitrollback.models import ChangeRequest
from gitrollback.ports import SourceHost
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.repos import CommitSpec, make_repo, run_git
from gitrollback.testing.server import Request, Response

TOKEN = "ghp_s3cr3t_token_value"
BRANCH = "rollback/3f2a9c1"


class _Sim(GitHubSimulator):
    """The simulator plus one-shot hooks: a reply override and an action run before a matching request."""

    def __init__(self, root: Path, clock: FakeClock, **options: Any) -> None:
        super().__init__(root, token=TOKEN, clock=clock, collaborators=("alice", "bob"), **options)
        self.override: tuple[str, Response] | None = None
        self.before: tuple[str, str, object] | None = None

    def handle(self, request: Request) -> Response:
        if self.before and request.method == self.before[0] and request.path.endswith(self.before[1]):
            action, self.before = self.before[2], None
            action()  # type: ignore[operator]
        if self.override and request.path.endswith(self.override[0]):
            return self.override[1]
        return super().handle(request)


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    """The simulated time the simulator and the host share."""
    return FakeClock()


@pytest.fixture(name="sim")
def _sim(tmp_path: Path, clock: FakeClock) -> Iterator[_Sim]:
    with _Sim(tmp_path / "gh", clock) as sim:
        yield sim


@pytest.fixture(name="template", scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module: a work tree with ``main`` and a rollback branch one commit ahead, and its bare."""
    root = tmp_path_factory.mktemp("template")
    work, bare = root / "work", root / "gitops.git"
    make_repo(work, [CommitSpec("v2 (bad)", files={"tekton/task.yaml": "image: v2\n", "README": "r\n"})])
    make_repo(work, [CommitSpec("Roll back to v1", files={"tekton/task.yaml": "image: v1\n"})], branch=BRANCH)
    run_git(root, "init", "--quiet", "--bare", "--initial-branch", "main", str(bare))
    run_git(work, "push", "--quiet", str(bare), "main", BRANCH)
    return root


@pytest.fixture(name="work")
def _work(sim: _Sim, template: Path, tmp_path: Path) -> Path:
    """``acme/gitops`` on the simulator (a copy of the template's bare repo) and a copy of its work tree."""
    bare = tmp_path / "gh" / "acme" / "gitops.git"
    shutil.copytree(template / "gitops.git", bare)
    sim.add_repo("acme", "gitops", bare)
    return Path(shutil.copytree(template / "work", tmp_path / "work"))


@pytest.fixture(name="host")
def _host(sim: _Sim, work: Path, clock: FakeClock) -> Iterator[GitHubHost]:
    with GitHubHost("acme/gitops", token=TOKEN, base_url=sim.api_url, clock=clock) as host:
        yield host


def _open(host: GitHubHost, body: str = "incident context", **extra: Any) -> ChangeRequest:
    return host.open_change_request(
        source_branch=BRANCH, target_branch="main", title="Roll back tekton to v1", body=body, **extra
    )


def _posts(sim: GitHubSimulator) -> list[str]:
    return [f"{r.method} {r.path}" for r, _ in sim.requests if r.method != "GET"]


class TestOpen:
    def test_opens_a_pull_request_from_the_pushed_branch(
        self, sim: _Sim, host: GitHubHost, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first open creates the PR with labels and reviewers, without PyGithub's throttling sleeps."""
        slept: list[float] = []
        real_sleep = time.sleep

        def recording_sleep(seconds: float) -> None:
            slept.append(seconds)
            real_sleep(min(seconds, 0.001))

        monkeypatch.setattr(time, "sleep", recording_sleep)
        cr = _open(host, labels=["rollback", "incident"], reviewers=["alice"])
        # PyGithub throttles by default: 0.25 s between requests, 1 s between writes (github/Consts.py,
        # DEFAULT_SECONDS_BETWEEN_REQUESTS and DEFAULT_SECONDS_BETWEEN_WRITES).
        assert [s for s in slept if s >= 0.25] == []
        assert isinstance(host, SourceHost)
        assert (cr.host, cr.number, cr.state, cr.created, cr.body_updated) == ("github", 1, "open", True, False)
        assert (cr.source_branch, cr.target_branch, cr.title) == (BRANCH, "main", "Roll back tekton to v1")
        assert cr.url == f"{sim.url}/acme/gitops/pull/1"
        assert cr.head_sha == sim.branch_sha("acme", "gitops", BRANCH)
        stored = sim.pull("acme", "gitops", 1)
        assert (stored.body, stored.labels, stored.requested_reviewers) == (
            "incident context",
            ["rollback", "incident"],
            ["alice"],
        )
        assert _posts(sim) == [
            "POST /api/v3/repos/acme/gitops/pulls",
            "POST /api/v3/repos/acme/gitops/issues/1/labels",
            "POST /api/v3/repos/acme/gitops/pulls/1/requested_reviewers",
        ]

    def test_rerun_finds_the_same_pull_request_without_writing(self, sim: _Sim, host: GitHubHost) -> None:
        """A second open with the same inputs returns PR #1 (created=False) and sends no write at all."""
        _open(host, labels=["rollback"], reviewers=["alice"])
        sim.requests.clear()
        again = _open(host, labels=["rollback"], reviewers=["alice"])
        assert (again.number, again.created, again.body_updated) == (1, False, False)
        assert _posts(sim) == []
        assert [r.path for r, _ in sim.requests] == ["/api/v3/repos/acme/gitops/pulls"]
        assert len(sim.pulls("acme", "gitops")) == 1

    def test_rerun_with_a_new_body_updates_it_and_says_so(self, sim: _Sim, host: GitHubHost) -> None:
        """A changed body is written to the existing PR and reported as body_updated; new labels are added."""
        _open(host, labels=["rollback"])
        cr = _open(host, body="updated context", labels=["rollback", "sev1"])
        assert (cr.number, cr.created, cr.body_updated) == (1, False, True)
        stored = sim.pull("acme", "gitops", 1)
        assert (stored.body, stored.labels) == ("updated context", ["rollback", "sev1"])
        assert len(sim.pulls("acme", "gitops")) == 1

    def test_a_concurrent_create_is_resolved_by_finding_it_again(self, sim: _Sim, host: GitHubHost) -> None:
        """When another run opens the PR between our find and create, the 422 leads back to that PR."""
        sim.before = (
            "POST",
            "/pulls",
            lambda: sim.state.create_pull(
                sim.state.repo("acme", "gitops"),
                "other-run",
                {"title": "t", "head": BRANCH, "base": "main", "body": "x"},
            ),
        )
        cr = _open(host)
        assert (cr.number, cr.created, cr.body_updated) == (1, False, True)
        assert [p.body for p in sim.pulls("acme", "gitops")] == ["incident context"]

    def test_open_after_the_branch_was_merged_returns_the_merged_pull_request(
        self, sim: _Sim, host: GitHubHost
    ) -> None:
        """A rerun after the merge ("No commits between") returns the merged PR instead of failing."""
        first = _open(host)
        merge_sha = sim.merge_pull("acme", "gitops", first.number)
        again = _open(host)
        assert (again.number, again.state, again.merge_commit, again.created) == (1, "merged", merge_sha, False)

    def test_nothing_to_propose_is_unprocessable(self, sim: _Sim, work: Path, host: GitHubHost) -> None:
        """A branch without new commits (never proposed) is a 422 UnprocessableError with GitHub's text."""
        run_git(work, "push", "--quiet", str(sim.repo_path("acme", "gitops")), f"main:{BRANCH}", "--force")
        with pytest.raises(UnprocessableError) as info:
            _open(host)
        assert info.value.status == 422
        assert f"No commits between main and {BRANCH}" in str(info.value)
        assert isinstance(info.value.__cause__, github.GithubException)

    def test_a_reviewer_who_is_not_a_collaborator_is_named_and_skipped(
        self, sim: _Sim, host: GitHubHost, caplog: pytest.LogCaptureFixture
    ) -> None:
        """GitHub's 422 for a non-collaborator does not fail the open: the others are requested, the refused one is
        named in a warning and in reviewers_refused, and a rerun tries it again (and names it again)."""
        caplog.set_level(logging.WARNING)
        cr = _open(host, reviewers=["alice", "mallory", "bob"])
        assert (cr.number, cr.created, cr.reviewers_refused) == (1, True, ("mallory",))
        assert sim.pull("acme", "gitops", 1).requested_reviewers == ["alice", "bob"]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "'mallory'" in warnings[0] and "Reviews may only be requested from collaborators" in warnings[0]
        again = _open(host, reviewers=["alice", "mallory", "bob"])
        assert (again.created, again.reviewers_refused) == (False, ("mallory",))
        sim.set_collaborators("acme", "gitops", ["alice", "bob", "mallory"])
        assert _open(host, reviewers=["mallory"]).reviewers_refused == ()
        assert sim.pull("acme", "gitops", 1).requested_reviewers == ["alice", "bob", "mallory"]

    def test_a_single_refused_reviewer_costs_one_request(self, sim: _Sim, host: GitHubHost) -> None:
        """With one reviewer configured, GitHub's 422 already names it: no second request is made."""
        _open(host, reviewers=["mallory"])
        assert _posts(sim).count("POST /api/v3/repos/acme/gitops/pulls/1/requested_reviewers") == 1
        assert sim.pull("acme", "gitops", 1).requested_reviewers == []


class TestReadAndComment:
    def test_comment_and_get(self, sim: _Sim, host: GitHubHost) -> None:
        """comment() lands on the PR's conversation; get_change_request reads the current state."""
        cr = _open(host)
        host.comment(cr.number, "Argo CD synced the rollback")
        assert sim.comments("acme", "gitops", 1) == ["Argo CD synced the rollback"]
        sim.close_pull("acme", "gitops", 1)
        assert host.get_change_request(1).state == "closed"

    def test_unknown_number_is_not_found(self, host: GitHubHost) -> None:
        """A missing PR number is NotFoundError with a hint, chained to PyGithub's exception."""
        with pytest.raises(NotFoundError) as info:
            host.get_change_request(99)
        assert (info.value.status, info.value.adapter, info.value.operation) == (404, "github", "get pull request")
        assert "acme/gitops#99" in str(info.value)
        assert info.value.hint
        assert isinstance(info.value.__cause__, github.UnknownObjectException)


class TestMerge:
    def test_merge_makes_a_real_merge_commit_on_main(self, sim: _Sim, host: GitHubHost) -> None:
        """merge() puts a two-parent merge commit on the bare repo's main and returns it; a rerun is a no-op."""
        cr = _open(host)
        base = sim.branch_sha("acme", "gitops", "main")
        merged = host.merge(cr.number, message="gitrollback incident 7")
        bare = sim.repo_path("acme", "gitops")
        assert merged.state == "merged"
        assert merged.merge_commit == run_git(bare, "rev-parse", "main")
        assert run_git(bare, "rev-parse", "main^1", "main^2").split() == [base, cr.head_sha]
        assert run_git(bare, "show", "main:tekton/task.yaml") == "image: v1"
        assert "gitrollback incident 7" in run_git(bare, "log", "-1", "--format=%B", "main")
        sim.requests.clear()
        assert host.merge(cr.number) == merged
        assert _posts(sim) == []

    def test_required_checks_refusal_is_permission_denied_with_githubs_message(
        self, sim: _Sim, host: GitHubHost
    ) -> None:
        """Branch protection refuses with 405; the error quotes GitHub ("expected", then "failing") and hints."""
        cr = _open(host)
        sim.protect_branch("acme", "gitops", "main", required_checks=["ci"])
        seen = []
        for failing in (None, True):
            if failing:
                sim.set_checks_failing("acme", "gitops")
            with pytest.raises(PermissionDeniedError) as info:
                host.merge(cr.number)
            seen.append((info.value.status, info.value.remote_message))
            assert "protected" in (info.value.hint or "")
        assert seen == [
            (405, 'Required status check "ci" is expected.'),
            (405, 'Required status check "ci" is failing.'),
        ]
        assert sim.pull("acme", "gitops", 1).merged is False

    def test_conflict_is_conflict_error(self, sim: _Sim, work: Path, host: GitHubHost) -> None:
        """A PR GitHub computes as mergeable=false is ConflictError (kind conflict) without a merge attempt."""
        cr = _open(host)
        make_repo(work, [CommitSpec("hotfix", files={"tekton/task.yaml": "image: v3\n"})], branch="main")
        run_git(work, "push", "--quiet", str(sim.repo_path("acme", "gitops")), "main")
        with pytest.raises(ConflictError) as info:
            host.merge(cr.number)
        assert (info.value.kind, info.value.remote_message) == ("conflict", "mergeable: false (mergeable_state: dirty)")
        assert "rerun gitrollback" in (info.value.hint or "")
        assert not any(path.endswith("/merge") for path in _posts(sim))

    def test_closed_pull_request_cannot_be_merged(self, sim: _Sim, host: GitHubHost) -> None:
        """Merging a PR someone closed is a ConflictError (kind closed) whose hint says it is closed."""
        cr = _open(host)
        sim.close_pull("acme", "gitops", cr.number)
        with pytest.raises(ConflictError) as info:
            host.merge(cr.number)
        assert info.value.kind == "closed"
        assert "is closed" in (info.value.hint or "")


class TestBackgroundMergeability:
    """GitHub computes ``mergeable`` in the background; ``merge`` waits for it on the shared clock."""

    def test_auto_merge_waits_until_github_has_computed_mergeability(
        self, sim: _Sim, work: Path, clock: FakeClock
    ) -> None:
        """With a 12 s mergeability job, merge() reads every 5 s while mergeable is null, then merges once."""
        sim.mergeability_delay = 12
        progress: list[tuple[str, float, str]] = []
        with GitHubHost(
            "acme/gitops", token=TOKEN, base_url=sim.api_url, clock=clock, on_wait=lambda *a: progress.append(a)
        ) as host:
            cr = _open(host)
            merged = host.merge(cr.number)
        assert (merged.state, merged.merge_commit) == ("merged", sim.branch_sha("acme", "gitops", "main"))
        assert clock.sleeps == [5, 5, 5]
        assert [p[1:] for p in progress] == [(t, "mergeable: null (GitHub is computing it)") for t in (0, 5, 10)]
        assert _posts(sim).count("PUT /api/v3/repos/acme/gitops/pulls/1/merge") == 1
        assert sim.pull("acme", "gitops", 1).merged_at == clock.start + timedelta(seconds=15)

    def test_an_early_405_after_the_base_moved_is_looked_at_again(
        self, sim: _Sim, work: Path, host: GitHubHost, clock: FakeClock
    ) -> None:
        """A push to main just before the merge restarts GitHub's job: the 405 "not mergeable" is transient, the
        merge goes through once mergeable is known again, on the new base."""
        cr = _open(host)
        sim.mergeability_delay = 7
        clock.advance(7)

        def hotfix() -> None:
            make_repo(work, [CommitSpec("unrelated", files={"README": "r2\n"})], branch="main")
            run_git(work, "push", "--quiet", str(sim.repo_path("acme", "gitops")), "main")

        sim.before = ("PUT", "/merge", hotfix)
        base = sim.branch_sha("acme", "gitops", "main")
        merged = host.merge(cr.number)
        bare = sim.repo_path("acme", "gitops")
        assert merged.state == "merged"
        assert run_git(bare, "rev-parse", "main^1") == run_git(work, "rev-parse", "main") != base
        assert [(r.method, reply.status) for r, reply in sim.requests if r.path.endswith("/merge")] == [
            ("PUT", 405),
            ("PUT", 200),
        ]
        assert clock.sleeps == [5, 5]

    def test_a_real_conflict_is_still_a_conflict_after_the_delay(
        self, sim: _Sim, work: Path, host: GitHubHost, clock: FakeClock
    ) -> None:
        """A conflicting PR is reported as ConflictError only once GitHub has computed mergeable=false."""
        sim.mergeability_delay = 8
        cr = _open(host)
        make_repo(work, [CommitSpec("hotfix", files={"tekton/task.yaml": "image: v3\n"})], branch="main")
        run_git(work, "push", "--quiet", str(sim.repo_path("acme", "gitops")), "main")
        with pytest.raises(ConflictError) as info:
            host.merge(cr.number)
        assert (info.value.kind, info.value.status) == ("conflict", 409)
        assert clock.sleeps == [5, 5]
        assert not any(path.endswith("/merge") for path in _posts(sim))

    def test_a_405_that_never_stops_is_final_after_five_attempts(self, sim: _Sim, work: Path, clock: FakeClock) -> None:
        """If GitHub keeps refusing "not mergeable" although it reports mergeable, the fifth refusal is final:
        ConflictError (kind not_mergeable) with GitHub's message, not a wait until merge_timeout."""
        with GitHubHost("acme/gitops", token=TOKEN, base_url=sim.api_url, clock=clock) as host:
            cr = _open(host)
            sim.override = ("/merge", Response.json(405, {"message": "Pull Request is not mergeable"}))
            with pytest.raises(ConflictError) as info:
                host.merge(cr.number)
        assert (info.value.kind, info.value.status) == ("not_mergeable", 405)
        assert _posts(sim).count("PUT /api/v3/repos/acme/gitops/pulls/1/merge") == 5
        assert clock.sleeps == [5, 5, 5, 5]

    def test_mergeability_that_never_arrives_ends_at_the_merge_deadline(
        self, sim: _Sim, work: Path, clock: FakeClock
    ) -> None:
        """merge_timeout bounds the wait: WaitTimeoutError (kind mergeability_unknown) after exactly 12 s."""
        sim.mergeability_delay = 3600
        with GitHubHost("acme/gitops", token=TOKEN, base_url=sim.api_url, clock=clock, merge_timeout=12) as host:
            cr = _open(host)
            with pytest.raises(WaitTimeoutError) as info:
                host.merge(cr.number)
        assert (info.value.kind, info.value.waited, info.value.last_state) == (
            "mergeability_unknown",
            12,
            "mergeable: null",
        )
        assert clock.sleeps == [5, 5, 2]
        assert sim.pull("acme", "gitops", 1).merged is False


class TestRateLimits:
    def test_a_secondary_limit_is_waited_out_on_the_clock(
        self, sim: _Sim, work: Path, host: GitHubHost, clock: FakeClock
    ) -> None:
        """A 403 secondary limit with Retry-After 30 is waited out on the injected clock, then the call succeeds."""
        _open(host)
        sim.secondary_rate_limit(30)
        cr = host.get_change_request(1)
        assert cr.number == 1
        assert clock.sleeps == [30]
        assert [reply.status for _, reply in sim.requests[-2:]] == [403, 200]

    def test_a_429_and_a_spent_primary_limit_are_waited_out_during_a_merge(
        self, sim: _Sim, work: Path, host: GitHubHost, clock: FakeClock
    ) -> None:
        """A 429 before the merge and a spent primary limit (403 until X-RateLimit-Reset) are both waited out
        within the merge deadline, and the merge happens once."""
        cr = _open(host)
        sim.secondary_rate_limit(20, status=429)
        sim.before = ("PUT", "/merge", lambda: sim.exhaust_rate_limit(90))
        merged = host.merge(cr.number)
        assert merged.state == "merged"
        assert clock.sleeps == [20, 90]
        assert [reply.status for r, reply in sim.requests if r.method == "PUT"] == [403, 200]

    def test_a_limit_longer_than_the_budget_is_a_temporary_error_at_once(
        self, sim: _Sim, work: Path, clock: FakeClock
    ) -> None:
        """A reset 10 minutes away exceeds rate_limit_wait (120 s): TemporaryError with GitHub's delay, no sleep."""
        with GitHubHost("acme/gitops", token=TOKEN, base_url=sim.api_url, clock=clock) as host:
            sim.exhaust_rate_limit(600)
            with pytest.raises(TemporaryError) as info:
                host.get_change_request(1)
        assert (info.value.kind, info.value.delay) == ("rate_limited", 600)
        assert "retry in 600s" in str(info.value)
        assert clock.sleeps == []


class TestWaitMerged:
    def test_returns_the_merge_commit_once_a_reviewer_merges(self, sim: _Sim, work: Path, clock: FakeClock) -> None:
        """wait_merged polls on the shared clock and returns the merge commit of a reviewer who merges at 12 s."""
        clock.after(12, lambda: sim.merge_pull("acme", "gitops", 1), name="reviewer")
        progress: list[tuple[str, float, str]] = []
        with GitHubHost(
            "acme/gitops",
            token=TOKEN,
            base_url=sim.api_url,
            clock=clock,
            poll_interval=5,
            on_wait=lambda *a: progress.append(a),
        ) as host:
            _open(host)
            cr = host.wait_merged(1, timeout=600)
        assert (cr.state, cr.merge_commit) == ("merged", sim.branch_sha("acme", "gitops", "main"))
        assert sim.pulls("acme", "gitops")[0].merged_at == clock.start + timedelta(seconds=12)
        assert clock.sleeps == [5, 5, 5]
        assert progress == [("acme/gitops#1 to be merged", t, "open") for t in (0.0, 5.0, 10.0)]

    def test_times_out_with_the_last_state(self, sim: _Sim, host: GitHubHost) -> None:
        """A PR nobody merges ends in WaitTimeoutError after exactly the timeout of virtual time."""
        _open(host)
        with pytest.raises(WaitTimeoutError) as info:
            host.wait_merged(1, timeout=12)
        assert (info.value.waited, info.value.last_state) == (12, "open")
        assert info.value.hint

    def test_closed_without_merge_fails_the_step(self, sim: _Sim, host: GitHubHost, clock: FakeClock) -> None:
        """A PR closed while waiting is a StepError for the merge step, not a timeout."""
        clock.after(1, lambda: sim.close_pull("acme", "gitops", 1), name="reviewer")
        _open(host)
        with pytest.raises(StepError) as info:
            host.wait_merged(1, timeout=600)
        assert info.value.step == "merge"
        assert "closed without being merged" in str(info.value)


class TestErrorsAndTransport:
    def test_wrong_token_is_authentication_error_without_the_token(
        self, sim: _Sim, work: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A rejected token is AuthenticationError(401) with a hint; the token is in no message or log line."""
        wrong = "ghp_wrong_but_secret"
        caplog.set_level(logging.DEBUG)
        with (
            GitHubHost("acme/gitops", token=wrong, base_url=sim.api_url) as host,
            pytest.raises(AuthenticationError) as info,
        ):
            host.find_change_request(source_branch=BRANCH, target_branch="main")
        assert (info.value.status, info.value.remote_message) == (401, "Bad credentials")
        assert "GITHUB_TOKEN" in (info.value.hint or "")
        text = " ".join([str(info.value), info.value.hint or "", caplog.text])
        assert wrong not in text and TOKEN not in text

    def test_unknown_repository_is_not_found(self, sim: _Sim, work: Path) -> None:
        """A repository the token cannot see is NotFoundError(404) naming it."""
        with GitHubHost("acme/nope", token=TOKEN, base_url=sim.api_url) as host, pytest.raises(NotFoundError) as info:
            _open(host)
        assert info.value.status == 404
        assert "acme/nope" in str(info.value)

    def test_a_502_is_raised_at_once_without_retries_or_throttling(self, sim: _Sim, host: GitHubHost) -> None:
        """retry=None: one 502 reply gives one request and a ServerError, not eleven retries."""
        sim.override = ("/pulls", Response.json(502, {"message": "Server Error"}))
        with pytest.raises(ServerError) as info:
            _open(host)
        assert info.value.status == 502
        assert [(r.method, r.path, reply.status) for r, reply in sim.requests] == [
            ("GET", "/api/v3/repos/acme/gitops/pulls", 502)
        ]
        assert isinstance(info.value.__cause__, github.GithubException)

    def test_connection_refused_is_transport_error(self) -> None:
        """Nothing listening on the port is TransportError with a base_url hint; the constructor did no I/O."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        base_url = f"http://127.0.0.1:{port}/api/v3"
        with GitHubHost("acme/gitops", token=TOKEN, base_url=base_url) as host, pytest.raises(TransportError) as info:
            host.get_change_request(1)
        assert "base_url" in (info.value.hint or "")
        assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)

    def test_api_github_com_style_base_url_and_injected_client(self, tmp_path: Path) -> None:
        """An unprefixed base URL works, and an injected Github client is used as is (and not closed)."""
        with GitHubSimulator(tmp_path / "gh", token=TOKEN, api_prefix="") as sim:
            bare = sim.create_repo("acme", "gitops")
            work = tmp_path / "w"
            make_repo(work, [CommitSpec("base", files={"a": "1\n"})])
            make_repo(work, [CommitSpec("change", files={"a": "2\n"})], branch=BRANCH)
            run_git(work, "push", "--quiet", str(bare), "main", BRANCH)
            client = Github(
                base_url=sim.url,
                auth=Auth.Token(TOKEN),
                retry=None,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
            with GitHubHost("acme/gitops", token="", github=client) as host:
                cr = _open(host)
            assert cr.url == f"{sim.url}/acme/gitops/pull/1"
            assert host.get_change_request(1).number == 1  # still usable: close() left the injected client open
            client.close()
            assert sim.requests[0][0].path == "/repos/acme/gitops"

    def test_constructor_validates_without_io(self) -> None:
        """A malformed repository name or a missing token is a ConfigError before any request."""
        with pytest.raises(ConfigError):
            GitHubHost("not-a-repo", token=TOKEN)
        with pytest.raises(ConfigError):
            GitHubHost("acme/gitops", token="")
        GitHubHost("acme/gitops", token=TOKEN, base_url="https://ghe.example/api/v3").close()


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        (github.BadCredentialsException(401, {"message": "Bad credentials"}), AuthenticationError),
        (
            github.TwoFactorException(401, {"message": "Must specify two-factor authentication OTP code."}),
            AuthenticationError,
        ),
        (
            github.RateLimitExceededException(403, {"message": "API rate limit exceeded"}, {"Retry-After": "30"}),
            TemporaryError,
        ),
        (github.GithubException(429, {"message": "Too many requests"}, {"Retry-After": "30"}), TemporaryError),
        (github.BadUserAgentException(403, {"message": "Missing or invalid User Agent string"}), PermissionDeniedError),
        (github.UnknownObjectException(404, {"message": "Not Found"}), NotFoundError),
        (github.GithubException(403, {"message": "Resource not accessible by integration"}), PermissionDeniedError),
        (github.GithubException(409, {"message": "Conflict"}), ConflictError),
        (github.GithubException(418, {"message": "teapot"}), RemoteHTTPError),
        (requests.exceptions.SSLError("cert"), TransportError),
        (requests.exceptions.ConnectTimeout("slow"), TransportError),
        (requests.exceptions.ConnectionError("refused"), TransportError),
        (requests.exceptions.RetryError("gave up"), TransportError),
        (requests.exceptions.InvalidURL("bad"), TransportError),
        (github.BadAttributeException("x", (str, str), None), UnexpectedResponseError),
        (AssertionError("api.github.com"), UnexpectedResponseError),
        (ValueError("anything else"), UnexpectedResponseError),
    ],
)
def test_every_vendor_error_maps_to_its_class(vendor: Exception, expected: type[GitRollbackError]) -> None:
    """Each row of the translation table (and the fallback) yields the right class, with a hint and a cause."""
    host = GitHubHost("acme/gitops", token=TOKEN)
    with pytest.raises(expected) as info, host._translate("get pull request", "acme/gitops#1"):
        raise vendor
    assert type(info.value) is expected
    assert info.value.__cause__ is vendor
    assert info.value.hint
    if isinstance(info.value, TemporaryError):
        assert info.value.delay == 30.0


def test_the_table_lists_the_most_specific_classes_first() -> None:
    """No row of the translation table is shadowed by an earlier, broader row."""
    rows = [row[0] for row in github_adapter._VENDOR_ERRORS]
    for i, later in enumerate(rows):
        assert not any(issubclass(later, earlier) for earlier in rows[:i]), later
