"""The pre-flight step: read-only, after ``render`` and before the first change (``docs/safety.md``).

It needs the plan (the kinds ``render`` found, the namespace ``assess`` resolved) and hands the logic to
``gitrollback.preflight``; each port checks its own credentials. ``plan`` runs it for real, so a plan shows a wrong
token as the run would.
"""

from __future__ import annotations

from gitrollback.models import PlanStep
from gitrollback.ports import LeaseStore
from gitrollback.preflight import checked_ports, needs_for, run_preflight
from gitrollback.runbook.context import RunContext

__all__ = ["PreflightStep"]


class PreflightStep:
    """Verify every credential and permission the run will need; stop naming every problem found."""

    name = "preflight"
    reads_only = True
    deadline = 0.0

    @staticmethod
    def _ports(ctx: RunContext) -> list[tuple[str, object]]:
        p = ctx.ports
        return checked_ports(
            mode=ctx.mode,
            imagefactory=p.imagefactory,
            cluster=p.cluster,
            workspace=p.workspace,
            host=p.host,
            sync=p.sync,
            checks=ctx.options.access_checks,
        )

    def plan(self, ctx: RunContext) -> PlanStep:
        return PlanStep(
            self.name,
            "verify every credential and permission the run needs (read-only; stops naming every problem)",
            tuple(name for name, _ in self._ports(ctx)),
        )

    def run(self, ctx: RunContext) -> str:
        needs = needs_for(
            ctx.settings,
            ctx.mode,
            namespace=ctx.namespace,
            manifests=ctx.manifests,
            cluster=ctx.ports.cluster is not None,
            lease=isinstance(ctx.ports.cluster, LeaseStore),
        )
        result = run_preflight(self._ports(ctx), needs)
        return result.describe()
