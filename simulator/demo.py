"""`make demo` / `posim demo`: the main job on embedded defaults.

It grows with the product into the full cashier walk-through (simulator host + daemon + virtual card +
the five merchant scenarios).  Each step prints what it shows; steps for parts not built yet are
listed as such, never faked.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from agent import __version__, config


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="run the demo walk-through on built-in defaults")
    demo.set_defaults(handler=lambda args: run_demo())


def _step(title: str) -> None:
    print(f"\n== {title}")


def run_demo() -> int:
    print(f"posagent {__version__} demo (built-in defaults, temporary journal)")
    with tempfile.TemporaryDirectory(prefix="posagent-demo-") as workdir:
        cfg = config.from_mapping({}, source=None)
        _step("configuration (built-in defaults)")
        print(f"terminal {cfg.terminal.terminal_id} / merchant {cfg.terminal.merchant_id}, "
              f"acquirer {cfg.acquirer.host}:{cfg.acquirer.port} dialect {cfg.acquirer.dialect}")
        print(f"journal would live in {Path(workdir) / 'journal.db'}")
        _step("not built yet")
        for part in ("ISO 8583 codec", "journal", "acquirer simulator", "transaction engine",
                     "card reader", "cashier UI"):
            print(f"- {part}: not yet part of the demo")
    return 0


def main() -> int:
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
