"""Kill the real CLI (SIGKILL) at every step boundary and inside every long step, rerun it, and compare the world.

Each case builds a fresh world on a ``FakeClock`` this test owns, runs ``python -m gitrollback run`` as a child
process against it, and kills the child at one point:

* **before** a step: on the child's progress line ``-> <step>:`` (stderr), for every step of the runbook, which is
  enumerated from ``installer_steps()``/``gitops_steps()`` themselves; and **after** the last step (on its result
  line), so the kill can land before or after the journal's end;
* **inside** a long step: a step that waits (a ``... waiting for`` line in an uninterrupted run: the validate job,
  the merge, the sync, the smoke build). On that step's ``->`` line the world stops advancing (the clock is not
  stepped), so the job, build, change request or sync operation the child just created cannot finish; the child
  is killed on its first ``... waiting for`` line, which it prints after journaling the id and while it waits.

Then the same command runs again, uninterrupted, and the world must end as after an uninterrupted run: the same
objects in the namespace (or the same tree on the tracked branch, the same number of commits, one change request,
one marker, Argo CD Synced and Healthy at the tip), one validate job, one smoke build, incident notes written.

The verdict never depends on machine speed: wherever a kill lands after its line, the rerun must recover. Real
time only paces the clock pump (the child's own waits are real; its timeouts are minutes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitrollback.api import gitops_steps, installer_steps
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.gitlab import GitLabSimulator
from gitrollback.testing.sandbox import ADMIN_EMAIL, TOKEN_ENV, SandboxWorld, build_sandbox
from gitrollback.testing.sandbox_gitops import APP, NAME, OWNER, GitOpsSandbox, build_gitops_sandbox

pytestmark = pytest.mark.timeout(300)

World = SandboxWorld | GitOpsSandbox


class Pump:
    """Steps the world's clock while a child runs, unless frozen (the world then stands still)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.frozen = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="clock-pump", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.frozen.is_set():
                self.clock.advance(1.0)
            self._stop.wait(0.004)

    def __enter__(self) -> Pump:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@dataclass
class Child:
    """One ``gitrollback run`` child: its stderr lines so far and how it ended."""

    argv: list[str]
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)
    stdout: str = ""
    code: int | None = None

    def run(self, kill_when: Callable[[str, list[str]], bool] | None = None) -> Child:
        """Run to the end, or SIGKILL it on the first stderr line for which ``kill_when`` is true."""
        with subprocess.Popen(
            self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stderr is not None and proc.stdout is not None
            killed = False
            for line in proc.stderr:
                self.lines.append(line.rstrip("\n"))
                if kill_when is not None and not killed and kill_when(self.lines[-1], self.lines):
                    proc.send_signal(signal.SIGKILL)
                    killed = True
            self.stdout = proc.stdout.read()
            self.code = proc.wait(timeout=300)
        return self


def _child(world: World, notes: Path, *extra: str) -> Child:
    # a token that outlives any pace of the clock pump (Image Factory's own last 15 minutes of the world's time)
    env = {**os.environ, **world.env, TOKEN_ENV: world.imagefactory.issue_token(ADMIN_EMAIL, ttl=30 * 24 * 3600)}
    env.pop("GITROLLBACK_CONFIG", None)
    argv = [sys.executable, "-m", "gitrollback", "run", "--yes", "-c", str(world.config_path), "--notes", str(notes)]
    # installer mode prunes, so the prune step deletes something (the bad revision's Task/kaniko-build) in every run
    prune = ["--prune"] if isinstance(world, SandboxWorld) else []
    return Child([*argv, *prune, *extra], env)


def _build(mode: str, root: Path) -> World:
    clock = FakeClock()
    if mode == "installer":
        return build_sandbox(root, clock=clock, tick=5.0, poll_interval=0.02)
    return build_gitops_sandbox(root, scm=mode, clock=clock, tick=3.0, poll_interval=0.02)  # type: ignore[arg-type]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _fingerprint(world: World, notes: Path) -> dict[str, Any]:
    """The end state that must not depend on where a run was killed (ids and times left out)."""
    sim, cluster = world.imagefactory, world.cluster
    objects: dict[str, Any] = {}
    for rt in cluster.types:
        for obj in cluster.list(rt, world.namespace):
            content = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
            if rt.plural == "leases":  # the run lock: its holder and times are the runs', not the rollback's
                continue
            if rt.plural == "pipelineruns":  # named after the build (a fresh id per world): counted, not named
                objects.setdefault("pipelineruns", []).append(content)
            else:
                objects[f"{rt.plural}/{obj['metadata']['name']}"] = content
    provider = sim.provider(world.provider_id)
    text = notes.read_text(encoding="utf-8") if notes.exists() else ""
    state: dict[str, Any] = {
        "objects": objects,
        "validate_jobs": [j["status"] for j in sim.jobs(world.provider_id) if j["operation"] == "validate"],
        "builds": [b["status"] for b in sim.builds()],
        "provider": (provider["status"], provider.get("readiness_status")),
        "notes": text.startswith("## Tekton rollback") and "(rolled_back)" in text.splitlines()[0] if text else False,
    }
    if isinstance(world, GitOpsSandbox):
        tip = _git(world.remote, "rev-parse", "main")
        app = world.argocd.app(APP)["status"]
        state["tree"] = _git(world.remote, "rev-parse", f"main:{world.repo.asset_path}")
        state["commits"] = _git(world.remote, "rev-list", "--count", "main")
        state["markers"] = len(_git(world.remote, "tag", "--list", "gitrollback/verified/*").split())
        state["argocd"] = (app["sync"]["status"], app["health"]["status"], app["sync"]["revision"] == tip)
        if isinstance(world.host, GitHubSimulator):
            state["change_requests"] = [(p.state, p.merged) for p in world.host.pulls(OWNER, NAME)]
        elif isinstance(world.host, GitLabSimulator):
            state["change_requests"] = [m["state"] for m in world.host.merge_requests(f"{OWNER}/{NAME}")]
    return state


KillRule = Callable[[Pump], Callable[[str, list[str]], bool]]


@dataclass
class Case:
    """One kill point and what happened."""

    name: str
    first: Child
    rerun: Child
    state: dict[str, Any]

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.rerun.stdout) if self.rerun.stdout.strip() else {}


def _run_case(mode: str, root: Path, name: str, rule: KillRule | None) -> Case:
    world = _build(mode, root)
    notes = root / "notes.md"
    try:
        with Pump(world.clock) as pump:  # type: ignore[arg-type]
            first = _child(world, notes).run(_reviewing(world, rule(pump) if rule is not None else None))
            pump.frozen.clear()
            if isinstance(world, GitOpsSandbox):  # the rerun prints JSON, no progress: the reviewer is there already
                world.start_reviewer()
            rerun = _child(world, notes, "--json").run() if rule is not None else first
        return Case(name, first, rerun, _fingerprint(world, notes))
    finally:
        world.close()


def _reviewing(world: World, kill: Callable[[str, list[str]], bool] | None) -> Callable[[str, list[str]], bool]:
    """Start the simulated reviewer once the child waits for its change request to be merged, so the merge step
    always waits (it is a long step in every run, however fast the machine), then apply ``kill``."""

    def on_line(line: str, lines: list[str]) -> bool:
        current = next((x for x in reversed(lines) if x.startswith("-> ")), "")
        if (
            isinstance(world, GitOpsSandbox)
            and line.startswith("   ... waiting for")
            and current.startswith("-> merge:")
        ):
            world.start_reviewer()
        return kill is not None and kill(line, lines)

    return on_line


def _started(step: str) -> Callable[[str], bool]:
    return lambda line: line.startswith(f"-> {step}:")


def before(step: str) -> KillRule:
    """Kill on the child's ``-> step`` line."""
    return lambda pump: lambda line, lines: _started(step)(line)


def after(step: str) -> KillRule:
    """Kill on the result line of ``step`` (the last one): before or after the journal's end."""
    return lambda pump: lambda line, lines: line.startswith("   ok") and any(_started(step)(x) for x in lines)


def inside(step: str) -> KillRule:
    """Stop the world on the ``-> step`` line; kill on the first ``... waiting for`` line after it."""

    def rule(pump: Pump) -> Callable[[str, list[str]], bool]:
        def kill(line: str, lines: list[str]) -> bool:
            if _started(step)(line):
                pump.frozen.set()
            return pump.frozen.is_set() and line.startswith("   ... waiting for")

        return kill

    return rule


def _steps(mode: str) -> list[str]:
    return [s.name for s in (installer_steps() if mode == "installer" else gitops_steps())]


@pytest.fixture(scope="module", name="reference")
def _reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], tuple[dict[str, Any], list[str]]]]:
    """Per mode, the end state of an uninterrupted run and the steps that waited in it."""
    cache: dict[str, tuple[dict[str, Any], list[str]]] = {}

    def get(mode: str) -> tuple[dict[str, Any], list[str]]:
        if mode not in cache:
            case = _run_case(mode, tmp_path_factory.mktemp(f"reference-{mode}"), "reference", None)
            assert case.first.code == 0, "\n".join(case.first.lines[-20:])
            started = [line[3:].split(":")[0] for line in case.first.lines if line.startswith("-> ")]
            assert started == _steps(mode), "the child ran the runbook's steps in order"
            waited, current = [], ""
            for line in case.first.lines:
                if line.startswith("-> "):
                    current = line[3:].split(":")[0]
                elif line.startswith("   ... waiting for") and current not in waited:
                    waited.append(current)
            cache[mode] = (case.state, waited)
        return cache[mode]

    yield get


def _check(case: Case, expected: dict[str, Any], *, may_be_done: bool = False) -> list[str]:
    """What is wrong with one case (empty: it recovered to the same end state)."""
    problems = []
    tail = "\n    ".join(case.first.lines[-3:] + case.rerun.lines[-6:])
    if case.first.code != -signal.SIGKILL:
        problems.append(f"the first run was not killed (exit {case.first.code})")
    report = case.report
    done_already = may_be_done and case.rerun.code == 3 and "nothing to roll back" in str(report)
    if case.rerun.code != 0 and not done_already:
        problems.append(f"rerun exit {case.rerun.code}: {report.get('error') or report}")
    if case.name.endswith("before smoke-build") and case.state["builds"] == [*expected["builds"], "completed"]:
        # The one known window (docs/safety.md): POST /builds has no idempotency key upstream, so a kill between
        # Image Factory's 201 and the journal write leaves the first build behind. Everything else must match.
        expected = {**expected, "builds": case.state["builds"], "objects": case.state["objects"]}
        DUPLICATE_BUILDS.append(case.name)
        print(f"\n{case.name}: recovered, with the first attempt's smoke build left behind")  # noqa: T201
    if case.state != expected:
        diff = {k: _diff(case.state.get(k), expected.get(k)) for k in expected if case.state.get(k) != expected.get(k)}
        problems.append(f"end state differs (got, expected): {str(diff)[:1500]}")
    return [f"{case.name}: {p}\n    {tail}" for p in problems]


def _diff(got: Any, want: Any) -> Any:
    """The differing entries of two end-state values (dicts by key)."""
    if isinstance(got, dict) and isinstance(want, dict):
        return {k: _diff(got.get(k), want.get(k)) for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)}
    return (got, want)


DUPLICATE_BUILDS: list[str] = []


BOUNDARIES = [
    (mode, where, step)
    for mode in ("installer", "github")
    for where, step in [*(("before", name) for name in _steps(mode)), ("after", _steps(mode)[-1])]
]


@pytest.mark.parametrize(("mode", "where", "step"), BOUNDARIES, ids=[f"{m}-{w}-{s}" for m, w, s in BOUNDARIES])
def test_kill_at_every_step_boundary(mode: str, where: str, step: str, reference, tmp_path: Path) -> None:
    """A SIGKILL before every step of the runbook (and after the last), then a rerun, ends in the state of an
    uninterrupted run; a resumed run reuses a prefix of the runbook."""
    expected, _ = reference(mode)
    rule = before(step) if where == "before" else after(step)
    case = _run_case(mode, tmp_path / "case", f"{mode}: killed {where} {step}", rule)
    problems = _check(case, expected, may_be_done=where == "after")
    resumed = case.report.get("resumed", [])
    if resumed and resumed != _prefix(mode, len(resumed)):
        problems.append(f"{case.name}: resumed {resumed}, not a prefix of the runbook")
    assert not problems, "\n".join(problems)


def _prefix(mode: str, length: int) -> list[str]:
    """The runbook's first steps that a resumed run reuses: all of them but a read-only step taken again on resume
    while a step it names (``recheck_before``) has no result (the dry run before apply and prune)."""
    steps = installer_steps() if mode == "installer" else gitops_steps()
    for end in range(len(steps) + 1):
        pending = {s.name for s in steps[end:]}
        reused = [s.name for s in steps[:end] if not pending.intersection(getattr(s, "recheck_before", ()))]
        if len(reused) == length:
            return reused
    return []


@pytest.mark.parametrize("mode", ["installer", "github", "gitlab", "direct"])
def test_kill_inside_every_long_step(mode: str, reference, tmp_path: Path) -> None:
    """A SIGKILL while a step waits on the job, build, change request or sync it started, then a rerun, follows that
    same job, build or change request and ends in the state of an uninterrupted run."""
    expected, waited = reference(mode)
    assert waited, "an uninterrupted run waits somewhere"
    steps = _steps(mode)
    problems: list[str] = []
    for step in waited:
        case = _run_case(mode, tmp_path / f"inside-{step}", f"{mode}: killed inside {step}", inside(step))
        problems += _check(case, expected)
        resumed = case.report.get("resumed", [])
        if resumed != _prefix(mode, steps.index(step)):
            problems.append(f"{case.name}: the rerun resumed {resumed}, not every step before {step}")
    print(f"\nkill matrix {mode} inside: {waited}")  # noqa: T201 - the numbers in docs/safety.md
    assert not problems, "\n".join(problems)
