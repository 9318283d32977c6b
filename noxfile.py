"""nox sessions: tests, lint, types, bench, stress, docs (``nox -l`` lists them)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "types", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Run the test suite (the same command as the README and .ci/run)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff over the package, tests, benchmarks and this file."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "gitrollback", "tests", "benchmarks", "noxfile.py")


@nox.session(python="3.11")
def types(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", "mypy>=1.11")
    session.run("mypy", "--strict", "gitrollback")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks, each reported as a ratio against a baseline measured in the same run."""
    session.install("-e", ".[test]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python="3.11")
def stress(session: nox.Session) -> None:
    """The whole suite 5 times in a row beside two CPU-bound processes; fails on the first red run (not default)."""
    session.install("-e", ".[test]")
    session.run("python", "tests/stress.py", *session.posargs)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Check the docs: every relative link resolves and the CLI reference matches the parser."""
    session.install("-e", ".")
    session.run("python", "docs/check.py")
