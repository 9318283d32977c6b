"""The Argo CD simulator over real sockets: swagger shapes, auth and error rules, the controller's behaviour."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gitrollback.testing.argocd import ArgoCDSimulator
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.repos import CommitSpec, SandboxRepo, make_repo

SWAGGER = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "specs" / "argocd-swagger.json").read_text("utf-8")
)
DEFS: dict[str, Any] = SWAGGER["definitions"]
NS = "image-factory-tekton"
APP = "tekton"
PATH = "backend/tekton"
TICK = 3.0  # seconds of simulated time between controller ticks
IN_PROGRESS = (
    "error setting app operation: rpc error: code = FailedPrecondition desc = another operation is already in progress"
)


def check_shape(value: Any, schema: dict[str, Any], where: str = "$") -> None:
    """Assert that every key and type in ``value`` is declared by the swagger ``schema``."""
    if "$ref" in schema:
        schema = DEFS[schema["$ref"].rsplit("/", 1)[-1]]
    kind = schema.get("type")
    if kind == "string":
        assert isinstance(value, str), where
    elif kind == "boolean":
        assert isinstance(value, bool), where
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == "array":
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            check_shape(item, schema["items"], f"{where}[{i}]")
    else:
        assert isinstance(value, dict), where
        props = schema.get("properties")
        if props is None:  # a free-form map (labels, annotations)
            return
        for key, item in value.items():
            assert key in props, f"{where}.{key} is not in the swagger"
            check_shape(item, props[key], f"{where}.{key}")


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{name}"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class World:
    """A started simulator on a FakeClock: the controller ticks (every 3 s) only as simulated time passes."""

    clock: FakeClock
    sim: ArgoCDSimulator
    cluster: ClusterState
    repo: Path
    sandbox: SandboxRepo
    http: httpx.Client

    def tick(self, n: int = 1) -> None:
        """Let exactly ``n`` controller ticks pass."""
        self.clock.sleep(TICK * n)

    def commit(self, message: str, files: dict[str, str]) -> str:
        return make_repo(self.repo, [CommitSpec(message, files=files, label="x")])["x"]

    def restore_good(self) -> str:
        """Commit the good asset tree on top of main (a rollback by hand); returns the new tip."""
        git(self.repo, "rm", "-r", "-q", PATH)
        git(self.repo, "checkout", self.sandbox.good, "--", PATH)
        git(self.repo, "commit", "-q", "-m", "rollback to the good tree")
        return git(self.repo, "rev-parse", "HEAD")


@pytest.fixture
def world(sandbox: SandboxRepo, tmp_path: Path) -> Iterator[World]:
    """A started simulator with app ``tekton`` on a fresh clone of the sandbox repo, at simulated time 0."""
    repo = tmp_path / "gitops"
    subprocess.run(["git", "clone", "--quiet", str(sandbox.path), str(repo)], check=True)
    clock = FakeClock()
    cluster = ClusterState(namespaces=[NS], clock=clock)
    sim = ArgoCDSimulator(cluster, tick=TICK, clock=clock)
    with sim, httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {sim.token}"}) as http:
        sim.add_app(APP, repo_path=repo, path=PATH, namespace=NS)
        yield World(clock, sim, cluster, repo, sandbox, http)


def sync(w: World, **body: Any) -> httpx.Response:
    return w.http.post(f"/api/v1/applications/{APP}/sync", json=body)


def task_names(cluster: ClusterState) -> list[str]:
    rt = cluster.type_for("tekton.dev/v1", "Task")
    assert rt is not None
    return [o["metadata"]["name"] for o in cluster.list(rt, NS)]


# -- shapes ------------------------------------------------------------------------------------------------


def test_application_list_and_error_shapes_match_the_swagger(world: World) -> None:
    """Application (mid-operation and after it), ApplicationList, sync request and error bodies fit the swagger."""
    body = {
        "revision": world.sandbox.good,
        "prune": True,
        "dryRun": False,
        "resources": [{"group": "tekton.dev", "kind": "Task", "name": "git-clone", "namespace": NS}],
        "strategy": {"apply": {"force": False}},
        "syncOptions": {"items": ["CreateNamespace=true"]},
        "retryStrategy": {"limit": 1},
        "project": "default",
        "name": APP,
    }
    check_shape(body, ref("applicationApplicationSyncRequest"))
    started = sync(world, **body)
    assert started.status_code == 200
    check_shape(started.json(), ref("v1alpha1Application"))
    world.tick(4)
    done = world.sim.sync_now(APP, world.sandbox.good)
    assert done["status"]["history"] and done["status"]["operationState"]["syncResult"]["resources"]
    check_shape(world.http.get(f"/api/v1/applications/{APP}").json(), ref("v1alpha1Application"))
    listed = world.http.get("/api/v1/applications")
    assert listed.status_code == 200
    check_shape(listed.json(), ref("v1alpha1ApplicationList"))
    missing = world.http.get("/api/v1/applications/nope")
    check_shape(missing.json(), ref("runtimeError"))
    login = world.http.post("/api/v1/session", json={"username": "admin", "password": "sim"})
    check_shape(login.json(), ref("sessionSessionResponse"))


# -- auth, content type, missing apps -------------------------------------------------------------------------


def test_session_login_gives_a_jwt_and_wrong_credentials_get_the_real_401_bodies(world: World) -> None:
    """POST /api/v1/session returns a usable JWT-shaped token; empty or wrong credentials are 401 envelopes."""
    good = world.http.post("/api/v1/session", json={"username": "admin", "password": "sim"})
    assert good.status_code == 200
    token = good.json()["token"]
    assert token.count(".") == 2
    assert (
        httpx.get(
            f"{world.sim.url}/api/v1/applications/{APP}", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    wrong = world.http.post("/api/v1/session", json={"username": "admin", "password": "nope"})
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"error": "Invalid username or password", "code": 16, "message": "Invalid username or password"},
    )
    empty = world.http.post("/api/v1/session", json={"username": "admin"})
    assert (empty.status_code, empty.json()["message"]) == (401, "no credentials supplied")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "no session information"),
        ({"Authorization": "Bearer not-a-jwt"}, "no session information"),
        ({"Authorization": "Bearer a.b.c"}, "invalid session: token signature is invalid"),
    ],
)
def test_requests_without_a_valid_token_get_401(world: World, headers: dict[str, str], message: str) -> None:
    """A missing, non-JWT or unknown bearer token is refused with Argo CD's 401 envelope."""
    reply = httpx.get(f"{world.sim.url}/api/v1/applications/{APP}", headers=headers)
    assert (reply.status_code, reply.json()) == (401, {"error": message, "code": 16, "message": message})


def test_the_argocd_token_cookie_authenticates(world: World) -> None:
    """The ``argocd.token`` cookie works like the bearer header."""
    reply = httpx.get(
        f"{world.sim.url}/api/v1/applications/{APP}", headers={"Cookie": f"argocd.token={world.sim.token}"}
    )
    assert reply.status_code == 200


def test_writes_without_a_json_content_type_get_plain_text_415(world: World) -> None:
    """POST and DELETE without exactly application/json (a charset parameter too) get 415 before auth."""
    post = httpx.post(
        f"{world.sim.url}/api/v1/applications/{APP}/sync", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    delete = httpx.delete(f"{world.sim.url}/api/v1/applications/{APP}/operation")
    with_charset = world.http.post(
        f"/api/v1/applications/{APP}/sync", content=b"{}", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    for reply in (post, delete, with_charset):
        assert (reply.status_code, reply.text, reply.headers["content-type"]) == (
            415,
            "Invalid content type\n",
            "text/plain; charset=utf-8",
        )


def test_a_missing_app_is_403_without_a_project_and_404_with_one(world: World) -> None:
    """Existence does not leak without ``project``; with it, a missing or other-project app is NotFound."""
    forbidden = world.http.get("/api/v1/applications/nope")
    assert (forbidden.status_code, forbidden.json()) == (
        403,
        {"error": "permission denied", "code": 7, "message": "permission denied"},
    )
    missing = world.http.get("/api/v1/applications/nope", params={"project": "default"})
    text = 'applications.argoproj.io "nope" not found'
    assert (missing.status_code, missing.json()) == (404, {"error": text, "code": 5, "message": text})
    other = world.http.get(f"/api/v1/applications/{APP}", params={"project": "platform"})
    text = f'applications.argoproj.io "{APP}" not found'
    assert (other.status_code, other.json()) == (404, {"error": text, "code": 5, "message": text})
    assert sync(world, project="default", revision="main").status_code == 200
    refused = world.http.post("/api/v1/applications/nope/sync", json={})
    assert (refused.status_code, refused.json()["message"]) == (403, "permission denied")


# -- operations --------------------------------------------------------------------------------------------


def test_a_sync_runs_applies_from_git_records_history_and_then_refreshes(world: World) -> None:
    """Running -> Succeeded, objects applied by argocd-controller, history id 0, Synced/Healthy one tick later."""
    started = sync(world, revision=world.sandbox.good)
    assert started.status_code == 200
    assert started.json()["operation"]["sync"]["revision"] == world.sandbox.good
    assert started.json()["operation"]["sync"]["source"] == started.json()["spec"]["source"]  # Server.Sync sets it
    assert "operationState" not in started.json()["status"]
    world.tick()
    assert world.sim.operation_state(APP)["phase"] == "Running"
    world.tick(2)
    app = world.sim.app(APP)
    state = app["status"]["operationState"]
    assert "operation" not in app
    assert (state["phase"], state["message"], state["syncResult"]["revision"]) == (
        "Succeeded",
        "successfully synced (all tasks run)",
        world.sandbox.good,
    )
    assert app["status"]["health"]["status"] == "Progressing"
    assert app["metadata"]["annotations"] == {"argocd.argoproj.io/refresh": "normal"}
    assert "kaniko-no-push" in task_names(world.cluster)
    rt = world.cluster.type_for("tekton.dev/v1", "Task")
    assert rt is not None
    assert "argocd-controller" in world.cluster.managers(rt, NS, "kaniko-no-push")
    world.tick()
    app = world.sim.app(APP)
    assert app["status"]["health"] == {"status": "Healthy"}
    assert app["status"]["reconciledAt"] >= state["finishedAt"]
    # the tip (c6) renders the broken c5 tree, so the app compares OutOfSync against it
    assert app["status"]["sync"]["revision"] == world.sandbox.tip
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert [(h["id"], h["revision"]) for h in world.sim.history(APP)] == [(0, world.sandbox.good)]


def test_a_second_sync_while_one_runs_is_400_failed_precondition(world: World) -> None:
    """Argo CD allows one operation at a time: the second sync gets the wrapped FailedPrecondition text."""
    assert sync(world, revision=world.sandbox.good).status_code == 200
    second = sync(world, revision=world.sandbox.good)
    assert (second.status_code, second.json()) == (400, {"error": IN_PROGRESS, "code": 9, "message": IN_PROGRESS})


def test_terminate_needs_a_started_operation_and_ends_it_failed(world: World) -> None:
    """DELETE operation is 400 with nothing running (or only requested); on a running one it ends Failed."""
    nothing = world.http.delete(f"/api/v1/applications/{APP}/operation", headers={"Content-Type": "application/json"})
    text = "Unable to terminate operation. No operation is in progress"
    assert (nothing.status_code, nothing.json()) == (400, {"error": text, "code": 3, "message": text})
    world.sim.hold_operation(APP)
    world.tick(5)
    assert world.sim.operation_state(APP)["phase"] == "Running"
    ended = world.http.delete(f"/api/v1/applications/{APP}/operation", headers={"Content-Type": "application/json"})
    assert (ended.status_code, ended.json()) == (200, {})
    assert world.sim.operation_state(APP)["phase"] == "Terminating"
    world.tick()
    state = world.sim.operation_state(APP)
    assert (state["phase"], state["message"]) == ("Failed", "Operation terminated")
    assert "operation" not in world.sim.app(APP)
    assert world.sim.history(APP) == []


def test_a_failed_apply_fails_the_operation_with_the_api_message_and_degrades_health(world: World) -> None:
    """Syncing the broken upgrade (Deployment without selector) ends Failed with the apply error; health Degraded."""
    app = world.sim.sync_now(APP, world.sandbox.bad)
    state = app["status"]["operationState"]
    message = (
        'one or more objects failed to apply, reason: Deployment.apps "image-factory-registry" is invalid: '
        "spec.selector: Required value"
    )
    assert (state["phase"], state["message"]) == ("Failed", message)
    assert app["status"]["health"] == {"status": "Degraded", "message": message}
    assert world.sim.history(APP) == []


def test_a_manual_sync_with_retry_stays_running_with_finished_at_between_attempts(world: World) -> None:
    """A failed attempt with retries left is phase Running with finishedAt and a Retrying message; the retry
    clears finishedAt and syncResult when it starts, and a final failure says how often it was retried."""
    world.sim.fail_next_sync(APP, "hook failed", count=3)
    assert sync(world, revision=world.sandbox.good, retryStrategy={"limit": 2}).status_code == 200
    world.tick(3)
    state = world.sim.operation_state(APP)
    assert state["phase"] == "Running"
    assert state["retryCount"] == 1 and state["finishedAt"] and state["syncResult"]["revision"] == world.sandbox.good
    assert state["message"] == "hook failed. Retrying attempt #1 at 12:00AM."
    world.tick(1)
    state = world.sim.operation_state(APP)
    assert (state["phase"], state["message"], "finishedAt" in state, "syncResult" in state) == (
        "Running",
        "Retrying operation. Attempt #1",
        False,
        False,
    )
    world.tick(5)  # the retry runs (2 ticks), fails, waits a tick, retries again and fails for good
    state = world.sim.operation_state(APP)
    assert (state["phase"], state["retryCount"]) == ("Failed", 2)
    assert state["message"] == "hook failed (retried 2 times)."


def test_a_sync_to_a_commit_the_repository_lacks_is_accepted_then_errors(world: World) -> None:
    """resolveRevision does not look up a 40-hex SHA: the sync is accepted, and the operation ends Error with the
    repo-server's checkout failure; an unknown branch name is refused at once with 400."""
    ghost = "0123456789abcdef0123456789abcdef01234567"
    accepted = sync(world, revision=ghost)
    assert (accepted.status_code, accepted.json()["operation"]["sync"]["revision"]) == (200, ghost)
    world.tick(4)
    state = world.sim.operation_state(APP)
    assert (state["phase"], state["syncResult"]["revision"]) == ("Error", ghost)
    assert state["message"] == (
        "ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: "
        f"code = Internal desc = Failed to checkout revision {ghost}: `git fetch origin {ghost} --tags --force "
        f"--prune` failed exit status 128: fatal: remote error: upload-pack: not our ref {ghost}"
    )
    refused = sync(world, revision="no-such-branch")
    text = (
        "error resolving repo revision: rpc error: code = Unknown desc = unable to resolve 'no-such-branch' to a "
        "commit SHA"
    )
    assert (refused.status_code, refused.json()) == (400, {"error": text, "code": 9, "message": text})


def test_partial_and_dry_run_syncs_leave_no_history_and_prune_deletes_what_git_dropped(world: World) -> None:
    """Only full, real syncs are history; ``prune`` removes objects the new revision no longer has."""
    world.sim.sync_now(APP, world.sandbox.good)
    dropped = world.commit("drop the kaniko task", _without_kaniko(world))
    assert sync(world, revision=dropped, dryRun=True).status_code == 200
    world.tick(4)
    assert (
        sync(
            world, revision=dropped, resources=[{"group": "tekton.dev", "kind": "Task", "name": "git-clone"}]
        ).status_code
        == 200
    )
    world.tick(4)
    assert [h["revision"] for h in world.sim.history(APP)] == [world.sandbox.good]
    assert "kaniko-no-push" in task_names(world.cluster)
    assert sync(world, revision=dropped, prune=True).status_code == 200
    world.tick(4)
    assert "kaniko-no-push" not in task_names(world.cluster)
    assert [h["revision"] for h in world.sim.history(APP)] == [world.sandbox.good, dropped]
    assert world.sim.app(APP)["status"]["sync"]["status"] == "Synced"


def _without_kaniko(world: World) -> dict[str, str]:
    """The good tree's kustomization without the kaniko-no-push task, and the good registry Deployment."""
    good = world.sandbox.good
    kustomization = git(world.repo, "show", f"{good}:{PATH}/kustomization.yaml") + "\n"
    deployment = f"{PATH}/jobs/v1/internal-registry-deployment.yaml"
    return {
        f"{PATH}/kustomization.yaml": kustomization.replace("  - tasks/v1/kaniko-no-push-task.yaml\n", ""),
        deployment: git(world.repo, "show", f"{good}:{deployment}") + "\n",
    }


# -- refresh ---------------------------------------------------------------------------------------------------


def test_get_with_refresh_blocks_until_the_controller_compared_the_new_tip(world: World) -> None:
    """``?refresh=normal`` returns only once the refresh applied (new tip compared, annotation gone), slow or not."""
    new = world.commit("docs only", {"docs/NOTE.md": "hello\n"})
    world.sim.slow_refresh(APP, 3)
    app = world.http.get(f"/api/v1/applications/{APP}", params={"refresh": "normal"}).json()
    # the server waited on the clock: three slow ticks spent, the refresh applied on the fourth
    assert world.clock.monotonic() == 4 * TICK
    assert app["status"]["sync"]["revision"] == new
    assert app["status"]["reconciledAt"] == "2026-03-28T00:00:12Z"
    assert "annotations" not in app["metadata"]


def test_get_with_refresh_gives_up_at_the_deadline_while_the_controller_is_paused(world: World) -> None:
    """With the controller paused, ``?refresh`` waits out its 30 s deadline of simulated time, then answers 500
    (a plain error from the server: gRPC Unknown), not 504."""
    world.sim.pause()
    reply = world.http.get(f"/api/v1/applications/{APP}", params={"refresh": "hard"})
    text = "application refresh deadline exceeded"
    assert (reply.status_code, reply.json()) == (500, {"error": text, "code": 2, "message": text})
    assert world.clock.monotonic() == 30
    world.sim.resume()
    assert world.http.get(f"/api/v1/applications/{APP}", params={"refresh": "hard"}).status_code == 200


def test_unknown_paths_and_methods_get_envelopes(world: World) -> None:
    """Unrouted paths are 404 and known paths with another method 501, both as runtimeError bodies."""
    nothing = world.http.get("/api/v1/nothing")
    assert (nothing.status_code, nothing.json()) == (404, {"error": "Not Found", "code": 5, "message": "Not Found"})
    wrong = world.http.put(f"/api/v1/applications/{APP}/sync", json={})
    body = {"error": "Method Not Allowed", "code": 12, "message": "Method Not Allowed"}
    assert (wrong.status_code, wrong.json()) == (501, body)


# -- auto-sync, faults ------------------------------------------------------------------------------------------


def test_auto_sync_picks_up_a_new_commit_and_never_retries_a_failed_revision(world: World) -> None:
    """OutOfSync with auto-sync starts an automated op; after the retries fail, the revision is left alone."""
    world.sim.add_app("auto", repo_path=world.repo, path=PATH, namespace=NS, auto_sync=True)
    world.sim.fail_next_sync("auto", "sync failed: webhook denied", count=6)
    world.tick(30)
    app = world.sim.app("auto")
    state = app["status"]["operationState"]
    assert state["operation"]["initiatedBy"] == {"automated": True}
    message = "sync failed: webhook denied (retried 5 times)."
    assert (state["phase"], state["message"], state["retryCount"]) == ("Failed", message, 5)
    assert state["syncResult"]["revision"] == world.sandbox.tip
    condition = app["status"]["conditions"][0]
    assert condition["type"] == "SyncError"
    assert condition["message"] == f"Failed last sync attempt to [{world.sandbox.tip}]: {message}"
    world.tick(10)
    assert world.sim.operation_state("auto")["startedAt"] == state["startedAt"]
    fixed = world.commit(
        "restore good kustomization",
        {
            f"{PATH}/jobs/v1/internal-registry-deployment.yaml": git(
                world.repo, "show", f"{world.sandbox.good}:{PATH}/jobs/v1/internal-registry-deployment.yaml"
            )
            + "\n"
        },
    )
    app = world.sim.wait_until(
        "auto",
        lambda a: (
            a["status"].get("operationState", {}).get("syncResult", {}).get("revision") == fixed
            and a["status"]["operationState"]["phase"] == "Succeeded"
        ),
        timeout=300,
    )
    assert app["status"]["operationState"]["operation"]["initiatedBy"] == {"automated": True}


def test_auto_sync_is_skipped_when_only_pruning_is_needed_and_automated_prune_is_off(world: World) -> None:
    """A commit that only drops a Task leaves the app OutOfSync with one resource to prune: auto-sync without
    automated prune starts nothing; with automated prune it syncs and prunes."""
    git(world.repo, "reset", "-q", "--hard", world.sandbox.good)
    world.cluster.ensure_namespace("other")
    for name, prune, namespace in (("keep", False, NS), ("prune", True, "other")):
        world.sim.add_app(name, repo_path=world.repo, path=PATH, namespace=namespace, auto_sync=True, prune=prune)
        world.sim.wait_until(name, lambda a: a["status"].get("operationState", {}).get("phase") == "Succeeded")
    dropped = world.commit("drop the kaniko task", _without_kaniko(world))
    for name in ("keep", "prune"):
        world.http.get(f"/api/v1/applications/{name}", params={"refresh": "normal"})
    world.tick(6)
    keep, pruned = world.sim.app("keep"), world.sim.app("prune")
    assert (keep["status"]["sync"]["status"], keep["status"]["sync"]["revision"]) == ("OutOfSync", dropped)
    assert [r["name"] for r in keep["status"]["resources"] if r.get("requiresPruning")] == ["kaniko-no-push"]
    assert keep["status"]["operationState"]["syncResult"]["revision"] == world.sandbox.good
    assert pruned["status"]["operationState"]["syncResult"]["revision"] == dropped
    assert pruned["status"]["sync"]["status"] == "Synced"
    rt = world.cluster.type_for("tekton.dev/v1", "Task")
    assert rt is not None and world.cluster.get(rt, "other", "kaniko-no-push") is None
    assert "kaniko-no-push" in task_names(world.cluster)


def test_auto_sync_refuses_a_manual_sync_to_another_revision(world: World) -> None:
    """With auto-sync on, a sync to anything but targetRevision is 400 FailedPrecondition."""
    world.sim.add_app("auto", repo_path=world.repo, path=PATH, namespace=NS, auto_sync=True)
    reply = world.http.post("/api/v1/applications/auto/sync", json={"revision": world.sandbox.good})
    text = f"Cannot sync to {world.sandbox.good}: auto-sync currently set to main"
    assert (reply.status_code, reply.json()) == (400, {"error": text, "code": 9, "message": text})


def test_stale_healthy_keeps_the_old_revision_synced_and_healthy_after_a_push(world: World) -> None:
    """Under the stale fault, refreshes keep comparing the old commit: the state ``argocd app wait`` would accept."""
    old = world.restore_good()
    world.sim.sync_now(APP, "main")
    world.sim.stale_healthy(APP, 5)
    new = world.commit("docs", {"docs/X.md": "x\n"})
    world.sim.controller.request_refresh(world.sim.controller.apps[APP], "normal")
    world.tick()
    app = world.sim.app(APP)
    assert (app["status"]["sync"]["revision"], app["status"]["sync"]["status"], app["status"]["health"]["status"]) == (
        old,
        "Synced",
        "Healthy",
    )
    assert "operation" not in app
    world.tick(5)
    world.sim.controller.request_refresh(world.sim.controller.apps[APP], "normal")
    world.tick()
    assert world.sim.app(APP)["status"]["sync"]["revision"] == new


def test_degrade_fault_reports_degraded_after_the_sync_then_healthy(world: World) -> None:
    """``degrade(ticks=3)``: the next sync ends Degraded with the message, and Healthy after three ticks."""
    world.sim.degrade(APP, "Deployment image-factory-registry has timed out progressing", ticks=3)
    assert sync(world, revision=world.sandbox.good).status_code == 200
    world.tick(4)
    assert world.sim.app(APP)["status"]["health"] == {
        "status": "Degraded",
        "message": "Deployment image-factory-registry has timed out progressing",
    }
    world.tick(3)
    assert world.sim.app(APP)["status"]["health"] == {"status": "Healthy"}


def test_resource_tree_lists_the_applied_objects(world: World) -> None:
    """The resource tree names every applied object with its live uid."""
    world.sim.sync_now(APP, world.sandbox.good)
    tree = world.http.get(f"/api/v1/applications/{APP}/resource-tree").json()
    names = {(n["kind"], n["name"]) for n in tree["nodes"]}
    assert ("Task", "kaniko-no-push") in names and len(tree["nodes"]) == 26
    assert all(n["uid"] for n in tree["nodes"])


# -- rollback ----------------------------------------------------------------------------------------------------


def test_rollback_syncs_a_history_entry_with_the_apply_strategy(world: World) -> None:
    """POST rollback with a history id starts an apply-strategy sync of that entry's revision and adds history."""
    world.sim.sync_now(APP, world.sandbox.good)
    world.sim.sync_now(APP, world.sandbox.bad)
    body = {"id": 0, "prune": True, "project": "default", "name": APP}
    check_shape(body, ref("applicationApplicationRollbackRequest"))
    started = world.http.post(f"/api/v1/applications/{APP}/rollback", json=body)
    assert started.status_code == 200
    check_shape(started.json(), ref("v1alpha1Application"))
    sync_op = started.json()["operation"]["sync"]
    assert (sync_op["revision"], sync_op["syncStrategy"], sync_op["prune"]) == (
        world.sandbox.good,
        {"apply": {}},
        True,
    )
    again = world.http.post(f"/api/v1/applications/{APP}/rollback", json={"id": 0})
    assert (again.status_code, again.json()) == (400, {"error": IN_PROGRESS, "code": 9, "message": IN_PROGRESS})
    world.tick(4)
    assert world.sim.operation_state(APP)["phase"] == "Succeeded"
    assert [(h["id"], h["revision"]) for h in world.sim.history(APP)] == [
        (0, world.sandbox.good),
        (1, world.sandbox.good),
    ]


def test_rollback_is_refused_for_an_unknown_id_and_with_auto_sync(world: World) -> None:
    """An id not in history is 400 InvalidArgument; with auto-sync on, 400 FailedPrecondition; nothing starts."""
    world.sim.sync_now(APP, world.sandbox.good)
    unknown = world.http.post(f"/api/v1/applications/{APP}/rollback", json={"id": "7"})
    text = f"application argocd/{APP} does not have deployment with id 7"
    assert (unknown.status_code, unknown.json()) == (400, {"error": text, "code": 3, "message": text})
    world.sim.add_app("auto", repo_path=world.repo, path=PATH, namespace=NS, auto_sync=True)
    auto = world.http.post("/api/v1/applications/auto/rollback", json={"id": 0})
    text = "rollback cannot be initiated when auto-sync is enabled"
    assert (auto.status_code, auto.json()) == (400, {"error": text, "code": 9, "message": text})
    assert "operation" not in world.sim.app(APP) and "operation" not in world.sim.app("auto")
