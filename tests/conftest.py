"""Guards for every test: a private HOME, a pinned git identity, no stray kube or git config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.testing.repos import SandboxRepo, build_sandbox_repo, fixture_root


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Give each test a private HOME, git identity and kube cache, and drop credentials from the environment."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECACHEDIR", str(home / ".kube" / "cache"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    for var, value in {
        "GIT_AUTHOR_NAME": "gitrollback tests",
        "GIT_AUTHOR_EMAIL": "tests@gitrollback.invalid",
        "GIT_COMMITTER_NAME": "gitrollback tests",
        "GIT_COMMITTER_EMAIL": "tests@gitrollback.invalid",
    }.items():
        monkeypatch.setenv(var, value)
    for var in (
        "KUBECONFIG",
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "ARGOCD_AUTH_TOKEN",
        "GITROLLBACK_CONFIG",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(name="fixture_tree")
def _fixture_tree() -> dict[str, bytes]:
    """The real Image Factory asset tree, as a {relative path: bytes} map."""
    root = fixture_root()
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(name="sandbox", scope="module")
def _sandbox(tmp_path_factory: pytest.TempPathFactory) -> SandboxRepo:
    """The sandbox's asset repository (v0.1.0 .. v0.4.0 and a docs commit on top), shared by a test module."""
    return build_sandbox_repo(tmp_path_factory.mktemp("sandbox") / "repo")


@pytest.fixture(name="source", scope="module")
def _source(sandbox: SandboxRepo) -> Iterator[GitAssetSource]:
    """A GitAssetSource reading the sandbox repository in place."""
    with GitAssetSource(str(sandbox.path)) as src:
        yield src
