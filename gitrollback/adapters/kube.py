"""The provider's cluster through lightkube: the only module that imports lightkube (and its httpx2 stack).

lightkube reads the kubeconfig and supplies authentication (tokens, token files, exec plugins) and the TLS context
(cluster CA, client certificates) from ``lightkube.config.client_adapter``; they go into an httpx2 client whose
transport is the standard library's ``http.client`` (``_StdlibTransport``: a third of httpcore's CPU per request).
The requests themselves are the plain Kubernetes REST calls, because the runbook needs what lightkube's typed
calls do not give:

* **discovery** (``GET /api/v1``, ``GET /apis/<group>/<version>``): the API server says which kinds it serves,
  their plural and whether they are namespaced. The scope check and every URL come from it, not from a
  hard-coded list (the installer maps kinds the same way, through a discovery RESTMapper).
* **one request per object**: a server-side apply ``PATCH`` needs no ``GET`` first; its status code says whether
  it created the object (201) or changed an existing one (200). ``dryRun=All`` runs admission and validation
  without persisting.
* **DELETE with preconditions** (``DeleteOptions.preconditions``: ``uid`` and ``resourceVersion``), so a prune
  deletes exactly the object it inspected or nothing (409 when it changed since).

The run lock's Lease (``LeaseStore``: get, create, replace quoting its resourceVersion) and the pre-flight's
``SelfSubjectAccessReview`` (``check_access``) are plain REST calls too; their bodies are plain dicts
(``_kube_lease``, ``_kube_access``), so a Lease's timestamps keep the MicroTime form the API server requires.

Every request, this module's and the Flux adapter's (``flux.py``, the other lightkube module, whose typed client
runs on the same transport: ``lightkube_client``), has a whole-request deadline on real time (``_deadline``):
``cluster.timeout_seconds`` (Flux: ``sync.request_timeout_seconds``) from connect to last byte, which a server that
answers a byte at a time cannot stretch. The connection's socket is watched and shut down when the deadline passes.

``translate_errors`` is the one error boundary for both: the plain requests here and the typed lightkube calls of
the Flux adapter. API errors (a ``Status`` body here, lightkube's ``ApiError`` there) become ``gitrollback.errors``
by status code; transport failures (connection, TLS, timeouts) become ``TransportError``, of kind
``deadline_exceeded`` when the deadline ended the request. The client is thread-safe, so the apply step can send
requests in parallel.

Example::

    cluster = LightkubeCluster.from_kubeconfig(kubeconfig_dict, context="prod")
    cluster.apply(manifest, namespace="image-factory-6f1c2a9e",
                  field_manager="image-factory-tekton-installer", force=True)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx2
from lightkube import ApiError, Client, KubeConfig
from lightkube.config.client_adapter import user_auth, verify_cluster
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.core.exceptions import LoadResourceError

from gitrollback.adapters._deadline import clamp, request_deadline
from gitrollback.adapters._kube_access import review_body, review_verdict
from gitrollback.adapters._kube_lease import lease_body, parse_lease
from gitrollback.assets import apply_namespace
from gitrollback.errors import (
    AuthenticationError,
    ConfigError,
    PermissionDeniedError,
    RemoteHTTPError,
    TransportError,
    UnexpectedResponseError,
    UnsupportedOperationError,
    http_error,
)
from gitrollback.models import (
    AccessNeeds,
    AccessProblem,
    AppliedObject,
    FieldManagerEntry,
    LeaseRecord,
    LiveObject,
    Manifest,
)

__all__ = ["LightkubeCluster", "lightkube_client", "translate_errors"]

logger = logging.getLogger(__name__)

_APPLY = "application/apply-patch+yaml"
_LEASES = "/apis/coordination.k8s.io/v1"
_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_TOKEN_HINT = "check cluster.token_env/token_file or the kubeconfig's user credentials"


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _prefix(api_version: str) -> str:
    group, version = _split(api_version)
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.reason_phrase


def _status_error(status: int, operation: str, what: str, message: str) -> RemoteHTTPError:
    """The API server's refusal (a ``Status``) as a ``gitrollback.errors`` class chosen by status code."""
    return http_error(
        status,
        f"kubernetes {operation} {what}: {message}",
        adapter="kubernetes",
        operation=operation,
        remote_message=message,
    )


def _is_transport_error(exc: BaseException) -> bool:
    # httpx2 maps its transport's failures to its own classes; match the HTTP stack by module name as well, so
    # that whatever lightkube's client lets through (httpcore's classes) is still a transport failure
    return any(
        cls.__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2") for cls in type(exc).__mro__
    )


@contextlib.contextmanager
def translate_errors(operation: str, what: str) -> Iterator[None]:
    """The Kubernetes error boundary (this module's requests and ``flux.py``'s lightkube calls): lightkube's
    ``ApiError`` by status code, a kind lightkube cannot map as ``UnsupportedOperationError``, and any transport
    failure as ``TransportError``; nothing else is touched."""
    try:
        yield
    except ApiError as exc:
        status = exc.status
        raise _status_error(
            int(status.code or exc.response.status_code), operation, what, status.message or str(exc)
        ) from exc
    except LoadResourceError as exc:
        raise UnsupportedOperationError(
            f"Failed to map manifest resource {what}: {exc}", adapter="kubernetes", operation=operation
        ) from exc
    except _DeadlinePassed as exc:
        raise TransportError(
            f"kubernetes {operation} {what}: no complete answer within {exc.seconds:g}s",
            adapter="kubernetes",
            operation=operation,
            hint="the API server (or something in front of it) accepted the request but did not finish answering in "
            "time; check its health, or raise cluster.timeout_seconds (Flux: sync.request_timeout_seconds)",
            kind="deadline_exceeded",
        ) from exc
    except Exception as exc:
        if _is_transport_error(exc):
            raise TransportError(
                f"kubernetes API unreachable during {operation} {what}: {type(exc).__name__}: {exc}",
                adapter="kubernetes",
                operation=operation,
                hint="check cluster.kubeconfig/context in the config and that the API server is reachable",
            ) from exc
        raise


class _DeadlinePassed(httpx2.ReadTimeout):
    """The request's whole-exchange deadline passed before its answer was complete."""

    def __init__(self, seconds: float, request: httpx2.Request) -> None:
        super().__init__(f"no complete answer within {seconds:g}s", request=request)
        self.seconds = seconds


def _socket_of(conn: http.client.HTTPConnection) -> Callable[[], socket.socket | None]:
    """The connection's socket when asked (None before it connects)."""
    return lambda: conn.sock


class _StdlibTransport(httpx2.BaseTransport):
    """HTTP/1.1 on the standard library's ``http.client`` under httpx2's client (which keeps lightkube's auth flows).

    httpcore spends about 0.8 ms of CPU per request here (three socket writes, the h11 state machine); http.client
    sends a request in one write and parses headers in C, about a third of that. With hundreds of parallel
    server-side applies in one process that is the difference between keeping up with kubectl and not
    (``docs/performance.md``). Idle keep-alive connections are shared by all threads; one the server has closed
    meanwhile is replaced once. Responses are asked for unencoded (``Accept-Encoding: identity``).

    Each request runs under a ``request_deadline`` of ``timeout`` seconds: a new connection's connect gets what
    remains of it, and the connection's socket (the plain one under TLS, so a dripping handshake is reached too) is
    shut down when it passes, which wakes a blocked read at once. The request then fails with ``_DeadlinePassed``,
    even when http.client took what arrived before the shutdown for an answer.
    """

    def __init__(self, context: ssl.SSLContext | None, timeout: float) -> None:
        self._context = context
        self._timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, url: httpx2.URL) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        timeout = clamp(self._timeout)  # a connect ends by the deadline too
        if url.scheme == "https":
            return http.client.HTTPSConnection(url.host, url.port, timeout=timeout, context=self._context), False
        return http.client.HTTPConnection(url.host, url.port, timeout=timeout), False

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read() or None
        target = request.url.raw_path.decode("ascii")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        headers["Accept-Encoding"] = "identity"
        with request_deadline(self._timeout) as deadline:
            while True:
                try:
                    conn, reused = self._connection(request.url)
                except TimeoutError as exc:  # DeadlineExceeded: nothing left to connect with
                    raise _DeadlinePassed(self._timeout, request) from exc
                deadline.watch(_socket_of(conn))
                try:
                    if not reused:
                        conn.connect()
                        deadline.check_connected(conn.sock)
                    conn.request(request.method, target, body=body, headers=headers)
                    response = conn.getresponse()
                    content = response.read()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    conn.close()
                    if deadline.ran_out():
                        raise _DeadlinePassed(self._timeout, request) from exc
                    if reused:
                        continue  # a kept-alive connection the server closed in the meantime: open a new one
                    raise httpx2.ReadError(str(exc), request=request) from exc
                except TimeoutError as exc:
                    conn.close()
                    if deadline.ran_out():
                        raise _DeadlinePassed(self._timeout, request) from exc
                    raise httpx2.ReadTimeout(str(exc) or "timed out", request=request) from exc
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    if deadline.ran_out():
                        raise _DeadlinePassed(self._timeout, request) from exc
                    raise httpx2.ConnectError(str(exc), request=request) from exc
                if deadline.expired:
                    # the shutdown can leave a status line and headers that http.client takes for a whole answer
                    conn.close()
                    raise _DeadlinePassed(self._timeout, request)
                if response.will_close:
                    conn.close()
                else:
                    with self._lock:
                        self._idle.append(conn)
                return httpx2.Response(response.status, headers=response.getheaders(), content=content, request=request)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _transport(single: SingleConfig, timeout: float) -> _StdlibTransport:
    """The deadline-bound transport for one kubeconfig context, with its TLS context (the cluster CA, client
    certificates) from lightkube."""
    user = single.user
    if user is None:
        raise ConfigError("the kubeconfig context names no user", key="cluster.kubeconfig")
    tls = None
    if single.cluster.server.startswith("https://"):
        tls = verify_cluster(single.cluster, user, single.abs_file, trust_env=False)
    return _StdlibTransport(tls, timeout)


def lightkube_client(single: SingleConfig, *, timeout: float) -> Client:
    """lightkube's typed client for one kubeconfig context, on this module's transport: every request ends within
    ``timeout`` seconds, connect to last byte (for ``flux.py``).

    Raises:
        ConfigError: the context names no user, or its TLS files are unusable.
    """
    try:
        transport = _transport(single, timeout)
    except (LightkubeConfigError, OSError, ValueError) as exc:
        raise ConfigError(f"kubeconfig is unusable: {exc}", key="sync.kubeconfig") from exc
    return Client(config=single, timeout=httpx2.Timeout(timeout), trust_env=False, transport=transport)


class LightkubeCluster:
    """``gitrollback.ports.Cluster`` on the HTTP client lightkube builds from a kubeconfig.

    Args:
        http: an ``httpx2.Client`` whose base URL, authentication and TLS point at the API server (no request is
            made until a method is called).
    """

    def __init__(self, http: httpx2.Client) -> None:
        self._http = http
        self._base = str(http.base_url).rstrip("/")
        self._discovered: dict[str, dict[str, tuple[str, bool]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: Mapping[str, Any],
        *,
        context: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> LightkubeCluster:
        """Build from a kubeconfig already read into a dict (the caller reads files, not this adapter)."""
        try:
            config = KubeConfig.from_dict(dict(kubeconfig))
            single = config.get(context_name=context)
        except (LightkubeConfigError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"kubeconfig is unusable{f' for context {context!r}' if context else ''}: {exc}",
                key="cluster.kubeconfig",
                hint="check the kubeconfig file and cluster.context",
            ) from exc
        if single is None:
            raise ConfigError("kubeconfig has no current-context and no cluster.context is set", key="cluster.context")
        if token is not None and single.user is not None:
            single.user.token = token
        user = single.user
        if user is None:
            raise ConfigError("the kubeconfig context names no user", key="cluster.kubeconfig")
        try:
            http = httpx2.Client(
                base_url=single.cluster.server,
                auth=user_auth(user),
                timeout=httpx2.Timeout(timeout),
                trust_env=False,
                transport=_transport(single, timeout),
            )
        except (LightkubeConfigError, OSError, ValueError) as exc:
            raise ConfigError(f"kubeconfig is unusable: {exc}", key="cluster.kubeconfig") from exc
        return cls(http)

    # -- wire -------------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        operation: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        missing_ok: bool = False,
    ) -> httpx2.Response | None:
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = content_type
        # one absolute URL, parsed once (a relative URL plus params is parsed three times per request)
        target = httpx2.URL(self._base + url + (f"?{urlencode(params)}" if params else ""))
        with translate_errors(operation, what):
            response = self._http.request(method, target, content=content, headers=headers)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise _status_error(response.status_code, operation, what, _message(response))
        return response

    @staticmethod
    def _json(response: httpx2.Response, operation: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise UnexpectedResponseError(
                f"kubernetes {operation}: the reply is not JSON", adapter="kubernetes", operation=operation
            ) from exc
        if not isinstance(body, dict):
            raise UnexpectedResponseError(
                f"kubernetes {operation}: the reply is not an object", adapter="kubernetes", operation=operation
            )
        return body

    # -- discovery --------------------------------------------------------------------------------------

    def _resources(self, api_version: str) -> dict[str, tuple[str, bool]]:
        """Kind -> (plural, namespaced) at one group-version, from discovery, cached for this adapter's life."""
        with self._lock:
            known = self._discovered.get(api_version)
        if known is not None:
            return known
        response = self._send("GET", _prefix(api_version), "discover", api_version, missing_ok=True)
        found: dict[str, tuple[str, bool]] = {}
        if response is not None:
            for entry in self._json(response, "discover").get("resources") or []:
                name, kind = str(entry.get("name", "")), str(entry.get("kind", ""))
                if name and kind and "/" not in name:  # "tasks/status" is a subresource
                    found[kind] = (name, bool(entry.get("namespaced")))
        with self._lock:
            self._discovered[api_version] = found
        return found

    def resource_scopes(self, api_version: str) -> Mapping[str, bool]:
        """Kind -> namespaced, for every kind the API server serves at ``api_version``; empty when none."""
        return {kind: namespaced for kind, (_, namespaced) in self._resources(api_version).items()}

    def _mapping(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from discovery; a kind the API server does not serve is refused."""
        mapped = self._resources(api_version).get(kind)
        if mapped is None:
            # the installer's wording for a kind its RESTMapper cannot map
            raise UnsupportedOperationError(
                f"Failed to map manifest resource {kind} ({api_version}): the API server does not serve it",
                adapter="kubernetes",
                operation="map",
                hint="install the CRD that defines it, or check the manifest's apiVersion",
            )
        return mapped

    def _url(self, api_version: str, kind: str, name: str | None, namespace: str | None) -> tuple[str, str | None]:
        """The object (or collection) URL and the namespace it is in (None for a cluster-scoped kind)."""
        plural, namespaced = self._mapping(api_version, kind)
        ns = namespace if namespaced else None
        url = _prefix(api_version) + (f"/namespaces/{quote(ns, safe='')}" if ns else "") + f"/{plural}"
        return (url + f"/{quote(name, safe='')}" if name else url), ns

    # -- Cluster port -----------------------------------------------------------------------------------

    def apply(
        self, manifest: Manifest, *, namespace: str | None, field_manager: str, force: bool, dry_run: bool = False
    ) -> AppliedObject:
        """Server-side apply one object in one request; namespaced objects without a namespace go to ``namespace``.

        With ``dry_run`` the API server runs admission and validation and answers with the object it would
        store, and stores nothing.
        """
        _, namespaced = self._mapping(manifest.api_version, manifest.kind)
        target = apply_namespace(manifest, namespaced=namespaced, target=namespace)
        url, ns = self._url(manifest.api_version, manifest.kind, manifest.name, target)
        body = dict(manifest.body)
        meta = dict(body.get("metadata") or {})
        if ns:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        body["metadata"] = meta
        params = {"fieldManager": field_manager}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        operation = "dry-run apply" if dry_run else "apply"
        response = self._send("PATCH", url, operation, manifest.ref, params=params, body=body, content_type=_APPLY)
        assert response is not None
        result = self._json(response, operation)
        rv = str((result.get("metadata") or {}).get("resourceVersion") or "")
        logger.debug("%s %s in %s: %s", operation, manifest.ref, ns, response.status_code)
        return AppliedObject(
            kind=manifest.kind,
            name=manifest.name,
            namespace=ns,
            created=response.status_code == 201,
            resource_version=rv,
            object=result,
        )

    def list_objects(self, api_version: str, kind: str, *, namespace: str | None) -> list[LiveObject]:
        """Every object of one kind (in ``namespace`` for namespaced kinds), with its field managers."""
        url, ns = self._url(api_version, kind, None, namespace)
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "500"}
        while True:
            response = self._send("GET", url, "list", kind, params=params)
            assert response is not None
            page = self._json(response, "list")
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            params = {"limit": "500", "continue": str(token)}
        return sorted((_live(api_version, kind, item, ns) for item in items), key=lambda o: o.name)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None,
        uid: str,
        resource_version: str,
    ) -> None:
        """Delete exactly this object: the API server refuses (409) when its uid or resourceVersion changed."""
        url, _ = self._url(api_version, kind, name, namespace)
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": uid, "resourceVersion": resource_version},
            "propagationPolicy": "Background",
        }
        self._send("DELETE", url, "delete", f"{kind}/{name}", body=options)

    def exists(self, api_version: str, kind: str, name: str, *, namespace: str | None) -> bool:
        """True when the object exists."""
        url, _ = self._url(api_version, kind, name, namespace)
        return self._send("GET", url, "get", f"{kind}/{name}", missing_ok=True) is not None

    def list_names(self, api_version: str, kind: str, *, namespace: str | None) -> list[str]:
        """Names of the objects of one kind (in ``namespace`` for namespaced kinds)."""
        return [o.name for o in self.list_objects(api_version, kind, namespace=namespace)]

    def ensure_namespace(self, name: str, *, field_manager: str) -> bool:
        """Create the namespace when missing, as the installer's ``ensureNamespace`` does."""
        if self.exists("v1", "Namespace", name, namespace=None):
            return False
        manifest = Manifest(
            "v1", "Namespace", name, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
        self.apply(manifest, namespace=None, field_manager=field_manager, force=False)
        return True

    # -- the run lock: LeaseStore port (docs/safety.md) -------------------------------------------------

    @staticmethod
    def _lease_url(namespace: str, name: str | None = None) -> str:
        url = f"{_LEASES}/namespaces/{quote(namespace, safe='')}/leases"
        return url + f"/{quote(name, safe='')}" if name else url

    def get_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        """The Lease, or None when there is none."""
        response = self._send("GET", self._lease_url(namespace, name), "get", f"Lease/{name}", missing_ok=True)
        return None if response is None else parse_lease(self._json(response, "get"))

    def create_lease(self, lease: LeaseRecord) -> LeaseRecord:
        """Create the Lease; ``ConflictError`` (409 AlreadyExists) when it exists."""
        url = self._lease_url(lease.namespace)
        response = self._send("POST", url, "create", f"Lease/{lease.name}", body=lease_body(lease))
        assert response is not None
        return parse_lease(self._json(response, "create"))

    def replace_lease(self, lease: LeaseRecord) -> LeaseRecord:
        """Replace the Lease quoting its resourceVersion; ``ConflictError`` (409) when it changed meanwhile."""
        url = self._lease_url(lease.namespace, lease.name)
        response = self._send("PUT", url, "update", f"Lease/{lease.name}", body=lease_body(lease))
        assert response is not None
        return parse_lease(self._json(response, "update"))

    # -- the pre-flight check: AccessCheck port ---------------------------------------------------------

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """Ask the API server (one ``SelfSubjectAccessReview`` each) whether the token may do what the run needs.

        Kinds are mapped to their resource and scope by discovery, as the run maps them; a kind the API server
        does not serve is a problem. A token the server refuses (401) is one problem and ends the check; so is a
        token that may not even ask.
        """
        problems: list[AccessProblem] = []
        asked: set[tuple[str, str, str, str]] = set()
        try:
            for need in needs.kube:
                try:
                    plural, namespaced = self._mapping(need.api_version, need.kind)
                except UnsupportedOperationError as exc:
                    problems.append(AccessProblem("kubernetes", str(exc), exc.hint or ""))
                    continue
                group, _ = _split(need.api_version)
                # a Namespace is asked about in itself (the API server's requestinfo.go reads a request for
                # /api/v1/namespaces/<ns> as one in <ns>), other cluster-scoped kinds at the cluster scope
                namespace = need.namespace if namespaced or (plural == "namespaces" and not group) else None
                key = (need.verb, group, plural, namespace or "")
                if key in asked:
                    continue
                asked.add(key)
                body = review_body(need.verb, group, plural, namespace)
                try:
                    response = self._send("POST", _REVIEWS, "review", f"{need.verb} {plural}", body=body)
                except PermissionDeniedError as exc:
                    return [
                        AccessProblem(
                            "kubernetes",
                            f"the token may not ask what it is allowed to do (selfsubjectaccessreviews): {exc.message}",
                            "allow create on selfsubjectaccessreviews.authorization.k8s.io (every authenticated user "
                            "has it through the system:basic-user ClusterRole)",
                        )
                    ]
                assert response is not None
                allowed, why = review_verdict(self._json(response, "review"))
                if not allowed:
                    where = f' in namespace "{namespace}"' if namespace else " at the cluster scope"
                    resource = f"{plural}.{group}" if group else plural
                    problems.append(
                        AccessProblem(
                            "kubernetes",
                            f"may not {need.verb} {resource}{where}" + (f" ({why})" if why else ""),
                            "grant the missing verbs to the identity in cluster.kubeconfig (a Role in the target "
                            "namespace, docs/safety.md lists them)",
                        )
                    )
        except AuthenticationError as exc:  # from discovery or the first review
            return [AccessProblem("kubernetes", f"the API server refuses the token (401): {exc.message}", _TOKEN_HINT)]
        return problems

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()


def _live(api_version: str, kind: str, item: Mapping[str, Any], namespace: str | None) -> LiveObject:
    meta = item.get("metadata") or {}
    managers = tuple(
        FieldManagerEntry(
            manager=str(entry.get("manager", "")),
            operation=str(entry.get("operation", "")),
            subresource=str(entry.get("subresource", "")),
        )
        for entry in meta.get("managedFields") or []
        if isinstance(entry, dict)
    )
    return LiveObject(
        api_version=api_version,
        kind=kind,
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace") or namespace or "") or None,
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        managers=managers,
        owned=bool(meta.get("ownerReferences")),
        body=item,
    )
