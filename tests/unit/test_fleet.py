"""gitrollback.fleet with stand-in rollbacks: outcomes, exit codes, grouping, the all-failed predicate, stopping.

The stand-ins coordinate through events, never sleeps: what a test checks does not depend on how fast threads run.
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from gitrollback.errors import ConfigError, GitError, PreconditionFailedError
from gitrollback.fleet import (
    FleetOptions,
    FleetRunner,
    StopAwareClock,
    group_providers,
    needs_rollback,
    shared_target,
)
from gitrollback.fleet_report import fleet_json, render_fleet
from gitrollback.models import Assessment, FailedJob, RunReport
from gitrollback.settings import AssetSettings, GitOpsSettings, ProviderSettings
from gitrollback.testing.clock import FakeClock

FAILED = FailedJob(id="job-1", error="boom", asset_version="v1")


def _provider(name: str, *, gitops: str | None = None, path: str = "backend/tekton") -> ProviderSettings:
    return ProviderSettings(
        id=f"id-{name}",
        name=name,
        assets=AssetSettings(repo=gitops or "/repos/assets", path=path),
        mode="gitops" if gitops else "image_factory_installer",
        gitops=GitOpsSettings(scm="github", project="acme/x") if gitops else None,
    )


def _assessment(p: ProviderSettings, verdict: str = "rollback", *, failed: bool = True, ready: str = "not_ready"):
    return Assessment(
        provider_id=p.id,
        provider_name=p.label,
        mode=p.mode or "image_factory_installer",
        provider_status="offline",
        target_namespace="ns",
        readiness_status=ready,
        missing_prereqs=(),
        active_job=None,
        failed_job=FAILED if failed else None,
        recent_jobs=(),
        verdict=verdict,  # type: ignore[arg-type]
        advice="advice",
    )


def _report(p: ProviderSettings, status: str = "rolled_back", *, kind: str | None = None, commit: str | None = None):
    return RunReport(
        status=status,  # type: ignore[arg-type]
        provider_id=p.id,
        mode=p.mode or "image_factory_installer",
        failed_job=FAILED,
        known_good=None,
        steps=(),
        incident=None,
        error=None if status == "rolled_back" else f"{status} here",
        error_kind=kind,
        rollback_commit=commit,
    )


@dataclass
class Member:
    """A stand-in ``Rollback``: ``run`` calls ``behaviour`` (which returns a report or raises)."""

    settings: ProviderSettings
    behaviour: Callable[[Member], RunReport]
    assessment: Assessment | None = None
    calls: list[dict[str, object]] = field(default_factory=list)
    closed: bool = False

    def assess(self) -> Assessment:
        return self.assessment or _assessment(self.settings)

    def run(self, **kwargs: object) -> RunReport:
        self.calls.append(kwargs)
        return self.behaviour(self)

    def close(self) -> None:
        self.closed = True


def _runner(
    providers: Sequence[ProviderSettings],
    behaviours: dict[str, Callable[[Member], RunReport]],
    *,
    assessments: dict[str, Assessment] | None = None,
    **kwargs: object,
) -> tuple[FleetRunner, dict[str, Member]]:
    members: dict[str, Member] = {}

    def opener(p: ProviderSettings, clock: StopAwareClock) -> Member:
        behaviour = behaviours.get(p.label, lambda m: _report(m.settings))
        members[p.label] = Member(p, behaviour, (assessments or {}).get(p.label))
        return members[p.label]

    return FleetRunner(providers, opener, clock=FakeClock(), **kwargs), members  # type: ignore[arg-type]


def test_every_provider_runs_and_the_summary_lists_each() -> None:
    providers = [_provider(f"p{i}") for i in range(7)]
    runner, members = _runner(providers, {}, parallel=3)
    report = runner.run()
    assert report.status == "rolled_back" and report.exit_code == 0
    assert [o.label for o in report.outcomes] == [p.label for p in providers]
    assert all(o.status == "rolled_back" for o in report.outcomes)
    assert all(m.closed and len(m.calls) == 1 for m in members.values())
    text = render_fleet(report)
    assert all(p.label in text for p in providers) and "exit code 0" in text
    doc = fleet_json(report)
    assert doc["fleet"]["status"] == "rolled_back" and len(doc["providers"]) == 7


def test_concurrency_is_bounded_by_parallel() -> None:
    """At most ``parallel`` runs at once: three runs block until a fourth would have started (it never does)."""
    providers = [_provider(f"p{i}") for i in range(6)]
    running, peak, lock = [0], [0], threading.Lock()
    three_in = threading.Barrier(3, timeout=30)

    def behaviour(m: Member) -> RunReport:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if m.settings.label in ("p0", "p1", "p2"):
            three_in.wait()  # all three first runs are in at the same time
        with lock:
            running[0] -= 1
        return _report(m.settings)

    runner, _ = _runner(providers, {p.label: behaviour for p in providers}, parallel=3)
    assert runner.run().status == "rolled_back"
    assert peak[0] == 3


def test_an_exception_in_one_provider_is_its_outcome_only() -> None:
    """Any exception, unexpected ones included, becomes that provider's outcome; the others run."""

    def crash(m: Member) -> RunReport:
        raise ZeroDivisionError("division by zero")

    def git_error(m: Member) -> RunReport:
        raise GitError("fetch failed", adapter="git", operation="fetch")

    providers = [_provider(n) for n in ("a", "b", "c", "d")]
    runner, members = _runner(providers, {"b": crash, "c": git_error}, parallel=2)
    report = runner.run()
    by = {o.label: o for o in report.outcomes}
    assert by["a"].status == by["d"].status == "rolled_back"
    assert by["b"].status == "error" and by["b"].kind == "internal"
    assert by["b"].message == "internal error: ZeroDivisionError: division by zero"
    assert by["c"].status == "error" and by["c"].exit_code == 1 and "fetch failed" in (by["c"].message or "")
    assert report.status == "error" and report.exit_code == 1
    assert all(m.closed for m in members.values())


def test_an_error_building_a_provider_is_its_outcome() -> None:
    """The opener runs in the worker: a ConfigError there (a missing token) is that provider's exit 2."""
    providers = [_provider("a"), _provider("b")]

    def opener(p: ProviderSettings, clock: StopAwareClock) -> Member:
        if p.label == "a":
            raise ConfigError("environment variable X is not set", kind="missing_secret")
        return Member(p, lambda m: _report(m.settings))

    report = FleetRunner(providers, opener, clock=FakeClock()).run()  # type: ignore[arg-type]
    assert [o.status for o in report.outcomes] == ["error", "rolled_back"]
    assert report.outcomes[0].kind == "missing_secret" and report.exit_code == 2


@pytest.mark.parametrize(
    ("statuses", "fleet_status", "code"),
    [
        (["rolled_back", "rolled_back"], "rolled_back", 0),
        (["rolled_back", "refused"], "refused", 3),
        (["refused", "failed", "rolled_back"], "failed", 1),
        (["failed", "preflight", "refused"], "failed", 2),
        (["lock", "rolled_back"], "refused", 3),
    ],
)
def test_the_exit_code_is_the_worst_outcome(statuses: list[str], fleet_status: str, code: int) -> None:
    """Order: configuration or credentials (2) > failed (1) > refused (3) > rolled back (0)."""
    providers = [_provider(f"p{i}") for i in range(len(statuses))]

    def behaviour(status: str) -> Callable[[Member], RunReport]:
        def run(m: Member) -> RunReport:
            if status == "lock":
                raise PreconditionFailedError("another run holds the lock", step="lock", kind="lock_held")
            if status == "preflight":
                return _report(m.settings, "failed", kind="preflight_failed")
            return _report(m.settings, status)

        return run

    runner, _ = _runner(providers, {p.label: behaviour(s) for p, s in zip(providers, statuses, strict=True)})
    report = runner.run()
    assert (report.status, report.exit_code) == (fleet_status, code)


def test_all_failed_runs_only_failed_providers_and_says_nothing_to_do_otherwise() -> None:
    a, b, c = _provider("a"), _provider("b"), _provider("c")
    healthy = {"b": _assessment(b, "healthy", failed=False, ready="ready")}
    runner, members = _runner([a, b, c], {}, assessments=healthy, only_failed=True)
    report = runner.run()
    assert [o.status for o in report.outcomes] == ["rolled_back", "skipped", "rolled_back"]
    assert not members["b"].calls and members["b"].closed
    assert report.outcomes[1].message == "not failed (healthy): advice" and report.exit_code == 0

    everyone_healthy = {p.label: _assessment(p, "healthy", failed=False, ready="ready") for p in (a, b, c)}
    runner, members = _runner([a, b, c], {}, assessments=everyone_healthy, only_failed=True)
    report = runner.run()
    assert report.status == "nothing_to_do" and report.exit_code == 3
    assert not any(m.calls for m in members.values())
    assert fleet_json(report)["fleet"]["counts"] == {"skipped": 3}


def test_needs_rollback_is_the_assessment_verdict_plus_a_failed_job() -> None:
    p, g = _provider("p"), _provider("g", gitops="https://git.example/acme/x.git")
    assert needs_rollback(_assessment(p))
    assert needs_rollback(_assessment(p, "resume"))
    assert not needs_rollback(_assessment(p, "wait"))  # a job is active: a run would refuse
    assert not needs_rollback(_assessment(p, "healthy", failed=False, ready="ready"))
    # installer mode: not ready without a failed job is not "failed" (the last job did not fail)
    assert not needs_rollback(_assessment(p, failed=False))
    # gitops mode: the installer only delegates (its job succeeds); not ready after it is the failure
    assert needs_rollback(_assessment(g, failed=False))
    assert not needs_rollback(_assessment(g, "healthy", failed=False, ready="ready"))


def test_providers_sharing_a_gitops_repository_and_path_are_one_group() -> None:
    url = "https://git.example/acme/x.git"
    a, b = _provider("a", gitops=url), _provider("b", gitops=url.removesuffix(".git"))
    other_path = _provider("c", gitops=url, path="other/tekton")
    installer = _provider("d")
    assert shared_target(a) == shared_target(b) and shared_target(installer) is None
    groups = group_providers([a, installer, other_path, b])
    assert [[p.label for p in g] for g in groups] == [["a", "b"], ["d"], ["c"]]


def test_a_group_runs_one_after_another_and_later_members_share_the_first_ones_rollback() -> None:
    url = "https://git.example/acme/x.git"
    a, b, c = (_provider(n, gitops=url) for n in "abc")
    order: list[str] = []

    def run(m: Member) -> RunReport:
        order.append(m.settings.label)
        return _report(m.settings, commit="c0ffee")

    runner, members = _runner([a, b, c], dict.fromkeys("abc", run), parallel=3)
    report = runner.run()
    assert order == ["a", "b", "c"] and report.exit_code == 0
    assert {o.group for o in report.outcomes} == {"a"}
    assert members["a"].calls[0]["shared_with"] == ("id-b", "id-c") and members["a"].calls[0]["force"] is False
    # after the group's first run its rollback may have made the others look healthy: they are forced through
    assert members["b"].calls[0]["shared_with"] == ("id-a", "id-c") and members["b"].calls[0]["force"] is True


def test_a_group_stops_when_the_first_change_did_not_land() -> None:
    """A second change request for the same path would compete with the first: the rest are held back."""
    url = "https://git.example/acme/x.git"
    a, b = _provider("a", gitops=url), _provider("b", gitops=url)
    runner, members = _runner([a, b], {"a": lambda m: _report(m.settings, "failed", commit="c0ffee")})
    report = runner.run()
    assert [o.status for o in report.outcomes] == ["failed", "refused"]
    assert report.outcomes[1].kind == "group_change_pending" and not members["b"].calls and members["b"].closed
    assert report.exit_code == 1


def test_stop_starts_no_further_provider_and_joins_the_running_one() -> None:
    """The first stop lets the running provider finish; the others are not_started; exit 130."""
    providers = [_provider(f"p{i}") for i in range(4)]
    holder: list[FleetRunner] = []

    def first(m: Member) -> RunReport:
        holder[0].stop()
        return _report(m.settings)

    returned = threading.Event()

    def first_then_mark(m: Member) -> RunReport:
        report = first(m)
        returned.set()  # the running provider's run returns only after the stop
        return report

    runner, members = _runner(providers, {"p0": first_then_mark}, parallel=1)
    holder.append(runner)
    report = runner.run()
    assert returned.is_set()  # run() returned after the running provider's run did
    assert [o.status for o in report.outcomes] == ["rolled_back", "not_started", "not_started", "not_started"]
    assert report.status == "interrupted" and report.exit_code == 130 and report.interrupted
    assert set(members) == {"p0"} and members["p0"].closed
    assert not [t.name for t in threading.enumerate() if t.name.startswith("gitrollback-fleet")]  # every worker joined


def test_ctrl_c_in_the_calling_thread_stops_the_fleet_and_waits_for_running_runs() -> None:
    """KeyboardInterrupt in the thread that called ``run`` (what Ctrl-C raises) stops the fleet: the running
    provider finishes, the rest are not_started, and no worker outlives ``run``."""
    providers = [_provider(f"p{i}") for i in range(3)]
    holder: list[FleetRunner] = []
    finished = threading.Event()

    def first(m: Member) -> RunReport:
        _thread.interrupt_main()  # Ctrl-C, delivered to the calling thread
        assert holder[0].stopping.wait(60)  # the fleet noticed it; this run carries on to its end
        finished.set()
        return _report(m.settings)

    runner, _ = _runner(providers, {"p0": first}, parallel=1)
    holder.append(runner)
    report = runner.run()
    assert finished.is_set(), report.outcomes
    assert [o.status for o in report.outcomes] == ["rolled_back", "not_started", "not_started"]
    assert report.exit_code == 130
    assert not [t for t in threading.enumerate() if t.name.startswith("gitrollback-fleet")]


def test_a_second_stop_interrupts_running_providers_at_their_next_wait() -> None:
    """After the second stop every wait on the fleet's clock raises KeyboardInterrupt: the run stops there (as
    Ctrl-C stops a single run) and is reported interrupted."""
    providers = [_provider("a"), _provider("b")]
    holder: list[FleetRunner] = []
    clocks: list[StopAwareClock] = []

    def waits(m: Member) -> RunReport:
        holder[0].stop()
        holder[0].stop()
        clocks[-1].sleep(2.0)  # the run's next poll
        return _report(m.settings)

    members: dict[str, Member] = {}

    def opener(p: ProviderSettings, clock: StopAwareClock) -> Member:
        clocks.append(clock)
        members[p.label] = Member(p, waits)
        return members[p.label]

    runner = FleetRunner(providers, opener, parallel=1, clock=FakeClock())  # type: ignore[arg-type]
    holder.append(runner)
    report = runner.run()
    assert [o.status for o in report.outcomes] == ["interrupted", "not_started"]
    assert report.exit_code == 130 and members["a"].closed


def test_options_reach_every_run() -> None:
    providers = [_provider("a")]
    runner, members = _runner(providers, {}, options=FleetOptions(to="v0.3.0", prune=True, strict=True))
    runner.run()
    assert members["a"].calls == [{"to": "v0.3.0", "force": False, "prune": True, "strict": True, "shared_with": ()}]


def test_parallel_below_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="parallel must be at least 1"):
        FleetRunner([], lambda p, c: None, parallel=0)  # type: ignore[arg-type,return-value]


def test_an_exception_outside_a_providers_run_is_an_internal_error_never_an_interrupt() -> None:
    """A bug in the worker itself (here: an assessment ``needs_rollback`` cannot read) is every unrecorded group
    member's ``error`` (kind internal), logged; the fleet says failed with exit 1, not interrupted with 130."""
    url = "https://git.example/acme/x.git"
    a, b = _provider("a", gitops=url), _provider("b", gitops=url)
    broken = object()  # not an Assessment
    runner, _ = _runner([a, b], {}, assessments={"a": broken, "b": broken}, only_failed=True)  # type: ignore[dict-item]
    report = runner.run()
    assert [(o.status, o.kind) for o in report.outcomes] == [("error", "internal"), ("error", "internal")]
    assert all((o.message or "").startswith("internal error: AttributeError") for o in report.outcomes)
    assert (report.status, report.exit_code, report.interrupted) == ("error", 1, False)


def test_a_provider_without_an_outcome_is_an_error_unless_the_fleet_stopped() -> None:
    p = _provider("p")
    runner, _ = _runner([p], {})
    missing = runner._missing(p)
    assert (missing.status, missing.exit_code, missing.kind) == ("error", 1, "internal")
    runner.stop()
    assert runner._missing(p).status == "not_started"


def test_a_group_member_that_raised_holds_back_the_rest() -> None:
    """The first member's run raised after it may have pushed (no report says what it changed): the others are
    held back instead of opening a second change request; a ConfigError (before any change) holds back none."""
    url = "https://git.example/acme/x.git"
    a, b = _provider("a", gitops=url), _provider("b", gitops=url)

    def boom(m: Member) -> RunReport:
        raise GitError("push went away", adapter="git", operation="push")

    runner, members = _runner([a, b], {"a": boom})
    report = runner.run()
    assert [o.status for o in report.outcomes] == ["error", "refused"]
    assert report.outcomes[1].kind == "group_change_pending" and not members["b"].calls

    def config(m: Member) -> RunReport:
        raise ConfigError("no token")

    runner, members = _runner([a, b], {"a": config})
    report = runner.run()
    assert [o.status for o in report.outcomes] == ["error", "rolled_back"] and members["b"].calls


def test_run_puts_back_a_sigint_handler_python_did_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """``signal.signal`` answers None for a handler set outside Python: the fleet's handler must not stay."""
    import signal

    installed: list[object] = []
    real = signal.signal

    def fake_signal(signum: int, handler: object) -> object:
        installed.append(handler)
        real(signum, handler)  # type: ignore[arg-type]
        return None if len(installed) == 1 else signal.default_int_handler

    monkeypatch.setattr(signal, "signal", fake_signal)
    previous = signal.getsignal(signal.SIGINT)
    try:
        runner, _ = _runner([_provider("p")], {})
        runner.run()
        assert installed[-1] is signal.default_int_handler and len(installed) == 2
    finally:
        real(signal.SIGINT, previous)


@pytest.mark.parametrize(
    "other",
    [
        "https://github.com/Acme/Assets",
        "https://github.com/acme/assets/",
        "git@github.com:acme/assets.git",
        "ssh://git@github.com:22/acme/assets.git",
        "https://x-access-token:s3cret@github.com/acme/assets.git",
        "https://github.com/acme//assets.git",
    ],
)
def test_the_same_repository_written_another_way_is_one_group(other: str) -> None:
    a = _provider("a", gitops="https://github.com/acme/assets.git")
    b = _provider("b", gitops=other)
    assert shared_target(a) == shared_target(b)
    assert [[p.label for p in g] for g in group_providers([a, b])] == [["a", "b"]]


def test_the_same_path_written_another_way_is_one_group_and_other_repositories_are_not() -> None:
    url = "https://github.com/acme/assets.git"
    a = _provider("a", gitops=url, path="clusters/prod")
    b = _provider("b", gitops=url, path="./clusters//prod/")
    c = _provider("c", gitops="https://github.com/acme/assets-2.git", path="clusters/prod")
    d = _provider("d", gitops="https://gitlab.com/acme/assets.git", path="clusters/prod")
    assert [[p.label for p in g] for g in group_providers([a, b, c, d])] == [["a", "b"], ["c"], ["d"]]


@pytest.mark.parametrize(("outer", "inner"), [("clusters", "clusters/prod"), ("/", "backend/tekton")])
def test_nested_paths_of_one_repository_are_refused(outer: str, inner: str) -> None:
    url = "https://github.com/acme/assets.git"
    a, b = _provider("a", gitops=url, path=inner), _provider("b", gitops=url, path=outer)
    with pytest.raises(ConfigError, match="providers a and b roll back nested paths"):
        group_providers([a, b])
    runner, members = _runner([a, b], {})
    with pytest.raises(ConfigError):
        runner.run()
    assert not members  # nothing was opened
    sibling = _provider("c", gitops=url, path="clusters-2")
    assert len(group_providers([_provider("a", gitops=url, path="clusters"), sibling])) == 2


def test_log_lines_from_a_worker_name_the_provider_and_stay_whole() -> None:
    """A log record from a provider's run carries the provider (the worker thread is named after it; the CLI's
    handler prefixes it); lines written by several threads at once never merge."""
    import io
    import logging

    from gitrollback.cli.output import Output, OutputHandler

    err = io.StringIO()
    output = Output(io.StringIO(), err)
    handler = OutputHandler(output)
    log = logging.getLogger("gitrollback.test_fleet_worker")
    log.addHandler(handler)
    log.propagate = False
    try:
        barrier = threading.Barrier(2)

        def noisy(m: Member) -> RunReport:
            barrier.wait(10)
            for i in range(200):
                log.warning("%s line %s", m.settings.label, i)
            return _report(m.settings)

        runner, _ = _runner([_provider("a"), _provider("b")], {"a": noisy, "b": noisy}, parallel=2)
        assert runner.run().exit_code == 0
    finally:
        log.removeHandler(handler)
        log.propagate = True
    lines = err.getvalue().splitlines()
    assert len(lines) == 400
    for name in "ab":
        assert [line for line in lines if line.startswith(f"[{name}] ")] == [
            f"[{name}] {name} line {i}" for i in range(200)
        ]
    assert not [t.name for t in threading.enumerate() if t.name.startswith("gitrollback-fleet")]


def test_an_abort_ends_a_real_clock_sleep_at_once() -> None:
    """On the real clock a provider's wait (a 1-hour poll here) is a wait on the abort: the abort ends it with
    KeyboardInterrupt instead of after the hour."""
    from gitrollback.clock import SystemClock

    abort = threading.Event()
    clock = StopAwareClock(SystemClock(), abort)
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            clock.sleep(3600)
        except KeyboardInterrupt as exc:
            raised.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    abort.set()
    t.join(30)
    assert not t.is_alive() and len(raised) == 1
    clock.abort = threading.Event()
    clock.sleep(0)  # no abort: returns


def test_each_stop_is_reported_with_its_count() -> None:
    import io

    from gitrollback.cli.fleet import stop_printer
    from gitrollback.cli.output import Output

    err = io.StringIO()
    seen: list[int] = []
    runner, _ = _runner([_provider("p")], {}, on_stop=seen.append)
    for _ in range(3):
        runner.stop()
    assert seen == [1, 2, 3] and runner.aborting.is_set()
    printer = stop_printer(Output(io.StringIO(), err))
    for count in (1, 2, 3):
        printer(count)
    lines = err.getvalue().splitlines()
    assert "Ctrl-C again to interrupt" in lines[0] and "interrupting the running providers" in lines[1]
    assert lines[2].startswith("gitrollback: stopping: still waiting")


def test_group_members_with_different_strategies_are_refused() -> None:
    import dataclasses

    url = "https://github.com/acme/assets.git"
    a = _provider("a", gitops=url)
    b = _provider("b", gitops=url)
    assert b.gitops is not None
    b = dataclasses.replace(b, gitops=dataclasses.replace(b.gitops, strategy="revert"))
    with pytest.raises(ConfigError, match=r"differ in gitops\.strategy"):
        group_providers([a, b])


def test_an_unfinished_run_needs_rollback_and_the_watch_acts_on_the_same_finding() -> None:
    from dataclasses import replace

    from gitrollback.watch.service import qualifying_job

    p = _provider("a")
    resumable = replace(_assessment(p, "resume", failed=False, ready="ready"), unfinished_run="r-1")
    assert needs_rollback(resumable)
    assert qualifying_job(resumable) == "run/r-1"
    failed = _assessment(p)
    assert needs_rollback(failed) and qualifying_job(failed) == FAILED.id
    healthy = _assessment(p, "healthy", failed=False, ready="ready")
    assert not needs_rollback(healthy) and qualifying_job(healthy) is None
