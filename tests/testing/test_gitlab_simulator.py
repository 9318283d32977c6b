"""The GitLab simulator, driven by the real python-gitlab, raw HTTP (httpx) and the git CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import httpx
import pytest

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

    def test_conflict_refuses_with_406(
        self, sim: GitLabSimulator, http: httpx.Client, template: tuple[Path, dict[str, str]], tmp_path: Path
    ) -> None:
        """A source branch that conflicts with main is 406 "Branch cannot be merged" and has_conflicts."""
        shas = seed(sim, template)
        work = tmp_path / "w"
        run_git(tmp_path, "clone", "--quiet", str(template[0]), str(work))
        make_repo(work, [CommitSpec("clash", {"b.txt": "clash\n"}, label="x")], branch="clash", start=shas["c1"])
        run_git(work, "push", "--quiet", str(sim.repo_path(PROJECT)), "clash")
        http.post(
            "/api/v4/projects/grp%2Fapp/merge_requests",
            json={"source_branch": "clash", "target_branch": "main", "title": "t"},
        )
        assert http.get("/api/v4/projects/grp%2Fapp/merge_requests/1").json()["has_conflicts"] is True
        reply = http.put("/api/v4/projects/grp%2Fapp/merge_requests/1/merge")
        assert (reply.status_code, reply.json()) == (406, {"message": "Branch cannot be merged"})

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
