"""One run per provider across machines: the Lease (installer and gitops with a cluster) and the rollback branch
(gitops without cluster access), end to end through the public API and the CLI against the sandbox worlds.

A "second machine" is a second run with its own state directory (its own home), started while the first holds the
lock: from a progress hook of the first, so the interleaving is exact and the clock stays simulated.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitrollback import Rollback, parse_config
from gitrollback.cli import EXIT_REFUSED, main
from gitrollback.cli.output import Output
from gitrollback.errors import PreconditionFailedError
from gitrollback.models import RunReport, StepRecord, StepStatus
from gitrollback.run_lock import lease_name
from gitrollback.settings import ClusterSettings, LockSettings, Settings
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.sandbox import SandboxWorld, build_sandbox
from gitrollback.testing.sandbox_gitops import NAME, OWNER, GitOpsSandbox, build_gitops_sandbox


def read_file(path: str) -> str:
    """The file reader the CLI would pass."""
    return Path(path).read_text(encoding="utf-8")


class OnStep:
    """A progress sink that calls ``action`` once, as the step ``name`` starts."""

    def __init__(self, name: str, action: Callable[[], Any]) -> None:
        self.name, self.action, self.done = name, action, False

    def step_started(self, name: str, description: str) -> None:
        if name == self.name and not self.done:
            self.done = True
            self.action()

    def step_finished(self, record: StepRecord) -> None:
        return None

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        return None


def _settings(config_text: str, source: Path, state_dir: Path | None, **changes: Any) -> Settings:
    settings = parse_config(config_text, source=str(source))
    return dataclasses.replace(settings, state_dir=str(state_dir) if state_dir else None, **changes)


def _lease(world: SandboxWorld | GitOpsSandbox) -> dict[str, Any] | None:
    rt = world.cluster.type_for("coordination.k8s.io/v1", "Lease")
    assert rt is not None
    return world.cluster.get(rt, world.namespace, lease_name(world.provider_id))


def _config_without_state_dir(world: SandboxWorld, directory: Path) -> Path:
    """The world's config with no state_dir, so the CLI puts its state under $HOME (as on a person's machine)."""
    lines = world.config_text.splitlines()
    kept, skip = [], False
    for line in lines:
        if line.startswith("state_dir:"):
            skip = True
            continue
        if skip and line.startswith(" "):
            continue
        skip = False
        kept.append(line)
    path = directory / "gitrollback.yaml"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def test_two_runs_with_separate_homes_exactly_one_proceeds(world: SandboxWorld, tmp_path: Path) -> None:
    """While run A applies, run B (CLI, another $HOME so another state dir) exits 3 naming A; only A's work exists."""
    config = _config_without_state_dir(world, tmp_path)
    second: dict[str, Any] = {}

    def start_b() -> None:
        out, err = io.StringIO(), io.StringIO()
        env = {**world.env, "HOME": str(tmp_path / "home-b")}
        argv = ["run", "--yes", "--config", str(config)]
        second["code"] = main(argv, env=env, output=Output(out, err), clock=world.clock)
        second["err"] = err.getvalue()

    settings_a = _settings(world.config_text, world.config_path, tmp_path / "home-a" / ".cache" / "gitrollback")
    with Rollback.from_settings(
        settings_a, env=world.env, read_file=read_file, clock=world.clock, progress=OnStep("apply", start_b)
    ) as rb:
        report = rb.run(run_id="run-a")
    assert report.status == "rolled_back", report.error
    assert second["code"] == EXIT_REFUSED
    assert "another gitrollback run holds provider" in second["err"]
    assert "run run-a on " in second["err"] and "since 2026-03-28 00:00:" in second["err"]
    assert len(world.imagefactory.builds()) == 1  # exactly one smoke build: B did nothing
    validates = [j for j in world.imagefactory.jobs(world.provider_id) if j.get("operation") == "validate"]
    assert len(validates) == 1
    lease = _lease(world)
    assert lease is not None and lease["spec"]["holderIdentity"] == ""  # released at the end


def test_the_lease_never_lapses_during_long_waits(tmp_path: Path) -> None:
    """With a 10 s lease and waits many times longer (25 s dispatcher ticks), the Lease is valid at every second."""
    with build_sandbox(tmp_path / "world", clock=FakeClock(), tick=25.0, poll_interval=2.0) as world:
        settings = _settings(world.config_text, world.config_path, tmp_path / "state", lock=LockSettings(10))
        samples: list[tuple[float, bool]] = []

        def sample() -> None:
            lease = _lease(world)
            if lease is None or not lease["spec"]["holderIdentity"]:
                return
            spec = lease["spec"]
            renewed = spec["renewTime"].replace("Z", "+00:00")
            expires = datetime.fromisoformat(renewed) + timedelta(seconds=spec["leaseDurationSeconds"])
            samples.append((world.clock.monotonic(), expires > world.clock.now()))

        timer = world.clock.every(1.0, sample)
        start = world.clock.monotonic()
        with Rollback.from_settings(settings, env=world.env, read_file=read_file, clock=world.clock) as rb:
            report = rb.run()
        timer.cancel()
    assert report.status == "rolled_back", report.error
    assert world.clock.monotonic() - start > 50  # five lease durations of waiting, and more
    assert len(samples) > 50 and all(valid for _, valid in samples)


def test_ctrl_c_releases_the_lease_and_a_rerun_proceeds(world: SandboxWorld, tmp_path: Path) -> None:
    """A KeyboardInterrupt mid-run releases the Lease at once; the next run takes it without waiting."""
    settings = _settings(world.config_text, world.config_path, tmp_path / "state")

    def interrupt() -> None:
        raise KeyboardInterrupt

    with (
        Rollback.from_settings(
            settings, env=world.env, read_file=read_file, clock=world.clock, progress=OnStep("validate", interrupt)
        ) as rb,
        pytest.raises(KeyboardInterrupt),
    ):
        rb.run()
    lease = _lease(world)
    assert lease is not None and lease["spec"]["holderIdentity"] == ""
    with Rollback.from_settings(settings, env=world.env, read_file=read_file, clock=world.clock) as rb:
        assert rb.run().status == "rolled_back"


def _seed_lease(world: SandboxWorld, *, host: str, renewed_ago: float, run_id: str = "other-run") -> None:
    at = (world.clock.now() - timedelta(seconds=renewed_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    world.cluster.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": lease_name(world.provider_id),
                "namespace": world.namespace,
                "annotations": {
                    "gitrollback.io/run-id": run_id,
                    "gitrollback.io/host": host,
                    "gitrollback.io/pid": "7",
                },
            },
            "spec": {
                "holderIdentity": f"{host}/7/{run_id}",
                "leaseDurationSeconds": 120,
                "acquireTime": at,
                "renewTime": at,
                "leaseTransitions": 0,
            },
        }
    )


def test_a_live_holder_on_another_machine_refuses_the_run_with_exit_3(world: SandboxWorld) -> None:
    """A Lease renewed a minute ago by another host refuses `run` (exit 3) naming the holder; nothing is applied."""
    _seed_lease(world, host="ops-laptop-2", renewed_ago=60)
    since = f"{world.clock.now() - timedelta(seconds=60):%Y-%m-%d %H:%M:%S}Z"
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["run", "--yes", "--config", str(world.config_path)], env=world.env, output=Output(out, err), clock=world.clock
    )
    assert code == EXIT_REFUSED
    assert f"run other-run on ops-laptop-2 (pid 7), since {since}" in err.getvalue()
    assert world.imagefactory.builds() == []


def test_an_expired_holder_is_taken_over(world: SandboxWorld) -> None:
    """A Lease last renewed longer ago than its duration (a dead run elsewhere) is taken over, counting a transition."""
    _seed_lease(world, host="ops-laptop-2", renewed_ago=600)
    with Rollback.from_settings(
        parse_config(world.config_text, source=str(world.config_path)),
        env=world.env,
        read_file=read_file,
        clock=world.clock,
    ) as rb:
        report = rb.run()
    assert report.status == "rolled_back", report.error
    lease = _lease(world)
    assert lease is not None and lease["spec"]["leaseTransitions"] == 1


def test_a_missing_lock_namespace_is_refused(world: SandboxWorld) -> None:
    """If the provider's target namespace is gone, the run refuses (exit 3 class) before changing anything."""
    rt = world.cluster.type_for("v1", "Namespace")
    assert rt is not None
    world.cluster.delete(rt, None, world.namespace)
    with (
        Rollback.from_settings(
            parse_config(world.config_text, source=str(world.config_path)),
            env=world.env,
            read_file=read_file,
            clock=world.clock,
        ) as rb,
        pytest.raises(PreconditionFailedError) as refused,
    ):
        rb.run()
    assert refused.value.kind == "lock_namespace_missing" and world.namespace in refused.value.message


# -- gitops without cluster access: the rollback branch is the lock ---------------------------------------------


@pytest.fixture(name="gitops_world")
def _gitops_world(tmp_path: Path) -> Iterator[GitOpsSandbox]:
    with build_gitops_sandbox(tmp_path / "gw", scm="github", clock=FakeClock(), tick=3.0, poll_interval=5.0) as w:
        yield w


def _no_cluster(world: GitOpsSandbox, state_dir: Path) -> Settings:
    settings = _settings(world.config_text, world.config_path, state_dir)
    p = settings.providers[0]
    return dataclasses.replace(settings, providers=(dataclasses.replace(p, cluster=ClusterSettings()),))


def test_without_cluster_access_the_rollback_branch_lets_exactly_one_run_proceed(
    gitops_world: GitOpsSandbox, tmp_path: Path
) -> None:
    """Run B, started while A waits for its pull request, is refused at its push naming A; one PR, one merge."""
    world = gitops_world
    world.start_reviewer()
    second: dict[str, RunReport] = {}

    def start_b() -> None:
        with Rollback.from_settings(
            _no_cluster(world, tmp_path / "b"), env=world.env, read_file=read_file, clock=world.clock
        ) as rb:
            second["report"] = rb.run(run_id="run-b")

    with Rollback.from_settings(
        _no_cluster(world, tmp_path / "a"),
        env=world.env,
        read_file=read_file,
        clock=world.clock,
        progress=OnStep("change-request", start_b),
    ) as rb:
        report = rb.run(run_id="run-a")
    assert report.status == "rolled_back", report.error
    verify = next(r for r in report.steps if r.name == "verify-objects")
    assert verify.status is StepStatus.SKIPPED and "no cluster access" in verify.detail
    b = second["report"]
    assert b.status == "refused" and b.error_kind == "lock_held"
    assert b.error is not None and "run run-a on " in b.error and "rollback branch gitrollback/" in b.error
    assert next(r for r in b.steps if r.name == "push").status is StepStatus.FAILED
    assert isinstance(world.host, GitHubSimulator)
    assert len(world.host.pulls(OWNER, NAME)) == 1 and len(world.reviewer_merges) == 1
