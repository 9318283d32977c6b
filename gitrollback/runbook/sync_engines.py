"""How the runbook names a GitOps controller in plans, details and change-request bodies. Pure.

The runbook talks to every controller through the ``SyncEngine`` port; only the words differ: an Argo CD
application, a Flux Kustomization (with its GitRepository), or a plugin's ``sync.engine`` name.
"""

from __future__ import annotations

from gitrollback.settings import SyncSettings

__all__ = ["controller_label", "renders_with"]


def controller_label(sync: SyncSettings) -> str:
    """``Argo CD application tekton``, ``Flux Kustomization flux-system/tekton``, ``<engine> tekton``."""
    if sync.engine == "argocd":
        return f"Argo CD application {sync.app}"
    if sync.engine == "flux":
        app = sync.app if "/" in sync.app else f"{sync.namespace}/{sync.app}"
        return f"Flux Kustomization {app}"
    return f"{sync.engine} {sync.app}".strip()


def renders_with(sync: SyncSettings | None) -> str:
    """Who turns the asset path into objects in gitops mode, for the plan."""
    if sync is None or sync.engine == "none":
        return "your GitOps controller renders it"
    if sync.engine in ("argocd", "flux"):
        return f"the {controller_label(sync)} renders it with kustomize"
    return f"the {controller_label(sync)} renders it"
