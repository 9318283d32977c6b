"""The CI formats on their own: workflow-command escaping, GITHUB_OUTPUT's heredoc, the step summary's 1 MiB,
GitLab section names and the dotenv report's limits, each checked against the reader's rule it follows."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from gitrollback.cli import ci_format
from gitrollback.cli.ci import CIEnvironment, write_files
from gitrollback.cli.ci_outcome import Outcome, StepRow
from gitrollback.cli.ci_summary import summary_markdown
from gitrollback.cli.output import Redactor
from tests.deploy.test_ci_templates import read_github_output, read_gitlab_dotenv


def test_workflow_commands_escape_as_the_toolkit_does() -> None:
    """Data: % CR LF; properties also : and , (actions/toolkit packages/core/src/command.ts); % first, so an
    existing %0A stays literal text."""
    assert ci_format.escape_data("50% done\r\nnext %0A") == "50%25 done%0D%0Anext %250A"
    assert ci_format.escape_property("a: b, c\n") == "a%3A b%2C c%0A"
    line = ci_format.workflow_command("error", "line 1\n::warning::forged", title="run: failed, see log")
    assert line == "::error title=run%3A failed%2C see log::line 1%0A::warning::forged"
    assert "\n" not in line
    assert ci_format.workflow_command("endgroup", "") == "::endgroup::"


def test_an_output_value_can_never_end_its_own_entry() -> None:
    """A delimiter found in the value is drawn again; the runner's reader gets the value back unchanged."""
    drawn = iter(["EOF", "EOF2", "ghadelimiter_x"])
    value = "first\nEOF\nstatus<<EOF2\nsecond"
    entry = ci_format.github_output("notes", value, new_delimiter=lambda: next(drawn))
    assert entry.startswith("notes<<ghadelimiter_x\n")
    assert read_github_output(entry + ci_format.github_output("status", "ok")) == {"notes": value, "status": "ok"}


def test_random_delimiters_differ_and_follow_the_toolkits_prefix() -> None:
    """Two entries never share a delimiter (uuid4, as prepareKeyValueMessage's uuid)."""
    first, second = (ci_format.github_output("a", "1").split("\n")[0] for _ in range(2))
    assert first != second and first.startswith("a<<ghadelimiter_")


def test_the_step_summary_is_cut_under_one_mib_with_a_note() -> None:
    """A 2 MiB summary is cut at a line, an open <details> closed, and a note says where the rest is."""
    text = "### head\n\n<details><summary>x</summary>\n\n" + "a line of notes\n" * 140_000
    fitted = ci_format.fit_summary(text, ci_format.STEP_SUMMARY_MAX_BYTES)
    assert len(fitted.encode("utf-8")) <= ci_format.STEP_SUMMARY_MAX_BYTES
    assert fitted.count("<details>") == fitted.count("</details>") == 1
    assert "GitHub keeps at most 1 MiB per step" in fitted
    assert ci_format.fit_summary("short", 100) == "short" and ci_format.fit_summary("x" * 500, 10) == ""


def test_appending_counts_what_the_step_already_wrote(tmp_path: Path) -> None:
    """The summary file already holds 1 MiB minus 2 KB: what gitrollback appends keeps the file within 1 MiB."""
    summary = tmp_path / "summary"
    summary.write_bytes(b"x" * (ci_format.STEP_SUMMARY_MAX_BYTES - 2048))
    notes = "\n".join(f"- timeline entry {i}" for i in range(50))
    result = Outcome("run", "failed", 1, error="boom " * 300, notes=notes)
    assert write_files(CIEnvironment("github", step_summary=str(summary)), result, Redactor()) == []
    assert len(summary.read_bytes()) <= ci_format.STEP_SUMMARY_MAX_BYTES
    assert summary.read_text(encoding="utf-8").endswith("(or in the `--json` output)._\n")


def test_section_names_keep_only_what_gitlab_accepts() -> None:
    """[a-zA-Z0-9_.-] survive, anything else becomes _; the header stays on one line."""
    assert ci_format.section_name("smoke-build.v1_x") == "smoke-build.v1_x"
    assert ci_format.section_name("apply waves: 2/3") == "apply_waves__2_3"
    start = ci_format.section_start("a b", "head\nline", 1700000000, collapsed=True)
    assert start == "\x1b[0Ksection_start:1700000000:a_b[collapsed=true]\r\x1b[0Khead line"
    assert ci_format.section_end("a b", 1700000009) == "\x1b[0Ksection_end:1700000009:a_b\r\x1b[0K"


def test_the_dotenv_report_stays_within_gitlabs_limits() -> None:
    """Multi-line values become one line; an oversized value is shortened (at a character boundary) until the file
    is under 5 KB, and GITROLLBACK_TRUNCATED says so; a small report is left alone."""
    small = ci_format.dotenv_text({"GITROLLBACK_STATUS": "failed", "GITROLLBACK_ERROR": "two\nlines"})
    assert read_gitlab_dotenv(small.encode()) == {"GITROLLBACK_STATUS": "failed", "GITROLLBACK_ERROR": "two lines"}
    big = ci_format.dotenv_text({"GITROLLBACK_STATUS": "failed", "GITROLLBACK_ERROR": "é" * 20_000, "B": "x" * 4000})
    variables = read_gitlab_dotenv(big.encode())
    assert variables["GITROLLBACK_TRUNCATED"] == "true" and variables["GITROLLBACK_STATUS"] == "failed"
    assert variables["GITROLLBACK_ERROR"].endswith("...") and len(big.encode()) < ci_format.DOTENV_MAX_BYTES
    with pytest.raises(ValueError, match="cannot fit"):
        ci_format.dotenv_text({"K" * 100: "v"}, max_bytes=50)


def test_the_summary_escapes_what_would_break_its_table() -> None:
    """A | or a newline in a detail cannot open a new cell or row; HTML is shown as text."""
    result = Outcome("run", "failed", 1, steps=(StepRow("apply", "failed", "a | b\n<script>", 1.0),))
    text = summary_markdown(result)
    assert "| apply | failed | 1.0 s | a \\| b &lt;script&gt; |" in text


@pytest.mark.parametrize("secret", ["p%ss:w,rd|<x>", "tok\nen%0A", "plain-token-value"])
def test_the_redactor_masks_a_secret_in_every_escaped_form(secret: str) -> None:
    """Whichever format a secret was written in, the redactor finds it."""
    redact = Redactor([secret])
    forms = [
        secret,
        ci_format.escape_data(secret),
        ci_format.escape_property(secret),
        ci_format.markdown_cell(secret),
        ci_format.one_line(secret),
    ]
    for form, prefix in itertools.product(forms, ["", "x "]):
        assert redact(prefix + form) == prefix + "***", form


def test_a_dotenv_value_with_a_dollar_reaches_the_later_job_as_written() -> None:
    """GitLab stores the report's variables unexpanded-raw (``raw: false``) and the later job's runner expands
    them: ``$IMAGEFACTORY_TOKEN`` in an error message would become that job's token. ``$`` is written ``$$``,
    which the runner turns back into ``$``; shortening never splits the pair."""
    error = "token_env $IMAGEFACTORY_TOKEN is unset (${HOME}, $$, 5$)"
    text = ci_format.dotenv_text({"GITROLLBACK_ERROR": error})
    assert read_gitlab_dotenv(text.encode()) == {"GITROLLBACK_ERROR": error}
    long = ci_format.dotenv_text({"A": "$" * 10_000, "B": "x"})
    variables = read_gitlab_dotenv(long.encode())
    assert set(variables["A"]) <= {"$", "."} and variables["A"].endswith("...") and variables["B"] == "x"
    assert len(long.encode()) < ci_format.DOTENV_MAX_BYTES


def test_tekton_results_fit_the_termination_message_in_their_json_form(tmp_path: Path) -> None:
    """The results reach Tekton as JSON in the step's termination message (at most 4096 bytes, with the
    entrypoint's own entries): ``&`` and ``<`` are six bytes each there, so each value is capped in that form and
    all five, encoded as Go does, leave more than 1 KB for the rest."""
    import json

    hostile = Outcome(
        "run", "failed", 1, known_good="<" * 5000, rollback_commit='"' * 5000, change_request_url="&" * 5000
    )
    write_files(CIEnvironment(tekton_results=str(tmp_path)), hostile, Redactor())
    entries = [
        {"key": name, "value": (tmp_path / name).read_text(encoding="utf-8"), "type": 1}
        for name in ("status", "exit-code", "known-good", "rollback-commit", "change-request-url")
    ]
    go_json = json.dumps(entries, separators=(",", ":")).replace("<", "\\u003c").replace("&", "\\u0026")
    assert len(go_json.encode()) <= 4096 - 1024, len(go_json)
    assert entries[2]["value"].startswith("<<<") and entries[2]["value"].endswith("...")
    assert ci_format.tekton_result("ok \n value") == "ok value"
