"""Which leftovers a prune may delete: only the bad revision's own additions, and only ours.

Image Factory's installer never prunes, so objects a bad upgrade added stay after a rollback (a renamed Task
leaves its new name behind). gitrollback deletes an object only when all of these hold:

* the bad revision's object set has it and the known-good set does not (``change_plan.added_objects``);
* its kind is one installer mode may touch (``cluster.kinds``) and it is namespaced;
* it is live in the target namespace (the bad manifest named no other namespace);
* a field manager that is the installer's (``image-factory-tekton-installer``) or gitrollback's own configured one
  wrote it (``metadata.managedFields``), so it came from an installer or rollback run, not from someone's hands;
* no ``ownerReferences``: a controller owns it and cleans it up.

Everything else the bad revision added is listed with the reason it stays. Pure: the live objects come in as
values; the prune step deletes with the uid and resourceVersion read here as preconditions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from gitrollback.change_plan import identity
from gitrollback.models import LiveObject, Manifest, ObjectChange
from gitrollback.scope import qualified_kind

__all__ = ["select_prune"]


def _row(manifest: Manifest, namespace: str | None, action: str, detail: str) -> ObjectChange:
    return ObjectChange(
        kind=manifest.kind,
        name=manifest.name,
        namespace=namespace,
        action=action,  # type: ignore[arg-type]
        detail=detail,
        file=manifest.source_file,
        line=manifest.line,
        api_version=manifest.api_version,
    )


def select_prune(
    added: Sequence[Manifest],
    live: Mapping[tuple[str, str, str], LiveObject],
    *,
    namespace: str,
    namespaced: Mapping[tuple[str, str], bool],
    kinds: Collection[str],
    managers: Collection[str],
    enabled: bool,
) -> tuple[ObjectChange, ...]:
    """A row per added object: ``prune`` (deleted when ``enabled``), ``keep`` with the reason, or ``absent``.

    ``live`` maps (group, kind, name) to the object live in ``namespace``; ``namespaced`` maps (group, kind) to
    discovery's answer (missing: the API server does not serve the kind).
    """
    rows: list[ObjectChange] = []
    for m in added:
        qualified = qualified_kind(m.kind, m.group)
        scope = namespaced.get((m.group, m.kind))
        if scope is None:
            rows.append(_row(m, None, "absent", "the API server does not serve this kind"))
            continue
        if not scope:
            rows.append(_row(m, None, "keep", "cluster-scoped: never pruned"))
            continue
        if m.namespace and m.namespace != namespace:
            rows.append(_row(m, m.namespace, "keep", f"in namespace {m.namespace}, outside {namespace}: never pruned"))
            continue
        if qualified not in kinds:
            rows.append(_row(m, namespace, "keep", f"kind {qualified} is not in cluster.kinds: never pruned"))
            continue
        obj = live.get(identity(m.api_version, m.kind, m.name))
        if obj is None:
            rows.append(_row(m, namespace, "absent", "not in the cluster"))
            continue
        writers = sorted({e.manager for e in obj.managers})
        ours = sorted(set(writers) & set(managers))
        if not ours:
            rows.append(
                _row(
                    m,
                    namespace,
                    "keep",
                    f"not written by {' or '.join(sorted(managers))} (managers: {', '.join(writers) or 'none'})",
                )
            )
            continue
        if obj.owned:
            rows.append(_row(m, namespace, "keep", "has ownerReferences: its owner cleans it up"))
            continue
        others = [w for w in writers if w not in managers]
        detail = f"written by {', '.join(ours)}" + (f"; also by {', '.join(others)}" if others else "")
        if enabled:
            rows.append(_row(m, namespace, "prune", detail))
        else:
            rows.append(_row(m, namespace, "keep", detail + "; prune is off"))
    return tuple(rows)
