"""The command examples of README.md and of every page in docs/ are what the CLIs accept: each
`posagent …`, `posim …` or `posoffice …` line of a code block parses as written (optional parts
included), so a user copying one never meets a usage error; the README links to every page; and the
blocks generated from the code (`make docs`) are up to date."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]


def _parsers():
    from agent.cli import build_parser as posagent
    from posoffice.cli import build_parser as posoffice
    from simulator.cli import build_parser as posim
    return {"posagent": posagent, "posim": posim, "posoffice": posoffice}


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)


def _commands(page: Path) -> list[str]:
    """Every command line of the page's code blocks, without its comment, the shell's redirection and `&`;
    a line with `|` (alternatives), `...` (left to the reader) or a continuation is not one command,
    and `run` is left out (it would start a daemon)."""
    lines = []
    for block in _code_blocks(page.read_text(encoding="utf-8")):
        for line in block.splitlines():
            command = re.split(r"\s(?:>>?|<)\s", line.split("  #", 1)[0])[0].strip().removesuffix("&").strip()
            words = command.split()
            if (len(words) > 1 and words[0] in ("posagent", "posim", "posoffice") and "|" not in command
                    and "..." not in command and not command.endswith("\\") and words[1] != "run"):
                lines.append(command)
    return lines


def _examples() -> list[tuple[str, str]]:
    return [(page.relative_to(ROOT).as_posix(), command) for page in PAGES for command in _commands(page)]


def _variants(command: str) -> list[list[str]]:
    """The command without its optional parts, and with all of them."""
    bare = re.sub(r"\s*\[[^\]]*\]", "", command)
    full = command.replace("[", "").replace("]", "")
    placeholder = {"ID": "7", "N": "7", "S": "7", "STEP": "gpo", "STEP=6A81": "gpo=6A81"}  # values the reader fills in
    return [[placeholder.get(w, w) for w in shlex.split(text)] for text in (bare, full)]


@pytest.mark.parametrize(("page", "command"), _examples())
def test_every_usage_example_parses(page, command):
    parsers = _parsers()
    for argv in _variants(command):
        try:
            parsers[argv[0]]().parse_args(argv[1:])
        except SystemExit as exc:  # argparse's usage error
            pytest.fail(f"{page}: example does not parse: {' '.join(argv)} (exit {exc.code})")


def test_every_page_with_commands_is_checked():
    checked = {page for page, _ in _examples()}
    for page in ("README.md", "docs/operations.md", "docs/simulator.md", "docs/chaos.md", "docs/office.md",
                 "docs/statements.md"):
        assert page in checked


def test_the_operations_page_lists_the_operator_commands():
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    usage = text.split("```sh", 1)[1].split("```", 1)[0]
    assert sum(line.startswith("posagent ") for line in usage.splitlines()) >= 25


def test_the_correction_example_names_a_card_for_the_simulator():
    assert any(line.startswith("posagent correct") and "--card" in line for line in _commands(DOCS / "operations.md"))


def test_the_readme_links_every_page_and_every_link_leads_somewhere():
    readme = README.read_text(encoding="utf-8")
    for page in sorted(DOCS.glob("*.md")):
        assert f"(docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name} links {target}, which does not exist"


def test_the_readme_stays_a_front_page():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 300


def test_the_generated_blocks_are_up_to_date():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    for marker, (page, block) in generate.blocks().items():
        text = (DOCS / page).read_text(encoding="utf-8")
        begin, end = f"<!-- {marker}:begin -->\n", f"\n<!-- {marker}:end -->"
        assert begin in text and end in text, f"docs/{page} has no {marker} markers"
        assert text.split(begin, 1)[1].split(end, 1)[0].strip() == block.strip(), f"docs/{page} is stale: run `make docs`"
