"""The GitHub simulator's state and rules: repositories, pull requests, labels, reviewers, comments, merges.

Kept apart from HTTP so the rules read as GitHub's own (REST API docs, docs.github.com/rest/pulls): what makes
``POST /pulls`` a 422 (missing title, unknown head or base, no commits between them, an open pull request for
the same head and base already exists, with GitHub's exact ``A pull request already exists for
acme:rollback/abc.``), and what makes ``PUT /pulls/{n}/merge`` refuse: 405 ``Pull Request is not mergeable`` on
conflicts, on a closed pull request, and while mergeability is still being computed; 409 ``Head branch was
modified. Review and try the merge again.`` when the ``sha`` guard does not match; and 405 with the
branch-protection wording (``Required status check "ci" is expected.``, ``At least 1 approving review is
required by reviewers with write access.``) when the base branch is protected. Merges are real:
``_github_git.Plumbing`` writes the merge commit into the bare repo.

**Mergeability is computed in the background**, as on GitHub ("Get a pull request": ``mergeable`` is null
while a background job computes it; a merge sent meanwhile is refused with the 405 above although nothing
conflicts, as reported in octokit/octokit.net#688). Here the job takes ``mergeability_delay`` seconds of the
simulator's clock, and starts again whenever the pull request's head or base moves (a push to either branch,
or another merge into the base). The job starts when the simulator first sees the move, which for a push is
the next request that reads the pull request.

**Review requests go to collaborators only**: anyone else (including a login that does not exist) gets GitHub's
422 ``Reviews may only be requested from collaborators. ...``; the owner and the token's user always are
collaborators, and the author cannot be asked (``Review cannot be requested from pull request author.``).

Simplifications (decided here, not in the contract): commit statuses are per repository and context, not per
commit; the failing-check wording ``Required status check "ci" is failing.`` is **(unverified)**; forks are
not modelled (``head`` must name a branch of the same repository); only ``merge`` and ``squash`` merge
methods are enabled, ``rebase`` gets GitHub's "not allowed on this repository" refusal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gitrollback.testing._github_git import GitIdentity, Plumbing

__all__ = ["ApiError", "GitHubState", "Protection", "SimComment", "SimPull", "SimRepo"]

DOCS = "https://docs.github.com/rest"
PROTECTED_DOCS = "https://help.github.com/articles/about-protected-branches"
GITHUB_COMMITTER = GitIdentity("GitHub", "noreply@github.com")


class ApiError(Exception):
    """A GitHub error reply: status plus the JSON body GitHub sends."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        documentation_url: str = DOCS,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.payload: dict[str, Any] = {"message": message, "documentation_url": documentation_url}
        if errors:
            self.payload["errors"] = [dict(e) for e in errors]
        self.payload["status"] = str(status)


def _validation(*errors: Mapping[str, Any]) -> ApiError:
    return ApiError(422, "Validation Failed", errors=errors)


@dataclass
class SimPull:
    """One pull request, as the simulator stores it (copies are handed out for assertions)."""

    number: int
    id: int
    title: str
    body: str | None
    head_ref: str
    base_ref: str
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    head_sha: str = ""
    base_sha: str = ""
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    closed_at: datetime | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)
    approvals: set[str] = field(default_factory=set)
    #: when the background mergeability job for ``mergeability_of`` (head, base) finishes
    mergeable_at: datetime | None = None
    mergeability_of: tuple[str, str] = ("", "")


@dataclass
class SimComment:
    """One issue comment on a pull request."""

    id: int
    issue_number: int
    body: str
    user: str
    created_at: datetime


@dataclass(frozen=True)
class Protection:
    """Branch protection: required status check contexts and required approving reviews."""

    required_checks: tuple[str, ...] = ()
    required_approvals: int = 0


@dataclass
class SimRepo:
    """One repository: a bare git repo plus its pull requests and settings."""

    owner: str
    name: str
    id: int
    git: Plumbing
    default_branch: str
    pulls: dict[int, SimPull] = field(default_factory=dict)
    comments: list[SimComment] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    protections: dict[str, Protection] = field(default_factory=dict)
    check_states: dict[str, str] = field(default_factory=dict)
    collaborators: set[str] = field(default_factory=set)
    next_number: int = 1
    #: the token's user's role on the repository (docs.github.com "Repository roles for an organization")
    role: str = "admin"

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"

    @property
    def path(self) -> Path:
        """The bare repository on disk."""
        return self.git.path


class GitHubState:
    """All repositories of one simulator; every public method holds one lock."""

    def __init__(self, now: Callable[[], datetime], *, mergeability_delay: float = 0.0) -> None:
        self.now = now
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], SimRepo] = {}
        self.mergeability_delay = mergeability_delay
        self._ids = 1000

    def next_id(self) -> int:
        """A fresh object id (GitHub ids are global and numeric)."""
        with self.lock:
            self._ids += 1
            return self._ids

    def add(self, owner: str, name: str, git: Plumbing, default_branch: str) -> SimRepo:
        """Register a repository."""
        with self.lock:
            repo = SimRepo(owner, name, self.next_id(), git, default_branch)
            self.repos[(owner.lower(), name.lower())] = repo
            return repo

    def repo(self, owner: str, name: str) -> SimRepo:
        """The repository, or a 404 (GitHub matches owner and name case-insensitively)."""
        found = self.repos.get((owner.lower(), name.lower()))
        if found is None:
            raise ApiError(404, "Not Found", documentation_url=f"{DOCS}/repos/repos#get-a-repository")
        return found

    def pull(self, repo: SimRepo, number: int) -> SimPull:
        """One pull request with its head and base refreshed from git, or a 404."""
        pull = repo.pulls.get(number)
        if pull is None:
            raise ApiError(404, "Not Found", documentation_url=f"{DOCS}/pulls/pulls#get-a-pull-request")
        self.refresh(repo, pull)
        return pull

    def refresh(self, repo: SimRepo, pull: SimPull) -> None:
        """Open pull requests follow their branches; closed ones keep the tips they had.

        A head or base that moved starts the background mergeability job again.
        """
        if pull.state != "open":
            return
        pull.head_sha = repo.git.branch_sha(pull.head_ref) or pull.head_sha
        pull.base_sha = repo.git.branch_sha(pull.base_ref) or pull.base_sha
        if pull.mergeability_of != (pull.head_sha, pull.base_sha):
            pull.mergeability_of = (pull.head_sha, pull.base_sha)
            pull.mergeable_at = self.now() + timedelta(seconds=self.mergeability_delay)

    def mergeable(self, repo: SimRepo, pull: SimPull) -> bool | None:
        """GitHub's ``mergeable`` of an open pull request: None while the background job runs, else whether
        the head merges into the base without conflicts."""
        self.refresh(repo, pull)
        if pull.mergeable_at is not None and self.now() < pull.mergeable_at:
            return None
        return repo.git.merge_tree(pull.base_sha, pull.head_sha) is not None

    # -- pull requests ----------------------------------------------------------------------------------

    def list_pulls(
        self, repo: SimRepo, *, state: str = "open", head: str | None = None, base: str | None = None
    ) -> list[SimPull]:
        """Pulls filtered as ``GET /pulls`` does (``head`` is ``owner:branch``, matched on ``head.label``).

        A ``head`` without the ``owner:`` part is silently ignored by GitHub, which then lists every pull request
        (the REST docs ask for ``head=user:ref-name``; the ignore is GitHub's documented-by-users behaviour, e.g.
        PyGithub#1566): the simulator does the same, so a client that forgets the owner finds other pull
        requests here too instead of an empty list that would hide the bug.
        """
        if state not in ("open", "closed", "all"):
            raise _validation({"resource": "PullRequest", "field": "state", "code": "invalid"})
        if head is not None and ":" not in head:
            head = None
        with self.lock:
            found = []
            for pull in sorted(repo.pulls.values(), key=lambda p: p.number, reverse=True):
                if state not in ("all", pull.state):
                    continue
                if head is not None and f"{repo.owner}:{pull.head_ref}".lower() != head.lower():
                    continue
                if base is not None and pull.base_ref != base:
                    continue
                self.refresh(repo, pull)
                found.append(pull)
            return found

    def create_pull(self, repo: SimRepo, user: str, payload: Mapping[str, Any]) -> SimPull:
        """``POST /pulls``: validate like GitHub, then open it."""
        title, head, base = payload.get("title"), payload.get("head"), payload.get("base")
        for name, value in (("title", title), ("head", head), ("base", base)):
            if not isinstance(value, str) or not value:
                raise _validation({"resource": "PullRequest", "code": "missing_field", "field": name})
        assert isinstance(head, str) and isinstance(base, str) and isinstance(title, str)
        owner, _, branch = head.rpartition(":")
        with self.lock:
            if owner and owner.lower() != repo.owner.lower():
                raise _validation({"resource": "PullRequest", "field": "head", "code": "invalid"})
            head_sha, base_sha = repo.git.branch_sha(branch), repo.git.branch_sha(base)
            if base_sha is None:
                raise _validation({"resource": "PullRequest", "field": "base", "code": "invalid"})
            if head_sha is None:
                raise _validation({"resource": "PullRequest", "field": "head", "code": "invalid"})
            if self.list_pulls(repo, state="open", head=f"{repo.owner}:{branch}", base=base):
                message = f"A pull request already exists for {repo.owner}:{branch}."
                raise _validation({"resource": "PullRequest", "code": "custom", "message": message})
            if repo.git.count_between(base_sha, head_sha) == 0:
                message = f"No commits between {base} and {branch}"
                raise _validation({"resource": "PullRequest", "code": "custom", "message": message})
            now = self.now()
            body = payload.get("body")
            pull = SimPull(
                number=repo.next_number,
                id=self.next_id(),
                title=title,
                body=body if isinstance(body, str) else None,
                head_ref=branch,
                base_ref=base,
                user=user,
                created_at=now,
                updated_at=now,
                head_sha=head_sha,
                base_sha=base_sha,
            )
            repo.next_number += 1
            repo.pulls[pull.number] = pull
            self.refresh(repo, pull)  # starts the background mergeability job
            return pull

    def edit_pull(self, repo: SimRepo, number: int, payload: Mapping[str, Any]) -> SimPull:
        """``PATCH /pulls/{n}``: title, body, state (open/closed) and base."""
        with self.lock:
            pull = self.pull(repo, number)
            if "title" in payload and isinstance(payload["title"], str):
                pull.title = payload["title"]
            if "body" in payload:
                pull.body = payload["body"] if isinstance(payload["body"], str) else None
            if isinstance(payload.get("base"), str):
                if repo.git.branch_sha(payload["base"]) is None:
                    raise _validation({"resource": "PullRequest", "field": "base", "code": "invalid"})
                pull.base_ref = payload["base"]
            state = payload.get("state")
            if state is not None:
                self._change_state(repo, pull, state)
            pull.updated_at = self.now()
            self.refresh(repo, pull)
            return pull

    def _change_state(self, repo: SimRepo, pull: SimPull, state: Any) -> None:
        if state not in ("open", "closed"):
            raise _validation({"resource": "PullRequest", "field": "state", "code": "invalid"})
        if state == pull.state:
            return
        if pull.merged:
            raise _validation({"resource": "PullRequest", "code": "custom", "message": "Cannot reopen a merged PR"})
        if state == "closed":
            self.refresh(repo, pull)
            pull.state, pull.closed_at = "closed", self.now()
            return
        if self.list_pulls(repo, state="open", head=f"{repo.owner}:{pull.head_ref}", base=pull.base_ref):
            message = f"A pull request already exists for {repo.owner}:{pull.head_ref}."
            raise _validation({"resource": "PullRequest", "code": "custom", "message": message})
        pull.state, pull.closed_at = "open", None

    def merge_pull(self, repo: SimRepo, number: int, user: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /pulls/{n}/merge``: refuse like GitHub, or write a real merge commit onto the base branch."""
        with self.lock:
            pull = self.pull(repo, number)
            if pull.state != "open" or repo.git.branch_sha(pull.head_ref) is None:
                raise ApiError(405, "Pull Request is not mergeable", documentation_url=f"{DOCS}/pulls/pulls")
            if self.mergeable(repo, pull) is None:
                # the background job has not finished: GitHub refuses as if it did not merge (octokit.net#688)
                raise ApiError(405, "Pull Request is not mergeable", documentation_url=f"{DOCS}/pulls/pulls")
            expected = payload.get("sha")
            if expected is not None and expected != pull.head_sha:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
            method = payload.get("merge_method", "merge")
            if method == "rebase":
                # GitHub's wording for a disabled merge method (e.g. rook/rook#4072), 405 like the other refusals
                raise ApiError(405, "Rebase merges are not allowed on this repository.")
            if method not in ("merge", "squash"):
                raise _validation({"resource": "PullRequest", "field": "merge_method", "code": "invalid"})
            self.check_protection(repo, pull)
            tree = repo.git.merge_tree(pull.base_sha, pull.head_sha)
            if tree is None:
                raise ApiError(405, "Pull Request is not mergeable", documentation_url=f"{DOCS}/pulls/pulls")
            parents: tuple[str, ...]
            if method == "squash":
                default_title, parents = f"{pull.title} (#{pull.number})", (pull.base_sha,)
            else:
                default_title = f"Merge pull request #{pull.number} from {repo.owner}/{pull.head_ref}"
                parents = (pull.base_sha, pull.head_sha)
            title = payload.get("commit_title") or default_title
            extra = payload.get("commit_message")
            message = f"{title}\n\n{extra if isinstance(extra, str) else pull.title}"
            now = self.now()
            author = GitIdentity(user, f"{user}@users.noreply.github.com")
            sha = repo.git.commit_tree(tree, parents, message, author=author, committer=GITHUB_COMMITTER, when=now)
            if not repo.git.update_branch(pull.base_ref, sha, pull.base_sha):
                raise ApiError(405, "Base branch was modified. Review and try the merge again.")
            pull.state, pull.merged, pull.merged_at, pull.closed_at = "closed", True, now, now
            pull.merged_by, pull.merge_commit_sha, pull.updated_at = user, sha, now
            return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    def check_protection(self, repo: SimRepo, pull: SimPull) -> None:
        """Raise the 405 GitHub gives when ``pull``'s base branch protection refuses the merge."""
        rule = repo.protections.get(pull.base_ref)
        if rule is None:
            return
        approvals = len(pull.approvals - {pull.user})
        if approvals < rule.required_approvals:
            noun = "review is" if rule.required_approvals == 1 else "reviews are"
            raise ApiError(
                405,
                f"At least {rule.required_approvals} approving {noun} required by reviewers with write access.",
                documentation_url=PROTECTED_DOCS,
            )
        for context in rule.required_checks:
            state = repo.check_states.get(context, "pending")
            if state in ("failure", "error"):
                raise ApiError(405, f'Required status check "{context}" is failing.', documentation_url=PROTECTED_DOCS)
            if state != "success":
                raise ApiError(405, f'Required status check "{context}" is expected.', documentation_url=PROTECTED_DOCS)

    # -- issue side of a pull request: labels, comments; review requests ----------------------------------

    def add_labels(self, repo: SimRepo, number: int, labels: Sequence[Any]) -> list[str]:
        """``POST /issues/{n}/labels``: add (creating unknown labels in the repo, as GitHub does)."""
        if not all(isinstance(label, str) and label for label in labels):
            raise _validation({"resource": "Label", "field": "name", "code": "invalid"})
        with self.lock:
            pull = self.pull(repo, number)
            for label in labels:
                repo.labels.setdefault(label, self.next_id())
                if label not in pull.labels:
                    pull.labels.append(label)
            pull.updated_at = self.now()
            return list(pull.labels)

    def request_reviewers(self, repo: SimRepo, number: int, reviewers: Sequence[Any]) -> SimPull:
        """``POST /pulls/{n}/requested_reviewers``: users only; never the author; collaborators only."""
        with self.lock:
            pull = self.pull(repo, number)
            if any(not isinstance(login, str) for login in reviewers):
                raise _validation({"resource": "PullRequest", "field": "reviewers", "code": "invalid"})
            if any(login.lower() == pull.user.lower() for login in reviewers):
                raise ApiError(422, "Review cannot be requested from pull request author.")
            allowed = {login.lower() for login in repo.collaborators | {repo.owner}}
            if any(login.lower() not in allowed for login in reviewers):
                raise ApiError(
                    422,
                    "Reviews may only be requested from collaborators. One or more of the users or teams you "
                    f"specified is not a collaborator of the {repo.full_name} repository.",
                )
            for login in reviewers:
                if login not in pull.requested_reviewers:
                    pull.requested_reviewers.append(login)
            pull.updated_at = self.now()
            return pull

    def add_comment(self, repo: SimRepo, number: int, user: str, body: Any) -> SimComment:
        """``POST /issues/{n}/comments``."""
        if not isinstance(body, str) or not body:
            raise _validation({"resource": "IssueComment", "code": "missing_field", "field": "body"})
        with self.lock:
            self.pull(repo, number)
            comment = SimComment(self.next_id(), number, body, user, self.now())
            repo.comments.append(comment)
            return comment

    def comments(self, repo: SimRepo, number: int) -> list[SimComment]:
        """The comments of one pull request, oldest first (404 when it does not exist)."""
        with self.lock:
            self.pull(repo, number)
            return [c for c in repo.comments if c.issue_number == number]
