"""`posagent run`, `posagent passwd`, and every operator command that talks to the daemon — the parser derived
from the operation registry (`agent.registry`): each row with a `cli` form is a subcommand (or a variant of
one), its arguments are the row's, its password the row's role, its exit status when the daemon is lost
mid-way the row's `money`.

Thin: parse here (the forms read off the rows: `agent.daemon.cliforms`), then the command's handler calls the
control API and prints (`agent.daemon.commands`; `posagent run` is `agent.daemon.main`).
"""

from __future__ import annotations

import argparse

from agent import registry, roles
from agent.daemon import commands, main
from agent.daemon.cliforms import cli_of, dest, metavar_of, usage_of, word_of
from agent.daemon.cliforms import commands as command_rows
from agent.operation import Operation


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_run(sub)
    for rows in command_rows().values():
        _subcommand(sub, rows)
    for old, new in registry.RENAMED.items():  # an operation whose command word was its name: the old word, unlisted
        row = registry.get(new)
        if row is not None and row.cli is not None and row.cli.words == (new,) and old not in sub.choices:
            _subcommand(sub, command_rows()[new], old)
    p = sub.add_parser("passwd", help="make a salted scrypt hash of a new password for the configuration")
    p.add_argument("--role", choices=tuple(roles.PASSWORD_SETTINGS), default="supervisor")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=commands.passwd)


def register_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`posagent run` alone: the daemon's process builds no other command's parser (`agent.cli.main`)."""
    run = sub.add_parser("run", help="run the daemon (journal owner, host link, control API)")
    run.add_argument("--test-cards", metavar="FILE", help="test-card file for --card (default: [card_reader] test_cards)")
    run.set_defaults(handler=main.run)


# ---------------------------------------------------------------- the subcommands, from the registry

def _asks_password(row: Operation) -> bool:
    return row.role != "cashier" or row.configured_by is not None or row.raised is not None


def _subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser], rows: list[Operation],
                old_word: str = "") -> None:
    """The subcommand of `rows`; under `old_word`, the same one under its name of the past, left out of --help."""
    word = old_word or cli_of(rows[0]).words[0]
    base = next((r for r in rows if len(cli_of(r).words) == 1 and not cli_of(r).select), rows[0])
    description = "\n".join(f"{usage_of(r)}\n    {r.summary}" for r in rows)
    summary = base.summary if len(rows) == 1 else base.summary + "; also: " + ", ".join(
        " ".join(_variant(r)) for r in rows if r is not base)
    if old_word:  # no help: argparse lists a subcommand only when it has one
        p = sub.add_parser(word, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    else:
        p = sub.add_parser(word, help=summary, description=description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    positional = [word_of(name, arg) for name, arg in base.args.items() if arg.positional]
    sub_words = list(dict.fromkeys(cli_of(r).words[1] for r in rows if len(cli_of(r).words) > 1))
    metavar = " | ".join(filter(None, [" ".join(positional), *(f"{w} ..." for w in sub_words)])) or "ARGS"
    p.add_argument("words", nargs="*", metavar=metavar, help="see the forms above")
    added: set[str] = set()
    for row in rows:
        for name, arg in row.args.items():
            flag = registry.flag_of(name, arg)
            if arg.positional or flag in added:
                continue
            added.add(flag)
            if arg.kind in ("bool", "pin"):
                p.add_argument(flag, action="store_true", help=arg.help)
            else:
                p.add_argument(flag, metavar=metavar_of(name, arg), help=arg.help)
            for old in (old for old, new in registry.RENAMED.items() if new == name):  # a flag of the past, unlisted
                p.add_argument(registry.flag_of(old, arg), dest=dest(flag), action="store_true" if arg.kind == "bool"
                               else "store", help=argparse.SUPPRESS)
        for flag, text in cli_of(row).extra.items():
            if flag not in added:
                added.add(flag)
                p.add_argument(flag, action="store_true", help=text)
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    if any(_asks_password(r) for r in rows):
        p.add_argument("--password-stdin", action="store_true",
                       help="read the supervisor password from the first line of standard input")
    p.set_defaults(handler=lambda a: commands.operate(a, rows))


def _variant(row: Operation) -> tuple[str, ...]:
    return (*cli_of(row).words[1:], *cli_of(row).select)
