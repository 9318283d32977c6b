"""Adapters chosen by name from the config, plugins included: a Git host and a sync engine from a plugin package.

The plugin package lives in ``tests/plugin_dist`` with its ``.dist-info`` (entry points in the
``gitrollback.adapters`` group); putting that directory on ``sys.path`` installs it for ``importlib.metadata``
in-process, exactly as ``pip install`` would make it visible.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gitrollback import Rollback, parse_config
from gitrollback.adapters import registry
from gitrollback.errors import ConfigError
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.gitlab import GitLabSimulator
from gitrollback.testing.sandbox_gitops import APP, FLUX_NAMESPACE, NAME, OWNER, GitOpsSandbox, build_gitops_sandbox

PLUGINS = Path(__file__).resolve().parents[1] / "plugin_dist"


@pytest.fixture(name="plugins_installed")
def _plugins_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGINS))


@pytest.fixture(name="world")
def _world(tmp_path: Path) -> Iterator[GitOpsSandbox]:
    world = build_gitops_sandbox(
        tmp_path / "w", scm="gitlab", sync="flux", clock=FakeClock(), tick=3.0, poll_interval=5.0
    )
    with world:
        yield world


def _config(world: GitOpsSandbox, *, scm: str, engine: str) -> str:
    data = yaml.safe_load(world.config_text)
    provider = data["providers"][0]
    provider["gitops"]["scm"] = scm
    provider["sync"] = {
        "engine": engine,
        "app": f"{FLUX_NAMESPACE}/{APP}",
        "timeout_seconds": 120,
        "poll_interval_seconds": 5,
    }
    return yaml.safe_dump(data)


def test_plugin_names_are_listed_with_the_built_ins(plugins_installed: None) -> None:
    """The registry knows the plugin's host and sync engine next to the built-in names."""
    assert registry.known_names("sync") == ["argocd", "flux", "none", "flux-rest"]
    assert registry.known_names("host") == ["github", "gitlab", "direct", "gitlab-rest"]


def test_a_plugin_host_and_sync_engine_roll_back_end_to_end(plugins_installed: None, world: GitOpsSandbox) -> None:
    """gitops.scm: gitlab-rest and sync.engine: flux-rest from the config open the MR, wait, sync and verify."""
    world.start_reviewer()
    settings = parse_config(_config(world, scm="gitlab-rest", engine="flux-rest"), source="plugins.yaml")
    with Rollback.from_settings(
        settings, env=world.env, read_file=lambda p: Path(p).read_text(), clock=world.clock
    ) as rb:
        assert type(rb.ports.host).__name__ == "GitLabRestHost" and type(rb.ports.sync).__name__ == "FluxRestEngine"
        report = rb.run()
    assert report.status == "rolled_back", report.error
    assert report.sync is not None and report.sync.engine == "flux-rest"
    assert isinstance(world.host, GitLabSimulator)
    merge_requests = world.host.merge_requests(f"{OWNER}/{NAME}")
    assert [m["state"] for m in merge_requests] == ["merged"]
    assert report.change_request is not None and report.change_request.number == merge_requests[0]["iid"]
    assert world.flux is not None
    applied = world.flux.kustomization(APP)["status"]["lastAppliedRevision"]
    assert applied == f"main@sha1:{report.synced_revision}"
    assert {s.name: s.status.value for s in report.steps}["verify-objects"] == "succeeded"


def test_an_unknown_name_is_a_config_error_listing_the_known_ones(
    plugins_installed: None, world: GitOpsSandbox
) -> None:
    """A sync engine nobody provides fails before anything runs, naming the key and every known engine."""
    settings = parse_config(_config(world, scm="gitlab", engine="fluxx"), source="typo.yaml")
    with pytest.raises(ConfigError) as info:
        Rollback.from_settings(settings, env=world.env, read_file=lambda p: Path(p).read_text(), clock=world.clock)
    assert "no sync adapter named 'fluxx'" in str(info.value)
    assert info.value.key == "providers[sandbox].sync.engine"
    assert info.value.hint is not None and "argocd, flux, none, flux-rest" in info.value.hint
