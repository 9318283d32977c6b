"""The image_factory_installer runbook end to end, through the public API, against the sandbox world."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gitrollback import Rollback, parse_config
from gitrollback.errors import PreconditionFailedError
from gitrollback.locking import ProviderLock
from gitrollback.models import RunReport, StepStatus
from gitrollback.runbook.journal import read_journal
from gitrollback.runbook.results import Validated
from gitrollback.settings import Settings
from gitrollback.testing.sandbox import SandboxWorld

INSTALLER = "image-factory-tekton-installer"


def read_file(path: str) -> str:
    """The file reader the CLI would pass."""
    return Path(path).read_text(encoding="utf-8")


def _settings(world: SandboxWorld) -> Settings:
    return parse_config(world.config_text, source=str(world.config_path))


def _rollback(world: SandboxWorld, settings: Settings | None = None) -> Rollback:
    return Rollback.from_settings(settings or _settings(world), env=world.env, read_file=read_file, clock=world.clock)


def _names(world: SandboxWorld, kind: str) -> set[str]:
    rt = world.cluster.type_for("tekton.dev/v1", kind)
    assert rt is not None
    return {o["metadata"]["name"] for o in world.cluster.list(rt, world.namespace)}


def _versions(world: SandboxWorld) -> dict[tuple[str, str], str]:
    """Every object's resourceVersion, except the run lock's own Lease (every run writes it)."""
    out = {}
    for rt in world.cluster.types:
        if rt.kind == "Lease":
            continue
        for obj in world.cluster.list(rt, None):
            out[(rt.plural, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    return out


def test_assess_reports_the_failed_upgrade_and_advises_rollback(world: SandboxWorld) -> None:
    """assess finds the failed job with its exact error and the readiness messages, and advises a rollback."""
    with _rollback(world) as rb:
        a = rb.assess()
    assert a.verdict == "rollback"
    assert a.failed_job is not None and a.failed_job.id == world.failed_job_id
    assert a.failed_job.error.startswith("failed to apply Deployment/image-factory-registry from ")
    assert a.failed_job.error.endswith(
        'Deployment.apps "image-factory-registry" is invalid: spec.selector: Required value'
    )
    assert f"missing tekton task: kaniko-no-push in namespace {world.namespace}" in a.missing_prereqs
    assert f"missing tekton pipeline: image-factory-build-v1-kaniko in namespace {world.namespace}" in a.missing_prereqs
    assert a.target_namespace == world.namespace


def test_run_restores_verifies_and_writes_incident_notes(world: SandboxWorld) -> None:
    """run applies the v0.3.0 tree, validates, reads readiness, runs a smoke build and records every step."""
    assert "kaniko-no-push" not in _names(world, "Task")
    with _rollback(world) as rb:
        report = rb.run()
    assert report.status == "rolled_back", report.error
    assert report.known_good is not None and report.known_good.revision == world.repo.good
    assert report.known_good.bad_revision == world.repo.bad
    assert [r.name for r in report.steps] == [
        "assess",
        "known-good",
        "render",
        "preflight",
        "dry-run",
        "apply",
        "prune",
        "validate",
        "readiness",
        "verify-objects",
        "smoke-build",
        "no-active-job",
        "incident",
    ]
    assert all(r.status is StepStatus.SUCCEEDED for r in report.steps if r.name != "prune")
    prune = next(r for r in report.steps if r.name == "prune")
    assert prune.status is StepStatus.SKIPPED and "prune is off" in prune.detail
    assert report.pruned == () and _names(world, "Task") >= {"kaniko-build"}
    tasks, pipelines = _names(world, "Task"), _names(world, "Pipeline")
    assert {"kaniko-no-push", "packer", "git-clone"} <= tasks
    assert {"image-factory-build-v1-kaniko", "image-factory-quarantine-release-promote-v1"} <= pipelines
    rt = world.cluster.type_for("tekton.dev/v1", "Task")
    assert rt is not None
    task = world.cluster.get(rt, world.namespace, "kaniko-no-push")
    assert task is not None
    assert {m["manager"] for m in task["metadata"]["managedFields"]} == {INSTALLER}
    provider = world.imagefactory.provider(world.provider_id)
    assert provider["status"] == "online" and provider["readiness_status"] == "ready"
    builds = world.imagefactory.builds()
    assert [b["status"] for b in builds] == ["completed"]
    assert report.incident is not None
    assert "v0.4.0" in report.incident.failed_version and "v0.3.0" in report.incident.restored_version
    assert "spec.selector: Required value" in report.incident.root_cause
    assert any("Task/kaniko-build" in item for item in report.incident.follow_up)


def test_rerun_after_success_is_refused_and_changes_nothing(world: SandboxWorld) -> None:
    """A second run after a verified rollback finds nothing to roll back and touches nothing."""
    with _rollback(world) as rb:
        assert rb.run().status == "rolled_back"
        before, jobs = _versions(world), len(world.imagefactory.jobs(world.provider_id))
        again = rb.run()
    assert again.status == "refused"
    assert again.error is not None and "nothing to roll back" in again.error
    assert _versions(world) == before
    assert len(world.imagefactory.jobs(world.provider_id)) == jobs


def test_plan_changes_nothing_and_names_the_targets(world: SandboxWorld) -> None:
    """plan resolves the revision and lists all 26 objects without writing anything anywhere."""
    before = _versions(world)
    provider_before = world.imagefactory.provider(world.provider_id)
    with _rollback(world) as rb:
        plan = rb.plan()
    assert plan.known_good.revision == world.repo.good
    assert len(plan.manifests) == 26
    apply_step = next(s for s in plan.steps if s.name == "apply")
    assert apply_step.mutates and f"Task/kaniko-no-push -> {world.namespace}" in apply_step.targets
    assert _versions(world) == before
    after = world.imagefactory.provider(world.provider_id)
    assert after["status"] == provider_before["status"] == "offline"
    assert after["readiness_last_checked"] == provider_before["readiness_last_checked"]


def test_active_job_refuses_before_anything_changes(world: SandboxWorld) -> None:
    """A running installer job makes the run refuse, name the job, and change nothing."""
    job = world.imagefactory.seed_job(world.provider_id, operation="upgrade", status="running")
    before = _versions(world)
    with _rollback(world) as rb:
        report = rb.run()
    assert report.status == "refused"
    assert report.error is not None and job in report.error and "running" in report.error
    assert [r.status for r in report.steps[1:-1]] == [StepStatus.SKIPPED] * 11
    assert _versions(world) == before


def test_explicit_revision_is_used(world: SandboxWorld) -> None:
    """--to v0.1.0 rolls back to that tag's commit and says the source is explicit."""
    with _rollback(world) as rb:
        report = rb.run(to="v0.1.0")
    assert report.status == "rolled_back", report.error
    assert report.known_good is not None
    assert report.known_good.revision == world.repo.release_tags["v0.1.0"]
    assert report.known_good.source == "explicit"


def test_wrong_namespace_in_config_is_refused(world: SandboxWorld) -> None:
    """A cluster.namespace that differs from where Image Factory installs is refused with both names."""
    settings = _settings(world)
    p = settings.providers[0]
    bad = dataclasses.replace(
        settings,
        providers=(dataclasses.replace(p, cluster=dataclasses.replace(p.cluster, namespace="tekton-elsewhere")),),
    )
    with _rollback(world, bad) as rb:
        report = rb.run()
    assert report.status == "refused"
    assert report.error is not None and "tekton-elsewhere" in report.error and world.namespace in report.error


class _RotateTokenAt:
    """A progress sink that rotates the cluster's token as one step starts (after the pre-flight check passed)."""

    def __init__(self, world: SandboxWorld, step: str) -> None:
        self.world, self.step = world, step

    def step_started(self, name: str, description: str) -> None:
        if name == self.step:
            self.world.kube.token = "rotated-token"

    def step_finished(self, record: object) -> None:
        return None

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        return None


def _rotating_run(world: SandboxWorld, step: str) -> RunReport:
    """A run whose cluster token is rotated as ``step`` starts."""
    with Rollback.from_settings(
        _settings(world), env=world.env, read_file=read_file, clock=world.clock, progress=_RotateTokenAt(world, step)
    ) as rb:
        return rb.run()


def test_refused_credentials_fail_the_dry_run_before_anything_is_written(world: SandboxWorld) -> None:
    """When the cluster refuses the credentials at the dry run (rotated after the pre-flight), the run fails there
    with the 401 and writes nothing."""
    before = _versions(world)
    report = _rotating_run(world, "dry-run")
    assert report.status == "failed"
    dry_run = next(r for r in report.steps if r.name == "dry-run")
    # the 401's Status reason is what the detail carries (the code itself is not in it)
    assert dry_run.status is StepStatus.FAILED
    assert dry_run.detail == f"kubernetes get Namespace/{world.namespace}: Unauthorized"
    assert all(r.status is StepStatus.SKIPPED for r in report.steps if r.name in ("apply", "validate", "smoke-build"))
    assert report.incident is not None and "NOT applied" in report.incident.restored_version
    assert _versions(world) == before


def test_apply_failure_stops_and_reports_what_went_in(world: SandboxWorld) -> None:
    """When the cluster refuses the credentials at apply (rotated after the pre-flight and the dry run), the run
    fails there with the API server's 401 and skips the rest."""
    before = _versions(world)
    report = _rotating_run(world, "apply")
    assert report.status == "failed"
    apply = next(r for r in report.steps if r.name == "apply")
    assert apply.status is StepStatus.FAILED
    assert apply.detail == f"kubernetes get Namespace/{world.namespace}: Unauthorized"
    assert next(r for r in report.steps if r.name == "dry-run").status is StepStatus.SUCCEEDED
    assert all(r.status is StepStatus.SKIPPED for r in report.steps if r.name in ("prune", "validate", "smoke-build"))
    assert report.incident is not None and "NOT applied" in report.incident.restored_version
    assert _versions(world) == before


def test_apply_stops_at_the_first_failure_and_says_what_went_in(world: SandboxWorld) -> None:
    """Credentials revoked half-way through the apply: the run stops, names the object and lists what went in."""
    settings = _settings(world)
    p = settings.providers[0]
    serial = dataclasses.replace(p, cluster=dataclasses.replace(p.cluster, apply_parallelism=1))
    with _rollback(world, dataclasses.replace(settings, providers=(serial,))) as rb:
        cluster = rb.ports.cluster
        real_apply = cluster.apply
        written: list[str] = []

        def apply(manifest, **options):  # revoke the token once five objects have really gone in
            result = real_apply(manifest, **options)
            if not options.get("dry_run"):
                written.append(manifest.ref)
                if len(written) == 5:
                    world.kube.token = "rotated-token"
            return result

        cluster.apply = apply  # type: ignore[method-assign]
        report = rb.run()
    assert report.status == "failed"
    step = next(r for r in report.steps if r.name == "apply")
    assert step.status is StepStatus.FAILED and "Unauthorized" in step.detail
    assert "5 of 26 objects applied before it stopped" in step.detail
    assert all(ref in step.detail for ref in written)
    assert written[:2] == ["ServiceAccount/tekton-history-cleanup", "Role/tekton-history-cleanup"]  # RBAC first
    sa = world.cluster.type_for("v1", "ServiceAccount")
    assert sa is not None and world.cluster.get(sa, world.namespace, "tekton-history-cleanup") is not None
    assert "kaniko-no-push" not in _names(world, "Task") and _names(world, "Pipeline") == set()


def test_verification_failure_is_reported(world: SandboxWorld) -> None:
    """A required task the known-good tree does not define fails verification with its name."""
    settings = _settings(world)
    p = settings.providers[0]
    verify = dataclasses.replace(p.verify, required_tasks=(*p.verify.required_tasks, "cosign-verify"))
    changed = dataclasses.replace(settings, providers=(dataclasses.replace(p, verify=verify),))
    with _rollback(world, changed) as rb:
        report = rb.run()
    assert report.status == "failed"
    step = next(r for r in report.steps if r.name == "verify-objects")
    assert step.status is StepStatus.FAILED and "Task/cosign-verify" in step.detail


def test_one_run_per_provider(world: SandboxWorld) -> None:
    """While another process holds the provider's lock, run refuses and says who holds it."""
    settings = _settings(world)
    assert settings.state_dir is not None
    with (
        ProviderLock(Path(settings.state_dir) / "locks", world.provider_id),
        _rollback(world) as rb,
        pytest.raises(PreconditionFailedError, match="another gitrollback run"),
    ):
        rb.run()


def test_journal_records_each_result_and_reads_back(world: SandboxWorld) -> None:
    """The journal holds a start, each step's typed result (job and build ids before their waits) and the end, and
    reading it back gives the same results and records."""
    settings = _settings(world)
    assert settings.state_dir is not None
    with _rollback(world) as rb:
        report = rb.run(run_id="journal-test")
    journal = Path(settings.state_dir) / "runs" / world.provider_id / "journal-test.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and events[-1]["status"] == "rolled_back"
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == ["validate", "smoke-build"]
    assert kinds.index("checkpoint") < kinds.index("result", kinds.index("checkpoint"))
    view = read_journal(journal)
    assert not view.resumable and view.ended == "rolled_back"
    assert list(view.prior.done) == [r.name for r in report.steps[:-1]]
    assert tuple(record for _, record in view.prior.done.values()) == report.steps[:-1]
    validated = view.prior.done["validate"][0]
    assert isinstance(validated, Validated) and validated.job.status == "succeeded"
