"""What a step is given: the settings, the ports, the caller's options and the results so far, all frozen.

A run's state is the sequence of the step results produced so far (``RunState``). A step reads earlier results by
type and returns its own; the engine appends it. Nothing here is mutable, so a step cannot change what another step
sees except by returning a result, and the same state can be rebuilt from the journal to resume a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gitrollback.errors import StepError
from gitrollback.ports import AssetSource, Clock, Cluster, ImageFactory, RollbackWorkspace, SourceHost, SyncEngine
from gitrollback.runbook.results import Assessed, StepResult
from gitrollback.settings import ProviderSettings

__all__ = ["Ports", "RunOptions", "RunState", "StepContext"]

R = TypeVar("R", bound=StepResult)


@dataclass(frozen=True)
class Ports:
    """The adapters a run talks to."""

    imagefactory: ImageFactory
    cluster: Cluster | None
    assets: AssetSource
    clock: Clock
    workspace: RollbackWorkspace | None = None
    host: SourceHost | None = None
    sync: SyncEngine | None = None


@dataclass(frozen=True)
class RunOptions:
    """What the caller asked for.

    Args:
        to: roll back to this revision instead of resolving the known-good one.
        force: roll back even when assess finds nothing wrong (a healthy provider, no failed job).
        live_readiness: call the live readiness check during assess (it persists its result and can flip the
            provider online/offline, so ``plan`` turns it off and reads the persisted value instead).
        run_id: names the run in idempotency keys, so a resumed run replays instead of duplicating.
        prune: delete the bad revision's own additions (installer mode); None: ``cluster.prune`` decides.
        access_checks: extra ``gitrollback.ports.AccessCheck`` objects the pre-flight step asks too (the CLI's
            ``--notes`` path check).
        strict: refuse (instead of warning) when a credential would expire before the run's waits could end.
        stop_after: end the run once this step has finished (``Rollback.propose`` stops after ``change-request``);
            the later steps are recorded as not run and a rerun without it resumes from the next one.
        shared_with: the ids of other providers whose GitOps repository, branch and path are this provider's
            (a fleet group, ``gitrollback.fleet``): gitrollback's rollback that the tracked branch already carries
            for any of them is this provider's too, so the run syncs and verifies it instead of refusing.
    """

    to: str | None = None
    force: bool = False
    live_readiness: bool = True
    run_id: str = ""
    prune: bool | None = None
    access_checks: tuple[Any, ...] = ()
    strict: bool = False
    stop_after: str | None = None
    shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunState:
    """The results produced so far, oldest first, each with the step that produced it."""

    results: tuple[tuple[str, StepResult], ...] = ()

    def get(self, kind: type[R], step: str | None = None) -> R | None:
        """The newest result of type ``kind`` (from ``step``, when given), or None."""
        for name, result in reversed(self.results):
            if isinstance(result, kind) and (step is None or name == step):
                return result
        return None

    def require(self, kind: type[R], step: str) -> R:
        """The newest result of type ``kind``; ``StepError`` naming ``step`` when an earlier step did not produce it."""
        result = self.get(kind)
        if result is None:
            raise StepError(f"{step} needs a {kind.__name__} result that no earlier step produced", step=step)
        return result

    def add(self, step: str, result: StepResult) -> RunState:
        """A new state with ``result`` appended."""
        return RunState((*self.results, (step, result)))


@dataclass(frozen=True)
class StepContext:
    """Everything one step is given.

    ``attempt`` counts how often this step failed in earlier attempts of the same run (0 the first time): keys a
    retry must not replay (the validate job's idempotency key) include it. ``checkpoint`` journals a result at
    once, before the step ends, so a resumed run finds it (a job or build id, written before waiting).
    """

    settings: ProviderSettings
    ports: Ports
    options: RunOptions
    state: RunState
    attempt: int = 0
    checkpoint: Callable[[StepResult], None] = lambda result: None

    @property
    def mode(self) -> str:
        """The install mode: the config's, else what assess found, else ``image_factory_installer``."""
        if self.settings.mode:
            return self.settings.mode
        assessed = self.state.get(Assessed)
        return assessed.mode if assessed is not None else "image_factory_installer"

    @property
    def prune(self) -> bool:
        """Whether the run prunes the bad revision's additions: ``--prune`` (``RunOptions.prune``) when given, else
        ``cluster.prune``."""
        return self.settings.cluster.prune if self.options.prune is None else self.options.prune

    @property
    def assessed(self) -> Assessed:
        """The assess result (every later step runs after it)."""
        return self.state.require(Assessed, "assess")
