"""`posagent run`, `posagent passwd`, and every operator command that talks to the daemon — derived from
the operation registry (`agent.registry`): each row with a `cli` form is a subcommand (or a variant of
one), its arguments are the row's, its password the row's role, its exit status when the daemon is lost
mid-way the row's `money`.

Thin: parse, call the control API, print (text for people, --json for programs).  Exit status:
0 done/approved, 1 declined/failed/reversed (nothing charged), 2 bad input, 3 password refused or locked,
4 needs confirmation (re-run with the flag it names), 5 outcome unknown (the card may be charged; it is
resolved automatically — check `posagent status`), 6 a fix left open (what is done and still owed is
printed, with the one command that finishes it).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import re
import signal
import sys
from typing import TYPE_CHECKING, Any

from agent import registry, roles
from agent.auth import hash_password
from agent.config import Config, load_for_command
from agent.errors import PosagentError, UsageError
from agent.logsetup import setup_logging
from agent.money import parse_amount
from agent.registry import Arg, Cli, Operation
from agent.daemon.exits import EXIT_AUTH, EXIT_CONFIRM, EXIT_DECLINED, EXIT_OPEN, EXIT_UNKNOWN, EXIT_USAGE

if TYPE_CHECKING:  # loaded by the commands that talk to the daemon, not by `run` or `passwd`
    from agent.control_client import ControlClient

#: error codes that have their own exit status
ERROR_EXITS = {"auth": EXIT_AUTH, "usage": EXIT_USAGE, "open_chains": EXIT_CONFIRM, "chain_open": EXIT_OPEN}
#: the question asked on a terminal when a guard stops an operation (default: "Go on?")
QUESTIONS = {"totals": "Settle now?", "stored_sales": "Move them to the next batch and settle now?"}


class OutcomeUnknown(PosagentError):
    exit_status = EXIT_UNKNOWN


log = logging.getLogger("posagent.daemon")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_run(sub)
    for rows in commands().values():
        _subcommand(sub, rows)
    p = sub.add_parser("passwd", help="make a salted scrypt hash of a new password for the configuration")
    p.add_argument("--role", choices=tuple(roles.PASSWORD_SETTINGS), default="supervisor")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=_passwd)


def register_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`posagent run` alone: the daemon's process builds no other command's parser (`agent.cli.main`)."""
    run = sub.add_parser("run", help="run the daemon (journal owner, host link, control API)")
    run.add_argument("--test-cards", metavar="FILE", help="test-card file for --card (default: [card_reader] test_cards)")
    run.set_defaults(handler=_run)


# ---------------------------------------------------------------- the subcommands, from the registry

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
            words.append(_word_of(name, arg) if arg.required else f"[{_word_of(name, arg)}]")
    choose = [f for f in cli_of(row).select]
    if choose:
        words.append(" | ".join(f"{f} {_metavar(f, row)}".rstrip() for f in choose))
    for name, arg in row.args.items():
        flag = registry.flag_of(name, arg)
        if arg.positional or flag in choose:
            continue
        shown = flag if arg.kind in ("bool", "pin") else f"{flag} {_metavar_of(name, arg)}"
        words.append(shown if arg.required else f"[{shown}]")
    words += [f"[{f}]" for f in cli_of(row).extra if f not in choose]
    return " ".join(words)


def _word_of(name: str, arg: Arg) -> str:
    """A positional as the usage line shows it: its words when it takes a few (`on|off`), else its NAME."""
    return "|".join(_choices(arg)) or name.upper()


def _choices(arg: Arg) -> tuple[str, ...]:
    """The words a positional takes when its pattern is a few plain words (`on|off`), else ()."""
    pattern = arg.pattern or ""
    return tuple(pattern.split("|")) if arg.kind == "text" and re.fullmatch(r"[a-z]+(\|[a-z]+)+", pattern) else ()


def _metavar(flag: str, row: Operation) -> str:
    for name, arg in row.args.items():
        if registry.flag_of(name, arg) == flag:
            return "" if arg.kind == "bool" else _metavar_of(name, arg)
    return ""


def _metavar_of(name: str, arg: Arg) -> str:
    return "ID" if name == "id" else _dest(registry.flag_of(name, arg)).upper()


def _asks_password(row: Operation) -> bool:
    return row.role != "cashier" or row.configured_by is not None or row.raised is not None


def _subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser], rows: list[Operation]) -> None:
    word = cli_of(rows[0]).words[0]
    base = next((r for r in rows if len(cli_of(r).words) == 1 and not cli_of(r).select), rows[0])
    description = "\n".join(f"{usage_of(r)}\n    {r.summary}" for r in rows)
    p = sub.add_parser(word, help=base.summary if len(rows) == 1 else
                       base.summary + "; also: " + ", ".join(w for r in rows if r is not base for w in _variant(r)),
                       description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    positional = [_word_of(name, arg) for name, arg in base.args.items() if arg.positional]
    sub_words = [cli_of(r).words[1] for r in rows if len(cli_of(r).words) > 1]
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
                p.add_argument(flag, metavar=_metavar_of(name, arg), help=arg.help)
        for flag, text in cli_of(row).extra.items():
            if flag not in added:
                added.add(flag)
                p.add_argument(flag, action="store_true", help=text)
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    if any(_asks_password(r) for r in rows):
        p.add_argument("--password-stdin", action="store_true",
                       help="read the supervisor password from the first line of standard input")
    p.set_defaults(handler=lambda a: _operate(a, rows))


def _variant(row: Operation) -> tuple[str, ...]:
    return cli_of(row).words[1:] or cli_of(row).select


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _given(args: argparse.Namespace, flag: str) -> bool:
    value = getattr(args, _dest(flag), None)
    return value is not None and value is not False


def _choose(args: argparse.Namespace, rows: list[Operation]) -> tuple[Operation, list[str]]:
    """The row the words and flags name, and the words left for its positionals."""
    words = list(args.words)
    for row in rows:
        if len(cli_of(row).words) > 1 and words and words[0] == cli_of(row).words[1]:
            return row, words[1:]
    chosen = [r for r in rows if len(cli_of(r).words) == 1 and any(_given(args, f) for f in cli_of(r).select)]
    if len(chosen) > 1:
        raise UsageError(" and ".join(f for r in chosen for f in cli_of(r).select if _given(args, f)) +
                         " cannot be used together")
    if chosen:
        return chosen[0], words
    base = [r for r in rows if len(cli_of(r).words) == 1 and not cli_of(r).select]
    sub_words = [cli_of(r).words[1] for r in rows if len(cli_of(r).words) > 1]
    # the base form's first positional: an amount (digits), or one of a few words (`offline on|off`)
    takes = next((_choices(arg) for r in base for arg in r.args.values() if arg.positional), ())
    if sub_words and words and not words[0][:1].isdigit() and words[0] not in takes:
        first = cli_of(rows[0]).words[0]
        what = " or ".join(takes) if takes else "an amount"
        raise UsageError(f"unknown {first} action {words[0]!r} ({what}, or one of: {', '.join(sub_words)})"
                         if base else f"unknown {first} action {words[0]!r} (one of: {', '.join(sub_words)})")
    if not base:
        raise UsageError(f"usage: {' | '.join(usage_of(r) for r in rows)}")
    return base[0], words


def _call_args(args: argparse.Namespace, row: Operation, words: list[str], rows: list[Operation],
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
        value = getattr(args, _dest(registry.flag_of(name, arg)), None)
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


def _operate(args: argparse.Namespace, rows: list[Operation]) -> int:
    row, words = _choose(args, rows)
    cfg, client = _client(args)
    call_args = _call_args(args, row, words, rows, cfg.terminal.currency_exponent)
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


def _run(args: argparse.Namespace) -> int:
    from agent.daemon.consolechild import start_console_child, stop_console_child
    from agent.daemon.control import serve
    from agent.daemon.service import Daemon

    from agent.drivers.preflight import problems
    cfg = load_for_command(args)
    found = problems(cfg)
    if found:  # the first one on the line; `posagent config check` lists them all
        more = f" (and {len(found) - 1} more: posagent config check)" if len(found) > 1 else ""
        raise UsageError(f"{cfg.source or 'built-in defaults'}: {found[0]}{more}")
    setup_logging(cfg.daemon.log_level, cfg.daemon.log_file)
    daemon = Daemon(cfg, test_cards_path=args.test_cards)
    daemon.open()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            server = await serve(daemon, cfg.path("daemon", "control_socket"), int(cfg.daemon.socket_mode, 8))
            # recovery holds the operation lock from its first step, so every request waits behind it;
            # "ready" does not wait for an unreachable host (the reversals then still go first)
            recovery = asyncio.create_task(daemon.recover())
            verifying = asyncio.create_task(daemon.verify_journal() if cfg.journal.check_whole_at_start
                                            else asyncio.sleep(0))
            # store-and-forward: what is owed goes out by itself once the bank answers again
            forwarding = (asyncio.create_task(daemon.forward_owed(longest_delay=float(cfg.offline.retry_seconds)))
                          if daemon.profile.offline else None)
            every = float(cfg.emv.params_check_seconds)
            checking = (asyncio.create_task(daemon.check_params_on_schedule(every))
                        if every and daemon.dialect.param_download is not None else None)
            await asyncio.sleep(0)
            print(f"posagent ready: control socket {cfg.path('daemon', 'control_socket')}", flush=True)
            log.info("ready")
            console = start_console_child(cfg)  # [console] port set: the technician's serial console
            await stop.wait()
            recovery.cancel()
            verifying.cancel()
            for task in (forwarding, checking):
                if task is not None:
                    task.cancel()
            stop_console_child(console)
            server.close()
            await server.wait_closed()
        finally:
            await daemon.close()

    asyncio.run(main())
    return 0




# ---------------------------------------------------------------- passwords

def _passwd(args: argparse.Namespace) -> int:
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
