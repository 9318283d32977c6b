"""GitHttpServer / GitHttpBackend with the real git CLI: clone, push, auth, rejected and large pushes."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback.testing.git_http import GitHttpBackend, GitHttpServer
from gitrollback.testing.repos import CommitSpec, make_repo, run_git
from gitrollback.testing.server import Request

TOKEN = "ghs_s3cr3t-t0ken"


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done


def _with_token(url: str, token: str = TOKEN, user: str = "x-access-token") -> str:
    return url.replace("http://", f"http://{user}:{token}@")


@pytest.fixture(name="server")
def _server(tmp_path: Path) -> Iterator[GitHttpServer]:
    """A token-protected server with acme/gitops holding one commit on main."""
    with GitHttpServer(tmp_path / "srv", token=TOKEN) as server:
        bare = server.create_bare("acme", "gitops")
        seed = tmp_path / "seed"
        make_repo(seed, [CommitSpec("one", files={"deploy/app.yaml": "replicas: 1\n"})])
        run_git(seed, "push", "--quiet", str(bare), "main")
        yield server


def test_clone_and_push_with_the_token(server: GitHttpServer, tmp_path: Path) -> None:
    """A clone and a push with the token in the URL succeed and the push lands in the bare repository."""
    url = _with_token(server.url_for("acme", "gitops"))
    _git(tmp_path, "clone", "--quiet", url, "work")
    work = tmp_path / "work"
    assert (work / "deploy" / "app.yaml").read_text() == "replicas: 1\n"
    make_repo(work, [CommitSpec("two", files={"deploy/app.yaml": "replicas: 2\n"})])
    _git(work, "push", "--quiet", "origin", "main")
    bare = server.root / "acme" / "gitops.git"
    assert run_git(bare, "rev-parse", "main") == run_git(work, "rev-parse", "HEAD")
    paths = [(req.method, req.path) for req, _ in server.requests]
    assert ("GET", "/acme/gitops.git/info/refs") in paths
    assert ("POST", "/acme/gitops.git/git-upload-pack") in paths
    assert ("POST", "/acme/gitops.git/git-receive-pack") in paths
    refs = [req for req, _ in server.requests if req.path.endswith("/info/refs")]
    assert {r.query_value("service") for r in refs} == {"git-upload-pack", "git-receive-pack"}
    assert any(req.header("Git-Protocol") == "version=2" for req in refs)  # protocol v2 reached the CGI


def test_bad_token_is_authentication_failed(server: GitHttpServer, tmp_path: Path) -> None:
    """A wrong token gets 401 with a Basic challenge, and git reports "Authentication failed"."""
    done = _git(tmp_path, "clone", _with_token(server.url_for("acme", "gitops"), "wrong"), "x", check=False)
    assert done.returncode == 128
    assert "Authentication failed for" in done.stderr
    assert "wrong" not in done.stderr
    _, response = server.requests[-1]
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="git"'


def test_no_token_fails_without_prompting(server: GitHttpServer, tmp_path: Path) -> None:
    """Without credentials and with prompts disabled, git fails at once asking for a user name."""
    done = _git(tmp_path, "clone", server.url_for("acme", "gitops"), "x", check=False)
    assert done.returncode == 128
    assert "could not read Username" in done.stderr
    assert "terminal prompts disabled" in done.stderr
    assert not (tmp_path / "x").exists()


def test_wrong_user_name_is_refused(server: GitHttpServer, tmp_path: Path) -> None:
    """The token only works with the configured Basic-auth user name."""
    done = _git(tmp_path, "clone", _with_token(server.url_for("acme", "gitops"), user="oauth2"), "x", check=False)
    assert "Authentication failed for" in done.stderr


def test_extra_header_authenticates_without_a_url_token(server: GitHttpServer, tmp_path: Path) -> None:
    """An http.extraHeader from GIT_CONFIG_* authenticates, and the token stays out of .git/config."""
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader"}
    env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {basic}"
    done = subprocess.run(
        ["git", "clone", "--quiet", server.url_for("acme", "gitops"), "work"],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    config = (tmp_path / "work" / ".git" / "config").read_text()
    assert TOKEN not in config
    assert basic not in config


def test_non_fast_forward_push_is_rejected(server: GitHttpServer, tmp_path: Path) -> None:
    """A push that would lose a commit someone else pushed is rejected with "fetch first"."""
    url = _with_token(server.url_for("acme", "gitops"))
    _git(tmp_path, "clone", "--quiet", url, "a")
    _git(tmp_path, "clone", "--quiet", url, "b")
    make_repo(tmp_path / "a", [CommitSpec("from a", files={"a.txt": "a\n"})])
    make_repo(tmp_path / "b", [CommitSpec("from b", files={"b.txt": "b\n"})])
    _git(tmp_path / "a", "push", "--quiet", "origin", "main")
    done = _git(tmp_path / "b", "push", "origin", "main", check=False)
    assert done.returncode == 1
    assert "[rejected]" in done.stderr
    assert "(fetch first)" in done.stderr
    bare = server.root / "acme" / "gitops.git"
    assert run_git(bare, "rev-parse", "main") == run_git(tmp_path / "a", "rev-parse", "HEAD")


def test_large_push_is_chunked_and_lands(server: GitHttpServer, tmp_path: Path) -> None:
    """A push over http.postBuffer (1 MB) arrives chunked, is de-chunked by the base and stored intact."""
    _git(tmp_path, "clone", "--quiet", _with_token(server.url_for("acme", "gitops")), "work")
    work = tmp_path / "work"
    blob = os.urandom(3 * 1024 * 1024)
    make_repo(work, [CommitSpec("big", files={"big.bin": blob})])
    _git(work, "push", "--quiet", "origin", "main")
    pushes = [req for req, _ in server.requests if req.path.endswith("/git-receive-pack")]
    assert any(req.header("Transfer-Encoding").lower() == "chunked" for req in pushes)
    assert max(len(req.body) for req in pushes) > 3 * 1024 * 1024
    bare = server.root / "acme" / "gitops.git"
    stored = subprocess.run(["git", "cat-file", "blob", "main:big.bin"], cwd=bare, capture_output=True, check=True)
    assert stored.stdout == blob


def test_gzip_upload_pack_request(server: GitHttpServer, tmp_path: Path) -> None:
    """A clone that wants many refs sends a gzipped upload-pack body, which http-backend inflates."""
    bare = server.root / "acme" / "gitops.git"
    seed = tmp_path / "seed"
    for n in range(40):
        run_git(seed, "commit", "--quiet", "--allow-empty", "-m", f"c{n}")
        run_git(seed, "tag", f"t{n}")
    run_git(seed, "push", "--quiet", str(bare), "main", "--tags")
    _git(tmp_path, "-c", "protocol.version=0", "clone", "--quiet", _with_token(server.url_for("acme", "gitops")), "w")
    assert run_git(tmp_path / "w", "tag", "--list", "t39") == "t39"
    fetches = [req for req, _ in server.requests if req.path.endswith("/git-upload-pack")]
    assert any(req.header("Content-Encoding") == "gzip" for req in fetches)


def test_backend_answers_only_git_paths(tmp_path: Path) -> None:
    """Non-git paths give None so a host simulator can serve its API on the same port."""
    backend = GitHttpBackend(tmp_path, token=TOKEN)

    def request(path: str) -> Request:
        return Request("GET", path, path, {}, {}, b"", "127.0.0.1:1")

    assert backend.handle(request("/api/v3/repos/acme/gitops")) is None
    assert backend.handle(request("/acme/gitops.git/objects/info/packs")) is None
    assert backend.handle(request("/../etc.git/info/refs")) is None
    refused = backend.handle(request("/acme/gitops.git/info/refs"))
    assert refused is not None
    assert refused.status == 401


def test_anonymous_server_allows_push_and_404s_unknown_repos(tmp_path: Path) -> None:
    """Without a token anyone may push (receive-pack is enabled); a missing repository is a 404."""
    with GitHttpServer(tmp_path / "srv") as server:
        bare = server.create_bare("acme", "open", initial_branch="trunk")
        assert server.create_bare("acme", "open") == bare
        assert run_git(bare, "symbolic-ref", "HEAD") == "refs/heads/trunk"
        work = tmp_path / "work"
        make_repo(work, [CommitSpec("one", files={"f": "1"})], branch="trunk")
        _git(work, "push", "--quiet", server.url_for("acme", "open"), "trunk")
        assert run_git(bare, "rev-parse", "trunk") == run_git(work, "rev-parse", "HEAD")
        done = _git(tmp_path, "clone", server.url_for("acme", "missing"), "m", check=False)
        assert done.returncode == 128
        assert server.requests[-1][1].status == 404
        with pytest.raises(ValueError, match="not a usable repository name"):
            server.create_bare("..", "x")
