"""Build real git repositories from a small declarative spec, and the sandbox's GitOps history.

Tests and the sandbox need repositories whose history means something (a good release, a broken upgrade,
unrelated commits around them), built quickly and identically on every machine. ``make_repo`` drives the
``git`` CLI with ``subprocess`` (stdlib only, like every simulator in ``gitrollback.testing``) under a fully
pinned environment: fixed author/committer identity, deterministic dates, no system or global git config
(so a developer's ``commit.gpgsign`` or hooks cannot leak in; see docs/testing.md), initial
branch ``main``.

``build_sandbox_repo`` lays the real Image Factory Tekton tree (shipped as package data, 26 objects) at
``backend/tekton/`` and tells the incident's story: ``v0.3.0`` (c3) is the known-good state and ``v0.4.0``
(c5) is the broken upgrade. c5 renames Task ``kaniko-no-push`` to ``kaniko-build`` and drops the registry
Deployment's ``spec.selector``; the API server rejects that Deployment, and because the installer applies
tasks before jobs and pipelines, the pipelines are never applied and Task ``kaniko-no-push`` is missing, so
readiness fails (imagefactoryoss/imagefactory ``applyTektonAssetsToProvider`` applies the resources list in
order; see docs/imagefactory.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["CommitSpec", "SandboxRepo", "build_sandbox_repo", "fixture_files", "fixture_root", "make_repo", "run_git"]

IDENTITY = {"name": "Image Factory Bot", "email": "bot@imagefactory.test"}
BASE_DATE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ASSET_PATH = "backend/tekton"


@dataclass(frozen=True)
class CommitSpec:
    """One commit: files to write (text or bytes), paths to delete, an optional annotated tag.

    ``merge`` names a revision to merge with ``--no-ff`` (the files are written on top of the merge).
    ``label`` defaults to ``c<n>`` (1-based position in the list); ``date`` defaults to a day per commit.
    """

    message: str
    files: Mapping[str, bytes | str] = field(default_factory=dict)
    delete: Sequence[str] = ()
    tag: str | None = None
    label: str | None = None
    date: datetime | None = None
    merge: str | None = None


def _env(when: datetime) -> dict[str, str]:
    stamp = when.isoformat()
    return {
        "GIT_AUTHOR_NAME": IDENTITY["name"],
        "GIT_AUTHOR_EMAIL": IDENTITY["email"],
        "GIT_COMMITTER_NAME": IDENTITY["name"],
        "GIT_COMMITTER_EMAIL": IDENTITY["email"],
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }


def run_git(repo: Path, *args: str, when: datetime = BASE_DATE) -> str:
    """Run one git command in ``repo`` under the pinned environment; returns stripped stdout."""
    exe = shutil.which("git") or "git"
    done = subprocess.run([exe, *args], cwd=repo, env=_env(when), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def make_repo(
    path: Path, commits: Sequence[CommitSpec], *, branch: str = "main", start: str | None = None
) -> dict[str, str]:
    """Create (or extend) a repository at ``path`` with ``commits`` on ``branch``.

    An existing repository is extended: ``branch`` is checked out, created from ``start`` (or the current
    commit) when it does not exist yet. Returns ``{label: sha}`` plus ``{tag: sha}`` for tagged commits.
    """
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        run_git(path, "init", "--quiet", "--initial-branch", branch)
    elif run_git(path, "branch", "--list", branch):
        run_git(path, "checkout", "--quiet", branch)
    else:
        run_git(path, "checkout", "--quiet", "-b", branch, *([start] if start else []))
    count = int(run_git(path, "rev-list", "--all", "--count") or 0) if _has_commits(path) else 0
    shas: dict[str, str] = {}
    for index, spec in enumerate(commits):
        when = spec.date or BASE_DATE + timedelta(days=count + index)
        if spec.merge:
            run_git(path, "merge", "--quiet", "--no-ff", "--no-commit", spec.merge, when=when)
        for name in spec.delete:
            run_git(path, "rm", "-r", "--quiet", "--", name)
        for name, content in spec.files.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        run_git(path, "add", "--all")
        run_git(path, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", spec.message, when=when)
        sha = run_git(path, "rev-parse", "HEAD")
        shas[spec.label or f"c{index + 1}"] = sha
        if spec.tag:
            run_git(path, "tag", "--annotate", spec.tag, "-m", f"Release {spec.tag}", when=when)
            shas[spec.tag] = sha
    return shas


def _has_commits(path: Path) -> bool:
    exe = shutil.which("git") or "git"
    probe = [exe, "rev-parse", "--verify", "--quiet", "HEAD"]
    return subprocess.run(probe, cwd=path, env=_env(BASE_DATE), capture_output=True, check=False).returncode == 0


@dataclass(frozen=True)
class SandboxRepo:
    """The sandbox's GitOps repository: ``good`` (c3, v0.3.0), ``bad`` (c5, v0.4.0), ``tip`` (c6)."""

    path: Path
    shas: Mapping[str, str]
    good: str
    bad: str
    tip: str
    release_tags: Mapping[str, str]
    branch: str = "main"
    asset_path: str = ASSET_PATH


def fixture_root() -> Path:
    """The directory of the unmodified Image Factory Tekton tree inside the installed package."""
    return Path(__file__).resolve().parent / "assets" / "imagefactory-tekton"


def fixture_files() -> dict[str, bytes]:
    """The unmodified Image Factory Tekton tree from the package data, keyed by relative path."""
    root = resources.files("gitrollback.testing") / "assets" / "imagefactory-tekton"
    out: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif prefix or child.name != "SOURCE.md":  # provenance note of the package data, not an asset
                out[f"{prefix}{child.name}"] = child.read_bytes()

    walk(root, "")
    return out


def _edit(text: bytes, old: str, new: str) -> str:
    decoded = text.decode("utf-8")
    if old not in decoded:
        raise RuntimeError(f"sandbox history: fixture text changed, {old!r} not found")
    return decoded.replace(old, new, 1)


_README = (
    "# Image Factory\n\nBuild, scan and promote container images on your own clusters.\n\n"
    "`backend/tekton/` is a copy of imagefactoryoss/imagefactory's Tekton assets (Apache-2.0).\n"
)
_MAIN_GO = (
    'package main\n\nimport (\n\t"log"\n\t"net/http"\n)\n\nfunc main() {\n'
    '\tlog.Println("image factory listening on :8080")\n'
    '\tlog.Fatal(http.ListenAndServe(":8080", nil))\n}\n'
)
_MAIN_GO_V2 = (
    'package main\n\nimport (\n\t"log"\n\t"net/http"\n\t"os"\n)\n\nfunc main() {\n'
    '\taddr := listenAddr()\n\tlog.Printf("image factory listening on %s", addr)\n'
    "\tlog.Fatal(http.ListenAndServe(addr, nil))\n}\n\nfunc listenAddr() string {\n"
    '\tif addr := os.Getenv("IF_LISTEN_ADDR"); addr != "" {\n\t\treturn addr\n\t}\n\treturn ":8080"\n}\n'
)
_CHANGELOG_V1 = "# Changelog\n\n## v0.1.0\n\n- Initial open source release.\n"
_CHANGELOG_V4 = (
    "# Changelog\n\n## v0.4.0\n\n- BREAKING: Tekton Task kaniko-no-push is now kaniko-build.\n"
    "- Internal registry v2 manifests.\n\n## v0.1.0\n\n- Initial open source release.\n"
)
_SELECTOR = "  selector:\n    matchLabels:\n      app.kubernetes.io/name: image-factory-registry\n"


def build_sandbox_repo(path: Path) -> SandboxRepo:
    """Build the sandbox history at ``path`` (six commits on ``main``, four release tags)."""
    assets = fixture_files()
    tekton = {f"{ASSET_PATH}/{name}": data for name, data in assets.items()}
    clone_task = f"{ASSET_PATH}/tasks/v1/git-clone-task.yaml"
    old_task, new_task = (f"{ASSET_PATH}/tasks/v1/kaniko-{n}-task.yaml" for n in ("no-push", "build"))
    pipeline = f"{ASSET_PATH}/pipelines/v1/image-factory-build-kaniko.yaml"
    deployment = f"{ASSET_PATH}/jobs/v1/internal-registry-deployment.yaml"
    kustomization = f"{ASSET_PATH}/kustomization.yaml"
    changelog = "docs/CHANGELOG.md"
    unpinned = {clone_task: _edit(assets["tasks/v1/git-clone-task.yaml"], "alpine/git:2.45.2", "alpine/git:latest")}
    commits = [
        CommitSpec(
            "Initial open source release",
            files={
                **tekton,
                **unpinned,
                "README.md": _README,
                "backend/cmd/server/main.go": _MAIN_GO,
                changelog: _CHANGELOG_V1,
            },
            tag="v0.1.0",
        ),
        CommitSpec(
            "fix(server): read the listen address from IF_LISTEN_ADDR",
            files={"backend/cmd/server/main.go": _MAIN_GO_V2},
            tag="v0.2.0",
        ),
        CommitSpec("feat(tasks): pin git-clone image", files={clone_task: tekton[clone_task]}, tag="v0.3.0"),
        CommitSpec(
            "docs: describe the Tekton asset layout",
            files={"README.md": _README + "\nTekton assets live in `backend/tekton/` (see its kustomization).\n"},
        ),
        CommitSpec(
            "feat(tekton)!: rename kaniko-no-push task to kaniko-build; registry v2",
            files={
                new_task: _edit(tekton[old_task], "name: kaniko-no-push", "name: kaniko-build"),
                kustomization: _edit(tekton[kustomization], "kaniko-no-push-task.yaml", "kaniko-build-task.yaml"),
                pipeline: _edit(tekton[pipeline], "name: kaniko-no-push", "name: kaniko-build"),
                deployment: _edit(tekton[deployment], _SELECTOR, ""),
            },
            delete=(old_task,),
            tag="v0.4.0",
        ),
        CommitSpec(
            "docs: changelog for v0.4.0",
            files={changelog: _CHANGELOG_V4},
        ),
    ]
    shas = make_repo(path, commits, branch="main")
    tags = {tag: shas[tag] for tag in ("v0.1.0", "v0.2.0", "v0.3.0", "v0.4.0")}
    return SandboxRepo(path=path, shas=shas, good=shas["c3"], bad=shas["c5"], tip=shas["c6"], release_tags=tags)
