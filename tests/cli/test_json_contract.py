"""The CLI's contract: with --json, stdout is exactly one JSON document for every exit code; small failures (an
unwritable notes file, non-UTF-8 files, a state_dir that is a file, Ctrl-D at the prompt) get clear errors and the
right exit code; and main() leaves no logging handlers or filters behind."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gitrollback.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import TOKEN_ENV, SandboxWorld


def _run(cap, argv, env, clock: FakeClock | None = None):
    for stream in (cap.out, cap.err):
        stream.seek(0)
        stream.truncate()
    code = main(argv, env=env, output=cap.output, clock=clock or FakeClock())
    return code, cap.out.getvalue(), cap.err.getvalue()


def _one_document(out: str) -> dict:
    """stdout parses as exactly one JSON object (json.loads refuses trailing data)."""
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


def _error(out: str, kind: str, code: int) -> dict:
    error = _one_document(out)["error"]
    assert set(error) == {"kind", "message", "hint", "exit_code"}
    assert error["kind"] == kind and error["exit_code"] == code and error["message"]
    return error


def test_every_exit_code_prints_one_json_document(cap, world: SandboxWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """0, 1, 2, 3, 130 and an internal error each print one JSON document: the result or {"error": {...}}."""
    config = ["--config", str(world.config_path), "--json"]
    code, out, _ = _run(cap, ["frobnicate", "--json"], {})
    assert code == EXIT_USAGE and _error(out, "config", EXIT_USAGE)
    code, out, _ = _run(cap, ["assess", "--json", "--config", "/nonexistent.yaml"], {})
    assert code == EXIT_USAGE and "config file not found" in _error(out, "config", EXIT_USAGE)["message"]
    code, out, _ = _run(cap, ["run", *config], world.env, world.clock)  # --json never prompts: needs --yes
    assert code == EXIT_REFUSED and "--yes" in _error(out, "confirmation_required", EXIT_REFUSED)["hint"]
    assert world.imagefactory.provider(world.provider_id)["status"] == "offline"
    code, out, _ = _run(cap, ["assess", *config], world.env, world.clock)
    assert code == EXIT_OK and _one_document(out)["verdict"] == "rollback"

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gitrollback.api.Rollback.plan", interrupted)
    code, out, _ = _run(cap, ["plan", *config], world.env, world.clock)
    assert code == EXIT_INTERRUPTED and _error(out, "interrupted", EXIT_INTERRUPTED)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("gitrollback.api.Rollback.plan", broken)
    code, out, err = _run(cap, ["plan", *config], world.env, world.clock)
    assert code == EXIT_FAILED and "a bug" in _error(out, "internal", EXIT_FAILED)["message"]
    assert "internal error" in err
    monkeypatch.undo()
    code, out, _ = _run(cap, ["run", "--yes", *config], world.env, world.clock)
    assert code == EXIT_OK and _one_document(out)["status"] == "rolled_back"
    code, out, _ = _run(cap, ["run", "--yes", *config], world.env, world.clock)
    report = _one_document(out)
    assert code == EXIT_REFUSED and report["status"] == "refused" and report["error_kind"] == "nothing_to_roll_back"
    code, out, _ = _run(cap, ["plan", *config], world.env, world.clock)
    assert code == EXIT_REFUSED and _error(out, "nothing_to_roll_back", EXIT_REFUSED)


def test_failed_run_and_lock_refusal_print_one_document(cap, world: SandboxWorld) -> None:
    """A failed run prints its report (exit 1, typed error kind); a refused lock (exit 3) and a credential refused
    before the first change (exit 2) print an error document."""
    from gitrollback.locking import ProviderLock

    config = ["--config", str(world.config_path), "--json", "--yes"]
    with ProviderLock(world.directory / "state" / "locks", world.provider_id):
        code, out, _ = _run(cap, ["run", *config], world.env, world.clock)
    assert code == EXIT_REFUSED and "another gitrollback run" in _error(out, "precondition", EXIT_REFUSED)["message"]
    world.kube.token = "rotated"
    code, out, _ = _run(cap, ["run", *config], world.env, world.clock)  # refused while taking the Lease
    assert code == EXIT_USAGE and "Unauthorized" in _error(out, "preflight_failed", EXIT_USAGE)["message"]
    world.kube.token = "sandbox-kube-token"
    world.imagefactory.set_cluster_reachable(world.provider_id, False)  # the validate job cannot reach the cluster
    code, out, _ = _run(cap, ["run", *config], world.env, world.clock)
    report = _one_document(out)
    assert code == EXIT_FAILED and report["status"] == "failed" and report["error_kind"] == "verification_failed"


def test_unwritable_notes_keep_the_rollback_outcome(cap, world: SandboxWorld, tmp_path: Path) -> None:
    """The CLI's pre-flight check refuses a notes path it cannot write before anything changes (exit 2); a notes file
    that becomes unwritable during the run does not turn a finished rollback into an error: the report says
    rolled_back, with notes_error and the notes themselves."""
    from gitrollback import Rollback, parse_config
    from gitrollback.report import report_json

    notes = tmp_path / "no-such-dir" / "notes.md"
    argv = ["run", "--yes", "--json", "--notes", str(notes), "--config", str(world.config_path)]
    code, out, err = _run(cap, argv, world.env, world.clock)
    assert code == EXIT_USAGE and _one_document(out)["error_kind"] == "preflight_failed"
    assert world.imagefactory.provider(world.provider_id)["status"] == "offline" and "internal error" not in err
    settings = parse_config(world.config_text, source=str(world.config_path))
    with Rollback.from_settings(
        settings, env=world.env, read_file=lambda p: Path(p).read_text(), clock=world.clock
    ) as rb:
        report = rb.run(notes=notes)
    assert report.status == "rolled_back" and report.notes_error == "No such file or directory"
    document = report_json(report)
    assert document["notes"] == {"path": str(notes), "written": False, "error": "No such file or directory"}
    assert document["incident"]["restored_version"]


def test_non_utf8_files_and_a_file_as_state_dir_exit_2_naming_them(cap, world: SandboxWorld, tmp_path: Path) -> None:
    """A config, kubeconfig or token file that is not UTF-8, and a state_dir that is a file, each exit 2 naming the
    file or setting (with --json: one error document), never 'internal error'."""
    bad_config = tmp_path / "latin1.yaml"
    bad_config.write_bytes(world.config_text.encode() + "# caf\xe9\n".encode("latin-1"))
    code, out, err = _run(cap, ["assess", "--json", "--config", str(bad_config)], world.env, world.clock)
    assert code == EXIT_USAGE and f"{bad_config} is not UTF-8 text" in _error(out, "config", EXIT_USAGE)["message"]
    assert "internal error" not in err

    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_bytes(world.kubeconfig_path.read_bytes() + b"# \xff\n")
    config = tmp_path / "kube.yaml"
    config.write_text(world.config_text.replace(str(world.kubeconfig_path), str(kubeconfig)))
    code, _, err = _run(cap, ["assess", "--config", str(config)], world.env, world.clock)
    assert code == EXIT_USAGE and f"{kubeconfig} is not UTF-8 text" in err and "cluster.kubeconfig" in err

    token = tmp_path / "token"
    token.write_bytes(b"\xfe\xff-not-a-token")
    config = tmp_path / "token.yaml"
    config.write_text(world.config_text.replace(f"token_env: {TOKEN_ENV}", f"token_file: {token}"))
    code, _, err = _run(cap, ["assess", "--config", str(config)], {}, world.clock)
    assert code == EXIT_USAGE and f"{token} is not UTF-8 text" in err

    state_file = tmp_path / "state-is-a-file"
    state_file.write_text("")
    config = tmp_path / "state.yaml"
    config.write_text(world.config_text.replace(str(world.directory / "state"), str(state_file)))
    code, out, err = _run(cap, ["run", "--yes", "--json", "--config", str(config)], world.env, world.clock)
    error = _error(out, "config", EXIT_USAGE)
    assert code == EXIT_USAGE and "state_dir" in error["message"] and "is a file" in error["message"]
    assert world.imagefactory.provider(world.provider_id)["status"] == "offline"


def test_ctrl_d_at_the_prompt_declines(cap, world: SandboxWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """End of input at 'Roll back now?' is a no: exit 3 (not_confirmed), nothing changed."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    code, _, err = _run(cap, ["run", "--config", str(world.config_path)], world.env, world.clock)
    assert code == EXIT_REFUSED and "not confirmed: nothing was changed" in err and "internal error" not in err
    assert world.imagefactory.provider(world.provider_id)["status"] == "offline"


def test_main_leaves_no_logging_handlers_or_filters_behind(cap, world: SandboxWorld) -> None:
    """After main() returns, the root logger has the handlers, filters and level it had before."""
    root = logging.getLogger()
    before = [(h, list(h.filters)) for h in root.handlers], root.level
    _run(cap, ["assess", "--config", str(world.config_path)], world.env, world.clock)
    _run(cap, ["frobnicate"], {})
    assert ([(h, list(h.filters)) for h in root.handlers], root.level) == before


def test_help_and_version_are_one_json_document_with_json(cap) -> None:
    """--help and --version answer with one JSON document under --json (text without it), exit 0."""
    from gitrollback import __version__

    code, out, _ = _run(cap, ["--json", "--version"], {})
    assert code == EXIT_OK and _one_document(out) == {"version": __version__}
    code, out, _ = _run(cap, ["--version"], {})
    assert code == EXIT_OK and out == f"gitrollback {__version__}\n"
    code, out, _ = _run(cap, ["run", "--help", "--json"], {})
    assert code == EXIT_OK and _one_document(out)["help"].startswith("usage: gitrollback run")
    assert "--resume RUN_ID" in _one_document(out)["help"]
    code, out, _ = _run(cap, ["run", "--help"], {})
    assert code == EXIT_OK and out.startswith("usage: gitrollback run")


def test_sandbox_serve_json_prints_one_document_and_ctrl_c_ends_it_cleanly(
    cap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sandbox serve --json prints the world's addresses as one document once it is up; Ctrl-C, the way to stop it,
    exits 0 and adds nothing to stdout."""

    def ctrl_c(stop: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gitrollback.cli.sandbox._until_stopped", ctrl_c)
    code, out, err = _run(cap, ["sandbox", "serve", "--json", "--dir", str(tmp_path / "w")], {})
    assert code == EXIT_OK, err
    document = _one_document(out)
    assert document["config"] == str(tmp_path / "w" / "gitrollback.yaml") and Path(document["env_file"]).exists()
    assert set(document["servers"]) == {"imagefactory", "kubernetes"} and document["mode"] == "image_factory_installer"
    assert document["servers"]["imagefactory"].startswith("http://127.0.0.1:") and "Stopped." in err
    token = Path(document["env_file"]).read_text().strip().split("=", 1)[1]
    assert token not in out
