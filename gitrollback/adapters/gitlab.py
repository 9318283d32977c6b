"""GitLab merge requests through python-gitlab: the ``gitrollback.ports.SourceHost`` adapter (kind ``gitlab``).

``GitLabHost`` opens the rollback merge request idempotently (an open one for the same source and target
branch is reused and its description refreshed), adds labels and reviewers, comments, reads, merges and
waits for a merge. It is the only module that imports python-gitlab (and ``requests``, whose exceptions
python-gitlab lets through), and the only place their exceptions become ``gitrollback.errors``
(``_boundary``, table-driven, chained with ``from``). What GitLab's replies mean lives in ``_gitlab_wire``.

Remote behaviour assumed (GitLab's merge requests API and gitlab-org/gitlab ``lib/api/merge_requests.rb``):

- the client is built lazily, with ``retry_transient_errors=False`` and, per call, ``obey_rate_limit=False``:
  python-gitlab would otherwise sleep (with ``time.sleep``, not our clock) and retry 429s up to ten times.
  A 429 is waited out on the injected clock instead, for GitLab's ``Retry-After`` (read from the response by
  a ``requests`` hook, as python-gitlab's errors drop the headers), when that ends within the call's budget
  (``merge_timeout`` for ``merge``, the wait's timeout for ``wait_merged``, ``rate_limit_wait`` for the rest);
  else it is raised as ``TemporaryError``. A throttled request was not carried out, so repeating it is safe;
- the project is fetched lazily (``projects.get(path, lazy=True)``): calls go straight to
  ``/projects/grp%2Fapp/...`` and a missing project shows up as the first call's 404;
- ``keep_base_url=True``: self-managed GitLab behind a proxy often reports another external URL in ``Link``
  headers; pagination then stays on the configured base URL;
- a duplicate create answers 409 "Another open merge request already exists" (a concurrent run won the
  race); we re-find and reuse that one;
- mergeability is asynchronous: ``detailed_merge_status`` is ``preparing``, ``unchecked`` or ``checking`` until
  GitLab settles, and a merge sent meanwhile is refused (405 on current GitLab; on older releases 405 while the
  diff is prepared and 422, or 406, "Branch cannot be merged" while a check runs) although nothing is wrong.
  ``merge`` therefore waits for a settled status, merges only a ``mergeable`` one (with the head ``sha`` as a
  guard), looks again after such a refusal, and reports every other status as its own error (``kind`` = the status);
- with ``merge_when_pipeline_succeeds``, a merge request whose head pipeline is still running is handed to
  GitLab's auto-merge (``PUT .../merge`` with ``merge_when_pipeline_succeeds=true``; with no pipeline running
  current GitLab merges at once and older releases refuse with 405, so it is only asked for then), and ``merge``
  waits for GitLab to merge it;
- ``PUT .../merge`` refuses with 401 when the user may not merge into a protected branch (python-gitlab calls
  that an authentication error; the token is fine, since the preceding GET worked).

Reviewers are best effort: a username GitLab does not know is named in a warning and in
``ChangeRequest.reviewers_refused``, and the merge request goes on without it. The token is only handed to
python-gitlab; it is never logged or put into an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import gitlab
import requests
from gitlab import exceptions as glexc

from gitrollback.adapters import _gitlab_wire as wire
from gitrollback.adapters._requests_deadline import bounded_session
from gitrollback.clock import SystemClock
from gitrollback.errors import (
    AdapterError,
    AuthenticationError,
    ConfigError,
    ConflictError,
    GitRollbackError,
    NotFoundError,
    PermissionDeniedError,
    RemoteHTTPError,
    ServerError,
    TemporaryError,
    TransportError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from gitrollback.models import AccessNeeds, AccessProblem, ChangeRequest
from gitrollback.ports import Clock

__all__ = ["GitLabHost"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
#: merges GitLab may refuse while it reports the merge request mergeable, before the refusal is final
_MERGE_ATTEMPTS = 5

#: per-call options: no sleeping retries inside python-gitlab (our clock and policy decide).
_ONCE: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False}

# Exceptions without an HTTP status -> (gitrollback class, what happened, hint); most specific first.
# fmt: off
_VENDOR_ERRORS: tuple[tuple[type[BaseException], type[AdapterError], str, str], ...] = (
    (requests.exceptions.SSLError, TransportError, "TLS handshake failed",
     "check the CA bundle (ssl_verify) and the certificate of the GitLab host"),
    (requests.exceptions.Timeout, TransportError, "timed out",
     "GitLab did not answer in time; raise gitops.request_timeout_seconds or check the instance's health"),
    (requests.exceptions.ConnectionError, TransportError, "could not connect",
     "check gitops.base_url and that GitLab is reachable from here"),
    (requests.exceptions.InvalidURL, TransportError, "invalid URL", "check gitops.base_url"),
    (requests.exceptions.RequestException, TransportError, "request failed", "check the network path to GitLab"),
    (glexc.GitlabParsingError, UnexpectedResponseError, "unparsable reply",
     "something other than GitLab's API answers on base_url; check it"),
    (glexc.RedirectError, UnexpectedResponseError, "redirected",
     "GitLab redirected the request; use the final URL (usually https://) as base_url"),
    (glexc.GitlabConnectionError, TransportError, "connection failed", "check gitops.base_url"),
)
# fmt: on


class GitLabHost:
    """Merge requests on one GitLab project (gitlab.com or self-managed).

    The constructor does no I/O; python-gitlab is set up on the first call.

    Args:
        project: the project's full path (``group/subgroup/app``) or numeric id.
        token: a personal, project or group access token with the ``api`` scope.
        base_url: the instance root, e.g. ``https://gitlab.example.com`` or ``https://example.com/gitlab``
            (a trailing ``/api/v4`` is tolerated and dropped).
        clock: for every wait (polls, mergeability, rate limits); ``SystemClock`` by default.
        poll_interval: seconds between polls in ``wait_merged`` and while ``merge`` waits.
        gitlab: an already configured ``gitlab.Gitlab`` to use instead of building one (it is not closed; its
            429s wait a minute, as its errors carry no ``Retry-After``).
        timeout: seconds one HTTP request may take, connect to last byte (a server that answers a byte at a time
            cannot stretch it: ``_requests_deadline``).
        ssl_verify: TLS verification: True, False, or the path of a CA bundle.
        on_wait: called as ``on_wait(what, elapsed_seconds, state)`` on every poll of ``wait_merged`` and
            ``merge``, and before waiting out a rate limit.
        merge_timeout: seconds ``merge`` may spend waiting for GitLab to settle, for transient refusals, for
            rate limits and for an auto-merge (the config's ``merge_timeout_seconds``).
        merge_when_pipeline_succeeds: let GitLab merge when the head pipeline succeeds, if it is still running.
        rate_limit_wait: the longest any other call waits for a rate limit to lift before it raises
            ``TemporaryError``.

    Usage::

        with GitLabHost("grp/app", token=token, base_url="https://gitlab.example.com") as host:
            cr = host.open_change_request(source_branch="rollback/abc", target_branch="main",
                                          title="Roll back Tekton assets", body=context, labels=["rollback"])
            cr = host.wait_merged(cr.number, timeout=3600)
    """

    kind = "gitlab"

    def __init__(
        self,
        project: str,
        *,
        token: str,
        base_url: str = "https://gitlab.com",
        clock: Clock | None = None,
        poll_interval: float = 5.0,
        gitlab: Any = None,
        timeout: float = 30.0,
        ssl_verify: bool | str = True,
        on_wait: Callable[[str, float, str], None] | None = None,
        merge_timeout: float = 600.0,
        merge_when_pipeline_succeeds: bool = False,
        rate_limit_wait: float = 120.0,
    ) -> None:
        if not str(project).strip("/"):
            raise ConfigError("no GitLab project given", key="gitops.project", hint="set it to group/app")
        if gitlab is None and not token:
            raise ConfigError("no GitLab token", key="gitops.token_env", hint="export GITLAB_TOKEN with an api token")
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not an http(s) URL: {wire.safe_url(base_url)}", key="gitops.base_url")
        path = parts.path.removesuffix("/api/v4")
        self._base_url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self._shown_url = wire.safe_url(self._base_url)
        self._project_ref = str(project).strip("/")
        self._token = token
        self._clock: Clock = clock or SystemClock()
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._ssl_verify = ssl_verify
        self._on_wait = on_wait
        self._merge_timeout = merge_timeout
        self._auto_merge = merge_when_pipeline_succeeds
        self._rate_limit_wait = rate_limit_wait
        self._gl: Any = gitlab
        self._owns_client = gitlab is None
        self._project_obj: Any = None
        self._throttled: Mapping[str, str] = {}

    def __repr__(self) -> str:
        return f"GitLabHost({self._project_ref!r}, base_url={self._shown_url!r})"

    # -- lifecycle ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session (only one this object created)."""
        if self._owns_client and self._gl is not None:
            self._gl.session.close()
            self._gl = None
            self._project_obj = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def _client(self) -> Any:
        if self._gl is None:
            self._gl = gitlab.Gitlab(
                self._base_url,
                private_token=self._token,
                timeout=self._timeout,
                ssl_verify=self._ssl_verify,
                retry_transient_errors=False,
                keep_base_url=True,
                session=bounded_session(self._timeout),
            )
            self._gl.session.hooks["response"].append(self._remember_throttle)
        return self._gl

    def _remember_throttle(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Keep the headers of the last 429: python-gitlab's exception does not carry them."""
        if response.status_code == 429:
            self._throttled = dict(response.headers)

    @property
    def _project(self) -> Any:
        if self._project_obj is None:
            # lazy: no GET of the project; every call goes to /projects/<url-encoded path>/...
            self._project_obj = self._client.projects.get(self._project_ref, lazy=True)
        return self._project_obj

    # -- the pre-flight check (docs/safety.md) ------------------------------------------------------------

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """May the token push the rollback branch and open (and merge) the merge request?

        Reads the project (``GET /projects/:id``): its ``permissions`` carry the token's user's access level on the
        project and through its group; pushing a branch and opening a merge request need Developer (30). Who may
        merge into a protected target branch is that branch's protection's say, met at merge time.
        """
        if not (needs.push or needs.change_request):
            return []
        try:
            with self._boundary("check access to project"):
                attributes = dict(self._client.projects.get(self._project_ref).attributes)
        except AuthenticationError as exc:
            return [
                AccessProblem("gitlab", f"GitLab refuses the token (401): {exc.remote_message}", wire.STATUS_HINTS[401])
            ]
        except (NotFoundError, PermissionDeniedError) as exc:
            return [
                AccessProblem(
                    "gitlab",
                    f"project {self._project_ref} is not visible to the token ({exc.status})",
                    wire.STATUS_HINTS[404],
                )
            ]
        permissions = attributes.get("permissions") or {}
        levels = [
            int((permissions.get(scope) or {}).get("access_level") or 0) for scope in ("project_access", "group_access")
        ]
        level = max(levels, default=0)
        if level >= wire.DEVELOPER:
            return []
        return [
            AccessProblem(
                "gitlab",
                f"the token's user has access level {level} ({wire.access_level_name(level)}) on {self._project_ref}; "
                f"pushing the rollback branch and opening the merge request need Developer ({wire.DEVELOPER})",
                "give the token's user (or the project/group access token) the Developer or Maintainer role",
            )
        ]

    def _retrying(self, operation: str, action: Callable[[], _T], *, deadline: float | None = None) -> _T:
        """Run ``action``; wait out 429s that lift before ``deadline`` (monotonic; default ``rate_limit_wait``)."""
        start = self._clock.monotonic()
        end = start + self._rate_limit_wait if deadline is None else deadline
        while True:
            try:
                return action()
            except TemporaryError as exc:
                now = self._clock.monotonic()
                if now + exc.delay > end:
                    raise
                logger.warning("GitLab %s: rate limited; waiting %.0fs as asked", operation, exc.delay)
                if self._on_wait is not None:
                    self._on_wait(f"GitLab rate limit ({operation})", now - start, "rate limited")
                self._clock.sleep(exc.delay)

    # -- the SourceHost port ------------------------------------------------------------------------------

    def find_change_request(self, *, source_branch: str, target_branch: str) -> ChangeRequest | None:
        """The open merge request from ``source_branch`` into ``target_branch``, if any."""
        found = self._retrying("find merge request", lambda: self._find(source_branch, target_branch))
        return wire.change_request(found.attributes, created=False) if found is not None else None

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
        """Open a merge request, or reuse the open one for the same branches (refreshing body, labels, reviewers).

        Reviewers are resolved by username first; one GitLab does not know is skipped with a warning and
        listed in ``reviewers_refused``.

        Raises:
            NotFoundError: the project does not exist.
            ConflictError: GitLab refused for another reason (e.g. an open MR from the branch to another target).
        """

        def open_it() -> ChangeRequest:
            return self._open(source_branch, target_branch, title=title, body=body, labels=labels, reviewers=reviewers)

        return self._retrying("open merge request", open_it)

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
        reviewer_ids, refused = self._reviewer_ids(reviewers)
        existing = self._find(source_branch, target_branch)
        if existing is None:
            payload: dict[str, Any] = {
                "source_branch": source_branch,
                "target_branch": target_branch,
                "title": title,
                "description": body,
            }
            if labels:
                payload["labels"] = list(labels)
            if reviewer_ids:
                payload["reviewer_ids"] = reviewer_ids
            try:
                with self._boundary("open merge request"):
                    created = self._project.mergerequests.create(payload, **_ONCE)
            except ConflictError:
                # 409 "Another open merge request already exists": a concurrent run opened it first.
                existing = self._find(source_branch, target_branch)
                if existing is None:
                    raise
                logger.info(
                    "GitLab %s: merge request !%s appeared concurrently; reusing it", self._project_ref, existing.iid
                )
            else:
                logger.info("GitLab %s: opened merge request !%s", self._project_ref, created.iid)
                return wire.change_request(created.attributes, created=True, reviewers_refused=refused)
        return self._refresh(existing, body=body, labels=labels, reviewer_ids=reviewer_ids, refused=refused)

    def get_change_request(self, number: int) -> ChangeRequest:
        """Current state of merge request ``!number``."""
        mr = self._retrying(f"read merge request !{number}", lambda: self._get(number))
        return wire.change_request(mr.attributes)

    def comment(self, number: int, body: str) -> None:
        """Add a note to merge request ``!number``."""

        def note() -> None:
            mr = self._get(number)
            with self._boundary("comment on merge request"):
                mr.notes.create({"body": body}, **_ONCE)

        self._retrying("comment on merge request", note)
        logger.info("GitLab %s: commented on !%s", self._project_ref, number)

    def merge(self, number: int, *, message: str | None = None) -> ChangeRequest:
        """Merge ``!number`` once GitLab has settled that it can be merged (a merged one is returned as is).

        Looks every ``poll_interval`` seconds while ``detailed_merge_status`` is not settled, merges a
        ``mergeable`` one guarded by its head sha, and looks again after a refusal that came too early (up to five
        merge attempts). With
        ``merge_when_pipeline_succeeds`` a merge request whose pipeline still runs is set to auto-merge and
        waited for. Everything within ``merge_timeout``.

        Raises:
            PermissionDeniedError: the token's user may not merge into the (protected) target branch.
            ConflictError: GitLab will not merge it: closed, a conflict, a pipeline that failed or still runs,
                a draft, approvals or threads missing, a rebase needed, ...; ``kind`` is GitLab's
                ``detailed_merge_status`` and the hint says what to do.
            WaitTimeoutError: GitLab did not settle (``mergeability_unknown``) or did not auto-merge
                (``pipeline_still_running``) within ``merge_timeout``.
            TemporaryError: a rate limit that does not lift within ``merge_timeout``.
        """
        start = self._clock.monotonic()
        deadline = start + self._merge_timeout
        auto_set = False
        attempts = 0
        refusal: RemoteHTTPError | None = None
        while True:
            mr = self._retrying(f"read merge request !{number}", lambda: self._get(number), deadline=deadline)
            attrs: Mapping[str, Any] = mr.attributes
            state = str(attrs.get("state"))
            detailed = str(attrs.get("detailed_merge_status") or "")
            if state == "merged":
                return wire.change_request(attrs)
            if state != "opened":
                raise wire.merge_blocked(number, "not_open", remote=f"state: {state}", what=f"it is {state}")
            waiting_for = ""
            if attrs.get("merge_when_pipeline_succeeds"):
                waiting_for = "auto_merge"
            elif auto_set:
                # GitLab dropped the auto-merge: the pipeline failed, or someone turned it off
                if detailed == "ci_must_pass":
                    raise wire.merge_blocked(number, detailed)
                raise wire.auto_merge_cancelled(number)
            elif detailed in wire.UNSETTLED:
                waiting_for = detailed
            elif attempts >= _MERGE_ATTEMPTS and refusal is not None:
                raise wire.merge_refused(number, status=refusal.status, remote=refusal.remote_message, reason=detailed)
            elif detailed == "mergeable" or (detailed == "ci_still_running" and self._auto_merge):
                running = detailed == "ci_still_running" or _pipeline(attrs) in wire.PIPELINE_RUNNING
                auto = self._auto_merge and running
                attempts += 1
                done, refusal = self._put_merge(mr, message, auto=auto, deadline=deadline)
                if done is not None:
                    return done
                if auto and refusal is None:
                    auto_set = True
                    logger.info("GitLab %s: !%s merges when its pipeline succeeds", self._project_ref, number)
                    waiting_for = "auto_merge"
                else:
                    waiting_for = "merge refused for now"
            else:
                raise wire.merge_blocked(number, detailed)
            elapsed = self._clock.monotonic() - start
            if self._on_wait is not None:
                self._on_wait(f"GitLab merge request !{number} to be merged", elapsed, waiting_for)
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                if refusal is not None:
                    raise wire.merge_refused(
                        number, status=refusal.status, remote=refusal.remote_message, reason=detailed
                    ) from refusal
                raise wire.mergeability_timeout(number, waiting_for, elapsed)
            logger.debug("GitLab %s: !%s: %s after %.0fs", self._project_ref, number, waiting_for, elapsed)
            self._clock.sleep(min(self._poll_interval, remaining))

    def _put_merge(
        self, mr: Any, message: str | None, *, auto: bool, deadline: float
    ) -> tuple[ChangeRequest | None, RemoteHTTPError | None]:
        """``PUT .../merge`` with the head sha as a guard: (the merged MR, None), (None, None) when GitLab set the
        auto-merge, or (None, the refusal) when GitLab refused in a way that is worth another look."""
        number = int(mr.attributes.get("iid") or 0)
        sha = mr.attributes.get("sha")

        def put() -> None:
            with self._boundary("merge merge request"):
                # ``sha`` travels as a query parameter; GitLab reads parameters from the query and the body alike
                mr.merge(merge_commit_message=message, merge_when_pipeline_succeeds=auto or None, sha=sha, **_ONCE)

        try:
            self._retrying("merge merge request", put, deadline=deadline)
        except AuthenticationError as exc:
            # the GET before authenticated, so this 401 is GitLab's "may not merge into this branch"
            raise wire.merge_forbidden(number, str(mr.attributes.get("target_branch")), exc) from exc
        except RemoteHTTPError as exc:
            if exc.status == 409:
                raise wire.merge_refused(number, status=409, remote=exc.remote_message, reason="") from exc
            if exc.status not in (405, 406, 422):
                raise
            logger.info("GitLab %s: merging !%s refused for now (%s); looking again", self._project_ref, number, exc)
            return None, exc
        if str(mr.attributes.get("state")) == "merged":
            logger.info("GitLab %s: merged !%s", self._project_ref, number)
            return wire.change_request(mr.attributes), None
        return None, None

    def wait_merged(self, number: int, *, timeout: float) -> ChangeRequest:
        """Poll ``!number`` until it is merged (returned with ``merge_commit``).

        Transient failures of a single poll (transport errors, 5xx) are logged and polled through; a 429 is
        waited out for as long as GitLab asks; the deadline still holds.

        Raises:
            ConflictError: it was closed without being merged.
            WaitTimeoutError: ``timeout`` seconds passed first.
        """
        start = self._clock.monotonic()
        state = "unknown"
        while True:
            pause = self._poll_interval
            try:
                cr = self.get_change_request(number)
            except TemporaryError as exc:
                logger.warning("GitLab %s: polling !%s was rate limited (%s)", self._project_ref, number, exc)
                pause = max(pause, exc.delay)
            except (TransportError, ServerError) as exc:
                logger.warning("GitLab %s: polling !%s failed (%s); still waiting", self._project_ref, number, exc)
            else:
                state = cr.state
                if cr.state == "merged" and cr.merge_commit:
                    return cr
                if cr.state == "closed":
                    raise wire.closed_unmerged(cr)
            elapsed = self._clock.monotonic() - start
            if self._on_wait is not None:
                self._on_wait(f"GitLab merge request !{number}", elapsed, state)
            if elapsed >= timeout:
                raise WaitTimeoutError(
                    f"GitLab merge request !{number} in {self._project_ref} not merged after {elapsed:.0f}s "
                    f"(state: {state})",
                    waited=elapsed,
                    last_state=state,
                    hint="merge it in GitLab (or raise gitops.merge_timeout_seconds), then rerun",
                )
            logger.debug("GitLab %s: !%s is %s after %.0fs", self._project_ref, number, state, elapsed)
            self._clock.sleep(max(0.0, min(pause, timeout - elapsed)))

    # -- helpers ------------------------------------------------------------------------------------------

    def _find(self, source_branch: str, target_branch: str) -> Any:
        with self._boundary("find merge request"):
            mrs = self._project.mergerequests.list(
                source_branch=source_branch, target_branch=target_branch, state="opened", get_all=True, **_ONCE
            )
        # filter again: an older GitLab or a proxy ignoring a filter must not hand us someone else's MR
        matches = [
            mr
            for mr in mrs
            if mr.attributes.get("source_branch") == source_branch
            and mr.attributes.get("target_branch") == target_branch
            and mr.attributes.get("state") == "opened"
        ]
        return min(matches, key=lambda mr: mr.attributes.get("iid", 0)) if matches else None

    def _get(self, number: int) -> Any:
        with self._boundary(f"read merge request !{number}"):
            return self._project.mergerequests.get(number, **_ONCE)

    def _reviewer_ids(self, usernames: Sequence[str]) -> tuple[list[int], tuple[str, ...]]:
        """GitLab user ids of ``usernames``, and the names GitLab does not know (warned about, then skipped)."""
        ids: list[int] = []
        refused: list[str] = []
        for name in usernames:
            wanted = name.strip().lstrip("@")
            with self._boundary(f"look up reviewer {wanted}"):
                users = self._client.users.list(username=wanted, get_all=True, **_ONCE)
            match = [u for u in users if str(u.attributes.get("username", "")).lower() == wanted.lower()]
            if not match:
                logger.warning("%s", wire.unknown_reviewer(wanted))
                refused.append(wanted)
                continue
            ids.append(int(match[0].attributes["id"]))
        return ids, tuple(refused)

    def _refresh(
        self,
        mr: Any,
        *,
        body: str,
        labels: Sequence[str],
        reviewer_ids: list[int],
        refused: tuple[str, ...],
    ) -> ChangeRequest:
        attrs: Mapping[str, Any] = mr.attributes
        body_updated = wire.normalize_body(str(attrs.get("description") or "")) != wire.normalize_body(body)
        changed = False
        if body_updated:
            mr.description = body
            changed = True
        current_labels = [str(label) for label in attrs.get("labels") or []]
        if set(labels) - set(current_labels):
            mr.labels = sorted(set(current_labels) | set(labels))
            changed = True
        current_reviewers = [int(r["id"]) for r in attrs.get("reviewers") or [] if isinstance(r, dict) and "id" in r]
        if set(reviewer_ids) - set(current_reviewers):
            mr.reviewer_ids = current_reviewers + [i for i in reviewer_ids if i not in current_reviewers]
            changed = True
        if changed:
            with self._boundary(f"update merge request !{attrs.get('iid')}"):
                mr.save(**_ONCE)
            logger.info(
                "GitLab %s: updated merge request !%s (description changed: %s)",
                self._project_ref,
                attrs.get("iid"),
                body_updated,
            )
        return wire.change_request(mr.attributes, created=False, body_updated=body_updated, reviewers_refused=refused)

    @contextmanager
    def _boundary(self, operation: str) -> Iterator[None]:
        """Re-raise python-gitlab and requests exceptions from the block as gitrollback errors."""
        try:
            yield
        except GitRollbackError:
            raise
        except glexc.GitlabError as exc:
            if exc.response_code is None:
                raise self._vendor_error(operation, exc) from exc
            raise self._http_error(operation, exc) from exc
        except requests.exceptions.RequestException as exc:
            raise self._vendor_error(operation, exc) from exc

    def _http_error(self, operation: str, exc: glexc.GitlabError) -> GitRollbackError:
        remote = self._scrub(wire.remote_text(exc.error_message))
        status = int(exc.response_code or 0)
        delay = wire.rate_limit_delay(self._throttled, self._clock.now().timestamp()) if status == 429 else None
        return wire.http_failure(operation, self._project_ref, status, remote, delay=delay)

    def _vendor_error(self, operation: str, exc: BaseException) -> AdapterError:
        for vendor, ours, meaning, hint in _VENDOR_ERRORS:
            if isinstance(exc, vendor):
                detail = self._scrub(str(exc) or type(exc).__name__)
                return ours(
                    f"GitLab {operation} at {self._shown_url}: {meaning}: {detail}",
                    adapter=wire.ADAPTER,
                    operation=operation,
                    hint=hint,
                )
        return AdapterError(
            f"GitLab {operation}: {self._scrub(str(exc))}",
            adapter=wire.ADAPTER,
            operation=operation,
            hint="see the log for details",
        )

    def _scrub(self, text: str) -> str:
        # belt and braces: the token is sent in a header only, but never echo it if a proxy reflects it
        return text.replace(self._token, "***") if self._token else text


def _pipeline(attrs: Mapping[str, Any]) -> str:
    """The head pipeline's status, or "" when the merge request has none."""
    pipeline = attrs.get("head_pipeline")
    return str(pipeline.get("status") or "") if isinstance(pipeline, Mapping) else ""
