"""What a rollback commit must contain, computed from git's plumbing output: pure functions, no git.

``GitWorkspace`` asks git for raw facts (``ls-tree -r -z`` of the asset paths, ``log --raw -z`` of the first-parent
history since the known-good commit) and this module decides: which entries the restored paths get, which commits a
``revert`` undoes and whether it may, and the ``update-index --index-info`` stream that turns a tip's tree into the
rollback tree. Keeping the decisions free of I/O keeps them readable and lets the adapter stay a thin shell around
git. Reverting follows ``git revert -m 1`` on a first-parent chain: undoing the newest commit first, every file is
exactly in the state that commit left it in, so "ours" equals the merge base and the three-way merge is trivial;
any other state is reported as a conflict instead of being merged (gitrollback's own rule: a rollback never
invents content).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gitrollback.adapters._git_commit_message import check_trailers, rollback_branch
from gitrollback.errors import ConfigError, PreconditionFailedError

__all__ = [
    "USERINFO_RE",
    "ZERO",
    "Change",
    "Entry",
    "RollbackPlan",
    "index_info",
    "make_plan",
    "parse_ls_tree",
    "parse_raw_log",
    "reverse_apply",
    "under",
]

ZERO = "0" * 40
Entry = tuple[str, str]  # (mode, object id) of one index entry
Strategy = Literal["restore", "revert"]
_PROVIDER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


@dataclass(frozen=True)
class RollbackPlan:
    """One prepare() call's inputs, validated; ``bad``/``good`` become full ids once resolved."""

    provider_id: str
    bad: str
    good: str
    paths: tuple[str, ...]
    strategy: Strategy
    failed_job: str | None = None
    context: str = ""
    trailers: Mapping[str, str] = field(default_factory=dict)

    @property
    def branch(self) -> str:
        """The rollback branch name."""
        return rollback_branch(self.provider_id, self.bad, self.good)


@dataclass(frozen=True)
class Change:
    """One commit of ``git log --raw``: ``files`` maps a path to its (before, after) entries (``ZERO`` id: absent)."""

    sha: str
    subject: str
    files: dict[str, tuple[Entry, Entry]] = field(default_factory=dict)


def make_plan(
    *,
    provider_id: str,
    bad: str,
    good: str,
    paths: Sequence[str],
    strategy: str,
    failed_job: str | None,
    context: str,
    trailers: Mapping[str, str],
) -> RollbackPlan:
    """Validate prepare()'s arguments (paths must already be normalised by the caller).

    Raises:
        ConfigError: an unusable provider id, no paths, an unknown strategy, a multi-line job id or a bad trailer.
    """
    if not _PROVIDER_RE.match(provider_id) or provider_id.endswith((".lock", ".")) or ".." in provider_id:
        raise ConfigError(f"not usable in a branch name: {provider_id!r}", key="provider_id")
    norm = tuple(dict.fromkeys(paths))
    if not norm:
        raise ConfigError("at least one asset path is needed", key="paths", hint="e.g. backend/tekton")
    if strategy not in ("restore", "revert"):
        raise ConfigError(f"unknown strategy {strategy!r}", key="strategy", hint="use restore or revert")
    if failed_job is not None and (not failed_job.strip() or "\n" in failed_job):
        raise ConfigError("the failed job id must be one line", key="failed_job")
    try:
        extra = check_trailers(trailers)
    except ValueError as exc:
        raise ConfigError(str(exc), key="trailers") from exc
    return RollbackPlan(
        provider_id, bad, good, norm, "revert" if strategy == "revert" else "restore", failed_job, context, extra
    )


def under(path: str, roots: Sequence[str]) -> bool:
    """True when ``path`` is one of ``roots`` or inside one (``""`` is the whole repository)."""
    return any(not root or path == root or path.startswith(root + "/") for root in roots)


def parse_ls_tree(out: str, roots: Sequence[str]) -> dict[str, Entry]:
    """``git ls-tree -r -z --full-tree`` output, restricted to ``roots``."""
    entries: dict[str, Entry] = {}
    for record in filter(None, out.split("\0")):
        meta, _, path = record.partition("\t")
        mode, _, sha = meta.split(" ")
        if under(path, roots):
            entries[path] = (mode, sha)
    return entries


def parse_raw_log(out: str) -> list[Change]:
    """``git log --raw --no-abbrev --no-renames -z --format=%x00%H %s`` output, in log order."""
    commits: list[Change] = []
    tokens = iter(out.split("\0"))
    for raw in tokens:
        token = raw.lstrip("\n")
        if not token:  # %x00 opens each commit; file names are never empty
            sha, _, subject = next(tokens, "").partition(" ")
            if sha:
                commits.append(Change(sha, subject))
        elif token.startswith(":") and commits:
            old_mode, new_mode, old_sha, new_sha, _ = token[1:].split(" ", 4)
            commits[-1].files[next(tokens)] = ((old_mode, old_sha), (new_mode, new_sha))
    return commits


def reverse_apply(
    state: Mapping[str, Entry], changes: Sequence[Change], roots: Sequence[str]
) -> tuple[dict[str, Entry], tuple[str, ...]]:
    """Undo, in order, the ``changes`` that touched ``roots``; the resulting entries and the undone commits.

    Raises:
        PreconditionFailedError: a commit also changed files outside ``roots``, or a file is not in the state the
            commit left it in (a conflict). Names the commit and the files.
    """
    result = dict(state)
    reverted: list[str] = []
    for change in changes:
        touched = sorted(p for p in change.files if under(p, roots))
        if not touched:
            continue
        where = ", ".join(r or "/" for r in roots)
        if outside := sorted(p for p in change.files if not under(p, roots)):
            raise PreconditionFailedError(
                f"commit {change.sha[:12]} ({change.subject}) also changed files outside {where}: "
                + ", ".join(outside[:10]),
                step="prepare",
                hint="revert that commit by hand, or use the restore strategy",
                kind="outside_paths",
            )
        conflicts = [p for p in touched if result.get(p) != _present(change.files[p][1])]
        if conflicts:
            raise PreconditionFailedError(
                f"reverting commit {change.sha[:12]} ({change.subject}) conflicts in " + ", ".join(conflicts[:10]),
                step="prepare",
                hint="use the restore strategy",
                kind="revert_conflict",
            )
        for path in touched:
            before = _present(change.files[path][0])
            if before is None:
                result.pop(path, None)
            else:
                result[path] = before
        reverted.append(change.sha)
    return result, tuple(reverted)


def _present(entry: Entry) -> Entry | None:
    return None if entry[1] == ZERO else entry


def index_info(before: Mapping[str, Entry], after: Mapping[str, Entry]) -> bytes:
    """The ``update-index -z --index-info`` stream that turns ``before`` into ``after``.

    Removals come first, so a file may become a folder (or a folder a file) in one update.
    """
    removed = [f"0 {ZERO}\t{p}\0" for p in before if p not in after]
    changed = [f"{m} {s}\t{p}\0" for p, (m, s) in after.items() if before.get(p) != (m, s)]
    return "".join(removed + changed).encode("utf-8")
