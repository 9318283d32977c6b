"""GitLab merge-request JSON to ``ChangeRequest``, and the words gitrollback uses for GitLab's refusals.

Kept free of python-gitlab so the mapping tables can be read and unit-tested on their own; the adapter in
``gitrollback.adapters.gitlab`` feeds them ``RESTObject.attributes`` dicts and GitLab's error payloads.

Remote behaviour assumed: GitLab's merge requests API (``state`` is ``opened``/``closed``/``locked``/
``merged``; ``detailed_merge_status`` says why one cannot be merged; ``merge_commit_sha`` is null under the
fast-forward merge method and ``squash_commit_sha`` is set when squashing), and the error bodies of its REST
API (``{"message": str | list | dict}`` or ``{"error": str}``; GitLab's REST API docs, "Data validation and error
reporting").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from gitrollback.errors import (
    ConflictError,
    GitRollbackError,
    NotFoundError,
    PermissionDeniedError,
    RemoteHTTPError,
    TemporaryError,
    UnexpectedResponseError,
    http_error,
)
from gitrollback.models import ChangeRequest

__all__ = [
    "ACCESS_LEVELS",
    "ADAPTER",
    "DEVELOPER",
    "MERGE_STATUS_HINTS",
    "STATUS_HINTS",
    "access_level_name",
    "change_request",
    "closed_unmerged",
    "http_failure",
    "merge_forbidden",
    "merge_refused",
    "normalize_body",
    "remote_text",
    "safe_url",
    "status_text",
    "unknown_reviewer",
]

ADAPTER = "gitlab"

_STATES: dict[str, Literal["open", "closed", "merged"]] = {
    "opened": "open",
    "closed": "closed",
    "locked": "closed",
    "merged": "merged",
}

#: HTTP status -> the next action, for any GitLab call (operation-specific hints override these).
STATUS_HINTS: dict[int, str] = {
    400: "GitLab rejected the request as malformed; check the branch names and the configured labels",
    401: "check GITLAB_TOKEN (or the configured token variable): it must be valid, unexpired and have the api scope",
    403: "the token's user lacks the role for this; Developer can open merge requests, merging needs the "
    "rights the target branch's protection grants",
    404: "check gitops.project (the full path, e.g. group/subgroup/app) and that the token's user can see it; "
    "GitLab answers 404 for projects it hides",
    405: "GitLab does not allow this on the merge request in its current state; open it in GitLab to see why",
    409: "GitLab's state conflicts with the request; look at the merge request in GitLab and rerun",
    422: "GitLab refused the request; check that both branches exist and differ",
    429: "GitLab is rate-limiting this token; rerun later",
}

#: ``detailed_merge_status`` -> what blocks the merge and what to do, for a 405 on merge.
MERGE_STATUS_HINTS: dict[str, str] = {
    "ci_must_pass": "the project requires a successful pipeline: fix or rerun the pipeline of the rollback branch, "
    "or merge by hand",
    "ci_still_running": "a pipeline is still running; wait for it, then merge",
    "draft_status": "the merge request is a draft; mark it ready",
    "not_approved": "it needs approvals; ask a reviewer to approve it",
    "requested_changes": "a reviewer requested changes",
    "discussions_not_resolved": "resolve the open threads on the merge request",
    "conflict": "the rollback branch conflicts with the target; rebase it and rerun",
    "need_rebase": "the project requires a rebase first; rebase the rollback branch",
    "broken_status": "the source or target branch is missing; rerun to push the rollback branch again",
    "not_open": "the merge request is closed; reopen it or rerun to open a new one",
    "blocked_status": "it is blocked by another merge request",
    "checking": "GitLab is still computing mergeability; retry in a moment",
    "unchecked": "GitLab has not checked mergeability yet; retry in a moment",
}


#: GitLab's access levels (``Gitlab::Access``, docs "Roles and permissions"): Developer pushes and opens merge requests.
ACCESS_LEVELS: dict[int, str] = {
    0: "No access",
    5: "Minimal access",
    10: "Guest",
    15: "Planner",
    20: "Reporter",
    30: "Developer",
    40: "Maintainer",
    50: "Owner",
}
DEVELOPER = 30


def access_level_name(level: int) -> str:
    """The role name of an access level."""
    return ACCESS_LEVELS.get(level, "unknown")


#: python-gitlab's errors keep the body but not ``Retry-After``; GitLab's rate-limit windows are a minute long.
RATE_LIMIT_DELAY = 60.0


def http_failure(operation: str, project: str, status: int, remote: str) -> GitRollbackError:
    """The gitrollback error for a GitLab HTTP error status (429 -> ``TemporaryError``)."""
    message = f"GitLab {operation} in {project}: {status_text(status, remote)}"
    hint = STATUS_HINTS.get(status, "GitLab failed; retry later or check its status page")
    if status == 429:
        return TemporaryError(message, delay=RATE_LIMIT_DELAY, hint=hint)
    return http_error(status, message, adapter=ADAPTER, operation=operation, remote_message=remote, hint=hint)


def safe_url(url: str) -> str:
    """``url`` without a ``user:password@`` part (for messages and logs)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def remote_text(message: Any) -> str:
    """GitLab's error payload (a string, a list of strings or a field -> messages dict) as one line."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if isinstance(message, list):
        return "; ".join(remote_text(item) for item in message)
    if isinstance(message, dict):
        return "; ".join(f"{key} {remote_text(value)}" for key, value in message.items())
    return " ".join(str(message).split())


def normalize_body(text: str) -> str:
    """A description as compared for idempotency: GitLab stores CRLF as LF and trailing blanks do not matter."""
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n"))


def change_request(data: Mapping[str, Any], *, created: bool = False, body_updated: bool = False) -> ChangeRequest:
    """Build a ``ChangeRequest`` from a merge request's API attributes."""
    iid, url, state = data.get("iid"), data.get("web_url"), data.get("state")
    if not isinstance(iid, int) or not isinstance(url, str) or state not in _STATES:
        raise UnexpectedResponseError(
            f"GitLab merge request reply lacks iid/web_url/state: iid={iid!r} state={state!r}",
            adapter=ADAPTER,
            operation="read merge request",
            hint="something other than GitLab answers on base_url; check it",
        )
    mapped = _STATES[str(state)]
    merge_commit = None
    if mapped == "merged":
        # merge method "merge" sets merge_commit_sha; squashing sets squash_commit_sha; fast-forward leaves both
        # null and the target branch then points at the source head (``sha``).
        merge_commit = data.get("merge_commit_sha") or data.get("squash_commit_sha") or data.get("sha") or None
    return ChangeRequest(
        host=ADAPTER,
        number=iid,
        url=url,
        state=mapped,
        source_branch=str(data.get("source_branch") or ""),
        target_branch=str(data.get("target_branch") or ""),
        title=str(data.get("title") or ""),
        head_sha=str(data.get("sha") or ""),
        merge_commit=str(merge_commit) if merge_commit else None,
        created=created,
        body_updated=body_updated,
    )


def status_text(status: int, remote: str) -> str:
    """``"404 Not found"``: the status once, even when GitLab's message already starts with it."""
    return remote if remote.startswith(str(status)) else f"{status} {remote}".strip()


def merge_refused(number: int, *, status: int, remote: str, reason: str, state: str = "") -> ConflictError:
    """GitLab refused ``PUT .../merge`` with 405/406/409/422; ``reason`` is the ``detailed_merge_status``.

    With ``state`` (closed, locked) the refusal is ours, made before asking GitLab, which would answer 405.
    """
    hint = MERGE_STATUS_HINTS.get(reason, STATUS_HINTS[405])
    if status == 409:
        hint = "the rollback branch moved while merging; rerun"
    detail = f" (detailed_merge_status: {reason})" if reason else ""
    text = (
        f"GitLab merge request !{number} is {state}; it cannot be merged"
        if state
        else f"GitLab refused to merge !{number}: {status_text(status, remote)}{detail}"
    )
    return ConflictError(
        text,
        adapter=ADAPTER,
        operation="merge merge request",
        status=status,
        remote_message=remote,
        hint=hint,
    )


def merge_forbidden(number: int, target_branch: str, exc: RemoteHTTPError) -> PermissionDeniedError:
    """GitLab's 401 on merge: the token works but its user may not merge into the protected target branch."""
    return PermissionDeniedError(
        f"GitLab refused to merge !{number} into {target_branch}: {status_text(exc.status, exc.remote_message)}",
        adapter=ADAPTER,
        operation="merge merge request",
        status=exc.status,
        remote_message=exc.remote_message,
        hint=f"{target_branch} is protected and this token's user may not merge into it; merge it in GitLab "
        "or grant the role in the branch protection",
    )


def closed_unmerged(cr: ChangeRequest) -> ConflictError:
    """The merge request we wait for was closed.

    No HTTP call failed; 409 stands for "the remote's state conflicts with what we wait for" (errors.py).
    """
    return ConflictError(
        f"GitLab merge request !{cr.number} was closed without being merged",
        adapter=ADAPTER,
        operation="wait for merge",
        status=409,
        remote_message="closed",
        hint=f"see {cr.url}; reopen and merge it, or rerun to open a new one",
    )


def unknown_reviewer(username: str) -> NotFoundError:
    """``GET /users?username=`` found nobody."""
    return NotFoundError(
        f"GitLab user {username!r} not found",
        adapter=ADAPTER,
        operation="look up reviewer",
        status=404,
        remote_message="no such user",
        hint="fix gitops.reviewers: use GitLab usernames of people with access to the project",
    )
