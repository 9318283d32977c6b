"""CI-native output, through the real CLI against sandbox worlds: GitHub Actions' step summary, outputs, groups and
annotations; GitLab's sections and dotenv report; Tekton's results; secrets in all of them; terminal vs pipe.

Every file is read back with the CI's own rules (the readers in tests/deploy/test_ci_templates.py).
"""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from gitrollback.cli import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from gitrollback.cli.ci import detect
from gitrollback.cli.output import Output
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import TOKEN_ENV, SandboxWorld
from tests.deploy.test_ci_templates import read_github_output, read_gitlab_dotenv


class FakeTTY(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _main(
    argv: list[str], env: dict[str, str], clock: FakeClock, err: io.StringIO | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), err if err is not None else io.StringIO()
    code = main(argv, env=env, output=Output(out, err), clock=clock)
    return code, out.getvalue(), err.getvalue()


def _github(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """GitHub Actions' variables with the runner's two files (it creates them empty for each step)."""
    summary, output = tmp_path / "step_summary", tmp_path / "output"
    summary.touch()
    output.touch()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output), "CI": "true"}
    return env, summary, output


# -- GitHub Actions ---------------------------------------------------------------------------------------------


def test_a_run_under_github_actions_writes_the_step_summary_and_the_outputs(
    world: SandboxWorld, tmp_path: Path
) -> None:
    """run --yes: the outputs parse with the runner's rules and carry the outcome; the summary, appended after what
    the step wrote before, has the status, the known-good revision with its reason, a row per step and the incident
    notes; the log has a balanced group per step."""
    ci, summary, output = _github(tmp_path)
    summary.write_text("earlier content of this step\n", encoding="utf-8")
    code, out, err = _main(["run", "--yes", "--config", str(world.config_path)], {**world.env, **ci}, world.clock)
    assert code == EXIT_OK, err
    outputs = read_github_output(output.read_text(encoding="utf-8"))
    assert outputs == {
        "status": "rolled_back",
        "exit-code": "0",
        "known-good": world.repo.good,
        "rollback-commit": "",
        "change-request-url": "",
    }
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier content of this step\n### gitrollback run: rolled_back\n")
    assert f"| Known-good | `{world.repo.good}` (" in text and "pin git-clone image" in text
    for step in ("assess", "known-good", "apply", "validate", "readiness", "smoke-build"):
        assert re.search(rf"^\| {re.escape(step)} \| succeeded \| \d+\.\d s \| ", text, re.MULTILINE), step
    assert "<details><summary>Incident notes</summary>" in text and "**Restored version:**" in text
    assert text.count("<details>") == text.count("</details>") == 1
    groups = re.findall(r"^::group::([a-z-]+): ", err, re.MULTILINE)
    assert groups[:2] == ["assess", "known-good"] and err.count("::endgroup::") == len(groups)
    assert "::error" not in err and "Result: rolled_back" in out


def test_json_under_github_actions_keeps_stdout_one_document_and_still_writes_the_files(
    world: SandboxWorld, tmp_path: Path
) -> None:
    """run --json --yes: stdout is exactly the report; the outputs and the summary are written; the groups go to
    stderr, where the runner shows them."""
    ci, summary, output = _github(tmp_path)
    argv = ["run", "--json", "--yes", "--config", str(world.config_path)]
    code, out, err = _main(argv, {**world.env, **ci}, world.clock)
    assert code == EXIT_OK
    assert json.loads(out)["status"] == "rolled_back"
    assert read_github_output(output.read_text(encoding="utf-8"))["known-good"] == world.repo.good
    assert summary.read_text(encoding="utf-8").startswith("### gitrollback run: rolled_back\n")
    assert "::group::apply: " in err


def test_a_failed_run_is_annotated_once_and_its_outputs_say_failed(world: SandboxWorld, tmp_path: Path) -> None:
    """The validate job fails (Image Factory cannot reach the cluster): exit 1, one ::error annotation for the failed
    step (none added on top), status failed in the outputs, the error in the summary."""
    world.imagefactory.set_cluster_reachable(world.provider_id, False)
    ci, summary, output = _github(tmp_path)
    code, _, err = _main(["run", "--yes", "--config", str(world.config_path)], {**world.env, **ci}, world.clock)
    assert code == EXIT_FAILED
    annotations = re.findall(r"^::error title=([^:]*)::(.*)$", err, re.MULTILINE)
    assert [title for title, _ in annotations] == ["gitrollback validate"]
    outputs = read_github_output(output.read_text(encoding="utf-8"))
    assert (outputs["status"], outputs["exit-code"]) == ("failed", "1")
    text = summary.read_text(encoding="utf-8")
    assert "| validate | failed |" in text and "| Error | " in text


@pytest.mark.parametrize(
    ("argv", "code", "status", "needle"),
    [
        (["assess", "--config", "/nonexistent.yaml"], EXIT_USAGE, "error", "config file not found"),
        (["run", "--json", "--config", "{config}"], EXIT_REFUSED, "refused", "without confirmation"),
        (["plan", "--frobnicate"], EXIT_USAGE, "error", "unrecognized arguments"),
    ],
)
def test_an_error_before_any_report_still_writes_the_outputs_and_says_what_to_do(  # noqa: PLR0917
    world: SandboxWorld, tmp_path: Path, argv: list[str], code: int, status: str, needle: str
) -> None:
    """A config error, a refusal and a usage error: the outputs carry the status and exit code, the summary the
    message and the next step, and one ::error annotation says it on the run."""
    ci, summary, output = _github(tmp_path)
    argv = [a.replace("{config}", str(world.config_path)) for a in argv]
    got, _, err = _main(argv, {**world.env, **ci}, world.clock)
    assert got == code
    outputs = read_github_output(output.read_text(encoding="utf-8"))
    assert (outputs["status"], outputs["exit-code"]) == (status, str(code))
    text = summary.read_text(encoding="utf-8")
    assert text.startswith(f"### gitrollback {argv[0]}: {status}\n") and needle in text and "| Next | " in text
    assert len(re.findall(rf"^::error title=gitrollback {argv[0]}%3A {status}::", err, re.MULTILINE)) == 1


def test_commands_without_a_run_outcome_write_no_ci_files(tmp_path: Path, world: SandboxWorld) -> None:
    """known-good answers a question about a repository: no outputs, no summary, under GitHub Actions too, and none
    for its usage errors either."""
    ci, summary, output = _github(tmp_path)
    argv = ["known-good", "--repo", str(world.repo.path), "--path", "backend/tekton"]
    assert _main(argv, ci, world.clock)[0] == EXIT_OK
    assert _main(["known-good", "--bogus"], ci, world.clock)[0] == EXIT_USAGE
    assert summary.read_text(encoding="utf-8") == output.read_text(encoding="utf-8") == ""


def test_a_file_that_cannot_be_written_is_a_warning_not_another_exit_code(world: SandboxWorld, tmp_path: Path) -> None:
    """GITHUB_STEP_SUMMARY names a directory: the outputs are still written, stderr warns, the exit code stays."""
    ci, _, output = _github(tmp_path)
    ci["GITHUB_STEP_SUMMARY"] = str(tmp_path)
    code, _, err = _main(["plan", "--config", str(world.config_path)], {**world.env, **ci}, world.clock)
    assert code == EXIT_OK
    assert f"gitrollback: warning: could not write the step summary to {tmp_path}" in err
    assert read_github_output(output.read_text(encoding="utf-8"))["status"] == "planned"


# -- secrets ----------------------------------------------------------------------------------------------------

#: a token with every character the CI formats escape: % : , | newline-free (a token is one line)
ODD_SECRET = "tok%en:with,odd|chars<&>"


def _escaped_forms(secret: str) -> set[str]:
    """The forms a careless writer would leave a secret in: raw, workflow-command data and property escapes, JSON,
    a Markdown cell."""
    data = secret.replace("%", "%25")
    cell = secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return {secret, data, data.replace(":", "%3A").replace(",", "%2C"), json.dumps(secret)[1:-1], cell}


@pytest.mark.parametrize("as_json", [False, True])
def test_a_secret_in_an_error_message_appears_in_no_output_and_no_file(
    world: SandboxWorld, tmp_path: Path, as_json: bool
) -> None:
    """The Image Factory token, passed by mistake as the provider, ends up in the error message: stdout, stderr,
    the annotation, the step summary, the outputs, the dotenv report and the Tekton results show it as ***, in its
    raw form and in every escaped one."""
    ci, summary, output = _github(tmp_path)
    dotenv, results = tmp_path / "gitrollback.env", tmp_path / "results"
    results.mkdir()
    extra = {"GITROLLBACK_DOTENV": str(dotenv), "GITROLLBACK_TEKTON_RESULTS": str(results)}
    env = {TOKEN_ENV: ODD_SECRET}
    argv = ["assess", "--config", str(world.config_path), "--provider", ODD_SECRET, *(["--json"] if as_json else [])]
    code, out, err = _main(argv, {**env, **ci, **extra}, world.clock)
    assert code == EXIT_USAGE
    # GitLab's variables on a second run: the dotenv report
    gitlab = {"GITLAB_CI": "true", **extra}
    _, out2, err2 = _main(argv, {**env, **gitlab}, world.clock)
    files = [summary, output, dotenv, *results.iterdir()]
    texts = [out, err, out2, err2, *(p.read_text(encoding="utf-8") for p in files)]
    assert "unknown provider '***'" in err and "***" in summary.read_text(encoding="utf-8")
    assert "::error title=gitrollback assess%3A error::" in err and "***" in dotenv.read_text(encoding="utf-8")
    for form in _escaped_forms(ODD_SECRET):
        assert not any(form in text for text in texts), form


def test_a_failed_steps_annotation_masks_the_secret_before_escaping_it() -> None:
    """A step detail holding a secret with % and newlines: the annotation carries *** and no escaped remnant."""
    from datetime import UTC, datetime

    from gitrollback.cli.progress import StepPrinter
    from gitrollback.models import StepRecord, StepStatus

    err = io.StringIO()
    output = Output(io.StringIO(), err)
    secret = "abc%def\nghi"
    output.redact.add([secret])
    printer = StepPrinter(output, ci="github", clock=FakeClock())
    when = datetime(2026, 3, 28, tzinfo=UTC)
    printer.step_started("apply", "apply")
    printer.step_finished(StepRecord("apply", StepStatus.FAILED, when, when, detail=f"server said {secret} twice"))
    assert "::error title=gitrollback apply::server said *** twice" in err.getvalue()
    assert "abc" not in err.getvalue() and "%25" not in err.getvalue()


# -- GitLab CI --------------------------------------------------------------------------------------------------

SECTION = re.compile(r"\x1b\[0Ksection_(start|end):(\d+):([^\r\[]*)(\[collapsed=true\])?\r\x1b\[0K(.*)")


def test_gitlab_sections_carry_the_clocks_time_at_start_and_end(world: SandboxWorld, tmp_path: Path) -> None:
    """run under GITLAB_CI: every step is a section with a name GitLab accepts, opened and closed in order, its
    timestamps the injected clock's at the time (so the waits of validate and smoke-build show as durations), and
    the dotenv report lands at $GITROLLBACK_DOTENV."""
    dotenv = tmp_path / "gitrollback.env"
    env = {**world.env, "GITLAB_CI": "true", "GITROLLBACK_DOTENV": str(dotenv)}
    begin = int(world.clock.now().timestamp())
    code, _, err = _main(["run", "--yes", "--config", str(world.config_path)], env, world.clock)
    end = int(world.clock.now().timestamp())
    assert code == EXIT_OK
    sections = [m.groups() for m in map(SECTION.search, err.split("\n")) if m]
    assert sections and len(sections) % 2 == 0
    for (kind1, start, name1, _, header), (kind2, stop, name2, _, _) in zip(sections[::2], sections[1::2], strict=True):
        assert (kind1, kind2, name1) == ("start", "end", name2)
        assert re.fullmatch(r"[a-zA-Z0-9_.-]+", name1) and header.startswith(f"{name1}: ")
        assert begin <= int(start) <= int(stop) <= end
    durations = {
        name: int(stop) - int(start)
        for (_, start, name, _, _), (_, stop, *_rest) in zip(sections[::2], sections[1::2], strict=True)
    }
    assert durations["smoke-build"] > 0, durations
    variables = read_gitlab_dotenv(dotenv.read_bytes())
    assert (variables["GITROLLBACK_STATUS"], variables["GITROLLBACK_KNOWN_GOOD"]) == ("rolled_back", world.repo.good)


def test_gitlab_dotenv_shortens_an_oversized_value_and_says_so(world: SandboxWorld, tmp_path: Path) -> None:
    """An error message of 20 KB (a 20 KB provider name): the dotenv report stays within GitLab's 5 KB, one line
    per variable, and GITROLLBACK_TRUNCATED=true tells a later job the error was cut."""
    dotenv = tmp_path / "gitrollback.env"
    env = {**world.env, "GITLAB_CI": "true", "GITROLLBACK_DOTENV": str(dotenv)}
    code, _, _ = _main(["assess", "--config", str(world.config_path), "--provider", "p " * 10_000], env, world.clock)
    assert code == EXIT_USAGE
    variables = read_gitlab_dotenv(dotenv.read_bytes())
    assert variables["GITROLLBACK_TRUNCATED"] == "true" and variables["GITROLLBACK_STATUS"] == "error"
    error = variables["GITROLLBACK_ERROR"]
    assert "unknown provider 'p p p" in error and error.endswith("...")


def test_gitlab_without_a_dotenv_path_writes_no_report(
    world: SandboxWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GITLAB_CI alone: no dotenv file anywhere (the job names the path it declares as an artifact)."""
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, _ = _main(["plan", "--config", str(world.config_path)], {**world.env, "GITLAB_CI": "true"}, world.clock)
    assert code == EXIT_OK and list(work.iterdir()) == []
    assert detect({"GITLAB_CI": "true"}).dotenv is None


# -- detection --------------------------------------------------------------------------------------------------


def test_detection_uses_the_real_variables_only() -> None:
    """GITHUB_ACTIONS=true and GITLAB_CI=true, exactly; anything else (CI=true alone, 'false', '1') is no CI."""
    github = detect({"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "/s", "GITHUB_OUTPUT": "/o"})
    assert (github.kind, github.step_summary, github.github_output) == ("github", "/s", "/o")
    gitlab = detect({"GITLAB_CI": "true", "GITROLLBACK_DOTENV": "gitrollback.env"})
    assert (gitlab.kind, gitlab.dotenv) == ("gitlab", "gitrollback.env")
    for env in ({"CI": "true"}, {"GITHUB_ACTIONS": "false"}, {"GITLAB_CI": "1"}, {}):
        assert detect(env).kind == ""
    assert detect({"GITROLLBACK_TEKTON_RESULTS": "/tekton/results"}).tekton_results == "/tekton/results"


# -- terminal vs pipe -------------------------------------------------------------------------------------------


def _terminal_transcript(raw: str) -> list[str]:
    """What a terminal shows at the end: each ``\\r\\x1b[K`` erases the current row."""
    rows: list[str] = []
    for line in raw.split("\n"):
        rows.append(line.split("\r\x1b[K")[-1])
    return [r for r in rows if r]


def test_a_terminal_gets_a_live_status_line_and_the_same_transcript_as_a_pipe(
    world: SandboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the current step, its elapsed seconds and what it waits for are drawn on one rewritten row, and
    erased when the step ends; what stays on screen is what a pipe gets, without the wait lines."""
    monkeypatch.delenv("COLUMNS", raising=False)
    config = ["--config", str(world.config_path)]
    tty = FakeTTY()
    code, _, raw = _main(["run", "--yes", *config], {**world.env, "COLUMNS": "1000"}, world.clock, err=tty)
    assert code == EXIT_OK
    assert re.search(r"\r\x1b\[K-> validate \[\d+s\] waiting for installer job [0-9a-f-]+: ", raw), raw[:2000]
    shown = _terminal_transcript(raw)
    assert "-> apply: " in "\n".join(shown) and not any("waiting for" in row for row in shown)
    assert any(row.startswith("   ok (") for row in shown)


def test_a_pipe_gets_plain_lines_and_ci_never_gets_the_live_line(world: SandboxWorld, tmp_path: Path) -> None:
    """Not a terminal: plain lines, no carriage returns. A terminal under GitHub Actions or with CI=true: no live
    line either."""
    config = ["--config", str(world.config_path)]
    code, _, err = _main(["plan", *config], world.env, world.clock)
    assert code == EXIT_OK and "\r" not in err
    ci, _, _ = _github(tmp_path)
    for env in ({**world.env, **ci}, {**world.env, "CI": "true"}):
        tty = FakeTTY()
        _main(["plan", *config], env, world.clock, err=tty)
        assert "\x1b[K" not in tty.getvalue()


def test_the_live_line_is_cut_to_the_terminal_width() -> None:
    """A status line wider than the terminal would wrap, and \\r could not rewrite it: it is cut to fit."""
    tty = FakeTTY()
    output = Output(io.StringIO(), tty)
    output.width = 40
    output.status("x" * 100)
    drawn = tty.getvalue().split("\r\x1b[K")[-1]
    assert len(drawn) <= 39 and drawn.endswith("...")
    output.message("a log line")
    assert tty.getvalue().endswith("\r\x1b[Ka log line\n\r\x1b[K" + drawn)


def test_elapsed_time_on_the_live_line_comes_from_the_injected_clock() -> None:
    """The seconds shown are the clock's since the step started, not the wait's own count."""
    from gitrollback.cli.progress import StepPrinter

    clock = FakeClock()
    tty = FakeTTY()
    output = Output(io.StringIO(), tty)
    output.width = 1000
    printer = StepPrinter(output, live=True, clock=clock)
    printer.step_started("validate", "run the validate job")
    clock.advance(timedelta(seconds=42).total_seconds())
    printer.waiting("installer job 1", 12.0, "running")
    assert tty.getvalue().endswith("\r\x1b[K-> validate [42s] waiting for installer job 1: running")


def test_the_live_lines_width_is_the_columns_main_was_given_not_the_process_environment(
    world: SandboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``main(env=...)`` is the environment the CLI reads: COLUMNS=40 there cuts every live line to 39 columns,
    whatever ``os.environ`` says; without a width an output whose stream is no terminal device counts 80."""
    monkeypatch.setenv("COLUMNS", "1000")
    tty = FakeTTY()
    env = {**world.env, "COLUMNS": "40"}
    code, _, raw = _main(["run", "--yes", "--config", str(world.config_path)], env, world.clock, err=tty)
    assert code == EXIT_OK
    drawn = [part for part in raw.split("\r\x1b[K")[1:] if part and "\n" not in part]  # not the messages
    assert any(len(line) == 39 and line.endswith("...") for line in drawn), drawn[:5]
    assert max(map(len, drawn)) <= 39
    tty = FakeTTY()
    Output(io.StringIO(), tty).status("x" * 100)
    assert len(tty.getvalue().split("\r\x1b[K")[-1]) == 79


def test_report_warnings_become_warning_annotations_escaped_and_masked(tmp_path: Path) -> None:
    """Under GitHub Actions every warning of the report (the known-good answer's, the GitOps controller's, incident
    notes that could not be written) is a ``::warning`` annotation as well as a summary row: the secret in one is
    masked before escaping, a newline or ``%`` cannot end the line, a ``:`` in the title is escaped."""
    from gitrollback.cli import _report_to_ci
    from gitrollback.cli.ci import detect
    from gitrollback.models import KnownGood, RunReport, SyncStatus

    secret = "s3cr%t-value"
    kg = KnownGood("a" * 40, {}, "job-history", "the last good job", warnings=(f"re-applies\n{secret} 100%",))
    sync = SyncStatus("app", "Synced", "Healthy", "a" * 40, warnings=("ComparisonError: x",))
    report = RunReport(
        "rolled_back", "p1", "gitops", None, kg, (), None, sync=sync, notes_path="/n.md", notes_error="read-only"
    )
    ci, summary, _ = _github(tmp_path)
    err = io.StringIO()
    output = Output(io.StringIO(), err)
    output.redact.add([secret])
    output.recorded = report
    _report_to_ci(detect(ci), output, "run", code=EXIT_OK, failure=None, progress=None)
    annotations = [line for line in err.getvalue().splitlines() if line.startswith("::")]
    assert annotations == [
        "::warning title=gitrollback run%3A warning::re-applies%0A*** 100%25",
        "::warning title=gitrollback run%3A warning::GitOps controller: ComparisonError: x",
        "::warning title=gitrollback run%3A warning::the incident notes were not written to /n.md: read-only",
    ]
    assert summary.read_text(encoding="utf-8").count("| Warning |") == 3 and secret not in err.getvalue()


def _sections(err: str) -> dict[str, tuple[bool, str]]:
    """Each GitLab section by name: whether it starts collapsed, and the log text inside it."""
    found: dict[str, tuple[bool, str]] = {}
    for match in re.finditer(
        r"\x1b\[0Ksection_start:\d+:([a-zA-Z0-9_.-]+)(\[collapsed=true\])?\r\x1b\[0K(.*?)"
        r"\x1b\[0Ksection_end:\d+:\1\r\x1b\[0K",
        err,
        re.DOTALL,
    ):
        found[match.group(1)] = (bool(match.group(2)), match.group(3))
    return found


def test_gitlab_collapses_the_sections_of_steps_that_succeeded_and_leaves_a_failed_one_open(
    world: SandboxWorld, tmp_path: Path
) -> None:
    """The validate job fails: the steps before it are collapsed sections, validate's section is open and holds its
    FAILED line; every line a step printed lies inside its own section."""
    world.imagefactory.set_cluster_reachable(world.provider_id, False)
    env = {**world.env, "GITLAB_CI": "true"}
    code, _, err = _main(["run", "--yes", "--config", str(world.config_path)], env, world.clock)
    assert code == EXIT_FAILED
    sections = _sections(err)
    assert sections["validate"][0] is False and "   FAILED (" in sections["validate"][1]
    succeeded = [name for name, (_, text) in sections.items() if "   ok (" in text]
    assert succeeded and all(sections[name][0] for name in succeeded), sections.keys()
    assert err.count("section_start:") == err.count("section_end:") == len(sections)


def test_gitlab_streams_a_long_step_in_an_open_section_and_releases_a_step_cut_short() -> None:
    """Lines are kept back only while a step is young: past SECTION_HOLD_SECONDS on the clock its section opens,
    expanded, and its wait lines stream. A step the command never finished (an interrupt) still shows its lines,
    in a closed-off expanded section."""
    from datetime import UTC, datetime

    from gitrollback.cli.progress import SECTION_HOLD_SECONDS, StepPrinter
    from gitrollback.models import StepRecord, StepStatus

    clock, err = FakeClock(), io.StringIO()
    output = Output(io.StringIO(), err)
    printer = StepPrinter(output, ci="gitlab", clock=clock)
    printer.step_started("validate", "run the validate job")
    printer.waiting("installer job 1", 0.0, "pending")
    assert err.getvalue() == ""  # young: held until the step's outcome is known
    clock.advance(SECTION_HOLD_SECONDS)
    printer.waiting("installer job 1", SECTION_HOLD_SECONDS, "running")
    text = err.getvalue()
    assert "section_start:" in text and "[collapsed=true]" not in text and "(30s): running" in text
    when = datetime(2026, 3, 28, tzinfo=UTC)
    printer.step_finished(StepRecord("validate", StepStatus.SUCCEEDED, when, when, detail="done"))
    assert err.getvalue().count("section_start:") == 1 and "section_end:" in err.getvalue()
    err.truncate(0), err.seek(0)
    printer.step_started("apply", "apply the objects")
    output.message("WARNING gitrollback: a log line inside the step")
    printer.close()
    sections = _sections(err.getvalue())
    assert sections["apply"][0] is False and "a log line inside the step" in sections["apply"][1]


def test_a_message_cannot_issue_a_workflow_command_under_github(world: SandboxWorld, tmp_path: Path) -> None:
    """The runner takes any stderr line that starts, after white space, with ``::`` for a workflow command: a failed
    step's detail (a server's answer) carrying ``\\n::add-mask::`` and ``\\n  ::error::`` is quoted on every line,
    while gitrollback's own group and annotation stay commands. ``main`` turns the quoting on under GitHub only."""
    from datetime import UTC, datetime

    from gitrollback.cli.progress import StepPrinter
    from gitrollback.models import StepRecord, StepStatus

    ci, _, _ = _github(tmp_path)
    output = Output(io.StringIO(), io.StringIO())
    main(["plan", "--config", str(world.config_path)], env={**world.env, **ci}, output=output, clock=world.clock)
    assert output.quote_commands
    plain = Output(io.StringIO(), io.StringIO())
    main(["plan", "--config", str(world.config_path)], env=world.env, output=plain, clock=world.clock)
    assert not plain.quote_commands

    err = io.StringIO()
    output = Output(io.StringIO(), err)
    output.quote_commands = True
    printer = StepPrinter(output, ci="github", clock=FakeClock())
    when = datetime(2026, 3, 28, tzinfo=UTC)
    printer.step_started("apply", "apply")
    detail = "server said:\n::add-mask::x\n  ::error title=forged::y"
    printer.step_finished(StepRecord("apply", StepStatus.FAILED, when, when, detail=detail))
    commands = [line.lstrip().split("::")[1] for line in err.getvalue().splitlines() if line.lstrip().startswith("::")]
    assert commands == ["group", "endgroup", "error title=gitrollback apply"]
    assert "\n> ::add-mask::x\n  > ::error title=forged::y\n" in err.getvalue()
