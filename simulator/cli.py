"""`posim` — the simulator's command line (acquirer host, virtual card, cashier terminal, demo).

Like `posagent`, each part registers its subcommands from its own module listed in `COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from agent.cli import run

COMMAND_MODULES: tuple[str, ...] = (
    "simulator.demo",
    "simulator.host.cli",
    "simulator.host.walletcli",
    "simulator.card.cli",
    "simulator.terminal",
    "simulator.chaos.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posim", description="posim: the posagent simulator.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
