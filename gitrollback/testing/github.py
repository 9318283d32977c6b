"""A loopback GitHub (REST API v3 plus git smart HTTP) for the real PyGithub and the real git client.

``GitHubSimulator`` serves the routes PyGithub needs for a rollback pull request (REST API v3 as documented at
docs.github.com/rest): repository, pull requests (list with ``state``/``head``/``base`` filters, create, get, edit,
merge, merged check), review requests, issue labels and comments, and branches, with ``Link``-header pagination.
Every repository is a real bare git repository under ``root`` (``root/<owner>/<name>.git``): clones and pushes go
to the same port through ``GitHttpBackend`` (``git http-backend``), and a merge writes a real merge commit onto the
base branch. The rules (validation, refusals, exact messages, the background mergeability job, collaborators)
live in ``_github_state``, the JSON shapes in ``_github_json``, git plumbing in ``_github_git``.

Rate limits follow GitHub's "Rate limits for the REST API" docs: every API reply carries ``X-RateLimit-Limit``,
``-Remaining``, ``-Used``, ``-Reset`` (epoch seconds) and ``-Resource``; a spent primary limit answers 403 (or
429) ``API rate limit exceeded for user ID N.`` with ``X-RateLimit-Remaining: 0`` until the reset; a secondary
limit answers 403 (or 429) ``You have exceeded a secondary rate limit. ...`` with ``Retry-After``. PyGithub
raises ``RateLimitExceededException`` for the 403s (its ``Requester.isRateLimitError``) and a plain
``GithubException`` for a 429. Tests switch them on with ``exhaust_rate_limit`` and ``secondary_rate_limit``.

Replies build their URLs from the request's ``Host`` header and the API prefix the request used, so PyGithub
accepts them (PyGithub asserts that reply URLs start with its base URL). Both base URL styles work: ``http://127.0.0.1:P/api/v3``
(GitHub Enterprise style, the default ``api_prefix``) and ``http://127.0.0.1:P`` (api.github.com style).
Auth is ``Authorization: token <t>`` (or ``Bearer <t>``); anything else gets 401 ``Bad credentials``.

Usage::

    with GitHubSimulator(tmp_path) as gh:
        bare = gh.create_repo("acme", "app")             # then push branches to gh.clone_url("acme", "app")
        client = Github(base_url=gh.api_url, auth=Auth.Token(gh.token), retry=None,
                        seconds_between_requests=None, seconds_between_writes=None)
        gh.protect_branch("acme", "app", "main", required_checks=("ci",))
        gh.set_checks_failing("acme", "app")             # merges into main now get a 405
        gh.secondary_rate_limit(60)                      # the next minute of API calls: 403 with Retry-After
        assert gh.pulls("acme", "app")[0].merged
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from gitrollback.testing._github_git import Plumbing
from gitrollback.testing._github_json import (
    ROLES,
    Links,
    branch_json,
    comment_json,
    label_json,
    pull_json,
    repo_json,
    role_permissions,
    user_json,
)
from gitrollback.testing._github_state import ApiError, GitHubState, Protection, SimComment, SimPull, SimRepo
from gitrollback.testing._rate_limits import Refusal, Window
from gitrollback.testing.clock import SimClock, WallClock
from gitrollback.testing.git_http import GitHttpBackend
from gitrollback.testing.server import Request, Response, SimulatorServer

__all__ = ["GitHubSimulator", "Protection", "SimComment", "SimPull"]

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_DEFAULT_PER_PAGE = 30
_MAX_PER_PAGE = 100
#: a personal access token's primary limit: 5000 requests an hour (REST docs, "Primary rate limit")
_PRIMARY_LIMIT, _PRIMARY_PERIOD = 5000, 3600.0
_RATE_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"


class GitHubSimulator(SimulatorServer):
    """GitHub's REST API and git smart HTTP over real bare repositories under ``root``.

    Args:
        root: directory holding ``<owner>/<name>.git`` bare repositories.
        token: the one valid token (API ``Authorization`` header; git over HTTP as the Basic password).
        api_prefix: where the REST API lives (``/api/v3`` like GitHub Enterprise); unprefixed paths work too.
        login: the user the token belongs to (author of pull requests, comments and merges).
        clock: supplies timestamps (``created_at``, ``merged_at``, merge commit dates) and the simulated time of
            mergeability jobs and rate limits: the world's shared clock, or wall time when omitted. The simulator
            runs no timers.
        mergeability_delay: seconds ``mergeable`` stays null (and merges get the transient 405) after a pull
            request is opened or its head or base moves; 0 computes it at once.
        collaborators: logins every repository has as collaborators (review requests go to them only), besides
            its owner and ``login``; ``set_collaborators`` changes one repository's list.
    """

    def __init__(
        self,
        root: Path,
        *,
        token: str = "ghp_sim",
        api_prefix: str = "/api/v3",
        login: str = "gitrollback-bot",
        clock: SimClock | None = None,
        mergeability_delay: float = 0.0,
        collaborators: Sequence[str] = ("reviewer",),
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.token = token
        self.api_prefix = "/" + api_prefix.strip("/") if api_prefix.strip("/") else ""
        self.login = login
        #: a classic token's scopes, sent as ``X-OAuth-Scopes`` on every API reply; None sends no header (a
        #: fine-grained or app token)
        self.oauth_scopes: tuple[str, ...] | None = None
        self.clock: SimClock = clock if clock is not None else WallClock()
        self.state = GitHubState(self._now, mergeability_delay=mergeability_delay)
        self.default_collaborators = tuple(collaborators)
        self.rate_limit = Window(self._now, limit=_PRIMARY_LIMIT, period=_PRIMARY_PERIOD)
        self._git = GitHttpBackend(self.root, token=token)
        self._routes: list[tuple[str, re.Pattern[str], Callable[[Request, Links, re.Match[str]], Response]]] = [
            ("GET", re.compile(r"/user"), self._get_user),
            ("GET", re.compile(_REPO), self._get_repo),
            ("GET", re.compile(_REPO + r"/pulls"), self._list_pulls),
            ("POST", re.compile(_REPO + r"/pulls"), self._create_pull),
            ("GET", re.compile(_REPO + r"/pulls/(?P<n>\d+)"), self._get_pull),
            ("PATCH", re.compile(_REPO + r"/pulls/(?P<n>\d+)"), self._edit_pull),
            ("GET", re.compile(_REPO + r"/pulls/(?P<n>\d+)/merge"), self._is_merged),
            ("PUT", re.compile(_REPO + r"/pulls/(?P<n>\d+)/merge"), self._merge),
            ("GET", re.compile(_REPO + r"/pulls/(?P<n>\d+)/requested_reviewers"), self._get_reviewers),
            ("POST", re.compile(_REPO + r"/pulls/(?P<n>\d+)/requested_reviewers"), self._request_reviewers),
            ("GET", re.compile(_REPO + r"/issues/(?P<n>\d+)/comments"), self._list_comments),
            ("POST", re.compile(_REPO + r"/issues/(?P<n>\d+)/comments"), self._create_comment),
            ("GET", re.compile(_REPO + r"/issues/(?P<n>\d+)/labels"), self._list_labels),
            ("POST", re.compile(_REPO + r"/issues/(?P<n>\d+)/labels"), self._add_labels),
            ("GET", re.compile(_REPO + r"/branches"), self._list_branches),
            ("GET", re.compile(_REPO + r"/branches/(?P<branch>.+)"), self._get_branch),
        ]

    def _now(self) -> datetime:
        return self.clock.now()

    # -- seeding and fault switches -------------------------------------------------------------------

    def create_repo(self, owner: str, name: str, *, default_branch: str = "main") -> Path:
        """Create an empty bare repository ``root/<owner>/<name>.git`` and serve it; returns its path."""
        path = self.root / owner / f"{name}.git"
        repo = self.state.add(owner, name, Plumbing.init_bare(path, default_branch), default_branch)
        repo.collaborators = {self.login, *self.default_collaborators}
        return path

    def add_repo(self, owner: str, name: str, bare_path: Path, *, default_branch: str = "main") -> Path:
        """Serve an existing bare repository (linked as ``root/<owner>/<name>.git`` when it lives elsewhere)."""
        link = self.root / owner / f"{name}.git"
        bare = Path(bare_path).resolve()
        if link.resolve() != bare:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(bare, target_is_directory=True)
        repo = self.state.add(owner, name, Plumbing(bare), default_branch)
        repo.collaborators = {self.login, *self.default_collaborators}
        return link

    def protect_branch(
        self,
        owner: str,
        name: str,
        branch: str,
        *,
        required_checks: Sequence[str] = ("ci",),
        required_approvals: int = 0,
    ) -> None:
        """Protect ``branch``: merges need every context in ``required_checks`` green and enough approvals."""
        with self.state.lock:
            self.state.repo(owner, name).protections[branch] = Protection(tuple(required_checks), required_approvals)

    def unprotect_branch(self, owner: str, name: str, branch: str) -> None:
        """Remove branch protection."""
        with self.state.lock:
            self.state.repo(owner, name).protections.pop(branch, None)

    def set_check(self, owner: str, name: str, context: str, state: str) -> None:
        """Report a commit status for ``context`` (``success``, ``failure``, ``error`` or ``pending``)."""
        with self.state.lock:
            self.state.repo(owner, name).check_states[context] = state

    def set_checks_failing(
        self, owner: str, name: str, failing: bool = True, *, contexts: Sequence[str] = ("ci",)
    ) -> None:
        """Report ``contexts`` as failing (or, with ``failing=False``, as passing)."""
        for context in contexts:
            self.set_check(owner, name, context, "failure" if failing else "success")

    def set_role(self, owner: str, name: str, role: str) -> None:
        """The token's user's role on the repository (``read``, ``triage``, ``write``, ``maintain``, ``admin``): the
        repository's ``permissions`` say so, and without ``push`` git pushes are refused (403)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        with self.state.lock:
            self.state.repo(owner, name).role = role

    def set_collaborators(self, owner: str, name: str, logins: Sequence[str]) -> None:
        """Make ``logins`` (plus the owner and the token's user) the repository's collaborators."""
        with self.state.lock:
            self.state.repo(owner, name).collaborators = {self.login, *logins}

    @property
    def mergeability_delay(self) -> float:
        """Seconds a new or moved pull request's ``mergeable`` stays null."""
        return self.state.mergeability_delay

    @mergeability_delay.setter
    def mergeability_delay(self, seconds: float) -> None:
        self.state.mergeability_delay = seconds

    def exhaust_rate_limit(self, seconds: float, *, status: int = 403) -> None:
        """Spend the primary rate limit: API calls get ``status`` with ``X-RateLimit-Remaining: 0`` for ``seconds``,
        then a new window starts (``X-RateLimit-Reset`` says when)."""
        self.rate_limit.exhaust(seconds, status=status)

    def secondary_rate_limit(self, seconds: float, *, status: int = 403) -> None:
        """Trip a secondary rate limit: API calls get ``status`` with ``Retry-After`` for ``seconds``."""
        self.rate_limit.refuse(seconds, status=status)

    def approve(self, owner: str, name: str, number: int, login: str = "reviewer") -> None:
        """Record an approving review by ``login``."""
        with self.state.lock:
            repo = self.state.repo(owner, name)
            self.state.pull(repo, number).approvals.add(login)

    def merge_pull(self, owner: str, name: str, number: int, *, login: str = "reviewer") -> str:
        """Merge as a person would in the web UI (same rules as the API); returns the merge commit."""
        repo = self.state.repo(owner, name)
        return str(self.state.merge_pull(repo, number, login, {})["sha"])

    def close_pull(self, owner: str, name: str, number: int) -> None:
        """Close without merging."""
        self.state.edit_pull(self.state.repo(owner, name), number, {"state": "closed"})

    # -- accessors for assertions ---------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """Base URL for PyGithub, e.g. ``http://127.0.0.1:P/api/v3``."""
        return self.url + self.api_prefix

    def clone_url(self, owner: str, name: str, *, with_token: bool = True) -> str:
        """``http://x-access-token:<token>@127.0.0.1:P/<owner>/<name>.git`` (or without credentials)."""
        auth = f"x-access-token:{self.token}@" if with_token else ""
        return f"http://{auth}127.0.0.1:{self.port}/{owner}/{name}.git"

    def repo_path(self, owner: str, name: str) -> Path:
        """The bare repository on disk."""
        return self.state.repo(owner, name).path

    def branch_sha(self, owner: str, name: str, branch: str) -> str | None:
        """A branch tip in the bare repository, or None."""
        return self.state.repo(owner, name).git.branch_sha(branch)

    def pulls(self, owner: str, name: str) -> list[SimPull]:
        """Copies of every pull request, oldest first."""
        with self.state.lock:
            repo = self.state.repo(owner, name)
            out = []
            for number in sorted(repo.pulls):
                pull = self.state.pull(repo, number)
                out.append(
                    dataclasses.replace(
                        pull,
                        labels=list(pull.labels),
                        approvals=set(pull.approvals),
                        requested_reviewers=list(pull.requested_reviewers),
                    )
                )
            return out

    def mergeable(self, owner: str, name: str, number: int) -> bool | None:
        """What ``GET /pulls/{n}`` reports as ``mergeable`` now (None while the background job runs)."""
        with self.state.lock:
            repo = self.state.repo(owner, name)
            return self.state.mergeable(repo, self.state.pull(repo, number))

    def pull(self, owner: str, name: str, number: int) -> SimPull:
        """A copy of one pull request."""
        for pull in self.pulls(owner, name):
            if pull.number == number:
                return pull
        raise KeyError(number)

    def comments(self, owner: str, name: str, number: int) -> list[str]:
        """Comment bodies on one pull request, oldest first."""
        return [c.body for c in self.state.comments(self.state.repo(owner, name), number)]

    # -- HTTP ------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Git smart HTTP first, then the REST API."""
        refused = self._push_refused(request)
        if refused is not None:
            return refused
        answer = self._git.handle(request) or self._api(request)
        if self.oauth_scopes is not None and not request.path.endswith((".git/info/refs", "-pack")):
            answer.headers["X-OAuth-Scopes"] = ", ".join(self.oauth_scopes)
        return answer

    def _push_refused(self, request: Request) -> Response | None:
        """GitHub's answer to a push by a user whose role lacks ``push``: 403 over smart HTTP."""
        match = re.match(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+)\.git/(?P<service>.+)$", request.path)
        pushing = match is not None and (
            match["service"] == "git-receive-pack" or request.query_value("service") == "git-receive-pack"
        )
        if match is None or not pushing or not self._git.handle_authorized(request):
            return None
        with self.state.lock:
            try:
                repo = self.state.repo(match["owner"], match["name"])
            except ApiError:
                return None
            if role_permissions(repo.role)["push"]:
                return None
        return Response.text(403, f"Permission to {repo.full_name}.git denied to {self.login}.")

    def _api(self, request: Request) -> Response:
        path, prefix = request.path, ""
        if self.api_prefix and (path == self.api_prefix or path.startswith(self.api_prefix + "/")):
            path, prefix = path[len(self.api_prefix) :] or "/", self.api_prefix
        links = Links(api=f"http://{request.host}{prefix}", web=f"http://{request.host}")
        if not self._authenticated(request):
            message = "Bad credentials" if request.header("Authorization") else "Requires authentication"
            return Response.json(401, ApiError(401, message).payload)
        refused = self.rate_limit.count()
        if refused is not None:
            return self._rate_limited(refused)
        path = path.rstrip("/") or "/"
        try:
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if match and method == request.method:
                    response = handler(request, links, match)
                    break
            else:
                raise ApiError(404, "Not Found")
        except ApiError as exc:
            response = Response.json(exc.status, exc.payload)
        response.headers.update(self._rate_headers())
        return response

    def _rate_headers(self) -> dict[str, str]:
        window = self.rate_limit
        return {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(window.remaining),
            "X-RateLimit-Used": str(window.limit - window.remaining),
            "X-RateLimit-Reset": str(window.reset),
            "X-RateLimit-Resource": "core",
        }

    def _rate_limited(self, refused: Refusal) -> Response:
        """GitHub's refusal for a spent primary limit or a tripped secondary one."""
        headers = self._rate_headers()
        if refused.primary:
            message = f"API rate limit exceeded for user ID {sum(ord(c) for c in self.login) + 100}."
            docs = f"{_RATE_DOCS}#about-primary-rate-limits"
        else:
            headers["Retry-After"] = str(refused.retry_after(self.clock.now().timestamp()))
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you "
                "reach out to GitHub Support for help, please include the request ID "
                "0000:0000:0000000:0000000:00000000."
            )
            docs = f"{_RATE_DOCS}#about-secondary-rate-limits"
        return Response.json(
            refused.status, {"message": message, "documentation_url": docs, "status": str(refused.status)}, headers
        )

    def _authenticated(self, request: Request) -> bool:
        scheme, _, value = request.header("Authorization").partition(" ")
        return scheme.lower() in ("token", "bearer") and value.strip() == self.token

    @staticmethod
    def _body(request: Request) -> Any:
        if not request.body:
            return {}
        try:
            return request.json()
        except ValueError as exc:
            raise ApiError(400, "Problems parsing JSON") from exc

    def _repo(self, match: re.Match[str]) -> SimRepo:
        return self.state.repo(unquote(match["owner"]), unquote(match["name"]))

    def _pull(self, match: re.Match[str]) -> tuple[SimRepo, SimPull]:
        repo = self._repo(match)
        return repo, self.state.pull(repo, int(match["n"]))

    def _paginate(self, request: Request, links: Links, items: list[Any]) -> Response:
        """One page of ``items`` with GitHub's ``Link`` header (absolute URLs on the client's host)."""
        try:
            per_page = min(max(int(request.query_value("per_page") or _DEFAULT_PER_PAGE), 1), _MAX_PER_PAGE)
            page = max(int(request.query_value("page") or 1), 1)
        except ValueError as exc:
            raise ApiError(400, "Invalid page or per_page parameter") from exc
        last = max((len(items) + per_page - 1) // per_page, 1)
        route = request.path
        params = [(k, v) for k, values in request.query.items() if k != "page" for v in values]

        def url(n: int) -> str:
            return f"http://{request.host}{route}?{urlencode([*params, ('page', str(n))])}"

        rels = []
        if page < last:
            rels += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            rels += [f'<{url(1)}>; rel="first"', f'<{url(min(page - 1, last))}>; rel="prev"']
        headers = {"Link": ", ".join(rels)} if rels else {}
        return Response.json(200, items[(page - 1) * per_page : page * per_page], headers)

    # -- routes -----------------------------------------------------------------------------------------

    def _get_user(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        return Response.json(200, user_json(links, self.login))

    def _get_repo(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        return Response.json(200, repo_json(links, self._repo(match)))

    def _list_pulls(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        pulls = self.state.list_pulls(
            repo,
            state=request.query_value("state") or "open",
            head=request.query_value("head"),
            base=request.query_value("base"),
        )
        if request.query_value("direction") == "asc":  # default: newest first (sort=created, direction=desc)
            pulls = list(reversed(pulls))
        return self._paginate(request, links, [pull_json(links, repo, p, full=False) for p in pulls])

    def _create_pull(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        pull = self.state.create_pull(repo, self.login, self._body(request))
        return Response.json(201, pull_json(links, repo, pull), {"Location": f"{links.repo(repo)}/pulls/{pull.number}"})

    def _get_pull(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo, pull = self._pull(match)
        mergeable: bool | None = None
        state = "unknown"
        if pull.state == "open":
            mergeable = self.state.mergeable(repo, pull)
        if mergeable is not None:
            state = "clean" if mergeable else "dirty"
            if mergeable and pull.base_ref in repo.protections:
                try:
                    self.state.check_protection(repo, pull)
                except ApiError:
                    state = "blocked"
            if state == "clean" and any(s != "success" for s in repo.check_states.values()):
                # GitHub's "unstable": mergeable, but a commit status that is not required is failing or pending
                state = "unstable"
        return Response.json(200, pull_json(links, repo, pull, mergeable=mergeable, state=state))

    def _edit_pull(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        pull = self.state.edit_pull(repo, int(match["n"]), self._body(request))
        return Response.json(200, pull_json(links, repo, pull))

    def _is_merged(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        _, pull = self._pull(match)
        if pull.merged:
            return Response.empty(204)
        raise ApiError(404, "Not Found")

    def _merge(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        body = self._body(request)
        return Response.json(200, self.state.merge_pull(repo, int(match["n"]), self.login, body))

    def _get_reviewers(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        _, pull = self._pull(match)
        return Response.json(200, {"users": [user_json(links, u) for u in pull.requested_reviewers], "teams": []})

    def _request_reviewers(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        body = self._body(request)
        reviewers = body.get("reviewers", []) if isinstance(body, dict) else []
        pull = self.state.request_reviewers(repo, int(match["n"]), list(reviewers or []))
        return Response.json(201, pull_json(links, repo, pull))

    def _list_comments(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        comments = self.state.comments(repo, int(match["n"]))
        return self._paginate(request, links, [comment_json(links, repo, c) for c in comments])

    def _create_comment(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        body = self._body(request)
        comment = self.state.add_comment(
            repo, int(match["n"]), self.login, body.get("body") if isinstance(body, dict) else None
        )
        return Response.json(201, comment_json(links, repo, comment))

    def _list_labels(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo, pull = self._pull(match)
        return self._paginate(request, links, [label_json(links, repo, name) for name in pull.labels])

    def _add_labels(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        body = self._body(request)
        # GitHub takes a bare array (what PyGithub sends) or {"labels": [...]}.
        labels = body.get("labels", []) if isinstance(body, dict) else body
        if not isinstance(labels, list):
            raise ApiError(422, "Invalid request.\n\nFor 'links/0/schema', nil is not an array.")
        names = self.state.add_labels(repo, int(match["n"]), labels)
        return Response.json(200, [label_json(links, repo, name) for name in names])

    def _list_branches(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        out = []
        for name in repo.git.branches():
            sha = repo.git.branch_sha(name) or ""
            out.append(
                {
                    "name": name,
                    "commit": {"sha": sha, "url": f"{links.repo(repo)}/commits/{sha}"},
                    "protected": name in repo.protections,
                }
            )
        return self._paginate(request, links, out)

    def _get_branch(self, request: Request, links: Links, match: re.Match[str]) -> Response:
        repo = self._repo(match)
        branch = unquote(match["branch"])
        sha = repo.git.branch_sha(branch)
        if sha is None:
            raise ApiError(
                404, "Branch not found", documentation_url="https://docs.github.com/rest/branches/branches#get-a-branch"
            )
        return Response.json(200, branch_json(links, repo, branch, sha))
