"""GitHub's replies read without PyGithub: messages, hints, rate-limit delays, mergeability and merge refusals.

``gitrollback.adapters.github`` is the only module allowed to import PyGithub, and it keeps the vendor
exception table; what the *reply* means is decided here, on plain values, so the rules can be read (and
tested) without the client. GitHub's REST API docs (docs.github.com/rest) are the source:

- error bodies are ``{"message", "documentation_url", "errors": [...]}``;
- rate limits ("Rate limits for the REST API"): a primary limit is 403 or 429 with ``X-RateLimit-Remaining: 0``
  and ``X-RateLimit-Reset`` (epoch seconds); a secondary limit is 403 or 429, with ``Retry-After`` when GitHub
  says how long; without either, wait at least a minute;
- ``mergeable`` ("Get a pull request") is null while a background job computes it, then true or false; false
  means the head conflicts with the base (``mergeable_state: dirty``). A merge sent while it is null is refused
  with 405 ``Pull Request is not mergeable`` although nothing conflicts (octokit/octokit.net#688), and a base
  that moves during the merge gives 405 ``Base branch was modified``: both are worth another look, not an error;
- other merge refusals are 405 for branch protection ("Required status check ...", "... approving review is
  required ...") and disabled merge methods, and 409 when the head moved after the ``sha`` guard was read.
  They become ``ConflictError`` when rerunning gitrollback can fix them and ``PermissionDeniedError`` when a
  person or a policy must act; each carries its own ``kind``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitrollback.errors import ConflictError, PermissionDeniedError, RemoteHTTPError, WaitTimeoutError
from gitrollback.models import ChangeRequest

__all__ = [
    "ADAPTER",
    "STATUS_HINTS",
    "TOKEN_HINT",
    "closed",
    "conflicting",
    "merge_refusal",
    "merge_refusal_is_transient",
    "mergeability_timeout",
    "not_a_collaborator",
    "rate_limit_delay",
    "remote_message",
]

ADAPTER = "github"
TOKEN_HINT = "check the GitHub token (GITHUB_TOKEN or the configured variable): it is missing, wrong or expired"
STATUS_HINTS: Mapping[int, str] = {
    401: TOKEN_HINT,
    403: "the token may not do this: it needs contents and pull-requests write access (classic: repo scope)",
    404: "check the repository (owner/name), the branch names and that the token can see the repository",
    409: "the repository changed under the request; rerun gitrollback",
    422: "GitHub rejected the values; see its message",
}
_DEFAULT_RATE_LIMIT_DELAY = 60.0


def remote_message(data: Any, fallback: str | None, status: int) -> str:
    """GitHub's ``message`` plus every ``errors[].message`` (or field and code), as one line."""
    body = data if isinstance(data, Mapping) else {}
    parts = [str(body.get("message") or fallback or "").strip()]
    for error in body.get("errors") or ():
        if isinstance(error, Mapping):
            parts.append(
                str(error.get("message") or " ".join(str(error[k]) for k in ("field", "code") if error.get(k)))
            )
        elif error:
            parts.append(str(error))
    return ": ".join(p for p in parts if p) or f"HTTP {status}"


def rate_limit_delay(headers: Mapping[str, Any], now: float) -> float:
    """Seconds to wait before retrying a rate-limited request (``now`` in epoch seconds).

    ``Retry-After`` first; then, when ``X-RateLimit-Remaining`` is 0, until ``X-RateLimit-Reset``; else a minute
    (GitHub's advice for a secondary limit that names no time).
    """
    lowered = {str(k).lower(): v for k, v in headers.items()}
    try:
        if "retry-after" in lowered:
            return max(float(lowered["retry-after"]), 1.0)
        if str(lowered.get("x-ratelimit-remaining", "")).strip() == "0" and "x-ratelimit-reset" in lowered:
            return max(float(lowered["x-ratelimit-reset"]) - now, 1.0)
    except (TypeError, ValueError):
        pass
    return _DEFAULT_RATE_LIMIT_DELAY


def merge_refusal_is_transient(status: int, remote: str) -> bool:
    """A 405 that says nothing final: mergeability still computing, or the base moved during the merge."""
    lowered = remote.lower()
    return status == 405 and ("not mergeable" in lowered or "base branch was modified" in lowered)


def closed(repo: str, pr: ChangeRequest) -> ConflictError:
    """The pull request to merge is closed (checked before asking GitHub, which would answer 405)."""
    return ConflictError(
        f"GitHub pull request {repo}#{pr.number} is closed; it cannot be merged",
        adapter=ADAPTER,
        operation="merge",
        status=405,
        remote_message="state: closed",
        hint=f"{pr.url} is closed; reopen it, or rerun gitrollback to open a new one",
        kind="closed",
    )


def conflicting(repo: str, pr: ChangeRequest, mergeable_state: str) -> ConflictError:
    """GitHub computed ``mergeable: false``: the rollback branch conflicts with the target branch."""
    remote = f"mergeable: false (mergeable_state: {mergeable_state or 'dirty'})"
    return ConflictError(
        f"GitHub reports {repo}#{pr.number} not mergeable: {pr.source_branch} conflicts with {pr.target_branch}",
        adapter=ADAPTER,
        operation="merge",
        status=409,
        remote_message=remote,
        hint=(
            f"{pr.target_branch} changed the same files since the rollback commit was made; resolve the conflict "
            f"on {pr.url} (or close it and rerun gitrollback to rebuild the rollback on the current "
            f"{pr.target_branch})"
        ),
        kind="conflict",
    )


def mergeability_timeout(repo: str, pr: ChangeRequest, waited: float) -> WaitTimeoutError:
    """GitHub's background job did not report ``mergeable`` within the merge deadline."""
    return WaitTimeoutError(
        f"GitHub did not compute whether {repo}#{pr.number} is mergeable within {waited:.0f}s",
        waited=waited,
        last_state="mergeable: null",
        hint=f"GitHub may be slow; merge {pr.url} by hand, or rerun gitrollback (it finds the pull request again)",
        kind="mergeability_unknown",
    )


def not_a_collaborator(repo: str, number: int, login: str, remote: str) -> str:
    """The warning for a reviewer GitHub would not request (422: only collaborators may review)."""
    return (
        f"GitHub would not request a review of {repo}#{number} from {login!r} ({remote}); the pull request goes "
        f"on without that reviewer: make {login!r} a collaborator, or fix gitops.reviewers"
    )


def merge_refusal(status: int, remote: str, repo: str, pr: ChangeRequest) -> RemoteHTTPError | None:
    """The error for GitHub refusing ``PUT /pulls/{n}/merge``; None when the status is not a refusal.

    A transient 405 (``merge_refusal_is_transient``) only gets here when it outlasted the merge deadline.
    """
    lowered = remote.lower()
    cls: type[RemoteHTTPError]
    if status == 409:
        cls, kind = ConflictError, "head_moved"
        hint = f"{pr.source_branch} changed after it was read; review it, then rerun gitrollback"
    elif status == 405 and "not mergeable" in lowered:
        cls, kind = ConflictError, "not_mergeable"
        hint = f"GitHub kept refusing {pr.url} although it reported it mergeable; look at it and merge it by hand"
    elif status == 405 and "was modified" in lowered:
        cls, kind = ConflictError, "base_moved"
        hint = f"{pr.target_branch} kept moving during the merge; rerun gitrollback"
    elif status == 405 and ("merge method" in lowered or "are not allowed on this repository" in lowered):
        cls, kind = PermissionDeniedError, "merge_method"
        hint = "the repository does not allow merge commits; merge it by hand"
    elif status in (403, 405):
        cls, kind = PermissionDeniedError, "branch_protection"
        hint = (
            f"{pr.target_branch} is protected and refuses the merge now; get the required checks and reviews, "
            f"then merge {pr.url} by hand (or set wait_for_merge instead of auto_merge)"
        )
    else:
        return None
    text = f"GitHub refused to merge {repo}#{pr.number} ({status}): {remote}"
    return cls(text, adapter=ADAPTER, operation="merge", status=status, remote_message=remote, hint=hint, kind=kind)
