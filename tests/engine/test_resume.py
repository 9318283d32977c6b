"""Runs that stop half-way finish on a rerun: the journal is the source of resume, and without one the branch is.

The two stories of issue 10: a gitops rollback PR merged while gitrollback was not running (with its journal, and
from another machine without it), and an installer-mode run stopped after apply. Plus the journal's own rules: a
torn last line, a different request superseding the unfinished run, results that round-trip through JSON.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback import Rollback, parse_config
from gitrollback.api import gitops_steps, installer_steps
from gitrollback.errors import ConfigError, PreconditionFailedError
from gitrollback.models import StepRecord
from gitrollback.runbook.journal import FileJournal, find_unfinished, read_journal
from gitrollback.runbook.results import Assessed, StepResult, result_from_json, result_json
from gitrollback.settings import Settings
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.sandbox import SandboxWorld
from gitrollback.testing.sandbox_gitops import APP, NAME, OWNER, GitOpsSandbox, build_gitops_sandbox


def read_file(path: str) -> str:
    """The file reader the CLI would pass."""
    return Path(path).read_text(encoding="utf-8")


class StopAt:
    """A progress sink that raises KeyboardInterrupt (Ctrl-C) when ``step`` starts."""

    def __init__(self, step: str) -> None:
        self.step = step

    def step_started(self, name: str, description: str) -> None:
        if name == self.step:
            raise KeyboardInterrupt

    def step_finished(self, record: StepRecord) -> None:
        return None

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        return None


def _rollback(world: SandboxWorld | GitOpsSandbox, settings: Settings | None = None, progress=None) -> Rollback:
    s = settings or parse_config(world.config_text, source=str(world.config_path))
    return Rollback.from_settings(s, env=world.env, read_file=read_file, clock=world.clock, progress=progress)


def _runs(world: SandboxWorld | GitOpsSandbox) -> Path:
    return world.directory / "state" / "runs"


def _before(step: str, steps: list) -> tuple[str, ...]:
    names = [s.name for s in steps]
    return tuple(names[: names.index(step)])


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _versions(world: SandboxWorld) -> dict[tuple[str, str], str]:
    return {
        (rt.plural, obj["metadata"]["name"]): obj["metadata"]["resourceVersion"]
        for rt in world.cluster.types
        for obj in world.cluster.list(rt, world.namespace)
        if rt.plural not in ("pipelineruns", "leases")  # a build's runs; the run lock, renewed by every run
    }


def test_installer_run_stopped_after_apply_finishes_on_a_rerun(world: SandboxWorld, tmp_path: Path) -> None:
    """Ctrl-C after apply leaves a provider that reads ready; the rerun does not say "nothing to roll back": it
    resumes at validate, does not apply again, and validates, builds and writes the notes."""
    with _rollback(world, progress=StopAt("validate")) as rb, pytest.raises(KeyboardInterrupt):
        rb.run()
    view = find_unfinished(_runs(world), world.provider_id)
    assert view is not None and view.interrupted_in == "validate" and view.last_step == "prune"
    applied = _versions(world)
    with _rollback(world) as rb:
        assessment = rb.assess()
        assert assessment.verdict == "resume" and assessment.unfinished_run == view.run_id
        assert "rolling back again resumes it" in assessment.advice and "gitrollback" not in assessment.advice
        report = rb.run(notes=tmp_path / "notes.md")
    assert report.status == "rolled_back", report.error
    assert report.run_id == view.run_id and report.resumed == _before("validate", installer_steps())
    assert _versions(world) == applied, "nothing was applied again"
    validate = [j for j in world.imagefactory.jobs(world.provider_id) if j["operation"] == "validate"]
    assert [j["status"] for j in validate] == ["succeeded"] and len(world.imagefactory.builds()) == 1
    assert (tmp_path / "notes.md").read_text().startswith("## Tekton rollback")
    with _rollback(world) as rb:
        assert rb.assess().verdict == "healthy" and rb.unfinished_run() is None


def test_validate_job_started_before_a_stop_is_followed_not_started_again(world: SandboxWorld) -> None:
    """A run stopped while the validate job runs resumes by waiting for that job (its id is in the journal)."""

    class StopWhileWaiting(StopAt):
        def waiting(self, what: str, elapsed: float, state: str) -> None:
            if what.startswith("installer job"):
                raise KeyboardInterrupt

    with _rollback(world, progress=StopWhileWaiting("none")) as rb, pytest.raises(KeyboardInterrupt):
        rb.run()
    started = [j["id"] for j in world.imagefactory.jobs(world.provider_id) if j["operation"] == "validate"]
    with _rollback(world) as rb:
        report = rb.run()
    assert report.status == "rolled_back", report.error
    validate = [j["id"] for j in world.imagefactory.jobs(world.provider_id) if j["operation"] == "validate"]
    assert validate == started and len(started) == 1
    assert f"validate job {started[0]} succeeded" in next(r.detail for r in report.steps if r.name == "validate")


@pytest.fixture(name="gitops")
def _gitops(tmp_path: Path) -> Iterator[GitOpsSandbox]:
    with build_gitops_sandbox(tmp_path / "g", scm="github", clock=FakeClock(), tick=3.0, poll_interval=5.0) as w:
        yield w


def _no_waiting(world: GitOpsSandbox) -> Settings:
    settings = parse_config(world.config_text, source=str(world.config_path))
    p = settings.providers[0]
    assert p.gitops is not None
    p = dataclasses.replace(p, gitops=dataclasses.replace(p.gitops, wait_for_merge=False))
    return dataclasses.replace(settings, providers=(p,))


def _open_then_merge_while_away(world: GitOpsSandbox) -> str:
    """A first run opens the PR and stops at merge (nobody merges in time); then a person merges it."""
    with _rollback(world, _no_waiting(world)) as rb:
        first = rb.run()
    assert first.status == "failed" and first.error_kind == "merge_required" and first.change_request is not None
    assert isinstance(world.host, GitHubSimulator)
    world.clock.advance(10)  # the host computes mergeability in the background
    return world.host.merge_pull(OWNER, NAME, first.change_request.number)


def _assert_synced_and_verified(world: GitOpsSandbox, merge: str) -> None:
    app = world.argocd.app(APP)["status"]
    assert (app["sync"]["status"], app["health"]["status"], app["sync"]["revision"]) == ("Synced", "Healthy", merge)
    assert _git(world.remote, "rev-parse", "main") == merge
    assert [b["status"] for b in world.imagefactory.builds()] == ["completed"]
    assert isinstance(world.host, GitHubSimulator) and len(world.host.pulls(OWNER, NAME)) == 1
    assert len(_git(world.remote, "tag", "--list", "gitrollback/verified/*").split()) == 1


def test_gitops_pr_merged_while_away_is_synced_and_verified_on_a_rerun(gitops: GitOpsSandbox) -> None:
    """With the journal: the rerun resumes at merge, sees the PR merged, syncs Argo CD to the merge and verifies."""
    merge = _open_then_merge_while_away(gitops)
    with _rollback(gitops) as rb:
        assert rb.assess().verdict == "resume"
        report = rb.run()
    assert report.status == "rolled_back", report.error
    assert report.resumed == _before("merge", gitops_steps())
    assert report.synced_revision == merge
    _assert_synced_and_verified(gitops, merge)


def test_gitops_pr_merged_while_away_without_a_journal_is_synced_and_verified(gitops: GitOpsSandbox) -> None:
    """From another machine (no journal): the branch already carries gitrollback's rollback for this provider, so
    the run syncs and verifies it instead of refusing with "nothing to roll back", even with --force."""
    merge = _open_then_merge_while_away(gitops)
    shutil.rmtree(_runs(gitops))
    with _rollback(gitops) as rb:
        assert rb.assess().verdict == "rollback"
        report = rb.run(force=True)
    assert report.status == "rolled_back", report.error
    assert report.resumed == () and report.known_good is not None and report.known_good.source == "existing-rollback"
    assert report.rollback_commit == merge and report.synced_revision == merge
    commit = next(r for r in report.steps if r.name == "commit")
    assert "already carries the known-good trees" in commit.detail
    _assert_synced_and_verified(gitops, merge)
    with _rollback(gitops) as rb:
        again = rb.run()
    assert again.status == "refused" and again.error_kind == "nothing_to_roll_back"


def test_results_round_trip_through_json(gitops: GitOpsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every result a gitops run produces reads back from its JSON form equal to itself (the provider's config map,
    which holds credentials, is never written: it reads back empty)."""
    produced: list[StepResult] = []
    original = FileJournal.result

    def recording(self, step, result, record, *, mutates, recheck=False):  # type: ignore[no-untyped-def]
        produced.append(result)
        original(self, step, result, record, mutates=mutates, recheck=recheck)

    monkeypatch.setattr(FileJournal, "result", recording)
    gitops.start_reviewer()
    with _rollback(gitops) as rb:
        assert rb.run().status == "rolled_back"
    assert len(produced) == len(gitops_steps())
    for result in produced:
        expected = result
        if isinstance(result, Assessed):
            expected = dataclasses.replace(result, provider=dataclasses.replace(result.provider, config={}))
        assert result_from_json(json.loads(json.dumps(result_json(result)))) == expected


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_write(world: SandboxWorld) -> None:
    """A kill in the middle of a journal write leaves half a line: reading ignores it and resuming goes on."""
    with _rollback(world, progress=StopAt("readiness")) as rb, pytest.raises(KeyboardInterrupt):
        rb.run(run_id="torn")
    path = _runs(world) / world.provider_id / "torn.jsonl"
    with path.open("ab") as fh:
        fh.write(b'{"event": "result", "step": "readi')
    view = read_journal(path)
    assert view.resumable and view.notes == ("ignored a torn last line (34 bytes)",)
    with _rollback(world) as rb:
        report = rb.run()
    assert report.status == "rolled_back" and report.run_id == "torn"
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_another_request_supersedes_the_unfinished_run_and_resume_checks_its_id(world: SandboxWorld) -> None:
    """A rerun naming another revision starts a new run (the old one is marked superseded); --resume with an
    unknown or finished run id is refused with a kind."""
    with _rollback(world, progress=StopAt("validate")) as rb, pytest.raises(KeyboardInterrupt):
        rb.run(run_id="first")
    with _rollback(world) as rb:
        with pytest.raises(ConfigError) as unknown:
            rb.run(resume="nope")
        assert unknown.value.kind == "unknown_run"
        report = rb.run(to=world.repo.good, force=True)
        assert report.status == "rolled_back" and report.run_id != "first" and report.resumed == ()
        assert read_journal(_runs(world) / world.provider_id / "first.jsonl").ended == "superseded"
        with pytest.raises(PreconditionFailedError) as finished:
            rb.run(resume=report.run_id)
        assert finished.value.kind == "run_finished"


def _kaniko_build(world: SandboxWorld) -> dict | None:
    rt = world.cluster.type_for("tekton.dev/v1", "Task")
    assert rt is not None
    return world.cluster.get(rt, world.namespace, "kaniko-build")


def test_a_resume_before_prune_takes_the_dry_run_again_and_spares_what_someone_replaced(world: SandboxWorld) -> None:
    """Stopped after apply with --prune; meanwhile someone replaces the bad revision's Task with their own. The
    resumed run takes the dry run again (journaled as a recheck), so the prune leaves that object alone instead of
    acting on the stale plan; apply is not repeated."""
    with _rollback(world, progress=StopAt("prune")) as rb, pytest.raises(KeyboardInterrupt):
        rb.run(prune=True, run_id="moved")
    old = _kaniko_build(world)
    assert old is not None
    rt = world.cluster.type_for("tekton.dev/v1", "Task")
    assert rt is not None
    world.cluster.delete(rt, world.namespace, "kaniko-build")
    mine = {**old, "metadata": {"name": "kaniko-build", "namespace": world.namespace}}
    world.cluster.apply(mine, namespace=world.namespace, manager="kubectl", force=True)
    applied = _versions(world)
    with _rollback(world) as rb:
        plan = rb.plan()
        assert plan.resumes == "moved" and plan.changes is not None
        assert [(c.ref, c.action) for c in plan.changes.added] == [("Task/kaniko-build", "keep")]
        report = rb.run()
    assert report.status == "rolled_back", report.error
    assert report.resumed == (*_before("dry-run", installer_steps()), "apply") and report.pruned == ()
    now = _kaniko_build(world)
    assert now is not None and now["metadata"]["uid"] != old["metadata"]["uid"]
    assert _versions(world) == applied, "nothing was applied again and nothing deleted"
    events = [json.loads(line) for line in (_runs(world) / world.provider_id / "moved.jsonl").read_text().splitlines()]
    dry_runs = [e for e in events if e["event"] == "result" and e["step"] == "dry-run"]
    assert [e.get("recheck", False) for e in dry_runs] == [False, True]


def test_a_prune_stopped_after_a_delete_is_not_repeated_and_reports_what_went(world: SandboxWorld) -> None:
    """Killed after the API server deleted the Task but before the prune's result was journaled: the rerun finds it
    gone (the object it was deleting, per its checkpoint), reports it as pruned, and deletes nothing else."""
    with _rollback(world) as rb:
        cluster = rb.ports.cluster
        assert cluster is not None
        original = cluster.delete

        def delete_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
            original(*args, **kwargs)
            raise KeyboardInterrupt

        cluster.delete = delete_then_die  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            rb.run(prune=True, run_id="half")
    assert _kaniko_build(world) is None
    view = read_journal(_runs(world) / world.provider_id / "half.jsonl")
    assert view.interrupted_in == "prune" and view.resumable and view.prune is True
    with _rollback(world) as rb:
        report = rb.run()
    assert report.status == "rolled_back", report.error
    assert report.run_id == "half" and report.pruned == ("Task/kaniko-build",)
    assert report.resumed == (*_before("dry-run", installer_steps()), "apply")
    prune = next(r for r in report.steps if r.name == "prune")
    assert prune.status.value == "succeeded" and "Task/kaniko-build" in prune.detail
