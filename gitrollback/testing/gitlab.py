"""A loopback GitLab: the API v4 routes python-gitlab needs, backed by real bare git repositories.

``GitLabSimulator`` serves, on one port, the REST routes the GitLab source-host adapter uses (project by id
or URL-encoded path, merge requests with filters, update, close and a *real* merge, notes, branches, users)
and git smart HTTP for the same projects (``/<group>/<name>.git/...``, delegated to
``gitrollback.testing.git_http.GitHttpBackend``; a nested group's ``/a/b/c.git`` goes to a backend rooted at
``root/a``, since that backend serves two-segment paths only). A merge request's merge writes a two-parent merge commit
onto the bare repository's target branch, so ``git fetch`` sees exactly what GitLab would produce.

Remote behaviour assumed (python-gitlab's ``gitlab/client.py``, GitLab's REST API docs): python-gitlab sends
``PRIVATE-TOKEN`` and URL-encodes the project path (``grp%2Fapp``, ``a%2Fb%2Fc``), so routing happens on the *raw*
path; every URL in a reply is built from the request's ``Host`` header (plus the optional relative URL root of a
self-managed instance); list replies carry GitLab's whole pagination header set. Git over HTTP takes the token as
the Basic password with any user name (GitLab accepts ``oauth2`` and others).

Mergeability is asynchronous and the merge endpoint refuses early merges as GitLab does (``_gitlab_state``,
``_gitlab_api``). Rate limits follow GitLab's "User and IP rate limits" (Rack::Attack throttles in
gitlab-org/gitlab ``lib/gitlab/rack_attack``): every API reply carries ``RateLimit-Name``, ``-Limit``,
``-Observed``, ``-Remaining`` and ``-Reset`` (epoch seconds); a throttled request gets 429 with the plain-text
body ``Retry later`` plus ``RateLimit-ResetTime`` (an HTTP date) and ``Retry-After`` (seconds). python-gitlab
reads ``Retry-After`` and ``RateLimit-Reset`` (``gitlab/utils.py``, ``Retry``) when it is allowed to sleep.

Usage::

    with GitLabSimulator(tmp_path / "gitlab", token="glpat-sim") as sim:
        pid, bare = sim.create_project("grp/app")          # push content to ``bare`` or ``sim.git_url(...)``
        sim.protect_branch("grp/app", "main")              # fault switch: merging into main -> 401
        sim.fail_pipelines("grp/app")                      # fault switch: pipelines must succeed -> 405
        sim.configure("grp/app", approvals_before_merge=1) # ... and more project settings
        sim.throttle(60)                                   # the next minute of API calls: 429 Retry later
        gl = gitlab.Gitlab(sim.url, private_token="glpat-sim")
        mrs = sim.merge_requests("grp/app")                # API JSON, for assertions
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import replace
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from gitrollback.testing import _gitlab_git as git
from gitrollback.testing._gitlab_api import DEVELOPER, GitLabApi
from gitrollback.testing._gitlab_state import Project, now_iso
from gitrollback.testing._rate_limits import Window
from gitrollback.testing.clock import SimClock, Timer, WallClock
from gitrollback.testing.git_http import GitHttpBackend
from gitrollback.testing.server import Request, Response, SimulatorServer

__all__ = ["GitLabSimulator"]

#: GitLab's default throttle for authenticated API traffic: 7200 requests per hour (application settings
#: ``throttle_authenticated_api_requests_per_period`` and ``..._period_in_seconds``)
_API_LIMIT, _API_PERIOD = 7200, 3600.0
_PROJECT_SETTINGS = (
    "approvals_before_merge",
    "merge_method",
    "only_allow_merge_if_all_discussions_are_resolved",
    "only_allow_merge_if_pipeline_succeeds",
)


class GitLabSimulator(SimulatorServer):
    """GitLab API v4 plus git smart HTTP on one loopback port.

    Args:
        root: directory holding the bare repositories (``root/<group>/<name>.git``).
        token: the one valid token, accepted as ``PRIVATE-TOKEN``, ``Authorization: Bearer`` or, for git,
            as the Basic-auth password with any user name.
        relative_url_root: a path prefix such as ``/gitlab``, as self-managed instances under a sub-path
            have; every route then lives under it.
        clock: where timestamps (``created_at``, ``merged_at``, merge commit dates), the mergeability phases
            and rate limits take their time from; the world's shared clock, or wall time when omitted. The only
            timers it registers are the pipelines finished later (``set_pipeline(..., after=)``).
        mergeability_delay: seconds a new merge request spends ``preparing``, and a read one ``checking``, half
            each (0 settles at once).
        merge_api: which GitLab merge endpoint to answer as: ``"current"`` (a stale ``sha`` is 409 first, then
            anything not mergeable is 405), ``"17"`` (405 for a failing non-git check, 422 "Branch cannot be merged"
            for a conflict, a needed rebase or a running check, then the 409) or ``"legacy"`` (a conflict is 405,
            "Branch cannot be merged" is 406); see ``_gitlab_api.GitLabApi._merge``.
    """

    def __init__(
        self,
        root: Path,
        *,
        token: str = "glpat-sim",
        relative_url_root: str = "",
        clock: SimClock | None = None,
        mergeability_delay: float = 0.0,
        merge_api: str = "current",
    ) -> None:
        super().__init__()
        self.root = root
        self.token = token
        self.relative_url_root = "/" + relative_url_root.strip("/") if relative_url_root.strip("/") else ""
        self.clock: SimClock = clock if clock is not None else WallClock()
        self._api = GitLabApi(root, self.clock, mergeability_delay=mergeability_delay, merge_api=merge_api)
        self.rate_limit = Window(self.clock.now, limit=_API_LIMIT, period=_API_PERIOD)
        self._timers: list[Timer] = []
        self._git_backends: dict[str, GitHttpBackend] = {}
        self._git_lock = threading.Lock()

    def stop(self) -> None:
        """Cancel pending pipeline timers, then stop serving."""
        for timer in self._timers:
            timer.cancel()
        super().stop()

    @property
    def mergeability_delay(self) -> float:
        """Seconds of ``preparing`` plus ``checking`` for a new merge request."""
        return self._api.mergeability_delay

    @mergeability_delay.setter
    def mergeability_delay(self, seconds: float) -> None:
        self._api.mergeability_delay = seconds

    # -- seeding and fault switches ------------------------------------------------------------------------

    def create_project(self, path_with_namespace: str, *, default_branch: str = "main") -> tuple[int, Path]:
        """Create a project with an empty bare repository; returns ``(project id, bare repo path)``."""
        project = self._api.create_project(path_with_namespace, default_branch)
        return project.id, project.repo

    def add_user(self, username: str, *, name: str | None = None) -> int:
        """Register a user who can be asked to review; returns the user id."""
        return self._api.add_user(username, name)

    def protect_branch(self, project: str | int, branch: str, *, merge_allowed: bool = False) -> None:
        """Protect ``branch``; unless ``merge_allowed``, the token's user may not merge into it (merge → 401)."""
        with self._api.lock:
            self._project(project).protected[branch] = merge_allowed

    def unprotect_branch(self, project: str | int, branch: str) -> None:
        """Lift the protection of ``branch``."""
        with self._api.lock:
            self._project(project).protected.pop(branch, None)

    def set_access_level(self, project: str | int, level: int) -> None:
        """The token's user's access level on the project (10 Guest, 20 Reporter, 30 Developer, 40 Maintainer):
        below Developer, pushes and new merge requests are refused (403)."""
        with self._api.lock:
            self._project(project).access_level = level

    def set_pipeline(
        self, project: str | int, status: str | None, *, must_succeed: bool = True, after: float | None = None
    ) -> None:
        """Give every merge request's head pipeline ``status`` (``success``, ``failed``, ``running``, None).

        ``must_succeed`` is the project setting "Pipelines must succeed": with it, a merge request whose
        pipeline did not succeed reports ``ci_still_running`` (while it runs) or ``ci_must_pass`` and its
        merge is refused. A pipeline that ends merges the merge requests set to auto-merge (success) or aborts
        their auto-merge (failure). With ``after``, the status changes that many seconds from now on the clock.
        """
        if after is not None:
            timer = self.clock.after(
                after, lambda: self.set_pipeline(project, status, must_succeed=must_succeed), name="gitlab-pipeline"
            )
            self._timers.append(timer)
            return
        with self._api.lock:
            p = self._project(project)
            p.pipeline_status, p.only_allow_merge_if_pipeline_succeeds = status, must_succeed
            self._api.pipeline_finished(p)

    def configure(self, project: str | int, **settings: Any) -> None:
        """Change project settings by their API names: ``approvals_before_merge`` (approvals required),
        ``merge_method`` (``merge``, ``rebase_merge``, ``ff``), ``only_allow_merge_if_all_discussions_are_resolved``,
        ``only_allow_merge_if_pipeline_succeeds``."""
        unknown = sorted(set(settings) - set(_PROJECT_SETTINGS))
        if unknown:
            raise ValueError(f"unknown project settings: {', '.join(unknown)}")
        with self._api.lock:
            p = self._project(project)
            if "approvals_before_merge" in settings:
                p.approvals_required = int(settings["approvals_before_merge"])
            if "merge_method" in settings:
                if settings["merge_method"] not in ("merge", "rebase_merge", "ff"):
                    raise ValueError(f"merge_method must be merge, rebase_merge or ff: {settings['merge_method']!r}")
                p.merge_method = settings["merge_method"]
            for flag in ("only_allow_merge_if_all_discussions_are_resolved", "only_allow_merge_if_pipeline_succeeds"):
                if flag in settings:
                    setattr(p, flag, bool(settings[flag]))

    def approve(self, project: str | int, iid: int, username: str) -> None:
        """Record an approval of ``!iid`` by ``username`` (a user added with ``add_user``)."""
        with self._api.lock:
            user = next(u for u in self._api.users.values() if u.username == username)
            self._project(project).merge_requests[iid].approved_by.add(user.id)

    def open_discussion(self, project: str | int, iid: int) -> None:
        """Start one unresolved thread on ``!iid``."""
        with self._api.lock:
            self._project(project).merge_requests[iid].unresolved_discussions += 1

    def resolve_discussions(self, project: str | int, iid: int) -> None:
        """Resolve every thread on ``!iid``."""
        with self._api.lock:
            self._project(project).merge_requests[iid].unresolved_discussions = 0

    def cancel_auto_merge(self, project: str | int, iid: int) -> None:
        """A person turns off the auto-merge of ``!iid`` ("Cancel auto-merge" in the web UI)."""
        with self._api.lock:
            self._project(project).merge_requests[iid].auto_merge_by = None

    def throttle(self, seconds: float) -> None:
        """Throttle the API: every call gets 429 ``Retry later`` with ``Retry-After`` for ``seconds``."""
        self.rate_limit.refuse(seconds, status=429)

    def fail_pipelines(self, project: str | int, failing: bool = True) -> None:
        """Fault switch: pipelines fail and must succeed (``failing=False`` turns them green again)."""
        self.set_pipeline(project, "failed" if failing else "success", must_succeed=True)

    def accept_merge_request(self, project: str | int, iid: int, *, message: str | None = None) -> str:
        """Merge as a reviewer with the rights to (no protection or pipeline checks); returns the merge commit.

        Raises ``ValueError`` when the merge request is not open or conflicts with its target.
        """
        with self._api.lock:
            p = self._project(project)
            mr = p.merge_requests[iid]
            if mr.state != "opened":
                raise ValueError(f"!{iid} is {mr.state}")
            source = git.rev(p.repo, f"refs/heads/{mr.source_branch}")
            try:
                commit = git.merge(
                    p.repo,
                    target_branch=mr.target_branch,
                    source_branch=mr.source_branch,
                    message=message or f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'",
                    user_name="GitLab Reviewer",
                    user_email="reviewer@example.invalid",
                    when=self.clock.now(),
                )
            except git.MergeConflict as exc:
                raise ValueError(f"!{iid} conflicts with {mr.target_branch}: {exc}") from exc
            stamp = now_iso(self.clock.now())
            mr.state, mr.merged_at, mr.updated_at = "merged", stamp, stamp
            mr.merge_commit_sha, mr.merged_sha = commit, source
            return commit

    def close_merge_request(self, project: str | int, iid: int) -> None:
        """Close a merge request without merging it (as a reviewer who rejects it)."""
        with self._api.lock:
            mr = self._project(project).merge_requests[iid]
            mr.state, mr.closed_at = "closed", now_iso(self.clock.now())

    # -- accessors for assertions -------------------------------------------------------------------------

    def project_id(self, project: str) -> int:
        """The numeric id of a project path."""
        return self._project(project).id

    def repo_path(self, project: str | int) -> Path:
        """The bare repository of a project."""
        return self._project(project).repo

    def git_url(self, project: str | int, *, user: str = "oauth2", with_token: bool = True) -> str:
        """The smart-HTTP clone URL, with ``user:token@`` unless ``with_token`` is False."""
        cred = f"{user}:{self.token}@" if with_token else ""
        path = self._project(project).path_with_namespace
        return f"http://{cred}127.0.0.1:{self.port}{self.relative_url_root}/{path}.git"

    def branch_sha(self, project: str | int, branch: str) -> str | None:
        """The commit at the tip of ``branch`` in the bare repository, or None."""
        return git.rev(self.repo_path(project), f"refs/heads/{branch}")

    def merge_requests(self, project: str | int) -> list[dict[str, Any]]:
        """Every merge request of a project as API JSON, oldest first (as a list route shows them: no recheck)."""
        with self._api.lock:
            p = self._project(project)
            return [self._api.render(p, mr, self._base_url()) for _, mr in sorted(p.merge_requests.items())]

    def merge_request(self, project: str | int, iid: int) -> dict[str, Any]:
        """One merge request as API JSON, as a person viewing it sees it (a due mergeability check starts)."""
        with self._api.lock:
            p = self._project(project)
            return self._api.render(p, p.merge_requests[iid], self._base_url(), recheck=True)

    def notes(self, project: str | int, iid: int) -> list[str]:
        """The bodies of a merge request's notes, oldest first."""
        with self._api.lock:
            return [n.body for n in self._project(project).merge_requests[iid].notes]

    def _project(self, ref: str | int) -> Project:
        project = self._api.find_project(str(ref).strip("/"))
        if project is None:
            raise KeyError(f"no such project: {ref}")
        return project

    def _base_url(self, host: str | None = None) -> str:
        return f"http://{host or f'127.0.0.1:{self.port}'}{self.relative_url_root}"

    # -- HTTP ---------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Route API v4 requests (token checked) and git smart HTTP (Basic auth, any user name)."""
        path = request.raw_path
        if self.relative_url_root:
            if path != self.relative_url_root and not path.startswith(self.relative_url_root + "/"):
                return Response.text(404, "404 page not found")
            path = path[len(self.relative_url_root) :] or "/"
        if path == "/api/v4" or path.startswith("/api/v4/"):
            if not self._api_authorized(request):
                return Response.json(401, {"message": "401 Unauthorized"})
            refused = self.rate_limit.count()
            if refused is not None:
                retry_after = refused.retry_after(self.clock.now().timestamp())
                response = Response(429, b"Retry later\n", {"Content-Type": "text/plain", **self._rate_headers()})
                response.headers.update(
                    {
                        "RateLimit-Remaining": "0",
                        "RateLimit-Reset": str(int(refused.until)),
                        "RateLimit-ResetTime": formatdate(refused.until, usegmt=True),
                        "Retry-After": str(retry_after),
                    }
                )
                return response
            segments = [s for s in path[len("/api/v4/") :].split("/") if s]
            response = self._api.handle(request, segments, self._base_url(request.host))
            response.headers.update(self._rate_headers())
            return response
        return self._git(replace(request, raw_path=path, path=path))

    def _rate_headers(self) -> dict[str, str]:
        window = self.rate_limit
        return {
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": str(window.limit),
            "RateLimit-Observed": str(window.used),
            "RateLimit-Remaining": str(window.remaining),
            "RateLimit-Reset": str(window.reset),
        }

    def _api_authorized(self, request: Request) -> bool:
        token = request.header("PRIVATE-TOKEN")
        if not token:
            scheme, _, value = request.header("Authorization").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else ""
        return bool(token) and token == self.token

    def _git(self, request: Request) -> Response:
        repo_part, sep, service = request.raw_path.partition(".git/")
        if not sep:
            return Response.text(404, "404 page not found")
        scheme, _, value = request.header("Authorization").partition(" ")
        password = ""
        if scheme.lower() == "basic":
            try:
                password = base64.b64decode(value.strip()).decode("utf-8").partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                password = ""
        if not password or password != self.token:
            # GitLab answers git clients without (valid) credentials like this, so git retries with the URL's.
            response = Response.text(401, "HTTP Basic: Access denied")
            response.headers["WWW-Authenticate"] = 'Basic realm="GitLab"'
            return response
        project = self._api.find_project(unquote(repo_part).strip("/"))
        if project is None:
            return Response.text(404, "404 page not found")
        pushing = service == "git-receive-pack" or request.query_value("service") == "git-receive-pack"
        if pushing and project.access_level < DEVELOPER:
            # gitlab-shell's refusal for a role without push rights (Gitlab::GitAccess, :push_code)
            return Response.text(403, "You are not allowed to push code to this project.")
        # GitHttpBackend serves ``/<owner>/<name>.git`` under its root; a nested group's project ``a/b/c`` is
        # served by a backend rooted at ``root/a`` as ``/b/c.git``.
        namespace, _, name = project.path_with_namespace.rpartition("/")
        parent, _, owner = namespace.rpartition("/")
        backend = self._backend(parent)
        answer = backend.handle(replace(request, raw_path=f"/{owner}/{name}.git/{service}"))
        return answer if answer is not None else Response.text(404, "404 page not found")

    def _backend(self, parent: str) -> GitHttpBackend:
        with self._git_lock:
            if parent not in self._git_backends:
                # Authentication is done in ``_git`` (GitLab accepts any user name); the backend only runs git.
                self._git_backends[parent] = GitHttpBackend(self.root / parent if parent else self.root)
            return self._git_backends[parent]
