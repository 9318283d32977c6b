"""The pre-flight step: read-only, after ``render`` and before the first change (``docs/safety.md``).

It needs the plan (the kinds ``render`` found in both revisions, the namespace ``assess`` resolved, whether the run
prunes) and hands the logic to ``gitrollback.preflight``; each port checks its own credentials. ``plan`` runs it for
real, so a plan shows a wrong token as the run would. In installer mode it comes before ``dry-run``, whose
server-side dry run needs the same ``patch`` and ``list`` rights: a missing one is named here with every other
problem, not met there as one 403.
"""

from __future__ import annotations

from gitrollback.models import PlanStep
from gitrollback.ports import LeaseStore
from gitrollback.preflight import checked_ports, needs_for, run_preflight
from gitrollback.runbook.context import StepContext
from gitrollback.runbook.results import PreflightPassed, Rendered

__all__ = ["PreflightStep"]


class PreflightStep:
    """Verify every credential and permission the run will need; stop naming every problem found."""

    name = "preflight"
    reads_only = True

    @staticmethod
    def _ports(ctx: StepContext) -> list[tuple[str, object]]:
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

    def plan(self, ctx: StepContext) -> PlanStep:
        return PlanStep(
            self.name,
            "verify every credential and permission the run needs (read-only; stops naming every problem)",
            tuple(name for name, _ in self._ports(ctx)),
        )

    def run(self, ctx: StepContext) -> PreflightPassed:
        rendered = ctx.state.get(Rendered)
        needs = needs_for(
            ctx.settings,
            ctx.mode,
            namespace=ctx.assessed.namespace,
            manifests=list(rendered.manifests) if rendered is not None else [],
            cluster=ctx.ports.cluster is not None,
            lease=isinstance(ctx.ports.cluster, LeaseStore),
            added=list(rendered.added) if rendered is not None else [],
            prune=ctx.prune,
        )
        result = run_preflight(self._ports(ctx), needs)
        return PreflightPassed(result.describe())
