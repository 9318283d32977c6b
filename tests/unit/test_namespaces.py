"""Image Factory's two namespace resolvers, with their differences (docs/imagefactory.md, "Namespace resolvers")."""

from __future__ import annotations

from gitrollback.namespaces import installer_namespace, readiness_namespace, tenant_namespace

TENANT = "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b6a7e41"
NIL = "00000000-0000-0000-0000-000000000000"


def test_target_namespace_column_wins_for_both() -> None:
    """The provider's target_namespace column (trimmed) wins over every config key."""
    config = {"tekton_target_namespace": "cfg", "system_namespace": "sys"}
    assert installer_namespace(target_namespace=" col ", config=config, provider_tenant=TENANT) == "col"
    assert readiness_namespace(target_namespace=" col ", config=config, provider_tenant=TENANT) == "col"


def test_tekton_target_namespace_is_untrimmed_only_for_the_installer() -> None:
    """The installer takes tekton_target_namespace untrimmed; readiness trims it."""
    config = {"tekton_target_namespace": " cfg "}
    assert installer_namespace(target_namespace=None, config=config, provider_tenant=TENANT) == " cfg "
    assert readiness_namespace(target_namespace=None, config=config, provider_tenant=TENANT) == "cfg"


def test_fallbacks_differ() -> None:
    """With nothing configured and no tenant, the installer uses image-factory-default and readiness ''."""
    assert installer_namespace(target_namespace="", config={}, provider_tenant=NIL) == "image-factory-default"
    assert readiness_namespace(target_namespace="", config={}, provider_tenant=NIL) == ""
    assert (
        installer_namespace(target_namespace=None, config={"system_namespace": " sys "}, provider_tenant=TENANT)
        == "sys"
    )


def test_tenant_fallbacks() -> None:
    """The tenant fallback uses the provider's tenant, else the job's or the scope's."""
    assert tenant_namespace(TENANT) == "image-factory-6f1c2a9e"
    assert (
        installer_namespace(target_namespace=None, config={}, provider_tenant=NIL, job_tenant=TENANT)
        == "image-factory-6f1c2a9e"
    )
    assert (
        readiness_namespace(target_namespace=None, config={}, provider_tenant=None, scope_tenant=TENANT)
        == "image-factory-6f1c2a9e"
    )
