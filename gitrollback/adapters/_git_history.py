"""Parse the streamed output of the history questions ``GitAssetSource`` asks git: pure bytes in, models out.

The known-good search walks a branch's first-parent history of the asset paths, possibly tens of thousands of
commits, so ``GitAssetSource`` runs ONE ``git log`` per question and reads its stdout as a stream; this module
turns that stream into ``PathCommit`` values one commit at a time, so memory stays flat in history length. It
imports no GitPython (the adapter owns the process); everything here is testable on byte strings.

What it relies on from git (``git help log``, "Raw output format" and "PRETTY FORMATS"; checked on git 2.39):

* ``--raw -t --no-renames --no-abbrev -z`` prints, after each commit's header, one ``:<old mode> <new mode>
  <old oid> <new oid> <status>`` entry per changed path, NUL-separated from the path; ``-t`` adds entries for
  the *trees* on the way to a changed file, so a folder's old and new tree ids come out directly and no
  per-commit tree lookup is needed. A path that did not exist has the all-zero oid.
* with ``--first-parent``, git (since 2.31) diffs a merge against its first parent only, so a change that came
  in through a merge is attributed to the merge commit, which is what a GitOps branch deploys.
* ``%(trailers:key=...,unfold,separator=...)`` uses git's own trailer parser (the last paragraph), the same
  one ``gitrollback/adapters/_git_commit_message.py`` writes for.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gitrollback.models import PathCommit, RevisionInfo, TagRef

__all__ = [
    "FIRST_PARENT_FORMAT",
    "PATH_LOG_FORMAT",
    "TAG_FORMAT",
    "TRAILER_KEYS",
    "RawCommit",
    "build_path_commits",
    "norm_path",
    "parse_first_parent",
    "parse_path_log",
    "parse_tags",
    "pathspec",
    "split_nul",
]

TRAILER_KEYS = ("Rollback-Of", "Rollback-To", "Provider", "Failed-Job")
_HEADER, _FIELD, _TRAILER_SEP = "\x1e", "\x1f", "\x1d"
_ZERO = "0" * 40
# Header of one commit in the path walk; the body comes last so a stray separator in it cannot shift a field.
PATH_LOG_FORMAT = "%x1e" + "%x1f".join(
    (
        "%H",
        "%P",
        "%T",
        "%ct",
        "%an",
        "%D",
        "%s",
        "%(trailers:" + ",".join(f"key={k}" for k in TRAILER_KEYS) + ",unfold,separator=%x1d)",
        "%b",
    )
)
FIRST_PARENT_FORMAT = "%x1f".join(("%H", "%ct", "%an", "%D", "%s"))
TAG_FORMAT = (
    "%1f".join(
        (
            "%(refname)",
            "%(objecttype)",
            "%(objectname)",
            "%(*objecttype)",
            "%(*objectname)",
            "%(committerdate:unix)",
            "%(*committerdate:unix)",
            "%(contents)",
        )
    )
    + "%00"
)
_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,64})", re.IGNORECASE)
# Trailer-looking lines anywhere in the body: a squash merge keeps the rollback commit's trailers, but not always
# in the last paragraph where git's parser looks.
_BODY_TRAILER = re.compile(
    r"^(Rollback-Of|Rollback-To|Provider|Failed-Job):[ \t]*(\S+)[ \t]*$", re.IGNORECASE | re.MULTILINE
)
# A merge commit of a rollback pull/merge request names gitrollback's branch, ``gitrollback/<provider>/<bad>-to-<good>``
# (``gitrollback/adapters/_git_commit_message.py``), in GitHub's and GitLab's default merge messages.
_ROLLBACK_BRANCH = re.compile(r"gitrollback/([A-Za-z0-9._-]+)/([0-9a-f]{7,40})-to-([0-9a-f]{7,40})\b")


def norm_path(path: str) -> str:
    """``/backend//tekton/``, ``./backend/tekton`` and ``backend/tekton`` name one folder; ``""`` is the root."""
    return posixpath.normpath("/" + path.strip()).lstrip("/")


def pathspec(path: str) -> str:
    """A git pathspec for exactly this path: no glob magic (``literal``).

    Git runs with the repository's top level as its working directory (GitPython's ``working_dir``), so the path is
    already root-relative; ``top`` is left out on purpose: git 2.39 does not consult commit-graph Bloom filters for
    pathspecs with ``top`` magic, which made path history several times slower on repositories that have them
    (``docs/performance.md``).
    """
    norm = norm_path(path)
    return f":(literal){norm}" if norm else ":(top)"


def split_nul(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """NUL-terminated tokens from a stream of byte chunks (a trailing unterminated token is yielded too)."""
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest.strip():
        yield rest


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def _when(stamp: str) -> datetime:
    return datetime.fromtimestamp(int(stamp or "0"), tz=UTC)


def _tags(decoration: str) -> tuple[str, ...]:
    names = (r.strip() for r in decoration.split(","))
    return tuple(sorted(n.removeprefix("tag: ") for n in names if n.startswith("tag: ")))


@dataclass
class RawCommit:
    """One commit header of the path walk plus the raw entries of the asked paths: ``path -> (old, new)``."""

    info: RevisionInfo
    parents: tuple[str, ...]
    root_tree: str
    trailers: dict[str, tuple[str, ...]]
    reverts: tuple[str, ...]
    changes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def _header(token: str) -> RawCommit:
    fields = (token.split(_FIELD, 8) + [""] * 9)[:9]
    sha, parents, tree, stamp, author, decoration, subject, trailer_text, body = fields
    trailers: dict[str, list[str]] = {}
    for line in trailer_text.split(_TRAILER_SEP):
        key, sep, value = line.partition(":")
        if sep and value.strip():
            canonical = next((k for k in TRAILER_KEYS if k.lower() == key.strip().lower()), key.strip())
            trailers.setdefault(canonical, []).append(value.strip())
    _rollback_hints(trailers, subject, body)
    info = RevisionInfo(sha=sha, summary=subject, committed_at=_when(stamp), author=author, tags=_tags(decoration))
    return RawCommit(
        info=info,
        parents=tuple(parents.split()),
        root_tree=tree,
        trailers={k: tuple(v) for k, v in trailers.items()},
        reverts=tuple(dict.fromkeys(m.lower() for m in _REVERTS.findall(body))),
    )


def _rollback_hints(trailers: dict[str, list[str]], subject: str, body: str) -> None:
    """Fill in rollback trailers that git's parser missed: body lines (squash merges), the branch name (merges)."""
    if "Rollback-Of" in trailers:
        return
    for key, value in _BODY_TRAILER.findall(body):
        canonical = next(k for k in TRAILER_KEYS if k.lower() == key.lower())
        if value not in trailers.get(canonical, []):
            trailers.setdefault(canonical, []).append(value)
    if "Rollback-Of" in trailers:
        return
    branch = _ROLLBACK_BRANCH.search(f"{subject}\n{body}")
    if branch is not None:
        provider, bad, good = branch.groups()
        trailers.update({"Rollback-Of": [bad], "Rollback-To": [good], "Provider": [provider]})


def parse_path_log(tokens: Iterable[bytes], paths: Sequence[str]) -> Iterator[RawCommit]:
    """Commits of a ``git log --format=PATH_LOG_FORMAT --raw -t --no-renames --no-abbrev -z`` stream.

    ``paths`` are normalised repository paths (no leading or trailing slash; ``""`` is the root, whose tree
    comes from the header since raw output never names the root).
    """
    wanted = set(paths)
    current: RawCommit | None = None
    entry: str | None = None
    for raw in tokens:
        token = _text(raw).lstrip("\n")
        if entry is not None:  # the path that follows a raw entry
            old_new = entry.split(" ")
            entry = None
            if current is not None and token in wanted and len(old_new) >= 4:
                old = None if old_new[2] == _ZERO else old_new[2]
                new = None if old_new[3] == _ZERO else old_new[3]
                # A type change (file <-> folder) comes as a delete and an add of the same path.
                seen_old, seen_new = current.changes.get(token, (None, None))
                current.changes[token] = (
                    seen_old if seen_old is not None else old,
                    new if new is not None else seen_new,
                )
            continue
        if token.startswith(_HEADER):
            if current is not None:
                yield current
            current = _header(token[1:])
        elif token.startswith(":"):
            entry = token[1:]
    if current is not None:
        yield current


def build_path_commits(
    commits: Iterable[RawCommit],
    paths: Sequence[str],
    start: Mapping[str, str | None],
    *,
    shallow: frozenset[str],
    parent_root: Callable[[str], str | None],
) -> Generator[PathCommit, None, None]:
    """``PathCommit`` values, newest first, from raw commits and the paths' trees at the walk's start.

    Walking back, the state after a commit is the state before the newer one (the commits in between did not
    touch the paths), and the state before it is that state with the commit's raw *old* ids applied. The root
    path's "before" is the next commit's root tree (one commit of lookahead), or ``parent_root`` for the last.
    """
    state = dict(start)
    pending: tuple[RawCommit, dict[str, str | None], dict[str, str | None]] | None = None
    for raw in commits:
        if pending is not None:
            yield _finish(pending, paths, shallow, raw.root_tree)
        after = dict(state)
        if "" in after:
            after[""] = raw.root_tree
        before = dict(after)
        for path, (old, _new) in raw.changes.items():
            before[path] = old
        pending = (raw, after, before)
        state = before
    if pending is not None:
        raw = pending[0]
        yield _finish(pending, paths, shallow, parent_root(raw.parents[0]) if raw.parents else None)


def _finish(
    pending: tuple[RawCommit, dict[str, str | None], dict[str, str | None]],
    paths: Sequence[str],
    shallow: frozenset[str],
    previous_root: str | None,
) -> PathCommit:
    raw, after, before = pending
    boundary = not raw.parents and raw.info.sha in shallow
    if "" in paths:
        before[""] = previous_root
    return PathCommit(
        info=raw.info,
        parents=raw.parents,
        before={} if boundary else before,
        after=after,
        trailers=raw.trailers,
        reverts=raw.reverts,
        boundary=boundary,
    )


def parse_first_parent(tokens: Iterable[bytes]) -> Iterator[RevisionInfo]:
    """Commits of a ``git log --first-parent -z --format=FIRST_PARENT_FORMAT`` stream."""
    for raw in tokens:
        token = _text(raw).lstrip("\n")
        if not token:
            continue
        sha, stamp, author, decoration, subject = (token.split(_FIELD, 4) + [""] * 5)[:5]
        yield RevisionInfo(sha=sha, summary=subject, committed_at=_when(stamp), author=author, tags=_tags(decoration))


def parse_tags(output: bytes, relations: Callable[[str], str | None]) -> list[TagRef]:
    """Tags pointing (directly or through one annotated tag) at commits, from ``for-each-ref --format=TAG_FORMAT``."""
    tags: list[TagRef] = []
    for raw in output.split(b"\0"):
        token = _text(raw).lstrip("\n")
        if not token:
            continue
        refname, kind, oid, peeled_kind, peeled, stamp, peeled_stamp, message = (token.split(_FIELD, 7) + [""] * 8)[:8]
        annotated = kind == "tag"
        target, target_kind = (peeled, peeled_kind) if annotated else (oid, kind)
        if target_kind != "commit":
            continue
        when = peeled_stamp if annotated else stamp
        tags.append(
            TagRef(
                name=refname.removeprefix("refs/tags/"),
                target=target,
                message=message if annotated else "",
                target_time=_when(when) if when else None,
                annotated=annotated,
                relation=relations(refname),
            )
        )
    return tags
