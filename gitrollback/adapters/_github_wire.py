"""GitHub's error replies read without PyGithub: messages, hints, rate-limit delays and merge refusals.

``gitrollback.adapters.github`` is the only module allowed to import PyGithub, and it keeps the vendor
exception table; what the *reply* means is decided here, on plain values, so the rules can be read (and
tested) without the client. GitHub error bodies are ``{"message", "documentation_url", "errors": [...]}``
(``docs/test-infra.md`` §2a); rate limits come with ``Retry-After`` or ``X-RateLimit-Reset``. Merge
refusals are 405 for "not mergeable" (conflict or closed), branch protection ("Required status check ...",
"... approving review is required ...") and disabled merge methods, and 409 when the head moved after the
``sha`` guard was read; they become ``ConflictError`` when rerunning gitrollback can fix them and
``PermissionDeniedError`` when a person or a policy must act.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitrollback.errors import ConflictError, PermissionDeniedError, RemoteHTTPError
from gitrollback.models import ChangeRequest

__all__ = ["ADAPTER", "STATUS_HINTS", "TOKEN_HINT", "merge_refusal", "rate_limit_delay", "remote_message"]

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
    """Seconds to wait before retrying, from ``Retry-After`` or ``X-RateLimit-Reset`` (epoch seconds)."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    try:
        if "retry-after" in lowered:
            return max(float(lowered["retry-after"]), 1.0)
        if "x-ratelimit-reset" in lowered:
            return max(float(lowered["x-ratelimit-reset"]) - now, 1.0)
    except (TypeError, ValueError):
        pass
    return _DEFAULT_RATE_LIMIT_DELAY


def merge_refusal(status: int, remote: str, repo: str, pr: ChangeRequest) -> RemoteHTTPError | None:
    """The error for GitHub refusing ``PUT /pulls/{n}/merge``; None when the status is not a refusal."""
    lowered = remote.lower()
    cls: type[RemoteHTTPError]
    if status == 409:
        cls, hint = ConflictError, f"{pr.source_branch} changed after it was read; review it, then rerun gitrollback"
    elif status == 405 and "not mergeable" in lowered and pr.state == "closed":
        cls, hint = ConflictError, f"{pr.url} is closed; reopen it, or rerun gitrollback to open a new one"
    elif status == 405 and "not mergeable" in lowered:
        cls, hint = (
            ConflictError,
            (
                f"{pr.source_branch} conflicts with {pr.target_branch}; rerun gitrollback to rebuild the rollback "
                f"commit on the current {pr.target_branch}"
            ),
        )
    elif status == 405 and "was modified" in lowered:
        cls, hint = ConflictError, f"{pr.target_branch} moved during the merge; retry the merge"
    elif status == 405 and "merge method" in lowered:
        cls, hint = PermissionDeniedError, "the repository does not allow merge commits; merge it by hand"
    elif status in (403, 405):
        cls, hint = (
            PermissionDeniedError,
            (
                f"{pr.target_branch} is protected and refuses the merge now; get the required checks and reviews, "
                f"then merge {pr.url} by hand (or set wait_for_merge instead of auto_merge)"
            ),
        )
    else:
        return None
    text = f"GitHub refused to merge {repo}#{pr.number} ({status}): {remote}"
    return cls(text, adapter=ADAPTER, operation="merge", status=status, remote_message=remote, hint=hint)
