"""``gitrollback known-good``: resolve the known-good revision of asset paths in any repository, without a config.

This is the resolver on its own, for a person checking what a rollback would pick, or a pipeline that wants the
answer as JSON: ``--repo`` is a local path (read in place, never written) or a URL (cloned bare into the cache,
``$XDG_CACHE_HOME/gitrollback/repos`` or ``~/.cache/gitrollback/repos``, the same place ``state_dir`` defaults
to). ``--json`` prints ``{"revision", "trees", "source", "reason", "rejected": [{"revision", "why"}], "warnings"}``
(plus ``bad_revision`` and ``summary``). A refusal exits 3 (a precondition: nothing usable to roll back to) or 2
(bad input such as an unknown revision or a missing path), with the reason on stderr and, with ``--json``,
``{"error": {"kind", "message", "hint", "exit_code"}}`` on stdout; ``docs/known-good.md`` lists the kinds,
``docs/cli.md`` the codes.
This module imports nothing heavy at import time, so ``gitrollback --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitrollback.adapters.git_repo import GitAssetSource
    from gitrollback.cli.output import Output
    from gitrollback.models import KnownGood

__all__ = ["add_parser", "cache_dir", "known_good_json", "refusal_json", "run"]

EXIT_OK, EXIT_USAGE, EXIT_REFUSED = 0, 2, 3


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``known-good`` on the CLI's subparsers."""
    cmd = sub.add_parser(
        "known-good", parents=parents, help="show the known-good revision of asset paths, with the evidence"
    )
    cmd.add_argument("--repo", required=True, metavar="PATH_OR_URL", help="local repository or URL (cloned to a cache)")
    cmd.add_argument("--path", action="append", required=True, metavar="P", help="asset path; repeat for several")
    cmd.add_argument("--branch", default="main", help="tracked branch (default: main)")
    cmd.add_argument("--bad", metavar="REV", help="the failing revision (default: the branch tip)")
    cmd.add_argument("--to", metavar="REV", help="validate this known-good revision instead of searching")
    cmd.add_argument("--provider", metavar="ID", help="read only this provider's verified-good markers")
    cmd.add_argument("--no-markers", action="store_true", help="ignore gitrollback's verified-good markers")
    cmd.add_argument("--tag-pattern", metavar="GLOB", help="also consider release tags matching GLOB, e.g. 'v*'")
    cmd.add_argument("--cache-dir", metavar="DIR", help="where URL clones live (default: the gitrollback cache)")
    cmd.add_argument("--depth", type=int, metavar="N", help="clone a URL N commits deep; deepened when needed")


def cache_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/gitrollback/repos``, else ``$HOME/.cache/gitrollback/repos``."""
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", ".")) / ".cache")
    return Path(base) / "gitrollback" / "repos"


def known_good_json(known: KnownGood) -> dict[str, Any]:
    """The ``--json`` document."""
    return {
        "revision": known.revision,
        "trees": dict(known.trees),
        "source": known.source,
        "reason": known.reason,
        "rejected": [{"revision": r.revision, "why": r.why} for r in known.rejected],
        "bad_revision": known.bad_revision,
        "summary": known.summary,
        "warnings": list(known.warnings),
    }


def refusal_json(kind: str, message: str, hint: str | None, exit_code: int) -> dict[str, Any]:
    """The ``--json`` document of a refusal (the CLI's error document)."""
    return {"error": {"kind": kind, "message": message, "hint": hint, "exit_code": exit_code}}


def render(known: KnownGood) -> str:
    """The human-readable answer: the ``--json`` document as text, written once for this and the fast path."""
    from gitrollback.fast_known_good import render as render_document

    return render_document(known_good_json(known))


def run(args: argparse.Namespace, env: Mapping[str, str], output: Output) -> int:
    """Resolve and print; refusals are returned as exit codes with the reason on stderr."""
    from gitrollback.adapters.git_repo import GitAssetSource
    from gitrollback.errors import GitError, PreconditionFailedError
    from gitrollback.known_good import Evidence, find_known_good

    cache = Path(args.cache_dir).expanduser() if args.cache_dir else cache_dir(env)
    git_env = {k: v for k, v in env.items() if k in ("GIT_ALLOW_PROTOCOL", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO")}
    evidence = Evidence(provider_id=args.provider, markers=not args.no_markers, tag_pattern=args.tag_pattern)
    try:
        with GitAssetSource(args.repo, cache_dir=cache, env=git_env, depth=args.depth) as source:
            problem = _bad_input(source, args)
            if problem is not None:
                _refusal(output, *problem, EXIT_USAGE, as_json=args.json)
                return EXIT_USAGE
            known = find_known_good(
                source, branch=args.branch, paths=args.path, bad=args.bad, to=args.to, evidence=evidence
            )
    except PreconditionFailedError as exc:
        _refusal(output, exc.message, exc.hint, exc.kind, EXIT_REFUSED, as_json=args.json)
        return EXIT_REFUSED
    except GitError as exc:  # the repository itself: not found, not a repository, clone or fetch failed
        _refusal(output, exc.message, exc.hint, exc.kind, EXIT_USAGE, as_json=args.json)
        return EXIT_USAGE
    if args.json:
        output.json(known_good_json(known))
    else:
        output.result(render(known))
    return EXIT_OK


def _bad_input(source: GitAssetSource, args: argparse.Namespace) -> tuple[str, str, str] | None:
    """Input that names nothing: an unknown branch or revision, or asset paths absent at the bad revision.

    Returns (message, hint, kind) or None.
    """
    from gitrollback.errors import GitError

    revisions = [("branch", args.branch), ("bad revision", args.bad), ("known-good revision", args.to)]
    resolved: dict[str, str] = {}
    for what, rev in revisions:
        if rev is None:
            continue
        try:
            resolved[what] = source.resolve(rev)
        except GitError as exc:
            kind = "unknown_branch" if what == "branch" else "unknown_revision"
            if exc.operation != "resolve":  # the repository itself failed, not the name
                kind = exc.kind
            return f"{what} {rev!r} does not resolve to a commit: {exc.message}", exc.hint or "check the revision", kind
    bad = resolved.get("bad revision", resolved["branch"])
    if all(source.tree_id(bad, path) is None for path in args.path):
        where = ", ".join(args.path)
        return (
            f"{where} does not exist at the bad revision {bad[:12]}",
            "check the asset path (e.g. backend/tekton)",
            "path_missing_at_bad",
        )
    return None


def _refusal(output: Output, message: str, hint: str | None, kind: str, code: int, *, as_json: bool) -> None:
    output.message(f"gitrollback: known-good: {message}")
    if hint:
        output.message(f"  next: {hint}")
    if as_json:
        output.json(refusal_json(kind, message, hint, code))
