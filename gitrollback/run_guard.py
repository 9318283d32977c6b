"""Holding a provider's cross-machine run lock around one run (``Rollback.run`` calls ``provider_lock``).

Which lock a run takes (``docs/safety.md``):

* a cluster adapter that serves Leases (``gitrollback.ports.LeaseStore``, the lightkube adapter): the Lease
  ``gitrollback-<provider id>`` in the provider's target namespace (``run_lock.LeaseLock``), renewed through the
  run's ``LeaseClock`` and released at the end or on Ctrl-C;
* a gitops provider without cluster access: its rollback branch on the GitOps remote
  (``branch_lock.BranchLockedWorkspace``, which wraps the workspace port for the run);
* otherwise (a library user's own adapters that can do neither): no cross-machine lock, said in a warning.

A lock that cannot be taken because a credential is refused (401/403, from Image Factory while resolving the
namespace or from the cluster) is the pre-flight check's business, reached early: every port is asked, and one
``PreflightFailedError`` names every problem found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from gitrollback.branch_lock import BranchLockedWorkspace
from gitrollback.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    PreflightFailedError,
)
from gitrollback.models import AccessProblem, AccessRequirement
from gitrollback.namespaces import installer_namespace
from gitrollback.ports import BranchHolder, LeaseStore
from gitrollback.preflight import checked_ports, needs_for, run_budget, run_preflight
from gitrollback.run_lock import DEFAULT_LEASE_SECONDS, Holder, LeaseClock, LeaseLock
from gitrollback.runbook.context import Ports
from gitrollback.settings import ProviderSettings

__all__ = ["holder_for", "provider_lock"]

logger = logging.getLogger(__name__)


def holder_for(run_id: str) -> Holder:
    """This process as the holder of a run's lock."""
    return Holder(run_id=run_id, host=socket.gethostname(), pid=os.getpid())


def _named_ports(ports: Ports, mode: str, checks: Sequence[Any]) -> list[tuple[str, object]]:
    return checked_ports(
        mode=mode,
        imagefactory=ports.imagefactory,
        cluster=ports.cluster,
        workspace=ports.workspace,
        host=ports.host,
        sync=ports.sync,
        checks=checks,
    )


def _early_preflight(
    settings: ProviderSettings,
    ports: Ports,
    *,
    mode: str,
    namespace: str,
    failure: AccessProblem,
    checks: Sequence[Any],
) -> PreflightFailedError:
    """Every problem the pre-flight check finds now, plus the one that stopped the lock."""
    needs = needs_for(settings, mode, namespace=namespace, manifests=(), cluster=ports.cluster is not None)
    if not namespace and ports.cluster is not None:  # Image Factory did not say where: a cluster-wide read
        needs = dataclasses.replace(needs, kube=(AccessRequirement("get", "v1", "Namespace", None),))
    problems = [failure]
    try:
        run_preflight(_named_ports(ports, mode, checks), needs)
    except PreflightFailedError as found:
        problems += [p for p in found.problems if p.service != failure.service]
    return PreflightFailedError(problems)


@contextlib.contextmanager
def provider_lock(
    settings: ProviderSettings,
    ports: Ports,
    *,
    mode_of: Callable[[], str],
    run_id: str,
    clock: LeaseClock,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    checks: Sequence[Any] = (),
) -> Iterator[Ports]:
    """Hold the provider's run lock for the block; yields the ports the run must use.

    ``mode_of`` gives the provider's install mode (it may ask Image Factory, so it is called inside the guard).

    Raises:
        PreconditionFailedError: another live run holds the lock (``lock_held``), or the namespace the Lease lives
            in does not exist (``lock_namespace_missing``).
        PreflightFailedError: a credential was refused while taking the lock (every problem found is named).
    """
    holder = holder_for(run_id)
    mode: str = settings.mode or ("gitops" if settings.gitops is not None else "image_factory_installer")
    namespace = ""
    lock: LeaseLock | None = None
    try:
        mode = mode_of()
        if isinstance(ports.cluster, LeaseStore):
            provider = ports.imagefactory.get_provider(settings.id)
            namespace = installer_namespace(
                target_namespace=provider.target_namespace, config=provider.config, provider_tenant=provider.tenant_id
            )
            lock = LeaseLock(
                ports.cluster,
                namespace=namespace,
                provider_id=settings.id,
                holder=holder,
                clock=clock,
                duration=lease_seconds,
            )
            lock.acquire()
    except (AuthenticationError, PermissionDeniedError) as exc:
        service = "kubernetes" if namespace else "imagefactory"
        what = (
            f"cannot take the run lock (a Lease in namespace {namespace})" if namespace else "cannot read the provider"
        )
        failure = AccessProblem(service, f"{what}: {exc.message}", exc.hint or "")
        raise _early_preflight(settings, ports, mode=mode, namespace=namespace, failure=failure, checks=checks) from exc
    except NotFoundError as exc:
        if not namespace:
            raise
        raise PreconditionFailedError(
            f"namespace {namespace} does not exist in provider {settings.label}'s cluster, so the run lock (a "
            f"Lease there) cannot be taken, and nothing was installed there to roll back: {exc.message}",
            step="lock",
            hint=f"check cluster.kubeconfig/context point at the provider's cluster; create {namespace} if it "
            "was deleted",
            kind="lock_namespace_missing",
        ) from exc
    if lock is not None:
        clock.attach(lock)
        try:
            yield ports
        finally:
            clock.detach()
            lock.release()
        return
    workspace = ports.workspace
    if mode == "gitops" and isinstance(workspace, BranchHolder) and ports.host is not None and workspace is not None:
        since = clock.now()
        wrapped = BranchLockedWorkspace(
            workspace,
            provider_id=settings.id,
            holder=holder,
            since=since,
            until=since + timedelta(seconds=run_budget(settings, mode)),
            clock=clock,
        )
        yield dataclasses.replace(ports, workspace=wrapped)
        return
    logger.warning(
        "provider %s: no cross-machine run lock (the cluster adapter serves no Leases and there is no rollback "
        "branch to hold); only the local lock applies",
        settings.label,
    )
    yield ports
