"""Reversible escalation against the Image Factory simulator: repeated failures revoke the select grants and clear
``is_global`` (only when enabled), and ``access restore`` puts back exactly that, idempotently."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from gitrollback import Rollback, parse_config
from gitrollback.cli import EXIT_OK, EXIT_USAGE, main
from gitrollback.cli.output import Output
from gitrollback.escalation import load_escalations
from gitrollback.models import RunReport
from gitrollback.settings import EscalationSettings, Settings
from gitrollback.testing.sandbox import ADMIN_EMAIL, TOKEN_ENV, SandboxWorld


def read_file(path: str) -> str:
    """The file reader the CLI would pass."""
    return Path(path).read_text(encoding="utf-8")


def _settings(world: SandboxWorld, *, enabled: bool = True, after: int = 2) -> Settings:
    settings = parse_config(world.config_text, source=str(world.config_path))
    return dataclasses.replace(settings, escalation=EscalationSettings(enabled=enabled, after_failures=after))


def _failing_run(world: SandboxWorld, settings: Settings) -> RunReport:
    """A run that fails for good: Image Factory cannot reach the provider's cluster, so validation fails."""
    world.imagefactory.set_cluster_reachable(world.provider_id, False)
    with Rollback.from_settings(settings, env=world.env, read_file=read_file, clock=world.clock) as rb:
        report = rb.run()
    assert report.status == "failed", report.error
    return report


def _grants(world: SandboxWorld) -> dict[str, str]:
    """tenant -> grant id, for the provider's grants (expired ones included)."""
    return {g["tenant_id"]: g["id"] for g in world.imagefactory.grants(world.provider_id)}


def _set_global(world: SandboxWorld, value: bool) -> None:
    sim = world.imagefactory
    with sim.state.cond:
        sim.state.providers[world.provider_id].is_global = value


def _restore(world: SandboxWorld, *extra: str) -> tuple[int, str, str]:
    """``access restore`` through the CLI, with a fresh token (Image Factory's tokens live 15 minutes)."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["access", "restore", "--provider", world.provider_id, "--config", str(world.config_path), *extra]
    env = {**world.env, TOKEN_ENV: world.imagefactory.issue_token(ADMIN_EMAIL)}
    code = main(argv, env=env, output=Output(out, err), clock=world.clock)
    return code, out.getvalue(), err.getvalue()


def test_escalation_and_access_restore_round_trip_exactly(world: SandboxWorld) -> None:
    """Two failures revoke every select grant and clear is_global, recorded; restore re-grants what is still absent
    and unexpired, leaves a re-added grant alone, sets is_global back; a second restore changes nothing."""
    sim = world.imagefactory
    alpha, beta, gamma, delta = (sim.add_tenant(n) for n in ("alpha", "beta", "gamma", "delta"))
    now = world.clock.now()
    sim.add_grant(world.provider_id, alpha)
    sim.add_grant(world.provider_id, beta)
    sim.add_grant(world.provider_id, gamma, expires_at=now + timedelta(minutes=10))
    sim.add_grant(world.provider_id, delta, expires_at=now + timedelta(days=30))
    _set_global(world, True)
    settings = _settings(world)

    first = _failing_run(world, settings)
    assert first.escalation is None and len(_grants(world)) == 4  # one failure: below the threshold

    second = _failing_run(world, settings)
    escalation = second.escalation
    assert escalation is not None and escalation.failed_attempts == 2
    assert sorted(g.tenant_id for g in escalation.revoked) == sorted([alpha, beta, gamma, delta])
    assert escalation.was_global and escalation.cleared_global
    assert _grants(world) == {} and sim.provider(world.provider_id)["is_global"] is False
    assert load_escalations(Path(str(settings.state_dir)), world.provider_id) == [escalation]

    third = _failing_run(world, settings)
    assert third.escalation is None  # in force already: nothing is changed twice

    readded = sim.add_grant(world.provider_id, beta)  # someone gave beta its grant back meanwhile
    world.clock.advance(20 * 60)  # gamma's grant would have expired by now
    code, out, err = _restore(world, "--json")
    assert code == EXIT_OK, err
    result = json.loads(out)
    assert result["already_restored"] is False and result["is_global"] == "restored"
    assert sorted(result["regranted"]) == sorted([alpha, delta])
    assert {item["tenant_id"]: item["reason"] for item in result["left_alone"]} == {
        beta: "granted again meanwhile",
        gamma: f"its grant expired at {now + timedelta(minutes=10):%Y-%m-%d %H:%M:%SZ}",
    }
    assert any(delta in w and "does not expire" in w for w in result["warnings"])
    grants = _grants(world)
    assert set(grants) == {alpha, beta, delta} and grants[beta] == readded
    assert sim.provider(world.provider_id)["is_global"] is True

    code, out, _ = _restore(world, "--json")
    assert code == EXIT_OK and json.loads(out)["already_restored"] is True
    assert _grants(world) == grants and sim.provider(world.provider_id)["is_global"] is True
    code, text, _ = _restore(world)
    assert code == EXIT_OK and "restored already" in text


def test_restore_leaves_is_global_alone_when_someone_set_it_back(world: SandboxWorld) -> None:
    """If is_global was turned on again by hand, restore says so and changes nothing about it."""
    _set_global(world, True)
    settings = _settings(world, after=1)
    assert _failing_run(world, settings).escalation is not None
    _set_global(world, True)
    code, out, _ = _restore(world, "--json")
    assert code == EXIT_OK and json.loads(out)["is_global"] == "already global"


def test_escalation_is_off_by_default(world: SandboxWorld) -> None:
    """Without escalation.enabled, failures change no grant and no is_global; restore finds nothing to do."""
    tenant = world.imagefactory.add_tenant("alpha")
    world.imagefactory.add_grant(world.provider_id, tenant)
    _set_global(world, True)
    settings = _settings(world, enabled=False, after=1)
    for _ in range(2):
        assert _failing_run(world, settings).escalation is None
    assert set(_grants(world)) == {tenant} and world.imagefactory.provider(world.provider_id)["is_global"] is True
    code, _, err = _restore(world)
    assert code == EXIT_USAGE and "no escalation is recorded" in err


def test_the_text_report_says_what_escalation_changed(world: SandboxWorld) -> None:
    """The run's text output lists the revoked tenants, the is_global change, and how to undo it."""
    tenant = world.imagefactory.add_tenant("alpha")
    world.imagefactory.add_grant(world.provider_id, tenant)
    world.imagefactory.set_cluster_reachable(world.provider_id, False)
    config = world.config_path.read_text(encoding="utf-8") + "escalation: {enabled: true, after_failures: 1}\n"
    world.config_path.write_text(config, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["run", "--yes", "--config", str(world.config_path)], env=world.env, output=Output(out, err), clock=world.clock
    )
    text: Any = out.getvalue()
    assert code == 1
    assert f"revoked infrastructure:select grants: {tenant}" in text and "is_global: unchanged (was false)" in text
    assert f"gitrollback access restore --provider {world.provider_id}" in text
