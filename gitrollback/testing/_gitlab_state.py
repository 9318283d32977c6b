"""The GitLab simulator's in-memory records, its mergeability rules, and their GitLab API v4 JSON shapes.

Projects, merge requests, notes and users are plain mutable dataclasses guarded by the simulator's lock;
git data (branch tips, conflicts) always comes live from the project's bare repository, so a push over
smart HTTP or a plain ``git push`` to the path is visible at once, as on GitLab after its push hooks ran.

**Mergeability is asynchronous** (gitlab-org/gitlab ``app/models/merge_request.rb`` and
``app/services/merge_requests/mergeability/detailed_merge_status_service.rb``). A new merge request is
``preparing`` while its diff is prepared, then ``unchecked``; reading it through the API starts a background
check (``checking``), which settles into ``can_be_merged`` or ``cannot_be_merged``. A push to its source or
target branch makes it ``unchecked`` again. Here each phase lasts half of ``mergeability_delay`` seconds of the
simulator's clock (0: settled at once). Once settled, ``detailed_merge_status`` is the first failing check in
GitLab's order: the Enterprise ``not_approved`` first, then ``not_open``, ``draft_status``, ``broken_status``,
``discussions_not_resolved``, then the git checks ``conflict`` and ``need_rebase``, and last the pipeline:
``ci_still_running`` while the head pipeline runs, ``ci_must_pass`` when it did not succeed, both only under
"Pipelines must succeed". Otherwise ``mergeable``.

The JSON renderers fill the fields python-gitlab navigates by (project ``id``, MR ``iid`` and ``project_id``;
the attributes python-gitlab's ``RESTObject`` uses as ids) plus the ones callers read (``web_url``, ``state``,
``sha``, ``merge_commit_sha``, ``detailed_merge_status``, ``labels``, ``reviewers``, ``head_pipeline``).
Every URL is built from the base URL of the request being answered (scheme, ``Host`` header and the
relative URL root), never a fixed host: python-gitlab warns when a response URL differs from its base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gitrollback.testing import _gitlab_git as git

__all__ = [
    "PIPELINE_RUNNING",
    "UNSETTLED",
    "MergeRequest",
    "Note",
    "Project",
    "User",
    "now_iso",
    "render_branch",
    "render_mr",
    "render_note",
    "render_project",
    "render_user",
]

_DRAFT_PREFIXES = ("draft:", "[draft]", "(draft)")
#: ``detailed_merge_status`` values that only mean "not known yet"
UNSETTLED = ("preparing", "unchecked", "checking")
#: pipeline statuses GitLab counts as in progress (``Ci::HasStatus::ACTIVE_STATUSES`` plus ``created``)
PIPELINE_RUNNING = frozenset({"created", "waiting_for_resource", "preparing", "pending", "running", "scheduled"})


def now_iso(at: datetime) -> str:
    """``at`` in GitLab's timestamp format: UTC with milliseconds and a ``Z``."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass
class User:
    """A GitLab user (the token's owner, or one added as a possible reviewer)."""

    id: int
    username: str
    name: str


@dataclass
class Note:
    """A comment on a merge request."""

    id: int
    body: str
    author_id: int
    created_at: str


@dataclass
class MergeRequest:
    """One merge request; ``sha`` is filled from git when rendered, frozen at merge time."""

    id: int
    iid: int
    project_id: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    author_id: int
    created_at: str
    updated_at: str
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    reviewer_ids: list[int] = field(default_factory=list)
    merged_at: str | None = None
    closed_at: str | None = None
    merge_commit_sha: str | None = None
    merged_sha: str | None = None
    merged_by_id: int | None = None
    notes: list[Note] = field(default_factory=list)
    approved_by: set[int] = field(default_factory=set)
    unresolved_discussions: int = 0
    #: auto-merge ("merge when pipeline succeeds") set by this user, or None
    auto_merge_by: int | None = None
    # -- the mergeability lifecycle: diff prepared at, the (source, target) being checked and when that ends,
    # and the (source, target) the settled result is for
    prepared_at: datetime | None = None
    checking_of: tuple[str, str] | None = None
    check_done_at: datetime | None = None
    checked_of: tuple[str, str] | None = None

    @property
    def draft(self) -> bool:
        """GitLab treats a ``Draft:`` (or ``[Draft]``/``(Draft)``) title prefix as a draft."""
        return self.title.lower().startswith(_DRAFT_PREFIXES)


@dataclass
class Project:
    """A project backed by the bare repository ``repo``; fault switches live here too."""

    id: int
    path_with_namespace: str
    repo: Path
    default_branch: str
    #: protected branch -> whether the token's user may merge into it
    protected: dict[str, bool] = field(default_factory=dict)
    pipeline_status: str | None = None
    only_allow_merge_if_pipeline_succeeds: bool = False
    only_allow_merge_if_all_discussions_are_resolved: bool = False
    approvals_required: int = 0
    #: ``merge`` (a merge commit), ``rebase_merge`` (a merge commit, source must contain the target) or ``ff``
    merge_method: str = "merge"
    next_iid: int = 1
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    #: the token's user's access level on the project (``Gitlab::Access``: 30 Developer, 40 Maintainer)
    access_level: int = 40

    def may_merge(self, branch: str) -> bool:
        """False when ``branch`` is protected and the token's user is not among those allowed to merge."""
        return self.protected.get(branch, True)

    def _shas(self, mr: MergeRequest) -> tuple[str | None, str | None]:
        source = git.rev(self.repo, f"refs/heads/{mr.source_branch}")
        return source, git.rev(self.repo, f"refs/heads/{mr.target_branch}")

    def lifecycle(self, mr: MergeRequest, now: datetime, delay: float, *, recheck: bool) -> str:
        """``preparing``, ``unchecked``, ``checking`` or ``checked``; ``recheck`` starts a check that is due (as the
        single-MR API read and the merge endpoint do; lists do not)."""
        if mr.prepared_at is not None and now < mr.prepared_at:
            return "preparing"
        source, target = self._shas(mr)
        if source is None or target is None:
            return "checked"  # nothing to check: the broken_status check reports it
        shas = (source, target)
        if mr.checked_of == shas:
            return "checked"
        if mr.checking_of == shas and mr.check_done_at is not None:
            if now >= mr.check_done_at:
                mr.checked_of = shas
                return "checked"
            return "checking"
        if recheck or delay <= 0:
            mr.checking_of, mr.check_done_at = shas, now + timedelta(seconds=delay / 2)
            return self.lifecycle(mr, now, delay, recheck=False)
        return "unchecked"

    def state_failure(self, mr: MergeRequest, *, skip_ci: bool) -> str | None:
        """The first failing check of GitLab's ``mergeable_state?`` (EE's approvals first), or None."""
        if len(mr.approved_by) < self.approvals_required:
            return "not_approved"
        if mr.state != "opened":
            return "not_open"
        if mr.draft:
            return "draft_status"
        source, target = self._shas(mr)
        if source is None or target is None:
            return "broken_status"
        if self.only_allow_merge_if_all_discussions_are_resolved and mr.unresolved_discussions > 0:
            return "discussions_not_resolved"
        return None if skip_ci else self.ci_failure()

    def git_failure(self, mr: MergeRequest) -> str | None:
        """The first failing git check (``mergeable_git_state?``): ``conflict``, then ``need_rebase``."""
        source, target = self._shas(mr)
        if source is None or target is None:
            return "broken_status"
        if git.conflicts(self.repo, target, source):
            return "conflict"
        if self.merge_method in ("rebase_merge", "ff") and not git.is_ancestor(self.repo, target, source):
            return "need_rebase"
        return None

    def ci_failure(self) -> str | None:
        """Under "Pipelines must succeed": ``ci_still_running`` while the pipeline runs, ``ci_must_pass`` when it
        did not succeed (or none ran)."""
        if not self.only_allow_merge_if_pipeline_succeeds or self.pipeline_status == "success":
            return None
        return "ci_still_running" if self.pipeline_status in PIPELINE_RUNNING else "ci_must_pass"

    def mergeability(self, mr: MergeRequest, now: datetime, delay: float, *, recheck: bool) -> tuple[str, str, bool]:
        """``(merge_status, detailed_merge_status, has_conflicts)`` as the API reports them now."""
        if mr.state != "opened":
            return "cannot_be_merged", "not_open", False
        phase = self.lifecycle(mr, now, delay, recheck=recheck)
        if phase != "checked":
            return phase, phase, False
        git_failure = self.git_failure(mr)
        merge_status = "cannot_be_merged" if git_failure == "conflict" else "can_be_merged"
        detailed = self.state_failure(mr, skip_ci=True) or git_failure or self.ci_failure() or "mergeable"
        return merge_status, detailed, git_failure == "conflict"


def render_user(user: User, base: str) -> dict[str, Any]:
    """A user in the ``UserBasic`` shape."""
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "state": "active",
        "locked": False,
        "avatar_url": None,
        "web_url": f"{base}/{user.username}",
    }


def render_project(project: Project, base: str) -> dict[str, Any]:
    """A project as ``GET /projects/:id`` returns it (the fields clients use)."""
    namespace, _, name = project.path_with_namespace.rpartition("/")
    web_url = f"{base}/{project.path_with_namespace}"
    host = base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return {
        "id": project.id,
        "name": name,
        "path": name,
        "name_with_namespace": " / ".join(project.path_with_namespace.split("/")),
        "path_with_namespace": project.path_with_namespace,
        "namespace": {
            "id": 1000 + project.id,
            "name": namespace.rsplit("/", 1)[-1],
            "path": namespace.rsplit("/", 1)[-1],
            "kind": "group",
            "full_path": namespace,
        },
        "default_branch": project.default_branch,
        "visibility": "private",
        "web_url": web_url,
        "http_url_to_repo": f"{web_url}.git",
        "ssh_url_to_repo": f"git@{host}:{project.path_with_namespace}.git",
        "merge_method": "merge",
        "only_allow_merge_if_pipeline_succeeds": project.only_allow_merge_if_pipeline_succeeds,
        # the caller's own rights (GitLab's API docs, "Get a single project": permissions for the current user)
        "permissions": {
            "project_access": {"access_level": project.access_level, "notification_level": 3}
            if project.access_level
            else None,
            "group_access": None,
        },
        "archived": False,
        "_links": {
            "self": f"{base}/api/v4/projects/{project.id}",
            "merge_requests": f"{base}/api/v4/projects/{project.id}/merge_requests",
            "repo_branches": f"{base}/api/v4/projects/{project.id}/repository/branches",
        },
    }


def render_mr(
    project: Project, mr: MergeRequest, users: dict[int, User], base: str, status: tuple[str, str, bool]
) -> dict[str, Any]:
    """A merge request as the single and list routes return it; ``status`` is ``Project.mergeability``'s answer."""
    merge_status, detailed, has_conflicts = status
    sha = mr.merged_sha if mr.state == "merged" else git.rev(project.repo, f"refs/heads/{mr.source_branch}")
    web_url = f"{base}/{project.path_with_namespace}/-/merge_requests/{mr.iid}"
    pipeline = None
    if project.pipeline_status is not None and sha is not None:
        pipeline = {
            "id": 70000 + mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "sha": sha,
            "ref": mr.source_branch,
            "status": project.pipeline_status,
            "source": "merge_request_event",
            "web_url": f"{base}/{project.path_with_namespace}/-/pipelines/{70000 + mr.id}",
        }
    merged_by = render_user(users[mr.merged_by_id], base) if mr.merged_by_id in users else None
    merge_user = mr.merged_by_id or mr.auto_merge_by
    return {
        "id": mr.id,
        "iid": mr.iid,
        "project_id": project.id,
        "source_project_id": project.id,
        "target_project_id": project.id,
        "title": mr.title,
        "description": mr.description,
        "state": mr.state,
        "created_at": mr.created_at,
        "updated_at": mr.updated_at,
        "merged_at": mr.merged_at,
        "closed_at": mr.closed_at,
        "merged_by": merged_by,
        "source_branch": mr.source_branch,
        "target_branch": mr.target_branch,
        "author": render_user(users[mr.author_id], base),
        "assignees": [],
        "reviewers": [render_user(users[uid], base) for uid in mr.reviewer_ids if uid in users],
        "labels": list(mr.labels),
        "draft": mr.draft,
        "work_in_progress": mr.draft,
        "merge_status": merge_status,
        "detailed_merge_status": detailed,
        "has_conflicts": has_conflicts,
        "blocking_discussions_resolved": mr.unresolved_discussions == 0,
        "merge_when_pipeline_succeeds": mr.auto_merge_by is not None,
        "merge_user": render_user(users[merge_user], base) if merge_user in users else None,
        "sha": sha,
        "merge_commit_sha": mr.merge_commit_sha,
        "squash_commit_sha": None,
        "head_pipeline": pipeline,
        "user_notes_count": len(mr.notes),
        "should_remove_source_branch": None,
        "force_remove_source_branch": False,
        "references": {
            "short": f"!{mr.iid}",
            "relative": f"!{mr.iid}",
            "full": f"{project.path_with_namespace}!{mr.iid}",
        },
        "web_url": web_url,
    }


def render_note(mr: MergeRequest, note: Note, users: dict[int, User], base: str) -> dict[str, Any]:
    """A merge request note."""
    return {
        "id": note.id,
        "type": None,
        "body": note.body,
        "author": render_user(users[note.author_id], base),
        "created_at": note.created_at,
        "updated_at": note.created_at,
        "system": False,
        "noteable_id": mr.id,
        "noteable_type": "MergeRequest",
        "noteable_iid": mr.iid,
        "project_id": mr.project_id,
        "resolvable": False,
        "confidential": False,
        "internal": False,
    }


def render_branch(project: Project, name: str, head: git.BranchHead, base: str) -> dict[str, Any]:
    """A branch as ``GET /projects/:id/repository/branches/:branch`` returns it."""
    web = f"{base}/{project.path_with_namespace}"
    protected = name in project.protected
    return {
        "name": name,
        "merged": False,
        "protected": protected,
        "default": name == project.default_branch,
        "developers_can_push": not protected,
        "developers_can_merge": project.may_merge(name),
        "can_push": True,
        "web_url": f"{web}/-/tree/{name}",
        "commit": {
            "id": head.sha,
            "short_id": head.sha[:8],
            "title": head.title,
            "message": head.message,
            "author_name": head.author_name,
            "author_email": head.author_email,
            "authored_date": head.authored_date,
            "committed_date": head.committed_date,
            "parent_ids": list(head.parent_ids),
            "web_url": f"{web}/-/commit/{head.sha}",
        },
    }
