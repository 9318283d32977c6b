"""Runs against a sandbox as strict as the real Image Factory: the readiness watcher between steps, smoke-build
refusals, and a static token that expires before (or during) the run. Through the public API, on a FakeClock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from gitrollback import Rollback, parse_config
from gitrollback.models import StepRecord, StepStatus
from gitrollback.settings import Settings
from gitrollback.testing.sandbox import WATCHER_INTERVAL, SandboxWorld


def read_file(path: str) -> str:
    """The file reader the CLI would pass."""
    return Path(path).read_text(encoding="utf-8")


class AfterStep:
    """A progress sink that does something to the world when a given step has finished."""

    def __init__(self, step: str, action: Callable[[], None]) -> None:
        self.step, self.action = step, action

    def step_started(self, name: str, description: str) -> None:
        """Nothing to do when a step starts."""

    def step_finished(self, record: StepRecord) -> None:
        """Run the action once the step is done."""
        if record.name == self.step:
            self.action()

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        """Nothing to do while waiting."""


def _settings(world: SandboxWorld) -> Settings:
    return parse_config(world.config_text, source=str(world.config_path))


def _rollback(world: SandboxWorld, settings: Settings | None = None, progress: AfterStep | None = None) -> Rollback:
    return Rollback.from_settings(
        settings or _settings(world), env=world.env, read_file=read_file, clock=world.clock, progress=progress
    )


def _with_smoke_timeout(settings: Settings, seconds: float) -> Settings:
    p = settings.providers[0]
    assert p.smoke_build is not None
    smoke = dataclasses.replace(p.smoke_build, timeout=seconds)
    return dataclasses.replace(settings, providers=(dataclasses.replace(p, smoke_build=smoke),))


def test_a_watcher_flip_before_the_smoke_build_is_reported_clearly(world: SandboxWorld) -> None:
    """A Pipeline vanishes after verify-objects and the watcher's next pass takes the provider offline: the
    smoke build is not attempted and the run says the provider flipped, and what the watcher found missing."""
    pipelines = world.cluster.type_for("tekton.dev/v1", "Pipeline")
    assert pipelines is not None

    def drift() -> None:
        world.cluster.delete(pipelines, world.namespace, "image-factory-build-v1-packer")
        world.clock.advance(WATCHER_INTERVAL)

    with _rollback(world, progress=AfterStep("verify-objects", drift)) as rb:
        report = rb.run()
    assert report.status == "failed"
    assert report.error_kind == "readiness_flipped"
    smoke = next(r for r in report.steps if r.name == "smoke-build")
    assert smoke.status is StepStatus.FAILED
    assert "flipped to offline before the smoke build" in smoke.detail
    assert f"missing tekton pipeline: image-factory-build-v1-packer in namespace {world.namespace}" in smoke.detail
    assert report.error is not None and "background readiness watcher" in report.error
    assert world.imagefactory.builds() == []


def test_the_watcher_leaves_a_good_rollback_alone(world: SandboxWorld) -> None:
    """With the watcher passing between every step, a correct rollback stays online and the smoke build runs."""
    with _rollback(world, progress=AfterStep("readiness", lambda: world.clock.advance(WATCHER_INTERVAL))) as rb:
        report = rb.run()
    assert report.status == "rolled_back", report.error
    assert [b["status"] for b in world.imagefactory.builds()] == ["completed"]


def test_a_smoke_build_refusal_names_the_setting(world: SandboxWorld) -> None:
    """Without a registry auth for the kaniko push, the smoke build is refused and the run names the setting."""
    world.imagefactory.state.registry_auths.clear()
    with _rollback(world) as rb:
        report = rb.run()
    assert report.status == "failed"
    assert report.error_kind == "build_registry_auth_missing"
    assert report.error is not None and "smoke_build.manifest.build_config.registry_auth_id" in report.error
    assert world.imagefactory.builds() == []


def test_a_token_that_expires_before_the_waits_end_is_a_warning(world: SandboxWorld) -> None:
    """A static token shorter-lived than the run's wait budget (60 s validate + 1800 s smoke build) is named in
    assess, and the run goes on."""
    settings = _with_smoke_timeout(_settings(world), 1800)
    with _rollback(world, settings) as rb:
        report = rb.run()
    assert report.status == "rolled_back", report.error
    assess = report.steps[0]
    assert "warning: the Image Factory token expires at" in assess.detail
    assert "before the run's waits could end (31 min)" in assess.detail


def test_strict_refuses_a_token_that_expires_before_the_waits_end(world: SandboxWorld) -> None:
    """With strict the same finding refuses the run before anything changes."""
    settings = _with_smoke_timeout(_settings(world), 1800)
    jobs = len(world.imagefactory.jobs(world.provider_id))
    with _rollback(world, settings) as rb:
        report = rb.run(strict=True)
    assert (report.status, report.error_kind) == ("refused", "token_expires_too_soon")
    assert len(world.imagefactory.jobs(world.provider_id)) == jobs
    assert all(r.status is StepStatus.SKIPPED for r in report.steps[1:-1])


def test_a_token_that_expires_mid_run_fails_the_next_call_saying_so(world: SandboxWorld) -> None:
    """When the static token expires during the run, the next Image Factory call fails as token_expired."""
    with _rollback(world, progress=AfterStep("apply", lambda: world.clock.advance(15 * 60))) as rb:
        report = rb.run()
    assert (report.status, report.error_kind) == ("failed", "token_expired")
    validate = next(r for r in report.steps if r.name == "validate")
    assert validate.status is StepStatus.FAILED and "the access token expired at" in validate.detail
