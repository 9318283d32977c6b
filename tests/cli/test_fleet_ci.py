"""CI-native output of fleet runs (`sandbox --providers N`, `run --providers`), in-process under each CI's real
variables; every file is read back with the CI's own rules (the readers in tests/deploy/test_ci_templates.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback.cli import EXIT_FAILED, EXIT_OK
from gitrollback.cli import ci as ci_module
from gitrollback.cli.ci_format import DOTENV_TRUNCATED
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import TOKEN_ENV, SandboxWorld, build_sandbox, sandbox_ids
from tests.cli.test_ci_output import _github, _main
from tests.deploy.test_ci_templates import read_github_output, read_gitlab_dotenv

NAMES = ("sandbox-01", "sandbox-02", "sandbox-03")


@pytest.fixture(name="three")
def _three(tmp_path: Path) -> Iterator[SandboxWorld]:
    """Three providers on one broken release, on a FakeClock."""
    with build_sandbox(tmp_path / "world", clock=FakeClock(), tick=5.0, poll_interval=2.0, providers=3) as world:
        yield world


def test_sandbox_fleet_under_github_actions_writes_summary_outputs_and_prefixed_progress(tmp_path: Path) -> None:
    """`sandbox --providers 3 --json`: stdout stays the fleet document; the outputs hold the overall status and exit
    code, the single-provider values empty, and `providers` as compact JSON with every provider; the summary has a
    row per provider; the log has prefixed lines per provider and no ::group:: (threads would interleave them)."""
    ci, summary, output = _github(tmp_path)
    code, out, err = _main(["sandbox", "--providers", "3", "--json"], ci, FakeClock())
    assert code == EXIT_OK, err
    assert json.loads(out)["fleet"]["status"] == "rolled_back"
    outputs = read_github_output(output.read_text(encoding="utf-8"))
    assert set(outputs) == {*ci_module.OUTPUT_NAMES, "providers"}
    assert (outputs["status"], outputs["exit-code"]) == ("rolled_back", "0")
    assert outputs["known-good"] == outputs["rollback-commit"] == outputs["change-request-url"] == ""
    assert "\n" not in outputs["providers"] and ": " not in outputs["providers"]  # compact
    providers = json.loads(outputs["providers"])
    assert list(providers) == list(NAMES)
    for entry in providers.values():
        assert entry["status"] == "rolled_back" and entry["exit-code"] == 0
        assert re.fullmatch(r"[0-9a-f]{40}", entry["known-good"])
        assert set(entry) == {"status", "exit-code", "known-good", "rollback-commit", "change-request-url"}
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### gitrollback sandbox: rolled_back\n")
    assert "| Provider | Mode | Status | Known-good | Rollback commit | Change request | Duration |" in text
    for name in NAMES:
        pattern = rf"^\| {name} \| image_factory_installer \| `rolled_back` \| `[0-9a-f]{{40}}` \| .*\| \d+\.\d s \|$"
        row = re.search(pattern, text, re.MULTILINE)
        assert row, name
        assert f"[{name}] -> smoke-build:" in err and f"[{name}] => rolled_back" in err
    assert "::group::" not in err and "::error" not in err


def test_a_failed_provider_gets_its_own_annotation_and_row(three: SandboxWorld, tmp_path: Path) -> None:
    """`run --providers` with one provider whose cluster Image Factory cannot reach: exit 1, exactly one ::error
    annotation, its title naming that provider; the outputs and summary say which failed and why."""
    _, failing = sandbox_ids(1)
    three.imagefactory.set_cluster_reachable(failing, False)
    ci, summary, output = _github(tmp_path)
    argv = ["run", "-c", str(three.config_path), "--providers", ",".join(NAMES), "--yes"]
    code, _, err = _main(argv, {TOKEN_ENV: three.token, **ci}, three.clock)
    assert code == EXIT_FAILED, err
    annotations = re.findall(r"^::error title=([^:]*)::(.*)$", err, re.MULTILINE)
    assert [title for title, _ in annotations] == ["gitrollback run%3A sandbox-02%3A failed"], annotations
    outputs = read_github_output(output.read_text(encoding="utf-8"))
    assert (outputs["status"], outputs["exit-code"]) == ("failed", "1")
    status = {k: v["status"] for k, v in json.loads(outputs["providers"]).items()}
    assert status == {"sandbox-01": "rolled_back", "sandbox-02": "failed", "sandbox-03": "rolled_back"}
    text = summary.read_text(encoding="utf-8")
    assert re.search(r"^\| sandbox-02 \| \S+ \| `failed`: .+ \|", text, re.MULTILINE)


def test_sandbox_fleet_under_gitlab_writes_a_dotenv_report_with_each_provider(tmp_path: Path) -> None:
    """GitLab: the dotenv report holds the overall status and exit code and `name:status` per provider; no
    sections (threads would interleave them), prefixed lines instead."""
    dotenv = tmp_path / "gitrollback.env"
    env = {"GITLAB_CI": "true", "CI": "true", "GITROLLBACK_DOTENV": str(dotenv)}
    code, _, err = _main(["sandbox", "--providers", "3"], env, FakeClock())
    assert code == EXIT_OK, err
    variables = read_gitlab_dotenv(dotenv.read_bytes())
    assert (variables["GITROLLBACK_STATUS"], variables["GITROLLBACK_EXIT_CODE"]) == ("rolled_back", "0")
    assert variables["GITROLLBACK_PROVIDERS"] == ",".join(f"{n}:rolled_back" for n in NAMES)
    assert DOTENV_TRUNCATED not in variables
    assert "section_start" not in err and "[sandbox-03] => rolled_back" in err


def test_sandbox_fleet_writes_the_overall_tekton_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    code, _, err = _main(["sandbox", "--providers", "3"], {"GITROLLBACK_TEKTON_RESULTS": str(results)}, FakeClock())
    assert code == EXIT_OK, err
    got = {p.name: p.read_text(encoding="utf-8") for p in results.iterdir()}
    assert got == {"status": "rolled_back", "exit-code": "0", "known-good": "", "rollback-commit": "",
                   "change-request-url": ""}  # fmt: skip


def _rows(count: int, name: str) -> tuple[ci_module.ProviderRow, ...]:
    return tuple(ci_module.ProviderRow(f"{name}-{i:04d}", "gitops", "rolled_back", 0) for i in range(count))


def test_many_providers_fit_the_dotenv_limit_whole_entries_and_flagged(tmp_path: Path) -> None:
    """400 providers with long names do not fit 5 KB: whole entries are kept, the value ends with `,...` and the
    truncation flag is set; the file reads back under GitLab's rules."""
    rows = _rows(400, "a-rather-long-provider-name")
    result = ci_module.Outcome("run", "rolled_back", 0, providers=rows)
    path = tmp_path / "g.env"
    problems = ci_module.write_files(ci_module.CIEnvironment("gitlab", dotenv=str(path)), result, lambda s: s)
    assert problems == []
    variables = read_gitlab_dotenv(path.read_bytes())
    value = variables["GITROLLBACK_PROVIDERS"]
    assert value.endswith(",...") and variables[DOTENV_TRUNCATED] == "true"
    entries = value.removesuffix(",...").split(",")
    assert entries == [f"{r.provider}:rolled_back" for r in rows[: len(entries)]] and len(entries) > 50


def test_a_secret_in_a_provider_error_is_masked_in_every_fleet_file(tmp_path: Path) -> None:
    """A provider row whose error and name carry a secret: masked in the summary, the `providers` output (also in
    its JSON-escaped form) and the dotenv report."""
    secret = 'tok"en%:,|<&>value'
    row = ci_module.ProviderRow(f"p-{secret}", "gitops", "failed", 1, error=f"denied with {secret}")
    result = ci_module.Outcome("run", "failed", 1, providers=(row,))
    ci, summary, output = _github(tmp_path)
    env = ci_module.detect(ci)
    from gitrollback.cli.output import Redactor

    assert ci_module.write_files(env, result, Redactor([secret])) == []
    dotenv = tmp_path / "g.env"
    assert (
        ci_module.write_files(ci_module.CIEnvironment("gitlab", dotenv=str(dotenv)), result, Redactor([secret])) == []
    )
    texts = [summary.read_text("utf-8"), output.read_text("utf-8"), dotenv.read_text("utf-8")]
    for text in texts:
        assert "tok" not in text and "value" not in text.replace("GITROLLBACK_", ""), text
    providers = json.loads(read_github_output(texts[1])["providers"])
    assert list(providers) == ["p-***"]
