"""`posagent` — the agent's command line: a thin layer that parses arguments and prints.

Each area of the agent contributes its subcommands through a `register(subparsers)` function in its
own `cli` module, listed in `COMMAND_MODULES`.  A subcommand handler takes the parsed arguments and
returns an exit status.  Any `PosagentError` becomes one line on stderr and its exit status: operator
mistakes never show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Sequence

from agent import __version__, config
from agent.errors import PosagentError

#: modules whose `register(subparsers)` adds subcommands, in the order `posagent --help` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "agent.cli",
    "agent.journal.cli",
    "agent.daemon.cli",
    "agent.iso8583.cli",
    "agent.console.cli",
    "agent.reconcile.cli",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; `command="run"`: the daemon's alone (see `main`)."""
    parser = argparse.ArgumentParser(
        prog="posagent",
        description="posagent: the terminal-side ISO 8583 agent (journal, reversals, refunds, settlement).",
    )
    parser.add_argument("--version", action="version", version=f"posagent {__version__}")
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: $POSAGENT_CONFIG, /etc/posagent/posagent.toml, "
                             "else built-in defaults for the local simulator)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    if command == "run":
        importlib.import_module("agent.daemon.cli").register_run(sub)
        return parser
    for name in COMMAND_MODULES:
        module = sys.modules[__name__] if name == __name__ else importlib.import_module(name)
        module.register(sub)
    return parser


def command_word(argv: Sequence[str] | None) -> str | None:
    """The subcommand `argv` names, read past the global options (None when there is none, or when help or
    the version is asked before it: those print the whole command line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    head = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    head.add_argument("--config")
    head.add_argument("command", nargs="?")
    try:
        known, rest = head.parse_known_args(argv)
    except argparse.ArgumentError:
        return None
    if known.command is None:
        return None
    before = argv[:argv.index(known.command)]
    return None if {"-h", "--help", "--version"} & set(before) else known.command


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cfg = sub.add_parser("config", help="check or show the configuration")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION")
    cfg_sub.required = True
    check = cfg_sub.add_parser("check", help="validate a configuration file; one line per problem, exit 2 if bad")
    check.add_argument("file", nargs="?", help="file to check (default: the one posagent would load)")
    check.set_defaults(handler=_config_check)
    show = cfg_sub.add_parser("show", help="print the effective configuration as TOML (secrets hidden)")
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    show.set_defaults(handler=_config_show)
    ref = cfg_sub.add_parser("reference", help="print the configuration reference (Markdown)")
    ref.set_defaults(handler=lambda args: print(config.reference_markdown()) or 0)


def _config_check(args: argparse.Namespace) -> int:
    from agent.drivers.preflight import problems
    cfg = config.load(args.file or args.config)
    found = problems(cfg)
    for problem in found:
        print(f"{cfg.source or 'built-in defaults'}: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"configuration ok ({cfg.source or 'built-in defaults'}; every file `run` needs is in place)")
    print(f"chip parameters: {_params_in_force(cfg)}")
    return 0


def _params_in_force(cfg: config.Config) -> str:
    """Which chip parameter set `run` uses and where it came from: a downloaded one in the journal beats
    the local files."""
    from agent.journal import Journal, JournalError
    local = f"the configuration's ([emv] ca_keys {cfg.emv.ca_keys or '(none set)'}, [emv] tacs as set)"
    path = cfg.path("journal", "path")
    if not path.exists():
        return local + "; no journal yet"
    try:
        with Journal.open(path, fingerprint_key=None, read_only=True) as journal:
            record = journal.params_in_force()
    except JournalError as exc:
        return f"{local} (the journal could not be read for a downloaded set: {exc})"
    if record is None:
        return local
    shown = record.as_dict()
    return (f"downloaded set {shown['version']} (digest {shown['digest']}, {shown['aids']} AIDs, "
            f"{shown['keys']} CA keys, from {shown['source']}), kept in the journal; it takes precedence over "
            f"the local files")


def _config_show(args: argparse.Namespace) -> int:
    cfg = config.load_for_command(args)
    if args.json:
        print(json.dumps(cfg.as_dict(), indent=2))
    else:
        print(f"# source: {cfg.source or 'built-in defaults'}")
        print(config.dump_toml(cfg), end="")
    return 0


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse, dispatch to the subcommand's handler, and turn operator errors into one line + status."""
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except PosagentError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


#: every file a command creates (the log, the journal's WAL and shared memory, the console's lock state,
#: keys, exports) is the terminal's own: none is left readable by others, whichever command made it first
PRIVATE_UMASK = 0o077


def main(argv: Sequence[str] | None = None) -> int:
    old_umask = os.umask(PRIVATE_UMASK)
    try:
        # the daemon runs for months: its process keeps `run`'s parser only, not every command's (nor the
        # modules behind them, ~1 MB resident; docs/benchmarks.md#footprint)
        return run(build_parser(command_word(argv)), argv)
    finally:
        os.umask(old_umask)  # for a caller that runs the CLI in its own process


if __name__ == "__main__":
    sys.exit(main())
