"""GitHub pull requests over PyGithub: the ``gitrollback.ports.SourceHost`` adapter (kind ``github``).

``GitHubHost`` opens the rollback pull request from the rollback branch into the tracked branch, finds the
open one a previous run opened (so a rerun never opens a second one; it refreshes the title and body and says
so), adds labels and review requests, comments, reads state, merges when ``auto_merge`` allows it, and
waits for a person to merge. This is the only module that imports PyGithub (``github``), and the boundary
where its exceptions (and the ``requests`` ones underneath) become ``gitrollback.errors``: ``_VENDOR_ERRORS``
is checked most specific first, every error is chained with ``from`` and carries a ``hint``, and the token
is never put in a message or a log line. What GitHub's replies mean lives in ``_github_wire``.

Remote behaviour assumed (GitHub's REST API docs, docs.github.com/rest, and PyGithub's ``Requester``):

- PyGithub is built with ``retry=None`` and no request throttling (its defaults retry a 502 eleven times, then
  raise ``requests.exceptions.RetryError``, and sleep 0.25-1 s between calls, all on ``time.sleep``), and
  ``lazy=True`` so ``get_repo``/``get_pull``/``get_issue`` cost no request until a field is read. Every wait
  is on the injected clock instead: rate limits (403 ``API rate limit exceeded``/secondary limit, or 429) are
  waited out for as long as GitHub asks when that ends within the call's budget (``merge_timeout`` for
  ``merge``, the wait's timeout for ``wait_merged``, ``rate_limit_wait`` for the rest), else raised as
  ``TemporaryError``. A rate-limited request was not carried out, so repeating it is safe.
- ``merge`` waits for GitHub's background mergeability job: it reads the pull request until ``mergeable`` is
  not null, and treats a 405 ``Pull Request is not mergeable`` or ``Base branch was modified`` as "look again"
  until the deadline. Only ``mergeable: false`` is a conflict. The merge carries the head ``sha`` it just read,
  so a branch that moved (409) is never merged blind.
- A duplicate ``POST /pulls`` is a 422 whose ``errors[].message`` says ``A pull request already exists for
  owner:branch.``; that race with a concurrent run is resolved by finding the open pull request again. The
  ``head`` filter is ``owner:branch`` (forks are not supported: the rollback branch lives in the same
  repository). List replies lack ``merged``, so state is derived from ``merged_at``.
- Review requests go to collaborators only (422 ``Reviews may only be requested from collaborators``, which
  does not say who). Reviewers are best effort: on that 422 each one is requested alone, the ones GitHub
  refuses are named in a warning and in ``ChangeRequest.reviewers_refused``, and the pull request goes on.
- PyGithub asserts that URLs in replies start with ``base_url``; GitHub Enterprise base URLs
  (``https://ghe.example/api/v3``) work as given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import github
import requests
from github import Auth, Github, GithubException
from github.GithubObject import NotSet
from github.PullRequest import PullRequest
from github.Repository import Repository

from gitrollback.adapters import _github_wire as wire
from gitrollback.adapters._requests_deadline import DeadlineAdapter
from gitrollback.clock import SystemClock
from gitrollback.errors import (
    AdapterError,
    AuthenticationError,
    ConfigError,
    GitRollbackError,
    NotFoundError,
    PermissionDeniedError,
    RemoteHTTPError,
    StepError,
    TemporaryError,
    TransportError,
    UnexpectedResponseError,
    UnprocessableError,
    WaitTimeoutError,
    http_error_class,
)
from gitrollback.models import AccessNeeds, AccessProblem, ChangeRequest
from gitrollback.ports import Clock

__all__ = ["GitHubHost"]

logger = logging.getLogger(__name__)

_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_T = TypeVar("_T")
#: merges GitHub may refuse as "not mergeable" while it reports the pull request mergeable, before that is final
_TRANSIENT_REFUSALS = 5
_RATE_LIMIT_HINT = "wait for the rate limit to reset (the message says when), or use a token with a higher limit"

# vendor exception -> (gitrollback class, what happened, hint), most specific first. ``RemoteHTTPError``
# means "pick the class from the HTTP status"; ``TemporaryError`` rows get a delay from the rate-limit headers.
# fmt: off
_VENDOR_ERRORS: tuple[tuple[type[BaseException], type[GitRollbackError], str, str], ...] = (
    (github.BadCredentialsException, AuthenticationError, "bad credentials", wire.TOKEN_HINT),
    (github.TwoFactorException, AuthenticationError, "two-factor authentication required",
     "use a personal access token or an app installation token, not a password"),
    (github.RateLimitExceededException, TemporaryError, "rate limit exceeded", _RATE_LIMIT_HINT),
    (github.BadUserAgentException, PermissionDeniedError, "user agent refused",
     "something in front of GitHub rejects the client; check proxies"),
    (github.UnknownObjectException, NotFoundError, "not found",
     "check the repository (owner/name) and the number, and that the token can see the repository "
     "(GitHub answers 404 for private repositories a token may not read)"),
    (GithubException, RemoteHTTPError, "request refused", ""),
    (requests.exceptions.SSLError, TransportError, "TLS failure",
     "check the server certificate of the GitHub base_url (GitHub Enterprise: its CA)"),
    (requests.exceptions.Timeout, TransportError, "timed out",
     "GitHub did not answer in time; retry later, or raise gitops.request_timeout_seconds"),
    (requests.exceptions.ConnectionError, TransportError, "could not connect",
     "check base_url (GitHub Enterprise: https://<host>/api/v3) and the network path to it"),
    (requests.exceptions.RetryError, TransportError, "gave up after retries", "GitHub keeps failing; retry later"),
    (requests.exceptions.RequestException, TransportError, "request failed", "check base_url and the network"),
    (github.BadAttributeException, UnexpectedResponseError, "unexpected field type in the reply",
     "base_url must point at the GitHub REST API (GitHub Enterprise: https://<host>/api/v3)"),
    # PyGithub asserts that URLs in replies point back at base_url's host, port and path prefix.
    (AssertionError, UnexpectedResponseError, "reply points at another host or API prefix",
     "base_url must be the API root the server itself advertises (GitHub Enterprise: https://<host>/api/v3)"),
)
# fmt: on


def _bound_requests(gh: Github, deadline: float) -> None:
    """Give every request PyGithub sends a whole-exchange deadline (``_requests_deadline.DeadlineAdapter``).

    PyGithub takes no session: its ``Requester`` builds one per connection from the connection class it keeps in a
    private attribute. A subclass that mounts the adapter on that session is put in its place, on this client only.
    Should PyGithub rename the attribute, this fails loudly here instead of leaving requests unbounded.
    """
    requester = gh.requester
    attribute = "_Requester__connectionClass"
    base = getattr(requester, attribute, None)
    if base is None:  # pragma: no cover - guards a PyGithub change
        raise RuntimeError("PyGithub's Requester has no connection class to bound; gitrollback needs updating")

    class _BoundedConnection(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.session.mount(f"{self.protocol}://", DeadlineAdapter(deadline))

    setattr(requester, attribute, _BoundedConnection)


def _remote(exc: GithubException) -> str:
    return wire.remote_message(exc.data, exc.message, exc.status)


class GitHubHost:
    """Pull requests on one GitHub (or GitHub Enterprise) repository.

    The constructor does no I/O; PyGithub is built on first use with ``retry=None``, no throttling and
    ``lazy=True``.

    Args:
        repo: ``owner/name``.
        token: a personal access, fine-grained or app installation token (never logged).
        base_url: the REST API root: ``https://api.github.com`` or ``https://<ghe-host>/api/v3``.
        clock: for every wait (polls, mergeability, rate limits); ``SystemClock`` by default.
        poll_interval: seconds between polls in ``wait_merged`` and while ``merge`` waits for mergeability.
        github: a ready ``github.Github`` to use instead (tests; it is not closed by ``close()``).
        timeout: seconds one HTTP request may take, connect to last byte (a server that answers a byte at a time
            cannot stretch it: ``_requests_deadline``).
        on_wait: called as ``on_wait(what, elapsed_seconds, state)`` on every poll of ``wait_merged`` and
            ``merge``, and before waiting out a rate limit.
        merge_timeout: seconds ``merge`` may spend waiting for GitHub's mergeability job, transient refusals and
            rate limits (the config's ``merge_timeout_seconds``).
        rate_limit_wait: the longest any other call waits for a rate limit to lift before it raises
            ``TemporaryError``.

    Usage::

        with GitHubHost("acme/gitops", token=token) as host:
            cr = host.open_change_request(source_branch="rollback/abc", target_branch="main",
                                          title="Roll back", body="...", labels=["rollback"])
            merged = host.wait_merged(cr.number, timeout=3600)
            print(merged.merge_commit)
    """

    kind = "github"

    def __init__(
        self,
        repo: str,
        *,
        token: str,
        base_url: str = "https://api.github.com",
        clock: Clock | None = None,
        poll_interval: float = 5.0,
        github: Any = None,
        timeout: float = 30.0,
        on_wait: Callable[[str, float, str], None] | None = None,
        merge_timeout: float = 600.0,
        rate_limit_wait: float = 120.0,
    ) -> None:
        if not _REPO_NAME.fullmatch(repo or ""):
            raise ConfigError(f"not a GitHub repository name: {repo!r}", key="project", hint="use owner/name")
        if not token and github is None:
            raise ConfigError("no GitHub token", key="token", hint="set GITHUB_TOKEN or the configured variable")
        self.repo = repo
        self.owner = repo.split("/", 1)[0]
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._clock: Clock = clock or SystemClock()
        self._poll_interval = poll_interval
        self._timeout = max(int(timeout), 1)  # PyGithub's per-read timeout is an int
        self._deadline = timeout
        self._on_wait = on_wait
        self._merge_timeout = merge_timeout
        self._rate_limit_wait = rate_limit_wait
        self._github: Any = github
        self._owns_client = github is None
        self._repository: Repository | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connections of a client this object built."""
        if self._owns_client and self._github is not None:
            self._github.close()
            self._github = None
            self._repository = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _repo(self) -> Repository:
        if self._repository is None:
            if self._github is None:
                self._github = Github(
                    base_url=self.base_url,
                    auth=Auth.Token(self._token),
                    timeout=self._timeout,
                    retry=None,
                    seconds_between_requests=None,
                    seconds_between_writes=None,
                    lazy=True,
                )
                _bound_requests(self._github, self._deadline)
            with self._translate("open repository", self.repo):
                self._repository = self._github.get_repo(self.repo)
        assert self._repository is not None
        return self._repository

    # -- the error boundary -----------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    @contextlib.contextmanager
    def _translate(self, operation: str, subject: str) -> Iterator[None]:
        """Re-raise PyGithub and requests exceptions from the block as gitrollback errors, chained."""
        try:
            yield
        except GitRollbackError:
            raise
        except Exception as exc:
            raise self._convert(exc, operation, subject) from exc

    def _convert(self, exc: Exception, operation: str, subject: str) -> GitRollbackError:
        for vendor, row_class, row_meaning, row_hint in _VENDOR_ERRORS:
            if not isinstance(exc, vendor):
                continue
            ours, meaning, hint = row_class, row_meaning, row_hint
            if isinstance(exc, GithubException):
                remote = self._redact(_remote(exc))
                if exc.status == 429:  # PyGithub leaves a 429 a plain GithubException
                    ours, meaning, hint = TemporaryError, "rate limit exceeded", _RATE_LIMIT_HINT
                if ours is TemporaryError:
                    delay = wire.rate_limit_delay(exc.headers or {}, self._clock.now().timestamp())
                    return TemporaryError(
                        f"GitHub {operation} {subject}: {meaning} ({exc.status}; retry in {delay:.0f}s): {remote}",
                        delay=delay,
                        hint=hint,
                        kind="rate_limited",
                    )
                text = f"GitHub {operation} {subject}: {meaning} ({exc.status}): {remote}"
                cls = http_error_class(exc.status) if ours is RemoteHTTPError else ours
                assert issubclass(cls, RemoteHTTPError)
                status_hint = (
                    hint
                    or wire.STATUS_HINTS.get(exc.status)
                    or ("GitHub failed; retry later" if exc.status >= 500 else "see GitHub's message")
                )
                return cls(
                    text,
                    adapter=wire.ADAPTER,
                    operation=operation,
                    status=exc.status,
                    remote_message=remote,
                    hint=status_hint,
                )
            assert issubclass(ours, AdapterError)
            detail = self._redact(str(exc) or type(exc).__name__)
            return ours(
                f"GitHub {operation} {subject}: {meaning}: {detail}",
                adapter=wire.ADAPTER,
                operation=operation,
                hint=hint,
            )
        return UnexpectedResponseError(
            f"GitHub {operation} {subject}: {type(exc).__name__}: {self._redact(str(exc))}",
            adapter=wire.ADAPTER,
            operation=operation,
            hint="this may be a gitrollback bug; please report it",
        )

    # -- the pre-flight check (docs/safety.md) ----------------------------------------------------------

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """May the token push the rollback branch and open (and merge) the pull request?

        Reads the repository (``GET /repos/{owner}/{repo}``): its ``permissions`` are the token's user's role
        (``push`` is needed to push a branch, and a pull request from a branch of the same repository needs the
        branch); a classic token's ``X-OAuth-Scopes`` reply header must also grant ``repo`` (``public_repo`` for a
        public repository). Branch protection's own merge rules are met at merge time.
        """
        if not (needs.push or needs.change_request):
            return []
        try:
            with self._translate("check access to", self.repo):
                repo = self._repo()
                permissions, private = repo.permissions, repo.private
                scopes = self._github.oauth_scopes
        except AuthenticationError as exc:
            return [AccessProblem("github", f"GitHub refuses the token (401): {exc.remote_message}", wire.TOKEN_HINT)]
        except (NotFoundError, PermissionDeniedError) as exc:
            return [
                AccessProblem(
                    "github",
                    f"repository {self.repo} is not visible to the token ({exc.status})",
                    "check gitops.project and that the token can read the repository",
                )
            ]
        problems: list[AccessProblem] = []
        if permissions is None or not permissions.push:
            problems.append(
                AccessProblem(
                    "github",
                    f"the token's user may not push to {self.repo} (permissions.push is false): it cannot push the "
                    "rollback branch or open the pull request",
                    "give it write access to the repository (the Write, Maintain or Admin role)",
                )
            )
        if scopes is not None and not ("repo" in scopes or (not private and "public_repo" in scopes)):
            problems.append(
                AccessProblem(
                    "github",
                    f"the classic token lacks the repo scope (it has: {', '.join(scopes) or 'none'})",
                    "create a token with the repo scope, or a fine-grained token with contents and pull requests "
                    "write access",
                )
            )
        return problems

    def _call(self, operation: str, subject: str, action: Callable[[], _T], *, deadline: float | None = None) -> _T:
        """Run ``action`` at the error boundary; wait out rate limits that lift before ``deadline`` (monotonic).

        Without a deadline the budget is ``rate_limit_wait`` from now. Only safe to use for actions that may be
        repeated: a rate-limited request was refused before GitHub did anything.
        """
        start = self._clock.monotonic()
        end = start + self._rate_limit_wait if deadline is None else deadline
        while True:
            try:
                with self._translate(operation, subject):
                    return action()
            except TemporaryError as exc:
                now = self._clock.monotonic()
                if now + exc.delay > end:
                    raise
                logger.warning("GitHub %s %s: rate limited; waiting %.0fs as asked", operation, subject, exc.delay)
                if self._on_wait is not None:
                    self._on_wait(f"GitHub rate limit ({operation} {subject})", now - start, "rate limited")
                self._clock.sleep(exc.delay)

    # -- reading ----------------------------------------------------------------------------------------

    def _model(
        self,
        pr: PullRequest,
        *,
        created: bool = False,
        body_updated: bool = False,
        reviewers_refused: tuple[str, ...] = (),
    ) -> ChangeRequest:
        merged = pr.merged_at is not None
        state: Literal["open", "closed", "merged"] = (
            "merged" if merged else ("open" if pr.state == "open" else "closed")
        )
        return ChangeRequest(
            host=self.kind,
            number=pr.number,
            url=pr.html_url,
            state=state,
            source_branch=pr.head.ref,
            target_branch=pr.base.ref,
            title=pr.title or "",
            head_sha=pr.head.sha or "",
            merge_commit=pr.merge_commit_sha if merged else None,
            created=created,
            body_updated=body_updated,
            reviewers_refused=reviewers_refused,
        )

    def _read(self, number: int) -> ChangeRequest:
        return self._model(self._repo().get_pull(number))

    def _read_mergeability(self, number: int) -> tuple[PullRequest, ChangeRequest, bool | None, str]:
        """One ``GET /pulls/{n}``: the pull request, its model, ``mergeable`` and ``mergeable_state``."""
        pr = self._repo().get_pull(number)
        mergeable: bool | None = pr.mergeable
        return pr, self._model(pr), mergeable, pr.mergeable_state or ""

    def _find(self, source_branch: str, target_branch: str, *, state: str = "open") -> PullRequest | None:
        pulls = self._repo().get_pulls(state=state, head=f"{self.owner}:{source_branch}", base=target_branch)
        for pr in pulls:
            if state == "open" or pr.merged_at is not None:
                return pr
        return None

    def find_change_request(self, *, source_branch: str, target_branch: str) -> ChangeRequest | None:
        """The open pull request from ``source_branch`` into ``target_branch``, if any."""

        def find() -> ChangeRequest | None:
            pr = self._find(source_branch, target_branch)
            return self._model(pr, created=False) if pr is not None else None

        return self._call("find pull request", f"{self.repo} {source_branch} -> {target_branch}", find)

    def get_change_request(self, number: int) -> ChangeRequest:
        """Current state of pull request ``number``."""
        return self._call("get pull request", f"{self.repo}#{number}", lambda: self._read(number))

    # -- writing ----------------------------------------------------------------------------------------

    def open_change_request(
        self,
        *,
        source_branch: str,
        target_branch: str,
        title: str,
        body: str,
        labels: Sequence[str] = (),
        reviewers: Sequence[str] = (),
    ) -> ChangeRequest:
        """Open the pull request, or return the open one for the same branches with title and body refreshed.

        ``created`` tells which happened; ``body_updated`` is True when an existing pull request's title or
        body differed and was rewritten. Missing labels are added and missing review requests made (a
        reviewer who already reviewed is requested again); reviewers GitHub refuses (not collaborators) are
        logged as a warning and listed in ``reviewers_refused``, and do not fail the call. When the branch is
        already fully merged (GitHub: "No commits between"), the newest merged pull request for it is
        returned instead.
        """
        subject = f"{self.repo} {source_branch} -> {target_branch}"

        def open_it() -> ChangeRequest:
            return self._open(source_branch, target_branch, title=title, body=body, labels=labels, reviewers=reviewers)

        return self._call("open pull request", subject, open_it)

    def _open(
        self,
        source_branch: str,
        target_branch: str,
        *,
        title: str,
        body: str,
        labels: Sequence[str],
        reviewers: Sequence[str],
    ) -> ChangeRequest:
        pr = self._find(source_branch, target_branch)
        created = False
        if pr is None:
            try:
                pr = self._repo().create_pull(title=title, body=body, head=source_branch, base=target_branch)
                created = True
                logger.info("opened pull request %s#%d from %s", self.repo, pr.number, source_branch)
            except GithubException as exc:
                pr = self._after_create_refusal(exc, source_branch, target_branch)
                if pr.merged_at is not None:
                    return self._model(pr)
        body_updated = False
        if not created:
            if (pr.title or "") != title or (pr.body or "") != body:
                pr.edit(title=title, body=body)
                body_updated = True
            logger.info("found open pull request %s#%d (updated: %s)", self.repo, pr.number, body_updated)
        have = {label.name for label in pr.labels}
        missing_labels = [label for label in dict.fromkeys(labels) if label not in have]
        if missing_labels:
            pr.add_to_labels(*missing_labels)
        requested = {user.login.lower() for user in pr.requested_reviewers}
        missing_reviewers = [r for r in dict.fromkeys(reviewers) if r.lower() not in requested]
        refused = self._request_reviews(pr, missing_reviewers) if missing_reviewers else ()
        return self._model(pr, created=created, body_updated=body_updated, reviewers_refused=refused)

    def _request_reviews(self, pr: PullRequest, reviewers: list[str]) -> tuple[str, ...]:
        """Request ``reviewers``; on GitHub's 422 ask for each alone, and return the ones it refuses."""
        try:
            pr.create_review_request(reviewers=reviewers)
            return ()
        except GithubException as exc:
            if exc.status != 422:
                raise
            if len(reviewers) == 1:
                self._warn_refused(pr.number, reviewers[0], exc)
                return (reviewers[0],)
        refused = []
        for login in reviewers:
            try:
                pr.create_review_request(reviewers=[login])
            except GithubException as exc:
                if exc.status != 422:
                    raise
                self._warn_refused(pr.number, login, exc)
                refused.append(login)
        return tuple(refused)

    def _warn_refused(self, number: int, login: str, exc: GithubException) -> None:
        logger.warning("%s", wire.not_a_collaborator(self.repo, number, login, self._redact(_remote(exc))))

    def _after_create_refusal(self, exc: GithubException, source_branch: str, target_branch: str) -> PullRequest:
        """Resolve a 422 on create: a concurrent run's pull request, or an already merged branch."""
        remote = _remote(exc)
        if exc.status == 422 and "already exists" in remote:
            found = self._find(source_branch, target_branch)
            if found is not None:
                return found
        if exc.status == 422 and "No commits between" in remote:
            merged = self._find(source_branch, target_branch, state="closed")
            if merged is not None:
                return merged
            raise UnprocessableError(
                f"GitHub open pull request {self.repo} {source_branch} -> {target_branch}: {remote}",
                adapter=wire.ADAPTER,
                operation="open pull request",
                status=exc.status,
                remote_message=remote,
                hint=f"{source_branch} has no commits that {target_branch} lacks; push the rollback commit first",
            ) from exc
        raise exc

    def comment(self, number: int, body: str) -> None:
        """Add a comment to pull request ``number``."""
        self._call("comment on", f"{self.repo}#{number}", lambda: self._repo().get_issue(number).create_comment(body))

    def merge(self, number: int, *, message: str | None = None) -> ChangeRequest:
        """Merge pull request ``number`` with a merge commit, once GitHub has computed that it is mergeable.

        Reads the pull request every ``poll_interval`` seconds while ``mergeable`` is null, then merges with the
        head sha just read. A 405 that only means "not computed yet" or "the base just moved" is followed by
        another look (up to five merge attempts); everything within ``merge_timeout``. An already merged pull
        request is returned as is.

        Raises:
            ConflictError: GitHub computed ``mergeable: false`` (kind ``conflict``), the pull request is closed
                (``closed``), or the head moved since it was read (``head_moved``).
            PermissionDeniedError: branch protection, required status checks or reviews, a disabled merge
                method, or a missing permission (kinds ``branch_protection``, ``merge_method``).
            WaitTimeoutError: GitHub did not compute mergeability within ``merge_timeout``
                (``mergeability_unknown``).
            TemporaryError: a rate limit that does not lift within ``merge_timeout``.
        """
        subject = f"{self.repo}#{number}"
        start = self._clock.monotonic()
        deadline = start + self._merge_timeout
        what = f"{subject} to be mergeable"
        refusals = 0
        while True:
            pr, current, mergeable, state = self._call(
                "merge", subject, lambda: self._read_mergeability(number), deadline=deadline
            )
            if current.state == "merged":
                return current
            if current.state == "closed":
                raise wire.closed(self.repo, current)
            if mergeable is False:
                raise wire.conflicting(self.repo, current, state)
            if mergeable:
                refusals += 1
                merged = self._try_merge(pr, current, message, deadline, last_try=refusals >= _TRANSIENT_REFUSALS)
                if merged is not None:
                    return merged
            elapsed = self._clock.monotonic() - start
            status = "mergeable: null (GitHub is computing it)" if mergeable is None else "merge refused for now"
            if self._on_wait is not None:
                self._on_wait(what, elapsed, status)
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                raise wire.mergeability_timeout(self.repo, current, elapsed)
            logger.info("GitHub %s: %s after %.0fs; looking again", subject, status, elapsed)
            self._clock.sleep(min(self._poll_interval, remaining))

    def _try_merge(
        self, pr: PullRequest, current: ChangeRequest, message: str | None, deadline: float, *, last_try: bool
    ) -> ChangeRequest | None:
        """``PUT .../merge`` guarded by the head sha; None when GitHub's refusal is worth another look (not on the
        ``last_try``, nor after the deadline)."""
        subject = f"{self.repo}#{current.number}"

        def put() -> Any:
            return pr.merge(commit_message=message or NotSet, merge_method="merge", sha=current.head_sha)

        try:
            status = self._call("merge", subject, put, deadline=deadline)
        except RemoteHTTPError as exc:
            transient = wire.merge_refusal_is_transient(exc.status, exc.remote_message)
            if transient and not last_try and self._clock.monotonic() < deadline:
                return None
            refusal = wire.merge_refusal(exc.status, exc.remote_message, self.repo, current)
            if refusal is None:
                raise
            raise refusal from exc
        if not status.merged or not status.sha:
            raise UnexpectedResponseError(
                f"GitHub merge {subject}: the reply does not report a merge",
                adapter=wire.ADAPTER,
                operation="merge",
                hint="check the pull request on GitHub",
            )
        logger.info("merged pull request %s as %s", subject, status.sha)
        return dataclasses.replace(current, state="merged", merge_commit=status.sha)

    def wait_merged(self, number: int, *, timeout: float) -> ChangeRequest:
        """Poll every ``poll_interval`` seconds until merged; ``StepError`` when closed unmerged.

        Rate limits are waited out within ``timeout``. Raises ``WaitTimeoutError`` (with the last state) when
        ``timeout`` seconds pass first.
        """
        start = self._clock.monotonic()
        deadline = start + timeout
        subject = f"{self.repo}#{number}"
        what = f"{subject} to be merged"
        while True:
            current = self._call("get pull request", subject, lambda: self._read(number), deadline=deadline)
            elapsed = self._clock.monotonic() - start
            if current.state == "merged":
                logger.info("pull request %s#%d merged as %s", self.repo, number, current.merge_commit)
                return current
            if current.state == "closed":
                raise StepError(
                    f"{current.url} was closed without being merged",
                    step="merge",
                    hint="the rollback was rejected on GitHub; reopen and merge it, or rerun gitrollback",
                    kind="closed_unmerged",
                )
            if self._on_wait is not None:
                self._on_wait(what, elapsed, current.state)
            logger.debug("waiting for %s: %s after %.0fs", what, current.state, elapsed)
            remaining = timeout - elapsed
            if remaining <= 0:
                raise WaitTimeoutError(
                    f"{current.url} was not merged within {timeout:.0f}s",
                    waited=elapsed,
                    last_state=current.state,
                    hint="merge it, then rerun gitrollback (it finds the merged pull request); or raise merge_timeout",
                )
            self._clock.sleep(min(self._poll_interval, remaining))
