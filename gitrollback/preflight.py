"""The pre-flight check: every credential and permission a run needs, verified before its first change.

A rollback that finds a wrong Argo CD token only after its pull request was merged leaves the GitOps repository
changed and the cluster unsynced. So before any write (commit, push, apply, job) the run asks each remote, read-only,
whether its credentials allow what the plan will do, collects every problem (not just the first) and stops with one
``PreflightFailedError`` (kind ``preflight_failed``, CLI exit 2) naming them all.

What is asked, and of whom (each port contributes its own check through ``gitrollback.ports.AccessCheck``):

* Image Factory: an authenticated read of the provider. (Whether a static token outlives the run's waits is
  ``assess``'s check, ``gitrollback.runbook.token_budget``: a warning, or a refusal with ``strict``.)
* Kubernetes: one ``SelfSubjectAccessReview`` per verb and kind the plan needs (``kube_needs``), in the target
  namespace: ``get`` of the namespace (the dry run and the apply ask whether it exists), ``patch`` and ``create``
  of every kind it applies (the dry run and the apply are server-side apply patches, and the API server also
  authorizes one that creates its object as ``create``), ``list`` of every kind the dry run lists
  (the known-good kinds and those the bad revision added), ``delete`` of the added kinds when prune is on,
  ``list`` of Tasks and Pipelines (verification), and the run lock's Lease. Only what the run may touch is asked:
  the target namespace and the allowed kinds (the dry run's scope check refuses the rest, naming file and line).
* The git host: push rights on the repository, and the right to open (and with ``auto_merge`` merge) the change
  request (GitHub's ``permissions`` of the repository, GitLab's access level on the project); the git remote itself
  answers a dry-run push.
* Argo CD: ``GET`` the application. Flux: ``GET`` the Kustomization and its GitRepository, and a
  ``SelfSubjectAccessReview`` for ``patch`` on each (the reconcile request is an annotation).
* Anything the caller adds (the CLI adds the ``--notes`` path being writable).

A port that cannot check (a library user's own adapter without ``check_access``) is skipped and named in the
result, never counted as passed in silence.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from gitrollback.errors import GitRollbackError, PreflightFailedError
from gitrollback.models import AccessNeeds, AccessProblem, AccessRequirement, Manifest
from gitrollback.ports import AccessCheck
from gitrollback.runbook.token_budget import wait_budget
from gitrollback.scope import qualified_kind
from gitrollback.settings import ProviderSettings

__all__ = [
    "PreflightResult",
    "checked_ports",
    "kube_needs",
    "lock_needs",
    "needs_for",
    "run_budget",
    "run_preflight",
]

logger = logging.getLogger(__name__)

_TEKTON = "tekton.dev/v1"
_MARGIN = 300.0  # seconds on top of the configured waits: the steps that do not wait


def run_budget(settings: ProviderSettings, mode: str) -> float:
    """The longest a run may take: the waits its steps are allowed (``token_budget.wait_budget``), plus a margin
    for the steps that do not wait, in seconds."""
    return wait_budget(settings, mode) + _MARGIN


def lock_needs(namespace: str) -> tuple[AccessRequirement, ...]:
    """What the run lock does with its Lease in ``namespace``."""
    lease = "coordination.k8s.io/v1"
    return tuple(AccessRequirement(verb, lease, "Lease", namespace) for verb in ("get", "create", "update"))


def kube_needs(
    mode: str,
    namespace: str,
    manifests: Sequence[Manifest],
    *,
    lease: bool = True,
    added: Sequence[Manifest] = (),
    prune: bool = False,
    kinds: Collection[str] | None = None,
) -> tuple[AccessRequirement, ...]:
    """The Kubernetes permissions a run of ``mode`` needs for these manifests in ``namespace``.

    Installer mode: ``get`` of the namespace, ``patch``, ``create`` (an apply that creates an object is also
    authorized as ``create``) and ``list`` of each known-good kind, ``list`` of each kind in ``added`` (the bad
    revision's additions) and, with ``prune``, ``delete`` of them. Objects the scope check will refuse are not asked
    about: another namespace, or a kind outside ``kinds`` (qualified, ``Kind.group``; None allows every kind). A
    cluster-scoped kind is asked at the cluster scope (the adapter maps scope by discovery).
    """
    needs: list[AccessRequirement] = list(lock_needs(namespace)) if lease else []
    if mode != "gitops":
        # asked in the namespace itself: the API server reads GET /api/v1/namespaces/<ns> as a request in <ns>
        # (requestinfo.go), so a Role there can grant it
        needs.append(AccessRequirement("get", "v1", "Namespace", namespace))

        def asks(objects: Sequence[Manifest], verbs: tuple[str, ...]) -> list[AccessRequirement]:
            return [
                AccessRequirement(verb, m.api_version, m.kind, namespace)
                for m in objects
                if m.namespace in (None, "", namespace) and (kinds is None or qualified_kind(m.kind, m.group) in kinds)
                for verb in verbs
            ]

        needs += asks(manifests, ("patch", "create", "list"))
        needs += asks(added, ("list", "delete") if prune else ("list",))
    api_version = next((m.api_version for m in manifests if m.kind in ("Task", "Pipeline")), _TEKTON)
    needs += [AccessRequirement("list", api_version, kind, namespace) for kind in ("Task", "Pipeline")]
    return tuple(dict.fromkeys(needs))


def needs_for(
    settings: ProviderSettings,
    mode: str,
    *,
    namespace: str,
    manifests: Sequence[Manifest],
    cluster: bool = True,
    lease: bool = True,
    added: Sequence[Manifest] = (),
    prune: bool = False,
) -> AccessNeeds:
    """Everything a run of ``settings`` in ``mode`` will need, for ``run_preflight``; ``added`` and ``prune`` are
    installer mode's (the bad revision's additions, and whether the run prunes them)."""
    g, sync, c = settings.gitops, settings.sync, settings.cluster
    gitops = mode == "gitops" and g is not None
    kube = kube_needs(
        mode,
        namespace,
        manifests,
        lease=lease,
        added=added,
        prune=prune,
        kinds={*c.kinds, *c.cluster_scoped_kinds},
    )
    return AccessNeeds(
        provider_id=settings.id,
        kube=kube if cluster else (),
        push=gitops,
        change_request=gitops and g is not None and g.scm != "direct",
        merge=gitops and g is not None and g.scm != "direct" and g.auto_merge,
        app=sync.app if gitops and sync is not None and sync.engine != "none" else None,
        budget_seconds=run_budget(settings, mode),
    )


def checked_ports(
    *,
    mode: str,
    imagefactory: object,
    cluster: object | None,
    workspace: object | None = None,
    host: object | None = None,
    sync: object | None = None,
    checks: Sequence[object] = (),
) -> list[tuple[str, object]]:
    """The ports a run of ``mode`` talks to, named, plus the caller's extra checks, in the order they are asked."""
    named: list[tuple[str, object]] = [("imagefactory", imagefactory)]
    if cluster is not None:
        named.append(("kubernetes", cluster))
    if mode == "gitops":
        for name, port in (("git", workspace), ("host", host), ("argocd", sync)):
            if port is not None:
                named.append((str(getattr(port, "kind", name)), port))
    named += [(str(getattr(check, "service", type(check).__name__)), check) for check in checks]
    return named


@dataclass(frozen=True)
class PreflightResult:
    """Which services were checked and which could not be (no ``check_access``); problems raise instead."""

    checked: tuple[str, ...]
    unchecked: tuple[str, ...]

    def describe(self) -> str:
        """One line for the step record."""
        text = "credentials and permissions verified: " + (", ".join(self.checked) or "nothing to check")
        if self.unchecked:
            text += f"; not checkable (no check_access): {', '.join(self.unchecked)}"
        return text


def run_preflight(ports: Iterable[tuple[str, object]], needs: AccessNeeds) -> PreflightResult:
    """Ask every ``(name, port)`` that can check; raise ``PreflightFailedError`` naming every problem found.

    A port whose check cannot even reach its remote (transport failure, unexpected reply) counts as a problem too:
    the run would meet the same failure later, after its first change.
    """
    problems: list[AccessProblem] = []
    checked: list[str] = []
    unchecked: list[str] = []
    for name, port in ports:
        if not isinstance(port, AccessCheck):
            unchecked.append(name)
            continue
        checked.append(name)
        try:
            problems += port.check_access(needs)
        except GitRollbackError as exc:
            problems.append(AccessProblem(name, f"could not be checked: {exc}", exc.hint or ""))
    if problems:
        raise PreflightFailedError(problems)
    logger.info("pre-flight: %s", ", ".join(checked))
    return PreflightResult(tuple(checked), tuple(unchecked))
