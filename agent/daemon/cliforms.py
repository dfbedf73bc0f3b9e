"""Each operation registry row's command-line form, read off the row (`agent.operation.Cli`): the command
word that reaches it, its usage line, the names of its flags and of their values.  The parser
(`agent.daemon.cli`) is built from these, and an operator command (`agent.daemon.commands`) reads its
parsed line back with them."""

from __future__ import annotations

import re

from agent import registry
from agent.errors import UsageError
from agent.operation import Arg, Cli, Operation


def commands() -> dict[str, list[Operation]]:
    """First command word → the registry rows it reaches, in the registry's order."""
    found: dict[str, list[Operation]] = {}
    for row in registry.OPERATIONS.values():
        if row.cli is not None:
            found.setdefault(row.cli.words[0], []).append(row)
    return found


def cli_of(row: Operation) -> Cli:
    """The row's command-line form: every row this module is handed has one (`commands`)."""
    if row.cli is None:
        raise UsageError(f"{row.name} has no command-line form")
    return row.cli


def usage_of(row: Operation) -> str:
    """`posagent preauth complete TRACE AMOUNT [--advice]`, from the row."""
    words = ["posagent", *cli_of(row).words]
    for name, arg in row.args.items():
        if arg.positional:
            words.append(word_of(name, arg) if arg.required else f"[{word_of(name, arg)}]")
    choose = [f for f in cli_of(row).select]
    if choose:
        words.append(" | ".join(f"{f} {_metavar(f, row)}".rstrip() for f in choose))
    for name, arg in row.args.items():
        flag = registry.flag_of(name, arg)
        if arg.positional or flag in choose:
            continue
        shown = flag if arg.kind in ("bool", "pin") else f"{flag} {metavar_of(name, arg)}"
        words.append(shown if arg.required else f"[{shown}]")
    words += [f"[{f}]" for f in cli_of(row).extra if f not in choose]
    return " ".join(words)


def word_of(name: str, arg: Arg) -> str:
    """A positional as the usage line shows it: its words when it takes a few (`on|off`), else its NAME."""
    return "|".join(choices(arg)) or name.upper()


def choices(arg: Arg) -> tuple[str, ...]:
    """The words a positional takes when its pattern is a few plain words (`on|off`), else ()."""
    pattern = arg.pattern or ""
    return tuple(pattern.split("|")) if arg.kind == "text" and re.fullmatch(r"[a-z]+(\|[a-z]+)+", pattern) else ()


def _metavar(flag: str, row: Operation) -> str:
    for name, arg in row.args.items():
        if registry.flag_of(name, arg) == flag:
            return "" if arg.kind == "bool" else metavar_of(name, arg)
    return ""


def metavar_of(name: str, arg: Arg) -> str:
    return "ID" if name == "id" else dest(registry.flag_of(name, arg)).upper()


def dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")
