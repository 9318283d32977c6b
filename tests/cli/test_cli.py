"""The CLI: commands, exit codes, JSON output, error edge and secrecy.

Every call runs in-process on simulated time: ``sandbox`` builds its world on the ``FakeClock`` handed to ``main``,
and commands against a test's world get that world's clock.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitrollback.cli import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import TOKEN_ENV, SandboxWorld


def _run(cap, argv, env, clock: FakeClock | None = None):
    for stream in (cap.out, cap.err):
        stream.seek(0)
        stream.truncate()
    code = main(argv, env=env, output=cap.output, clock=clock or FakeClock())
    return code, cap.out.getvalue(), cap.err.getvalue()


def test_sandbox_json_report_has_the_documented_shape(cap) -> None:
    """`sandbox --json` rolls back for real, exits 0 and prints the documented report."""
    code, out, err = _run(cap, ["sandbox", "--json"], {})
    assert code == EXIT_OK, err
    report = json.loads(out)
    assert report["status"] == "rolled_back"
    assert report["mode"] == "image_factory_installer"
    assert set(report["failed_job"]) >= {"id", "error", "asset_version"}
    assert "spec.selector: Required value" in report["failed_job"]["error"]
    assert set(report["known_good"]) >= {"revision", "source", "reason"}
    assert len(report["known_good"]["revision"]) == 40
    assert all(set(s) >= {"name", "status", "started_at", "finished_at", "detail"} for s in report["steps"])
    assert {s["status"] for s in report["steps"] if s["name"] != "prune"} == {"succeeded"}
    assert [s["status"] for s in report["steps"] if s["name"] == "prune"] == ["skipped"]
    assert report["pruned"] == [] and len(report["changes"]["objects"]) == 26
    assert set(report["incident"]) >= {"failed_version", "restored_version", "root_cause", "follow_up"}
    assert err == ""


def test_sandbox_prints_steps_and_incident_notes(cap) -> None:
    """Plain `sandbox` shows each step as it happens and ends with the incident notes."""
    code, out, err = _run(cap, ["sandbox"], {})
    assert code == EXIT_OK
    for step in ("assess", "known-good", "apply", "validate", "readiness", "smoke-build"):
        assert f"-> {step}:" in err
    assert "applied 26 objects" in err and "smoke build" in err
    assert "Result: rolled_back" in out and "**Restored version:**" in out


def test_assess_plan_run_against_a_world(cap, world: SandboxWorld) -> None:
    """assess exits 0 with the verdict, plan changes nothing, run --yes rolls back, a rerun is refused (3)."""
    config = ["--config", str(world.config_path)]
    code, out, _ = _run(cap, ["assess", *config], world.env, world.clock)
    assert code == EXIT_OK and "verdict       rollback" in out and world.failed_job_id in out
    code, out, _ = _run(cap, ["plan", "--json", *config], world.env, world.clock)
    plan = json.loads(out)
    assert code == EXIT_OK and plan["known_good"]["revision"] == world.repo.good and len(plan["objects"]) == 26
    assert world.imagefactory.provider(world.provider_id)["status"] == "offline"
    notes = Path(world.directory) / "notes.md"
    code, out, _ = _run(cap, ["run", "--yes", "--notes", str(notes), *config], world.env, world.clock)
    assert code == EXIT_OK and "Result: rolled_back" in out
    assert notes.read_text().startswith("## Tekton rollback")
    code, _, _ = _run(cap, ["run", "--yes", *config], world.env, world.clock)
    assert code == EXIT_REFUSED


def test_run_without_yes_and_without_a_terminal_is_refused(
    cap, world: SandboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --yes and with no terminal to ask on, run refuses (3) and changes nothing."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = _run(cap, ["run", "--config", str(world.config_path)], world.env, world.clock)
    assert code == EXIT_REFUSED and "--yes" in err
    assert world.imagefactory.provider(world.provider_id)["status"] == "offline"


def test_failed_rollback_exits_1(cap, world: SandboxWorld) -> None:
    """A rollback that fails (Image Factory cannot reach the cluster, so its validate job fails) exits 1."""
    world.imagefactory.set_cluster_reachable(world.provider_id, False)
    code, out, _ = _run(cap, ["run", "--yes", "--json", "--config", str(world.config_path)], world.env, world.clock)
    assert code == EXIT_FAILED
    assert json.loads(out)["status"] == "failed"


def test_token_never_appears_in_any_output(cap, world: SandboxWorld) -> None:
    """Neither the Image Factory token nor the cluster token is printed, even with --debug and --json."""
    config = ["--config", str(world.config_path)]
    outputs = []
    for argv in (
        ["assess", "--debug", *config],
        ["plan", "--debug", *config],
        ["run", "--yes", "--json", "--debug", *config],
    ):
        _, out, err = _run(cap, argv, world.env, world.clock)
        outputs.append(out + err)
    text = "".join(outputs)
    assert world.token not in text
    assert "sandbox-kube-token" not in text


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["assess", "--config", "/nonexistent.yaml"], {}, "/nonexistent.yaml: config file not found"),
        (["assess"], {}, "gitrollback.yaml: config file not found"),
        (["frobnicate"], {}, "invalid choice"),
    ],
)
def test_usage_errors_exit_2(cap, argv, env, needle) -> None:
    """Unknown commands and missing config files exit 2 with a one-line cause and a next step."""
    code, _, err = _run(cap, argv, env)
    assert code == EXIT_USAGE
    assert needle in err and "next:" in err


def test_config_errors_exit_2_naming_the_key(cap, world: SandboxWorld, tmp_path: Path) -> None:
    """Malformed config, unknown provider and a missing token env var each exit 2 naming the problem."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(world.config_text.replace("providers:", "providerz:"))
    code, _, err = _run(cap, ["assess", "--config", str(bad)], world.env, world.clock)
    assert code == EXIT_USAGE and "unknown key 'providerz'" in err
    code, _, err = _run(
        cap, ["assess", "--config", str(world.config_path), "--provider", "nope"], world.env, world.clock
    )
    assert code == EXIT_USAGE and "unknown provider 'nope'" in err and "sandbox" in err
    code, _, err = _run(cap, ["assess", "--config", str(world.config_path)], {}, world.clock)
    assert code == EXIT_USAGE and f"environment variable {TOKEN_ENV} is not set" in err


def test_debug_shows_the_traceback(cap) -> None:
    """--debug adds the traceback to the one-line error."""
    code, _, err = _run(cap, ["assess", "--debug", "--config", "/nonexistent.yaml"], {})
    assert code == EXIT_USAGE and "Traceback" in err


def test_github_actions_output_groups_steps(cap, world: SandboxWorld) -> None:
    """Under GitHub Actions each step is a ::group:: and failures become ::error:: annotations."""
    env = {**world.env, "GITHUB_ACTIONS": "true"}
    world.imagefactory.set_cluster_reachable(world.provider_id, False)
    code, _, err = _run(cap, ["run", "--yes", "--config", str(world.config_path)], env, world.clock)
    assert code == EXIT_FAILED
    assert "::group::assess:" in err and "::endgroup::" in err and "::error title=gitrollback validate::" in err


def test_version_and_help_exit_0(cap) -> None:
    """--version and --help exit 0."""
    assert main(["--version"], env={}, output=cap.output) == EXIT_OK
    assert main(["--help"], env={}, output=cap.output) == EXIT_OK


def test_sandbox_without_the_testing_extra_names_the_fix(cap, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without kubectl (the testing extra) `sandbox` exits with a usage error naming gitrollback[testing]."""
    from gitrollback.testing import _extras

    def missing() -> str:
        raise _extras.MissingExtraError("kubectl was found neither next to python nor on PATH", name="kubectl")

    monkeypatch.setattr(_extras, "find_kubectl", missing)
    code, out, err = _run(cap, ["sandbox"], {})
    assert code == EXIT_USAGE
    assert "the sandbox needs gitrollback's simulators and their real components: kubectl was found neither" in err
    assert "pip install 'gitrollback[testing]'" in err
    assert out == ""
