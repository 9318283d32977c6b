"""Git operations the GitLab simulator performs on its bare repositories, with the ``git`` CLI only.

A simulated GitLab project is a real bare repository, so a merge request's merge must be a real merge commit
on the target branch that ``git clone`` or ``git fetch`` then sees. ``merge`` does it without a work tree:
``git merge-tree --write-tree`` (git >= 2.38)
computes the merged tree or reports conflicts, ``git commit-tree`` writes the two-parent commit and
``git update-ref`` moves the branch with the old value as a guard, as GitLab's "merge commit" merge method
does (it always creates a merge commit, even when a fast-forward would be possible).

Every call runs under a pinned environment (no system or global config, a fixed committer identity for the
simulated GitLab user), so a developer's hooks or signing settings never leak in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "BranchHead",
    "GitFailure",
    "MergeConflict",
    "branch_head",
    "conflicts",
    "delete_branch",
    "fast_forward",
    "init_bare",
    "is_ancestor",
    "list_branches",
    "merge",
    "rev",
]

_ZERO = "0" * 40


class GitFailure(RuntimeError):
    """A git command failed unexpectedly (a simulator bug or a broken repository)."""


class MergeConflict(Exception):
    """``git merge-tree`` found conflicts; ``paths`` names the conflicting files."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths) or "conflict")
        self.paths = paths


@dataclass(frozen=True)
class BranchHead:
    """The commit at a branch tip, as GitLab's branch and commit JSON needs it."""

    sha: str
    title: str
    message: str
    author_name: str
    author_email: str
    authored_date: str
    committed_date: str
    parent_ids: tuple[str, ...]


def _env(name: str = "GitLab Simulator", email: str = "gitlab-sim@example.invalid") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
            "LC_ALL": "C",
        }
    )
    return env


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    exe = shutil.which("git") or "git"
    done = subprocess.run([exe, *args], cwd=repo, env=env or _env(), capture_output=True, text=True, check=False)
    if done.returncode not in ok:
        raise GitFailure(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.returncode, done.stdout


def init_bare(path: Path, default_branch: str) -> None:
    """Create a bare repository whose HEAD names ``default_branch``; pushes over smart HTTP are allowed."""
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "--quiet", "--bare", f"--initial-branch={default_branch}")
    # git http-backend refuses receive-pack without REMOTE_USER unless this is set (git-http-backend(1),
    # http.receivepack).
    _git(path, "config", "http.receivepack", "true")


def rev(repo: Path, ref: str) -> str | None:
    """The commit id ``ref`` points at, or None when it does not resolve."""
    code, out = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", ok=(0, 1, 128))
    return out.strip() if code == 0 else None


def list_branches(repo: Path) -> list[str]:
    """Branch names, sorted."""
    _, out = _git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
    return sorted(line for line in out.splitlines() if line)


def branch_head(repo: Path, branch: str) -> BranchHead | None:
    """The tip commit of ``branch``, or None when the branch does not exist."""
    sha = rev(repo, f"refs/heads/{branch}")
    if sha is None:
        return None
    fmt = "%H%x00%an%x00%ae%x00%aI%x00%cI%x00%P%x00%B"
    _, out = _git(repo, "show", "-s", f"--format={fmt}", sha)
    commit, name, email, authored, committed, parents, message = out.split("\x00", 6)
    message = message.rstrip("\n")
    return BranchHead(
        sha=commit,
        title=message.split("\n", 1)[0],
        message=message,
        author_name=name,
        author_email=email,
        authored_date=authored,
        committed_date=committed,
        parent_ids=tuple(parents.split()),
    )


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    """True when ``older`` is reachable from ``newer``."""
    code, _ = _git(repo, "merge-base", "--is-ancestor", older, newer, ok=(0, 1))
    return code == 0


def conflicts(repo: Path, target: str, source: str) -> list[str]:
    """The paths that conflict when merging ``source`` into ``target`` (empty when it merges cleanly)."""
    code, out = _git(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", target, source, ok=(0, 1))
    if code == 0:
        return []
    return [line for line in out.splitlines()[1:] if line]


def delete_branch(repo: Path, branch: str) -> None:
    """Delete ``branch`` (no error when it is already gone)."""
    _git(repo, "update-ref", "-d", f"refs/heads/{branch}")


def merge(
    repo: Path,
    *,
    target_branch: str,
    source_branch: str,
    message: str,
    user_name: str,
    user_email: str,
    when: datetime,
) -> str:
    """Merge ``source_branch`` into ``target_branch`` with a merge commit dated ``when``; returns its id.

    Raises ``MergeConflict`` when the branches conflict and ``GitFailure`` when a branch is missing or the
    target moved while merging (``update-ref`` compares against the old value).
    """
    target = rev(repo, f"refs/heads/{target_branch}")
    source = rev(repo, f"refs/heads/{source_branch}")
    if target is None or source is None:
        raise GitFailure(f"missing branch: {target_branch if target is None else source_branch}")
    code, out = _git(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", target, source, ok=(0, 1))
    if code == 1:
        raise MergeConflict([line for line in out.splitlines()[1:] if line])
    tree = out.splitlines()[0].strip()
    env = _env(user_name, user_email)
    stamp = when.astimezone(UTC).replace(microsecond=0).isoformat()
    env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = stamp
    _, commit = _git(repo, "commit-tree", tree, "-p", target, "-p", source, "-m", message, env=env)
    merged = commit.strip()
    _git(repo, "update-ref", f"refs/heads/{target_branch}", merged, target or _ZERO)
    return merged


def fast_forward(repo: Path, *, target_branch: str, source: str, expected: str) -> None:
    """Move ``target_branch`` from ``expected`` to ``source`` (GitLab's fast-forward merge method).

    Raises ``GitFailure`` when the target moved meanwhile (``update-ref`` compares against ``expected``).
    """
    _git(repo, "update-ref", f"refs/heads/{target_branch}", source, expected)
