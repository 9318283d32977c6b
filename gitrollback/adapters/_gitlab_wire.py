"""GitLab merge-request JSON to ``ChangeRequest``, and the words gitrollback uses for GitLab's refusals.

Kept free of python-gitlab so the mapping tables can be read and unit-tested on their own; the adapter in
``gitrollback.adapters.gitlab`` feeds them ``RESTObject.attributes`` dicts and GitLab's error payloads.

Remote behaviour assumed: GitLab's merge requests API (``state`` is ``opened``/``closed``/``locked``/
``merged``; ``merge_commit_sha`` is null under the fast-forward merge method and ``squash_commit_sha`` is set
when squashing), the error bodies of its REST API (``{"message": str | list | dict}`` or ``{"error": str}``),
and its rate-limit headers (``Retry-After``, ``RateLimit-Reset``; "User and IP rate limits").

``detailed_merge_status`` (gitlab-org/gitlab ``app/services/merge_requests/mergeability/
detailed_merge_status_service.rb``) is ``preparing``, ``checking`` or ``unchecked`` while GitLab has not
settled yet (``UNSETTLED``: wait), ``mergeable``, or the first check that fails; each of those has its own
message, next action (``MERGE_STATUS_HINTS``) and error ``kind`` (the status itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from gitrollback.errors import (
    ConflictError,
    GitRollbackError,
    PermissionDeniedError,
    RemoteHTTPError,
    TemporaryError,
    UnexpectedResponseError,
    WaitTimeoutError,
    http_error,
)
from gitrollback.models import ChangeRequest

__all__ = [
    "ACCESS_LEVELS",
    "ADAPTER",
    "DEVELOPER",
    "MERGE_STATUS_HINTS",
    "PIPELINE_RUNNING",
    "STATUS_HINTS",
    "UNSETTLED",
    "access_level_name",
    "auto_merge_cancelled",
    "change_request",
    "closed_unmerged",
    "http_failure",
    "merge_blocked",
    "merge_forbidden",
    "merge_refused",
    "mergeability_timeout",
    "normalize_body",
    "rate_limit_delay",
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

#: ``detailed_merge_status`` values that mean "GitLab has not settled yet": wait and look again
UNSETTLED = frozenset({"preparing", "checking", "unchecked", "approvals_syncing"})
#: head pipeline statuses GitLab counts as still running
PIPELINE_RUNNING = frozenset({"created", "waiting_for_resource", "preparing", "pending", "running", "scheduled"})

#: ``detailed_merge_status`` -> (what blocks the merge, what to do next)
MERGE_STATUS_HINTS: dict[str, tuple[str, str]] = {
    "ci_must_pass": (
        "the pipeline did not succeed and the project requires it",
        "fix or rerun the pipeline of the rollback branch, then rerun gitrollback (or merge by hand)",
    ),
    "ci_still_running": (
        "a pipeline is still running and the project requires it to succeed",
        "rerun once it has succeeded, or set gitops.merge_when_pipeline_succeeds: true to let GitLab merge it then",
    ),
    "draft_status": ("the merge request is a draft", "mark it ready (drop the Draft: prefix), then rerun"),
    "not_approved": ("it lacks the approvals the project requires", "ask an eligible approver to approve it; rerun"),
    "approvals_syncing": ("GitLab is still syncing its approvals", "rerun in a moment"),
    "requested_changes": ("a reviewer requested changes", "settle the review on the merge request, then rerun"),
    "discussions_not_resolved": (
        "the project requires every thread to be resolved",
        "resolve the open threads on the merge request, then rerun",
    ),
    "conflict": (
        "the rollback branch conflicts with the target branch",
        "resolve the conflict on the merge request, or close it and rerun to rebuild the rollback on the current "
        "target",
    ),
    "need_rebase": (
        "the project merges fast-forward only and the target branch moved",
        "rebase the rollback branch (the Rebase button, or PUT .../merge_requests/:iid/rebase), then rerun",
    ),
    "broken_status": (
        "the source or target branch is missing",
        "rerun gitrollback: it pushes the rollback branch again",
    ),
    "commits_status": ("the source branch has no commits", "rerun gitrollback: it pushes the rollback branch again"),
    "not_open": ("the merge request is not open", "reopen it, or rerun gitrollback to open a new one"),
    "blocked_status": ("it is blocked by another merge request", "merge the blocking merge request first"),
    "merge_request_blocked": ("it is blocked by another merge request", "merge the blocking merge request first"),
    "merge_time": ("it may not be merged before its set merge time", "rerun after that time, or merge by hand"),
    "jira_association_missing": ("the title or description must mention a Jira issue", "merge it by hand"),
    "status_checks_must_pass": ("external status checks have not passed", "get them to pass, then rerun"),
    "security_policy_violations": ("security policies block it", "merge it by hand once the policy allows"),
    "locked_paths": ("it changes locked paths", "get the paths unlocked, or merge it by hand"),
    "locked_lfs_files": ("it changes locked LFS files", "get them unlocked, or merge it by hand"),
    "title_regex": ("its title does not match the project's required pattern", "merge it by hand"),
}
_DEFAULT_BLOCKER = ("GitLab does not allow the merge now", "open the merge request in GitLab to see why")
#: without ``Retry-After`` or ``RateLimit-Reset``, wait a minute (GitLab's throttles count per minute or hour)
_DEFAULT_RATE_LIMIT_DELAY = 60.0


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


def rate_limit_delay(headers: Mapping[str, Any], now: float) -> float:
    """Seconds to wait after a 429 (``now`` in epoch seconds): ``Retry-After``, else until ``RateLimit-Reset``."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    try:
        if "retry-after" in lowered:
            return max(float(lowered["retry-after"]), 1.0)
        if "ratelimit-reset" in lowered:
            return max(float(lowered["ratelimit-reset"]) - now, 1.0)
    except (TypeError, ValueError):
        pass
    return _DEFAULT_RATE_LIMIT_DELAY


def http_failure(
    operation: str, project: str, status: int, remote: str, *, delay: float | None = None
) -> GitRollbackError:
    """The gitrollback error for a GitLab HTTP error status (429 -> ``TemporaryError`` after ``delay``)."""
    message = f"GitLab {operation} in {project}: {status_text(status, remote)}"
    hint = STATUS_HINTS.get(status, "GitLab failed; retry later or check its status page")
    if status == 429:
        wait = _DEFAULT_RATE_LIMIT_DELAY if delay is None else delay
        return TemporaryError(f"{message} (retry in {wait:.0f}s)", delay=wait, hint=hint, kind="rate_limited")
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


def change_request(
    data: Mapping[str, Any],
    *,
    created: bool = False,
    body_updated: bool = False,
    reviewers_refused: tuple[str, ...] = (),
) -> ChangeRequest:
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
        reviewers_refused=reviewers_refused,
    )


def status_text(status: int, remote: str) -> str:
    """``"404 Not found"``: the status once, even when GitLab's message already starts with it."""
    return remote if remote.startswith(str(status)) else f"{status} {remote}".strip()


def merge_blocked(
    number: int, reason: str, *, status: int = 405, remote: str = "", what: str | None = None
) -> ConflictError:
    """GitLab will not merge ``!number`` now; ``reason`` is its ``detailed_merge_status`` (and the error's kind)."""
    known, hint = MERGE_STATUS_HINTS.get(reason, _DEFAULT_BLOCKER)
    what = what or known
    return ConflictError(
        f"GitLab will not merge !{number}: {what} (detailed_merge_status: {reason or 'unknown'})",
        adapter=ADAPTER,
        operation="merge merge request",
        status=status,
        remote_message=remote or reason,
        hint=hint,
        kind=reason or "not_mergeable",
    )


def merge_refused(number: int, *, status: int, remote: str, reason: str) -> ConflictError:
    """GitLab kept refusing ``PUT .../merge`` (405/406/409/422) until the deadline; ``reason`` is the latest
    ``detailed_merge_status``. A 409 is the ``sha`` guard: the rollback branch moved while merging."""
    if status == 409:
        return ConflictError(
            f"GitLab refused to merge !{number}: {status_text(status, remote)}",
            adapter=ADAPTER,
            operation="merge merge request",
            status=status,
            remote_message=remote,
            hint="the rollback branch moved after it was read; review it, then rerun",
            kind="head_moved",
        )
    _, hint = MERGE_STATUS_HINTS.get(reason, _DEFAULT_BLOCKER)
    if reason == "mergeable":
        hint = "GitLab kept refusing although it reports the merge request mergeable; merge it in GitLab"
    detail = f" (detailed_merge_status: {reason})" if reason else ""
    return ConflictError(
        f"GitLab refused to merge !{number}: {status_text(status, remote)}{detail}",
        adapter=ADAPTER,
        operation="merge merge request",
        status=status,
        remote_message=remote,
        hint=hint,
        kind=reason if reason and reason != "mergeable" else "not_mergeable",
    )


def mergeability_timeout(number: int, reason: str, waited: float) -> WaitTimeoutError:
    """GitLab did not settle (or did not merge on its own) within the merge deadline."""
    if reason == "auto_merge":
        return WaitTimeoutError(
            f"GitLab merge request !{number} was set to merge when its pipeline succeeds, and was not merged "
            f"within {waited:.0f}s",
            waited=waited,
            last_state="auto-merge set, pipeline running",
            hint="the pipeline is slow; GitLab still merges it when it succeeds: rerun then (or raise "
            "gitops.merge_timeout_seconds)",
            kind="pipeline_still_running",
        )
    return WaitTimeoutError(
        f"GitLab did not settle whether !{number} can be merged within {waited:.0f}s (last: {reason})",
        waited=waited,
        last_state=reason,
        hint="GitLab's background jobs are slow; rerun gitrollback (it finds the merge request), or merge it by hand",
        kind="mergeability_unknown",
    )


def auto_merge_cancelled(number: int) -> ConflictError:
    """Someone turned off the auto-merge gitrollback set; it is not turned on again."""
    return ConflictError(
        f"GitLab merge request !{number}: the automatic merge gitrollback set was cancelled",
        adapter=ADAPTER,
        operation="merge merge request",
        status=409,
        remote_message="merge_when_pipeline_succeeds: false",
        hint="someone cancelled it on purpose; merge it by hand when ready, then rerun gitrollback",
        kind="auto_merge_cancelled",
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


def unknown_reviewer(username: str) -> str:
    """The warning for a configured reviewer GitLab does not know (``GET /users?username=`` found nobody)."""
    return (
        f"GitLab user {username!r} not found; the merge request goes on without that reviewer: "
        "fix gitops.reviewers (GitLab usernames of people with access to the project)"
    )
