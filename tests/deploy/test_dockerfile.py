"""deploy/Dockerfile, parsed (no container runtime runs the tests): two stages, a pinned base, non-root, no compiler."""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from dataclasses import dataclass, field

from tests.deploy.deploy_files import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"
#: what a compiler tool chain is called in Debian, or in pip's wording
BUILD_TOOLS = re.compile(r"^(gcc|g\+\+|cc|clang|make|cmake|build-essential|cargo|rustc|.*-dev|python3?-dev)$")


@dataclass
class Stage:
    """One build stage: its FROM line and its instructions as (keyword, argument text)."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """Instructions of a Dockerfile: comments dropped, backslash continuations joined, keywords upper-cased."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in (s.split(None, 1) for s in logical)]


def _parse() -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            words = rest.split()
            stages.append(Stage(words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        elif keyword == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def _final() -> Stage:
    return _parse()[1][-1]


def test_the_first_line_is_the_syntax_directive() -> None:
    """BuildKit reads parser directives only before any comment: the bind mount needs dockerfile:1."""
    assert DOCKERFILE.read_text(encoding="utf-8").splitlines()[0] == "# syntax=docker/dockerfile:1"


def test_the_base_is_pinned_by_version_tag_to_the_supported_python() -> None:
    """Both stages use one base: python, the 3.11 minor pyproject supports, slim, a named Debian release; no latest."""
    args, stages = _parse()
    assert [s.base for s in stages] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    image = args["PYTHON_IMAGE"]
    repository, _, tag = image.partition("@")[0].partition(":")
    assert repository == "python"
    assert re.fullmatch(r"3\.11(\.\d+)?-slim-(bookworm|trixie)", tag), tag
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11"
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]


def test_a_wheel_is_built_in_the_first_stage_and_installed_from_it_without_an_index() -> None:
    """The build stage runs pip wheel; the final stage installs those wheels with --no-index, mounted from it."""
    build, final = _parse()[1]
    assert build.name == "build" and final.name is None
    assert any(k == "RUN" and "pip wheel" in r and "--wheel-dir /wheels" in r for k, r in build.instructions)
    [install] = [r for k, r in final.instructions if k == "RUN" and "pip install" in r]
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in install
    assert "--no-index" in install and "--find-links=/wheels" in install
    assert not any(k == "COPY" for k, _ in final.instructions), "nothing from the build context reaches the image"


def test_the_final_stage_installs_git_and_no_build_tools() -> None:
    """apt-get installs exactly git and ca-certificates, without recommends, and cleans its lists; no compiler."""
    packages: list[str] = []
    for keyword, rest in _final().instructions:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                assert "--no-install-recommends" in words
                packages += [w for w in words[2:] if not w.startswith("-")]
            assert not any(BUILD_TOOLS.match(w) for w in words[2:] if words[:1] in (["apt-get"], ["apk"])), command
    assert sorted(packages) == ["ca-certificates", "git"]
    assert any("rm -rf /var/lib/apt/lists/*" in rest for keyword, rest in _final().instructions if keyword == "RUN")


def test_the_image_runs_as_a_numeric_non_root_user_and_runs_the_cli() -> None:
    """USER is the numeric 10001:10001 after every RUN; the entry point is python -m gitrollback (exec form)."""
    instructions = _final().instructions
    users = [(i, r) for i, (k, r) in enumerate(instructions) if k == "USER"]
    assert [r for _, r in users] == ["10001:10001"]
    assert all(k != "RUN" for k, _ in instructions[users[0][0] :]), "no RUN after switching to the user"
    assert ("ENTRYPOINT", '["python", "-m", "gitrollback"]') in instructions
    env = " ".join(r for k, r in instructions if k == "ENV")
    assert "HOME=/var/lib/gitrollback" in env and "XDG_CACHE_HOME=/var/lib/gitrollback/cache" in env


def test_the_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    """Every COPY source passes deploy/Dockerfile.dockerignore; the tests and benchmarks stay out of the context."""
    rules = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:  # the last matching rule wins, as in .dockerignore
            negate = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negate
        return keep

    build = _parse()[1][0]
    sources = [w for k, r in build.instructions if k == "COPY" for w in r.split()[:-1]]
    assert sources == ["pyproject.toml", "README.md", "gitrollback"]
    assert all(included(s) for s in sources)
    assert included("gitrollback/cli/__init__.py")
    assert not included("tests/unit/test_config.py") and not included("benchmarks/run.py")
    assert not included("gitrollback/__pycache__/api.cpython-311.pyc")
