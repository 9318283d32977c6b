"""The pre-flight step: read-only, after ``render`` and before the first change (``docs/safety.md``).

It needs the plan (the kinds ``render`` found, the namespace ``assess`` resolved) and hands the logic to
``gitrollback.preflight``; each port checks its own credentials. ``plan`` runs it for real, so a plan shows a wrong
token as the run would.
"""

from __future__ import annotations

from gitrollback.models import PlanStep
from gitrollback.ports import LeaseStore
from gitrollback.preflight import needs_for, run_preflight
from gitrollback.runbook.context import RunContext

__all__ = ["PreflightStep"]


class PreflightStep:
    """Verify every credential and permission the run will need; stop naming every problem found."""

    name = "preflight"
    reads_only = True
    deadline = 0.0

    def _ports(self, ctx: RunContext) -> list[tuple[str, object]]:
        p = ctx.ports
        named: list[tuple[str, object]] = [("imagefactory", p.imagefactory)]
        if p.cluster is not None:
            named.append(("kubernetes", p.cluster))
        if ctx.mode == "gitops":
            named += [(f"git ({ctx.settings.assets.repo})", p.workspace)] if p.workspace is not None else []
            named += [(p.host.kind, p.host)] if p.host is not None else []
            named += [("argocd", p.sync)] if p.sync is not None else []
        named += [(str(getattr(check, "service", type(check).__name__)), check) for check in ctx.options.access_checks]
        return named

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
        result = run_preflight(self._ports(ctx), needs, imagefactory=ctx.ports.imagefactory, clock=ctx.ports.clock)
        return result.describe()
