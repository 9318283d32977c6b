"""The rollback commit's message and branch name: pure text, no git.

A rollback commit has to explain itself to the reviewer who sees it in a pull request and to the next gitrollback
run that finds it on a branch. The subject names the paths and the target; the body says what was bad, what is
restored, which installer job failed and why; the trailers (``Rollback-Of``, ``Rollback-To``, ``Provider``,
``Failed-Job``, ``Rollback-Strategy``, plus any extra) are machine-readable, so a rerun recognises its own commit
with ``git``'s own trailer parser (``%(trailers)``) and the known-good resolver can tell a rollback from an
ordinary change. Trailers follow ``git interpret-trailers``: the last paragraph, one ``Key: value`` per line,
keys of letters, digits and dashes, no line breaks in values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["MessageInput", "build_message", "check_trailers", "rollback_branch", "subject_line"]

_TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_RESERVED = ("Rollback-Of", "Rollback-To", "Provider", "Failed-Job", "Rollback-Strategy")


@dataclass(frozen=True)
class MessageInput:
    """What the message says; revisions are full commit ids, subjects their first lines."""

    provider_id: str
    paths: Sequence[str]
    bad: str
    bad_subject: str
    good: str
    good_subject: str
    strategy: str
    failed_job: str | None = None
    context: str = ""
    trailers: Mapping[str, str] | None = None
    reverted: Sequence[tuple[str, str]] = ()


def rollback_branch(provider_id: str, bad: str, good: str) -> str:
    """``gitrollback/<provider>/<bad[:7]>-to-<good[:7]>``."""
    return f"gitrollback/{provider_id}/{bad[:7]}-to-{good[:7]}"


def subject_line(paths: Sequence[str], good: str, provider_id: str) -> str:
    """``Roll back backend/tekton to <good[:12]> (provider <id>)``; three or more paths are counted."""
    shown = ", ".join(paths) if len(paths) <= 2 else f"{paths[0]} and {len(paths) - 1} more paths"
    return f"Roll back {shown} to {good[:12]} (provider {provider_id})"


def check_trailers(trailers: Mapping[str, str]) -> dict[str, str]:
    """Extra trailers, validated: a usable key, a one-line value, and none of gitrollback's own keys.

    Raises:
        ValueError: a key or value that git would not read back as the same trailer.
    """
    out: dict[str, str] = {}
    for key, value in trailers.items():
        if not _TRAILER_KEY.match(key):
            raise ValueError(f"not a usable trailer key: {key!r}")
        if key.lower() in (r.lower() for r in _RESERVED):
            raise ValueError(f"trailer {key!r} is written by gitrollback itself")
        if "\n" in value or "\r" in value or not value.strip():
            raise ValueError(f"trailer {key!r} needs a one-line, non-empty value")
        out[key] = value.strip()
    return out


def build_message(spec: MessageInput) -> str:
    """The full commit message: subject, explanation, trailer block."""
    lines = [subject_line(spec.paths, spec.good, spec.provider_id), ""]
    where = ", ".join(spec.paths)
    lines += [
        f"Provider {spec.provider_id} failed after {where} changed in {spec.bad[:12]} "
        f'("{spec.bad_subject}"). This commit puts {where} back to {spec.good[:12]} ("{spec.good_subject}").',
        "",
    ]
    if spec.strategy == "revert":
        lines.append("Reverted, newest first:")
        lines += [f"- {sha[:12]} {subject}" for sha, subject in spec.reverted]
    else:
        lines.append(
            f"The tree of each path is restored exactly as it was at {spec.good[:12]}: changed and deleted files "
            "come back, files added since are removed. Nothing outside these paths changes."
        )
    if spec.failed_job:
        lines += ["", f"Failed installer job: {spec.failed_job}"]
    context = spec.context.strip()
    if context:
        lines += ["", context]
    lines += ["", "Made by gitrollback.", ""]
    trailers: dict[str, str] = {"Rollback-Of": spec.bad, "Rollback-To": spec.good, "Provider": spec.provider_id}
    if spec.failed_job:
        trailers["Failed-Job"] = spec.failed_job
    trailers["Rollback-Strategy"] = spec.strategy
    trailers.update(check_trailers(spec.trailers or {}))
    lines += [f"{key}: {value}" for key, value in trailers.items()]
    return "\n".join(lines) + "\n"
