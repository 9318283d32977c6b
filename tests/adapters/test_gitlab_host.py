"""GitLabHost (python-gitlab) against the GitLab simulator: idempotent MRs, real merges, refusals, errors."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from gitlab import exceptions as glexc

from gitrollback.adapters.gitlab import GitLabHost
from gitrollback.errors import (
    AdapterError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    TemporaryError,
    TransportError,
    UnexpectedResponseError,
    UnprocessableError,
    WaitTimeoutError,
)
from gitrollback.models import ChangeRequest
from gitrollback.ports import SourceHost
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.gitlab import GitLabSimulator
from gitrollback.testing.repos import CommitSpec, make_repo, run_git
from gitrollback.testing.server import Request, Response, SimulatorServer

TOKEN = "glpat-adapter-secret"
PROJECT = "grp/app"
BRANCH = "rollback/abc"


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    """The simulated time the simulator and the host share."""
    return FakeClock()


@pytest.fixture(name="sim")
def _sim(tmp_path: Path, clock: FakeClock) -> Iterator[GitLabSimulator]:
    with GitLabSimulator(tmp_path / "gitlab", token=TOKEN, clock=clock) as sim:
        yield sim


@pytest.fixture(name="template", scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A work repo with main (two commits) and the rollback branch (one more), built once per module."""
    work = tmp_path_factory.mktemp("template")
    shas = make_repo(work, [CommitSpec("init", {"a.txt": "1\n", "b.txt": "b\n"}), CommitSpec("two", {"b.txt": "2\n"})])
    shas.update(make_repo(work, [CommitSpec("roll back a", {"a.txt": "0\n"}, label="roll")], branch=BRANCH))
    return work, shas


@pytest.fixture(name="shas")
def _shas(sim: GitLabSimulator, template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return seed(sim, template, PROJECT)


@pytest.fixture(name="host")
def _host(sim: GitLabSimulator, clock: FakeClock) -> Iterator[GitLabHost]:
    with GitLabHost(PROJECT, token=TOKEN, base_url=sim.url, clock=clock) as host:
        yield host


def seed(sim: GitLabSimulator, template: tuple[Path, dict[str, str]], path: str) -> dict[str, str]:
    """Create ``path`` and push main and the rollback branch from the template into its bare repo."""
    work, shas = template
    _, bare = sim.create_project(path)
    run_git(work, "push", "--quiet", str(bare), "main", BRANCH)
    return dict(shas)


def open_default(host: GitLabHost, body: str = "incident context", **extra: Any) -> ChangeRequest:
    """Open (or reuse) the rollback MR with the default title and body."""
    return host.open_change_request(
        source_branch=BRANCH, target_branch="main", title="Roll back Tekton assets", body=body, **extra
    )


def api_calls(sim: GitLabSimulator, method: str) -> list[str]:
    """Raw paths of the API requests with ``method``."""
    return [req.raw_path for req, _ in sim.requests if req.method == method and "/api/v4/" in req.raw_path]


class TestOpen:
    def test_opens_with_labels_and_reviewers(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost
    ) -> None:
        """A first run opens the MR with body, labels and reviewers (by username); the lazy project costs no GET."""
        alice = sim.add_user("alice")
        cr = host.open_change_request(
            source_branch=BRANCH,
            target_branch="main",
            title="Roll back",
            body="why",
            labels=["rollback"],
            reviewers=["@alice"],
        )
        assert isinstance(host, SourceHost)
        assert (cr.host, cr.number, cr.state, cr.created, cr.body_updated) == ("gitlab", 1, "open", True, False)
        assert (cr.url, cr.head_sha) == (f"{sim.url}/grp/app/-/merge_requests/1", shas["roll"])
        stored = sim.merge_request(PROJECT, 1)
        assert (stored["description"], stored["labels"], [r["id"] for r in stored["reviewers"]]) == (
            "why",
            ["rollback"],
            [alice],
        )
        assert "/api/v4/projects/grp%2Fapp" not in api_calls(sim, "GET")
        assert api_calls(sim, "POST") == ["/api/v4/projects/grp%2Fapp/merge_requests"]

    def test_rerun_finds_the_same_mr(self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost) -> None:
        """Running twice returns the same MR without a second POST or any update."""
        first = open_default(host)
        second = open_default(host, body="incident context\n")
        assert (second.number, second.created, second.body_updated) == (first.number, False, False)
        assert len(sim.merge_requests(PROJECT)) == 1
        assert len(api_calls(sim, "POST")) == 1
        assert api_calls(sim, "PUT") == []
        assert host.find_change_request(source_branch=BRANCH, target_branch="main") == second

    def test_rerun_updates_body_labels_and_reviewers(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost
    ) -> None:
        """A changed body is written back (body_updated) and missing labels/reviewers are added to existing ones."""
        bob = sim.add_user("bob")
        open_default(host, labels=["old"])
        cr = open_default(host, body="new context", labels=["rollback"], reviewers=["bob"])
        assert (cr.number, cr.created, cr.body_updated) == (1, False, True)
        stored = sim.merge_request(PROJECT, 1)
        assert stored["description"] == "new context"
        assert stored["labels"] == ["old", "rollback"]
        assert [r["id"] for r in stored["reviewers"]] == [bob]
        assert api_calls(sim, "PUT") == ["/api/v4/projects/grp%2Fapp/merge_requests/1"]

    def test_409_race_is_resolved_by_refinding(self, template: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
        """When another run creates the MR between our find and our create, GitLab's 409 leads back to that MR."""

        class Racing(GitLabSimulator):
            raced = False

            def handle(self, request: Request) -> Response:
                if request.method == "POST" and request.raw_path.endswith("/merge_requests") and not self.raced:
                    self.raced = True
                    super().handle(request)  # the other run's create wins
                return super().handle(request)

        with Racing(tmp_path / "gl", token=TOKEN) as sim:
            seed(sim, template, PROJECT)
            with GitLabHost(PROJECT, token=TOKEN, base_url=sim.url) as host:
                cr = open_default(host, body="mine")
            # the log holds what reached the socket: our one POST, answered 409 (the winner's create is in-process)
            statuses = [resp.status for req, resp in sim.requests if req.method == "POST"]
            assert statuses == [409]
            assert (cr.number, cr.created) == (1, False)
            assert len(sim.merge_requests(PROJECT)) == 1

    def test_open_mr_to_another_target_is_a_separate_mr(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost
    ) -> None:
        """GitLab allows the same source branch into another target, so that MR is not mistaken for ours."""
        run_git(sim.repo_path(PROJECT), "branch", "release", "main")
        other = host.open_change_request(source_branch=BRANCH, target_branch="release", title="t", body="b")
        ours = open_default(host)
        assert ours.created and ours.number != other.number and ours.target_branch == "main"
        assert [m["target_branch"] for m in sim.merge_requests(PROJECT)] == ["release", "main"]

    def test_an_unknown_reviewer_is_named_and_skipped(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A username GitLab does not know does not stop the MR: the known reviewer is added, the unknown one is
        named in a warning and in reviewers_refused."""
        caplog.set_level(logging.WARNING)
        alice = sim.add_user("alice")
        cr = open_default(host, reviewers=["alice", "nobody"])
        assert (cr.created, cr.reviewers_refused) == (True, ("nobody",))
        assert [r["id"] for r in sim.merge_requests(PROJECT)[0]["reviewers"]] == [alice]
        assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
            "GitLab user 'nobody' not found; the merge request goes on without that reviewer: fix gitops.reviewers "
            "(GitLab usernames of people with access to the project)"
        ]


class TestReadAndComment:
    def test_comment_and_get(self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost) -> None:
        """comment() adds a note; get_change_request() reads the current state."""
        open_default(host)
        host.comment(1, "verification passed")
        assert sim.notes(PROJECT, 1) == ["verification passed"]
        sim.close_merge_request(PROJECT, 1)
        assert host.get_change_request(1).state == "closed"
        with pytest.raises(NotFoundError, match="404 Not found"):
            host.get_change_request(7)

    def test_nested_group_project(self, sim: GitLabSimulator, template: tuple[Path, dict[str, str]]) -> None:
        """A project in a nested group is addressed as `a%2Fb%2Fc` and works end to end."""
        seed(sim, template, "a/b/c")
        with GitLabHost("a/b/c", token=TOKEN, base_url=sim.url) as host:
            assert open_default(host).number == 1
        assert api_calls(sim, "POST") == ["/api/v4/projects/a%2Fb%2Fc/merge_requests"]


class TestMerge:
    def test_merge_makes_a_merge_commit(self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost) -> None:
        """merge() returns the merged MR whose merge commit is main's new tip, with main and the branch as parents."""
        open_default(host)
        cr = host.merge(1, message="Merge gitrollback rollback")
        bare = sim.repo_path(PROJECT)
        tip = run_git(bare, "rev-parse", "refs/heads/main")
        assert (cr.state, cr.merge_commit) == ("merged", tip)
        assert run_git(bare, "rev-list", "--parents", "-n1", tip).split() == [tip, shas["c2"], shas["roll"]]
        assert run_git(bare, "log", "-1", "--format=%s", tip) == "Merge gitrollback rollback"
        assert host.merge(1) == cr  # already merged: returned as is, no second merge
        assert len(api_calls(sim, "PUT")) == 1

    def test_protected_branch_is_permission_denied(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost
    ) -> None:
        """GitLab's 401 on merge into a protected branch becomes PermissionDeniedError with a branch hint."""
        open_default(host)
        sim.protect_branch(PROJECT, "main")
        with pytest.raises(PermissionDeniedError) as err:
            host.merge(1)
        assert (err.value.status, err.value.remote_message) == (401, "401 Unauthorized")
        assert "protected" in (err.value.hint or "")
        assert sim.branch_sha(PROJECT, "main") == shas["c2"]
        assert isinstance(err.value.__cause__, Exception)

    def test_failing_pipeline_is_a_conflict_with_the_reason(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost
    ) -> None:
        """A 405 because pipelines must succeed names ci_must_pass and says to fix the pipeline."""
        open_default(host)
        sim.fail_pipelines(PROJECT)
        with pytest.raises(ConflictError) as err:
            host.merge(1)
        assert (err.value.status, err.value.kind) == (405, "ci_must_pass")
        assert str(err.value) == (
            "GitLab will not merge !1: the pipeline did not succeed and the project requires it "
            "(detailed_merge_status: ci_must_pass)"
        )
        assert "pipeline" in (err.value.hint or "")
        assert api_calls(sim, "PUT") == []

    def test_conflicting_branch_is_a_conflict(
        self, sim: GitLabSimulator, shas: dict[str, str], template: tuple[Path, dict[str, str]], tmp_path: Path
    ) -> None:
        """GitLab's detailed_merge_status conflict is ConflictError (kind conflict) without a merge attempt."""
        work = tmp_path / "work"
        run_git(tmp_path, "clone", "--quiet", str(template[0]), str(work))
        make_repo(work, [CommitSpec("clash", {"b.txt": "x\n"}, label="x")], branch="rollback/clash", start=shas["c1"])
        run_git(work, "push", "--quiet", str(sim.repo_path(PROJECT)), "rollback/clash")
        with GitLabHost(PROJECT, token=TOKEN, base_url=sim.url) as host:
            host.open_change_request(source_branch="rollback/clash", target_branch="main", title="t", body="b")
            with pytest.raises(ConflictError, match=r"conflicts with the target branch") as err:
                host.merge(1)
        assert err.value.kind == "conflict"
        assert "resolve the conflict" in (err.value.hint or "")
        assert api_calls(sim, "PUT") == []

    def test_closed_mr_cannot_be_merged(self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost) -> None:
        """A closed MR is refused before any merge call."""
        open_default(host)
        sim.close_merge_request(PROJECT, 1)
        with pytest.raises(
            ConflictError, match=r"^GitLab will not merge !1: it is closed \(detailed_merge_status"
        ) as err:
            host.merge(1)
        assert err.value.kind == "not_open"
        assert api_calls(sim, "PUT") == []


class _Hooked(GitLabSimulator):
    """The simulator plus a one-shot action run before the first request whose method and path match."""

    before: tuple[str, str, Callable[[], object]] | None = None

    def handle(self, request: Request) -> Response:
        if self.before and request.method == self.before[0] and request.raw_path.endswith(self.before[1]):
            action, self.before = self.before[2], None
            action()
        return super().handle(request)


@pytest.fixture(name="slow")
def _slow(tmp_path: Path, clock: FakeClock, template: tuple[Path, dict[str, str]]) -> Iterator[_Hooked]:
    """A simulator whose merge requests take 10 s of the shared clock to settle (5 s preparing, 5 s checking)."""
    with _Hooked(tmp_path / "gitlab", token=TOKEN, clock=clock, mergeability_delay=10) as sim:
        seed(sim, template, PROJECT)
        yield sim


def _make_host(sim: GitLabSimulator, clock: FakeClock, **options: Any) -> GitLabHost:
    return GitLabHost(PROJECT, token=TOKEN, base_url=sim.url, clock=clock, **options)


def _push_unrelated(sim: GitLabSimulator) -> None:
    """Someone pushes a commit to main that does not touch the rollback's files."""
    bare = sim.repo_path(PROJECT)
    tree = run_git(bare, "rev-parse", "main^{tree}")
    run_git(bare, "update-ref", "refs/heads/main", run_git(bare, "commit-tree", "-m", "docs", tree, "-p", "main"))


class TestAsynchronousMergeability:
    """GitLab settles mergeability in the background; ``merge`` waits for a settled detailed_merge_status."""

    def test_merge_waits_through_preparing_and_checking(self, slow: _Hooked, clock: FakeClock) -> None:
        """merge() looks every 5 s while the MR is preparing, then checking, and merges once it is mergeable."""
        progress: list[tuple[str, float, str]] = []
        with _make_host(slow, clock, on_wait=lambda *a: progress.append(a)) as host:
            open_default(host)
            cr = host.merge(1)
        assert (cr.state, cr.merge_commit) == ("merged", slow.branch_sha(PROJECT, "main"))
        assert clock.sleeps == [5, 5]
        assert [p[1:] for p in progress] == [(0, "preparing"), (5, "checking")]
        assert len(api_calls(slow, "PUT")) == 1

    @pytest.mark.parametrize(("api", "status"), [("current", 405), ("17", 422), ("legacy", 406)])
    def test_a_refusal_while_gitlab_rechecks_is_looked_at_again(
        self, tmp_path: Path, clock: FakeClock, template: tuple[Path, dict[str, str]], api: str, status: int
    ) -> None:
        """main moves and GitLab starts rechecking just before our merge: its refusal (405 on current GitLab, "Branch
        cannot be merged" 422 on 17, 406 on older releases) is not a conflict; merge() waits for the check and merges
        on the new main."""
        with _Hooked(tmp_path / "gitlab", token=TOKEN, clock=clock, mergeability_delay=10, merge_api=api) as sim:
            seed(sim, template, PROJECT)
            with _make_host(sim, clock) as host:
                open_default(host)
                clock.advance(5)
                sim.merge_request(PROJECT, 1)  # viewed: the check runs for 5 s
                clock.advance(5)
                assert sim.merge_request(PROJECT, 1)["detailed_merge_status"] == "mergeable"

                def push_and_view() -> None:
                    _push_unrelated(sim)
                    sim.merge_request(PROJECT, 1)  # someone opens the MR page: GitLab starts a check

                moved: list[str | None] = []
                sim.before = ("PUT", "/merge", lambda: (push_and_view(), moved.append(sim.branch_sha(PROJECT, "main"))))
                cr = host.merge(1)
            statuses = [reply.status for req, reply in sim.requests if req.method == "PUT"]
        assert statuses == [status, 200]
        assert cr.state == "merged"
        assert run_git(sim.repo_path(PROJECT), "rev-parse", f"{cr.merge_commit}^1") == moved[0]
        assert clock.sleeps == [5]  # the check GitLab started at the refusal takes 5 s

    def test_a_refusal_that_never_stops_is_final_after_five_attempts(
        self, sim: GitLabSimulator, shas: dict[str, str], clock: FakeClock
    ) -> None:
        """If GitLab keeps answering 422 although it reports the MR mergeable, the fifth refusal is final:
        ConflictError (kind not_mergeable) quoting GitLab, not a wait until merge_timeout."""
        original = sim.handle

        def handle(request: Request) -> Response:
            if request.method == "PUT" and request.raw_path.endswith("/merge"):
                return Response.json(422, {"message": "Branch cannot be merged"})
            return original(request)

        sim.handle = handle  # type: ignore[method-assign]
        with _make_host(sim, clock) as host:
            open_default(host)
            with pytest.raises(ConflictError) as err:
                host.merge(1)
        assert (err.value.kind, err.value.status) == ("not_mergeable", 422)
        assert "Branch cannot be merged (detailed_merge_status: mergeable)" in str(err.value)
        assert len(api_calls(sim, "PUT")) == 5
        assert clock.sleeps == [5, 5, 5, 5, 5]

    def test_a_real_conflict_is_still_a_conflict_after_the_delay(
        self, slow: _Hooked, clock: FakeClock, template: tuple[Path, dict[str, str]], tmp_path: Path
    ) -> None:
        """A branch that conflicts is reported as a conflict only once GitLab has settled on it."""
        work = tmp_path / "work"
        run_git(tmp_path, "clone", "--quiet", str(template[0]), str(work))
        start = template[1]["c1"]
        make_repo(work, [CommitSpec("clash", {"b.txt": "x\n"}, label="x")], branch="rollback/clash", start=start)
        run_git(work, "push", "--quiet", str(slow.repo_path(PROJECT)), "rollback/clash")
        with _make_host(slow, clock) as host:
            host.open_change_request(source_branch="rollback/clash", target_branch="main", title="t", body="b")
            with pytest.raises(ConflictError) as err:
                host.merge(1)
        assert err.value.kind == "conflict"
        assert clock.sleeps == [5, 5]
        assert api_calls(slow, "PUT") == []

    def test_a_status_that_never_settles_ends_at_the_merge_deadline(
        self, tmp_path: Path, clock: FakeClock, template: tuple[Path, dict[str, str]]
    ) -> None:
        """merge_timeout bounds the wait: WaitTimeoutError (kind mergeability_unknown) at exactly 12 s."""
        with GitLabSimulator(tmp_path / "gitlab", token=TOKEN, clock=clock, mergeability_delay=7200) as sim:
            seed(sim, template, PROJECT)
            with _make_host(sim, clock, merge_timeout=12) as host:
                open_default(host)
                with pytest.raises(WaitTimeoutError) as err:
                    host.merge(1)
        assert (err.value.kind, err.value.waited, err.value.last_state) == ("mergeability_unknown", 12, "preparing")
        assert clock.sleeps == [5, 5, 2]


_BLOCKERS: dict[str, tuple[Callable[[GitLabSimulator], object], str]] = {
    "not_approved": (lambda sim: sim.configure(PROJECT, approvals_before_merge=1), "approver"),
    "discussions_not_resolved": (
        lambda sim: (
            sim.configure(PROJECT, only_allow_merge_if_all_discussions_are_resolved=True),
            sim.open_discussion(PROJECT, 1),
        ),
        "resolve the open threads",
    ),
    "need_rebase": (lambda sim: (sim.configure(PROJECT, merge_method="ff"), _push_unrelated(sim)), "rebase"),
    "ci_still_running": (lambda sim: sim.set_pipeline(PROJECT, "running"), "merge_when_pipeline_succeeds"),
}


class TestMergeBlockers:
    @pytest.mark.parametrize("kind", sorted(_BLOCKERS))
    def test_each_settled_status_has_its_own_error_and_next_action(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost, kind: str
    ) -> None:
        """A settled blocker fails merge() at once with kind = GitLab's status and its next action; nothing is PUT."""
        setup, hint = _BLOCKERS[kind]
        open_default(host)
        setup(sim)
        with pytest.raises(ConflictError) as err:
            host.merge(1)
        assert err.value.kind == kind
        assert f"(detailed_merge_status: {kind})" in str(err.value)
        assert hint in (err.value.hint or "")
        assert api_calls(sim, "PUT") == []
        assert sim.merge_request(PROJECT, 1)["state"] == "opened"

    def test_a_draft_is_named_as_such(self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost) -> None:
        """A Draft: title is draft_status with "mark it ready"."""
        host.open_change_request(source_branch=BRANCH, target_branch="main", title="Draft: roll back", body="b")
        with pytest.raises(ConflictError) as err:
            host.merge(1)
        assert (err.value.kind, "mark it ready" in (err.value.hint or "")) == ("draft_status", True)


class TestAutoMerge:
    def test_gitlab_merges_when_the_pipeline_succeeds(
        self, sim: GitLabSimulator, shas: dict[str, str], clock: FakeClock
    ) -> None:
        """With merge_when_pipeline_succeeds and a running pipeline, merge() sets GitLab's auto-merge and waits on
        the clock until GitLab merged it, 30 s later."""
        sim.set_pipeline(PROJECT, "running")
        sim.set_pipeline(PROJECT, "success", after=30)
        with _make_host(sim, clock, merge_when_pipeline_succeeds=True) as host:
            open_default(host)
            cr = host.merge(1)
        assert (cr.state, cr.merge_commit) == ("merged", sim.branch_sha(PROJECT, "main"))
        assert sim.merge_request(PROJECT, 1)["merged_at"] == "2026-03-28T00:00:30.000Z"
        assert clock.sleeps == [5] * 6
        puts = [req for req, _ in sim.requests if req.method == "PUT"]
        assert len(puts) == 1 and b'"merge_when_pipeline_succeeds": true' in puts[0].body

    def test_a_failed_pipeline_ends_the_wait_as_ci_must_pass(
        self, sim: GitLabSimulator, shas: dict[str, str], clock: FakeClock
    ) -> None:
        """When the pipeline fails GitLab drops the auto-merge; merge() reports ci_must_pass."""
        sim.set_pipeline(PROJECT, "running")
        sim.set_pipeline(PROJECT, "failed", after=12)
        with _make_host(sim, clock, merge_when_pipeline_succeeds=True) as host:
            open_default(host)
            with pytest.raises(ConflictError) as err:
                host.merge(1)
        assert err.value.kind == "ci_must_pass"
        assert sim.merge_request(PROJECT, 1)["state"] == "opened"

    def test_an_auto_merge_someone_cancels_is_not_turned_on_again(
        self, sim: GitLabSimulator, shas: dict[str, str], clock: FakeClock
    ) -> None:
        """A person cancelling the auto-merge gitrollback set ends the wait (kind auto_merge_cancelled)."""
        sim.set_pipeline(PROJECT, "running")
        clock.after(12, lambda: sim.cancel_auto_merge(PROJECT, 1), name="a person")
        with _make_host(sim, clock, merge_when_pipeline_succeeds=True) as host:
            open_default(host)
            with pytest.raises(ConflictError) as err:
                host.merge(1)
        assert err.value.kind == "auto_merge_cancelled"
        assert len(api_calls(sim, "PUT")) == 1
        assert sim.merge_request(PROJECT, 1)["state"] == "opened"

    def test_without_a_running_pipeline_it_merges_at_once(
        self, sim: GitLabSimulator, shas: dict[str, str], clock: FakeClock
    ) -> None:
        """GitLab refuses auto-merge when no pipeline runs (405), so none is asked for: the merge is immediate."""
        with _make_host(sim, clock, merge_when_pipeline_succeeds=True) as host:
            open_default(host)
            assert host.merge(1).state == "merged"
        assert [reply.status for req, reply in sim.requests if req.method == "PUT"] == [200]
        assert clock.sleeps == []


class TestRateLimits:
    def test_a_throttle_is_waited_out_for_retry_after_on_the_clock(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost, clock: FakeClock
    ) -> None:
        """A 429 with Retry-After 30 (python-gitlab may not sleep) is waited out on the clock, then answered."""
        open_default(host)
        sim.throttle(30)
        assert host.get_change_request(1).number == 1
        assert clock.sleeps == [30]
        assert [reply.status for _, reply in sim.requests[-2:]] == [429, 200]

    def test_a_throttle_during_a_merge_is_waited_out_within_the_deadline(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost, clock: FakeClock
    ) -> None:
        """A throttle that starts just before the PUT is waited out and the merge happens once."""
        open_default(host)
        hooked = [False]
        original = sim.handle

        def handle(request: Request) -> Response:
            if request.method == "PUT" and not hooked[0]:
                hooked[0] = True
                sim.throttle(45)
            return original(request)

        sim.handle = handle  # type: ignore[method-assign]
        assert host.merge(1).state == "merged"
        assert clock.sleeps == [45]
        assert [reply.status for req, reply in sim.requests if req.method == "PUT"] == [429, 200]

    def test_a_throttle_longer_than_the_budget_is_a_temporary_error(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost, clock: FakeClock
    ) -> None:
        """Retry-After 600 exceeds rate_limit_wait (120 s): TemporaryError with GitLab's delay, and no sleep."""
        sim.throttle(600)
        with pytest.raises(TemporaryError) as err:
            host.get_change_request(1)
        assert (err.value.kind, err.value.delay) == ("rate_limited", 600)
        assert clock.sleeps == []


class TestWaitMerged:
    def test_returns_once_a_reviewer_merged(self, sim: GitLabSimulator, shas: dict[str, str], clock: FakeClock) -> None:
        """wait_merged polls on the shared clock until a reviewer merges at 12 s, and returns the merge commit."""
        merged: list[str] = []
        clock.after(12, lambda: merged.append(sim.accept_merge_request(PROJECT, 1)), name="reviewer")
        progress: list[tuple[str, float, str]] = []
        with GitLabHost(
            PROJECT, token=TOKEN, base_url=sim.url, clock=clock, poll_interval=5, on_wait=lambda *a: progress.append(a)
        ) as host:
            open_default(host)
            cr = host.wait_merged(1, timeout=600)
        assert (cr.state, cr.merge_commit) == ("merged", merged[0])
        assert sim.merge_requests(PROJECT)[0]["merged_at"] == "2026-03-28T00:00:12.000Z"
        assert clock.sleeps == [5, 5, 5]
        assert progress == [("GitLab merge request !1", t, "open") for t in (0.0, 5.0, 10.0)]

    def test_times_out(self, sim: GitLabSimulator, shas: dict[str, str], clock: FakeClock) -> None:
        """An MR nobody merges ends in WaitTimeoutError exactly at the deadline."""
        with GitLabHost(PROJECT, token=TOKEN, base_url=sim.url, clock=clock, poll_interval=5) as host:
            open_default(host)
            with pytest.raises(WaitTimeoutError) as err:
                host.wait_merged(1, timeout=12)
        assert (err.value.waited, err.value.last_state) == (12, "open")
        assert clock.sleeps == [5, 5, 2]

    def test_closed_while_waiting(self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost) -> None:
        """An MR closed without merging ends the wait with ConflictError."""
        open_default(host)
        sim.close_merge_request(PROJECT, 1)
        with pytest.raises(ConflictError, match="closed without being merged"):
            host.wait_merged(1, timeout=60)


class TestErrors:
    def test_wrong_token(self, sim: GitLabSimulator, shas: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
        """A wrong token is AuthenticationError with a token hint, and the token shows up nowhere."""
        caplog.set_level(logging.DEBUG)
        secret = "glpat-wrong-secret"
        with GitLabHost(PROJECT, token=secret, base_url=sim.url) as host, pytest.raises(AuthenticationError) as err:
            open_default(host)
        assert (err.value.status, err.value.remote_message) == (401, "401 Unauthorized")
        assert "GITLAB_TOKEN" in (err.value.hint or "")
        assert secret not in str(err.value) + repr(err.value) + (err.value.hint or "") + caplog.text

    def test_injected_client_is_used_and_left_open(self, sim: GitLabSimulator, shas: dict[str, str]) -> None:
        """A caller's own gitlab.Gitlab is used as is (no token needed here) and not closed by the host."""
        import gitlab

        with gitlab.Gitlab(sim.url, private_token=TOKEN) as client:
            host = GitLabHost(PROJECT, token="", gitlab=client)
            assert open_default(host).number == 1
            host.close()
            assert client.projects.get(PROJECT).id == sim.project_id(PROJECT)

    def test_unknown_project(self, sim: GitLabSimulator, host: GitLabHost) -> None:
        """A missing project is NotFoundError carrying GitLab's 404 message."""
        with pytest.raises(NotFoundError, match="404 Project Not Found") as err:
            host.find_change_request(source_branch=BRANCH, target_branch="main")
        assert err.value.adapter == "gitlab"

    def test_self_managed_base_url_with_root_and_api_suffix(
        self, template: tuple[Path, dict[str, str]], tmp_path: Path
    ) -> None:
        """A self-managed base URL under a sub-path works, also when given with a trailing /api/v4."""
        with GitLabSimulator(tmp_path / "gl", token=TOKEN, relative_url_root="/gitlab") as sim:
            seed(sim, template, PROJECT)
            with GitLabHost(PROJECT, token=TOKEN, base_url=f"{sim.url}/gitlab/api/v4/") as host:
                cr = open_default(host)
            assert cr.url == f"{sim.url}/gitlab/grp/app/-/merge_requests/1"

    def test_connection_refused_is_transport_error(self) -> None:
        """Nothing listening is TransportError naming the URL without credentials."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        base = f"http://user:pw@127.0.0.1:{port}"
        with GitLabHost(PROJECT, token=TOKEN, base_url=base) as host, pytest.raises(TransportError) as err:
            host.get_change_request(1)
        assert "could not connect" in str(err.value)
        assert "pw" not in str(err.value)
        assert repr(host) == f"GitLabHost('grp/app', base_url='http://127.0.0.1:{port}')"

    def test_no_hidden_retries(self) -> None:
        """A 502 is raised after exactly one request (python-gitlab's own sleeping retries are off)."""

        class Failing(SimulatorServer):
            def handle(self, request: Request) -> Response:
                return Response.json(502, {"message": "502 failure"}, {"Retry-After": "1"})

        with Failing() as server, GitLabHost(PROJECT, token=TOKEN, base_url=server.url) as host:
            with pytest.raises(ServerError, match="502 failure"):
                host.get_change_request(1)
            assert len(server.requests) == 1

    def test_constructor_validates_without_io(self) -> None:
        """Bad configuration fails fast as ConfigError; a good one makes no connection at all."""
        with pytest.raises(ConfigError):
            GitLabHost("", token=TOKEN)
        with pytest.raises(ConfigError):
            GitLabHost(PROJECT, token="")
        with pytest.raises(ConfigError):
            GitLabHost(PROJECT, token=TOKEN, base_url="gitlab.example.com")
        host = GitLabHost(PROJECT, token=TOKEN, base_url="http://127.0.0.1:9")
        assert host.kind == "gitlab"
        host.close()


@pytest.mark.parametrize(
    ("vendor", "ours"),
    [
        (requests.exceptions.SSLError("bad cert"), TransportError),
        (requests.exceptions.ReadTimeout("slow"), TransportError),
        (requests.exceptions.ConnectionError("refused"), TransportError),
        (requests.exceptions.InvalidURL("no host"), TransportError),
        (requests.exceptions.ChunkedEncodingError("cut"), TransportError),
        (glexc.GitlabParsingError("not json"), UnexpectedResponseError),
        (glexc.RedirectError("moved"), UnexpectedResponseError),
        (glexc.GitlabConnectionError("down"), TransportError),
        (glexc.GitlabAuthenticationError("401 Unauthorized", 401), AuthenticationError),
        # python-gitlab passes GitLab's parsed JSON message (list or dict) although its annotation says str
        (glexc.GitlabCreateError({"title": ["is too long"]}, 400), BadRequestError),  # type: ignore[arg-type]
        (glexc.GitlabGetError("403 Forbidden", 403), PermissionDeniedError),
        (glexc.GitlabGetError("404 Not found", 404), NotFoundError),
        (glexc.GitlabCreateError(["exists"], 409), ConflictError),  # type: ignore[arg-type]
        (glexc.GitlabUpdateError(["invalid"], 422), UnprocessableError),  # type: ignore[arg-type]
        (glexc.GitlabHttpError("boom", 503), ServerError),
        (glexc.GitlabHttpError("slow down", 429), TemporaryError),
        (glexc.GitlabError("odd"), AdapterError),
    ],
)
def test_every_vendor_exception_is_translated(vendor: Exception, ours: type[Exception]) -> None:
    """Each python-gitlab and requests exception leaves the boundary as its gitrollback class, chained."""
    host = GitLabHost(PROJECT, token=TOKEN, base_url="http://127.0.0.1:9")
    with pytest.raises(ours) as err, host._boundary("test operation"):
        raise vendor
    assert type(err.value) is ours
    assert err.value.__cause__ is vendor
    assert getattr(err.value, "hint", None)
    if isinstance(vendor, glexc.GitlabCreateError) and vendor.response_code == 400:
        assert str(err.value) == "GitLab test operation in grp/app: 400 title is too long"
