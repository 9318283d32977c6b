"""The provider's cluster through lightkube: the only module that imports lightkube.

lightkube needs no discovery: each call is one request (``docs/testing.md``), and server-side apply is built in.
Built-in kinds use lightkube's generated models; Tekton kinds (``tekton.dev`` v1 and v1beta1) are registered as
generic resources, so the objects are sent exactly as they are in git. A kind gitrollback does not know is
refused with the same words Image Factory's installer uses (``Failed to map manifest resource``) rather than
guessing its plural.

lightkube raises ``ApiError`` (an httpx2 ``HTTPStatusError``) for API errors and raw httpx2 exceptions for
transport failures; both are translated here into ``gitrollback.errors`` and never escape.

Example::

    cluster = LightkubeCluster.from_kubeconfig(kubeconfig_dict, context="prod")
    cluster.apply(manifest, namespace="image-factory-6f1c2a9e",
                  field_manager="image-factory-tekton-installer", force=True)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from lightkube import ApiError, Client, KubeConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.core.exceptions import LoadResourceError
from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import create_global_resource, create_namespaced_resource

from gitrollback.adapters._kube_access import review_body, review_verdict
from gitrollback.adapters._kube_lease import lease_body, parse_lease
from gitrollback.assets import apply_namespace
from gitrollback.errors import (
    AdapterError,
    AuthenticationError,
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    UnsupportedOperationError,
    http_error,
)
from gitrollback.models import AccessNeeds, AccessProblem, AppliedObject, LeaseRecord, Manifest

__all__ = ["LightkubeCluster", "translate_errors"]

logger = logging.getLogger(__name__)

#: Custom resources gitrollback knows how to address: (group, kind) -> (plural, namespaced).
_CUSTOM_KINDS: Mapping[tuple[str, str], tuple[str, bool]] = {
    ("tekton.dev", "Task"): ("tasks", True),
    ("tekton.dev", "Pipeline"): ("pipelines", True),
    ("tekton.dev", "PipelineRun"): ("pipelineruns", True),
    ("tekton.dev", "TaskRun"): ("taskruns", True),
    ("tekton.dev", "StepAction"): ("stepactions", True),
}


# The run lock's Lease and the pre-flight's access review travel as plain dicts (generic resources), so their
# timestamps keep the MicroTime form the API server requires (``_kube_lease``).
_LEASE = create_namespaced_resource("coordination.k8s.io", "v1", "Lease", "leases")
_REVIEW = create_global_resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews")
_TOKEN_HINT = "check cluster.token_env/token_file or the kubeconfig's user credentials"


def _as_dict(obj: Any) -> dict[str, Any]:
    """A generic resource's plain-dict form."""
    out = obj.to_dict()
    return out if isinstance(out, dict) else {}


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _is_transport_error(exc: BaseException) -> bool:
    # lightkube surfaces httpx2's transport errors unchanged; match them by module so that this adapter
    # does not have to import a second HTTP library just to name the classes.
    return any(
        cls.__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2") for cls in type(exc).__mro__
    )


@contextlib.contextmanager
def _translate(operation: str, what: str) -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        status = exc.status
        message = status.message or str(exc)
        raise http_error(
            int(status.code or exc.response.status_code),
            f"kubernetes {operation} {what}: {message}",
            adapter="kubernetes",
            operation=operation,
            remote_message=message,
        ) from exc
    except LoadResourceError as exc:
        raise UnsupportedOperationError(
            f"Failed to map manifest resource {what}: {exc}", adapter="kubernetes", operation=operation
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


#: the error boundary, shared with the Flux adapter (``flux.py``), the other lightkube module
translate_errors = _translate


class LightkubeCluster:
    """``gitrollback.ports.Cluster`` on a lightkube ``Client``.

    Args:
        client: a configured ``lightkube.Client`` (no request is made until a method is called).
    """

    def __init__(self, client: Client) -> None:
        self._client = client

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
        import httpx2  # lightkube's own HTTP stack; only its Timeout type is needed here

        return cls(Client(config=single, timeout=httpx2.Timeout(timeout), trust_env=False))

    # -- resource types ---------------------------------------------------------------------------------

    @staticmethod
    def _model(api_version: str, kind: str) -> Any:
        group, version = _split(api_version)
        custom = _CUSTOM_KINDS.get((group, kind))
        if custom is not None:
            plural, namespaced = custom
            factory = create_namespaced_resource if namespaced else create_global_resource
            return factory(group, version, kind, plural)
        with _translate("map", f"{kind} ({api_version})"):
            return resource_registry.load(api_version, kind)

    @staticmethod
    def _namespaced(model: Any) -> bool:
        return any(base.__name__.startswith("Namespaced") for base in type.mro(model))

    # -- Cluster port -----------------------------------------------------------------------------------

    def apply(self, manifest: Manifest, *, namespace: str | None, field_manager: str, force: bool) -> AppliedObject:
        """Server-side apply one object; namespaced objects without a namespace go to ``namespace``."""
        model = self._model(manifest.api_version, manifest.kind)
        body = dict(manifest.body)
        meta = dict(body.get("metadata") or {})
        ns = apply_namespace(manifest, namespaced=self._namespaced(model), target=namespace)
        if ns:
            meta["namespace"] = ns
        body["metadata"] = meta
        created = not self._exists(model, manifest.name, ns)
        with _translate("apply", f"{manifest.kind}/{manifest.name}"):
            obj = model.from_dict(body) if hasattr(model, "from_dict") else model(body)
            # the namespace travels in metadata.namespace, which lightkube uses for the URL
            result = self._client.apply(obj, field_manager=field_manager, force=force)
        rv = getattr(getattr(result, "metadata", None), "resourceVersion", "") or ""
        logger.debug("applied %s/%s in %s (created=%s)", manifest.kind, manifest.name, ns, created)
        return AppliedObject(kind=manifest.kind, name=manifest.name, namespace=ns, created=created, resource_version=rv)

    def _exists(self, model: Any, name: str, namespace: str | None) -> bool:
        try:
            with _translate("get", name):
                self._client.get(model, name, namespace=namespace)
        except AdapterError as exc:
            if getattr(exc, "status", None) == 404:
                return False
            raise
        return True

    def exists(self, api_version: str, kind: str, name: str, *, namespace: str | None) -> bool:
        """True when the object exists."""
        model = self._model(api_version, kind)
        return self._exists(model, name, namespace if self._namespaced(model) else None)

    def list_names(self, api_version: str, kind: str, *, namespace: str | None) -> list[str]:
        """Names of the objects of one kind (in ``namespace`` for namespaced kinds)."""
        model = self._model(api_version, kind)
        with _translate("list", kind):
            items = list(self._client.list(model, namespace=namespace if self._namespaced(model) else None))
        return sorted(str(item.metadata.name) for item in items)

    def ensure_namespace(self, name: str, *, field_manager: str) -> bool:
        """Create the namespace when missing, as the installer's ``ensureNamespace`` does."""
        manifest = Manifest(
            "v1", "Namespace", name, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
        if self.exists("v1", "Namespace", name, namespace=None):
            return False
        self.apply(manifest, namespace=None, field_manager=field_manager, force=False)
        return True

    # -- the run lock: LeaseStore port (docs/safety.md) -------------------------------------------------------

    def get_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        """The Lease, or None when there is none."""
        try:
            with _translate("get", f"Lease/{name}"):
                obj = self._client.get(_LEASE, name, namespace=namespace)
        except NotFoundError:
            return None
        return parse_lease(_as_dict(obj))

    def create_lease(self, lease: LeaseRecord) -> LeaseRecord:
        """Create the Lease; ``ConflictError`` (409 AlreadyExists) when it exists."""
        with _translate("create", f"Lease/{lease.name}"):
            obj = self._client.create(_LEASE.from_dict(lease_body(lease)), namespace=lease.namespace)
        return parse_lease(_as_dict(obj))

    def replace_lease(self, lease: LeaseRecord) -> LeaseRecord:
        """Replace the Lease quoting its resourceVersion; ``ConflictError`` (409) when it changed meanwhile."""
        with _translate("update", f"Lease/{lease.name}"):
            obj = self._client.replace(_LEASE.from_dict(lease_body(lease)))  # the namespace is in metadata
        return parse_lease(_as_dict(obj))

    # -- the pre-flight check: AccessCheck port ----------------------------------------------------------------

    def _resource_of(self, api_version: str, kind: str) -> tuple[str, str, bool]:
        """``(group, plural, namespaced)`` of a kind."""
        group, _ = _split(api_version)
        custom = _CUSTOM_KINDS.get((group, kind))
        if custom is not None:
            return group, custom[0], custom[1]
        model = self._model(api_version, kind)
        return group, str(model._api_info.plural), self._namespaced(model)

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """Ask the API server (one ``SelfSubjectAccessReview`` each) whether the token may do what the run needs.

        A token the server refuses (401) is one problem and ends the check; so is a token that may not even ask.
        """
        problems: list[AccessProblem] = []
        asked: set[tuple[str, str, str, str]] = set()
        for need in needs.kube:
            try:
                group, plural, namespaced = self._resource_of(need.api_version, need.kind)
            except UnsupportedOperationError as exc:
                problems.append(AccessProblem("kubernetes", str(exc), exc.hint or ""))
                continue
            namespace = need.namespace if namespaced else None
            key = (need.verb, group, plural, namespace or "")
            if key in asked:
                continue
            asked.add(key)
            try:
                with _translate("review", f"{need.verb} {plural}"):
                    answer = self._client.create(_REVIEW.from_dict(review_body(need.verb, group, plural, namespace)))
            except AuthenticationError as exc:
                return [
                    AccessProblem("kubernetes", f"the API server refuses the token (401): {exc.message}", _TOKEN_HINT)
                ]
            except PermissionDeniedError as exc:
                return [
                    AccessProblem(
                        "kubernetes",
                        f"the token may not ask what it is allowed to do (selfsubjectaccessreviews): {exc.message}",
                        "allow create on selfsubjectaccessreviews.authorization.k8s.io (every authenticated user "
                        "has it through the system:basic-user ClusterRole)",
                    )
                ]
            allowed, why = review_verdict(_as_dict(answer))
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
        return problems

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()
