"""GitLab merge requests through python-gitlab: the ``gitrollback.ports.SourceHost`` adapter (kind ``gitlab``).

``GitLabHost`` opens the rollback merge request idempotently (an open one for the same source and target
branch is reused and its description refreshed), adds labels and reviewers, comments, reads, merges and
waits for a merge. It is the only module that imports python-gitlab (and ``requests``, whose exceptions
python-gitlab lets through), and the only place their exceptions become ``gitrollback.errors``
(``_boundary``, table-driven, chained with ``from``).

Remote behaviour assumed (python-gitlab's ``gitlab/client.py`` and GitLab's merge requests API):
- the client is built lazily, with ``retry_transient_errors=False`` and, per call, ``obey_rate_limit=False``:
  python-gitlab would otherwise sleep (with ``time.sleep``, not our clock) and retry 429s up to ten times.
  Retrying is the runbook engine's job; a 429 becomes ``TemporaryError`` with GitLab's ``Retry-After``;
- the project is fetched lazily (``projects.get(path, lazy=True)``): calls go straight to
  ``/projects/grp%2Fapp/...`` and a missing project shows up as the first call's 404;
- ``keep_base_url=True``: self-managed GitLab behind a proxy often reports another external URL in ``Link``
  headers; pagination then stays on the configured base URL;
- a duplicate create answers 409 "Another open merge request already exists" (a concurrent run won the
  race); we re-find and reuse that one;
- ``PUT .../merge`` refuses with 401 when the user may not merge into a protected branch (python-gitlab calls
  that an authentication error; the token is fine, since the preceding GET worked), 405 when the merge
  request is not mergeable (its ``detailed_merge_status`` says why, e.g. ``ci_must_pass``), and 406 or 422
  "Branch cannot be merged" on a conflict.
The token is only handed to python-gitlab; it is never logged or put into an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import gitlab
import requests
from gitlab import exceptions as glexc

from gitrollback.adapters import _gitlab_wire as wire
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

#: per-call options: no sleeping retries inside python-gitlab (our clock and policy decide).
_ONCE: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False}

# Exceptions without an HTTP status -> (gitrollback class, what happened, hint); most specific first.
# fmt: off
_VENDOR_ERRORS: tuple[tuple[type[BaseException], type[AdapterError], str, str], ...] = (
    (requests.exceptions.SSLError, TransportError, "TLS handshake failed",
     "check the CA bundle (ssl_verify) and the certificate of the GitLab host"),
    (requests.exceptions.Timeout, TransportError, "timed out",
     "GitLab did not answer in time; raise the timeout or check the instance's health"),
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
        clock: for ``wait_merged``; ``SystemClock`` by default.
        poll_interval: seconds between polls in ``wait_merged``.
        gitlab: an already configured ``gitlab.Gitlab`` to use instead of building one (it is not closed).
        timeout: seconds per HTTP request.
        ssl_verify: TLS verification: True, False, or the path of a CA bundle.
        on_wait: called as ``on_wait(what, elapsed_seconds, state)`` on every poll of ``wait_merged``.

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
        self._gl: Any = gitlab
        self._owns_client = gitlab is None
        self._project_obj: Any = None

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
            )
        return self._gl

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

    # -- the SourceHost port ------------------------------------------------------------------------------

    def find_change_request(self, *, source_branch: str, target_branch: str) -> ChangeRequest | None:
        """The open merge request from ``source_branch`` into ``target_branch``, if any."""
        found = self._find(source_branch, target_branch)
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

        Reviewers are resolved by username before anything is written, so a typo changes nothing.

        Raises:
            NotFoundError: the project or a reviewer does not exist.
            ConflictError: GitLab refused for another reason (e.g. an open MR from the branch to another target).
        """
        reviewer_ids = self._reviewer_ids(reviewers)
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
                return wire.change_request(created.attributes, created=True)
        return self._refresh(existing, body=body, labels=labels, reviewer_ids=reviewer_ids)

    def get_change_request(self, number: int) -> ChangeRequest:
        """Current state of merge request ``!number``."""
        return wire.change_request(self._get(number).attributes)

    def comment(self, number: int, body: str) -> None:
        """Add a note to merge request ``!number``."""
        mr = self._get(number)
        with self._boundary("comment on merge request"):
            mr.notes.create({"body": body}, **_ONCE)
        logger.info("GitLab %s: commented on !%s", self._project_ref, number)

    def merge(self, number: int, *, message: str | None = None) -> ChangeRequest:
        """Merge ``!number`` (a merged one is returned as is).

        Raises:
            PermissionDeniedError: the token's user may not merge into the (protected) target branch.
            ConflictError: GitLab refused: closed, pipeline must succeed, draft, conflicts, ...; the message
                carries GitLab's reason and ``detailed_merge_status``, the hint what to do.
        """
        mr = self._get(number)
        state = str(mr.attributes.get("state"))
        if state == "merged":
            return wire.change_request(mr.attributes)
        if state != "opened":
            raise wire.merge_refused(
                number, status=405, remote="405 Method Not Allowed", reason="not_open", state=state
            )
        try:
            with self._boundary("merge merge request"):
                mr.merge(merge_commit_message=message, **_ONCE)
        except AuthenticationError as exc:
            # the GET above authenticated, so this 401 is GitLab's "may not merge into this branch"
            raise wire.merge_forbidden(number, str(mr.attributes.get("target_branch")), exc) from exc
        except RemoteHTTPError as exc:
            if exc.status not in (405, 406, 409, 422):
                raise
            reason = "conflict" if exc.status in (406, 422) else self._merge_blocker(number)
            raise wire.merge_refused(number, status=exc.status, remote=exc.remote_message, reason=reason) from exc
        logger.info("GitLab %s: merged !%s", self._project_ref, number)
        return wire.change_request(mr.attributes)

    def wait_merged(self, number: int, *, timeout: float) -> ChangeRequest:
        """Poll ``!number`` until it is merged (returned with ``merge_commit``).

        Transient failures of a single poll (transport errors, 5xx, 429) are logged and polled through;
        the deadline still holds.

        Raises:
            ConflictError: it was closed without being merged.
            WaitTimeoutError: ``timeout`` seconds passed first.
        """
        start = self._clock.monotonic()
        state = "unknown"
        while True:
            try:
                cr = self.get_change_request(number)
            except (TransportError, ServerError, TemporaryError) as exc:
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
            self._clock.sleep(max(0.0, min(self._poll_interval, timeout - elapsed)))

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

    def _merge_blocker(self, number: int) -> str:
        try:
            return str(self._get(number).attributes.get("detailed_merge_status") or "")
        except GitRollbackError:
            return ""

    def _reviewer_ids(self, usernames: Sequence[str]) -> list[int]:
        ids: list[int] = []
        for name in usernames:
            wanted = name.strip().lstrip("@")
            with self._boundary(f"look up reviewer {wanted}"):
                users = self._client.users.list(username=wanted, get_all=True, **_ONCE)
            match = [u for u in users if str(u.attributes.get("username", "")).lower() == wanted.lower()]
            if not match:
                raise wire.unknown_reviewer(wanted)
            ids.append(int(match[0].attributes["id"]))
        return ids

    def _refresh(self, mr: Any, *, body: str, labels: Sequence[str], reviewer_ids: list[int]) -> ChangeRequest:
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
        return wire.change_request(mr.attributes, created=False, body_updated=body_updated)

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
        return wire.http_failure(operation, self._project_ref, int(exc.response_code or 0), remote)

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
