"""`run --providers/--all-failed/--parallel` and `sandbox --providers N`, in-process on simulated time."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import TOKEN_ENV, SandboxWorld, build_sandbox


def _run(cap, argv, env, clock: FakeClock | None = None):
    for stream in (cap.out, cap.err):
        stream.seek(0)
        stream.truncate()
    code = main(argv, env=env, output=cap.output, clock=clock or FakeClock())
    return code, cap.out.getvalue(), cap.err.getvalue()


@pytest.fixture(name="fleet_world")
def _fleet_world(tmp_path: Path) -> Iterator[SandboxWorld]:
    """Four providers on one broken release, on a FakeClock."""
    with build_sandbox(tmp_path / "world", clock=FakeClock(), tick=5.0, poll_interval=2.0, providers=4) as world:
        yield world


def test_sandbox_with_ten_providers_rolls_back_all_ten(cap) -> None:
    """`sandbox --providers 10 --json`: one document whose summary lists all ten, each rolled back and verified."""
    code, out, err = _run(cap, ["sandbox", "--providers", "10", "--json"], {})
    assert code == EXIT_OK, err
    doc = json.loads(out)
    assert doc["fleet"]["status"] == "rolled_back" and doc["fleet"]["exit_code"] == 0
    assert doc["fleet"]["counts"] == {"rolled_back": 10}
    names = [p["provider"] for p in doc["providers"]]
    assert names == [f"sandbox-{i:02d}" for i in range(1, 11)]
    assert len({p["provider_id"] for p in doc["providers"]}) == 10
    for p in doc["providers"]:
        steps = {s["name"]: s["status"] for s in p["report"]["steps"]}
        assert p["report"]["status"] == "rolled_back"
        assert steps["smoke-build"] == steps["validate"] == steps["readiness"] == "succeeded"
    assert err == ""


def test_sandbox_fleet_table_and_prefixed_progress(cap) -> None:
    """Without --json: progress lines on stderr prefixed with the provider, the table on stdout."""
    code, out, err = _run(cap, ["sandbox", "--providers", "3", "--parallel", "2"], {})
    assert code == EXIT_OK, err
    assert out.splitlines()[0].split() == ["PROVIDER", "MODE", "STATUS", "KNOWN-GOOD", "ROLLBACK", "/", "CHANGE",
                                           "REQUEST", "DURATION"]  # fmt: skip
    for name in ("sandbox-01", "sandbox-02", "sandbox-03"):
        assert any(line.startswith(name) and "rolled_back" in line for line in out.splitlines())
        assert f"[{name}] -> smoke-build:" in err and f"[{name}] => rolled_back" in err
    assert "Fleet: rolled_back (3 rolled_back; at most 2 at a time;" in out


def test_run_all_failed_skips_the_provider_that_is_not_failed(cap, fleet_world: SandboxWorld) -> None:
    """`run --all-failed --parallel 4` against a world of four: one was already rolled back (healthy), so three
    run and one is skipped with the reason."""
    env = {TOKEN_ENV: fleet_world.token}
    config = str(fleet_world.config_path)
    code, _, err = _run(cap, ["run", "-c", config, "-p", "sandbox-02", "--yes", "--json"], env, fleet_world.clock)
    assert code == EXIT_OK, err
    code, out, err = _run(
        cap, ["run", "-c", config, "--all-failed", "--parallel", "4", "--yes", "--json"], env, fleet_world.clock
    )
    assert code == EXIT_OK, err
    doc = json.loads(out)
    status = {p["provider"]: p["status"] for p in doc["providers"]}
    assert status == {
        "sandbox-01": "rolled_back",
        "sandbox-02": "skipped",
        "sandbox-03": "rolled_back",
        "sandbox-04": "rolled_back",
    }
    skipped = doc["providers"][1]
    assert skipped["kind"] == "nothing_to_roll_back" and skipped["report"] is None
    assert doc["fleet"]["only_failed"] is True and doc["fleet"]["parallel"] == 4

    # everything rolled back now: nothing to do, exit 3 (docs/cli.md), still one valid JSON document
    code, out, err = _run(cap, ["run", "-c", config, "--all-failed", "--yes", "--json"], env, fleet_world.clock)
    assert code == EXIT_REFUSED, err
    assert json.loads(out)["fleet"]["status"] == "nothing_to_do"


def test_run_providers_names_which_and_reports_each(cap, fleet_world: SandboxWorld) -> None:
    env = {TOKEN_ENV: fleet_world.token}
    config = str(fleet_world.config_path)
    code, out, err = _run(
        cap, ["run", "-c", config, "--providers", "sandbox-03,sandbox-01", "--yes"], env, fleet_world.clock
    )
    assert code == EXIT_OK, err
    rows = [line.split()[0] for line in out.splitlines()[1:3]]
    assert rows == ["sandbox-03", "sandbox-01"]
    assert "[sandbox-03] -> assess:" in err and "[sandbox-02]" not in err


def test_fleet_usage_errors(cap, fleet_world: SandboxWorld) -> None:
    env = {TOKEN_ENV: fleet_world.token}
    config = str(fleet_world.config_path)
    cases = [
        (["--providers", "nope"], "unknown provider 'nope'"),
        (["--all-failed", "-p", "sandbox-01"], "--provider names one provider"),
        (["--all-failed", "--parallel", "0"], "--parallel must be at least 1"),
        (["--all-failed", "--notes", "x.md"], "--notes is for one provider's run"),
        (["-p", "sandbox-01", "--parallel", "2"], "--parallel needs --providers or --all-failed"),
        (["--providers", ""], "--providers names no provider"),  # an empty $PROVIDERS is not a single run
        (["--providers", " , "], "--providers names no provider"),
        (["--providers", "sandbox-01", "-p", "sandbox-01"], "--provider names one provider"),
    ]
    for extra, message in cases:
        code, out, err = _run(cap, ["run", "-c", config, "--yes", "--json", *extra], env, fleet_world.clock)
        assert code == EXIT_USAGE, (extra, err)
        assert message in json.loads(out)["error"]["message"]


@pytest.mark.parametrize("parallel", ["0", "-2"])
def test_sandbox_refuses_parallel_below_one_before_building_the_world(cap, parallel: str) -> None:
    code, out, err = _run(cap, ["sandbox", "--providers", "3", "--parallel", parallel, "--json"], {})
    assert code == EXIT_USAGE and "--parallel must be at least 1" in json.loads(out)["error"]["message"]
    assert "Building the sandbox" not in err


def test_duplicates_in_providers_run_once(cap, fleet_world: SandboxWorld) -> None:
    """A name given twice, or a name and the same provider's id, is one provider."""
    env = {TOKEN_ENV: fleet_world.token}
    config = str(fleet_world.config_path)
    argv = ["run", "-c", config, "--providers", f"sandbox-01,sandbox-01,{fleet_world.provider_id}", "--yes", "--json"]
    code, out, err = _run(cap, argv, env, fleet_world.clock)
    assert code == EXIT_OK, err
    assert [p["provider"] for p in json.loads(out)["providers"]] == ["sandbox-01"]


def test_fleet_without_yes_refuses_with_json(cap, fleet_world: SandboxWorld) -> None:
    code, out, _ = _run(
        cap,
        ["run", "-c", str(fleet_world.config_path), "--all-failed", "--json"],
        {TOKEN_ENV: fleet_world.token},
        fleet_world.clock,
    )
    assert code == EXIT_REFUSED and json.loads(out)["error"]["kind"] == "confirmation_required"


def test_fleet_asks_once_on_a_terminal_and_a_no_changes_nothing(
    cap, fleet_world: SandboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal without --yes the fleet asks once, naming the providers; anything but y is exit 3 and no run."""
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or "n")
    code, _, err = _run(
        cap,
        ["run", "-c", str(fleet_world.config_path), "--providers", "sandbox-01,sandbox-02"],
        {TOKEN_ENV: fleet_world.token},
        fleet_world.clock,
    )
    assert code == EXIT_REFUSED and "not confirmed: nothing was changed" in err
    assert asked == ["Roll back these providers: sandbox-01, sandbox-02? [y/N] "]
    assert all(fleet_world.imagefactory.provider(p.provider_id)["status"] == "offline" for p in fleet_world.providers)


def test_a_missing_token_is_every_providers_configuration_error(cap, fleet_world: SandboxWorld) -> None:
    """Each provider's rollback is built in its worker: the missing token is each one's outcome, exit 2."""
    code, out, _ = _run(
        cap, ["run", "-c", str(fleet_world.config_path), "--all-failed", "--yes", "--json"], {}, fleet_world.clock
    )
    doc = json.loads(out)
    assert code == EXIT_USAGE and doc["fleet"]["exit_code"] == EXIT_USAGE
    assert {p["status"] for p in doc["providers"]} == {"error"}


def test_serve_with_providers_then_run_all_failed(tmp_path: Path) -> None:
    """`sandbox serve --providers 3` prints the fleet command; `run --all-failed --parallel 4` rolls back all three
    against the served world."""
    import io

    from gitrollback.cli.output import Output
    from gitrollback.cli.sandbox import SandboxOptions, serve_sandbox

    class Announced(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.ready = threading.Event()

        def write(self, text: str) -> int:
            written = super().write(text)
            if "Press Ctrl-C" in self.getvalue():
                self.ready.set()
            return written

    out, stop, clock = Announced(), threading.Event(), FakeClock()
    thread = threading.Thread(
        target=serve_sandbox,
        args=(str(tmp_path / "w"), Output(out, io.StringIO()), stop),
        kwargs={"clock": clock, "options": SandboxOptions(providers=3)},
    )
    thread.start()
    try:
        assert out.ready.wait(300), out.getvalue()
        config = tmp_path / "w" / "gitrollback.yaml"
        assert f"run    --config {config} --all-failed --parallel 4 --yes" in out.getvalue()
        token = (tmp_path / "w" / "sandbox.env").read_text().strip().split("=", 1)[1]
        cli_out = io.StringIO()
        code = main(
            ["run", "--config", str(config), "--all-failed", "--parallel", "4", "--yes", "--json"],
            env={TOKEN_ENV: token},
            output=Output(cli_out, io.StringIO()),
            clock=clock,
        )
        doc = json.loads(cli_out.getvalue())
        assert code == EXIT_OK and doc["fleet"]["counts"] == {"rolled_back": 3}
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
