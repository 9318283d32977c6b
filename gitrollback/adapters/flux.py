"""Flux through lightkube: the ``gitrollback.ports.SyncEngine`` and ``DeploymentHistory`` adapter.

``FluxEngine`` does at the API level what ``flux reconcile kustomization NAME --with-source`` does (fluxcd/flux2
``cmd/flux/reconcile.go``): it reads the Kustomization and its GitRepository, refuses a suspended one (a suspended
object "handles" a request without applying anything), merge-patches ``reconcile.fluxcd.io/requestedAt`` on the
GitRepository (a merge patch: custom resources refuse strategic merge patches with 415), waits until that request
is handled and the artifact carries the rollback commit, then does the same on the Kustomization until it applied
exactly that commit and is Ready for its current generation. Unlike the CLI, it compares revisions; the verdicts
live in ``_flux_wire``. Optionally it then waits for the Kustomizations that depend on this one (``dependsOn``).
Flux's inventory (``status.inventory``) is what ``deployed`` reports, and ``status.history`` is the deployment
history the known-good resolver may use.

lightkube is imported by this module and by ``kube.py`` only (``docs/architecture.md``). The typed client runs on
``kube.py``'s transport (``lightkube_client``), so every request ends within ``sync.request_timeout_seconds``, connect
to last byte, however slowly the API server answers; API errors are translated into ``gitrollback.errors`` by the
same boundary ``kube.py`` uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal

from lightkube import ALL_NS, Client, KubeConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.types import PatchType

from gitrollback.adapters import _flux_wire as wire
from gitrollback.adapters._kube_access import review_body, review_verdict
from gitrollback.adapters.kube import lightkube_client, translate_errors
from gitrollback.clock import SystemClock
from gitrollback.errors import (
    AdapterError,
    AuthenticationError,
    ConfigError,
    PreconditionFailedError,
    RemoteHTTPError,
    UnsupportedOperationError,
    WaitTimeoutError,
)
from gitrollback.models import AccessNeeds, AccessProblem, DeployedObject, DeploymentRecord, SyncStatus
from gitrollback.ports import Clock

__all__ = ["FluxEngine"]

logger = logging.getLogger(__name__)

_Kustomization = create_namespaced_resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations")
_GitRepository = create_namespaced_resource("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories")
_REVIEW = create_global_resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews")
_TOKEN_HINT = "check sync.token_env (else cluster.token_env) and the kubeconfig Flux is reached with"


class FluxEngine:
    """Reconcile a Flux Kustomization (with its GitRepository) to an exact commit and wait for it.

    The constructor does no I/O.

    Args:
        client: a configured ``lightkube.Client`` for the cluster Flux runs in.
        namespace: where the Kustomizations named by ``app`` live (``flux-system`` by default).
        clock: for polling and request timestamps; ``SystemClock`` by default.
        poll_interval: seconds between polls (the flux CLI's ``--poll-interval`` default is 2 s).
        on_suspended: ``"refuse"`` (default) raises ``PreconditionFailedError`` for a suspended GitRepository or
            Kustomization; ``"warn"`` logs it, reports it and waits for someone to resume it.
        wait_for_dependents: also reconcile and wait for the Kustomizations whose ``dependsOn`` names this one
            (transitively, in any namespace).
        on_wait: called as ``on_wait(what, elapsed_seconds, state)`` on every poll.

    Usage::

        flux = FluxEngine.from_kubeconfig(kubeconfig, namespace="flux-system")
        flux.sync("tekton-assets", revision=sha)
        status = flux.wait_for_revision("tekton-assets", sha, timeout=600)
    """

    #: how the pre-flight check names this port
    kind = "flux"

    def __init__(
        self,
        client: Client,
        *,
        namespace: str = "flux-system",
        clock: Clock | None = None,
        poll_interval: float = 2.0,
        on_suspended: Literal["refuse", "warn"] = "refuse",
        wait_for_dependents: bool = False,
        on_wait: Callable[[str, float, str], None] | None = None,
    ) -> None:
        if on_suspended not in ("refuse", "warn"):
            raise ConfigError(f"must be 'refuse' or 'warn', not {on_suspended!r}", key="sync.on_suspended")
        self._client = client
        self.namespace = namespace
        self._clock = clock or SystemClock()
        self._poll = poll_interval
        self._on_suspended = on_suspended
        self._dependents = wait_for_dependents
        self._on_wait = on_wait
        self._tokens: dict[tuple[str, str, str], str] = {}
        self._warnings: list[str] = []
        self._stamps = 0

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: Mapping[str, Any],
        *,
        context: str | None = None,
        token: str | None = None,
        request_timeout: float = 30.0,
        **options: Any,
    ) -> FluxEngine:
        """Build from a kubeconfig already read into a dict (the caller reads files, not this adapter).

        ``request_timeout`` bounds each API request, connect to last byte (``sync.request_timeout_seconds``).
        """
        try:
            config = KubeConfig.from_dict(dict(kubeconfig))
            single = config.get(context_name=context)
        except (LightkubeConfigError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"kubeconfig is unusable for Flux: {exc}", key="sync.kubeconfig") from exc
        if single is None:
            raise ConfigError("kubeconfig has no current-context and no context is set", key="sync.context")
        if token is not None and single.user is not None:
            single.user.token = token
        return cls(lightkube_client(single, timeout=request_timeout), **options)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _get(self, res: Any, name: str, namespace: str) -> dict[str, Any]:
        kind = "Kustomization" if res is _Kustomization else "GitRepository"
        with translate_errors("get", f"{kind} {namespace}/{name}"):
            obj = self._client.get(res, name, namespace=namespace)
        data: dict[str, Any] = obj.to_dict()
        return data

    def _request(self, res: Any, name: str, namespace: str) -> str:
        """Merge-patch ``reconcile.fluxcd.io/requestedAt`` with a fresh RFC 3339 timestamp; returns it."""
        self._stamps += 1
        now = self._clock.now()
        # RFC3339Nano as the flux CLI writes it; the last digits count requests, so two are never equal
        token = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{self._stamps % 1000:03d}Z"
        kind = "Kustomization" if res is _Kustomization else "GitRepository"
        patch = {"metadata": {"annotations": {wire.REQUESTED_AT: token}}}
        with translate_errors("annotate", f"{kind} {namespace}/{name}"):
            self._client.patch(res, name, patch, namespace=namespace, patch_type=PatchType.MERGE)
        self._tokens[(kind, namespace, name)] = token
        return token

    def _split(self, app: str) -> tuple[str, str]:
        namespace, _, name = app.rpartition("/")
        return namespace or self.namespace, name

    def _source_of(self, ks: Mapping[str, Any]) -> tuple[str, str]:
        ref = (ks.get("spec") or {}).get("sourceRef") or {}
        if ref.get("kind") != "GitRepository":
            raise UnsupportedOperationError(
                f"Kustomization {ks['metadata']['name']} reads a {ref.get('kind')}: gitrollback reconciles "
                "GitRepository sources only",
                adapter=wire.ADAPTER,
                operation="sync",
            )
        return str(ref.get("namespace") or ks["metadata"]["namespace"]), str(ref["name"])

    def _check_suspended(self, obj: Mapping[str, Any], kind: str) -> None:
        if not wire.suspended(obj):
            return
        label = f"{kind} {obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if self._on_suspended == "refuse":
            raise PreconditionFailedError(
                f"{label} is suspended: Flux would record the reconcile request without applying anything",
                step="sync",
                kind="flux_suspended",
                hint=f"resume it (flux resume {kind.lower()} {obj['metadata']['name']}) and rerun, or set "
                "sync.on_suspended: warn to wait for someone to resume it",
            )
        warning = f"{label} is suspended; gitrollback waits for it to be resumed"
        if warning not in self._warnings:
            self._warnings.append(warning)
            logger.warning("%s", warning)

    def _with_warnings(self, status: SyncStatus) -> SyncStatus:
        return replace(status, warnings=tuple(self._warnings)) if self._warnings else status

    # -- SyncEngine -----------------------------------------------------------------------------------------------

    def status(self, app: str) -> SyncStatus:
        """The Kustomization's state (``app`` is its name, or ``namespace/name``)."""
        namespace, name = self._split(app)
        return self._with_warnings(wire.sync_status(app, self._get(_Kustomization, name, namespace)))

    def sync(self, app: str, *, revision: str, prune: bool = False) -> SyncStatus:
        """Request a reconcile of the Kustomization's GitRepository (the Kustomization follows once it fetched).

        ``prune`` cannot be asked of Flux per reconcile: when the Kustomization does not prune (``spec.prune``),
        the returned status carries a warning that objects the bad release added stay.

        Raises:
            PreconditionFailedError: the GitRepository or the Kustomization is suspended (``on_suspended: refuse``).
            UnsupportedOperationError: the Kustomization's source is not a GitRepository.
        """
        namespace, name = self._split(app)
        ks = self._get(_Kustomization, name, namespace)
        self._check_suspended(ks, "Kustomization")
        source_ns, source_name = self._source_of(ks)
        source = self._get(_GitRepository, source_name, source_ns)
        self._check_suspended(source, "GitRepository")
        if prune and not (ks.get("spec") or {}).get("prune"):
            warning = f"Kustomization {namespace}/{name} has spec.prune false: objects the bad release added stay"
            if warning not in self._warnings:
                self._warnings.append(warning)
        self._request(_GitRepository, source_name, source_ns)
        logger.info("Flux: reconcile of GitRepository %s/%s requested for %s", source_ns, source_name, revision[:12])
        return self._with_warnings(wire.sync_status(app, ks))

    def wait_for_revision(self, app: str, revision: str, *, timeout: float) -> SyncStatus:
        """Wait until the GitRepository fetched ``revision`` and the Kustomization applied it, Ready.

        Then, with ``wait_for_dependents``, the same for every Kustomization that depends on this one.

        Raises:
            AdapterError: an object is Stalled (kind ``flux_stalled``), or a dependency it waits for is.
            PreconditionFailedError: an object became suspended (``on_suspended: refuse``).
            WaitTimeoutError: not there within ``timeout`` seconds; the message carries Flux's last Ready message.
        """
        start = self._clock.monotonic()
        deadline = start + timeout
        namespace, name = self._split(app)
        ks = self._get(_Kustomization, name, namespace)
        source_ns, source_name = self._source_of(ks)
        self._wait(_GitRepository, source_ns, source_name, revision, start=start, deadline=deadline, timeout=timeout)
        if not wire.kustomization_verdict(ks, revision, None).done:
            self._request(_Kustomization, name, namespace)
        done = self._wait(_Kustomization, namespace, name, revision, start=start, deadline=deadline, timeout=timeout)
        if self._dependents:
            for dep_ns, dep_name, same_source in self._find_dependents(namespace, name, (source_ns, source_name)):
                self._request(_Kustomization, dep_name, dep_ns)
                wanted = revision if same_source else None
                self._wait(_Kustomization, dep_ns, dep_name, wanted, start=start, deadline=deadline, timeout=timeout)
        return self._with_warnings(wire.sync_status(app, done))

    def _wait(
        self,
        res: Any,
        namespace: str,
        name: str,
        revision: str | None,
        *,
        start: float,
        deadline: float,
        timeout: float,
    ) -> dict[str, Any]:
        kind = "Kustomization" if res is _Kustomization else "GitRepository"
        label = f"{kind} {namespace}/{name}"
        what = f"Flux {label} at {wire.short(revision) if revision else 'its source revision'}"
        while True:
            obj = self._get(res, name, namespace)
            token = self._tokens.get((kind, namespace, name))
            attempted = str((obj.get("status") or {}).get("lastAttemptedRevision") or "")
            wanted = attempted if revision is None else revision
            judge = wire.source_verdict if res is _GitRepository else wire.kustomization_verdict
            verdict = judge(obj, wanted, token)
            state = verdict.state
            if verdict.failure is not None:
                raise AdapterError(
                    f"Flux {label}: {verdict.failure}",
                    adapter=wire.ADAPTER,
                    operation="wait_for_revision",
                    kind="flux_stalled",
                    hint=f"Flux will not retry it: fix the cause (kubectl describe {kind.lower()} {name} -n "
                    f"{namespace}), then rerun; the rollback commit is reused",
                )
            if wire.suspended(obj):
                self._check_suspended(obj, kind)
            dependency = wire.dependency_named(obj) if res is _Kustomization else None
            if dependency is not None:
                dep = self._get(_Kustomization, dependency[1], dependency[0])
                dep_verdict = wire.kustomization_verdict(
                    dep, str(dep.get("status", {}).get("lastAttemptedRevision") or ""), None
                )
                if dep_verdict.failure is not None:
                    raise AdapterError(
                        f"Flux {label} depends on Kustomization {dependency[0]}/{dependency[1]}, which failed: "
                        f"{dep_verdict.failure}",
                        adapter=wire.ADAPTER,
                        operation="wait_for_revision",
                        kind="flux_dependency_failed",
                        hint="fix the dependency first; Flux applies this Kustomization only once it is Ready",
                    )
                state += f"; dependency {dependency[0]}/{dependency[1]}: {dep_verdict.state}"
            now = self._clock.monotonic()
            if self._on_wait is not None:
                self._on_wait(what, now - start, state)
            if verdict.done:
                logger.info("Flux %s: %s", label, state)
                return obj
            ready = wire.condition(obj, "Ready") or {}
            if res is _GitRepository and token is not None and verdict.handled and ready.get("status") == "True":
                # the request was handled but the artifact is another commit (a push the source had not seen
                # yet): ask again rather than wait for the next interval
                self._request(res, name, namespace)
            if now >= deadline:
                raise WaitTimeoutError(
                    f"Flux {label} did not reach {wire.short(revision) if revision else 'Ready'} within "
                    f"{timeout:.0f}s (last: {state})",
                    waited=now - start,
                    last_state=state,
                    hint=f"look at the {kind} (kubectl describe {kind.lower()} {name} -n {namespace}); if Flux is only "
                    "slow, raise sync.timeout_seconds and rerun, which resumes the wait",
                )
            self._clock.sleep(min(self._poll, max(deadline - now, 0.0)))

    def _find_dependents(self, namespace: str, name: str, source: tuple[str, str]) -> list[tuple[str, str, bool]]:
        """Kustomizations whose ``dependsOn`` names ``namespace/name``, transitively, in dependency order."""
        with translate_errors("list", "Kustomizations"):
            listed = self._client.list(_Kustomization, namespace=ALL_NS)
            items: list[dict[str, Any]] = [obj.to_dict() for obj in listed]  # type: ignore[no-untyped-call]
        found: list[tuple[str, str, bool]] = []
        frontier = [(namespace, name)]
        seen = {(namespace, name)}
        while frontier:
            target = frontier.pop(0)
            for item in items:
                meta = item["metadata"]
                key = (meta["namespace"], meta["name"])
                if key in seen:
                    continue
                for dep in (item.get("spec") or {}).get("dependsOn") or ():
                    if (dep.get("namespace") or meta["namespace"], dep.get("name")) == target:
                        seen.add(key)
                        frontier.append(key)
                        ref = (item.get("spec") or {}).get("sourceRef") or {}
                        same = (ref.get("namespace") or meta["namespace"], ref.get("name")) == source
                        found.append((key[0], key[1], same and ref.get("kind") == "GitRepository"))
                        break
        return found

    # -- the pre-flight check ---------------------------------------------------------------------------------

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """Read the Kustomization and its GitRepository, and ask (``SelfSubjectAccessReview``) whether the token may
        patch both, without changing anything (``docs/safety.md``)."""
        if not needs.app:
            return []
        namespace, name = self._split(needs.app)
        try:
            ks = self._get(_Kustomization, name, namespace)
            source_ns, source_name = self._source_of(ks)
            self._get(_GitRepository, source_name, source_ns)
        except AuthenticationError as exc:
            return [AccessProblem("flux", f"the API server refuses the token (401): {exc.message}", _TOKEN_HINT)]
        except RemoteHTTPError as exc:
            hint = "check sync.kustomization and sync.namespace, and that the token may get Flux's objects"
            return [AccessProblem("flux", f"cannot read Flux's objects ({exc.status}): {exc.message}", hint)]
        except UnsupportedOperationError as exc:
            return [AccessProblem("flux", str(exc), "")]
        asks: list[tuple[str, str, str, str | None]] = [
            ("patch", "kustomize.toolkit.fluxcd.io", "kustomizations", namespace),
            ("patch", "source.toolkit.fluxcd.io", "gitrepositories", source_ns),
        ]
        if self._dependents:
            asks.append(("list", "kustomize.toolkit.fluxcd.io", "kustomizations", None))
        problems: list[AccessProblem] = []
        for verb, group, plural, where in asks:
            with translate_errors("review", f"{verb} {plural}"):
                answer = self._client.create(_REVIEW.from_dict(review_body(verb, group, plural, where)))
            allowed, why = review_verdict(answer.to_dict() if hasattr(answer, "to_dict") else dict(answer))
            if not allowed:
                scope = f' in namespace "{where}"' if where else " at the cluster scope"
                problems.append(
                    AccessProblem(
                        "flux",
                        f"the token may not {verb} {plural}.{group}{scope}" + (f": {why}" if why else ""),
                        "grant it in the Role or ClusterRole bound to the token (a reconcile request is a patch)",
                    )
                )
        return problems

    # -- what Flux reports --------------------------------------------------------------------------------------

    def deployed(self, app: str) -> list[DeployedObject]:
        """The objects in the Kustomization's inventory (what kustomize-controller applied last)."""
        namespace, name = self._split(app)
        return wire.deployed_objects(self._get(_Kustomization, name, namespace))

    def history(self, app: str) -> list[DeploymentRecord]:
        """``status.history``: revisions Flux applied successfully, oldest first (it keeps five)."""
        namespace, name = self._split(app)
        return wire.history(self._get(_Kustomization, name, namespace))
