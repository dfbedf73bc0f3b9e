"""The README's command examples are what the CLI accepts: each `posagent …` line of the usage block
parses as written (optional parts included), so a user copying one never meets a usage error."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from agent.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def _usage_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Using posagent", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = []
    for line in block.splitlines():
        command = line.split("  #", 1)[0].strip()
        if command.startswith("posagent ") and "|" not in command and "run" != command.split()[1]:
            lines.append(command)
    return lines


def _variants(command: str) -> list[list[str]]:
    """The command without its optional parts, and with all of them."""
    bare = re.sub(r"\s*\[[^\]]*\]", "", command)
    full = command.replace("[", "").replace("]", "")
    placeholder = {"ID": "7"}  # a value the reader fills in
    return [[placeholder.get(w, w) for w in shlex.split(text)[1:]] for text in (bare, full)]


@pytest.mark.parametrize("command", _usage_lines())
def test_every_usage_example_parses(command):
    for argv in _variants(command):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:  # argparse's usage error
            pytest.fail(f"README example does not parse: {' '.join(argv)} (exit {exc.code})")


def test_the_correction_example_names_a_card_for_the_simulator():
    assert any(line.startswith("posagent correct") and "--card" in line for line in _usage_lines())
