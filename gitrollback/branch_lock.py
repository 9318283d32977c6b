"""The run lock of a gitops provider without cluster access: the rollback branch on the GitOps remote.

With no cluster to hold a Lease in, the first remote write of a gitops run is the push of its rollback branch
(``gitrollback/<provider>/<bad>-to-<good>``); everything before it only reads. So the branch is the lock: each
rollback commit carries its run's claim as trailers (``Gitrollback-Run``, ``Gitrollback-Holder: <host> pid <pid>``,
``Gitrollback-Since``, ``Gitrollback-Until``, the end of the run's wait budget), and ``BranchLockedWorkspace``
checks the remote before and after the push:

* **before**: a branch under ``gitrollback/<provider>/`` that is not merged into the tracked branch and whose claim
  is another run's, still live, refuses the run (``lock_held``, exit 3), naming the holder and since when. A claim
  is over once ``Gitrollback-Until`` has passed (that run has given up by then), or when its process is gone from
  this very host.
* **the push itself** creates the branch only if it is still absent (git's ``--force-with-lease=<ref>:``), so of two
  runs pushing at once exactly one creates it; the other's push is rejected and, refetching, finds the winner's
  commit;
* **after**: the branch's tip must carry this run's claim (or a claim that is over); finding another live run's
  commit there refuses the run before it opens, merges or syncs anything.

A rerun that resumes the same run id, or a rerun on the same host after the holder died, continues with the
branch. Two runs that want *different* rollback branches for one provider are told apart by the "before" check
only, which is not atomic: such runs must start within the same moment to both proceed (``docs/safety.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from gitrollback.errors import PreconditionFailedError
from gitrollback.models import AccessNeeds, AccessProblem, RollbackCommit
from gitrollback.ports import AccessCheck, BranchHolder, Clock, RollbackWorkspace
from gitrollback.run_lock import Holder, pid_alive

__all__ = ["BranchClaim", "BranchLockedWorkspace", "claim_trailers", "parse_claim"]

RUN, HOLDER, SINCE, UNTIL = "Gitrollback-Run", "Gitrollback-Holder", "Gitrollback-Since", "Gitrollback-Until"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def claim_trailers(holder: Holder, since: datetime, until: datetime) -> dict[str, str]:
    """The trailers a rollback commit carries to claim its branch for ``holder``."""
    return {RUN: holder.run_id, HOLDER: f"{holder.host} pid {holder.pid}", SINCE: _iso(since), UNTIL: _iso(until)}


@dataclass(frozen=True)
class BranchClaim:
    """A run's claim on a rollback branch, read back from its tip's trailers."""

    holder: Holder
    since: datetime | None
    until: datetime | None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_claim(trailers: Mapping[str, str]) -> BranchClaim | None:
    """The claim in a commit's trailers, or None when it has none (not made by a claiming run)."""
    run = trailers.get(RUN)
    if not run:
        return None
    host, _, pid = (trailers.get(HOLDER) or "").rpartition(" pid ")
    try:
        pid_number = int(pid)
    except ValueError:
        host, pid_number = trailers.get(HOLDER) or "", 0
    return BranchClaim(Holder(run, host, pid_number), _time(trailers.get(SINCE)), _time(trailers.get(UNTIL)))


class BranchLockedWorkspace:
    """A ``RollbackWorkspace`` whose rollback branch is the provider's run lock (see the module docstring).

    Args:
        inner: the workspace (it must also be a ``BranchHolder``).
        provider_id: whose lock it is.
        holder: this run.
        since: when this run started.
        until: the end of this run's wait budget (written into its claim).
        clock: the run's clock.
        is_alive: tells whether a pid on this host still exists.
    """

    def __init__(
        self,
        inner: RollbackWorkspace,
        *,
        provider_id: str,
        holder: Holder,
        since: datetime,
        until: datetime,
        clock: Clock,
        is_alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        if not isinstance(inner, BranchHolder):
            raise TypeError("the workspace cannot read remote branches (gitrollback.ports.BranchHolder)")
        self.inner = inner
        self._branches: BranchHolder = inner
        self.provider_id = provider_id
        self.holder = holder
        self.trailers = claim_trailers(holder, since, until)
        self.clock = clock
        self._is_alive = is_alive

    # -- the lock ---------------------------------------------------------------------------------------

    def _live_other(self, claim: BranchClaim | None) -> bool:
        if claim is None or claim.holder.run_id == self.holder.run_id:
            return False
        if claim.until is not None and claim.until <= self.clock.now():
            return False
        same_host = claim.holder.host == self.holder.host
        return not (same_host and claim.holder.pid and not self._is_alive(claim.holder.pid))

    def _refusal(self, branch: str, claim: BranchClaim) -> PreconditionFailedError:
        since = f"{claim.since:%Y-%m-%d %H:%M:%SZ}" if claim.since else "an unknown time"
        until = f"{claim.until:%Y-%m-%d %H:%M:%SZ}" if claim.until else "its end"
        return PreconditionFailedError(
            f"another gitrollback run holds provider {self.provider_id}: {claim.holder.describe()}, since {since} "
            f"(rollback branch {branch}, held until {until})",
            step="push",
            hint=f"wait for that run to finish; if it died, its claim lapses at {until}, or delete the branch "
            f"{branch} on the remote to release it now",
            kind="lock_held",
        )

    def check(self, *, exclude: str | None = None) -> None:
        """Refuse when another live run holds any unmerged rollback branch of this provider (``lock_held``)."""
        claims = self._branches.branch_trailers(f"gitrollback/{self.provider_id}/")
        for branch, trailers in sorted(claims.items()):
            if branch == exclude:
                continue
            claim = parse_claim(trailers)
            if claim is not None and self._live_other(claim):
                raise self._refusal(branch, claim)

    # -- RollbackWorkspace ------------------------------------------------------------------------------

    def prepare(
        self,
        *,
        provider_id: str,
        bad: str,
        good: str,
        paths: Sequence[str],
        strategy: Literal["restore", "revert"] = "restore",
        failed_job: str | None = None,
        context: str = "",
        trailers: Mapping[str, str] = {},
        base: str | None = None,
    ) -> RollbackCommit:
        """The inner ``prepare``, with this run's claim among the commit's trailers."""
        return self.inner.prepare(
            provider_id=provider_id,
            bad=bad,
            good=good,
            paths=paths,
            strategy=strategy,
            failed_job=failed_job,
            context=context,
            trailers={**trailers, **self.trailers},
            base=base,
        )

    def push(self, commit: RollbackCommit, *, direct: bool = False) -> RollbackCommit:
        """Check the lock, push (creating the branch only if still absent), then check that the branch is ours."""
        if direct or commit.already_rolled_back:
            return self.inner.push(commit, direct=direct)
        self.check()
        pushed = self.inner.push(commit, direct=direct)
        tip = self._branches.branch_trailers(pushed.branch).get(pushed.branch)
        claim = parse_claim(tip or {})
        if claim is not None and self._live_other(claim):
            raise self._refusal(pushed.branch, claim)
        return pushed

    def record_marker(self, revision: str, *, provider_id: str, at: datetime, evidence: Mapping[str, Any]) -> str:
        """The inner ``record_marker``."""
        return self.inner.record_marker(revision, provider_id=provider_id, at=at, evidence=evidence)

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """The inner workspace's pre-flight check, if it has one."""
        return self.inner.check_access(needs) if isinstance(self.inner, AccessCheck) else []
