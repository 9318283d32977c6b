"""Check the docs against the tree and the CLI parser; run by ``nox -s docs`` and ``.ci/run``.

Fails (exit 1, one line per problem) when:

* a relative Markdown link in README.md or docs/*.md points to a missing file or a missing heading anchor;
* docs/cli.md does not mention every subcommand and every long option that ``gitrollback.cli._parser()``
  defines (found by walking the argparse parser, so a new option cannot go undocumented);
* README.md does not contain, verbatim, the test command that ``.ci/run`` runs.

Prints ``docs OK`` otherwise. Standard library only (plus gitrollback itself, for the parser).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where links are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """GitHub-style heading anchors of a Markdown document (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for title in HEADING.findall(FENCE.sub("", text)):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", plain.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def check_links(files: list[Path]) -> list[str]:
    """Relative links that point nowhere."""
    problems: list[str] = []
    for doc in files:
        for target in LINK.findall(_prose(doc.read_text(encoding="utf-8"))):
            if target.startswith(EXTERNAL):
                continue
            path_part, _, fragment = target.partition("#")
            dest = (doc.parent / path_part).resolve() if path_part else doc
            where = f"{doc.relative_to(ROOT)}: link {target!r}"
            if not dest.exists():
                problems.append(f"{where}: no such file")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading with anchor #{fragment}")
    return problems


def cli_words() -> list[str]:
    """Every subcommand (as ``gitrollback <cmd>``), positional choice and long option of the parser."""
    from gitrollback.cli import _parser

    words: list[str] = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            words.extend(o for o in action.option_strings if o.startswith("--"))
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    words.append(f"{prefix} {name}")
                    walk(sub, f"{prefix} {name}")
            elif not action.option_strings and action.choices:
                words.extend(f"{prefix} {choice}" for choice in action.choices)

    walk(_parser(), "gitrollback")
    return sorted(set(words))


def check_cli(cli_md: Path) -> list[str]:
    """Subcommands and options docs/cli.md does not mention."""
    text = cli_md.read_text(encoding="utf-8")
    missing = [w for w in cli_words() if not re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
    return [f"docs/cli.md does not mention {w!r}" for w in missing]


def check_quick_start(readme: Path, ci_script: Path) -> list[str]:
    """The README must carry the exact test command CI runs."""
    commands = [
        line.strip()
        for line in ci_script.read_text(encoding="utf-8").splitlines()
        if "-m pytest" in line and not line.lstrip().startswith("#")
    ]
    if not commands:
        return [f"{ci_script.relative_to(ROOT)}: no pytest command found"]
    text = readme.read_text(encoding="utf-8")
    return [f"README.md does not contain the CI test command: {c}" for c in commands if c not in text]


def main() -> int:
    """Run every check; 0 when the docs are consistent."""
    readme, docs = ROOT / "README.md", ROOT / "docs"
    problems = check_links([readme, *sorted(docs.glob("*.md"))])
    problems += check_cli(docs / "cli.md")
    problems += check_quick_start(readme, ROOT / ".ci" / "run")
    out = sys.stderr if problems else sys.stdout
    out.write("".join(f"{p}\n" for p in problems) or "docs OK\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
