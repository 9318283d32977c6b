"""``gitrollback known-good`` on its fast path: the plain case, answered from one ``git log`` with the stdlib only.

Most questions the command gets are plain: a local repository (or a URL whose bare clone is already cached: it is
fetched first, as the resolver's source does), one asset path, the branch tip as the bad revision, no verified-good
markers, and a bad change that is an ordinary commit. The answer is then the state just before
the newest first-parent commit that changed the path, which one ``git log --first-parent --raw -t --max-count=2``
names completely: its first commit is the bad change (its raw entry gives the path's old and new trees) and its
second the commit that produced the old tree. A process that only needs that should not pay for GitPython, the
models and the resolver's modules (about 100 ms of imports against a few milliseconds of git).

``answer`` returns the ``--json`` document the resolver's answer would give (``gitrollback/cli/known_good.py``,
``known_good_json``), or None whenever the case is not plain or anything is unexpected: then the full resolver
(``gitrollback.known_good.find_known_good``) runs and gives the answer, the refusal or the error. "Not plain" is
decided conservatively: a URL not cloned yet (or with credentials in it, or a cached clone without its commit-graph),
a shallow clone, several paths, other options, marker tags present, a bad change whose
message mentions a revert, a rollback trailer or a rollback branch, a path added or deleted by it, or no older
change. ``tests/unit/test_fast_known_good.py`` checks on generated histories that every answer given here is the
resolver's, to the byte.

This module imports nothing from gitrollback and nothing that is not already loaded by ``subprocess``, so that
``python -m gitrollback known-good`` costs the interpreter, ``subprocess`` and two git processes.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence

TYPE_CHECKING = False  # typing itself costs a few milliseconds to import, and type checkers read this name
if TYPE_CHECKING:
    from typing import Any

__all__ = ["answer", "main", "parse", "render"]

_FIELD, _HEADER = "\x1f", "\x1e"
#: what the resolver reads of a commit, here only what the plain answer needs (hash, parents, tags, subject, body)
_FORMAT = "%x1e%H%x1f%P%x1f%D%x1f%s%x1f%b"
_ZERO = "0" * 40
_MARKERS = "refs/tags/gitrollback/verified"
#: message text that makes a bad change not plain (the resolver reads reverts and gitrollback's rollback trailers
#: and branch names from it: ``gitrollback/adapters/_git_history.py``)
_NOT_PLAIN = ("this reverts commit", "rollback-of", "gitrollback/")
#: the git configuration the resolver's walk sets, so the user's config cannot change the answer
_CONFIG = ("-c", "log.follow=false", "-c", "log.showSignature=false", "-c", "core.quotePath=false")
_GIT_LOCATION = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_PYTHON_GIT_EXECUTABLE")
#: what the resolver's source takes for a URL rather than a local path (``gitrollback/adapters/_git_remote.py``)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:")


class Args:
    """The plain subset of ``known-good``'s options."""

    def __init__(
        self, repo: str, paths: list[str], *, branch: str, as_json: bool, markers: bool, cache_dir: str | None
    ) -> None:
        self.repo, self.paths, self.branch, self.as_json, self.markers = repo, paths, branch, as_json, markers
        self.cache_dir = cache_dir


def parse(argv: Sequence[str]) -> Args | None:
    """``known-good`` with only ``--repo``, ``--path``, ``--branch``, ``--cache-dir``, ``--json`` and
    ``--no-markers``, each spelled out (``--opt value`` or ``--opt=value``, values not starting with ``-``), or None
    for anything else."""
    if not argv or argv[0] != "known-good":
        return None
    values: dict[str, list[str]] = {"--repo": [], "--path": [], "--branch": [], "--cache-dir": []}
    flags = {"--json": False, "--no-markers": False}
    rest = list(argv[1:])
    while rest:
        token = rest.pop(0)
        if token in flags:
            flags[token] = True
            continue
        option, equals, value = token.partition("=")
        if option not in values:
            return None
        if not equals:
            if not rest:
                return None
            value = rest.pop(0)
        if not value or value.startswith("-"):
            return None
        values[option].append(value)
    if len(values["--repo"]) != 1 or not values["--path"] or len(values["--branch"]) > 1:
        return None
    if len(values["--cache-dir"]) > 1:
        return None
    branch = values["--branch"][0] if values["--branch"] else "main"
    cache = values["--cache-dir"][0] if values["--cache-dir"] else None
    return Args(
        values["--repo"][0],
        values["--path"],
        branch=branch,
        as_json=flags["--json"],
        markers=not flags["--no-markers"],
        cache_dir=cache,
    )


def cached_clone(url: str, cache_dir: str | None, environ: Mapping[str, str]) -> str | None:
    """Where the resolver's source keeps its bare clone of ``url`` (``gitrollback/adapters/git_repo.py``:
    ``<cache>/<sha256(url)[:16]>.git``, the cache as ``gitrollback/cli/known_good.py`` chooses it), or None for a URL
    with credentials in it (the source moves them into a header first)."""
    scheme, separator, rest = url.partition("://")
    if separator and scheme.lower() in ("http", "https") and "@" in rest.split("/", 1)[0]:
        return None
    if cache_dir is not None:
        base = os.path.expanduser(cache_dir)
    else:
        base = os.path.join(environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME", "."), ".cache"))
        base = os.path.join(base, "gitrollback", "repos")
    import hashlib

    return os.path.join(base, f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.git")


def _git_dir(repo: str) -> str | None:
    """The repository's git directory when ``repo`` is the top of a work tree or a bare repository, else None."""
    dot_git = os.path.join(repo, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    if os.path.isfile(os.path.join(repo, "HEAD")) and os.path.isdir(os.path.join(repo, "objects")):
        return repo
    return None


def _label(sha: str, subject: str, tags: Sequence[str]) -> str:
    """How the resolver names a commit in a reason (``known_good/scan.py``, ``label``)."""
    return f"{sha[:7]} '{subject}'" + (f" ({', '.join(tags)})" if tags else "")


def _tags(decoration: str) -> list[str]:
    names = (name.strip() for name in decoration.split(","))
    return sorted(name.removeprefix("tag: ") for name in names if name.startswith("tag: "))


def answer(args: Args, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The ``--json`` document of the plain case, or None when the full resolver must answer."""
    [path, *others] = list(dict.fromkeys(args.paths))
    if others or not path or posixpath.normpath("/" + path.strip()).lstrip("/") != path:
        return None
    if args.branch.startswith("-") or any(name in environ for name in _GIT_LOCATION):
        return None
    env = {**environ, "GIT_TERMINAL_PROMPT": "0"}
    repo = args.repo
    if _SCHEME.match(args.repo) or _SCP.match(args.repo):
        clone = cached_clone(args.repo, args.cache_dir, environ)
        if clone is None or not os.path.isdir(clone) or not _has_commit_graph(clone):
            return None  # the resolver's source clones it (and writes its commit-graph) first
        repo = clone
        fetch = ["git", "-C", repo, "-c", "core.logAllRefUpdates=true", "fetch", "--prune", "--quiet", "origin"]
        null = subprocess.DEVNULL
        if subprocess.run(fetch, stdin=null, stdout=null, stderr=null, env=env, check=False).returncode != 0:
            return None  # never answer from a cache that could not be brought up to date
    git_dir = _git_dir(repo)
    if git_dir is None or os.path.exists(os.path.join(git_dir, "shallow")):
        return None
    git = ["git", "-C", repo, *_CONFIG]
    markers = None
    if args.markers:  # in parallel with the walk: any marker tag makes it evidence for the resolver to weigh
        markers = subprocess.Popen(
            [*git, "for-each-ref", "--count=1", "--format=%(refname)", _MARKERS],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    walk = [
        *git,
        "log",
        "--first-parent",
        "--raw",
        "-t",
        "--no-renames",
        "--no-abbrev",
        "--no-color",
        "-z",
        f"--format={_FORMAT}",
        "--decorate-refs=refs/tags/",
        "--decorate-refs-exclude=refs/tags/gitrollback/",
        "--max-count=2",
        "--end-of-options",
        args.branch,
        "--",
        f":(literal){path}",
    ]
    log = subprocess.run(walk, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, check=False)
    if markers is not None:
        found, _ = markers.communicate()
        if markers.returncode != 0 or found.strip():
            return None
    if log.returncode != 0:
        return None
    return _document(log.stdout, path)


def _has_commit_graph(git_dir: str) -> bool:
    info = os.path.join(git_dir, "objects", "info")
    return os.path.exists(os.path.join(info, "commit-graph")) or os.path.isdir(os.path.join(info, "commit-graphs"))


def _document(output: bytes, path: str) -> dict[str, Any] | None:
    """The answer from the walk's two commits, or None when they are not the plain case."""
    try:
        text = output.decode("utf-8")
    except UnicodeDecodeError:
        return None
    commits: list[tuple[list[str], list[tuple[str, str]]]] = []  # header fields, raw (old, new) of the path
    tokens = text.split("\0")
    index = 0
    while index < len(tokens):
        token = tokens[index].lstrip("\n")
        index += 1
        if token.startswith(_HEADER):
            commits.append(((token[1:].split(_FIELD, 4) + [""] * 5)[:5], []))
        elif token.startswith(":") and commits and index < len(tokens):
            old_new, changed = token[1:].split(" "), tokens[index]
            index += 1
            if changed == path and len(old_new) >= 4:
                commits[-1][1].append((old_new[2], old_new[3]))
    if len(commits) != 2:
        return None
    (bad, entries), (good, _) = commits
    if len(entries) != 1:
        return None
    [(before, after)] = entries
    message = f"{bad[3]}\n{bad[4]}".lower()
    if _ZERO in (before, after) or before == after or any(text in message for text in _NOT_PLAIN):
        return None
    bad_sha, good_sha = bad[0], good[0]
    introduced = _label(bad_sha, bad[3], _tags(bad[2]))
    state = _label(good_sha, good[3], _tags(good[2]))
    return {
        "revision": good_sha,
        "trees": {path: before},
        "source": "git-history",
        "reason": f"{path} last changed in {introduced}, which introduced the failing content; "
        f"the state before it is {state}",
        "rejected": [{"revision": bad_sha, "why": f"{path} tree equals the bad tree"}],
        "bad_revision": bad_sha,
        "summary": good[3],
        "warnings": [],
    }


def render(known: Mapping[str, Any]) -> str:
    """The human-readable answer (the ``--json`` document's fields, as ``gitrollback known-good`` prints them)."""
    lines = [f"Known-good: {known['revision']} ({known['source']})", f"  {known['reason']}"]
    lines += [f"Warning: {warning}" for warning in known["warnings"]]
    lines += [f"  {path}: {tree}" for path, tree in known["trees"].items()]
    if known["bad_revision"]:
        lines.append(f"Bad change: {known['bad_revision']}")
    if known["rejected"]:
        lines.append("Rejected:")
        lines += [f"  {r['revision'][:12]}: {r['why']}" for r in known["rejected"]]
    return "\n".join(lines)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int | None:
    """Answer and print the plain case (exit 0), or return None so that the full CLI runs."""
    args = parse(argv)
    if args is None:
        return None
    try:
        known = answer(args, environ)
    except OSError:  # git missing or not runnable: the full CLI says so
        return None
    except KeyboardInterrupt:  # as the full CLI answers Ctrl-C (gitrollback/cli/__init__.py)
        print("gitrollback: interrupted; every step is safe to rerun", file=sys.stderr, flush=True)
        return 130
    if known is None:
        return None
    if args.as_json:
        import json

        print(json.dumps(known, indent=2, sort_keys=False), flush=True)
    else:
        print(render(known), flush=True)
    return 0
