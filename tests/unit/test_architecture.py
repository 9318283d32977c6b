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
#: httpx serves two HTTP APIs (Image Factory, Argo CD) through one transport module, and gitpython two jobs (reading
#: history, writing the rollback commit); each still stays inside named adapter modules.
ALLOWED = {
    # ruamel: gitrollback's own files, and the sandbox writing its world's files
    "ruamel": {"gitrollback/_yaml.py", "gitrollback/testing/sandbox.py"},
    # PyYAML: gitrollback's manifest loader (libyaml, within limits) and, separately, the simulators' one reader, which
    # decodes YAML as the Go code they stand in for does (libyaml's parser, go-yaml v2's resolution; not gitrollback's)
    "yaml": {"gitrollback/_yaml.py", "gitrollback/testing/_k8s_yaml.py"},
    "httpx": {
        "gitrollback/adapters/imagefactory.py",
        "gitrollback/adapters/argocd.py",
        "gitrollback/adapters/_httpx_transport.py",
    },
    # the deadline-aware network layer under both httpx clients, and under requests for the Git hosts
    "httpcore": {"gitrollback/adapters/_httpx_transport.py"},
    "urllib3": {"gitrollback/adapters/_requests_deadline.py"},
    # the cluster adapter, and Flux, whose objects are Kubernetes custom resources (docs/architecture.md)
    "lightkube": {"gitrollback/adapters/kube.py", "gitrollback/adapters/flux.py"},
    "httpx2": {"gitrollback/adapters/kube.py"},
    "git": {"gitrollback/adapters/git_repo.py", "gitrollback/adapters/git_workspace.py"},
    "github": {"gitrollback/adapters/github.py"},
    "gitlab": {"gitrollback/adapters/gitlab.py"},
    # the simulators' real components (the ``testing`` extra), each behind one module too
    "kubernetes_validate": {"gitrollback/testing/_kube_schemas.py"},
    "celpy": {"gitrollback/testing/_crd_schemas.py"},
}

#: product logic the simulators must not share: they are a second opinion, not a mirror
PRODUCT_LOGIC = (
    "gitrollback._yaml",  # the product's manifest decoding: the golden table compares it with the simulator's
    "gitrollback.assets",
    "gitrollback.scope",
    "gitrollback.change_plan",
    "gitrollback.prune",
    "gitrollback.apply_waves",
    "gitrollback.namespaces",
    "gitrollback.known_good",
    "gitrollback.adapters",
    "gitrollback.runbook",
    "gitrollback.api",
    "gitrollback.cli",
)


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, by any form, anywhere in the file (functions included), fully qualified.

    ``import a.b``, ``from a import b`` (both ``a`` and ``a.b``), relative imports resolved against the file's
    package, and string literals given to ``importlib.import_module``, ``__import__`` or the simulators'
    ``require``.
    """
    package = path.relative_to(PACKAGE.parent).parts[:-1]  # the package a module or __init__.py belongs to
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__", "require") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _imports(path: Path) -> set[str]:
    return {module.split(".")[0] for module in _imported_modules(path)}


def test_each_third_party_library_is_imported_in_one_adapter_module() -> None:
    """ruamel, httpx, lightkube, gitpython, PyGithub and python-gitlab each appear in exactly their own module."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for module in _imports(path) & ALLOWED.keys():
            if rel not in ALLOWED[module]:
                offenders.append(f"{rel} imports {module}")
    assert offenders == []


def test_simulators_do_not_import_product_logic() -> None:
    """No module under gitrollback/testing imports product logic (YAML decoding, assets, scope, adapters, ...)."""
    offenders = set()
    for path in sorted((PACKAGE / "testing").rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for module in _imported_modules(path):
            for forbidden in PRODUCT_LOGIC:
                if module == forbidden or module.startswith(f"{forbidden}."):
                    offenders.add(f"{rel}: {forbidden}")
    assert offenders == set()


def test_the_import_scanner_sees_every_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain, from, relative, in-function and importlib imports of product logic are all found."""
    fake = PACKAGE / "testing" / "_probe_for_the_architecture_test.py"
    source = (
        "import gitrollback.assets\n"
        "from gitrollback import namespaces\n"
        "from ..known_good import resolver\n"
        "def f():\n    from gitrollback.adapters import kube\n"
        "    importlib.import_module('gitrollback.runbook.engine')\n"
    )
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source if self == fake else "")
    found = _imported_modules(fake)
    assert {
        "gitrollback.assets",
        "gitrollback.namespaces",
        "gitrollback.known_good.resolver",
        "gitrollback.adapters.kube",
        "gitrollback.runbook.engine",
    } <= found


def test_the_testing_package_exports_exactly_its_public_names() -> None:
    """gitrollback.testing.__all__ is what the package exports, each name the object its module defines."""
    import importlib

    from gitrollback import testing

    exports = testing._EXPORTS
    assert sorted(testing.__all__) == sorted(exports) == testing.__all__
    for name, module in exports.items():
        assert getattr(testing, name) is getattr(importlib.import_module(f"gitrollback.testing.{module}"), name)
    assert set(testing.__all__) <= set(dir(testing))
    with pytest.raises(AttributeError):
        testing.nope  # noqa: B018


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


#: the CLI's output modules (docs/ci.md): each imports only the ones below it, never one that imports it back
CI_OUTPUT_MODULES = ("ci", "ci_format", "ci_outcome", "ci_summary", "progress", "output")


def test_the_ci_output_modules_import_each_other_without_a_cycle() -> None:
    """A cycle (``ci`` importing ``ci_summary`` for the Markdown and ``ci_summary`` importing ``ci`` for the type it
    renders) works only while one side imports lazily; the shared records live in ``ci_outcome`` instead. Every
    import counts, ``TYPE_CHECKING`` and function-level ones included."""
    names = {f"gitrollback.cli.{m}" for m in CI_OUTPUT_MODULES}
    graph = {
        name: _imported_modules(PACKAGE / "cli" / f"{name.rsplit('.', 1)[1]}.py") & (names - {name}) for name in names
    }

    def cycle_from(name: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if name in path:
            return (*path[path.index(name) :], name)
        return next((c for dep in sorted(graph[name]) if (c := cycle_from(dep, (*path, name)))), None)

    assert [c for name in sorted(names) if (c := cycle_from(name, ()))] == []
