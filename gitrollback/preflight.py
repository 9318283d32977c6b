"""The pre-flight check: every credential and permission a run needs, verified before its first change.

A rollback that finds a wrong Argo CD token only after its pull request was merged leaves the GitOps repository
changed and the cluster unsynced. So before any write (commit, push, apply, job) the run asks each remote, read-only,
whether its credentials allow what the plan will do, collects every problem (not just the first) and stops with one
``PreflightFailedError`` (kind ``preflight_failed``, CLI exit 2) naming them all.

What is asked, and of whom (each port contributes its own check through ``gitrollback.ports.AccessCheck``):

* Image Factory: an authenticated read of the provider; and, when the client can tell when its token expires
  (``gitrollback.ports.TokenExpiry``), that the token outlives the run's wait budget (``run_budget``).
* Kubernetes: one ``SelfSubjectAccessReview`` per verb and kind the plan needs (``kube_needs``): ``patch`` and ``get``
  of every kind it applies, ``get`` of the namespace, ``list`` of Tasks and Pipelines, and the run lock's Lease.
* The git host: push rights on the repository, and the right to open (and with ``auto_merge`` merge) the change
  request (GitHub's ``permissions`` of the repository, GitLab's access level on the project); the git remote itself
  answers a dry-run push.
* Argo CD: ``GET`` the application.
* Anything the caller adds (the CLI adds the ``--notes`` path being writable).

A port that cannot check (a library user's own adapter without ``check_access``) is skipped and named in the
result, never counted as passed in silence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from gitrollback.errors import GitRollbackError, PreflightFailedError
from gitrollback.models import AccessNeeds, AccessProblem, AccessRequirement, Manifest
from gitrollback.ports import AccessCheck, Clock, ImageFactory, TokenExpiry
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
    """The longest a run may take: the sum of the waits its steps are allowed, plus a margin, in seconds."""
    budget = _MARGIN
    if mode == "gitops":
        g, sync = settings.gitops, settings.sync
        if g is not None and g.scm != "direct" and (g.wait_for_merge or g.auto_merge):
            budget += g.merge_timeout
        if sync is not None and sync.engine != "none":
            budget += sync.timeout
    elif settings.verify.installer_validate:
        budget += settings.verify.job_timeout
    if settings.smoke_build is not None:
        budget += settings.smoke_build.timeout
    return budget


def lock_needs(namespace: str) -> tuple[AccessRequirement, ...]:
    """What the run lock does with its Lease in ``namespace``."""
    lease = "coordination.k8s.io/v1"
    return tuple(AccessRequirement(verb, lease, "Lease", namespace) for verb in ("get", "create", "update"))


def kube_needs(
    mode: str, namespace: str, manifests: Sequence[Manifest], *, lease: bool = True
) -> tuple[AccessRequirement, ...]:
    """The Kubernetes permissions a run of ``mode`` needs for these manifests in ``namespace``."""
    needs: list[AccessRequirement] = list(lock_needs(namespace)) if lease else []
    if mode != "gitops":
        needs.append(AccessRequirement("get", "v1", "Namespace", None))
        seen: set[tuple[str, str, str | None]] = set()
        for m in manifests:
            key = (m.api_version, m.kind, m.namespace or namespace)
            if key in seen:
                continue
            seen.add(key)
            needs += [
                AccessRequirement(verb, m.api_version, m.kind, m.namespace or namespace) for verb in ("get", "patch")
            ]
    api_version = next((m.api_version for m in manifests if m.kind in ("Task", "Pipeline")), _TEKTON)
    needs += [AccessRequirement("list", api_version, kind, namespace) for kind in ("Task", "Pipeline")]
    return tuple(needs)


def needs_for(
    settings: ProviderSettings,
    mode: str,
    *,
    namespace: str,
    manifests: Sequence[Manifest],
    cluster: bool = True,
    lease: bool = True,
) -> AccessNeeds:
    """Everything a run of ``settings`` in ``mode`` will need, for ``run_preflight``."""
    g, sync = settings.gitops, settings.sync
    gitops = mode == "gitops" and g is not None
    return AccessNeeds(
        provider_id=settings.id,
        kube=kube_needs(mode, namespace, manifests, lease=lease) if cluster else (),
        push=gitops,
        change_request=gitops and g is not None and g.scm != "direct",
        merge=gitops and g is not None and g.scm != "direct" and g.auto_merge,
        app=sync.app if gitops and sync is not None and sync.engine == "argocd" else None,
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


def _token_expiry(imagefactory: ImageFactory, needs: AccessNeeds, clock: Clock) -> list[AccessProblem]:
    if not isinstance(imagefactory, TokenExpiry):
        return []
    expires = imagefactory.token_expires_at()
    if expires is None:
        return []
    ends = clock.now() + timedelta(seconds=needs.budget_seconds)
    if expires >= ends:
        return []
    return [
        AccessProblem(
            "imagefactory",
            f"the access token expires at {expires:%Y-%m-%d %H:%M:%SZ}, before the run's wait budget "
            f"({needs.budget_seconds:.0f} s) could end at {ends:%Y-%m-%d %H:%M:%SZ}",
            "use a fresh token, or imagefactory.email/password_env so the client logs in again when it expires",
        )
    ]


def run_preflight(
    ports: Iterable[tuple[str, object]], needs: AccessNeeds, *, imagefactory: ImageFactory, clock: Clock
) -> PreflightResult:
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
    try:
        problems += _token_expiry(imagefactory, needs, clock)
    except GitRollbackError as exc:
        problems.append(AccessProblem("imagefactory", f"token expiry could not be read: {exc}", exc.hint or ""))
    if problems:
        raise PreflightFailedError(problems)
    logger.info("pre-flight: %s", ", ".join(checked))
    return PreflightResult(tuple(checked), tuple(unchecked))
