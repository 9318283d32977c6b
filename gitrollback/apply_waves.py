"""Apply many objects quickly and in a safe order: dependency waves, bounded parallelism, stop at the first failure.

Each object is one server-side apply request, and most of them do not depend on each other, so within a wave
they go out in parallel (``cluster.apply_parallelism`` at once). Waves follow what an object needs to exist
first, in the spirit of Helm's install order (helm/helm pkg/release/util/kind_sorter.go): service accounts and
roles, then bindings, configuration and storage, then Tekton Tasks and other building blocks, then what uses them
(Pipelines, which name Tasks; Deployments and CronJobs, which name service accounts, claims and config). A wave
starts only when the one before it went in completely.

At the first failure nothing new is sent; requests already in flight finish, and the outcome lists every object
that did go in (in the original order) and the failure. Pure: the request itself is a callable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gitrollback.errors import GitRollbackError
from gitrollback.models import Manifest

__all__ = ["apply_in_waves", "waves"]

T = TypeVar("T")

_RANK: dict[str, int] = {
    **dict.fromkeys(("Namespace", "ServiceAccount", "Role", "ClusterRole", "CustomResourceDefinition"), 0),
    **dict.fromkeys(
        (
            "RoleBinding",
            "ClusterRoleBinding",
            "Secret",
            "ConfigMap",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Service",
            "LimitRange",
            "ResourceQuota",
            "NetworkPolicy",
        ),
        1,
    ),
    **dict.fromkeys(("Pipeline", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"), 3),
}
_DEFAULT_RANK = 2  # Tasks, StepActions and any other kind: after config, before the objects that use them


def waves(manifests: Sequence[Manifest]) -> list[list[int]]:
    """Indices of ``manifests`` grouped into waves, each in resource-list order."""
    by_rank: dict[int, list[int]] = {}
    for index, m in enumerate(manifests):
        by_rank.setdefault(_RANK.get(m.kind, _DEFAULT_RANK), []).append(index)
    return [by_rank[rank] for rank in sorted(by_rank)]


def apply_in_waves(
    manifests: Sequence[Manifest], apply: Callable[[Manifest], T], *, parallelism: int
) -> tuple[list[tuple[int, T]], tuple[int, GitRollbackError] | None]:
    """Call ``apply`` for every manifest, wave by wave, at most ``parallelism`` at a time.

    Returns the results that succeeded as (index, result) in index order, and the failure with the lowest index
    when one failed (later waves are not started, and no new request is sent once one failed). Anything that is
    not a ``GitRollbackError`` (a bug) propagates once the requests in flight have finished.
    """
    done: dict[int, T] = {}
    failures: dict[int, GitRollbackError] = {}
    stop = threading.Event()

    def one(index: int) -> tuple[int, T] | None:
        if stop.is_set():
            return None
        try:
            return index, apply(manifests[index])
        except GitRollbackError as exc:
            stop.set()
            failures[index] = exc
            return None
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
        for wave in waves(manifests):
            for outcome in list(pool.map(one, wave)):
                if outcome is not None:
                    done[outcome[0]] = outcome[1]
            if stop.is_set():
                break
    results = sorted(done.items())
    if failures:
        first = min(failures)
        return results, (first, failures[first])
    return results, None
