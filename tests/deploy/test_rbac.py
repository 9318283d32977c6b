"""The deploy/ RBAC is exactly what a run uses: every question a sandbox rollback puts to the API server's authorizer
is granted by the Roles, and every rule is used by some run.

The simulator records each question (resource requests and SelfSubjectAccessReviews alike) through its authorizer;
the Roles are evaluated here with RBAC's own matching rules (kubernetes ``pkg/apis/rbac/v1/evaluation_helpers.go``:
``VerbMatches``, ``APIGroupMatches``, ``ResourceMatches``, ``ResourceNameMatches``; a Role's rules apply in its
namespace, a ClusterRole bound by a ClusterRoleBinding everywhere, ``plugin/pkg/auth/authorizer/rbac/rbac.go``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitrollback.api import Rollback
from gitrollback.config import parse_config
from gitrollback.settings import DEFAULT_KINDS
from gitrollback.testing._kube_authz import Attributes
from gitrollback.testing._kube_catalog import CATALOG
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld, build_sandbox
from gitrollback.testing.sandbox_gitops import build_gitops_sandbox
from tests.deploy.deploy_files import KUBERNETES, ROOT, TARGET_NAMESPACE, documents

SUBJECT = {"kind": "ServiceAccount", "name": "gitrollback", "namespace": "gitrollback"}
#: verbs an API server checks that the simulator does not model (it runs no RBAC escalation check)
UNMODELLED = {"escalate", "bind"}
Rule = tuple[str, str, str, str | None]  # (scope namespace or "" for cluster-wide, group, resource, verb)


def _rbac(*files: str) -> list[dict[str, Any]]:
    """The Roles and ClusterRoles of ``files`` that a binding there gives the ServiceAccount, each with the
    namespace its rules apply in ('' for everywhere)."""
    objects = [o for f in files for o in documents(KUBERNETES / f)]
    granted = []
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if SUBJECT not in binding["subjects"]:
            continue
        ref = binding["roleRef"]
        [role] = [o for o in objects if o["kind"] == ref["kind"] and o["metadata"]["name"] == ref["name"]]
        scope = binding["metadata"].get("namespace", "") if binding["kind"] == "RoleBinding" else ""
        granted.append({"scope": scope, "rules": role["rules"]})
    return granted


def _matches(rule: dict[str, Any], attrs: Attributes) -> bool:
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    names = rule.get("resourceNames") or []
    return (
        bool({"*", attrs.verb} & set(rule["verbs"]))
        and bool({"*", attrs.group} & set(rule["apiGroups"]))
        and bool({"*", resource} & set(rule["resources"]))
        and (not names or attrs.name in names)
    )


def _allowed(granted: list[dict[str, Any]], attrs: Attributes) -> bool:
    return any(
        g["scope"] in ("", attrs.namespace) and any(_matches(rule, attrs) for rule in g["rules"]) for g in granted
    )


def _used(granted: list[dict[str, Any]], asked: list[Attributes]) -> set[Rule]:
    """Each (scope, group, resource, verb) the Roles grant that no recorded question needed."""
    unused: set[Rule] = set()
    for g in granted:
        for rule in g["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in set(rule["verbs"]) - UNMODELLED:
                        single = {**rule, "apiGroups": [group], "resources": [resource], "verbs": [verb]}
                        if not any(g["scope"] in ("", a.namespace) and _matches(single, a) for a in asked):
                            unused.add((g["scope"], group, resource, verb))
    return unused


def _recorder(world: Any) -> list[Attributes]:
    """Every question the world's Kubernetes simulator puts to its authorizer from now on."""
    asked: list[Attributes] = []
    decide: Callable[[Attributes], bool] = world.kube.authorizer.allowed

    def allowed(attrs: Attributes) -> bool:
        asked.append(attrs)
        return decide(attrs)

    world.kube.authorizer.allowed = allowed
    return asked


def _run(world: Any, *, prune: bool = False) -> str:
    settings = parse_config(world.config_text, source=str(world.config_path))
    with Rollback.from_settings(
        settings, env=world.env, read_file=lambda p: Path(p).read_text(encoding="utf-8"), clock=world.clock
    ) as rb:
        report = rb.run(prune=prune)
    assert report.status == "rolled_back", report.error
    return report.status


@pytest.fixture(name="world")
def _world(tmp_path: Path) -> Iterator[SandboxWorld]:
    with build_sandbox(tmp_path / "world", clock=FakeClock(), tick=5.0, poll_interval=2.0) as world:
        assert world.namespace == TARGET_NAMESPACE  # the namespace the deploy Roles are written for
        yield world


def test_an_installer_rollback_needs_exactly_the_run_and_installer_roles(world: SandboxWorld) -> None:
    """Every question of an installer-mode rollback is granted by rbac-run and rbac-installer, and each of their
    rules was needed (escalate and bind aside: the simulator runs no escalation check)."""
    asked = _recorder(world)
    _run(world)
    granted = _rbac("rbac-run.yaml", "rbac-installer.yaml")
    assert [a for a in asked if not _allowed(granted, a)] == []
    assert _used(granted, asked) == set()
    assert any(a.verb == "create" and a.resource == "tasks" and a.name for a in asked), "applies that create"


def test_a_pruning_rollback_also_needs_the_prune_role(world: SandboxWorld) -> None:
    """With prune on, the deletes are asked and made, and rbac-prune grants them (without it they are not granted)."""
    asked = _recorder(world)
    _run(world, prune=True)
    deletes = [a for a in asked if a.verb == "delete"]
    assert deletes and {(a.group, a.resource) for a in deletes} == {("tekton.dev", "tasks")}
    without = _rbac("rbac-run.yaml", "rbac-installer.yaml")
    assert all(not _allowed(without, a) for a in deletes)
    granted = _rbac("rbac-run.yaml", "rbac-installer.yaml", "optional/rbac-prune.yaml")
    assert [a for a in asked if not _allowed(granted, a)] == []


def test_a_flux_rollback_needs_exactly_the_run_and_flux_roles(tmp_path: Path) -> None:
    """gitops mode with Flux: every question is granted by rbac-run and rbac-flux, and each of their rules is used."""
    with build_gitops_sandbox(tmp_path / "world", clock=FakeClock(), sync="flux", scm="direct") as world:
        asked = _recorder(world)
        _run(world)
    granted = _rbac("rbac-run.yaml", "optional/rbac-flux.yaml")
    assert [a for a in asked if not _allowed(granted, a)] == []
    assert _used(granted, asked) == set()


def _kinds(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        if rule.get("resourceNames") or rule["resources"] == ["namespaces"]:
            continue
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


def test_the_apply_and_prune_roles_cover_exactly_the_default_allow_list() -> None:
    """rbac-installer grants list, patch and create, and rbac-prune delete, on the kinds of DEFAULT_KINDS (the
    simulator's catalogue names their resources) and nothing else."""
    by_kind = {(f"{rt.kind}.{rt.group}" if rt.group else rt.kind): (rt.group, rt.plural) for rt in CATALOG}
    expected = {by_kind[kind] for kind in DEFAULT_KINDS}
    [apply_role] = [d for d in documents(KUBERNETES / "rbac-installer.yaml") if d["kind"] == "Role"]
    [prune_role] = [d for d in documents(KUBERNETES / "optional" / "rbac-prune.yaml") if d["kind"] == "Role"]
    assert _kinds(apply_role) == {key: {"list", "patch", "create"} for key in expected}
    assert _kinds(prune_role) == {key: {"delete"} for key in expected}


def test_escalate_and_bind_name_exactly_the_roles_of_the_asset_tree() -> None:
    """The escalate/bind rule names every Role in Image Factory's asset tree, which the apply writes, and no other."""
    tree = ROOT / "gitrollback" / "testing" / "assets" / "imagefactory-tekton"
    roles = sorted(
        doc["metadata"]["name"]
        for path in tree.rglob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and doc.get("kind") == "Role"
    )
    [apply_role] = [d for d in documents(KUBERNETES / "rbac-installer.yaml") if d["kind"] == "Role"]
    [named] = [r for r in apply_role["rules"] if r.get("resourceNames")]
    assert named == {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["roles"],
        "verbs": ["escalate", "bind"],
        "resourceNames": roles,
    }
    assert roles == ["tekton-history-cleanup"]


def test_the_watch_service_needs_exactly_the_watch_role_for_its_lease(world: SandboxWorld) -> None:
    """A watch replica that takes the Lease, rolls back (recording the job on the Lease), renews and releases asks
    only what rbac-watch.yaml grants in its namespace, and uses each of its rules; its rollback needs the run's."""
    import threading

    from gitrollback.cli.watch import build_service

    world.cluster.ensure_namespace("gitrollback")
    asked = _recorder(world)
    text = world.config_text + (
        "watch:\n  policy: rollback\n  listen: 127.0.0.1:0\n"
        f"  leader_election: {{kubeconfig: {world.kubeconfig_path}, context: sandbox}}\n"
    )
    settings = parse_config(text, source=str(world.config_path))
    env = {**world.env, "POD_NAME": "gitrollback-watch-0", "POD_NAMESPACE": "gitrollback"}
    service, close = build_service(
        settings,
        env,
        read_file=lambda p: Path(p).read_text(encoding="utf-8"),
        clock=world.clock,
        real_time=False,
        stop=threading.Event(),
    )
    try:
        service.step()
        assert service.actions == 1
        world.clock.sleep(4)
        service.step()
    finally:
        service.close()
        close()
    watch = [a for a in asked if a.namespace == "gitrollback"]
    assert {a.verb for a in watch} == {"get", "create", "update"}
    granted = _rbac("rbac-watch.yaml")
    assert [a for a in watch if not _allowed(granted, a)] == []
    assert _used(granted, watch) == set()
    run = _rbac("rbac-run.yaml", "rbac-installer.yaml")
    assert [a for a in asked if a.namespace != "gitrollback" and not _allowed(run, a)] == []
