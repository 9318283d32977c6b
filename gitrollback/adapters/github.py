"""GitHub pull requests over PyGithub: the ``gitrollback.ports.SourceHost`` adapter (kind ``github``).

``GitHubHost`` opens the rollback pull request from the rollback branch into the tracked branch, finds the
open one a previous run opened (so a rerun never opens a second one; it refreshes the title and body and says
so), adds labels and review requests, comments, reads state, merges when ``auto_merge`` allows it, and
waits for a person to merge. This is the only module that imports PyGithub (``github``), and the boundary
where its exceptions (and the ``requests`` ones underneath) become ``gitrollback.errors``: ``_VENDOR_ERRORS``
is checked most specific first, every error is chained with ``from`` and carries a ``hint``, and the token
is never put in a message or a log line.

Remote behaviour assumed (PyGithub's ``github/Requester.py`` and docs.github.com/rest): PyGithub is built with
``retry=None`` and no request throttling (its defaults retry a 502 eleven times, then raise
``requests.exceptions.RetryError``, and sleep 0.25-1 s between calls), and ``lazy=True`` so
``get_repo``/``get_pull``/``get_issue`` cost no request until a field is read. A duplicate ``POST /pulls`` is a 422
whose ``errors[].message`` says ``A pull request already exists for owner:branch.``; that race with a concurrent run is
resolved by finding the open pull request again. The ``head`` filter is ``owner:branch`` (forks are not supported: the
rollback branch lives in the same repository). Merge refusals are GitHub's 405 (not mergeable, or branch protection and
required status checks) and 409 (head moved since it was read; the merge carries the head ``sha`` it saw). List replies
lack ``merged``, so state is derived from ``merged_at``. GitHub Enterprise base URLs (``https://ghe.example/api/v3``)
work as given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import github
import requests
from github import Auth, Github, GithubException
from github.GithubObject import NotSet
from github.PullRequest import PullRequest
from github.Repository import Repository

from gitrollback.adapters import _github_wire as wire
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

# vendor exception -> (gitrollback class, what happened, hint), most specific first. ``RemoteHTTPError``
# means "pick the class from the HTTP status"; ``TemporaryError`` rows get a delay from the rate-limit headers.
# fmt: off
_VENDOR_ERRORS: tuple[tuple[type[BaseException], type[GitRollbackError], str, str], ...] = (
    (github.BadCredentialsException, AuthenticationError, "bad credentials", wire.TOKEN_HINT),
    (github.TwoFactorException, AuthenticationError, "two-factor authentication required",
     "use a personal access token or an app installation token, not a password"),
    (github.RateLimitExceededException, TemporaryError, "rate limit exceeded",
     "wait for the rate limit to reset, or use a token with a higher limit"),
    (github.BadUserAgentException, PermissionDeniedError, "user agent refused",
     "something in front of GitHub rejects the client; check proxies"),
    (github.UnknownObjectException, NotFoundError, "not found",
     "check the repository (owner/name) and the number, and that the token can see the repository "
     "(GitHub answers 404 for private repositories a token may not read)"),
    (GithubException, RemoteHTTPError, "request refused", ""),
    (requests.exceptions.SSLError, TransportError, "TLS failure",
     "check the server certificate of the GitHub base_url (GitHub Enterprise: its CA)"),
    (requests.exceptions.Timeout, TransportError, "timed out", "GitHub did not answer in time; retry later"),
    (requests.exceptions.ConnectionError, TransportError, "could not connect",
     "check base_url (GitHub Enterprise: https://<host>/api/v3) and the network path to it"),
    (requests.exceptions.RetryError, TransportError, "gave up after retries", "GitHub keeps failing; retry later"),
    (requests.exceptions.RequestException, TransportError, "request failed", "check base_url and the network"),
    (github.BadAttributeException, UnexpectedResponseError, "unexpected field type in the reply",
     "base_url must point at the GitHub REST API (GitHub Enterprise: https://<host>/api/v3)"),
    # PyGithub asserts that URLs in replies point back at base_url's host, port and path prefix (Requester.py).
    (AssertionError, UnexpectedResponseError, "reply points at another host or API prefix",
     "base_url must be the API root the server itself advertises (GitHub Enterprise: https://<host>/api/v3)"),
)
# fmt: on


def _remote(exc: GithubException) -> str:
    return wire.remote_message(exc.data, exc.message, exc.status)


class GitHubHost:
    """Pull requests on one GitHub (or GitHub Enterprise) repository.

    The constructor does no I/O; PyGithub is built on first use with ``retry=None``, no throttling and
    ``lazy=True`` (see the module docstring).

    Args:
        repo: ``owner/name``.
        token: a personal access, fine-grained or app installation token (never logged).
        base_url: the REST API root: ``https://api.github.com`` or ``https://<ghe-host>/api/v3``.
        clock: for ``wait_merged`` polling (and rate-limit delays); ``SystemClock`` by default.
        poll_interval: seconds between polls in ``wait_merged``.
        github: a ready ``github.Github`` to use instead (tests; it is not closed by ``close()``).
        timeout: seconds per HTTP request.
        on_wait: called as ``on_wait(what, elapsed_seconds, state)`` on every poll of ``wait_merged``.

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
        self._timeout = max(int(timeout), 1)
        self._on_wait = on_wait
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
        for vendor, ours, meaning, hint in _VENDOR_ERRORS:
            if not isinstance(exc, vendor):
                continue
            if isinstance(exc, GithubException):
                remote = self._redact(_remote(exc))
                text = f"GitHub {operation} {subject}: {meaning} ({exc.status}): {remote}"
                if ours is TemporaryError:
                    return TemporaryError(
                        text, delay=wire.rate_limit_delay(exc.headers or {}, self._clock.now().timestamp()), hint=hint
                    )
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

    # -- reading ----------------------------------------------------------------------------------------

    def _model(self, pr: PullRequest, *, created: bool = False, body_updated: bool = False) -> ChangeRequest:
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
        )

    def _find(self, source_branch: str, target_branch: str, *, state: str = "open") -> PullRequest | None:
        pulls = self._repo().get_pulls(state=state, head=f"{self.owner}:{source_branch}", base=target_branch)
        for pr in pulls:
            if state == "open" or pr.merged_at is not None:
                return pr
        return None

    def find_change_request(self, *, source_branch: str, target_branch: str) -> ChangeRequest | None:
        """The open pull request from ``source_branch`` into ``target_branch``, if any."""
        with self._translate("find pull request", f"{self.repo} {source_branch} -> {target_branch}"):
            pr = self._find(source_branch, target_branch)
            return self._model(pr, created=False) if pr is not None else None

    def get_change_request(self, number: int) -> ChangeRequest:
        """Current state of pull request ``number``."""
        with self._translate("get pull request", f"{self.repo}#{number}"):
            return self._model(self._repo().get_pull(number))

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
        reviewer who already reviewed is requested again). When the branch is already fully merged (GitHub:
        "No commits between"), the newest merged pull request for it is returned instead.
        """
        subject = f"{self.repo} {source_branch} -> {target_branch}"
        with self._translate("open pull request", subject):
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
            if missing_reviewers:
                try:
                    pr.create_review_request(reviewers=missing_reviewers)
                except GithubException as exc:
                    if exc.status != 422:
                        raise
                    remote = self._redact(_remote(exc))
                    raise UnprocessableError(
                        f"GitHub request review on {self.repo}#{pr.number}: {remote}",
                        adapter=wire.ADAPTER,
                        operation="request reviewers",
                        status=exc.status,
                        remote_message=remote,
                        hint="reviewers must be collaborators with access to the repository and cannot be the "
                        "token's own user; fix the configured reviewers and rerun",
                    ) from exc
            return self._model(pr, created=created, body_updated=body_updated)

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
        with self._translate("comment on", f"{self.repo}#{number}"):
            self._repo().get_issue(number).create_comment(body)

    def merge(self, number: int, *, message: str | None = None) -> ChangeRequest:
        """Merge pull request ``number`` with a merge commit, guarded by the head sha just read.

        An already merged pull request is returned as is. GitHub's refusals become ``ConflictError``
        (conflicts, closed, head or base moved) or ``PermissionDeniedError`` (branch protection, required
        status checks or reviews, disabled merge method, missing permission), with GitHub's message.
        """
        subject = f"{self.repo}#{number}"
        with self._translate("merge", subject):
            pr = self._repo().get_pull(number)
            current = self._model(pr)
            if current.state == "merged":
                return current
            try:
                status = pr.merge(commit_message=message or NotSet, merge_method="merge", sha=current.head_sha)
            except GithubException as exc:
                refusal = wire.merge_refusal(exc.status, self._redact(_remote(exc)), self.repo, current)
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

        Raises ``WaitTimeoutError`` (with the last state) when ``timeout`` seconds pass first.
        """
        start = self._clock.monotonic()
        what = f"{self.repo}#{number} to be merged"
        while True:
            current = self.get_change_request(number)
            elapsed = self._clock.monotonic() - start
            if current.state == "merged":
                logger.info("pull request %s#%d merged as %s", self.repo, number, current.merge_commit)
                return current
            if current.state == "closed":
                raise StepError(
                    f"{current.url} was closed without being merged",
                    step="merge",
                    hint="the rollback was rejected on GitHub; reopen and merge it, or rerun gitrollback",
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
