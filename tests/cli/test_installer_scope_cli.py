"""Installer mode refuses hostile revisions in plan and run alike (exit 3), naming object and file, writing nothing."""

from __future__ import annotations

import json

import pytest

from gitrollback.cli import EXIT_OK, EXIT_REFUSED, main
from gitrollback.testing.repos import CommitSpec, make_repo
from gitrollback.testing.sandbox import SandboxWorld

TEKTON = "backend/tekton"
SERVICE = f"{TEKTON}/jobs/v1/internal-registry-service.yaml"
CLONE = f"{TEKTON}/tasks/v1/git-clone-task.yaml"

_BOMB = "apiVersion: v1\nkind: Service\nmetadata: {name: bomb}\nspec:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
_FOREIGN = """apiVersion: v1
kind: Service
metadata:
  name: image-factory-registry
  namespace: default
spec:
  ports: [{port: 5000}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: stolen
  namespace: kube-system
data: {a: b}
"""
_CLUSTER_SCOPED = """apiVersion: v1
kind: Service
metadata:
  name: image-factory-registry
spec:
  ports: [{port: 5000}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: take-over
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: default, namespace: image-factory-6f1c2a9e}]
---
apiVersion: v1
kind: Namespace
metadata:
  name: attacker
"""
_OVERSIZED = "apiVersion: v1\nkind: Service\nmetadata: {name: image-factory-registry}\n" + "#" * (2 << 20) + "\n"

CASES = {
    "other-namespace": (
        _FOREIGN,
        [
            "jobs/v1/internal-registry-service.yaml:1: Service/image-factory-registry: sets namespace 'default'",
            "jobs/v1/internal-registry-service.yaml:9: ConfigMap/stolen: kind ConfigMap is not allowed",
        ],
    ),
    "cluster-scoped": (
        _CLUSTER_SCOPED,
        [
            "jobs/v1/internal-registry-service.yaml:8: ClusterRoleBinding/take-over: "
            "ClusterRoleBinding.rbac.authorization.k8s.io is cluster-scoped",
            "jobs/v1/internal-registry-service.yaml:15: Namespace/attacker: Namespace is cluster-scoped",
        ],
    ),
    "alias-bomb": (_BOMB, ["jobs/v1/internal-registry-service.yaml:1: the document expands to 490,329,074 nodes"]),
    "oversized": (_OVERSIZED, ["jobs/v1/internal-registry-service.yaml is 2,097,2", "over the limit of 1,048,576"]),
}


def _run(cap, argv: list[str], world: SandboxWorld) -> tuple[int, str, str]:
    """The CLI in-process on the world's FakeClock: exit code, stdout, stderr."""
    for stream in (cap.out, cap.err):
        stream.seek(0)
        stream.truncate()
    code = main(argv, env=world.env, output=cap.output, clock=world.clock)
    return code, cap.out.getvalue(), cap.err.getvalue()


def _state(world: SandboxWorld) -> dict[tuple[str, str, str], str]:
    """Every object in the cluster with its resourceVersion, except the run lock's own Lease (every run writes it)."""
    return {
        (rt.plural, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for rt in world.cluster.types
        if rt.kind != "Lease"
        for o in world.cluster.list(rt, None)
    }


def _hostile(world: SandboxWorld, content: str) -> str:
    """A commit on a side branch off the known-good revision that replaces the registry Service file."""
    shas = make_repo(
        world.repo.path, [CommitSpec("hostile", files={SERVICE: content})], branch="hostile", start=world.repo.good
    )
    return shas["c1"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_revision_is_refused_by_plan_and_run(cap, world: SandboxWorld, case: str) -> None:
    """plan and run --yes both exit 3, name every offender with file and line, and the cluster is unchanged."""
    content, expected = CASES[case]
    sha = _hostile(world, content)
    config = ["--config", str(world.config_path), "--to", sha]
    before, jobs = _state(world), len(world.imagefactory.jobs(world.provider_id))
    code, _, err = _run(cap, ["plan", *config], world)
    assert code == EXIT_REFUSED, err
    assert all(text in err for text in expected), err
    code, out, err = _run(cap, ["run", "--yes", *config], world)
    assert code == EXIT_REFUSED, out + err
    assert "Result: refused" in out and all(text in out for text in expected), out
    assert _state(world) == before
    assert len(world.imagefactory.jobs(world.provider_id)) == jobs


def test_plan_shows_the_dry_run_table_and_warns_off_branch(cap, world: SandboxWorld) -> None:
    """plan --to a side-branch commit warns "not on main" and prints create/update/unchanged rows from the dry run."""
    text = world.repo.path.joinpath(CLONE)
    sha = make_repo(
        world.repo.path,
        [CommitSpec("side", files={CLONE: text.read_text().replace("alpine/git:2.45.2", "alpine/git:2.46.0")})],
        branch="side",
        start=world.repo.good,
    )["c1"]
    config = ["--config", str(world.config_path), "--to", sha]
    code, out, err = _run(cap, ["plan", *config], world)
    assert code == EXIT_OK, err
    assert "is not on main" in out
    assert "Changes in namespace" in out and "(server-side dry run)" in out
    assert "create    Task/kaniko-no-push" in out
    assert "create    Deployment/image-factory-registry" in out  # the failed upgrade's version was refused
    assert "update    Task/git-clone" in out
    assert "unchanged Task/buildx" in out
    code, out, _ = _run(cap, ["plan", "--json", *config], world)
    changes = json.loads(out)["changes"]
    rows = {f"{r['kind']}/{r['name']}": r for r in changes["objects"]}
    assert rows["Task/git-clone"]["action"] == "update" and rows["Task/git-clone"]["fields"] == ["spec"]
    assert [(r["kind"], r["name"], r["action"]) for r in changes["added"]] == [("Task", "kaniko-build", "keep")]


def test_run_shows_the_table_before_asking_and_no_changes_nothing(
    cap, world: SandboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interactive run prints the dry-run table and the prune rows before the question; answering no writes nothing."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(cap.err.getvalue()) or "n")
    before = _state(world)
    code, _, err = _run(cap, ["run", "--prune", "--config", str(world.config_path)], world)
    assert code == EXIT_REFUSED and "not confirmed: nothing was changed" in err
    assert "Changes in namespace" in asked[0] and "prune     Task/kaniko-build" in asked[0]
    assert _state(world) == before


def test_objects_outside_the_scope_are_refused_by_scope_not_by_the_preflight(cap, world: SandboxWorld) -> None:
    """A token with no rights in namespace default still meets the scope refusal (exit 3, file and line) for a
    revision that names default: the pre-flight asks only about what the run may touch."""
    world.kube.deny("*", "*", namespace="default")
    sha = _hostile(world, _FOREIGN)
    code, _, err = _run(cap, ["plan", "--config", str(world.config_path), "--to", sha], world)
    assert code == EXIT_REFUSED, err
    assert "jobs/v1/internal-registry-service.yaml:1: Service/image-factory-registry: sets namespace 'default'" in err
    assert "pre-flight" not in err
