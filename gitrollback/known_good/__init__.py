"""Find the revision to roll the Tekton assets back to: the runbook's "last known-good version", from evidence.

The upstream runbook (imagefactoryoss/imagefactory docs/kubernetes-integration/TEKTON_INSTALLER_ROLLBACK_GUIDE.md,
section 2, step 1) says "revert the GitOps source to the last known-good Tekton asset version" without saying how
to find it, and Image Factory's job history names a profile folder (``v1``), not git content
(backend/internal/adapters/primary/rest/infrastructure_provider_handler.go, ``TektonInstallerJobResponse``;
``docs/imagefactory.md``). ``find_known_good`` combines what is available, strongest
first: an explicit revision, gitrollback's verified-good marker tags, installer job history, Argo CD deployment
history confirmed by success evidence, release tags, and the git-history fallback (the state just before the
change that introduced the failing content), and explains its choice and every candidate it turned down.

Layout: ``resolver`` (the entry point and the guards), ``scan`` (the first-parent history walk), ``evidence``
(the ``Evidence`` inputs and their candidates), ``capabilities`` (what a source may offer beyond the
``AssetSource`` port, e.g. streaming its history). ``docs/known-good.md`` is the user-facing description.
"""

from __future__ import annotations

from gitrollback.known_good.capabilities import (
    Ancestry,
    FirstParentAncestry,
    HistoryWalker,
    LostCommits,
    MergeLanding,
    MoveDetector,
    ShallowClone,
    TagLister,
    TrailerReader,
)
from gitrollback.known_good.evidence import Evidence
from gitrollback.known_good.resolver import find_known_good

__all__ = [
    "Ancestry",
    "Evidence",
    "FirstParentAncestry",
    "HistoryWalker",
    "LostCommits",
    "MergeLanding",
    "MoveDetector",
    "ShallowClone",
    "TagLister",
    "TrailerReader",
    "find_known_good",
]
