"""gitrollback: roll Image Factory's Tekton assets back to the last known-good revision.

The public API (``docs/api.md``)::

    settings = gitrollback.parse_config(text, source="gitrollback.yaml")
    with gitrollback.Rollback.from_settings(settings, "prod", env=os.environ, read_file=read) as rb:
        rb.assess(); rb.plan(); report = rb.run()

Names are imported lazily, so ``import gitrollback`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False  # not typing's: importing typing costs every process a few milliseconds
if TYPE_CHECKING:
    from typing import Any

    from gitrollback.api import Rollback, gitops_steps, installer_steps
    from gitrollback.config import parse_config
    from gitrollback.errors import GitRollbackError
    from gitrollback.known_good import find_known_good
    from gitrollback.models import Assessment, KnownGood, RollbackPlan, RunReport
    from gitrollback.report import report_json
    from gitrollback.settings import Settings

__all__ = [
    "Assessment",
    "GitRollbackError",
    "KnownGood",
    "Rollback",
    "RollbackPlan",
    "RunReport",
    "Settings",
    "__version__",
    "find_known_good",
    "gitops_steps",
    "installer_steps",
    "load_config",
    "parse_config",
    "report_json",
]

_LAZY = {
    "Rollback": "gitrollback.api",
    "installer_steps": "gitrollback.api",
    "gitops_steps": "gitrollback.api",
    "parse_config": "gitrollback.config",
    "GitRollbackError": "gitrollback.errors",
    "find_known_good": "gitrollback.known_good",
    "Assessment": "gitrollback.models",
    "KnownGood": "gitrollback.models",
    "RollbackPlan": "gitrollback.models",
    "RunReport": "gitrollback.models",
    "report_json": "gitrollback.report",
    "Settings": "gitrollback.settings",
}


def load_config(path: str) -> Settings:
    """Read and parse a config file (the one file read the library does, and only when you call this)."""
    from pathlib import Path

    from gitrollback.config import parse_config
    from gitrollback.errors import ConfigError

    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", path=path) from exc
    return parse_config(text, source=path)


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gitrollback' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
