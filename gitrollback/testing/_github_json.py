"""JSON bodies of the GitHub simulator, shaped like api.github.com's, with URLs the client accepts.

PyGithub builds every follow-up request from URLs in the previous reply (``Repository.url``,
``PullRequest.url`` and ``issue_url``, ``Link`` headers) and asserts that they point at the host, port and
path prefix it was given (PyGithub ``github/Requester.py``, the ``AssertionError: api.github.com`` trap). So nothing
here knows a host: every function takes ``Links`` built per request from the ``Host`` header and the API
prefix the request came in on. Fields the clients navigate by are always present; other fields follow
GitHub's shape closely enough that a reader of real payloads recognises them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitrollback.testing._github_state import SimComment, SimPull, SimRepo

__all__ = [
    "ROLES",
    "Links",
    "branch_json",
    "comment_json",
    "label_json",
    "pull_json",
    "repo_json",
    "role_permissions",
    "user_json",
]


@dataclass(frozen=True)
class Links:
    """``api``: e.g. ``http://127.0.0.1:P/api/v3``; ``web``: ``http://127.0.0.1:P`` (html and clone URLs)."""

    api: str
    web: str

    def repo(self, repo: SimRepo) -> str:
        """The repository's API URL."""
        return f"{self.api}/repos/{repo.owner}/{repo.name}"


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def user_json(links: Links, login: str) -> dict[str, Any]:
    """A simple user object."""
    return {
        "login": login,
        "id": sum(ord(c) for c in login) + 100,
        "type": "User",
        "site_admin": False,
        "url": f"{links.api}/users/{login}",
        "html_url": f"{links.web}/{login}",
    }


#: what each repository role may do, as the ``permissions`` object of a repository reports it for the caller
#: (docs.github.com, "Repository roles for an organization": each role includes the ones before it)
ROLES = ("read", "triage", "write", "maintain", "admin")
_ROLE_FLAGS = {"read": "pull", "triage": "triage", "write": "push", "maintain": "maintain", "admin": "admin"}


def role_permissions(role: str) -> dict[str, bool]:
    """``{"admin", "maintain", "push", "triage", "pull"}`` flags of a role."""
    rank = ROLES.index(role)
    return {flag: ROLES.index(r) <= rank for r, flag in reversed(_ROLE_FLAGS.items())}


def repo_json(links: Links, repo: SimRepo) -> dict[str, Any]:
    """``GET /repos/{o}/{r}``: ``url`` is what every sub-request is built from."""
    url = links.repo(repo)
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": user_json(links, repo.owner),
        "private": True,
        "fork": False,
        "archived": False,
        "visibility": "private",
        "default_branch": repo.default_branch,
        "url": url,
        "html_url": f"{links.web}/{repo.full_name}",
        "clone_url": f"{links.web}/{repo.full_name}.git",
        "pulls_url": f"{url}/pulls{{/number}}",
        "issues_url": f"{url}/issues{{/number}}",
        "branches_url": f"{url}/branches{{/branch}}",
        "labels_url": f"{url}/labels{{/name}}",
        "allow_merge_commit": True,
        "allow_squash_merge": True,
        "allow_rebase_merge": False,
        "permissions": role_permissions(repo.role),
    }


def label_json(links: Links, repo: SimRepo, name: str) -> dict[str, Any]:
    """A label object."""
    return {
        "id": repo.labels.get(name, 0),
        "node_id": f"LA_{repo.labels.get(name, 0)}",
        "name": name,
        "url": f"{links.repo(repo)}/labels/{name}",
        "color": "ededed",
        "default": False,
        "description": None,
    }


def _ref(links: Links, repo: SimRepo, ref: str, sha: str) -> dict[str, Any]:
    return {
        "label": f"{repo.owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user_json(links, repo.owner),
        "repo": repo_json(links, repo),
    }


def pull_json(
    links: Links,
    repo: SimRepo,
    pull: SimPull,
    *,
    full: bool = True,
    mergeable: bool | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """A pull request. ``full=False`` is the list shape: like GitHub's, it lacks ``merged``, ``mergeable``,
    ``mergeable_state`` and ``merged_by`` (clients must use ``merged_at``)."""
    url = f"{links.repo(repo)}/pulls/{pull.number}"
    issue_url = f"{links.repo(repo)}/issues/{pull.number}"
    out: dict[str, Any] = {
        "url": url,
        "id": pull.id,
        "node_id": f"PR_{pull.id}",
        "html_url": f"{links.web}/{repo.full_name}/pull/{pull.number}",
        "diff_url": f"{links.web}/{repo.full_name}/pull/{pull.number}.diff",
        "patch_url": f"{links.web}/{repo.full_name}/pull/{pull.number}.patch",
        "issue_url": issue_url,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{links.repo(repo)}/statuses/{pull.head_sha}",
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": user_json(links, pull.user),
        "body": pull.body,
        "labels": [label_json(links, repo, name) for name in pull.labels],
        "created_at": _time(pull.created_at),
        "updated_at": _time(pull.updated_at),
        "closed_at": _time(pull.closed_at),
        "merged_at": _time(pull.merged_at),
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [user_json(links, login) for login in pull.requested_reviewers],
        "requested_teams": [],
        "head": _ref(links, repo, pull.head_ref, pull.head_sha),
        "base": _ref(links, repo, pull.base_ref, pull.base_sha),
        "author_association": "OWNER",
        "draft": False,
    }
    if full:
        out["merged"] = pull.merged
        out["mergeable"] = mergeable
        out["mergeable_state"] = state or "unknown"
        out["merged_by"] = user_json(links, pull.merged_by) if pull.merged_by else None
    return out


def comment_json(links: Links, repo: SimRepo, comment: SimComment) -> dict[str, Any]:
    """An issue comment."""
    return {
        "id": comment.id,
        "node_id": f"IC_{comment.id}",
        "url": f"{links.repo(repo)}/issues/comments/{comment.id}",
        "html_url": f"{links.web}/{repo.full_name}/pull/{comment.issue_number}#issuecomment-{comment.id}",
        "issue_url": f"{links.repo(repo)}/issues/{comment.issue_number}",
        "body": comment.body,
        "user": user_json(links, comment.user),
        "created_at": _time(comment.created_at),
        "updated_at": _time(comment.created_at),
        "author_association": "OWNER",
    }


def branch_json(links: Links, repo: SimRepo, name: str, sha: str) -> dict[str, Any]:
    """``GET /branches/{b}``: ``name``, ``commit.sha`` and the protection flag."""
    summary = repo.git.describe(sha)
    commit_url = f"{links.repo(repo)}/commits/{sha}"
    rule = repo.protections.get(name)
    return {
        "name": name,
        "commit": {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": commit_url,
            "html_url": f"{links.web}/{repo.full_name}/commit/{sha}",
            "commit": {
                "author": {"name": summary.author_name, "email": summary.author_email, "date": summary.date},
                "message": summary.message,
                "tree": {"sha": summary.tree, "url": f"{links.repo(repo)}/git/trees/{summary.tree}"},
                "url": f"{links.repo(repo)}/git/commits/{sha}",
            },
            "parents": [{"sha": p, "url": f"{links.repo(repo)}/commits/{p}"} for p in summary.parents],
        },
        "_links": {"self": f"{links.repo(repo)}/branches/{name}", "html": f"{links.web}/{repo.full_name}/tree/{name}"},
        "protected": rule is not None,
        "protection": {
            "enabled": rule is not None,
            "required_status_checks": {
                "enforcement_level": "non_admins" if rule and rule.required_checks else "off",
                "contexts": list(rule.required_checks) if rule else [],
            },
        },
        "protection_url": f"{links.repo(repo)}/branches/{name}/protection",
    }
