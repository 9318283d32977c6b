"""The fast path of ``known-good`` answers exactly as the resolver does, or declines and lets the resolver answer.

Differential: on generated histories, every first-parent commit that changed an asset path (and the one after it)
becomes the branch tip in turn, so the bad change is by turns an ordinary commit, a merge, a hand-made revert, the
move of the folder, an added or deleted file; the fast path's document must equal the full CLI's ``--json`` output
byte for byte whenever it answers, its text the CLI's text, and it must answer the ordinary cases.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate_history import ASSET_PATHS, GeneratedHistory, generate_history
from gitrollback import fast_known_good
from gitrollback.cli import main
from gitrollback.cli.output import Output
from gitrollback.testing.repos import build_sandbox_repo

ROOT = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def full(argv: list[str]) -> tuple[int, str]:
    """The full CLI in-process (the resolver): exit code and stdout."""
    out = io.StringIO()
    code = main(argv, env={"HOME": "/nonexistent"}, output=Output(out, io.StringIO()))
    return code, out.getvalue()


def fast(argv: list[str]) -> dict[str, Any] | None:
    args = fast_known_good.parse(argv)
    assert args is not None, argv
    return fast_known_good.answer(args, os.environ)


@pytest.fixture(name="histories", scope="module")
def _histories(tmp_path_factory: pytest.TempPathFactory) -> list[GeneratedHistory]:
    """Three small seeded histories (merges, reverts, the folder's move, a tag every 20 commits)."""
    base = tmp_path_factory.mktemp("fast")
    return [generate_history(base / f"h{seed}", commits=120, seed=seed, tag_every=20) for seed in (3, 11, 29)]


def _tips(history: GeneratedHistory, path: str) -> list[str]:
    """Every first-parent commit that changed ``path`` (as a tip, it is the bad change) and the commit after each."""
    chain = git(history.path, "rev-list", "--first-parent", "--reverse", "main").split()
    changed = set(git(history.path, "rev-list", "--first-parent", "main", "--", path).split())
    tips = {sha for i, sha in enumerate(chain) if sha in changed or (i and chain[i - 1] in changed)}
    return [sha for sha in chain if sha in tips]


def test_every_fast_answer_is_the_resolvers_and_the_plain_ones_are_answered(histories: list[GeneratedHistory]) -> None:
    """Over every path-changing tip of three histories and three asset paths: equal documents whenever the fast
    path answers, and a decline only where the resolver refuses or warns."""
    answered = declined = 0
    for history in histories:
        for path in ASSET_PATHS:
            for tip in _tips(history, path):
                git(history.path, "branch", "-f", "probe", tip)
                argv = ["known-good", "--repo", str(history.path), "--path", path, "--branch", "probe", "--json"]
                document = fast(argv)
                code, out = full(argv)
                if document is None:  # only where the resolver refuses or warns: nothing plain is declined
                    declined += 1
                    assert code != 0 or json.loads(out)["warnings"], (history.path, path, tip)
                    continue
                answered += 1
                assert code == 0, out
                assert json.dumps(document, indent=2) + "\n" == out, (history.path, path, tip)
    assert answered > declined > 0


def test_the_text_answer_is_the_clis(histories: list[GeneratedHistory]) -> None:
    """Without --json, the fast path prints what the full CLI prints."""
    history = histories[0]
    argv = ["known-good", "--repo", str(history.path), "--path", "backend/tekton"]
    document = fast(argv)
    assert document is not None and document["revision"] == history.expected_known_good
    assert fast_known_good.render(document) + "\n" == full(argv)[1]


def test_the_sandbox_history_is_answered_the_same(tmp_path: Path) -> None:
    """The sandbox's real tree and release tags: the same document, with the tags in the reason."""
    repo = build_sandbox_repo(tmp_path / "repo")
    argv = ["known-good", "--repo", str(repo.path), "--path", repo.asset_path, "--json"]
    document = fast(argv)
    assert document is not None and document["revision"] == repo.good and "(v0.4.0)" in document["reason"]
    assert json.dumps(document, indent=2) + "\n" == full(argv)[1]


def _commit(repo: Path, message: str) -> None:
    """A commit that changes a Task, with ``message``."""
    task = next((repo / "backend" / "tekton" / "tasks").rglob("*.yaml"))
    task.write_text(task.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", message)


def test_it_declines_what_is_not_plain(histories: list[GeneratedHistory], tmp_path: Path) -> None:
    """Marker tags, a revert or a gitrollback rollback as the bad change, a shallow clone, a URL, two paths, an
    unknown branch, a folder inside a repository: None (and the resolver answers those it can, with warnings)."""
    history = histories[1]
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "--quiet", str(history.path), str(repo))
    argv = ["known-good", "--repo", str(repo), "--path", "backend/tekton"]
    assert fast(argv) is not None
    git(repo, "tag", "-a", "-m", "marker", "gitrollback/verified/p1/20260101T000000Z", history.bad)
    assert fast(argv) is None
    assert fast([*argv, "--no-markers"]) is not None
    git(repo, "tag", "-d", "gitrollback/verified/p1/20260101T000000Z")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "revert", "--no-edit", history.bad)
    assert fast(argv) is None
    code, out = full([*argv, "--json"])
    assert code == 0 and "reverts" in json.loads(out)["warnings"][0]
    _commit(repo, f"restore the tasks\n\nRollback-Of: {history.bad}\nRollback-To: {history.expected_known_good}")
    assert fast(argv) is None
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth=5", f"file://{history.path}", str(shallow))
    assert fast(["known-good", "--repo", str(shallow), "--path", "backend/tekton"]) is None
    assert fast(["known-good", "--repo", f"file://{history.path}", "--path", "backend/tekton"]) is None
    plain = ["known-good", "--repo", str(history.path), "--path", "backend/tekton"]
    assert fast(plain) is not None
    assert fast([*plain, "--path", "deploy/argo"]) is None
    assert fast([*plain, "--branch", "no-such-branch"]) is None
    assert fast(["known-good", "--repo", str(history.path / "backend"), "--path", "tekton"]) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["known-good", "--repo", "r", "--path", "p"],
        ["known-good", "--repo=r", "--path=p", "--path", "q", "--json", "--no-markers", "--branch=b"],
        ["known-good", "--json", "--path", "p", "--repo", "r", "--branch", "b"],
    ],
)
def test_what_it_parses_it_parses_as_the_cli_does(argv: list[str]) -> None:
    """For the options it takes, its reading equals argparse's (the CLI's own parser)."""
    from gitrollback.cli import _parser

    args = fast_known_good.parse(argv)
    cli = _parser().parse_args(argv)
    assert args is not None
    assert (args.repo, args.paths, args.branch, args.as_json, args.markers) == (
        cli.repo,
        cli.path,
        cli.branch,
        cli.json,
        not cli.no_markers,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["known-good", "--repo", "r"],
        ["known-good", "--repo", "r", "--path", "p", "--bad", "x"],
        ["known-good", "--repo", "r", "--path", "p", "--to", "x"],
        ["known-good", "--repo", "r", "--pa", "p"],
        ["known-good", "--repo", "r", "--path", "p", "--debug"],
        ["known-good", "--repo", "r", "--path", "p", "-h"],
        ["known-good", "--repo", "r", "--path", "-p"],
        ["known-good", "--repo", "r", "--repo", "s", "--path", "p"],
        ["plan", "--repo", "r", "--path", "p"],
        [],
    ],
)
def test_anything_else_goes_to_the_full_cli(argv: list[str]) -> None:
    """Other options, abbreviations, help, a value that looks like an option, repeats: not parsed."""
    assert fast_known_good.parse(argv) is None


def test_python_m_gitrollback_known_good_imports_only_the_fast_path(histories: list[GeneratedHistory]) -> None:
    """A plain question runs without importing the rest of gitrollback, subprocess's own imports aside."""
    history = histories[2]
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['gitrollback', 'known-good', '--repo', {str(history.path)!r}, '--path', 'backend/tekton']\n"
        "try:\n    runpy.run_module('gitrollback', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('gitrollback')), file=sys.stderr)\n"
        "heavy = ('typing', 'dataclasses', 'logging', 'json', 'git')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    modules, heavy = done.stderr.strip().splitlines()[-2:]
    assert modules == "['gitrollback', 'gitrollback.entry', 'gitrollback.fast_known_good']"
    assert heavy == "[]"
    assert done.stdout.startswith(f"Known-good: {history.expected_known_good} (git-history)\n")


def test_a_cached_url_clone_is_fetched_and_answered_the_same(histories: list[GeneratedHistory], tmp_path: Path) -> None:
    """The first run of a URL clones it (the full path); later ones fetch the clone and answer on the fast path,
    the same as the resolver, new upstream commits included."""
    upstream = tmp_path / "upstream"
    git(tmp_path, "clone", "--quiet", str(histories[0].path), str(upstream))
    url = upstream.as_uri()
    argv = ["known-good", "--repo", url, "--path", "backend/tekton", "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert fast(argv) is None  # not cloned yet
    code, out = full(argv)
    assert code == 0
    document = fast(argv)
    assert document is not None and json.dumps(document, indent=2) + "\n" == out
    _commit(upstream, "tekton: tune a task")
    document = fast(argv)
    assert document is not None and document["bad_revision"] == git(upstream, "rev-parse", "HEAD")
    assert json.dumps(document, indent=2) + "\n" == full(argv)[1]
    assert fast_known_good.cached_clone("https://user:secret@git.example.com/a.git", None, {}) is None


@pytest.mark.parametrize(
    "location",
    [
        "https://git.example.com/a/b.git",
        "git@github.com:a/b.git",
        "ssh://git@h/a",
        "file:///srv/a",
        "/srv/a",
        "a/b",
        "C:x",
    ],
)
def test_it_tells_urls_and_cache_paths_as_the_resolvers_source_does(location: str, tmp_path: Path) -> None:
    """URL or local path as _git_remote.is_url says, and the clone where GitAssetSource keeps it, cache as the CLI's."""
    from gitrollback.adapters._git_remote import is_url
    from gitrollback.adapters.git_repo import GitAssetSource
    from gitrollback.cli.known_good import cache_dir

    assert bool(fast_known_good._SCHEME.match(location) or fast_known_good._SCP.match(location)) == is_url(location)
    if is_url(location):
        env = {"HOME": str(tmp_path)}
        clone = fast_known_good.cached_clone(location, None, env)
        assert clone == str(GitAssetSource(location, cache_dir=cache_dir(env)).path)
        assert fast_known_good.cached_clone(location, str(tmp_path / "c"), {}) == str(
            GitAssetSource(location, cache_dir=tmp_path / "c").path
        )


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "full-cli"])
def test_a_reader_that_went_away_is_exit_141_without_a_traceback(tmp_path: Path, fast_path: bool) -> None:
    """stdout closed before the answer is written (``… | head -c 1``): exit 141, as a SIGPIPE'd process shows, and
    nothing on stderr, through the fast path and through the full CLI (``--no-markers`` sends it there)."""
    repo = build_sandbox_repo(tmp_path / "repo")
    argv = ["known-good", "--repo", str(repo.path), "--path", repo.asset_path, "--json"]
    if not fast_path:
        argv.append("--no-markers")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "gitrollback", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    with child.stderr:
        err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141
    assert err == ""
