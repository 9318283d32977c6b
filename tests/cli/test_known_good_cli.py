"""`gitrollback known-good`: JSON and text output, URL clones into the cache, and exit codes 0, 2 and 3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from gitrollback.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from gitrollback.markers import format_marker, marker_tag
from gitrollback.testing.repos import (
    ASSET_PATH,
    BASE_DATE,
    CommitSpec,
    SandboxRepo,
    build_sandbox_repo,
    make_repo,
    run_git,
)


@pytest.fixture(name="repo", scope="module")
def _repo(tmp_path_factory: pytest.TempPathFactory) -> SandboxRepo:
    """The sandbox history (v0.3.0 good, v0.4.0 bad, a docs commit on top), shared by this module."""
    return build_sandbox_repo(tmp_path_factory.mktemp("cli-known-good") / "repo")


def _run(cap, args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(["known-good", *args], env=env or {}, output=cap.output)
    return code, cap.out.getvalue(), cap.err.getvalue()


def test_json_output(cap, repo: SandboxRepo) -> None:
    """--json prints exactly revision, trees, source, reason, rejected, warnings (+ bad_revision, summary); exit 0."""
    code, out, err = _run(cap, ["--repo", str(repo.path), "--path", ASSET_PATH, "--json"])
    assert (code, err) == (EXIT_OK, "")
    doc = json.loads(out)
    assert set(doc) == {"revision", "trees", "source", "reason", "rejected", "bad_revision", "summary", "warnings"}
    assert doc["warnings"] == []
    assert doc["revision"] == repo.good and len(doc["revision"]) == 40
    assert doc["trees"] == {ASSET_PATH: run_git(repo.path, "rev-parse", f"{repo.good}:{ASSET_PATH}")}
    assert doc["source"] == "git-history"
    assert doc["reason"].startswith(f"{ASSET_PATH} last changed in {repo.bad[:7]} ")
    assert doc["rejected"] == [{"revision": repo.bad, "why": f"{ASSET_PATH} tree equals the bad tree"}]
    assert doc["bad_revision"] == repo.bad


def test_text_output_and_options(cap, repo: SandboxRepo) -> None:
    """Without --json the answer is readable text; --to, --bad and --branch are honoured."""
    code, out, _ = _run(cap, ["--repo", str(repo.path), "--path", ASSET_PATH, "--to", "v0.1.0", "--branch", "main"])
    assert code == EXIT_OK
    assert out.startswith(f"Known-good: {repo.shas['c1']} (explicit)\n")
    assert f"Bad change: {repo.bad}" in out
    cap.out.seek(0), cap.out.truncate()
    code, out, _ = _run(cap, ["--repo", str(repo.path), "--path", ASSET_PATH, "--bad", "v0.3.0", "--json"])
    assert code == EXIT_OK and json.loads(out)["revision"] == repo.shas["c1"]


def test_url_is_cloned_into_the_xdg_cache(cap, repo: SandboxRepo, tmp_path: Path) -> None:
    """A URL is cloned bare under $XDG_CACHE_HOME/gitrollback/repos and answered from there."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "GIT_ALLOW_PROTOCOL": "file"}
    code, out, err = _run(cap, ["--repo", repo.path.as_uri(), "--path", ASSET_PATH, "--json"], env)
    assert (code, err) == (EXIT_OK, "")
    assert json.loads(out)["revision"] == repo.good
    clones = [p for p in (tmp_path / "xdg" / "gitrollback" / "repos").iterdir() if p.suffix != ".lock"]
    assert len(clones) == 1 and clones[0].name.endswith(".git")


def test_markers_and_tag_pattern_options(cap, tmp_path: Path) -> None:
    """--provider reads that provider's markers; --tag-pattern adds release tags; --no-markers ignores markers."""
    repo = build_sandbox_repo(tmp_path / "repo")
    when = BASE_DATE + timedelta(days=10)
    run_git(repo.path, "tag", "-a", marker_tag("p1", when), "-m", format_marker("p1", repo.shas["c1"], when, {}),
            repo.shas["c1"])  # fmt: skip
    base = ["--repo", str(repo.path), "--path", ASSET_PATH, "--json"]
    code, out, _ = _run(cap, [*base, "--provider", "p1"])
    assert code == EXIT_OK and json.loads(out)["source"] == "marker"
    assert json.loads(out)["revision"] == repo.shas["c1"]
    cap.out.seek(0), cap.out.truncate()
    code, out, _ = _run(cap, [*base, "--no-markers", "--tag-pattern", "v*"])
    assert code == EXIT_OK and (json.loads(out)["source"], json.loads(out)["revision"]) == ("release-tag", repo.good)


@pytest.mark.parametrize(
    ("args", "message", "kind"),
    [
        (["--bad", "v9.9.9"], "bad revision 'v9.9.9' does not resolve to a commit", "unknown_revision"),
        (["--to", "nope"], "known-good revision 'nope' does not resolve to a commit", "unknown_revision"),
        (["--branch", "release"], "branch 'release' does not resolve to a commit", "unknown_branch"),
        (["--path", "backend/nope"], "does not exist at the bad revision", "path_missing_at_bad"),
    ],
)
def test_bad_input_exits_2(cap, repo: SandboxRepo, args: list[str], message: str, kind: str) -> None:
    """Unknown revisions, branches and paths are bad input: exit 2, the reason on stderr, the kind in --json."""
    paths = [] if "--path" in args else ["--path", ASSET_PATH]
    code, out, err = _run(cap, ["--repo", str(repo.path), *paths, *args, "--json"])
    assert code == EXIT_USAGE
    assert err.startswith("gitrollback: known-good: ") and message in err and "\n  next: " in err
    error = json.loads(out)["error"]
    assert error["kind"] == kind and message in error["message"] and error["hint"]


def test_not_a_repository_exits_2(cap, tmp_path: Path) -> None:
    """A --repo that is not a git repository exits 2 (kind not_a_repository in --json)."""
    code, out, err = _run(cap, ["--repo", str(tmp_path / "missing"), "--path", ASSET_PATH, "--json"])
    assert code == EXIT_USAGE and "not a git repository" in err
    assert json.loads(out)["error"]["kind"] == "not_a_repository"


def test_missing_required_arguments_exit_2(cap) -> None:
    """--repo and --path are required (argparse usage error, exit 2)."""
    assert main(["known-good", "--path", "x"], env={}, output=cap.output) == EXIT_USAGE
    assert "--repo" in cap.err.getvalue()


def test_refusals_exit_3(cap, repo: SandboxRepo, tmp_path: Path) -> None:
    """No earlier state, equal content and a force-pushed bad revision are refusals: exit 3, reason and kind."""
    code, out, err = _run(cap, ["--repo", str(repo.path), "--path", ASSET_PATH, "--bad", "v0.2.0"])
    assert (code, out) == (EXIT_REFUSED, "") and "no earlier state to roll back to" in err
    code, out, err = _run(cap, ["--repo", str(repo.path), "--path", ASSET_PATH, "--to", "v0.4.0", "--json"])
    assert code == EXIT_REFUSED and "nothing to roll back" in err
    assert json.loads(out)["error"]["kind"] == "same_as_bad"
    fork = tmp_path / "fork"
    run_git(tmp_path, "clone", "--quiet", str(repo.path), str(fork))
    run_git(fork, "reset", "--quiet", "--hard", repo.shas["c4"])
    cap.out.seek(0), cap.out.truncate()
    code, out, err = _run(cap, ["--repo", str(fork), "--path", ASSET_PATH, "--bad", repo.bad, "--json"])
    assert code == EXIT_REFUSED and "it was force-pushed away" in err
    assert json.loads(out)["error"]["kind"] == "force_pushed_away"


def _python_m(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(
        [sys.executable, "-m", "gitrollback", "known-good", *args], capture_output=True, text=True, env=env, check=False
    )


def test_python_m_json_shows_warnings_and_refusal_kinds(tmp_path: Path) -> None:
    """Through `python -m gitrollback known-good --json`: a rollback named as bad answers with `warnings`; left
    unnamed at the tip it is refused with `kind` already_rolled_back (exit 3)."""
    repo = tmp_path / "repo"
    shas = make_repo(repo, [CommitSpec("v1", files={"assets/a.yaml": "v: 1\n"})])
    shas |= make_repo(repo, [CommitSpec("v2", files={"assets/a.yaml": "v: 2\n"}, label="v2")])
    message = (
        f"Roll back assets to {shas['c1'][:12]} (provider p1)\n\nMade by gitrollback.\n\n"
        f"Rollback-Of: {shas['v2']}\nRollback-To: {shas['c1']}\nProvider: p1\nFailed-Job: job-9\n"
    )
    rollback = make_repo(repo, [CommitSpec(message, files={"assets/a.yaml": "v: 1\n"})])["c1"]
    named = _python_m("--repo", str(repo), "--path", "assets", "--bad", rollback, "--json")
    assert named.returncode == EXIT_OK, named.stderr
    doc = json.loads(named.stdout)
    assert (doc["revision"], doc["bad_revision"]) == (shas["v2"], rollback)
    assert doc["trees"] == {"assets": run_git(repo, "rev-parse", f"{shas['v2']}:assets")}
    assert len(doc["warnings"]) == 1 and "made after installer job job-9 failed" in doc["warnings"][0]
    refused = _python_m("--repo", str(repo), "--path", "assets", "--json")
    assert refused.returncode == EXIT_REFUSED
    assert json.loads(refused.stdout)["error"]["kind"] == "already_rolled_back"
    assert "gitrollback: known-good: assets already holds what gitrollback's rollback" in refused.stderr
    text = _python_m("--repo", str(repo), "--path", "assets", "--bad", rollback)
    assert "\nWarning: this re-applies content that an earlier rollback removed: " in text.stdout
