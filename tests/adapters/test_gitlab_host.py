"""GitLabHost (python-gitlab) against the GitLab simulator: idempotent MRs, real merges, refusals, errors."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
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

    def test_unknown_reviewer_changes_nothing(
        self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost
    ) -> None:
        """An unknown reviewer username is NotFoundError before any MR is created."""
        with pytest.raises(NotFoundError, match="'nobody' not found") as err:
            open_default(host, reviewers=["nobody"])
        assert "reviewers" in (err.value.hint or "")
        assert sim.merge_requests(PROJECT) == []


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
        assert err.value.status == 405
        assert (
            str(err.value) == "GitLab refused to merge !1: 405 Method Not Allowed (detailed_merge_status: ci_must_pass)"
        )
        assert "pipeline" in (err.value.hint or "")

    def test_conflicting_branch_is_a_conflict(
        self, sim: GitLabSimulator, shas: dict[str, str], template: tuple[Path, dict[str, str]], tmp_path: Path
    ) -> None:
        """406 "Branch cannot be merged" becomes ConflictError with a rebase hint."""
        work = tmp_path / "work"
        run_git(tmp_path, "clone", "--quiet", str(template[0]), str(work))
        make_repo(work, [CommitSpec("clash", {"b.txt": "x\n"}, label="x")], branch="rollback/clash", start=shas["c1"])
        run_git(work, "push", "--quiet", str(sim.repo_path(PROJECT)), "rollback/clash")
        with GitLabHost(PROJECT, token=TOKEN, base_url=sim.url) as host:
            host.open_change_request(source_branch="rollback/clash", target_branch="main", title="t", body="b")
            with pytest.raises(ConflictError, match="406 Branch cannot be merged") as err:
                host.merge(1)
        assert "rebase" in (err.value.hint or "")

    def test_closed_mr_cannot_be_merged(self, sim: GitLabSimulator, shas: dict[str, str], host: GitLabHost) -> None:
        """A closed MR is refused before any merge call."""
        open_default(host)
        sim.close_merge_request(PROJECT, 1)
        with pytest.raises(ConflictError, match=r"^GitLab merge request !1 is closed; it cannot be merged$"):
            host.merge(1)
        assert api_calls(sim, "PUT") == []


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

    @pytest.mark.parametrize(("status", "error"), [(502, ServerError), (429, TemporaryError)])
    def test_no_hidden_retries(self, status: int, error: type[Exception]) -> None:
        """A 502 or 429 is raised after exactly one request (python-gitlab's own sleeping retries are off)."""

        class Failing(SimulatorServer):
            def handle(self, request: Request) -> Response:
                return Response.json(status, {"message": f"{status} failure"}, {"Retry-After": "1"})

        with Failing() as server, GitLabHost(PROJECT, token=TOKEN, base_url=server.url) as host:
            with pytest.raises(error, match=f"{status} failure"):
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
