"""The file and log formats of GitHub Actions, GitLab CI and Tekton, as pure functions (no I/O, no environment).

Each function follows the format's own reader, cited where it is defined; ``gitrollback/cli/ci.py`` decides what
goes where, and ``docs/ci.md`` describes the result.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping

__all__ = [
    "DOTENV_MAX_BYTES",
    "DOTENV_TRUNCATED",
    "STEP_SUMMARY_MAX_BYTES",
    "TEKTON_RESULT_MAX_BYTES",
    "dotenv_text",
    "escape_data",
    "escape_property",
    "fit_summary",
    "github_output",
    "join_within",
    "markdown_cell",
    "one_line",
    "section_end",
    "section_name",
    "section_start",
    "shorten",
    "tekton_result",
    "workflow_command",
]

#: GitHub refuses a step summary over 1 MiB ("$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of
#: 1024k"; docs.github.com, workflow commands, "Adding a job summary")
STEP_SUMMARY_MAX_BYTES = 1024 * 1024
#: GitLab's dotenv report: ``plan_limits.dotenv_size`` is 5120 bytes on every plan (gitlab-org/gitlab
#: ``app/services/ci/parse_dotenv_artifact_service.rb``; docs.gitlab.com administration/instance_limits, "Limit dotenv
#: file size"); the file must stay below it
DOTENV_MAX_BYTES = 5 * 1024
#: the variable that says a dotenv value was shortened to fit
DOTENV_TRUNCATED = "GITROLLBACK_TRUNCATED"
#: a Tekton result travels in the step container's termination message, at most 4096 bytes for all its results
#: together (tektoncd/pipeline ``pkg/termination``, ``MaxContainerTerminationMessageLength``; docs/tasks.md,
#: "Emitting Results"), each as JSON ``{"key": ..., "value": ..., "type": 1}`` next to the entrypoint's own entries.
#: This cap is on a value's JSON-encoded form, so five results and their keys stay near 2.8 KB whatever they hold.
TEKTON_RESULT_MAX_BYTES = 512

# -- GitHub Actions -----------------------------------------------------------------------------------------------


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF percent-encoded (actions/toolkit
    ``packages/core/src/command.ts``, ``escapeData``), so a message can neither end the line nor forge a command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as ``escape_data`` plus ``:`` and ``,``, which delimit properties
    (actions/toolkit ``packages/core/src/command.ts``, ``escapeProperty``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str) -> str:
    """``::command key=value,...::message`` with both parts escaped; empty properties are left out."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items() if value)
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def github_output(name: str, value: str, *, new_delimiter: Callable[[], str] | None = None) -> str:
    """One ``$GITHUB_OUTPUT`` entry in the heredoc form ``name<<DELIMITER``, the value, ``DELIMITER``, each ending
    with a newline, as actions/toolkit ``packages/core/src/file-command.ts`` (``prepareKeyValueMessage``) writes it.

    The delimiter is random and, unlike the toolkit (which raises), drawn again until it occurs in neither the
    name nor the value, so a value can never end its own entry early and set another output.
    """
    draw = new_delimiter or (lambda: f"ghadelimiter_{uuid.uuid4()}")
    delimiter = draw()
    while delimiter in value or delimiter in name:
        delimiter = draw()
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def markdown_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: one line, ``|`` escaped, HTML's ``<``, ``>``, ``&`` as entities."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return " ".join(text.split())


def fit_summary(text: str, budget: int) -> str:
    """``text``, or when its UTF-8 form exceeds ``budget`` bytes, its first lines with a note saying it was cut
    (and an open ``<details>`` closed), within ``budget``; an empty string when not even the note fits."""
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text
    note = (
        "\n\n_The summary was cut here: GitHub keeps at most 1 MiB per step. The full report is in the step's log "
        "(or in the `--json` output)._\n"
    )
    closing = "\n</details>\n"
    room = budget - len(note.encode("utf-8")) - len(closing.encode("utf-8"))
    if room <= 0:
        return ""
    kept = data[:room].decode("utf-8", errors="ignore")
    kept = kept[: kept.rfind("\n")] if "\n" in kept else ""
    if kept.count("<details>") > kept.count("</details>"):
        kept += closing
    return kept + note


# -- GitLab CI ------------------------------------------------------------------------------------------------------

_SECTION_CHARS = re.compile(r"[^a-zA-Z0-9_.-]")


def section_name(name: str) -> str:
    """A GitLab section name: only ``[a-zA-Z0-9_.-]`` (gitlab-org/gitlab ``lib/gitlab/regex.rb``,
    ``logs_section_prefix_regex``; docs.gitlab.com ci/jobs/job_logs, "Custom collapsible sections"); anything else
    becomes ``_``."""
    return _SECTION_CHARS.sub("_", name) or "step"


def section_start(name: str, header: str, timestamp: int, *, collapsed: bool = False) -> str:
    """``ESC[0Ksection_start:<unix time>:<name>[collapsed=true]CR ESC[0K<header>``: the line that opens a
    collapsible section, ``timestamp`` the time it started (GitLab shows the difference to the end as its
    duration)."""
    option = "[collapsed=true]" if collapsed else ""
    return f"\x1b[0Ksection_start:{timestamp}:{section_name(name)}{option}\r\x1b[0K{one_line(header)}"


def section_end(name: str, timestamp: int) -> str:
    """``ESC[0Ksection_end:<unix time>:<name>CR ESC[0K``: the line that closes the section ``name``."""
    return f"\x1b[0Ksection_end:{timestamp}:{section_name(name)}\r\x1b[0K"


def one_line(text: str) -> str:
    """``text`` on one line: runs of white space (newlines, CR, tabs) become one space."""
    return " ".join(text.split())


def shorten(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, at a character boundary, ending in ``...`` when cut."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max(max_bytes - 3, 0)].decode("utf-8", errors="ignore") + "..."


def join_within(items: list[str], separator: str, max_bytes: int) -> tuple[str, bool]:
    """``items`` joined by ``separator`` in at most ``max_bytes`` UTF-8 bytes: when they do not all fit, as many
    whole items as fit followed by ``separator + "..."``; the second value says whether any was left out."""
    text = separator.join(items)
    if len(text.encode("utf-8")) <= max_bytes:
        return text, False
    more = separator + "..."
    kept: list[str] = []
    for item in items:
        if len(separator.join([*kept, item]).encode("utf-8")) + len(more.encode("utf-8")) > max_bytes:
            break
        kept.append(item)
    return (separator.join(kept) + more if kept else "..."), True


def dotenv_text(variables: Mapping[str, str], *, max_bytes: int = DOTENV_MAX_BYTES) -> str:
    """A GitLab dotenv report: one ``KEY=VALUE`` line per variable, each value on one line (no quotes, no empty
    lines: gitlab-org/gitlab ``app/services/ci/parse_dotenv_artifact_service.rb`` refuses them), the whole file
    below ``max_bytes``. When it would not fit, the longest values are shortened until it does and
    ``GITROLLBACK_TRUNCATED=true`` is added, so a later job can tell. ``$`` is written ``$$`` (``_dotenv_value``)
    and the limit counts it so."""
    values = {key: one_line(value) for key, value in variables.items()}

    def render(extra: Mapping[str, str]) -> str:
        return "".join(f"{key}={_dotenv_value(value)}\n" for key, value in {**values, **extra}.items())

    flag = {DOTENV_TRUNCATED: "true"}
    if len(render({}).encode("utf-8")) < max_bytes:
        return render({})
    while len(render(flag).encode("utf-8")) >= max_bytes:
        key = max(values, key=lambda k: len(values[k].encode("utf-8")))
        size = len(values[key].encode("utf-8"))
        if size <= 3:  # nothing left to shorten: the keys alone are too long for the file
            raise ValueError(f"dotenv report cannot fit {max_bytes} bytes even with empty values")
        values[key] = shorten(values[key], size // 2)
    return render(flag)


def _dotenv_value(value: str) -> str:
    """``value`` so a later job receives it unchanged: GitLab stores a report's variables with ``raw: false``
    (gitlab-org/gitlab ``app/services/ci/parse_dotenv_artifact_service.rb``), so the runner expands them
    (gitlab-org/gitlab-runner ``common/variables.go``, ``JobVariables.Expand``: Go's ``os.Expand``, in which
    ``$$`` is a literal ``$``). Unescaped, ``$IMAGEFACTORY_TOKEN`` in an error message would become that job's
    token, and ``$HOME`` its home directory."""
    return value.replace("$", "$$")


# -- Tekton ---------------------------------------------------------------------------------------------------------


def _go_json_bytes(char: str) -> int:
    """The bytes ``char`` takes inside a JSON string written by Go's ``encoding/json`` (which writes the
    termination message): ``"`` and ``\\`` two, control characters and the HTML-sensitive ``<``, ``>``, ``&``, U+2028
    and U+2029 six (``\\u003c``), anything else its UTF-8 bytes."""
    if char in '"\\':
        return 2
    if char in "<>&\u2028\u2029" or ord(char) < 0x20:
        return 6
    return len(char.encode("utf-8"))


def tekton_result(text: str, max_bytes: int = TEKTON_RESULT_MAX_BYTES) -> str:
    """``text`` on one line, cut (ending in ``...``) so its JSON-encoded form in the termination message takes at
    most ``max_bytes``: a value of ``&`` or ``<`` grows sixfold there, so counting raw bytes is not enough."""
    text = one_line(text)
    if sum(map(_go_json_bytes, text)) <= max_bytes:
        return text
    kept, used = [], 0
    for char in text:
        used += _go_json_bytes(char)
        if used > max_bytes - 3:
            break
        kept.append(char)
    return "".join(kept) + "..."
