"""Will the Image Factory token outlive the run? A static token's expiry against the run's wait budget.

Image Factory's access tokens live 15 minutes (imagefactoryoss/imagefactory ``backend/internal/domain/user/
service.go``, ``DefaultAccessTokenTTL``), and a rollback can wait longer than that: for the validate job, the merge,
the sync and the smoke build. With email and password the client logs in again by itself; a static token cannot be
renewed, so the run reads its expiry at the start (``ImageFactory.token_expiry``) and compares it with the sum of
the waits the config allows. Too short a token gives a warning in the ``assess`` detail, or a refusal with
``strict`` (``--strict``), before anything changes.
"""

from __future__ import annotations

from gitrollback.errors import PreconditionFailedError
from gitrollback.runbook.context import StepContext
from gitrollback.settings import ProviderSettings

__all__ = ["check_token_budget", "wait_budget"]


def wait_budget(settings: ProviderSettings, mode: str) -> float:
    """Seconds the run may spend waiting, at most: the configured timeouts of every wait it will do."""
    total = 0.0
    if mode == "gitops":
        gitops, sync = settings.gitops, settings.sync
        if gitops is not None and gitops.scm != "direct" and not gitops.auto_merge and gitops.wait_for_merge:
            total += gitops.merge_timeout
        if sync is not None and sync.engine != "none":
            total += sync.timeout
    elif settings.verify.installer_validate:
        total += settings.verify.job_timeout
    if settings.smoke_build is not None:
        total += settings.smoke_build.timeout
    return total


def check_token_budget(ctx: StepContext, step: str, *, mode: str | None = None) -> str:
    """A warning when the static token expires before the run's waits could end ("" when it does not).

    Raises:
        PreconditionFailedError: (``kind="token_expires_too_soon"``) the same finding under ``strict``.
    """
    expiry = ctx.ports.imagefactory.token_expiry()
    if expiry is None:
        return ""
    left = (expiry - ctx.ports.clock.now()).total_seconds()
    budget = wait_budget(ctx.settings, mode or ctx.mode)
    if left >= budget:
        return ""
    stamp = expiry.strftime("%H:%M:%SZ")
    finding = (
        f"the Image Factory token expires at {stamp} ({max(left, 0) / 60:.0f} min from now), "
        f"before the run's waits could end ({budget / 60:.0f} min)"
    )
    hint = (
        "issue a fresh token just before the run, lower the timeouts, or configure imagefactory.auth with email "
        "and a password so gitrollback logs in again by itself (tokens live 15 minutes)"
    )
    if ctx.options.strict:
        raise PreconditionFailedError(finding, step=step, hint=hint, kind="token_expires_too_soon")
    return f"warning: {finding}"
