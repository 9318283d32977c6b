"""The one module that imports ruamel.yaml.

Safe, pure-Python loading only: gitrollback reads its own config and Kubernetes manifests and never needs
arbitrary Python objects. ``YamlSyntaxError`` carries the line and column so callers can name the spot.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

__all__ = ["YamlSyntaxError", "dump", "load", "load_all"]


class YamlSyntaxError(ValueError):
    """The text is not valid YAML; ``line`` and ``column`` are 1-based when known."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{problem}{where}")
        self.problem = problem
        self.line = line
        self.column = column


def _loader() -> YAML:
    return YAML(typ="safe", pure=True)


def _translate(exc: YAMLError) -> YamlSyntaxError:
    if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return YamlSyntaxError(str(exc.problem or exc.context or "invalid YAML"), mark.line + 1, mark.column + 1)
    return YamlSyntaxError(str(exc) or "invalid YAML")


def load(text: str | bytes) -> Any:
    """One YAML document as plain dicts, lists and scalars."""
    try:
        return _loader().load(text)
    except YAMLError as exc:
        raise _translate(exc) from exc


def load_all(text: str | bytes) -> list[Any]:
    """Every document of a multi-document stream, empty documents dropped."""
    try:
        return [doc for doc in _loader().load_all(text) if doc is not None]
    except YAMLError as exc:
        raise _translate(exc) from exc


def dump(data: Any) -> str:
    """Block-style YAML text."""
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue()
