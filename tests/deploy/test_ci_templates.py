"""The Tekton Task's step, the GitHub composite action and the GitLab job template, run for real against a sandbox
world with the variables each CI sets, their outputs read back with each CI's own rules for the file formats."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitrollback.cli import EXIT_OK, EXIT_USAGE
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld, build_sandbox
from tests.deploy.deploy_files import DEPLOY, documents

TASK = documents(DEPLOY / "tekton" / "gitrollback-task.yaml")[0]
ACTION = documents(DEPLOY / "github" / "action.yml")[0]
WORKFLOW = documents(DEPLOY / "github" / "rollback-workflow.yml")[0]
GITLAB = documents(DEPLOY / "gitlab" / "gitrollback.gitlab-ci.yml")[0]
PROVIDER = "sandbox"  # the provider's name in the sandbox's gitrollback.yaml


@pytest.fixture(name="world", scope="module")
def _world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxWorld]:
    """One sandbox world for every script here: plan and assess only read it. Simulated time starts now, so the
    token its Image Factory issues is valid for the scripts' own (real) clock too."""
    directory = tmp_path_factory.mktemp("ci") / "world"
    with build_sandbox(directory, clock=FakeClock(datetime.now(UTC)), tick=5.0, poll_interval=2.0) as world:
        yield world


def _environment(world: SandboxWorld, tmp_path: Path, **extra: str) -> dict[str, str]:
    """What the CI gives a job here: PATH with this interpreter first, a private HOME, the token, ``extra``."""
    path = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    return {"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8", **world.env, **extra}


# -- Tekton ----------------------------------------------------------------------------------------------------


def _tekton_step(world: SandboxWorld, tmp_path: Path, command: str) -> tuple[int, dict[str, str], str]:
    """Run the Task's step as Tekton would: ``$(params.*)`` and ``$(workspaces.*)`` substituted into its env values,
    the results directory ``/tekton/results`` a private one, the script run as an executable file (its shebang
    chooses the shell); returns the exit code, the result files' contents and stdout."""
    spec = TASK["spec"]
    params = {p["name"]: p.get("default", "") for p in spec["params"]} | {"command": command, "provider": PROVIDER}
    results = tmp_path / "results"
    results.mkdir()

    def substitute(text: str) -> str:
        text = re.sub(r"\$\(params\.([a-z-]+)\)", lambda m: params[m.group(1)], text)
        text = text.replace("$(workspaces.config.path)", str(world.config_path.parent))
        return text.replace("/tekton/results", str(results))

    [step] = spec["steps"]
    assert "$(params" not in step["script"], "parameters reach the script as environment variables only"
    env = {e["name"]: substitute(e["value"]) for e in step["env"] if "value" in e}
    script = tmp_path / "step"
    script.write_text(step["script"], encoding="utf-8")
    script.chmod(0o755)
    done = subprocess.run(
        [str(script)],
        env=_environment(world, tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, {p.name: p.read_text(encoding="utf-8") for p in results.iterdir()}, done.stdout


def test_the_tekton_step_plans_and_writes_every_result(world: SandboxWorld, tmp_path: Path) -> None:
    """command=plan: exit 0, status planned, the known-good revision; empty gitops results; one file per declared
    result, written by gitrollback itself; the JSON plan is the log."""
    code, results, log = _tekton_step(world, tmp_path, "plan")
    assert code == EXIT_OK
    assert sorted(results) == sorted(r["name"] for r in TASK["spec"]["results"])
    assert results == {
        "status": "planned",
        "exit-code": "0",
        "known-good": world.repo.good,
        "rollback-commit": "",
        "change-request-url": "",
    }
    assert json.loads(log)["status"] == "planned"


def test_the_tekton_step_passes_an_assess_verdict_through(world: SandboxWorld, tmp_path: Path) -> None:
    """command=assess: the verdict is the status."""
    code, results, _ = _tekton_step(world, tmp_path, "assess")
    assert (code, results["status"], results["exit-code"]) == (EXIT_OK, "rollback", "0")


def test_the_tekton_step_refuses_an_unknown_command_without_running_it(world: SandboxWorld, tmp_path: Path) -> None:
    """command=known-good is not one the Task runs: exit 2 before gitrollback starts (no results)."""
    code, results, _ = _tekton_step(world, tmp_path, "known-good")
    assert (code, results) == (EXIT_USAGE, {})


# -- GitHub Actions --------------------------------------------------------------------------------------------


def read_github_output(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as the runner reads it (actions/runner ``FileCommandManager.cs``): ``name=value`` lines,
    or ``name<<DELIMITER``, the value's lines, and a line that is exactly ``DELIMITER``; an empty name or a missing
    delimiter is an error."""
    outputs: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        heredoc, equals = line.find("<<"), line.find("=")
        if heredoc >= 0 and (equals < 0 or heredoc < equals):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            assert name and delimiter, f"invalid output line {line!r}"
            value: list[str] = []
            for body in lines:
                if body == delimiter:
                    break
                value.append(body)
            else:
                raise AssertionError(f"matching delimiter not found: {delimiter!r}")
            outputs[name] = "\n".join(value)
        else:
            assert equals > 0, f"invalid output line {line!r}"
            outputs[line[:equals]] = line[equals + 1 :]
    return outputs


def _github_step(
    world: SandboxWorld, tmp_path: Path, **inputs: str
) -> tuple[int, dict[str, str], str, Path, subprocess.CompletedProcess[str]]:
    """Run the action's gitrollback step as the runner would (``shell: bash``: ``bash --noprofile --norc -eo
    pipefail {0}``), its env with ``${{ inputs.* }}`` filled in, the runner's files present (it creates them empty);
    returns the exit code, the outputs, the step summary, the work dir and the process."""
    given = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()} | inputs
    [step] = [s for s in ACTION["runs"]["steps"] if s.get("id") == "gitrollback"]
    assert step["shell"] == "bash"
    assert "${{" not in step["run"], "inputs reach the script as environment variables only"
    env = {k: re.sub(r"\$\{\{ inputs\.([a-z-]+) \}\}", lambda m: given[m.group(1)], v) for k, v in step["env"].items()}
    work = tmp_path / "workspace"
    work.mkdir()
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.touch()
    summary.touch()
    script = tmp_path / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    extra = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), **env}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=work,
        env=_environment(world, tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outputs = read_github_output(output.read_text(encoding="utf-8"))
    return done.returncode, outputs, summary.read_text(encoding="utf-8"), work, done


def test_the_github_action_writes_its_outputs_and_a_step_summary(world: SandboxWorld, tmp_path: Path) -> None:
    """plan: gitrollback writes every declared output in GITHUB_OUTPUT's format and a Markdown summary with the
    planned steps, the report is saved and printed, and the step exits with gitrollback's code. (A run's groups and
    annotations: tests/cli/test_ci_output.py.)"""
    code, outputs, summary, work, done = _github_step(
        world, tmp_path, command="plan", provider=PROVIDER, config=str(world.config_path)
    )
    assert code == EXIT_OK, done.stderr
    declared = {name: spec["value"] for name, spec in ACTION["outputs"].items()}
    assert declared == {name: f"${{{{ steps.gitrollback.outputs.{name} }}}}" for name in outputs}
    assert outputs == {
        "status": "planned",
        "exit-code": "0",
        "known-good": world.repo.good,
        "rollback-commit": "",
        "change-request-url": "",
    }
    assert summary.startswith("### gitrollback plan: planned\n\n| | |\n|---|---|\n| Status | `planned` |\n")
    assert f"| Known-good | `{world.repo.good}` (" in summary and "| Step | Result | Time | Detail |" in summary
    report = json.loads((work / "gitrollback-report.json").read_text(encoding="utf-8"))
    assert report["status"] == "planned" and json.loads(done.stdout) == report


def test_the_github_action_reports_a_usage_error_with_exit_2(world: SandboxWorld, tmp_path: Path) -> None:
    """An unknown provider: exit 2, status error, an ::error annotation, and the summary says what to do next."""
    code, outputs, summary, work, done = _github_step(
        world, tmp_path, command="assess", provider="no-such-provider", config=str(world.config_path)
    )
    assert (code, outputs["status"], outputs["exit-code"]) == (EXIT_USAGE, "error", "2")
    assert "| Status | `error` |" in summary and "unknown provider" in summary and "| Next |" in summary
    assert "::error title=gitrollback assess%3A error::" in done.stderr
    assert json.loads((work / "gitrollback-report.json").read_text(encoding="utf-8"))["error"]["exit_code"] == 2


def test_the_example_workflow_uses_the_action_with_its_inputs_and_secrets_in_env() -> None:
    """The workflow calls deploy/github with inputs the action declares; tokens come from secrets through env."""
    [job] = WORKFLOW["jobs"].values()
    [use] = [s for s in job["steps"] if str(s.get("uses", "")).split("@")[0].endswith("/gitrollback/deploy/github")]
    assert set(use["with"]) <= set(ACTION["inputs"])
    assert all(re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", v) for v in use["env"].values())
    assert "IMAGEFACTORY_TOKEN" in use["env"]
    dispatch = WORKFLOW[True]["workflow_dispatch"]  # PyYAML reads the key `on` as YAML 1.1's boolean true
    assert set(dispatch["inputs"]["command"]["options"]) == {"run", "plan", "assess"}


# -- GitLab CI ------------------------------------------------------------------------------------------------

DOTENV_LINE = re.compile(r"^(.*?)=(.*)$")
DOTENV_KEY = re.compile(r"\A[a-zA-Z0-9_]+\Z")
DOTENV_MAX_BYTES = 5 * 1024
DOTENV_MAX_VARIABLES = 20


_GO_EXPAND = re.compile(r"\$(?:\{([^}]*)\}|([*#$@!?0-9-])|([A-Za-z0-9_]+))")


def runner_expand(value: str, variables: Mapping[str, str] | None = None) -> str:
    """``value`` as a later job sees it: the report's variables are stored with ``raw: false``
    (``parse_dotenv_artifact_service.rb``), so gitlab-runner expands them (``common/variables.go``,
    ``JobVariables.ExpandValue``: Go's ``os.Expand``, where ``$$`` is a literal ``$`` and an unknown name is
    empty)."""
    known = variables or {}

    def one(match: re.Match[str]) -> str:
        name = match.group(1) if match.group(1) is not None else match.group(2) or match.group(3)
        return "$" if name == "$" else known.get(name, "")

    return _GO_EXPAND.sub(one, value)


def read_gitlab_dotenv(raw: bytes) -> dict[str, str]:
    """A dotenv report as GitLab reads it (gitlab-org/gitlab ``app/services/ci/parse_dotenv_artifact_service.rb``
    and the key format of ``Ci::HasVariable``): smaller than 5 KB, every line ``key=value`` (an empty line is an
    invalid format), both sides stripped, keys of ASCII letters, digits and ``_``, at most 20 variables (the
    smallest plan limit); each value as a later job's runner expands it (``runner_expand``)."""
    assert len(raw) < DOTENV_MAX_BYTES, "Dotenv Artifact Too Big"
    variables: dict[str, str] = {}
    for line in raw.decode("utf-8").splitlines():
        match = DOTENV_LINE.match(line)
        assert match is not None, f"Invalid Format: {line!r}"
        key, value = match.group(1).strip(), match.group(2).strip()
        assert DOTENV_KEY.match(key), f"invalid key {key!r}"
        variables[key] = runner_expand(value)
    assert len(variables) <= DOTENV_MAX_VARIABLES
    return variables


def _gitlab_job(world: SandboxWorld, tmp_path: Path, **variables: str) -> tuple[int, Path, str]:
    """Run the template's script as the runner's shell would (one script, ``sh -e``), with its variables
    overridden by ``variables``, in a fresh project dir; returns the exit code, that dir and stderr."""
    job = GITLAB[".gitrollback"]
    project = tmp_path / "project"
    project.mkdir()
    env = {**job["variables"], **variables, "GITLAB_CI": "true", "CI_PROJECT_DIR": str(project)}
    done = subprocess.run(
        ["sh", "-e", "-c", "\n".join(job["script"])],
        cwd=project,
        env=_environment(world, tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, project, done.stderr


def test_the_gitlab_template_writes_a_dotenv_report_gitlab_accepts(world: SandboxWorld, tmp_path: Path) -> None:
    """plan: gitrollback writes the dotenv report where the job declares it, GitLab's rules accept it and it carries
    the outcome; the artifacts exist; the image's entry point is cleared. (A run's sections:
    tests/cli/test_ci_output.py.)"""
    job = GITLAB[".gitrollback"]
    assert job["image"]["entrypoint"] == [""]
    code, project, log = _gitlab_job(
        world,
        tmp_path,
        GITROLLBACK_COMMAND="plan",
        GITROLLBACK_PROVIDER=PROVIDER,
        GITROLLBACK_CONFIG=str(world.config_path),
    )
    assert code == EXIT_OK, log
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert job["variables"]["GITROLLBACK_DOTENV"] == artifacts["reports"]["dotenv"]
    assert all((project / path).is_file() for path in artifacts["paths"])
    variables = read_gitlab_dotenv((project / artifacts["reports"]["dotenv"]).read_bytes())
    assert variables == {
        "GITROLLBACK_STATUS": "planned",
        "GITROLLBACK_EXIT_CODE": "0",
        "GITROLLBACK_KNOWN_GOOD": world.repo.good,
        "GITROLLBACK_ROLLBACK_COMMIT": "",
        "GITROLLBACK_CHANGE_REQUEST_URL": "",
        "GITROLLBACK_ERROR": "",
    }
    assert json.loads((project / "gitrollback-report.json").read_text(encoding="utf-8"))["status"] == "planned"


def test_the_gitlab_template_fails_the_job_with_gitrollbacks_exit_code(world: SandboxWorld, tmp_path: Path) -> None:
    """An unknown provider: the job exits 2 and the dotenv report still says so, and why."""
    code, project, _ = _gitlab_job(
        world,
        tmp_path,
        GITROLLBACK_COMMAND="assess",
        GITROLLBACK_PROVIDER="nope",
        GITROLLBACK_CONFIG=str(world.config_path),
    )
    assert code == EXIT_USAGE
    variables = read_gitlab_dotenv((project / "gitrollback.env").read_bytes())
    assert (variables["GITROLLBACK_STATUS"], variables["GITROLLBACK_EXIT_CODE"]) == ("error", "2")
    assert "unknown provider 'nope'" in variables["GITROLLBACK_ERROR"]


def test_the_format_readers_refuse_what_the_cis_refuse() -> None:
    """The two readers are strict where GitHub and GitLab are: a missing delimiter, an empty line, a bad key."""
    assert read_github_output("a<<EOF\nx\ny\nEOF\nb=1\n") == {"a": "x\ny", "b": "1"}
    with pytest.raises(AssertionError, match="delimiter not found"):
        read_github_output("a<<EOF\nx\n")
    assert read_gitlab_dotenv(b"A=1\nB= two words \n") == {"A": "1", "B": "two words"}
    for bad in (b"A=1\n\nB=2\n", b"A-B=1\n", b"noequals\n"):
        with pytest.raises(AssertionError):
            read_gitlab_dotenv(bad)
