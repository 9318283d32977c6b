"""ArgoCDEngine against the Argo CD simulator over real sockets, with a real git repository behind the apps.

The simulator and the engine share one ``FakeClock``: the controller ticks every 3 s of simulated time and the
engine polls every 5 s, so waits of minutes cost nothing and never depend on the machine's speed.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gitrollback.adapters.argocd import ArgoCDEngine
from gitrollback.errors import (
    AdapterError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
    RemoteHTTPError,
    TransportError,
    WaitTimeoutError,
)
from gitrollback.ports import DeploymentHistory, SyncEngine
from gitrollback.testing.argocd import ArgoCDSimulator
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.repos import SandboxRepo

SWAGGER = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "specs" / "argocd-swagger.json").read_text("utf-8")
)
SYNC_REQUEST = SWAGGER["definitions"]["applicationApplicationSyncRequest"]["properties"]
SYNC_RESOURCE = SWAGGER["definitions"]["v1alpha1SyncOperationResource"]["properties"]
NS = "image-factory-tekton"
PATH = "backend/tekton"
TASK = f"{PATH}/tasks/v1/git-clone-task.yaml"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class World:
    """A started simulator on ``clock``; ``engine()`` builds a client on the same clock."""

    clock: FakeClock
    sim: ArgoCDSimulator
    cluster: ClusterState
    repo: Path
    sandbox: SandboxRepo
    states: list[str] = field(default_factory=list)

    def engine(self, **options: Any) -> ArgoCDEngine:
        options.setdefault("token", self.sim.token)
        options.setdefault("poll_interval", 5.0)
        options.setdefault("clock", self.clock)
        options.setdefault("on_wait", lambda what, elapsed, state: self.states.append(state))
        return ArgoCDEngine(self.sim.url, **options)

    def restore_good(self) -> str:
        """Commit the good asset tree on top of main, as a rollback does; returns the new tip."""
        git(self.repo, "rm", "-r", "-q", PATH)
        git(self.repo, "checkout", self.sandbox.good, "--", PATH)
        git(self.repo, "commit", "-q", "-m", "Roll back backend/tekton to v0.3.0")
        return git(self.repo, "rev-parse", "HEAD")

    def label_task(self, value: str) -> str:
        """Commit a change to the git-clone Task (a new label); returns the new tip."""
        text = (self.repo / TASK).read_text("utf-8")
        (self.repo / TASK).write_text(text.replace("metadata:\n", f"metadata:\n  labels:\n    rev: {value}\n", 1))
        git(self.repo, "commit", "-q", "-am", f"label git-clone {value}")
        return git(self.repo, "rev-parse", "HEAD")

    def task(self, name: str) -> dict[str, Any] | None:
        rt = self.cluster.type_for("tekton.dev/v1", "Task")
        assert rt is not None
        return self.cluster.get(rt, NS, name)

    def writes(self) -> list[tuple[str, str, str]]:
        return [(r.method, r.path, r.header("Content-Type")) for r, _ in self.sim.requests if r.method != "GET"]


@pytest.fixture
def world(sandbox: SandboxRepo, tmp_path: Path) -> Iterator[World]:
    """A running simulator with app ``tekton`` (manual sync) on a fresh clone of the sandbox repo."""
    repo = tmp_path / "gitops"
    subprocess.run(["git", "clone", "--quiet", str(sandbox.path), str(repo)], check=True)
    clock = FakeClock()
    cluster = ClusterState(namespaces=[NS], clock=clock)
    with ArgoCDSimulator(cluster, tick=3.0, clock=clock) as sim:
        sim.add_app("tekton", repo_path=repo, path=PATH, namespace=NS)
        yield World(clock, sim, cluster, repo, sandbox)


def auto_app(w: World) -> str:
    """Add app ``auto`` (auto-sync on) on a good tip and let it settle; returns that tip."""
    tip = w.restore_good()
    w.sim.add_app("auto", repo_path=w.repo, path=PATH, namespace=NS, auto_sync=True)
    w.sim.wait_until("auto", lambda a: a["status"]["health"]["status"] == "Healthy" and "operation" not in a)
    return tip


def test_the_engine_satisfies_both_ports(world: World) -> None:
    """ArgoCDEngine is a SyncEngine and a DeploymentHistory."""
    with world.engine() as engine:
        assert isinstance(engine, SyncEngine) and isinstance(engine, DeploymentHistory)


def test_sync_then_wait_returns_the_exact_revision_applied_synced_and_healthy(world: World) -> None:
    """A manual sync to the rollback commit is applied, and the wait reports exactly that commit."""
    tip = world.restore_good()
    with world.engine(project="default") as engine:
        requested = engine.sync("tekton", revision=tip, prune=True)
        assert requested.operation_phase == "Pending"
        status = engine.wait_for_revision("tekton", tip, timeout=300)
    assert (status.revision, status.operation_revision, status.sync_status, status.health) == (
        tip,
        tip,
        "Synced",
        "Healthy",
    )
    assert status.operation_phase == "Succeeded" and not status.auto_sync
    assert status.reconciled_at is not None and status.operation_finished_at is not None
    assert status.reconciled_at >= status.operation_finished_at
    assert world.task("kaniko-no-push") is not None
    [body] = world.sim.sync_requests("tekton")
    assert body == {"prune": True, "revision": tip, "project": "default"}
    assert set(body) <= set(SYNC_REQUEST)
    assert world.writes() == [("POST", "/api/v1/applications/tekton/sync", "application/json")]
    refreshes = [r.query_value("refresh") for r, _ in world.sim.requests if r.query_value("refresh")]
    assert refreshes[0] == "hard"
    assert all(r.query_value("project") == "default" for r, _ in world.sim.requests if r.method == "GET")


def test_the_argocd_app_wait_trap_right_after_a_push_does_not_pass_our_wait(world: World) -> None:
    """Synced+Healthy on the previous commit with no operation (what ``argocd app wait`` accepts) keeps us waiting."""
    old = auto_app(world)
    world.sim.stale_healthy("auto", 30)
    new = world.label_task("two")
    with world.engine() as engine:
        status = engine.wait_for_revision("auto", new, timeout=300)
    assert f"Synced/Healthy at {old[:12]}, operation Succeeded@{old[:12]}" in world.states
    assert (status.revision, status.operation_revision, status.health) == (new, new, "Healthy")
    task = world.task("git-clone")
    assert task is not None and task["metadata"]["labels"] == {"rev": "two"}
    assert world.sim.sync_requests("auto") == []


def test_auto_sync_picks_up_a_new_commit_without_a_manual_sync(world: World) -> None:
    """With auto-sync on, the automated operation applies the new commit, and a later sync() does not repeat it."""
    auto_app(world)
    new = world.label_task("three")
    with world.engine() as engine:
        engine.wait_for_revision("auto", new, timeout=300)
        again = engine.sync("auto", revision=new)
        records = engine.history("auto")
    assert again.operation_revision == new and again.operation_phase == "Succeeded"
    assert world.sim.sync_requests("auto") == []
    assert world.sim.history("auto")[-1]["initiatedBy"] == {"automated": True}
    assert [r.revision for r in records][-1] == new


def test_when_auto_sync_has_nothing_to_do_the_wait_triggers_a_sync_of_the_tip(world: World) -> None:
    """A commit that changes no object leaves auto-sync idle; after the grace period the wait syncs the tip."""
    auto_app(world)
    (world.repo / "docs" / "NOTE.md").write_text("note\n", "utf-8")
    git(world.repo, "add", "docs/NOTE.md")
    git(world.repo, "commit", "-q", "-m", "docs")
    new = git(world.repo, "rev-parse", "HEAD")
    with world.engine() as engine:
        assert engine.auto_sync_grace == 25  # five polls
        status = engine.wait_for_revision("auto", new, timeout=300)
    assert status.operation_revision == new
    # auto-sync on: Argo CD refuses any revision but targetRevision, so the tip is synced without one
    assert world.sim.sync_requests("auto") == [{"prune": False}]


def test_a_sync_to_another_revision_with_auto_sync_on_explains_the_refusal(world: World) -> None:
    """Argo CD's ``Cannot sync to`` 400 becomes BadRequestError with a hint about merging first."""
    auto_app(world)
    with world.engine() as engine, pytest.raises(BadRequestError) as caught:
        engine.sync("auto", revision=world.sandbox.good)
    assert caught.value.remote_message == f"Cannot sync to {world.sandbox.good}: auto-sync currently set to main"
    assert caught.value.hint is not None and "merge" in caught.value.hint


def test_an_operation_already_running_is_waited_for_then_the_sync_goes_through(world: World) -> None:
    """``wait``: the first sync gets the 400, the engine waits for the other operation, then syncs."""
    tip = world.restore_good()
    world.sim.hold_operation("tekton", revision=world.sandbox.good, ticks=20)
    with world.engine(on_operation_in_progress="wait") as engine:
        engine.sync("tekton", revision=tip)
        status = engine.wait_for_revision("tekton", tip, timeout=300)
    assert status.operation_revision == tip
    assert len(world.sim.sync_requests("tekton")) == 2
    assert not any(method == "DELETE" for method, _, _ in world.writes())
    assert "Running@" in " ".join(world.states)


def test_an_operation_already_running_is_terminated_when_configured(world: World) -> None:
    """``terminate``: DELETE .../operation with a JSON content type, then the sync to our revision."""
    tip = world.restore_good()
    world.sim.hold_operation("tekton", revision=world.sandbox.good)
    with world.engine(on_operation_in_progress="terminate") as engine:
        engine.sync("tekton", revision=tip)
        status = engine.wait_for_revision("tekton", tip, timeout=300)
    assert status.operation_revision == tip
    assert ("DELETE", "/api/v1/applications/tekton/operation", "application/json") in world.writes()
    assert [h["revision"] for h in world.sim.history("tekton")] == [tip]


def test_a_sync_that_ends_degraded_fails_fast_with_the_health_message(world: World) -> None:
    """Applied but Degraded is an AdapterError naming the revision and Argo CD's health message."""
    tip = world.restore_good()
    world.sim.degrade("tekton", "Deployment image-factory-registry exceeded its progress deadline")
    with world.engine() as engine:
        engine.sync("tekton", revision=tip)
        with pytest.raises(AdapterError) as caught:
            engine.wait_for_revision("tekton", tip, timeout=300)
    assert caught.value.message == (
        f"Argo CD application 'tekton': {tip[:12]} was applied but the application is Degraded: "
        "Deployment image-factory-registry exceeded its progress deadline"
    )
    assert caught.value.hint is not None and "Degraded" in caught.value.hint


def test_a_failed_operation_fails_the_wait_with_its_message(world: World) -> None:
    """Syncing the broken tip ends Failed; the wait raises with Argo CD's apply error."""
    tip = git(world.repo, "rev-parse", "HEAD")
    with world.engine() as engine:
        engine.sync("tekton", revision=tip)
        with pytest.raises(AdapterError) as caught:
            engine.wait_for_revision("tekton", tip, timeout=300)
    assert caught.value.message == (
        f"Argo CD application 'tekton': the sync to {tip[:12]} ended Failed: one or more objects failed to apply, "
        'reason: Deployment.apps "image-factory-registry" is invalid: spec.selector: Required value'
    )


def test_an_injected_operation_error_is_reported_with_its_phase(world: World) -> None:
    """A sync that ends in phase Error is reported with that phase and message."""
    tip = world.restore_good()
    world.sim.fail_next_sync("tekton", "ComparisonError: rpc error: repository not accessible", phase="Error")
    with world.engine() as engine:
        engine.sync("tekton", revision=tip)
        with pytest.raises(AdapterError, match="ended Error: ComparisonError: rpc error: repository not accessible"):
            engine.wait_for_revision("tekton", tip, timeout=300)


def test_a_wait_that_never_converges_times_out_on_the_injected_clock(world: World) -> None:
    """With an operation that never ends, the wait gives up after exactly its timeout of virtual time."""
    tip = world.restore_good()
    world.sim.hold_operation("tekton")
    with world.engine(poll_interval=2.0) as engine, pytest.raises(WaitTimeoutError) as caught:
        engine.wait_for_revision("tekton", tip, timeout=10)
    assert caught.value.waited == 10 and world.clock.monotonic() == 10
    assert "operation Running@" in caught.value.last_state
    assert caught.value.hint is not None


def test_a_missing_app_is_permission_denied_without_a_project_and_not_found_with_one(world: World) -> None:
    """403 explains that Argo CD hides missing apps; with a project the 404 says so plainly."""
    with world.engine() as engine, pytest.raises(PermissionDeniedError) as denied:
        engine.status("nope")
    assert denied.value.status == 403 and denied.value.remote_message == "permission denied"
    assert denied.value.hint is not None and "do not exist" in denied.value.hint
    with world.engine(project="default") as engine, pytest.raises(NotFoundError) as missing:
        engine.refresh("nope")
    assert missing.value.status == 404
    assert missing.value.remote_message == 'applications.argoproj.io "nope" not found'


def test_a_bad_token_is_an_authentication_error_that_never_shows_the_token(world: World) -> None:
    """401 maps to AuthenticationError with an ARGOCD_AUTH_TOKEN hint; the token is in neither text."""
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2VjcmV0LXNpZ25hdHVyZQ"
    with world.engine(token=token) as engine, pytest.raises(AuthenticationError) as caught:
        engine.status("tekton")
    assert caught.value.status == 401
    assert caught.value.remote_message == "invalid session: token signature is invalid"
    assert caught.value.hint is not None and "ARGOCD_AUTH_TOKEN" in caught.value.hint
    assert token not in str(caught.value) and token not in caught.value.hint
    assert "ArgoCDEngine(" in repr(engine) and token not in repr(engine)


def test_username_and_password_log_in_lazily_and_wrong_ones_fail_clearly(world: World) -> None:
    """A session token is fetched on first use; a wrong password is an AuthenticationError with a hint."""
    with world.engine(token=None, username="admin", password="sim") as engine:
        assert engine.status("tekton").app == "tekton"
    with (
        world.engine(token=None, username="admin", password="wrong") as engine,
        pytest.raises(AuthenticationError) as caught,
    ):
        engine.status("tekton")
    assert caught.value.remote_message == "Invalid username or password"
    assert caught.value.hint == "check the Argo CD username and password in the config"


class _StripContentType(httpx.HTTPTransport):
    """A real transport that drops Content-Type, like a misbehaving proxy."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers.pop("Content-Type", None)
        return super().handle_request(request)


def test_a_write_without_a_json_content_type_gets_415_with_a_hint(world: World) -> None:
    """When something strips the JSON content type, Argo CD's plain-text 415 becomes a clear error."""
    tip = world.restore_good()
    with world.engine(transport=_StripContentType()) as engine, pytest.raises(RemoteHTTPError) as caught:
        engine.sync("tekton", revision=tip)
    assert (caught.value.status, caught.value.remote_message) == (415, "Invalid content type")
    assert caught.value.hint is not None and "Content-Type" in caught.value.hint


def test_history_lists_each_successful_full_sync_oldest_first(world: World) -> None:
    """Two syncs give DeploymentRecords 0 and 1 with their revisions, times and source."""
    first = world.restore_good()
    with world.engine() as engine:
        engine.sync("tekton", revision=first)
        engine.wait_for_revision("tekton", first, timeout=300)
        second = world.label_task("four")
        engine.sync("tekton", revision=second, resources=["tekton.dev:Task:git-clone"])
        engine.wait_for_revision("tekton", second, timeout=300)
        engine.sync("tekton", revision=second)
        engine.wait_for_revision("tekton", second, timeout=300)
        records = engine.history("tekton")
    assert [(r.id, r.revision) for r in records] == [(0, first), (1, second)]
    assert all(isinstance(r.deployed_at, datetime) and r.deployed_at.tzinfo for r in records)
    assert records[0].source == f"{world.repo.resolve().as_uri()} {PATH}"
    partial = world.sim.sync_requests("tekton")[1]
    assert partial["resources"] == [{"group": "tekton.dev", "kind": "Task", "name": "git-clone"}]
    assert all(set(item) <= set(SYNC_RESOURCE) for item in partial["resources"])


def test_bad_configuration_and_unreachable_servers_are_reported_without_io_surprises(world: World) -> None:
    """Missing credentials, a bad resource or CA file are ConfigError; a closed port is a TransportError."""
    with pytest.raises(ConfigError):
        ArgoCDEngine(world.sim.url)
    with world.engine() as engine, pytest.raises(ConfigError):
        engine.sync("tekton", revision="main", resources=["Task/git-clone"])
    with world.engine(verify=str(world.repo / "missing-ca.pem")) as engine, pytest.raises(ConfigError):
        engine.status("tekton")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ArgoCDEngine(f"http://127.0.0.1:{port}", token=world.sim.token) as engine, pytest.raises(TransportError):
        engine.status("tekton")


def test_a_sync_to_a_commit_argo_cd_does_not_have_fails_as_an_operation_with_a_clear_error(world: World) -> None:
    """Argo CD accepts a sync to any 40-hex SHA; the controller's checkout then fails, and the wait reports it as
    kind unknown_revision with the next action, instead of timing out."""
    ghost = "0123456789abcdef0123456789abcdef01234567"
    with world.engine() as engine:
        engine.sync("tekton", revision=ghost)
        with pytest.raises(AdapterError) as caught:
            engine.wait_for_revision("tekton", ghost, timeout=300)
    assert caught.value.kind == "unknown_revision"
    assert f"the sync to {ghost[:12]} ended Error: ComparisonError" in caught.value.message
    assert "not our ref" in caught.value.message
    assert caught.value.hint is not None and "repoURL" in caught.value.hint
    assert world.clock.monotonic() < 60


def test_a_sync_to_a_name_argo_cd_cannot_resolve_is_a_400_with_the_same_advice(world: World) -> None:
    """A branch or tag Argo CD's repository lacks is refused at once (400), kind unknown_revision."""
    with world.engine() as engine, pytest.raises(BadRequestError) as caught:
        engine.sync("tekton", revision="release-9")
    assert caught.value.kind == "unknown_revision"
    assert "unable to resolve 'release-9' to a commit SHA" in caught.value.remote_message
    assert caught.value.hint is not None and "repoURL" in caught.value.hint


def test_a_refresh_that_outlives_the_request_is_not_an_error(world: World) -> None:
    """While the controller is stalled, ``?refresh`` answers 500 "application refresh deadline exceeded"; the
    engine reads the app as it is and keeps waiting, and succeeds once the controller is back."""
    tip = world.restore_good()
    world.sim.pause()
    world.clock.after(40, world.sim.resume, name="controller back")
    with world.engine() as engine:
        engine.sync("tekton", revision=tip)
        status = engine.wait_for_revision("tekton", tip, timeout=600)
    assert (status.revision, status.sync_status, status.health) == (tip, "Synced", "Healthy")
    refreshes = [reply.status for r, reply in world.sim.requests if r.query.get("refresh")]
    assert refreshes[0] == 500
    assert world.clock.monotonic() >= 40
