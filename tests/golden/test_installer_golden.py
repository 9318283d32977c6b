"""Every golden installer case holds for gitrollback and for the Image Factory simulator's own implementation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitrollback.assets import apply_namespace, expand_assets
from gitrollback.errors import AssetError
from gitrollback.namespaces import installer_namespace, readiness_namespace, tenant_namespace
from gitrollback.testing.imagefactory import tekton_assets, tekton_namespaces

REPO = Path(__file__).resolve().parents[2]
TABLE = YAML(typ="safe", pure=True).load((Path(__file__).parent / "installer_cases.yaml").read_text("utf-8"))
TARGET: str = TABLE["target_namespace"]
CLUSTER_SCOPED = frozenset(TABLE["cluster_scoped"])
EXPANSION: list[dict[str, Any]] = TABLE["expansion"]
NAMESPACES: list[dict[str, Any]] = TABLE["namespaces"]
BY_ID = {case["id"]: case for case in EXPANSION}


@dataclass
class Outcome:
    """What one implementation made of a case: objects and bodies, or an error."""

    objects: list[list[Any]] = field(default_factory=list)
    bodies: list[Mapping[str, Any]] = field(default_factory=list)
    error: str | None = None
    error_path: str | None = None


def _tree(case: Mapping[str, Any]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if case.get("tree"):
        root = REPO / case["tree"]
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    for path, text in (case.get("files") or {}).items():
        if text is None:
            files.pop(path, None)
        else:
            files[path] = text.encode("utf-8")
    return files


def _product(case: Mapping[str, Any]) -> Outcome:
    """gitrollback: ``expand_assets`` on the file map, placed by ``apply_namespace`` as the kube adapter does."""
    try:
        manifests = expand_assets(_tree(case), case["profile"])
    except AssetError as exc:
        return Outcome(error=exc.message, error_path=exc.path)
    return Outcome(
        objects=[
            [m.kind, m.name, apply_namespace(m, namespaced=m.kind not in CLUSTER_SCOPED, target=TARGET)]
            for m in manifests
        ],
        bodies=[m.body for m in manifests],
    )


def _simulator(case: Mapping[str, Any], root: Path) -> Outcome:
    """The simulator: the same tree on disk, read and placed as its installer job does."""
    for path, data in _tree(case).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    outcome = Outcome()
    try:
        for path in tekton_assets.resource_files_for_job(str(root), case["profile"]):
            for obj in tekton_assets.file_objects(path):
                kind = tekton_assets.nested_string(obj, "kind")
                ns = tekton_assets.object_namespace(obj, namespaced=kind not in CLUSTER_SCOPED, target_namespace=TARGET)
                outcome.objects.append([kind, tekton_assets.nested_string(obj, "metadata", "name"), ns])
                outcome.bodies.append(obj)
    except tekton_assets.InstallerError as exc:
        return Outcome(error=str(exc))
    return outcome


def _field(body: Any, path: str) -> Any:
    for step in path.split("."):
        body = body[int(step)] if isinstance(body, list) else body[step]
    return body


def _as_json(value: Any) -> str:
    """Type-exact comparison (1 is not 1.0, True is not "yes"); what cannot go to JSON shows as its repr."""
    return json.dumps(value, sort_keys=True, default=lambda v: f"<not JSON: {v!r}>")


def _check(case: Mapping[str, Any], outcome: Outcome, root: str | None) -> None:
    expected_error = case.get("error")
    if expected_error is not None:
        assert outcome.error is not None, f"expected an error, got objects {outcome.objects}"
        if root is None:
            assert outcome.error_path == expected_error["path"], outcome.error
            if "message" in expected_error:
                assert outcome.error == expected_error["message"]
        else:
            assert outcome.error == expected_error["go"].replace("{root}", root)
        return
    assert outcome.error is None, outcome.error
    expected = BY_ID[case["objects_from"]]["objects"] if "objects_from" in case else case["objects"]
    assert outcome.objects == expected
    for check in case.get("fields") or []:
        assert _as_json(_field(outcome.bodies[check["object"]], check["path"])) == _as_json(check["value"]), check


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["id"] for case in cases]


def _product_expectation(case: Mapping[str, Any]) -> Mapping[str, Any]:
    """The row as gitrollback must meet it: Go's outcome, or the refusal a ``product:`` entry puts in its place."""
    stricter = case.get("product")
    if stricter is None:
        return case
    return {"id": case["id"], "error": stricter["error"]}


def test_every_row_cites_its_source() -> None:
    """Each golden row has a unique id and names the Go code it is traced to; a stricter product says why."""
    rows = EXPANSION + NAMESPACES
    assert len({row["id"] for row in rows}) == len(rows)
    assert all(row.get("source") for row in rows)
    for row in EXPANSION:
        if "product" in row:
            assert row["product"].get("why") and row["product"]["error"].get("message"), row["id"]
            assert "error" not in row, f"{row['id']}: Go accepts the tree, gitrollback refuses it"


@pytest.mark.parametrize("case", EXPANSION, ids=_ids(EXPANSION))
def test_gitrollback_expands_like_the_installer(case: dict[str, Any]) -> None:
    """gitrollback.assets renders the row's objects (or refuses the tree) as the installer does, or as stricter."""
    _check(_product_expectation(case), _product(case), None)


@pytest.mark.parametrize("case", EXPANSION, ids=_ids(EXPANSION))
def test_simulator_expands_like_the_installer(case: dict[str, Any], tmp_path: Path) -> None:
    """The simulator's installer reads the row's tree into the same objects, or fails with the Go error text."""
    root = tmp_path / "tekton"
    root.mkdir()
    _check(case, _simulator(case, root), str(root))


def _provider(case: Mapping[str, Any]) -> dict[str, Any]:
    provider = dict(case["provider"])
    return {
        "target_namespace": provider.get("target_namespace"),
        "config": provider.get("config"),
        "provider_tenant": provider.get("tenant_id"),
    }


@pytest.mark.parametrize("case", NAMESPACES, ids=_ids(NAMESPACES))
def test_gitrollback_resolves_namespaces_like_image_factory(case: dict[str, Any]) -> None:
    """gitrollback.namespaces gives the installer's and the readiness handler's namespace for the row."""
    args = _provider(case)
    args["config"] = args["config"] or {}  # gitrollback's Provider model always carries a mapping
    assert installer_namespace(**args, job_tenant=case.get("job_tenant")) == case["installer"]
    assert readiness_namespace(**args, scope_tenant=case.get("scope_tenant")) == case["readiness"]
    if "build" in case:
        assert tenant_namespace(case["provider"]["tenant_id"]) == case["build"]


@pytest.mark.parametrize("case", NAMESPACES, ids=_ids(NAMESPACES))
def test_simulator_resolves_namespaces_like_image_factory(case: dict[str, Any]) -> None:
    """The simulator's resolvers give the installer's and the readiness handler's namespace for the row."""
    args = _provider(case)
    assert tekton_namespaces.tekton_target_namespace(**args, tenant_id=case.get("job_tenant")) == case["installer"]
    assert tekton_namespaces.readiness_namespace(**args, tenant_id=case.get("scope_tenant")) == case["readiness"]
    if "build" in case:
        assert tekton_namespaces.build_namespace(case["provider"]["tenant_id"]) == case["build"]
