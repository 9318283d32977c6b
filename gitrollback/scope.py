"""What installer mode may touch: the target namespace and the allowed kinds, whatever the repository contains.

Pure: the API server's discovery answers come in as a function (``scopes(api_version) -> {kind: namespaced}``,
``Cluster.resource_scopes``, asked once per group-version, concurrently), so the rules are tested with plain
values. Every object of the set is checked before
anything is written, and one refusal lists every offender with its file and line:

* its kind must be allowed: ``cluster.kinds`` (default: the kinds of Image Factory's real asset tree) or, for a
  cluster-scoped kind, ``cluster.cluster_scoped_kinds``;
* the API server must serve it (an unknown kind is named, never guessed);
* a cluster-scoped kind is refused unless ``cluster.cluster_scoped_kinds`` names it; whether a kind is
  cluster-scoped is what discovery says, not a list in this code;
* a namespaced object may name no namespace (it goes to the target, as the installer does) or the target
  namespace itself; any other namespace is refused, never rewritten.

Kinds are written ``Kind`` for the core group and ``Kind.group`` otherwise (``Deployment.apps``,
``Task.tekton.dev``), the form Kubernetes uses in its own messages.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from gitrollback.errors import PreconditionFailedError
from gitrollback.models import Manifest

__all__ = ["qualified_kind", "resolve_scope"]

Scopes = Callable[[str], Mapping[str, bool]]


def qualified_kind(kind: str, group: str) -> str:
    """``Kind`` for the core group, ``Kind.group`` otherwise."""
    return f"{kind}.{group}" if group else kind


def _problem(
    manifest: Manifest,
    namespaced: bool | None,
    *,
    namespace: str,
    kinds: Collection[str],
    cluster_scoped_kinds: Collection[str],
) -> str | None:
    qualified = qualified_kind(manifest.kind, manifest.group)
    if namespaced is None:
        return f"the API server does not serve {manifest.kind} in {manifest.api_version} (unknown kind {qualified})"
    if not namespaced:
        if qualified in cluster_scoped_kinds:
            return None
        return (
            f"{qualified} is cluster-scoped (API server discovery); cluster-scoped kinds are refused unless "
            "listed in cluster.cluster_scoped_kinds"
        )
    if qualified not in kinds:
        return f"kind {qualified} is not allowed (cluster.kinds)"
    if manifest.namespace and manifest.namespace != namespace:
        return f"sets namespace {manifest.namespace!r}; installer mode applies only to {namespace!r}"
    return None


def resolve_scope(
    manifests: Sequence[Manifest],
    *,
    namespace: str,
    kinds: Collection[str],
    cluster_scoped_kinds: Collection[str],
    scopes: Scopes,
    step: str = "dry-run",
) -> list[str | None]:
    """The namespace each object goes to (None for an allowed cluster-scoped kind), in order.

    Raises:
        PreconditionFailedError: kind ``out_of_scope``, naming every offending object with file and line.
    """
    versions = list(dict.fromkeys(m.api_version for m in manifests))
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(versions))), thread_name_prefix="discovery") as pool:
        served = dict(zip(versions, pool.map(scopes, versions), strict=True))  # one request per group-version
    placed: list[str | None] = []
    offenders: list[str] = []
    for manifest in manifests:
        namespaced = served[manifest.api_version].get(manifest.kind)
        problem = _problem(
            manifest, namespaced, namespace=namespace, kinds=kinds, cluster_scoped_kinds=cluster_scoped_kinds
        )
        if problem is not None:
            offenders.append(f"{manifest.where}: {manifest.ref}: {problem}")
        placed.append(namespace if namespaced else None)
    if offenders:
        raise PreconditionFailedError(
            f"{len(offenders)} of {len(manifests)} objects are outside what installer mode may touch; "
            "nothing was applied:\n  " + "\n  ".join(offenders),
            step=step,
            kind="out_of_scope",
            hint="roll back to a revision whose manifests stay in the target namespace and allowed kinds, "
            "or allow the kind in cluster.kinds / cluster.cluster_scoped_kinds (docs/installer-mode.md)",
        )
    return placed
