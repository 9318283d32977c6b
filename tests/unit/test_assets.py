"""Asset expansion reproduces Image Factory's installer: resources list, profile rewrite, object checks."""

from __future__ import annotations

import pytest

from gitrollback.assets import expand_assets, resource_files
from gitrollback.errors import AssetError


def test_real_tree_expands_to_26_objects_in_installer_order(fixture_tree: dict[str, bytes]) -> None:
    """The real tree's kustomization.yaml lists 26 objects: they expand in apply order, the unlisted PVC left out."""
    manifests = expand_assets(fixture_tree)
    assert len(manifests) == 26
    assert [m.ref for m in manifests[:2]] == ["Task/git-clone", "Task/docker-build"]
    assert manifests[12].ref == "CronJob/trivy-db-warmup"
    assert manifests[-1].ref == "Pipeline/image-factory-quarantine-release-promote-v1"
    assert "jobs/v1/trivy-db-cache-pvc.yaml" not in {m.source_file for m in manifests}
    assert {m.api_version for m in manifests if m.kind in ("Task", "Pipeline")} == {"tekton.dev/v1beta1"}


def test_profile_rewrite_uses_the_installers_message(fixture_tree: dict[str, bytes]) -> None:
    """A profile without its folder fails with the installer's exact wording."""
    with pytest.raises(AssetError) as info:
        resource_files(fixture_tree, "V2 ")
    assert (
        str(info.value)
        == "tekton profile version v2 requested but resource does not exist: tasks/v2/git-clone-task.yaml"
    )


def test_profile_rewrite_keeps_jobs(fixture_tree: dict[str, bytes]) -> None:
    """With a v2 folder present, tasks/ and pipelines/ entries move to v2 and jobs/v1 stays."""
    tree = dict(fixture_tree)
    for path, data in fixture_tree.items():
        if path.startswith(("tasks/v1/", "pipelines/v1/")):
            tree[path.replace("/v1/", "/v2/")] = data
    files = resource_files(tree, "v2")
    assert files[0] == "tasks/v2/git-clone-task.yaml"
    assert "jobs/v1/internal-registry-pvc.yaml" in files


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kustomization.yaml": None}, "kustomization.yaml not found"),
        ({"kustomization.yaml": b"resources: [a.yaml"}, "kustomization.yaml is not valid YAML"),
        ({"kustomization.yaml": b"kind: Kustomization\n"}, "has no resources"),
        ({"kustomization.yaml": b"resources: [missing.yaml]\n"}, "does not exist: missing.yaml"),
        ({"tasks/v1/git-clone-task.yaml": b"apiVersion: v1\nkind: Task\nmetadata: {}\n"}, "has no metadata.name"),
        ({"tasks/v1/git-clone-task.yaml": b"- just\n- a list\n"}, "is not a mapping"),
        ({"tasks/v1/git-clone-task.yaml": b"a: [\n"}, "tasks/v1/git-clone-task.yaml is not valid YAML"),
    ],
)
def test_broken_trees_are_refused_with_the_file(
    fixture_tree: dict[str, bytes], change: dict[str, bytes | None], message: str
) -> None:
    """Each kind of broken tree raises AssetError naming the problem and the file."""
    tree = dict(fixture_tree)
    for path, data in change.items():
        if data is None:
            tree.pop(path)
        else:
            tree[path] = data
    with pytest.raises(AssetError, match=message):
        expand_assets(tree)
