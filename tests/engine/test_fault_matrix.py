"""The fault matrix: full rollbacks through the CLI while one remote misbehaves, in installer and gitops mode.

Each case builds a fresh world on a ``FakeClock``, puts one fault rule (``gitrollback.testing.faults``) on one remote's
representative route, and runs ``gitrollback run --yes --json`` in-process. The outcome must be one of two:

- **recovered**: exit 0 and the same end state as a rollback without faults (the cluster's Tekton objects, the
  provider's status and, in gitops mode, the GitOps branch and Argo CD);
- **failed clearly**: exit 1 with the failed step and an error of the expected kind, a journal that records the steps'
  results in order up to that one, that step's failure and the run's end, and, once the remote behaves again,
  ``run --resume RUN_ID`` of that run completes it with that same end state, reusing the steps that finished.

Delays run on the simulated clock and cost nothing. Hangs and slow drips are real socket time by nature, so the remote
under test gets a short request deadline (``DEADLINE``) in those cases only, and the test asserts just that the client
gave up within the deadline plus a generous margin, never an exact duration. The numbers (faults injected, outcomes)
are in ``docs/safety.md``.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitrollback.cli import main
from gitrollback.cli.output import Output
from gitrollback.runbook.journal import read_journal
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.faults import GIT_PATH, Fault, FaultKind
from gitrollback.testing.repos import fixture_root
from gitrollback.testing.sandbox import SandboxWorld, build_sandbox
from gitrollback.testing.sandbox_gitops import APP, GitOpsSandbox, build_gitops_sandbox
from gitrollback.testing.server import SimulatorServer

#: The request deadline of the remote under test in the hang and slow-drip cases (real seconds).
DEADLINE = 2.0
#: How much later than ``DEADLINE`` (per request given up on) a loaded machine may notice: generous on purpose.
MARGIN = 20.0
#: The slow drip: one byte this often (real seconds), so no single read ever waits long.
DRIP = 0.2

World = SandboxWorld | GitOpsSandbox


@dataclass(frozen=True)
class Case:
    """One cell of the matrix: where the fault goes and what must come of it."""

    mode: str  # "installer", or the gitops host: "github" (with Argo CD) or "gitlab"; "flux": GitHub with Flux
    remote: str  # imagefactory, kubernetes, github, gitlab, argocd, git
    kind: FaultKind
    path: str
    method: str | None = None
    times: int | None = None
    skip: int = 0
    failed_step: str | None = None  # None: the run recovers
    error_kind: str | None = None
    exit_code: int = 1

    @property
    def id(self) -> str:
        return f"{self.mode}-{self.remote}-{self.kind}"


_PROVIDER_GET = r"/admin/infrastructure/providers/[^/]+$"
#: ``failed_step`` of a failure before the first step (the pre-run checks read the provider).
BEFORE_RUN = "(before the run)"
#: The dry-run step PATCHes every Task (``dryRun=All``) before the apply step does: skip those to hit the apply.
DRY_RUN_TASK_PATCHES = sum(
    1
    for line in (fixture_root() / "kustomization.yaml").read_text().splitlines()
    if line.strip().startswith("- tasks/")
)

CASES = [
    # installer mode: Image Factory (the shared HTTP policy) and the Kubernetes API
    Case("installer", "imagefactory", "delay", r"/tekton/status$"),
    Case("installer", "imagefactory", "fail", r"/tekton/validate$", "POST", times=2),
    Case("installer", "imagefactory", "reset", r"/readiness$", "GET", times=1, skip=1),
    Case("installer", "imagefactory", "hang", _PROVIDER_GET, "GET", failed_step=BEFORE_RUN),
    Case("installer", "imagefactory", "drip", _PROVIDER_GET, "GET", failed_step=BEFORE_RUN),
    Case("installer", "kubernetes", "delay", r"/tasks/"),
    Case(
        "installer", "kubernetes", "fail", r"/tasks/", "PATCH", times=1, skip=DRY_RUN_TASK_PATCHES, failed_step="apply"
    ),
    # a reset apply PATCH is sent again (server-side apply is idempotent), so the run recovers
    Case("installer", "kubernetes", "reset", r"/tasks/", "PATCH", times=1, skip=DRY_RUN_TASK_PATCHES),
    *(
        Case(
            "installer",
            "kubernetes",
            kind,
            r"/tasks/",
            "PATCH",
            times=1,
            skip=DRY_RUN_TASK_PATCHES,
            failed_step="apply",
            error_kind="deadline_exceeded",
        )
        for kind in ("hang", "drip")
    ),
    # gitops mode through GitHub and Argo CD: the host's API, Argo CD's API and git smart HTTP
    Case("github", "github", "delay", r"/pulls"),
    Case("github", "github", "fail", r"/pulls$", "POST", times=1, failed_step="change-request"),
    Case("github", "github", "reset", r"/pulls$", "POST", times=1, failed_step="change-request"),
    Case("github", "github", "hang", r"/pulls$", "POST", times=1, failed_step="change-request"),
    Case("github", "github", "drip", r"/pulls$", "POST", times=1, failed_step="change-request"),
    Case("github", "argocd", "delay", r"/applications/"),
    Case("github", "argocd", "fail", r"/applications/[^/]+$", "GET", times=2),
    Case("github", "argocd", "reset", r"/applications/[^/]+$", "GET", times=1),
    # known-good reads Argo CD's history as optional evidence and goes on without it; the pre-flight check's GET of the
    # application then times out, and a pre-flight stop exits 2
    Case("github", "argocd", "hang", r"/applications/", "GET", failed_step="preflight", exit_code=2),
    Case("github", "argocd", "drip", r"/applications/", "GET", failed_step="preflight", exit_code=2),
    Case("github", "git", "delay", GIT_PATH),
    Case("github", "git", "fail", GIT_PATH, times=1, failed_step="known-good"),
    Case("github", "git", "reset", GIT_PATH, times=1, failed_step="known-good"),
    Case("github", "git", "hang", GIT_PATH, times=1, failed_step="known-good"),
    Case("github", "git", "drip", GIT_PATH, times=1, failed_step="known-good"),
    # gitops mode through GitLab (its merge request API)
    Case("gitlab", "gitlab", "delay", r"/merge_requests"),
    Case("gitlab", "gitlab", "fail", r"/merge_requests$", "POST", times=1, failed_step="change-request"),
    Case("gitlab", "gitlab", "reset", r"/merge_requests$", "POST", times=1, failed_step="change-request"),
    Case("gitlab", "gitlab", "hang", r"/merge_requests$", "POST", times=1, failed_step="change-request"),
    Case("gitlab", "gitlab", "drip", r"/merge_requests$", "POST", times=1, failed_step="change-request"),
    # gitops mode through GitHub and Flux: Flux's objects on the Kubernetes API (known-good reads the Kustomization's
    # history as optional evidence and goes on without it; the pre-flight check's read then times out)
    Case(
        "flux",
        "kubernetes",
        "drip",
        r"/kustomizations/",
        "GET",
        failed_step="preflight",
        error_kind="deadline_exceeded",
        exit_code=2,
    ),
]


def _world(case: Case, root: Path) -> World:
    clock = FakeClock()
    if case.mode == "installer":
        return build_sandbox(root, clock=clock, tick=5.0, poll_interval=2.0)
    if case.mode == "flux":
        world = build_gitops_sandbox(root, scm="github", sync="flux", clock=clock, tick=3.0, poll_interval=5.0)
    else:
        world = build_gitops_sandbox(root, scm=case.mode, clock=clock, tick=3.0, poll_interval=5.0)  # type: ignore[arg-type]
    world.start_reviewer()
    return world


def _server(world: World, remote: str) -> SimulatorServer:
    servers: dict[str, Any] = {
        "imagefactory": world.imagefactory,
        "kubernetes": world.kube,
        "argocd": getattr(world, "argocd", None),
        "github": getattr(world, "host", None),
        "gitlab": getattr(world, "host", None),
        "git": getattr(world, "host", None),
    }
    server = servers[remote]
    assert isinstance(server, SimulatorServer)
    return server


def _config(world: World, case: Case | None, directory: Path) -> Path:
    """The world's config, with a short request deadline for the remote under test in the hang and drip cases."""
    data = yaml.safe_load(world.config_text)
    provider = data["providers"][0]
    if case is not None and case.kind in ("hang", "drip"):
        if case.remote == "imagefactory":
            data["imagefactory"]["timeout_seconds"] = DEADLINE
        elif case.remote == "kubernetes" and case.mode == "flux":
            provider["sync"]["request_timeout_seconds"] = DEADLINE
        elif case.remote == "kubernetes":
            provider.setdefault("cluster", {})["timeout_seconds"] = DEADLINE
        elif case.remote == "argocd":
            provider["sync"]["request_timeout_seconds"] = DEADLINE
        elif case.remote in ("github", "gitlab"):
            provider["gitops"]["request_timeout_seconds"] = DEADLINE
        elif case.remote == "git":
            provider["assets"]["stall_timeout_seconds"] = DEADLINE
    path = directory / ("faulted.json" if case is not None else "plain.json")
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _run(world: World, config: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    """Exit code, the JSON document on stdout (empty when there was none) and stderr of one ``run``."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", "-c", str(config), "--yes", "--json", *extra]
    code = main(argv, env=world.env, output=Output(out, err), clock=world.clock)
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else {}, err.getvalue()


def _end_state(world: World) -> dict[str, Any]:
    """What a finished rollback leaves behind, independent of ids and timestamps."""
    tekton: dict[str, Any] = {}
    for kind in ("Task", "Pipeline"):
        rt = world.cluster.type_for("tekton.dev/v1", kind)
        assert rt is not None
        for obj in world.cluster.list(rt, world.namespace):
            tekton[f"{kind}/{obj['metadata']['name']}"] = obj.get("spec")
    provider = world.imagefactory.provider(world.provider_id)
    state: dict[str, Any] = {
        "tekton": tekton,
        "provider": (provider["status"], provider["readiness_status"]),
        "active_jobs": [
            j["id"] for j in world.imagefactory.jobs(world.provider_id) if j["status"] in ("pending", "running")
        ],
    }
    if isinstance(world, GitOpsSandbox):
        import subprocess

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", str(world.remote), *args], capture_output=True, text=True, check=True
            ).stdout.strip()

        tip = git("rev-parse", "main")
        state["tree"] = git("rev-parse", f"{tip}:backend/tekton")
        if world.flux is not None:
            ks = world.flux.kustomization(APP)
            ready = [c for c in ks["status"]["conditions"] if c["type"] == "Ready"]
            state["flux"] = (ready[0]["status"], ks["status"]["lastAppliedRevision"].endswith(tip))
        else:
            app = world.argocd.app(APP)
            state["argocd"] = (
                app["status"]["sync"]["status"],
                app["status"]["health"]["status"],
                app["status"]["sync"]["revision"] == tip,
            )
    return state


def _journal(world: World) -> list[dict[str, Any]]:
    """The events of the provider's runs, in the order written (every line must be JSON, and each journal must read
    back with ``read_journal``)."""
    data = yaml.safe_load(world.config_text)
    runs = Path(data["state_dir"]) / "runs" / world.provider_id
    events = []
    for path in sorted(runs.glob("*.jsonl"), key=lambda p: p.stat().st_mtime):
        read_journal(path)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                events.append(json.loads(line))
    return events


_REFERENCE: dict[str, dict[str, Any]] = {}


def _reference(mode: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The end state of the same rollback without faults (computed once per mode)."""
    if mode not in _REFERENCE:
        root = tmp_path_factory.mktemp(f"reference-{mode}")
        with _world(Case(mode, "imagefactory", "delay", ""), root / "w") as world:
            code, report, stderr = _run(world, _config(world, None, root))
            assert code == 0, (report, stderr)
            _REFERENCE[mode] = _end_state(world)
    return _REFERENCE[mode]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_matrix(case: Case, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """With one remote misbehaving a rollback recovers to the same end state, or fails clearly and a rerun completes."""
    reference = _reference(case.mode, tmp_path_factory)
    with _world(case, tmp_path / "w") as world:
        server = _server(world, case.remote)
        fault = server.add_fault(
            Fault(
                case.kind,
                path=case.path,
                method=case.method,
                times=case.times,
                skip=case.skip,
                seconds=DRIP if case.kind == "drip" else 3.0,
            )
        )
        started = time.monotonic()
        code, report, stderr = _run(world, _config(world, case, tmp_path))
        took = time.monotonic() - started
        assert fault.hits >= 1, f"the fault never applied: {case}"
        outcome = "recovered" if case.failed_step is None else f"failed in {case.failed_step}, exit {case.exit_code}"
        print(f"\nfault matrix {case.id}: {fault.hits} faults injected, {outcome}, {took:.1f} s")  # noqa: T201
        if case.failed_step is None:
            assert code == 0, (report, stderr)
            assert report["status"] == "rolled_back"
            assert _end_state(world) == reference
            return
        assert code == case.exit_code, (report, stderr)
        if case.kind in ("hang", "drip"):
            assert took < fault.hits * DEADLINE + MARGIN, took
        _assert_failed_clearly(case, world, report, stderr)

        server.clear_faults()
        resume = () if case.failed_step == BEFORE_RUN else ("--resume", report["run_id"])
        code, again, stderr = _run(world, _config(world, None, tmp_path), *resume)
        assert code == 0, (again, stderr)
        assert again["status"] == "rolled_back"
        if resume:
            finished = [s["name"] for s in report["steps"] if s["status"] != "failed" and s["name"] != "incident"]
            finished = finished[: [s["name"] for s in report["steps"]].index(case.failed_step)]
            if case.failed_step in ("apply", "prune"):  # the resumed run takes the dry run again (recheck_before)
                finished.remove("dry-run")
            assert again["run_id"] == report["run_id"] and again["resumed"] == finished, again
        assert _end_state(world) == reference


def _assert_failed_clearly(case: Case, world: World, report: dict[str, Any], stderr: str) -> None:
    """The failed step (or, before the run starts, the error) is named, and the journal matches the report."""
    if case.failed_step == BEFORE_RUN:
        error = report.get("error") if isinstance(report.get("error"), dict) else {"message": stderr}
        assert "no complete answer within" in str(error["message"]), (report, stderr)
        assert _journal(world) == []
        return
    assert report["status"] == "failed"
    failed = [s for s in report["steps"] if s["status"] == "failed"]
    assert [s["name"] for s in failed] == [case.failed_step], report["steps"]
    if case.error_kind == "deadline_exceeded":
        assert "no complete answer within" in (report.get("error") or ""), report
    journal = _journal(world)
    assert [e["event"] for e in journal][:1] == ["start"] and journal[0]["run_id"] == report["run_id"]
    results = [e["step"] for e in journal if e["event"] == "result"]
    ran = [s["name"] for s in report["steps"] if not s["detail"].startswith("not run:") and s["name"] != "incident"]
    assert [*results, case.failed_step] == ran
    failed = [e for e in journal if e["event"] == "failed"]
    assert [e["step"] for e in failed] == [case.failed_step] and failed[0]["kind"] == report["error_kind"]
    assert journal[-1]["event"] == "end" and journal[-1]["status"] == "failed"
