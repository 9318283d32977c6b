"""Git plumbing on the GitHub simulator's bare repositories: branch tips, merge trees, merge commits.

The simulator's pull requests are backed by real bare repositories, so "merge" must produce a real merge
commit on the base branch without a work tree. ``git merge-tree --write-tree`` (git >= 2.38: the mode came with
git 2.38.0, git-merge-tree(1); checked on git 2.39) computes the merged tree in the object database and exits 1
on conflicts; ``git commit-tree`` and a compare-and-swap ``git update-ref`` then move the branch, so a push
that lands between reading the base and writing the merge is detected instead of overwritten.

Every call runs under a pinned environment (no system or global git config, fixed identities passed by the
caller), like ``gitrollback.testing.repos``, so a developer's hooks or signing settings never leak in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["CommitSummary", "GitIdentity", "Plumbing", "PlumbingError"]


class PlumbingError(RuntimeError):
    """A git command failed unexpectedly (a simulator bug or a broken repository)."""


@dataclass(frozen=True)
class GitIdentity:
    """Name and email for an author or committer."""

    name: str
    email: str


@dataclass(frozen=True)
class CommitSummary:
    """What the branch route shows about a commit."""

    sha: str
    tree: str
    author_name: str
    author_email: str
    date: str
    message: str
    parents: tuple[str, ...]


def _base_env() -> dict[str, str]:
    return {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }


class Plumbing:
    """Git commands against one bare repository."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._exe = shutil.which("git") or "git"

    def run(self, *args: str, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
        """Run git in the repository; returns (exit code, stdout) or raises for codes outside ``ok``."""
        done = subprocess.run(
            [self._exe, *args],
            cwd=self.path,
            env={**_base_env(), **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode not in ok:
            raise PlumbingError(f"git {' '.join(args)} failed in {self.path}: {done.stderr.strip()}")
        return done.returncode, done.stdout.strip()

    @classmethod
    def init_bare(cls, path: Path, default_branch: str) -> Plumbing:
        """Create an empty bare repository whose HEAD names ``default_branch``."""
        path.mkdir(parents=True, exist_ok=True)
        plumbing = cls(path)
        plumbing.run("init", "--quiet", "--bare", "--initial-branch", default_branch)
        return plumbing

    def branch_sha(self, branch: str) -> str | None:
        """The commit a branch points at, or None when the branch does not exist."""
        code, out = self.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", ok=(0, 1))
        return out if code == 0 and out else None

    def branches(self) -> list[str]:
        """Every branch name, sorted."""
        _, out = self.run("for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads/")
        return sorted(line for line in out.splitlines() if line)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when ``ancestor`` is reachable from ``descendant``."""
        code, _ = self.run("merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1))
        return code == 0

    def count_between(self, base: str, head: str) -> int:
        """How many commits ``head`` has that ``base`` lacks."""
        _, out = self.run("rev-list", "--count", f"{base}..{head}")
        return int(out or 0)

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of merging ``head`` into ``base``, or None when they conflict."""
        code, out = self.run("merge-tree", "--write-tree", "--no-messages", base, head, ok=(0, 1))
        if code == 1:
            return None
        return out.splitlines()[0]

    def tree_of(self, commit: str) -> str:
        """The tree id of a commit."""
        return self.run("rev-parse", f"{commit}^{{tree}}")[1]

    def commit_tree(
        self,
        tree: str,
        parents: tuple[str, ...],
        message: str,
        *,
        author: GitIdentity,
        committer: GitIdentity,
        when: datetime,
    ) -> str:
        """Write a commit object (no ref moves); returns its id."""
        stamp = when.isoformat()
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": stamp,
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, "-m", message, env=env)[1]

    def update_branch(self, branch: str, new: str, old: str) -> bool:
        """Move ``branch`` from ``old`` to ``new``; False when someone moved it first (compare-and-swap)."""
        code, _ = self.run("update-ref", f"refs/heads/{branch}", new, old, ok=(0, 1, 128))
        return code == 0

    def describe(self, sha: str) -> CommitSummary:
        """Author, date, message, tree and parents of one commit."""
        fmt = "%H%x00%T%x00%an%x00%ae%x00%aI%x00%P%x00%B"
        _, out = self.run("show", "-s", f"--format={fmt}", sha)
        full, tree, name, email, date, parents, message = out.split("\x00", 6)
        return CommitSummary(full, tree, name, email, date, message.strip(), tuple(parents.split()))
