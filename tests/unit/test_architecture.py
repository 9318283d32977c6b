"""The architecture rules hold: one module per third-party library, no vendor errors, lazy CLI imports."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import gitrollback
from gitrollback import errors

PACKAGE = Path(gitrollback.__file__).resolve().parent

#: third-party top-level module -> the only package modules allowed to import it.
#: httpx serves two HTTP APIs (Image Factory, Argo CD) and gitpython two jobs (reading history, writing the
#: rollback commit); each still stays inside named adapter modules.
ALLOWED = {
    "ruamel": {"gitrollback/_yaml.py"},
    "yaml": {"gitrollback/_yaml.py"},
    "httpx": {"gitrollback/adapters/imagefactory.py", "gitrollback/adapters/argocd.py"},
    "lightkube": {"gitrollback/adapters/kube.py"},
    "httpx2": {"gitrollback/adapters/kube.py"},
    "git": {"gitrollback/adapters/git_repo.py", "gitrollback/adapters/git_workspace.py"},
    "github": {"gitrollback/adapters/github.py"},
    "gitlab": {"gitrollback/adapters/gitlab.py"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_each_third_party_library_is_imported_in_one_adapter_module() -> None:
    """ruamel, httpx, lightkube, gitpython, PyGithub and python-gitlab each appear in exactly their own module."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for module in _imports(path) & ALLOWED.keys():
            if rel not in ALLOWED[module]:
                offenders.append(f"{rel} imports {module}")
    assert offenders == []


def test_simulators_do_not_import_the_engine_or_adapters() -> None:
    """gitrollback.testing depends only on the stdlib and gitrollback's pure modules."""
    offenders = []
    for path in sorted((PACKAGE / "testing").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("gitrollback.adapters", "gitrollback.runbook", "gitrollback.api", "gitrollback.cli"):
            if forbidden in text:
                offenders.append(f"{path.name}: {forbidden}")
    assert offenders == []


def test_no_gitrollback_error_has_a_vendor_class_in_its_mro() -> None:
    """Every error class derives only from gitrollback's tree and builtins."""
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, BaseException):
            for base in cls.__mro__:
                assert base.__module__ in ("gitrollback.errors", "builtins"), (cls, base)


def test_every_error_is_drawn_in_the_tree() -> None:
    """The docstring tree names every exported error class."""
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        if name[0].isupper():
            assert name in doc, name


def test_public_names_resolve() -> None:
    """Every name in gitrollback.__all__ can be imported."""
    for name in gitrollback.__all__:
        assert getattr(gitrollback, name) is not None
    with pytest.raises(AttributeError):
        gitrollback.nope  # noqa: B018


def test_cli_help_does_not_import_heavy_libraries() -> None:
    """`--help` imports neither httpx, lightkube, gitpython, ruamel nor PyYAML."""
    code = (
        "import sys\nfrom gitrollback.cli import main\n"
        "main(['--help'])\n"
        "print(sorted(m for m in ('httpx','lightkube','git','ruamel','yaml','github','gitlab') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_error_class_names_its_own_kind() -> None:
    """Each class in the tree has a distinct default ``kind``, and a raise site can name a finer one."""
    from gitrollback import errors

    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    kinds = [c.default_kind for c in classes]
    assert len(set(kinds)) == len(kinds), kinds
    assert all(k and k == k.lower() and " " not in k for k in kinds)
    assert errors.PreconditionFailedError("x", step="s").kind == "precondition"
    assert errors.PreconditionFailedError("x", step="s", kind="not_in_history").kind == "not_in_history"
