"""Adapter selection by name, with entry points for third-party adapters."""

from __future__ import annotations

import pytest

from gitrollback.adapters import registry
from gitrollback.errors import ConfigError


def test_builtin_factories_are_found() -> None:
    """The built-in names resolve to callables without importing their libraries yet."""
    assert callable(registry.cluster_factory("lightkube"))
    assert callable(registry.imagefactory_factory("httpx"))
    assert callable(registry.asset_source_factory("git"))


def test_unknown_adapter_names_the_available_ones() -> None:
    """An unknown cluster adapter is a ConfigError listing what is available and how plugins register."""
    with pytest.raises(ConfigError, match="no cluster adapter named 'kubectl'") as info:
        registry.cluster_factory("kubectl")
    assert info.value.hint is not None and "lightkube" in info.value.hint and "cluster:<name>" in info.value.hint


def test_entry_points_are_consulted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin registered as 'cluster:fake' in the gitrollback.adapters group is returned."""

    class FakeEntryPoint:
        name = "cluster:fake"

        @staticmethod
        def load() -> object:
            return sentinel

    def sentinel() -> None:
        return None

    def fake_entry_points(group: str) -> list[FakeEntryPoint]:
        return [FakeEntryPoint()] if group == "gitrollback.adapters" else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    assert registry.cluster_factory("fake") is sentinel


def test_every_port_has_a_config_key_and_flux_is_a_built_in_sync_engine() -> None:
    """Flux resolves by name; every port names the config key that selects it, for error messages."""
    assert callable(registry.sync_factory("flux"))
    assert registry.known_names("sync")[:3] == ["argocd", "flux", "none"]
    assert set(registry.CONFIG_KEYS) == {"imagefactory", "cluster", "assets", "workspace", "host", "sync"}
    with pytest.raises(ConfigError, match="no host adapter named 'gitea'") as info:
        registry.host_factory("gitea", key="providers[prod].gitops.scm")
    assert info.value.key == "providers[prod].gitops.scm"
