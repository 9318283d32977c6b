"""``sync.engine: flux-rest``: a Flux Kustomization reconciled with merge patches over urllib.

A plugin sync engine gets the provider's ``sync`` settings (``app`` = ``namespace/name`` of the Kustomization,
``timeout``, ``poll_interval``, ``options``) and keyword arguments ``token``, ``clock``, ``on_wait`` and
``kubeconfig`` (the provider's, already read: a dict). It implements the four ``SyncEngine`` methods.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

from gitrollback.errors import AdapterError, ConfigError, WaitTimeoutError
from gitrollback.models import DeployedObject, SyncStatus
from gitrollback.ports import Clock, SyncEngine
from gitrollback.settings import SyncSettings
from gitrollback_example_plugins._http import call

_ANNOTATION = "reconcile.fluxcd.io/requestedAt"


def _hash(revision: str) -> str:
    return re.split(r"[:/]", revision)[-1] if revision else ""


class FluxRestEngine:
    """Annotate the Kustomization's GitRepository, then the Kustomization; wait for the applied revision."""

    def __init__(self, server: str, token: str, *, clock: Clock, poll: float, on_wait: Callable[..., None] | None):
        self._server = server.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._clock = clock
        self._poll = poll
        self._on_wait = on_wait

    def _path(self, group: str, plural: str, app: str) -> str:
        namespace, _, name = app.partition("/")
        return f"{self._server}/apis/{group}/v1/namespaces/{namespace}/{plural}/{name}"

    def _get(self, app: str) -> dict[str, Any]:
        data: dict[str, Any] = call(
            "GET", self._path("kustomize.toolkit.fluxcd.io", "kustomizations", app), headers=self._headers
        )
        return data

    def _annotate(self, url: str) -> None:
        stamp = self._clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = {"metadata": {"annotations": {_ANNOTATION: stamp}}}
        call("PATCH", url, headers=self._headers, body=patch, content_type="application/merge-patch+json")

    def status(self, app: str) -> SyncStatus:
        obj = self._get(app)
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})
        current = status.get("observedGeneration") == obj["metadata"].get("generation")
        ok = ready.get("status") == "True" and current
        return SyncStatus(
            app=app,
            sync_status="Synced" if ok else "OutOfSync",
            health="Healthy" if ok else "Progressing",
            revision=_hash(str(status.get("lastAppliedRevision") or "")),
            operation_message=str(ready.get("message") or ""),
            engine="flux-rest",
        )

    def sync(self, app: str, *, revision: str, prune: bool = False) -> SyncStatus:
        obj = self._get(app)
        ref = obj["spec"]["sourceRef"]
        source = f"{ref.get('namespace') or obj['metadata']['namespace']}/{ref['name']}"
        self._annotate(self._path("source.toolkit.fluxcd.io", "gitrepositories", source))
        self._annotate(self._path("kustomize.toolkit.fluxcd.io", "kustomizations", app))
        return self.status(app)

    def wait_for_revision(self, app: str, revision: str, *, timeout: float) -> SyncStatus:
        start = self._clock.monotonic()
        while True:
            status = self.status(app)
            obj = self._get(app)
            if any(
                c.get("type") == "Stalled" and c.get("status") == "True" for c in obj["status"].get("conditions", [])
            ):
                raise AdapterError(
                    f"{app} is Stalled: {status.operation_message}", adapter="flux-rest", operation="wait"
                )
            if status.revision == revision and status.health == "Healthy":
                return status
            waited = self._clock.monotonic() - start
            if self._on_wait is not None:
                self._on_wait(f"flux-rest {app}", waited, status.operation_message)
            if waited >= timeout:
                raise WaitTimeoutError(
                    f"{app} did not apply {revision[:12]}", waited=waited, last_state=status.operation_message
                )
            self._clock.sleep(self._poll)

    def deployed(self, app: str) -> list[DeployedObject]:
        out = []
        for entry in (self._get(app).get("status") or {}).get("inventory", {}).get("entries", []):
            namespace, name, group, kind = entry["id"].split("_", 3)
            version = entry["v"]
            out.append(DeployedObject(f"{group}/{version}" if group else version, kind, name, namespace or None))
        return out


def factory(
    settings: SyncSettings,
    *,
    token: str | None,
    clock: Clock | None = None,
    on_wait: Callable[..., None] | None = None,
    kubeconfig: Mapping[str, Any] | None = None,
    **_: Any,
) -> SyncEngine:
    """Build the engine: the API server and token come from the kubeconfig's current context."""
    from gitrollback.clock import SystemClock

    if kubeconfig is None or "/" not in settings.app:
        raise ConfigError("flux-rest needs a kubeconfig and sync.app as namespace/name", key="sync")
    contexts = {c["name"]: c["context"] for c in kubeconfig["contexts"]}
    context = contexts[kubeconfig["current-context"]]
    server = next(c["cluster"]["server"] for c in kubeconfig["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in kubeconfig["users"] if u["name"] == context["user"])
    return FluxRestEngine(
        server,
        token or str(user.get("token") or ""),
        clock=clock or SystemClock(),
        poll=settings.poll_interval,
        on_wait=on_wait,
    )
