"""Generate a large, deterministic, GitOps-shaped git history for the known-good benchmarks.

The known-good resolver (issue 3, "Performance") must stay close to ``git rev-list --first-parent <branch> --
<paths>`` on branches with tens of thousands of commits, so the benchmark needs such a branch, built in
seconds and identical on every machine. One ``git commit`` per commit would take minutes; instead this module
writes a single ``git fast-import`` stream (``git help fast-import``: ``commit``/``merge``/``tag`` commands,
``M ... inline`` file data, ``R`` renames, raw dates) from a seeded ``random.Random``, so the same seed gives the
same commit ids.

Shape of the history on ``main`` (``commits`` counts first-parent commits, merges included):

* three asset folders: ``backend/tekton`` (the real Image Factory Tekton tree from ``fixtures/``; it lives at
  ``tekton/`` until a commit about 30% into the history moves it), ``deploy/argo`` and ``charts/app``, which
  change rarely, with files added and deleted now and then and a few hand-made reverts of Tekton changes;
* unrelated churn (``src/``, ``docs/`` with a non-ASCII file name, CI config) in most commits;
* merge commits of short-lived branches (one to three commits, sometimes diverging from ``main`` before the
  merge), whose changes reach ``main`` only through the merge, as a pull-request workflow does;
* an annotated release tag every ``tag_every`` first-parent commits;
* near the tip: a harmless Tekton change (the expected known-good commit), then the "bad" Tekton change, then a
  few commits that touch nothing under ``backend/tekton``, ``deploy/argo`` or ``charts/app``. The known-good
  commit is also the bad commit's first parent, so "the last path change before the bad one" and "the state
  just before the bad change" name the same commit, for one asset path or any set containing ``backend/tekton``.
  With ``stable_for=N`` the harmless change comes N first-parent commits before the bad one instead and
  ``backend/tekton`` is left alone in between (other folders still change): the expected answer is then that
  change, for ``backend/tekton`` alone, and a path-limited walk from the bad commit has to read all N commits.

Only the standard library and the ``git`` CLI are used. ``python benchmarks/generate_history.py PATH`` prints
the result (path, branch, expected known-good commit, ...) as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

__all__ = ["ASSET_PATHS", "GeneratedHistory", "generate_history", "main"]

ROOT = Path(__file__).resolve().parent.parent
TEKTON_FIXTURE = ROOT / "gitrollback" / "testing" / "assets" / "imagefactory-tekton"
BRANCH = "main"
TEKTON, TEKTON_BEFORE_MOVE, ARGO, CHART = "backend/tekton", "tekton", "deploy/argo", "charts/app"
ASSET_PATHS = (TEKTON, ARGO, CHART)
_ASSET_ROOTS = tuple(f"{p}/" for p in (TEKTON_BEFORE_MOVE, *ASSET_PATHS))
_SIDE_REF = "refs/generate-history/side"  # scratch ref of the short-lived branches, deleted afterwards
_START = 1_577_836_800  # 2020-01-01T00:00:00Z
_AUTHORS = (
    ("Ada Platform", "ada@imagefactory.test"),
    ("Bo Release", "bo@imagefactory.test"),
    ("Chen Ops", "chen@imagefactory.test"),
    ("Dana Büttner", "dana@imagefactory.test"),
    ("renovate[bot]", "bot@renovate.test"),
)
# What a plain main-line commit changes (the rest of the commits are merges, see _MERGE_SHARE). Assets change
# rarely, as in a real GitOps repository: a path-limited walk has to read most of the history to find them.
_KINDS = (("churn", 0.94), ("tekton", 0.008), ("argo", 0.015), ("chart", 0.015), ("revert", 0.002), ("mixed", 0.02))
_MERGE_SHARE = 0.08
_MOVE_AT = 0.3


@dataclass(frozen=True)
class GeneratedHistory:
    """What was generated, and the answers a correct known-good resolver must give on it."""

    path: Path
    branch: str
    asset_paths: tuple[str, ...]
    bad_path: str
    commits: int  # first-parent commits on ``branch``
    total_commits: int  # all commits reachable from ``branch`` (side-branch commits included)
    merges: int
    tags: int
    seed: int
    tip: str
    bad: str  # the commit that introduced the failing backend/tekton content
    expected_known_good: str  # the last backend/tekton change before bad (bad^1 too when stable_for is 0)
    bad_parent: str  # bad^1: same backend/tekton tree as expected_known_good
    stable_for: int  # first-parent commits before bad that leave backend/tekton alone (0: none)
    expected_tree: str  # backend/tekton's tree id at expected_known_good
    bad_tree: str  # backend/tekton's tree id at bad (and at the tip)
    moved: str  # the commit that moved tekton/ to backend/tekton/
    seconds: float

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (the path as a string)."""
        out = asdict(self)
        out["path"] = str(self.path)
        out["asset_paths"] = list(self.asset_paths)
        return out


def _git_env() -> dict[str, str]:
    # No system or global config: a developer's settings must not change what gets generated or measured.
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], env=_git_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def _tekton_files() -> dict[str, bytes]:
    if TEKTON_FIXTURE.is_dir():
        return {
            p.relative_to(TEKTON_FIXTURE).as_posix(): p.read_bytes()
            for p in sorted(TEKTON_FIXTURE.rglob("*"))
            if p.is_file() and p.name != "SOURCE.md"
        }
    task = "apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: {0}\nspec:\n  steps: []\n"
    names = ("git-clone", "kaniko", "scan-image", "push-image")
    files = {f"tasks/v1/{n}-task.yaml": task.format(n).encode() for n in names}
    files["kustomization.yaml"] = ("resources:\n" + "".join(f"  - {p}\n" for p in files)).encode()
    return files


def _initial_files() -> dict[str, bytes]:
    files = {f"{TEKTON_BEFORE_MOVE}/{name}": data for name, data in _tekton_files().items()}
    for env in ("dev", "staging", "prod"):
        files[f"{ARGO}/{env}/application.yaml"] = (
            f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: imagefactory-{env}\n"
            f"spec:\n  source:\n    path: backend/tekton\n    targetRevision: main\n"
        ).encode()
    files[f"{ARGO}/project.yaml"] = b"apiVersion: argoproj.io/v1alpha1\nkind: AppProject\n"
    files[f"{CHART}/Chart.yaml"] = b"apiVersion: v2\nname: app\nversion: 0.1.0\n"
    files[f"{CHART}/values.yaml"] = b"replicaCount: 2\nimage:\n  tag: v0.1.0\n"
    for name in ("deployment", "service", "ingress", "configmap"):
        files[f"{CHART}/templates/{name}.yaml"] = f"# {name} template\nkind: {name.title()}\n".encode()
    for pkg in range(12):
        for mod in range(20):
            files[f"src/pkg{pkg:02d}/module{mod:02d}.py"] = f'"""pkg{pkg} module{mod}."""\n'.encode()
    for doc in ("README.md", "docs/install.md", "docs/operations.md", "docs/runbooks/übersicht.md"):
        files[doc] = f"# {doc}\n".encode()
    files[".github/workflows/ci.yaml"] = b"name: ci\non: [push]\n"
    return files


class _Writer:
    """Streams commits into ``git fast-import`` and mirrors the tree of ``main`` in memory (path -> content)."""

    def __init__(self, stream: IO[bytes], rng: random.Random, tag_every: int) -> None:
        self.tag_every, self.tags = tag_every, 0
        self.out, self.rng = stream, rng
        self.files = _initial_files()
        self.tekton = TEKTON_BEFORE_MOVE
        self.mark = 0
        self.clock = _START
        self.change = 0
        self.main: int | None = None
        self.first_parent = 0
        self.merges = 0
        self.frozen = False  # no more backend/tekton changes (until the bad one)
        self.last_tekton: tuple[str, dict[str, bytes | None]] | None = None

    def _data(self, payload: bytes) -> None:
        self.out.write(b"data %d\n" % len(payload) + payload + b"\n")

    def commit(
        self,
        ref: str,
        message: str,
        changes: dict[str, bytes | None],
        parent: int | None,
        *,
        merge: int | None = None,
        rename: tuple[str, str] | None = None,
    ) -> int:
        """Write one commit (``changes``: path -> new content, None deletes) and return its mark."""
        self.mark += 1
        self.clock += self.rng.randint(60, 7200)
        name, email = self.rng.choice(_AUTHORS)
        ident = f"{name} <{email}> {self.clock} +0000\n".encode()
        self.out.write(b"commit %s\nmark :%d\nauthor %s" % (ref.encode(), self.mark, ident))
        self.out.write(b"committer " + ident)
        self._data(message.encode())
        if parent is not None:
            self.out.write(b"from :%d\n" % parent)
        if merge is not None:
            self.out.write(b"merge :%d\n" % merge)
        if rename is not None:
            self.out.write(b'R "%s" "%s"\n' % (rename[0].encode(), rename[1].encode()))
        for path, content in sorted(changes.items()):
            if content is None:
                self.out.write(b"D %s\n" % path.encode())
            else:
                self.out.write(b"M 100644 inline %s\n" % path.encode())
                self._data(content)
        return self.mark

    def on_main(
        self,
        message: str,
        changes: dict[str, bytes | None],
        *,
        merge: int | None = None,
        rename: tuple[str, str] | None = None,
    ) -> int:
        """Commit on ``main`` and keep the in-memory tree in step."""
        self.main = self.commit(f"refs/heads/{BRANCH}", message, changes, self.main, merge=merge, rename=rename)
        _apply(self.files, changes)
        self.first_parent += 1
        if self.tag_every > 0 and self.first_parent % self.tag_every == 0:
            self.tags += 1
            self.tag(f"v1.{self.tags}.0")
        return self.main

    def tag(self, name: str) -> None:
        """Annotated release tag on the current tip of ``main``."""
        self.out.write(b"tag %s\nfrom :%d\n" % (name.encode(), self.main or 0))
        self.out.write(b"tagger Bo Release <bo@imagefactory.test> %d +0000\n" % self.clock)
        self._data(f"Release {name}\n".encode())

    # -- change pickers ------------------------------------------------------------------------------

    def edit(self, files: dict[str, bytes], path: str, note: str) -> bytes:
        """New content for ``path``: its body with a fresh trailing change line."""
        self.change += 1
        body = files[path].split(b"\n# change:", 1)[0].rstrip(b"\n")
        return body + f"\n# change: {self.change} {note}\n".encode()

    def pick(self, files: dict[str, bytes], kind: str) -> tuple[str, dict[str, bytes | None]]:
        """A commit message and the changes of one commit of ``kind`` against ``files``."""
        rng = self.rng
        if kind == "tekton" and self.frozen:
            kind = "argo"
        if kind == "mixed":  # an asset change together with unrelated files, as real commits often are
            message, changes = self.pick(files, rng.choice(("tekton", "argo", "chart")))
            return message, {**changes, **self.pick(files, "churn")[1]}
        root = {"tekton": self.tekton, "argo": ARGO, "chart": CHART}.get(kind)
        if root is None:
            return self._churn(files)
        pool = sorted(p for p in files if p.startswith(root + "/"))
        changes = {p: self.edit(files, p, kind) for p in rng.sample(pool, min(len(pool), rng.randint(1, 2)))}
        extras = [p for p in pool if "/extra-" in p]
        if rng.random() < 0.08:
            changes[f"{root}/extra-{self.change}.yaml"] = f"# extra {kind} resource {self.change}\n".encode()
        elif extras and rng.random() < 0.3:
            changes[rng.choice(extras)] = None
        if kind == "tekton":
            message = f"tekton: update {len(changes)} asset(s), change {self.change}"
            self.last_tekton = (message, {p: files.get(p) for p in changes})  # what a revert puts back
            return message, changes
        return f"{kind}: update, change {self.change}", changes

    def _churn(self, files: dict[str, bytes]) -> tuple[str, dict[str, bytes | None]]:
        rng, paths = self.rng, list(files)
        chosen: set[str] = set()
        for _ in range(rng.randint(1, 3)):
            path = paths[rng.randrange(len(paths))]
            while path.startswith(_ASSET_ROOTS):  # rejection sampling: cheaper than filtering every commit
                path = paths[rng.randrange(len(paths))]
            chosen.add(path)
        changes: dict[str, bytes | None] = {p: self.edit(files, p, "") for p in sorted(chosen)}
        if rng.random() < 0.03:
            changes[f"src/pkg{rng.randrange(12):02d}/new{self.change}.py"] = b"# new module\n"
        elif rng.random() < 0.01 and (added := [p for p in paths if "/new" in p]):
            changes[rng.choice(added)] = None
        return rng.choice(("fix: ", "feat: ", "chore: ", "docs: ")) + f"change {self.change}", changes

    def revert(self) -> tuple[str, dict[str, bytes | None]] | None:
        """A hand-made revert of the newest Tekton change: its files exactly as they were before it."""
        if self.last_tekton is None or self.frozen:
            return None
        message, before = self.last_tekton
        self.last_tekton = None
        return f'Revert "{message}"\n\nThe new settings broke the nightly builds.', dict(before)


def _apply(files: dict[str, bytes], changes: dict[str, bytes | None]) -> None:
    for path, content in changes.items():
        if content is None:
            files.pop(path, None)
        else:
            files[path] = content


def _merge_branch(w: _Writer, body: int, number: int) -> None:
    fork = w.main
    side = dict(w.files)
    changed: dict[str, bytes | None] = {}
    side_tip = fork
    for _ in range(w.rng.randint(1, 3)):
        kind = w.rng.choices([k for k, _ in _KINDS if k != "revert"], [p for k, p in _KINDS if k != "revert"])[0]
        message, changes = w.pick(side, kind)
        side_tip = w.commit(_SIDE_REF, message, changes, side_tip)
        _apply(side, changes)
        changed.update(changes)
    if w.rng.random() < 0.4 and w.first_parent + 2 < body:  # main moves on before the merge
        message, changes = w.pick(w.files, "churn")
        w.on_main(message, {p: c for p, c in changes.items() if p not in changed})
    w.on_main(f"Merge pull request #{number} from acme/feature-{number}", changed, merge=side_tip)
    w.merges += 1


def _good_change(w: _Writer) -> int:
    task = sorted(p for p in w.files if p.startswith(TEKTON + "/tasks/"))[0]
    return w.on_main("tekton: raise the build pipeline timeout", {task: w.edit(w.files, task, "timeout")})


def _stream(w: _Writer, commits: int, stable_for: int) -> dict[str, int]:
    """Write the whole history; returns the marks of the notable commits."""
    tail = w.rng.randint(3, 5)
    body = commits - 2 - tail
    move_at = max(1, int(body * _MOVE_AT))
    good_at = body - stable_for if stable_for > 0 else None
    if good_at is not None and good_at <= move_at:
        raise RuntimeError(f"stable_for={stable_for} reaches back before the move of tekton/ (commit {move_at})")
    notable: dict[str, int] = {}
    kinds, weights = [k for k, _ in _KINDS], [p for _, p in _KINDS]
    w.on_main("Initial import", dict(w.files))
    while w.first_parent < body:
        if "moved" not in notable and w.first_parent >= move_at:
            moved = {p: w.files.pop(p) for p in [p for p in w.files if p.startswith(TEKTON_BEFORE_MOVE + "/")]}
            w.files.update({TEKTON + p[len(TEKTON_BEFORE_MOVE) :]: c for p, c in moved.items()})
            w.tekton = TEKTON
            w.last_tekton = None
            notable["moved"] = w.on_main("Move tekton/ to backend/tekton/", {}, rename=(TEKTON_BEFORE_MOVE, TEKTON))
        elif "good" not in notable and good_at is not None and w.first_parent >= good_at:
            notable["good"] = _good_change(w)
            w.frozen = True  # backend/tekton stays as it is until the bad change
        elif w.first_parent + 2 < body and w.rng.random() < _MERGE_SHARE:
            _merge_branch(w, body, w.merges + 1)
        else:
            kind = w.rng.choices(kinds, weights)[0]
            picked = w.revert() if kind == "revert" else w.pick(w.files, kind)
            w.on_main(*(picked or w.pick(w.files, "churn")))
    if "good" in notable:
        w.on_main(*w.pick(w.files, "churn"))
    else:
        notable["good"] = _good_change(w)
    broken = sorted(p for p in w.files if p.startswith(TEKTON + "/") and p.endswith("-task.yaml"))[:3]
    bad: dict[str, bytes | None] = {p: w.edit(w.files, p, "BAD: kaniko v2, broken registry") for p in broken}
    notable["bad"] = w.on_main("tekton: upgrade kaniko tasks to v2", bad)
    for _ in range(tail):
        w.on_main(*w.pick(w.files, "churn"))
    return notable


def generate_history(
    path: Path,
    *,
    commits: int = 20_000,
    seed: int = 1,
    tag_every: int = 500,
    stable_for: int = 0,
    commit_graph: bool = False,
    force: bool = False,
) -> GeneratedHistory:
    """Create a repository at ``path`` whose ``main`` has ``commits`` first-parent commits.

    Deterministic: the same ``commits``, ``seed`` and ``tag_every`` give the same commit ids. The work tree is
    checked out. ``stable_for`` > 0 puts the last backend/tekton change before the bad one that many
    first-parent commits before it (a path-limited walk from the bad commit then has to read them all);
    ``commit_graph`` also writes ``.git/objects/info/commit-graph`` (``--reachable``); ``force`` replaces an
    existing ``path``.

    Raises:
        ValueError: fewer than 20 commits, ``stable_for`` above 60% of them, or ``path`` exists and ``force``
            is false.
        RuntimeError: a git command failed.
    """
    if commits < 20:
        raise ValueError("commits must be at least 20")
    if not 0 <= stable_for <= (commits - 7) * 0.6:  # keep the last good change after the move (at ~30%)
        raise ValueError(f"stable_for must be between 0 and 60% of the commits, not {stable_for}")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not force:
            raise ValueError(f"{path} exists and is not empty (use force=True / --force to replace it)")
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    started = time.perf_counter()
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "--quiet", "--initial-branch", BRANCH)
    with tempfile.TemporaryDirectory(prefix="generate-history-") as tmp:
        marks, errors = Path(tmp) / "marks", Path(tmp) / "stderr"
        args = ["git", "-C", str(path), "fast-import", "--quiet", "--done", "--date-format=raw"]
        with errors.open("wb") as err:
            proc = subprocess.Popen(
                [*args, f"--export-marks={marks}"], stdin=subprocess.PIPE, stderr=err, env=_git_env(), bufsize=1 << 20
            )
            assert proc.stdin is not None
            writer = _Writer(proc.stdin, random.Random(seed), tag_every)
            try:
                notable = _stream(writer, commits, stable_for)
                proc.stdin.write(b"done\n")
                proc.stdin.close()
            except BrokenPipeError:
                pass  # fast-import died: its exit status and stderr say why
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            if proc.wait() != 0:
                raise RuntimeError(f"git fast-import failed: {errors.read_text(errors='replace').strip()}")
        sha = dict(line.split() for line in marks.read_text().splitlines())
    _git(path, "update-ref", "-d", _SIDE_REF)
    _git(path, "pack-refs", "--all")
    _git(path, "reset", "--quiet", "--hard", BRANCH)
    if commit_graph:
        _git(path, "commit-graph", "write", "--reachable")
    good, bad = sha[f":{notable['good']}"], sha[f":{notable['bad']}"]
    first_parent = int(_git(path, "rev-list", "--first-parent", "--count", BRANCH))
    if first_parent != commits:  # the stream's bookkeeping and git's view must agree
        raise RuntimeError(f"generated {first_parent} first-parent commits, expected {commits}")
    return GeneratedHistory(
        path=path,
        branch=BRANCH,
        asset_paths=ASSET_PATHS,
        bad_path=TEKTON,
        commits=first_parent,
        total_commits=int(_git(path, "rev-list", "--count", BRANCH)),
        merges=writer.merges,
        tags=writer.tags,
        seed=seed,
        tip=_git(path, "rev-parse", BRANCH),
        bad=bad,
        expected_known_good=good,
        bad_parent=_git(path, "rev-parse", f"{bad}^1"),
        stable_for=stable_for,
        expected_tree=_git(path, "rev-parse", f"{good}:{TEKTON}"),
        bad_tree=_git(path, "rev-parse", f"{bad}:{TEKTON}"),
        moved=sha[f":{notable['moved']}"],
        seconds=round(time.perf_counter() - started, 3),
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: generate the history and print what was generated as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path, help="where to create the repository")
    parser.add_argument("--commits", type=int, default=20_000, help="first-parent commits on main (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--tag-every", type=int, default=500, help="release tag every N commits (0: none)")
    parser.add_argument(
        "--stable-for", type=int, default=0, help="leave backend/tekton alone for N commits before the bad change"
    )
    parser.add_argument("--commit-graph", action="store_true", help="also write a commit-graph")
    parser.add_argument("--force", action="store_true", help="replace PATH if it exists")
    args = parser.parse_args(argv)
    try:
        history = generate_history(
            args.path,
            commits=args.commits,
            seed=args.seed,
            tag_every=args.tag_every,
            stable_for=args.stable_for,
            commit_graph=args.commit_graph,
            force=args.force,
        )
    except (ValueError, RuntimeError) as exc:
        print(f"generate_history: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(history.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
