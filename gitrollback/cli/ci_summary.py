"""The GitHub Actions step summary of one command, in GitHub Flavored Markdown (``docs/ci.md`` shows one); a fleet
run adds a table with a row per provider."""

from __future__ import annotations

from gitrollback.cli.ci_format import markdown_cell, shorten
from gitrollback.cli.ci_outcome import Outcome

__all__ = ["summary_markdown"]

#: a table cell holds at most this many bytes (a step detail or an error message can be long)
CELL_MAX_BYTES = 2000
#: the incident notes are shown up to this many lines; the report has them all
NOTES_MAX_LINES = 60

_NEXT = {
    "rolled_back": "Check the provider in Image Factory; the incident notes below are ready for the ticket.",
    "planned": "Run the same job with the command `run` to roll back.",
    "proposed": "Review and merge the change request, then run the same job with the command `run` (without "
    "`--propose`): it resumes this run, syncs and verifies.",
}

_FLEET_NEXT = {
    "rolled_back": "Check the providers in Image Factory; each one's incident notes are in the `--json` report.",
    "nothing_to_do": "No provider needed a rollback.",
}


def _code(text: str) -> str:
    """``text`` as inline code in a table cell (backticks inside become quotes: a cell cannot escape them)."""
    cell = markdown_cell(shorten(text, CELL_MAX_BYTES)).replace("`", "'")
    return f"`{cell}`"


def _cell(text: str) -> str:
    return markdown_cell(shorten(text, CELL_MAX_BYTES))


def summary_markdown(o: Outcome) -> str:
    """The summary: a heading with the status, a table of the facts, the steps, and the incident notes."""
    rows = [("Status", _code(o.status)), ("Exit code", _code(str(o.exit_code)))]
    if o.providers:
        rows.append(("Providers", _cell(f"{len(o.providers)}: {o.advice}" if o.advice else str(len(o.providers)))))
    if o.provider:
        rows.append(("Provider", _code(o.provider)))
    if o.known_good:
        why = f" ({_cell(o.known_good_source)}): {_cell(o.known_good_reason)}" if o.known_good_reason else ""
        rows.append(("Known-good", _code(o.known_good) + why))
    rows += [("Warning", _cell(w)) for w in o.warnings]
    if o.rollback_commit:
        rows.append(("Rollback commit", _code(o.rollback_commit)))
    if o.change_request_url:
        url = o.change_request_url
        rows.append(("Change request", f"[{_cell(url)}](<{_cell(url)}>)"))
    if o.advice and not o.providers:
        rows.append(("Advice", _cell(o.advice)))
    if o.error:
        kind = f" ({_code(o.error_kind)})" if o.error_kind else ""
        rows.append(("Error", _cell(o.error) + kind))
    next_step = o.hint or (_FLEET_NEXT if o.providers else _NEXT).get(o.status, "")
    if next_step:
        rows.append(("Next", _cell(next_step)))
    lines = [f"### gitrollback {o.command}: {o.status}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if o.providers:
        lines += [
            "",
            "| Provider | Mode | Status | Known-good | Rollback commit | Change request | Duration |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in o.providers:
            status = _code(p.status) + (f": {_cell(p.error)}" if p.error else "")
            url = f"[{_cell(p.change_request_url)}](<{_cell(p.change_request_url)}>)" if p.change_request_url else ""
            took = f"{p.seconds:.1f} s" if p.seconds is not None else ""
            kg = _code(p.known_good) if p.known_good else ""
            commit = _code(p.rollback_commit) if p.rollback_commit else ""
            lines.append(f"| {_cell(p.provider)} | {_cell(p.mode)} | {status} | {kg} | {commit} | {url} | {took} |")
    if o.steps:
        lines += ["", "| Step | Result | Time | Detail |", "|---|---|---|---|"]
        for s in o.steps:
            took = f"{s.seconds:.1f} s" if s.seconds is not None else ""
            lines.append(f"| {_cell(s.name)} | {_cell(s.result)} | {took} | {_cell(s.detail)} |")
    if o.notes:
        notes = o.notes.splitlines()
        more = len(notes) - NOTES_MAX_LINES
        lines += ["", "<details><summary>Incident notes</summary>", "", *notes[:NOTES_MAX_LINES]]
        if more > 0:
            lines += ["", f"_{more} more lines in the report (`incident`)._"]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n\n"
