"""The rollback runbook as code: the step engine, the steps and their results.

"Runbook §N" in this package means section N (and §N.M, its step M) of Image Factory's Tekton installer rollback
guide, imagefactoryoss/imagefactory ``docs/kubernetes-integration/TEKTON_INSTALLER_ROLLBACK_GUIDE.md``, which
these steps automate.
"""
