"""``gitops.scm: gitlab-rest``: merge requests through GitLab's REST API v4 with urllib.

The factory receives the provider's ``gitops`` settings (``project``, ``base_url``, ``poll_interval``, ``options``)
and keyword arguments: ``token`` and ``clock`` (sleep on it, never on ``time.sleep``, so tests run on simulated time).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from gitrollback.errors import RemoteHTTPError, StepError, WaitTimeoutError
from gitrollback.models import ChangeRequest
from gitrollback.ports import Clock, SourceHost
from gitrollback.settings import GitOpsSettings
from gitrollback_example_plugins._http import call

#: GitLab computes mergeability in the background; these say "not yet"
_CHECKING = {"unchecked", "checking", "preparing", "approvals_syncing"}


class GitLabRestHost:
    """A ``SourceHost`` for GitLab: open, merge and wait for merge requests."""

    def __init__(self, base_url: str, project: str, *, token: str, clock: Clock, poll_interval: float) -> None:
        self._api = f"{base_url.rstrip('/')}/api/v4/projects/{urllib.parse.quote(project, safe='')}"
        self._headers = {"PRIVATE-TOKEN": token, "Accept": "application/json"}
        self._clock = clock
        self._poll = poll_interval

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        return call(method, self._api + path, headers=self._headers, body=body)

    @staticmethod
    def _change_request(data: dict[str, Any], *, created: bool = False) -> ChangeRequest:
        state = {"opened": "open", "merged": "merged"}.get(str(data.get("state")), "closed")
        return ChangeRequest(
            host="gitlab",
            number=int(data["iid"]),
            url=str(data.get("web_url", "")),
            state=state,  # type: ignore[arg-type]
            source_branch=str(data.get("source_branch", "")),
            target_branch=str(data.get("target_branch", "")),
            title=str(data.get("title", "")),
            head_sha=str(data.get("sha") or ""),
            merge_commit=data.get("merge_commit_sha") or data.get("squash_commit_sha") or None,
            created=created,
        )

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
        """Open the merge request, or return the open one for the same branches (its description refreshed)."""
        query = urllib.parse.urlencode(
            {"state": "opened", "source_branch": source_branch, "target_branch": target_branch}
        )
        for existing in self._request("GET", f"/merge_requests?{query}"):
            if existing.get("description") == body:
                return self._change_request(existing)
            updated = self._request("PUT", f"/merge_requests/{existing['iid']}", {"description": body})
            return self._change_request(updated)
        payload = {
            "source_branch": source_branch,
            "target_branch": target_branch,
            "title": title,
            "description": body,
            "labels": ",".join(labels),
        }
        return self._change_request(self._request("POST", "/merge_requests", payload), created=True)

    def merge(self, number: int, *, message: str | None = None) -> ChangeRequest:
        """Merge once GitLab has decided the merge request is mergeable."""
        for _ in range(60):
            data = self._request("GET", f"/merge_requests/{number}")
            if data.get("state") == "merged":
                return self._change_request(data)
            if data.get("detailed_merge_status") not in _CHECKING:
                break
            self._clock.sleep(self._poll)
        body = {"merge_commit_message": message} if message else {}
        try:
            return self._change_request(self._request("PUT", f"/merge_requests/{number}/merge", body))
        except RemoteHTTPError as exc:
            raise StepError(f"GitLab refused to merge !{number}: {exc}", step="merge") from exc

    def wait_merged(self, number: int, *, timeout: float) -> ChangeRequest:
        """Poll until merged (closed is a failure) or ``timeout`` seconds passed."""
        start = self._clock.monotonic()
        while True:
            data = self._request("GET", f"/merge_requests/{number}")
            if data.get("state") == "merged":
                return self._change_request(data)
            if data.get("state") == "closed":
                raise StepError(f"merge request !{number} was closed without merging", step="merge")
            waited = self._clock.monotonic() - start
            if waited >= timeout:
                raise WaitTimeoutError(f"merge request !{number} was not merged", waited=waited, last_state="open")
            self._clock.sleep(self._poll)


def factory(settings: GitOpsSettings, *, token: str, clock: Clock | None = None, **_: Any) -> SourceHost:
    """Build the host from the ``gitops:`` section (``project`` and ``base_url`` are required)."""
    from gitrollback.clock import SystemClock
    from gitrollback.errors import ConfigError

    if not settings.project or not settings.base_url:
        raise ConfigError("gitlab-rest needs gitops.project and gitops.base_url", key="gitops")
    return GitLabRestHost(
        settings.base_url,
        settings.project,
        token=token,
        clock=clock or SystemClock(),
        poll_interval=settings.poll_interval,
    )
