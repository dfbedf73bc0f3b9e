"""What an operator command does once its line is parsed: its registry row chosen by the words and flags,
its arguments converted as the row says, the secrets read from standard input, the control API called,
the answer printed (text for people, --json for programs) and the exit status returned; and `posagent
passwd`, which talks to no daemon.

Exit status: 0 done/approved, 1 declined/failed/reversed (nothing charged), 2 bad input, 3 password refused
or locked, 4 needs confirmation (re-run with the flag it names), 5 outcome unknown (the card may be charged;
it is resolved automatically — check `posagent status`), 6 a fix left open (what is done and still owed is
printed, with the one command that finishes it).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING, Any

from agent import registry, roles
from agent.auth import hash_password
from agent.config import Config, load_for_command
from agent.daemon.cliforms import choices, cli_of, dest, usage_of
from agent.daemon.exits import EXIT_AUTH, EXIT_CONFIRM, EXIT_DECLINED, EXIT_OPEN, EXIT_UNKNOWN, EXIT_USAGE
from agent.errors import PosagentError, UsageError
from agent.money import parse_amount
from agent.operation import Arg, Operation

if TYPE_CHECKING:  # loaded by the commands that talk to the daemon, not by `run` or `passwd`
    from agent.control_client import ControlClient

#: error codes that have their own exit status
ERROR_EXITS = {"auth": EXIT_AUTH, "usage": EXIT_USAGE, "open_fixes": EXIT_CONFIRM, "fix_open": EXIT_OPEN,
               "open_chains": EXIT_CONFIRM, "chain_open": EXIT_OPEN}  # the codes of a daemon from before the rename
#: the question asked on a terminal when a guard stops an operation (default: "Go on?")
QUESTIONS = {"totals": "Settle now?", "stored_sales": "Move them to the next batch and settle now?"}


class OutcomeUnknown(PosagentError):
    exit_status = EXIT_UNKNOWN


def _given(args: argparse.Namespace, flag: str) -> bool:
    value = getattr(args, dest(flag), None)
    return value is not None and value is not False


def choose(args: argparse.Namespace, rows: list[Operation]) -> tuple[Operation, list[str]]:
    """The row the words and flags name, and the words left for its positionals."""
    words = list(args.words)
    named = [r for r in rows if len(cli_of(r).words) > 1 and words and words[0] == cli_of(r).words[1]]
    if named:  # `offline manual` lists, `offline manual --handled ID` acts: its flag chooses among the same words
        flagged = [r for r in named if any(_given(args, f) for f in cli_of(r).select)]
        return (flagged or [r for r in named if not cli_of(r).select] or named)[0], words[1:]
    chosen = [r for r in rows if len(cli_of(r).words) == 1 and any(_given(args, f) for f in cli_of(r).select)]
    if len(chosen) > 1:
        raise UsageError(" and ".join(f for r in chosen for f in cli_of(r).select if _given(args, f)) +
                         " cannot be used together")
    if chosen:
        return chosen[0], words
    base = [r for r in rows if len(cli_of(r).words) == 1 and not cli_of(r).select]
    sub_words = list(dict.fromkeys(cli_of(r).words[1] for r in rows if len(cli_of(r).words) > 1))
    # the base form's first positional: an amount (digits), or one of a few words (`offline on|off`)
    takes = next((choices(arg) for r in base for arg in r.args.values() if arg.positional), ())
    if sub_words and words and not words[0][:1].isdigit() and words[0] not in takes:
        first = cli_of(rows[0]).words[0]
        what = " or ".join(takes) if takes else "an amount"
        raise UsageError(f"unknown {first} action {words[0]!r} ({what}, or one of: {', '.join(sub_words)})"
                         if base else f"unknown {first} action {words[0]!r} (one of: {', '.join(sub_words)})")
    if not base:
        raise UsageError(f"usage: {' | '.join(usage_of(r) for r in rows)}")
    return base[0], words


def api_args(args: argparse.Namespace, row: Operation, words: list[str], rows: list[Operation],
             exponent: int) -> dict[str, Any]:
    """The control API's arguments from the command line, each converted as its registry row says."""
    positional = [(name, arg) for name, arg in row.args.items() if arg.positional]
    required = sum(1 for _, arg in positional if arg.required)
    if not required <= len(words) <= len(positional):
        raise UsageError(f"usage: {usage_of(row)}")
    own = {registry.flag_of(n, a) for n, a in row.args.items()} | set(cli_of(row).extra)
    for other in rows:  # a flag of another form of this command is a mistake here, not silently ignored
        flags = {registry.flag_of(n, a) for n, a in other.args.items() if not a.positional} | set(cli_of(other).extra)
        for flag in flags:
            if flag not in own and _given(args, flag):
                raise UsageError(f"{flag} does not go with: {usage_of(row)}")
    selectors = [f for f in cli_of(row).select if _given(args, f)]
    if len(selectors) > 1:
        raise UsageError(f"give one of {' or '.join(selectors)}")
    values: dict[str, Any] = {}
    for (name, arg), text in zip(positional, words):
        values[name] = _convert(name, arg, text, exponent)
    for name, arg in row.args.items():
        if arg.positional or arg.kind == "pin":
            continue
        value = getattr(args, dest(registry.flag_of(name, arg)), None)
        if value is not None and value is not False:
            values[name] = _convert(name, arg, value, exponent) if isinstance(value, str) else value
        elif arg.kind == "bool":
            values[name] = False
    for name, arg in row.args.items():
        if arg.required and name not in values and arg.kind != "pin":
            raise UsageError(f"{_spelled(name, arg)} is needed: {usage_of(row)}")
    if row.one_of and not any(all(values.get(n) not in (None, False) for n in group) for group in row.one_of):
        raise UsageError("give " + ", or ".join(" with ".join(_spelled(n, row.args[n]) for n in group)
                                                   for group in row.one_of) + f": {usage_of(row)}")
    return values


def _spelled(name: str, arg: Arg) -> str:
    return name.upper() if arg.positional else registry.flag_of(name, arg)


def _convert(name: str, arg: Arg, text: str, exponent: int) -> Any:
    where = _spelled(name, arg)
    if arg.kind == "amount":
        return parse_amount(text, exponent)
    if arg.kind == "trace":
        if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 6) or int(text) == 0:
            raise UsageError(f"{where}: a trace number must be 1 to 6 digits, not {_excerpt(text)}")
        return int(text)
    if arg.kind == "paycode":  # checked here too, so a wrong code never reaches the daemon
        from agent.paycodes import PaymentCodeError, classify
        try:
            classify(text)
        except PaymentCodeError as exc:
            raise UsageError(str(exc)) from None
        return text
    if arg.kind == "int":
        if not (text.isascii() and text.isdigit() and len(text) <= 19) or not arg.lo <= int(text) <= arg.hi:
            raise UsageError(f"{where} must be a whole number from {arg.lo} to {arg.hi}, not {_excerpt(text)}")
        return int(text)
    return text


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= 24 else text[:21] + "...")


def operate(args: argparse.Namespace, rows: list[Operation]) -> int:
    row, words = choose(args, rows)
    cfg, client = _client(args)
    call_args = api_args(args, row, words, rows, cfg.terminal.currency_exponent)
    secrets_in = _stdin_secrets(args, row, call_args, cfg)
    if "pin" in row.args and getattr(args, "pin_stdin", False):
        call_args["pin"] = secrets_in.pin()
    while True:
        reply = _call(args, row, call_args, cfg, client, secrets_in)
        outcome = reply.get("outcome") or {}
        guard = (outcome.get("details") or {}).get("guard")
        if outcome.get("status") != "needs_confirmation" or args.json or guard not in row.guards:
            break
        if guard == "totals" and call_args.get("confirm"):  # asked although confirmed: say it, do not loop
            break
        print(outcome["message"])
        if not _ask(QUESTIONS.get(guard, "Go on?")):
            print(f"(re-run with {registry.confirm_flag(guard)} to go on)", file=sys.stderr)
            return EXIT_CONFIRM
        call_args[registry.GUARD_ARGS[guard]] = True
    if reply.get("ok") and not args.json and cli_of(row).show:
        from agent.daemon import show  # the printers: never loaded by the daemon's own process
        printer: show.Printer = getattr(show, cli_of(row).show)
        return printer(args, cfg, reply)
    return _finish(args, reply)


class _StdinSecrets:
    """The secrets a command reads from standard input, in order: the password, then the PIN."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self._password: str | None = None
        self._asked = False

    def password(self) -> str | None:
        if not self._asked:
            self._asked = True
            if getattr(self.args, "password_stdin", False):
                line = sys.stdin.readline()
                self._password = line.rstrip("\r\n") or None
            elif sys.stdin.isatty():
                self._password = getpass.getpass("Supervisor password: ")
        return self._password

    def pin(self) -> str:
        from agent.drivers.pinpad import PinPadError, check_pin
        pin = sys.stdin.readline().rstrip("\r\n")
        try:
            check_pin(pin)
        except PinPadError as exc:
            raise UsageError(f"--pin-stdin: {exc}") from None
        return pin


def _stdin_secrets(args: argparse.Namespace, row: Operation, call_args: dict[str, Any], cfg: Config) -> _StdinSecrets:
    secrets_in = _StdinSecrets(args)
    if registry.role_for(row.name, call_args, cfg) != "cashier":
        secrets_in.password()  # the first line of standard input is the password, before any PIN
    return secrets_in


# ---------------------------------------------------------------- talking to it

def _client(args: argparse.Namespace) -> tuple[Config, ControlClient]:
    from agent.control_client import ControlClient

    cfg = load_for_command(args)
    return cfg, ControlClient(cfg.path("daemon", "control_socket"))


def _call(args: argparse.Namespace, row: Operation, call_args: dict[str, Any], cfg: Config, client: ControlClient,
          secrets_in: _StdinSecrets) -> dict[str, Any]:
    needs_password = registry.role_for(row.name, call_args, cfg) != "cashier"
    secret = secrets_in.password() if needs_password else None
    notify = None if args.json else (lambda text: print(f"… {text}", file=sys.stderr, flush=True))
    from agent.control_client import ConnectionLost
    try:
        reply = client.call(row.name, call_args, password=secret, on_notify=notify)
    except ConnectionLost as exc:
        if not row.money:
            raise
        from agent.engine.texts import say
        raise OutcomeUnknown(say(cfg.terminal.language, "outcome_unknown", detail=exc)) from None
    if (not reply.get("ok") and reply.get("error", {}).get("code") == "auth" and secret is None
            and not getattr(args, "password_stdin", False)):
        reply["error"]["message"] += " (give it with --password-stdin, or run on a terminal to be asked)"
    return reply


def _finish(args: argparse.Namespace, reply: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
    if not reply.get("ok"):
        error = reply.get("error", {})
        if not args.json:
            print(f"posagent: {error.get('message')}", file=sys.stderr)
        return ERROR_EXITS.get(error.get("code"), EXIT_DECLINED)
    outcome = reply.get("outcome")
    if outcome is None:
        return 0
    if not args.json:
        print(outcome["message"])
        if outcome.get("report"):
            print()
            print(outcome["report"])
        for receipt in outcome.get("receipts", []):
            print()
            print(receipt["merchant"])
            print(receipt["customer"])
    if outcome["status"] == "needs_confirmation":
        flag = registry.confirm_flag((outcome.get("details") or {}).get("guard") or "")
        if not args.json and flag:
            print(f"(re-run with {flag} to go on)", file=sys.stderr)
        return EXIT_CONFIRM
    if outcome["status"] == "in_doubt":
        return EXIT_UNKNOWN
    if outcome["status"] == "open":
        return EXIT_OPEN
    return 0 if outcome["ok"] else EXIT_DECLINED


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


# ---------------------------------------------------------------- passwords

def passwd(args: argparse.Namespace) -> int:
    if args.password_stdin:
        first = sys.stdin.readline().rstrip("\r\n")
        second = first
    elif sys.stdin.isatty():
        first = getpass.getpass(f"New {args.role} password: ")
        second = getpass.getpass("Again: ")
    else:
        raise UsageError("give the password with --password-stdin, or run on a terminal")
    if first != second:
        raise UsageError("the two passwords differ")
    problem = roles.password_problem(args.role, first)
    if problem:
        raise UsageError(problem)
    section, key = roles.PASSWORD_SETTINGS[args.role]
    print(f"[{section}]\n{key} = \"{hash_password(first)}\"")
    return 0
