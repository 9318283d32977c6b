"""The GitLab simulator, driven by the real python-gitlab, raw HTTP (httpx) and the git CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import httpx
import pytest

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.gitlab import GitLabSimulator
from gitrollback.testing.repos import CommitSpec, make_repo, run_git

TOKEN = "glpat-sim-test"
PROJECT = "grp/app"


@pytest.fixture(name="sim")
def _sim(tmp_path: Path) -> Iterator[GitLabSimulator]:
    with GitLabSimulator(tmp_path / "gitlab", token=TOKEN) as sim:
        yield sim


@pytest.fixture(name="gl")
def _gl(sim: GitLabSimulator) -> Iterator[gitlab.Gitlab]:
    with gitlab.Gitlab(sim.url, private_token=TOKEN) as client:
        yield client


@pytest.fixture(name="http")
def _http(sim: GitLabSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers={"PRIVATE-TOKEN": TOKEN}) as client:
        yield client


@pytest.fixture(name="template", scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A work repo with main (two commits) and rollback/abc (one more), built once per module."""
    work = tmp_path_factory.mktemp("template")
    shas = make_repo(work, [CommitSpec("init", {"a.txt": "1\n", "b.txt": "b\n"}), CommitSpec("two", {"b.txt": "2\n"})])
    shas.update(make_repo(work, [CommitSpec("roll back a", {"a.txt": "0\n"}, label="roll")], branch="rollback/abc"))
    return work, shas


def seed(sim: GitLabSimulator, template: tuple[Path, dict[str, str]], path: str = PROJECT) -> dict[str, str]:
    """Create ``path`` and push main and rollback/abc from the template into its bare repo."""
    work, shas = template
    _, bare = sim.create_project(path)
    run_git(work, "push", "--quiet", str(bare), "main", "rollback/abc")
    return dict(shas)


def open_mr(gl: gitlab.Gitlab, source: str = "rollback/abc", **extra: Any) -> Any:
    """Open a merge request from ``source`` into main through python-gitlab."""
    project = gl.projects.get(PROJECT, lazy=True)
    return project.mergerequests.create(
        {"source_branch": source, "target_branch": "main", "title": "Roll back", **extra}
    )


class TestRoutingAndAuth:
    def test_project_by_encoded_path_nested_group_and_id(
        self, sim: GitLabSimulator, gl: gitlab.Gitlab, tmp_path: Path
    ) -> None:
        """`grp%2Fapp`, `a%2Fb%2Fc` and the numeric id all reach their project, routed on the raw path."""
        pid, _ = sim.create_project(PROJECT)
        nested_id, nested_repo = sim.create_project("a/b/c", default_branch="trunk")
        project = gl.projects.get(PROJECT)
        nested = gl.projects.get("a/b/c")
        assert (project.id, project.path_with_namespace) == (pid, PROJECT)
        assert (nested.id, nested.default_branch, nested.namespace["full_path"]) == (nested_id, "trunk", "a/b")
        assert gl.projects.get(pid).path_with_namespace == PROJECT
        assert nested_repo == tmp_path / "gitlab" / "a" / "b" / "c.git"
        paths = [req.raw_path for req, _ in sim.requests]
        assert paths == ["/api/v4/projects/grp%2Fapp", "/api/v4/projects/a%2Fb%2Fc", f"/api/v4/projects/{pid}"]

    def test_unencoded_path_and_unknown_project_are_404(self, sim: GitLabSimulator, http: httpx.Client) -> None:
        """An unencoded `grp/app` is not a project route, and an unknown project is GitLab's 404 body."""
        sim.create_project(PROJECT)
        assert http.get("/api/v4/projects/grp/app").status_code == 404
        reply = http.get("/api/v4/projects/grp%2Fnope")
        assert (reply.status_code, reply.json()) == (404, {"message": "404 Project Not Found"})
        reply = http.get("/api/v4/nothing")
        assert (reply.status_code, reply.json()) == (404, {"error": "404 Not Found"})

    def test_token_required_in_private_token_or_bearer(self, sim: GitLabSimulator) -> None:
        """No or a wrong token is 401 `{"message":"401 Unauthorized"}`; PRIVATE-TOKEN and Bearer both work."""
        sim.create_project(PROJECT)
        url = f"{sim.url}/api/v4/projects/grp%2Fapp"
        for headers in ({}, {"PRIVATE-TOKEN": "wrong"}, {"Authorization": "Bearer wrong"}):
            reply = httpx.get(url, headers=headers)
            assert (reply.status_code, reply.json()) == (401, {"message": "401 Unauthorized"})
        assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        with gitlab.Gitlab(sim.url, private_token="wrong") as bad, pytest.raises(gitlab.GitlabAuthenticationError):
            bad.projects.get(PROJECT)

    def test_urls_follow_the_host_header(self, sim: GitLabSimulator, http: httpx.Client) -> None:
        """Reply URLs reuse the Host the client used, so `localhost` stays `localhost`."""
        sim.create_project(PROJECT)
        reply = http.get(f"http://localhost:{sim.port}/api/v4/projects/grp%2Fapp")
        assert reply.json()["web_url"] == f"http://localhost:{sim.port}/grp/app"
        assert reply.json()["http_url_to_repo"] == f"http://localhost:{sim.port}/grp/app.git"

    def test_relative_url_root_for_self_managed(self, tmp_path: Path) -> None:
        """With a relative URL root every route lives under it and reply URLs carry it."""
        with GitLabSimulator(tmp_path / "gl", token=TOKEN, relative_url_root="/gitlab/") as sim:
            sim.create_project(PROJECT)
            with gitlab.Gitlab(sim.url + "/gitlab", private_token=TOKEN) as gl:
                assert gl.projects.get(PROJECT).web_url == f"{sim.url}/gitlab/grp/app"
            assert (
                httpx.get(f"{sim.url}/api/v4/projects/grp%2Fapp", headers={"PRIVATE-TOKEN": TOKEN}).status_code == 404
            )


class TestMergeRequests:
    def test_create_fields_and_duplicate_409(
        self, sim: GitLabSimulator, gl: gitlab.Gitlab, template: tuple[Path, dict[str, str]]
    ) -> None:
        """Create answers 201 with iid/project_id/web_url/sha; a second open MR from the branch is GitLab's 409."""
        shas = seed(sim, template)
        mr = open_mr(gl, description="why", labels=["rollback", "gitops"])
        assert (mr.iid, mr.project_id, mr.state, mr.sha) == (1, sim.project_id(PROJECT), "opened", shas["roll"])
        assert mr.web_url == f"{sim.url}/grp/app/-/merge_requests/1"
        assert (mr.labels, mr.description, mr.detailed_merge_status) == (["gitops", "rollback"], "why", "mergeable")
        with pytest.raises(gitlab.GitlabCreateError) as err:
            open_mr(gl)
        assert err.value.response_code == 409
        message: Any = err.value.error_message  # GitLab's JSON list, whatever python-gitlab's annotation says
        assert message == ["Another open merge request already exists for this source branch: !1"]
        assert [m["iid"] for m in sim.merge_requests(PROJECT)] == [1]

    def test_create_validation(
        self, sim: GitLabSimulator, http: httpx.Client, template: tuple[Path, dict[str, str]]
    ) -> None:
        """Missing fields are Grape's 400, a missing branch 422 and the same branch on both sides 422."""
        seed(sim, template)
        url = "/api/v4/projects/grp%2Fapp/merge_requests"
        reply = http.post(url, json={"source_branch": "rollback/abc"})
        assert (reply.status_code, reply.json()) == (400, {"error": "target_branch is missing, title is missing"})
        reply = http.post(url, json={"source_branch": "nope", "target_branch": "main", "title": "t"})
        assert (reply.status_code, reply.json()) == (422, {"message": ['Source branch "nope" does not exist']})
        reply = http.post(url, json={"source_branch": "main", "target_branch": "main", "title": "t"})
        assert (reply.status_code, reply.json()) == (
            422,
            {"message": ["You can't use same project/branch for source and target"]},
        )
        assert sim.merge_requests(PROJECT) == []

    def test_list_filters(self, sim: GitLabSimulator, gl: gitlab.Gitlab, template: tuple[Path, dict[str, str]]) -> None:
        """source_branch, target_branch and state filter the list, newest first."""
        seed(sim, template)
        run_git(sim.repo_path(PROJECT), "branch", "other", "rollback/abc")
        open_mr(gl)
        open_mr(gl, source="other")
        sim.close_merge_request(PROJECT, 2)
        project = gl.projects.get(PROJECT, lazy=True)
        assert [m.iid for m in project.mergerequests.list(get_all=True)] == [2, 1]
        assert [m.iid for m in project.mergerequests.list(state="opened", get_all=True)] == [1]
        found = project.mergerequests.list(source_branch="rollback/abc", target_branch="main", state="opened")
        assert [m.iid for m in found] == [1]
        assert project.mergerequests.list(source_branch="rollback/abc", target_branch="release", get_all=True) == []
        listing = [req for req, _ in sim.requests if req.method == "GET" and "source_branch" in req.query]
        assert listing[0].query["source_branch"] == ["rollback/abc"]

    def test_update_labels_reviewers_description_and_close(
        self, sim: GitLabSimulator, gl: gitlab.Gitlab, template: tuple[Path, dict[str, str]]
    ) -> None:
        """PUT changes description, labels and reviewer_ids (known users only); state_event=close closes it."""
        seed(sim, template)
        alice = sim.add_user("alice", name="Alice")
        mr = open_mr(gl)
        mr.description, mr.labels, mr.reviewer_ids = "new body", ["b", "a"], [alice, 999]
        mr.save()
        stored = sim.merge_request(PROJECT, 1)
        assert (stored["description"], stored["labels"]) == ("new body", ["a", "b"])
        assert [r["username"] for r in stored["reviewers"]] == ["alice"]
        assert [u.id for u in gl.users.list(username="alice", get_all=True)] == [alice]
        assert gl.users.list(username="nobody", get_all=True) == []
        mr.state_event = "close"
        mr.save()
        assert sim.merge_request(PROJECT, 1)["state"] == "closed"
        assert gl.projects.get(PROJECT, lazy=True).mergerequests.get(1).detailed_merge_status == "not_open"

    def test_notes_and_branches(
        self, sim: GitLabSimulator, gl: gitlab.Gitlab, template: tuple[Path, dict[str, str]]
    ) -> None:
        """Notes are stored and listed; a branch with a slash is found URL-encoded; a missing one is 404."""
        shas = seed(sim, template)
        mr = open_mr(gl)
        note = mr.notes.create({"body": "hello"})
        assert (note.body, note.noteable_iid, note.author["username"]) == ("hello", 1, "gitrollback-bot")
        assert [n.body for n in mr.notes.list(get_all=True)] == ["hello"]
        assert sim.notes(PROJECT, 1) == ["hello"]
        project = gl.projects.get(PROJECT, lazy=True)
        branch = project.branches.get("rollback/abc")
        assert (branch.name, branch.commit["id"], branch.default) == ("rollback/abc", shas["roll"], False)
        assert [r.raw_path for r, _ in sim.requests][-1].endswith("/repository/branches/rollback%2Fabc")
        with pytest.raises(gitlab.GitlabGetError) as err:
            project.branches.get("missing")
        assert (err.value.response_code, err.value.error_message) == (404, "404 Branch Not Found")

    def test_pagination_headers_and_get_all(self, sim: GitLabSimulator, gl: gitlab.Gitlab, http: httpx.Client) -> None:
        """25 users page as 20 + 5 with GitLab's full header set; get_all follows Link, a bare list() warns."""
        for n in range(24):
            sim.add_user(f"user{n:02d}")
        reply = http.get("/api/v4/users")
        headers = reply.headers
        assert (headers["X-Page"], headers["X-Per-Page"], headers["X-Total"], headers["X-Total-Pages"]) == (
            "1",
            "20",
            "25",
            "2",
        )
        assert (headers["X-Next-Page"], headers["X-Prev-Page"]) == ("2", "")
        assert f'<{sim.url}/api/v4/users?page=2&per_page=20>; rel="next"' in headers["Link"]
        assert len(reply.json()) == 20
        assert len(gl.users.list(get_all=True)) == 25
        assert [u.username for u in gl.users.list(per_page=10, page=3)][:1] == ["user19"]
        with pytest.warns(UserWarning, match="get_all=True"):
            gl.users.list()


class TestMerge:
    def test_merge_writes_a_real_merge_commit(
        self, sim: GitLabSimulator, gl: gitlab.Gitlab, template: tuple[Path, dict[str, str]]
    ) -> None:
        """PUT .../merge makes a two-parent merge commit on the bare repo's main with the source's tree."""
        shas = seed(sim, template)
        mr = open_mr(gl)
        mr.merge(merge_commit_message="Merge the rollback")
        bare = sim.repo_path(PROJECT)
        head = run_git(bare, "rev-parse", "refs/heads/main")
        assert (mr.state, mr.merge_commit_sha, mr.sha) == ("merged", head, shas["roll"])
        assert run_git(bare, "rev-list", "--parents", "-n1", head).split() == [head, shas["c2"], shas["roll"]]
        assert run_git(bare, "log", "-1", "--format=%B", head) == "Merge the rollback"
        assert run_git(bare, "show", f"{head}:a.txt") == "0"
        assert run_git(bare, "show", f"{head}:b.txt") == "2"
        again = httpx.put(
            f"{sim.url}/api/v4/projects/grp%2Fapp/merge_requests/1/merge", headers={"PRIVATE-TOKEN": TOKEN}
        )
        assert (again.status_code, again.json()) == (405, {"message": "405 Method Not Allowed"})

    def test_protected_branch_refuses_with_401(
        self, sim: GitLabSimulator, http: httpx.Client, template: tuple[Path, dict[str, str]]
    ) -> None:
        """A protected target the user may not merge into is GitLab's 401, and main does not move."""
        shas = seed(sim, template)
        http.post(
            "/api/v4/projects/grp%2Fapp/merge_requests",
            json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"},
        )
        sim.protect_branch(PROJECT, "main")
        reply = http.put("/api/v4/projects/grp%2Fapp/merge_requests/1/merge")
        assert (reply.status_code, reply.json()) == (401, {"message": "401 Unauthorized"})
        assert sim.branch_sha(PROJECT, "main") == shas["c2"]
        assert http.get("/api/v4/projects/grp%2Fapp/repository/branches/main").json()["protected"] is True
        sim.protect_branch(PROJECT, "main", merge_allowed=True)
        assert http.put("/api/v4/projects/grp%2Fapp/merge_requests/1/merge").status_code == 200

    def test_failing_pipeline_refuses_with_405(
        self, sim: GitLabSimulator, http: httpx.Client, template: tuple[Path, dict[str, str]]
    ) -> None:
        """With pipelines failing and required, merge is 405 and the MR says ci_must_pass; green pipelines merge."""
        seed(sim, template)
        http.post(
            "/api/v4/projects/grp%2Fapp/merge_requests",
            json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"},
        )
        sim.fail_pipelines(PROJECT)
        reply = http.put("/api/v4/projects/grp%2Fapp/merge_requests/1/merge")
        assert (reply.status_code, reply.json()) == (405, {"message": "405 Method Not Allowed"})
        mr = http.get("/api/v4/projects/grp%2Fapp/merge_requests/1").json()
        assert (mr["detailed_merge_status"], mr["head_pipeline"]["status"]) == ("ci_must_pass", "failed")
        sim.fail_pipelines(PROJECT, failing=False)
        assert http.put("/api/v4/projects/grp%2Fapp/merge_requests/1/merge").json()["state"] == "merged"

    @pytest.mark.parametrize(("api", "status"), [("current", 405), ("17", 422), ("legacy", 405)])
    def test_a_conflict_is_405_on_current_gitlab_422_on_17_and_405_on_older(
        self, template: tuple[Path, dict[str, str]], tmp_path: Path, api: str, status: int
    ) -> None:
        """A source branch that conflicts with main has has_conflicts and detailed status conflict; merging is
        405 (current GitLab: not mergeable), 422 "Branch cannot be merged" (17) or 405 (older: a broken state)."""
        with GitLabSimulator(tmp_path / "gitlab", token=TOKEN, merge_api=api) as sim:
            shas = seed(sim, template)
            work = tmp_path / "w"
            run_git(tmp_path, "clone", "--quiet", str(template[0]), str(work))
            make_repo(work, [CommitSpec("clash", {"b.txt": "clash\n"}, label="x")], branch="clash", start=shas["c1"])
            run_git(work, "push", "--quiet", str(sim.repo_path(PROJECT)), "clash")
            with httpx.Client(base_url=sim.url, headers={"PRIVATE-TOKEN": TOKEN}) as http:
                http.post(
                    "/api/v4/projects/grp%2Fapp/merge_requests",
                    json={"source_branch": "clash", "target_branch": "main", "title": "t"},
                )
                mr = http.get("/api/v4/projects/grp%2Fapp/merge_requests/1").json()
                assert (mr["has_conflicts"], mr["merge_status"], mr["detailed_merge_status"]) == (
                    True,
                    "cannot_be_merged",
                    "conflict",
                )
                reply = http.put("/api/v4/projects/grp%2Fapp/merge_requests/1/merge")
        message = "Branch cannot be merged" if status == 422 else "405 Method Not Allowed"
        assert (reply.status_code, reply.json()) == (status, {"message": message})

    def test_reviewer_accepts_outside_the_api(
        self, sim: GitLabSimulator, gl: gitlab.Gitlab, template: tuple[Path, dict[str, str]]
    ) -> None:
        """accept_merge_request merges despite protection (a reviewer with rights), visible through the API."""
        seed(sim, template)
        open_mr(gl)
        sim.protect_branch(PROJECT, "main")
        commit = sim.accept_merge_request(PROJECT, 1)
        mr = gl.projects.get(PROJECT, lazy=True).mergerequests.get(1)
        assert (mr.state, mr.merge_commit_sha, sim.branch_sha(PROJECT, "main")) == ("merged", commit, commit)


def test_git_smart_http_with_any_username(
    sim: GitLabSimulator, template: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """git clones and pushes over HTTP with the token as password under any user name; a wrong token fails."""
    shas = seed(sim, template)
    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "--quiet", sim.git_url(PROJECT, user="oauth2"), str(clone))
    assert run_git(clone, "rev-parse", "HEAD") == shas["c2"]
    make_repo(clone, [CommitSpec("more", {"c.txt": "c\n"}, label="more")])
    run_git(clone, "push", "--quiet", sim.git_url(PROJECT, user="anyone"), "main")
    assert sim.branch_sha(PROJECT, "main") == run_git(clone, "rev-parse", "HEAD")
    bad = sim.git_url(PROJECT).replace(TOKEN, "wrong")
    with pytest.raises(RuntimeError, match="Authentication failed"):
        run_git(tmp_path, "clone", "--quiet", bad, str(tmp_path / "nope"))


def test_git_smart_http_nested_group_and_prefix(template: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """A nested group's project (`a/b/c`) is served over HTTP under a relative URL root too."""
    with GitLabSimulator(tmp_path / "gl", token=TOKEN, relative_url_root="/gitlab") as sim:
        shas = seed(sim, template, "a/b/c")
        url = sim.git_url("a/b/c")
        assert url == f"http://oauth2:{TOKEN}@127.0.0.1:{sim.port}/gitlab/a/b/c.git"
        assert run_git(tmp_path, "ls-remote", url, "refs/heads/rollback/abc").split()[0] == shas["roll"]
        assert next(r.raw_path for r, resp in sim.requests if resp.status == 200) == "/gitlab/a/b/c.git/info/refs"


MR_API = "/api/v4/projects/grp%2Fapp/merge_requests"


@pytest.fixture(name="slow")
def _slow(tmp_path: Path, template: tuple[Path, dict[str, str]]) -> Iterator[tuple[GitLabSimulator, FakeClock]]:
    """A simulator on a FakeClock whose merge requests take 10 s to settle, seeded with the template."""
    clock = FakeClock()
    with GitLabSimulator(tmp_path / "gitlab", token=TOKEN, clock=clock, mergeability_delay=10) as sim:
        seed(sim, template)
        yield sim, clock


def _statuses(http: httpx.Client, iid: int = 1) -> tuple[str, str]:
    mr = http.get(f"{MR_API}/{iid}").json()
    return mr["merge_status"], mr["detailed_merge_status"]


class TestAsynchronousMergeability:
    def test_a_new_mr_is_preparing_then_unchecked_then_checking_then_settled(
        self, slow: tuple[GitLabSimulator, FakeClock]
    ) -> None:
        """Preparing for 5 s, unchecked until read, checking for 5 s after the read; a push resets it."""
        sim, clock = slow
        with httpx.Client(base_url=sim.url, headers={"PRIVATE-TOKEN": TOKEN}) as http:
            created = http.post(MR_API, json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"})
            seen = [(created.json()["merge_status"], created.json()["detailed_merge_status"]), _statuses(http)]
            clock.advance(5)
            seen.append((sim.merge_requests(PROJECT)[0]["detailed_merge_status"],) * 2)  # a list does not recheck
            seen += [_statuses(http)]
            clock.advance(5)
            seen += [_statuses(http)]
            run_git(sim.repo_path(PROJECT), "branch", "-f", "main", "main~1")  # the target moved
            seen += [(sim.merge_requests(PROJECT)[0]["detailed_merge_status"],) * 2, _statuses(http)]
            clock.advance(5)
            seen += [_statuses(http)]
        assert seen == [
            ("preparing", "preparing"),
            ("preparing", "preparing"),
            ("unchecked", "unchecked"),
            ("checking", "checking"),
            ("can_be_merged", "mergeable"),
            ("unchecked", "unchecked"),
            ("checking", "checking"),
            ("can_be_merged", "mergeable"),
        ]

    @pytest.mark.parametrize(
        ("api", "status", "message"),
        [
            ("current", 405, "405 Method Not Allowed"),
            ("17", 422, "Branch cannot be merged"),
            ("legacy", 406, "Branch cannot be merged"),
        ],
    )
    def test_early_merges_get_405_while_preparing_and_a_refusal_while_checking(
        self, template: tuple[Path, dict[str, str]], tmp_path: Path, api: str, status: int, message: str
    ) -> None:
        """No conflict anywhere: 405 while the diff is prepared; while a check runs 405 (current GitLab), 422 (17)
        or 406 (older); then 200."""
        clock = FakeClock()
        with GitLabSimulator(
            tmp_path / "gitlab", token=TOKEN, clock=clock, mergeability_delay=10, merge_api=api
        ) as sim:
            seed(sim, template)
            with httpx.Client(base_url=sim.url, headers={"PRIVATE-TOKEN": TOKEN}) as http:
                http.post(MR_API, json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"})
                replies = [http.put(f"{MR_API}/1/merge")]
                clock.advance(5)
                _statuses(http)  # the read starts the background check
                replies.append(http.put(f"{MR_API}/1/merge"))
                clock.advance(5)
                replies.append(http.put(f"{MR_API}/1/merge"))
        assert [(r.status_code, r.json().get("message")) for r in replies] == [
            (405, "405 Method Not Allowed"),
            (status, message),
            (200, None),
        ]
        assert replies[-1].json()["state"] == "merged"

    def test_an_unchecked_mr_is_checked_on_the_spot_by_a_merge(self, slow: tuple[GitLabSimulator, FakeClock]) -> None:
        """When no background check runs, the merge endpoint checks synchronously and merges."""
        sim, clock = slow
        with httpx.Client(base_url=sim.url, headers={"PRIVATE-TOKEN": TOKEN}) as http:
            http.post(MR_API, json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"})
            clock.advance(5)
            assert http.put(f"{MR_API}/1/merge").json()["state"] == "merged"


class TestMergeBlockers:
    @pytest.mark.parametrize(("api", "rebase_status"), [("current", 405), ("17", 422)])
    def test_each_blocker_has_its_detailed_status_and_refusal(
        self, template: tuple[Path, dict[str, str]], tmp_path: Path, api: str, rebase_status: int
    ) -> None:
        """not_approved, draft_status, discussions_not_resolved, ci_still_running and ci_must_pass refuse with
        405; need_rebase (a git check) with 405 on current GitLab, 422 on 17; each clears in turn until the merge
        goes through."""
        with (
            GitLabSimulator(tmp_path / "gitlab", token=TOKEN, merge_api=api) as sim,
            httpx.Client(base_url=sim.url, headers={"PRIVATE-TOKEN": TOKEN}) as http,
        ):
            self._each_blocker(sim, http, template, rebase_status)

    @staticmethod
    def _each_blocker(
        sim: GitLabSimulator, http: httpx.Client, template: tuple[Path, dict[str, str]], rebase_status: int
    ) -> None:
        seed(sim, template)
        sim.add_user("lead")
        http.post(MR_API, json={"source_branch": "rollback/abc", "target_branch": "main", "title": "Draft: t"})
        sim.configure(
            PROJECT,
            approvals_before_merge=1,
            only_allow_merge_if_all_discussions_are_resolved=True,
            merge_method="ff",
        )
        sim.open_discussion(PROJECT, 1)
        seen: list[tuple[str, int]] = []

        def look() -> None:
            detailed = _statuses(http)[1]
            seen.append((detailed, http.put(f"{MR_API}/1/merge").status_code))

        look()
        sim.approve(PROJECT, 1, "lead")
        look()
        http.put(f"{MR_API}/1", json={"title": "t"})
        look()
        sim.resolve_discussions(PROJECT, 1)
        sim.set_pipeline(PROJECT, "running")
        look()
        sim.set_pipeline(PROJECT, "failed")
        look()
        sim.set_pipeline(PROJECT, "success")
        bare = sim.repo_path(PROJECT)
        moved = run_git(bare, "commit-tree", "-m", "elsewhere", "main^{tree}", "-p", "main")
        run_git(bare, "update-ref", "refs/heads/main", moved)
        look()
        assert seen == [
            ("not_approved", 405),
            ("draft_status", 405),
            ("discussions_not_resolved", 405),
            ("ci_still_running", 405),
            ("ci_must_pass", 405),
            ("need_rebase", rebase_status),
        ]
        sim.configure(PROJECT, merge_method="merge")
        merged = http.put(f"{MR_API}/1/merge").json()
        assert (merged["state"], merged["merge_commit_sha"]) == ("merged", sim.branch_sha(PROJECT, "main"))

    def test_fast_forward_merge_moves_the_target_to_the_source(
        self, sim: GitLabSimulator, http: httpx.Client, template: tuple[Path, dict[str, str]]
    ) -> None:
        """With merge_method ff and the source on top of main, the merge is a fast-forward: no merge commit."""
        shas = seed(sim, template)
        sim.configure(PROJECT, merge_method="ff")
        http.post(MR_API, json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"})
        merged = http.put(f"{MR_API}/1/merge").json()
        assert (merged["state"], merged["merge_commit_sha"], merged["sha"]) == ("merged", None, shas["roll"])
        assert sim.branch_sha(PROJECT, "main") == shas["roll"]


class TestAutoMerge:
    def test_merge_when_pipeline_succeeds_merges_once_the_pipeline_passes(
        self, template: tuple[Path, dict[str, str]], tmp_path: Path
    ) -> None:
        """With a running required pipeline, merge_when_pipeline_succeeds answers 200 with the MR still open;
        GitLab merges it as that user when the pipeline succeeds 30 s later."""
        clock = FakeClock()
        with GitLabSimulator(tmp_path / "gitlab", token=TOKEN, clock=clock) as sim:
            shas = seed(sim, template)
            sim.set_pipeline(PROJECT, "running")
            with gitlab.Gitlab(sim.url, private_token=TOKEN) as gl:
                mr = open_mr(gl)
                mr.merge(merge_when_pipeline_succeeds=True)
                assert (mr.state, mr.merge_when_pipeline_succeeds, mr.merge_user["username"]) == (
                    "opened",
                    True,
                    "gitrollback-bot",
                )
                sim.set_pipeline(PROJECT, "success", after=30)
                clock.advance(29)
                assert sim.merge_request(PROJECT, 1)["state"] == "opened"
                clock.advance(1)
                merged = gl.projects.get(PROJECT, lazy=True).mergerequests.get(1)
        assert (merged.state, merged.merged_at, merged.merge_when_pipeline_succeeds) == (
            "merged",
            "2026-03-28T00:00:30.000Z",
            False,
        )
        assert sim.branch_sha(PROJECT, "main") == merged.merge_commit_sha != shas["c2"]

    def test_a_failed_pipeline_aborts_the_auto_merge(
        self, sim: GitLabSimulator, http: httpx.Client, template: tuple[Path, dict[str, str]]
    ) -> None:
        """auto_merge with a running pipeline is set; a pipeline that fails drops it with a system note, the MR
        stays open, and auto-merge is then refused (405: the pipeline does not allow a merge)."""
        seed(sim, template)
        http.post(MR_API, json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"})
        sim.set_pipeline(PROJECT, "running")
        assert http.put(f"{MR_API}/1/merge", json={"auto_merge": True}).json()["merge_when_pipeline_succeeds"]
        sim.set_pipeline(PROJECT, "failed")
        mr = http.get(f"{MR_API}/1").json()
        assert (mr["state"], mr["merge_when_pipeline_succeeds"], mr["detailed_merge_status"]) == (
            "opened",
            False,
            "ci_must_pass",
        )
        assert sim.notes(PROJECT, 1) == ["aborted the automatic merge because the pipeline failed"]
        assert http.put(f"{MR_API}/1/merge", json={"merge_when_pipeline_succeeds": True}).status_code == 405

    @pytest.mark.parametrize(("api", "status", "state"), [("current", 200, "merged"), ("17", 405, "opened")])
    def test_auto_merge_without_a_pipeline_merges_at_once_on_current_gitlab(
        self, template: tuple[Path, dict[str, str]], tmp_path: Path, api: str, status: int, state: str
    ) -> None:
        """merge_when_pipeline_succeeds with no pipeline at all: current GitLab merges at once (no strategy, but
        pipeline_allows_merge?); 17 refused it (405)."""
        with GitLabSimulator(tmp_path / "gitlab", token=TOKEN, merge_api=api) as sim:
            seed(sim, template)
            with httpx.Client(base_url=sim.url, headers={"PRIVATE-TOKEN": TOKEN}) as http:
                http.post(MR_API, json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"})
                reply = http.put(f"{MR_API}/1/merge", json={"merge_when_pipeline_succeeds": True})
                assert reply.status_code == status
                assert http.get(f"{MR_API}/1").json()["state"] == state

    @pytest.mark.parametrize(("api", "status"), [("current", 409), ("17", 405)])
    def test_a_stale_sha_is_checked_before_mergeability_on_current_gitlab(
        self, template: tuple[Path, dict[str, str]], tmp_path: Path, api: str, status: int
    ) -> None:
        """A stale sha on a merge request that is not mergeable either: current GitLab checks the sha first (409),
        17 checked mergeability first (405)."""
        with GitLabSimulator(tmp_path / "gl", token=TOKEN, merge_api=api) as other:
            shas = seed(other, template)
            other.fail_pipelines(PROJECT)
            with httpx.Client(base_url=other.url, headers={"PRIVATE-TOKEN": TOKEN}) as http:
                http.post(MR_API, json={"source_branch": "rollback/abc", "target_branch": "main", "title": "t"})
                reply = http.put(f"{MR_API}/1/merge", json={"sha": shas["c1"]})
        assert reply.status_code == status
        if status == 409:
            assert reply.json() == {"message": f"SHA does not match HEAD of source branch: {shas['roll']}"}


class TestRateLimits:
    def test_replies_carry_ratelimit_headers_and_a_throttle_answers_429_retry_later(
        self, template: tuple[Path, dict[str, str]], tmp_path: Path
    ) -> None:
        """Every API reply has RateLimit-*; a throttle answers 429 "Retry later" with Retry-After and the reset,
        which python-gitlab (not allowed to sleep) raises as a 429, until it lifts."""
        clock = FakeClock()
        with GitLabSimulator(tmp_path / "gitlab", token=TOKEN, clock=clock) as sim:
            seed(sim, template)
            with httpx.Client(base_url=sim.url, headers={"PRIVATE-TOKEN": TOKEN}) as http:
                ok = http.get("/api/v4/projects/grp%2Fapp")
                assert (ok.headers["RateLimit-Name"], ok.headers["RateLimit-Limit"]) == (
                    "throttle_authenticated_api",
                    "7200",
                )
                assert (ok.headers["RateLimit-Observed"], ok.headers["RateLimit-Remaining"]) == ("1", "7199")
                sim.throttle(60)
                clock.advance(15)
                refused = http.get("/api/v4/projects/grp%2Fapp")
            assert (refused.status_code, refused.text) == (429, "Retry later\n")
            assert refused.headers["Retry-After"] == "45"
            assert int(refused.headers["RateLimit-Reset"]) == int(clock.now().timestamp()) + 45
            assert refused.headers["RateLimit-ResetTime"].endswith(" GMT")
            with gitlab.Gitlab(sim.url, private_token=TOKEN) as gl:
                with pytest.raises(gitlab.GitlabGetError) as info:
                    gl.projects.get(PROJECT, obey_rate_limit=False)
                assert info.value.response_code == 429
                clock.advance(45)
                assert gl.projects.get(PROJECT).path_with_namespace == PROJECT
