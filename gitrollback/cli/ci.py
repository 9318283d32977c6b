"""CI-native output: which CI runs the CLI, and the files it reads the run's outcome from.

``detect`` reads the CI's own variables; ``outcome`` condenses a command's result (or the error that stopped it)
into the few values a pipeline needs; ``write_files`` writes them where each CI looks:

- GitHub Actions (``GITHUB_ACTIONS=true``): a Markdown step summary appended to ``$GITHUB_STEP_SUMMARY`` and the
  outputs ``status``, ``exit-code``, ``known-good``, ``rollback-commit``, ``change-request-url`` appended to
  ``$GITHUB_OUTPUT``. Both files are the runner's, shared by the step's commands, hence appended to.
- GitLab CI (``GITLAB_CI=true``): a dotenv report at ``$GITROLLBACK_DOTENV`` when that is set (the job declares
  the same path under ``artifacts:reports:dotenv``).
- Tekton (``GITROLLBACK_TEKTON_RESULTS``, a Task's results directory, ``/tekton/results``): one file per result.

Only the CLI calls this (it is the one part of gitrollback that reads the environment and writes files); the
values are redacted before they are formatted and the formatted text again, so a secret is masked in its escaped
forms too. ``docs/ci.md`` documents all of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitrollback.cli import EXIT_REFUSED, ci_format
from gitrollback.cli.ci_outcome import Outcome, ProviderRow, StepRow
from gitrollback.cli.ci_summary import summary_markdown

if TYPE_CHECKING:
    from gitrollback.fleet import FleetReport
    from gitrollback.models import RunReport

__all__ = [
    "OUTPUT_NAMES",
    "CIEnvironment",
    "Outcome",
    "ProviderRow",
    "StepRow",
    "detect",
    "outcome",
    "providers_compact",
    "providers_json",
    "write_files",
]

#: the outputs, dotenv variables (``GITROLLBACK_`` + upper case) and Tekton results every run writes
OUTPUT_NAMES = ("status", "exit-code", "known-good", "rollback-commit", "change-request-url")


@dataclass(frozen=True)
class CIEnvironment:
    """Where the CLI runs: ``kind`` is ``"github"``, ``"gitlab"`` or ``""``; each path is None when unset."""

    kind: str = ""
    step_summary: str | None = None
    github_output: str | None = None
    dotenv: str | None = None
    tekton_results: str | None = None


def detect(env: Mapping[str, str]) -> CIEnvironment:
    """The CI from its real variables: GitHub Actions sets ``GITHUB_ACTIONS=true`` and the file paths
    ``GITHUB_STEP_SUMMARY`` and ``GITHUB_OUTPUT``; GitLab sets ``GITLAB_CI=true``; the dotenv and Tekton paths are
    gitrollback's own variables, set by the job (``deploy/gitlab``, ``deploy/tekton``)."""
    tekton = env.get("GITROLLBACK_TEKTON_RESULTS") or None
    if env.get("GITHUB_ACTIONS") == "true":
        return CIEnvironment(
            "github",
            step_summary=env.get("GITHUB_STEP_SUMMARY") or None,
            github_output=env.get("GITHUB_OUTPUT") or None,
            tekton_results=tekton,
        )
    if env.get("GITLAB_CI") == "true":
        return CIEnvironment("gitlab", dotenv=env.get("GITROLLBACK_DOTENV") or None, tekton_results=tekton)
    return CIEnvironment(tekton_results=tekton)


def outcome(
    command: str,
    result: object,
    exit_code: int,
    *,
    error: tuple[str, str, str | None] | None = None,
) -> Outcome:
    """The outcome of ``command``: from its ``result`` (a ``RunReport``, ``RollbackPlan``, ``Assessment`` or a
    fleet's ``FleetReport``), or from ``error`` (kind, message, hint) when it stopped without one: status
    ``refused`` with exit code 3 (a precondition refused; nothing was changed), else ``error``."""
    from gitrollback.fleet import FleetReport
    from gitrollback.models import Assessment, RollbackPlan, RunReport

    if isinstance(result, FleetReport):
        return _from_fleet(command, result, exit_code)
    if isinstance(result, RunReport):
        return _from_report(command, result, exit_code)
    if isinstance(result, RollbackPlan):
        kg = result.known_good
        steps = tuple(StepRow(s.name, "planned", "; ".join((s.description, *s.targets))) for s in result.steps)
        return Outcome(
            command, "planned", exit_code, result.provider_id, kg.revision, kg.source, kg.reason,
            warnings=kg.warnings, steps=steps,
        )  # fmt: skip
    if isinstance(result, Assessment):
        return Outcome(command, result.verdict, exit_code, result.provider_id, advice=result.advice)
    kind, message, hint = error or ("internal", "stopped without a result", None)
    status = "refused" if exit_code == EXIT_REFUSED else "error"
    return Outcome(command, status, exit_code, error=message, error_kind=kind, hint=hint or "")


def _from_report(command: str, report: RunReport, exit_code: int) -> Outcome:
    from gitrollback.report import incident_markdown

    kg = report.known_good
    steps = tuple(
        StepRow(r.name, r.status.value, r.detail, (r.finished_at - r.started_at).total_seconds()) for r in report.steps
    )
    return Outcome(
        command,
        report.status,
        exit_code,
        report.provider_id,
        known_good=kg.revision if kg else "",
        known_good_source=kg.source if kg else "",
        known_good_reason=kg.reason if kg else "",
        rollback_commit=report.rollback_commit or "",
        change_request_url=report.change_request.url if report.change_request else "",
        error=report.error or "",
        error_kind=report.error_kind or "",
        warnings=_report_warnings(report),
        steps=steps,
        notes=incident_markdown(report.incident, report) if report.incident else "",
    )


def _report_warnings(report: RunReport) -> tuple[str, ...]:
    """What an operator must know although the run went on: the known-good answer's warnings, the GitOps
    controller's, and incident notes that could not be written."""
    warnings = list(report.known_good.warnings if report.known_good else ())
    warnings += [f"GitOps controller: {w}" for w in (report.sync.warnings if report.sync else ())]
    if report.notes_error is not None:
        warnings.append(f"the incident notes were not written to {report.notes_path}: {report.notes_error}")
    return tuple(warnings)


def _from_fleet(command: str, fleet: FleetReport, exit_code: int) -> Outcome:
    rows = []
    for o in fleet.outcomes:
        r = o.report
        kg = r.known_good if r is not None else None
        error = (r.error or "") if r is not None and r.status != "rolled_back" else ""
        rows.append(
            ProviderRow(
                o.label,
                o.mode or "",
                o.status,
                o.exit_code,
                known_good=kg.revision if kg is not None else "",
                rollback_commit=(r.rollback_commit or "") if r is not None else "",
                change_request_url=r.change_request.url if r is not None and r.change_request else "",
                seconds=o.duration_seconds,
                error=error or (o.message or "" if o.status != "rolled_back" else ""),
            )
        )
    counts = ", ".join(f"{n} {status}" for status, n in fleet.counts().items())
    return Outcome(command, fleet.status, exit_code, advice=counts, providers=tuple(rows))


def providers_json(rows: tuple[ProviderRow, ...]) -> str:
    """The ``providers`` output: a compact JSON object by provider (its name, else its id), each with ``status``,
    ``exit-code``, ``known-good``, ``rollback-commit`` and ``change-request-url``."""
    return json.dumps(
        {
            p.provider: {
                "status": p.status,
                "exit-code": p.exit_code,
                "known-good": p.known_good,
                "rollback-commit": p.rollback_commit,
                "change-request-url": p.change_request_url,
            }
            for p in rows
        },
        separators=(",", ":"),
    )


def providers_compact(rows: tuple[ProviderRow, ...], max_bytes: int) -> tuple[str, bool]:
    """The ``GITROLLBACK_PROVIDERS`` dotenv value: ``name:status`` per provider, comma-separated, within
    ``max_bytes``; whole entries are left out from the end (the value then ends with ``,...``) and the second
    value is True when any was."""
    return ci_format.join_within([f"{p.provider}:{p.status}" for p in rows], ",", max_bytes)


def write_files(ci: CIEnvironment, result: Outcome, redact: Callable[[str], str]) -> list[str]:
    """Write ``result`` to every file ``ci`` names; returns a warning per file that could not be written (the
    run's exit code does not change for it)."""
    result = result.redacted(redact)
    problems: list[str] = []

    def attempt(what: str, path: str, write: Callable[[Path], object]) -> None:
        try:
            write(Path(path))
        except OSError as exc:
            problems.append(f"could not write the {what} to {path}: {exc.strerror or exc}")

    if ci.step_summary:
        attempt("step summary", ci.step_summary, lambda p: _append_summary(p, redact(summary_markdown(result))))
    if ci.github_output:
        # the values are redacted already; the delimiters must stay exactly as drawn
        outputs = result.values()
        if result.providers:
            outputs["providers"] = providers_json(result.providers)
        text = "".join(ci_format.github_output(k, v) for k, v in outputs.items())
        attempt("outputs", ci.github_output, lambda p: _append(p, text))
    if ci.dotenv:
        values = {**result.values(), "error": result.error}
        variables = {_dotenv_key(k): redact(ci_format.one_line(v)) for k, v in values.items()}
        if result.providers:
            variables.update(_dotenv_providers(variables, result.providers))
        attempt("dotenv report", ci.dotenv, lambda p: p.write_text(ci_format.dotenv_text(variables), "utf-8"))
    if ci.tekton_results:
        attempt("Tekton results", ci.tekton_results, lambda p: _write_results(p, result.values(), redact))
    return problems


def _dotenv_providers(variables: Mapping[str, str], rows: tuple[ProviderRow, ...]) -> dict[str, str]:
    """``GITROLLBACK_PROVIDERS`` in the room the other variables (and the truncation flag) leave in the file."""
    key = _dotenv_key("providers")
    used = len(ci_format.dotenv_text({**variables, ci_format.DOTENV_TRUNCATED: "true"}).encode("utf-8"))
    room = ci_format.DOTENV_MAX_BYTES - used - len(f"{key}=\n".encode()) - 1
    value, cut = providers_compact(rows, room)
    return {key: value, ci_format.DOTENV_TRUNCATED: "true"} if cut else {key: value}


def _dotenv_key(name: str) -> str:
    """``known-good`` -> ``GITROLLBACK_KNOWN_GOOD``."""
    return "GITROLLBACK_" + name.upper().replace("-", "_")


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(text)


def _append_summary(path: Path, markdown: str) -> None:
    """Append within the 1 MiB a step's summary may hold, counting what the step wrote before."""
    used = path.stat().st_size if path.exists() else 0
    text = ci_format.fit_summary(markdown, ci_format.STEP_SUMMARY_MAX_BYTES - used)
    if text:
        _append(path, text)


def _write_results(directory: Path, values: Mapping[str, str], redact: Callable[[str], str]) -> None:
    for name, value in values.items():
        (directory / name).write_text(ci_format.tekton_result(redact(value)), encoding="utf-8")
