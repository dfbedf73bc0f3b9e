"""`posagent run` and the operator commands that talk to it (sale, void, refund, correct, duplicates,
settle, signon, echo, status, reversals, receipt, passwd).

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
import os
import signal
import sys
from typing import Any

from agent.auth import hash_password
from agent.cli import load_config
from agent.errors import PosagentError, UsageError
from agent.logsetup import setup_logging
from agent.money import format_amount, parse_amount

EXIT_DECLINED, EXIT_USAGE, EXIT_AUTH, EXIT_CONFIRM, EXIT_UNKNOWN, EXIT_OPEN = 1, 2, 3, 4, 5, 6
#: operations whose outcome is unknown when the daemon stops answering mid-way
MONEY_OPS = frozenset({"sale", "void", "refund", "correct", "duplicates_fix", "settle"})
#: error codes that have their own exit status
ERROR_EXITS = {"auth": EXIT_AUTH, "usage": EXIT_USAGE, "open_chains": EXIT_CONFIRM, "chain_open": EXIT_OPEN}
#: the flag that confirms each guard
CONFIRM_FLAGS = {"duplicate": "--confirm-duplicate", "unusual_amount": "--confirm-unusual",
                 "repeat_refund": "--confirm-repeat"}


class OutcomeUnknown(PosagentError):
    exit_status = EXIT_UNKNOWN

log = logging.getLogger("posagent.daemon")


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the daemon (journal owner, host link, control API)")
    run.add_argument("--test-cards", metavar="FILE", help="test-card file for --card (default: [card_reader] test_cards)")
    run.set_defaults(handler=_run)

    def op(name: str, help_text: str, *, password: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
        if password:
            p.add_argument("--password-stdin", action="store_true",
                           help="read the supervisor password from the first line of standard input")
        return p

    p = op("sale", "charge a card")
    p.add_argument("amount", help="amount in the currency's major unit, e.g. 100.00")
    p.add_argument("--card", metavar="NAME", help="use a named test card ([card_reader] test_cards) instead of the card reader")
    p.add_argument("--confirm-duplicate", action="store_true", help="the same card and amount again is intended")
    p.add_argument("--confirm-unusual", action="store_true", help="the unusually large amount is right")
    p.add_argument("--request-id", help="the cash register's request id (a repeat is recognised)")
    p.add_argument("--code", metavar="DIGITS", help="the customer's wallet payment code (Alipay, WeChat Pay, "
                                                    "UnionPay QuickPass) instead of a card")
    p.add_argument("--scan", action="store_true", help="read the wallet payment code from the barcode scanner")
    p.add_argument("--pin-stdin", action="store_true",
                   help="the cardholder's PIN (for a card that asks for one online) from the first line of "
                        "standard input; never shown, logged or journaled")
    p.set_defaults(handler=_sale)

    p = op("void", "cancel a sale of the open batch (supervisor)", password=True)
    p.add_argument("trace", type=_trace, help="trace number of the sale")
    p.set_defaults(handler=lambda a: _simple(a, "void", {"trace": a.trace}))

    p = op("refund", "refund all or part of a sale, any day (supervisor)", password=True)
    p.add_argument("amount", nargs="?", help="amount to refund (default: everything still refundable)")
    p.add_argument("--trace", type=_trace, help="trace number of the original sale")
    p.add_argument("--rrn", help="reference number (RRN) of the original sale")
    p.add_argument("--date", help="date of the original sale, MMDD (with --rrn)")
    p.add_argument("--request-id", help="request id; the same id again is never paid twice")
    p.add_argument("--confirm-repeat", action="store_true", help="a second identical refund is intended")
    p.set_defaults(handler=_refund)

    p = op("correct", "fix a wrong amount: void + re-sale, refund of the difference, or linked sale (supervisor)",
           password=True)
    p.add_argument("trace", type=_trace, help="trace number of the sale with the wrong amount")
    p.add_argument("--amount", help="the right amount")
    p.add_argument("--resume", action="store_true", help="finish the open correction of this sale")
    p.add_argument("--method", choices=("auto", "refund", "resale"), default="auto",
                   help="auto picks from the batch state (default)")
    p.add_argument("--card", metavar="NAME", help="test card for a new sale, instead of the reader")
    p.add_argument("--code", metavar="DIGITS", help="a wallet sale: the customer's new payment code for the "
                                                    "difference (an overcharge is refunded)")
    p.add_argument("--scan", action="store_true", help="a wallet sale: scan the customer's new code")
    p.set_defaults(handler=_correct)

    p = op("duplicates", "list suspected double charges; --fix ID repairs one (supervisor)", password=True)
    p.add_argument("--fix", type=int, metavar="ID", help="journal id of the duplicate sale to void or refund")
    p.set_defaults(handler=_duplicates)

    p = op("chains", "multi-step fixes left open; --close ID --reason TEXT ends one on purpose (supervisor)",
           password=True)
    p.add_argument("--close", type=int, metavar="ID", help="chain to close (the customer was settled otherwise)")
    p.add_argument("--reason", help="what was done instead, e.g. \"customer paid cash\" (with --close)")
    p.set_defaults(handler=_chains)

    p = op("settle", "settle the batch: totals, confirmation, upload (supervisor)", password=True)
    p.add_argument("--yes", action="store_true", help="the totals were checked: settle without asking")
    p.add_argument("--confirm-open-chains", action="store_true",
                   help="settle although fixes are still open (they are listed; close them by hand after)")
    p.set_defaults(handler=_settle)

    op("signon", "sign on: new working keys and batch number").set_defaults(handler=lambda a: _simple(a, "signon", {}))
    op("echo", "link test with the acquirer").set_defaults(handler=lambda a: _simple(a, "echo", {}))
    op("status", "link, keys, batch, reversal queue, journal health").set_defaults(handler=_status)

    p = op("reversals", "the reversal queue; --retry sends now; --handled ID marks one handled (supervisor)",
           password=True)
    p.add_argument("--retry", action="store_true", help="send pending reversals now")
    p.add_argument("--handled", type=int, metavar="ID", help="mark reversal ID handled by hand")
    p.add_argument("--note", default="", help="what was done (with --handled)")
    p.set_defaults(handler=_reversals)

    p = op("receipt", "reprint a receipt (default: the last transaction)")
    p.add_argument("id", nargs="?", type=int, help="journal id")
    p.set_defaults(handler=_receipt)

    p = sub.add_parser("passwd", help="make a salted scrypt hash of a new password for the configuration")
    p.add_argument("--role", choices=("supervisor", "technician"), default="supervisor")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=_passwd)


def _trace(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 6) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"trace number must be 1 to 6 digits, not {text!r}")
    return int(text)


# ---------------------------------------------------------------- the daemon

def _run(args: argparse.Namespace) -> int:
    from agent.console.app import start_console_child, stop_console_child
    from agent.daemon.control import serve
    from agent.daemon.service import Daemon

    from agent.preflight import problems
    cfg = load_config(args)
    found = problems(cfg)
    if found:  # the first one on the line; `posagent config check` lists them all
        more = f" (and {len(found) - 1} more: posagent config check)" if len(found) > 1 else ""
        raise UsageError(f"{cfg.source or 'built-in defaults'}: {found[0]}{more}")
    os.umask(0o077)  # journal, WAL, shared memory, log, keys: the daemon's files are its own
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
            await asyncio.sleep(0)
            print(f"posagent ready: control socket {cfg.path('daemon', 'control_socket')}", flush=True)
            log.info("ready")
            console = start_console_child(cfg)  # [console] port set: the technician's serial console
            await stop.wait()
            recovery.cancel()
            verifying.cancel()
            stop_console_child(console)
            server.close()
            await server.wait_closed()
        finally:
            await daemon.close()

    asyncio.run(main())
    return 0


# ---------------------------------------------------------------- talking to it

def _client(args: argparse.Namespace):
    from agent.daemon.control import ControlClient

    cfg = load_config(args)
    return cfg, ControlClient(cfg.path("daemon", "control_socket"))


def _password(args: argparse.Namespace) -> str | None:
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        return line.rstrip("\r\n") or None
    if sys.stdin.isatty():
        return getpass.getpass("Supervisor password: ")
    return None


def _amount(cfg, text: str) -> int:
    return parse_amount(text, cfg.terminal.currency_exponent)


def _call(args: argparse.Namespace, op: str, call_args: dict, *, password: bool = False) -> tuple[Any, dict]:
    cfg, client = _client(args)
    secret = _password(args) if password else None
    notify = None if args.json else (lambda text: print(f"… {text}", file=sys.stderr, flush=True))
    from agent.daemon.control import ConnectionLost
    try:
        reply = client.call(op, call_args, password=secret, on_notify=notify)
    except ConnectionLost as exc:
        if op not in MONEY_OPS:
            raise
        from agent.engine.texts import say
        raise OutcomeUnknown(say(cfg.terminal.language, "outcome_unknown", detail=exc)) from None
    if (not reply.get("ok") and reply.get("error", {}).get("code") == "auth" and secret is None
            and not getattr(args, "password_stdin", False)):
        reply["error"]["message"] += " (give it with --password-stdin, or run on a terminal to be asked)"
    return cfg, reply


def _finish(args: argparse.Namespace, reply: dict, *, confirm_flag: str | None = None) -> int:
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
        flag = CONFIRM_FLAGS.get((outcome.get("details") or {}).get("guard"), confirm_flag)
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


def _simple(args: argparse.Namespace, op: str, call_args: dict) -> int:
    _, reply = _call(args, op, call_args, password=hasattr(args, "password_stdin"))
    return _finish(args, reply)


def _sale(args: argparse.Namespace) -> int:
    cfg, _ = _client(args)
    call_args = {"amount": _amount(cfg, args.amount), "card": args.card, "confirm_duplicate": args.confirm_duplicate,
                 "confirm_unusual": args.confirm_unusual, "client_request_id": args.request_id}
    if args.code is not None or args.scan:
        return _wallet_sale(args, cfg, call_args)
    if args.pin_stdin:
        from agent.drivers.pinpad import PinPadError, check_pin
        pin = sys.stdin.readline().rstrip("\r\n")
        try:
            check_pin(pin)
        except PinPadError as exc:
            raise UsageError(f"--pin-stdin: {exc}") from None
        call_args["pin"] = pin
    _, reply = _call(args, "sale", call_args)
    outcome = reply.get("outcome") or {}
    if outcome.get("status") == "needs_confirmation" and not args.json:
        guard = outcome.get("details", {}).get("guard")
        flag = "--confirm-duplicate" if guard == "duplicate" else "--confirm-unusual"
        print(outcome["message"])
        if _ask("Go on?"):
            call_args["confirm_duplicate" if guard == "duplicate" else "confirm_unusual"] = True
            _, reply = _call(args, "sale", call_args)
        else:
            print(f"(re-run with {flag} to go on)", file=sys.stderr)
            return EXIT_CONFIRM
    return _finish(args, reply, confirm_flag="--confirm-duplicate or --confirm-unusual")


def _wallet_sale(args: argparse.Namespace, cfg, call_args: dict) -> int:
    if args.card or (args.code is not None and args.scan):
        raise UsageError("a sale takes one of --card, --code or --scan")
    if args.code is not None:
        from agent.paycodes import PaymentCodeError, classify
        try:
            classify(args.code)  # checked here too, so a wrong code never reaches the daemon
        except PaymentCodeError as exc:
            raise UsageError(str(exc)) from None
    call_args = {"amount": call_args["amount"], "code": args.code, "confirm_duplicate": args.confirm_duplicate,
                 "client_request_id": args.request_id}
    _, reply = _call(args, "wallet_sale", call_args)
    return _finish(args, reply, confirm_flag="--confirm-duplicate")


def _refund(args: argparse.Namespace) -> int:
    cfg, _ = _client(args)
    if args.trace is None and not args.rrn:
        raise UsageError("name the original sale: --trace TRACE, or --rrn RRN --date MMDD")
    if args.rrn and not args.date:
        raise UsageError("--rrn needs --date MMDD (the day of the original sale)")
    if args.date is not None and not (len(args.date) == 4 and args.date.isdigit()):
        raise UsageError(f"--date must be MMDD, not {args.date!r}")
    call_args = {"trace": args.trace, "rrn": args.rrn, "date": args.date,
                 "amount": _amount(cfg, args.amount) if args.amount else None,
                 "client_request_id": args.request_id, "confirm_repeat": args.confirm_repeat}
    _, reply = _call(args, "refund", call_args, password=True)
    return _finish(args, reply)


def _correct(args: argparse.Namespace) -> int:
    cfg, _ = _client(args)
    if args.amount is None and not args.resume:
        raise UsageError("give the right amount with --amount, or --resume to finish an open correction")
    call_args = {"trace": args.trace, "amount": _amount(cfg, args.amount) if args.amount is not None else None,
                 "method": args.method, "card": args.card, "resume": args.resume}
    if args.code is not None or args.scan:
        if call_args["amount"] is None:
            raise UsageError("a payment-code correction needs the right amount (--amount)")
        _, reply = _call(args, "wallet_correct", {"trace": args.trace, "amount": call_args["amount"],
                                                  "code": args.code}, password=True)
        return _finish(args, reply)
    _, reply = _call(args, "correct", call_args, password=True)
    return _finish(args, reply)


def _duplicates(args: argparse.Namespace) -> int:
    if args.fix is not None:
        _, reply = _call(args, "duplicates_fix", {"id": args.fix}, password=True)
        return _finish(args, reply)
    cfg, reply = _call(args, "duplicates", {})
    if args.json or not reply.get("ok"):
        return _finish(args, reply)
    groups = reply["result"]["groups"]
    if not groups and not reply["result"].get("holds"):
        print("no suspected duplicates")
    for group in groups:
        first = group[0]
        print(f"card {first['pan_masked']}, {format_amount(first['amount'], cfg.terminal.currency_exponent)} "
              f"charged {len(group)} times:")
        rows = [(f"id {t['id']}", f"trace {t['trace']:06d}", f"batch {t['batch']:06d}", t["state"],
                 f"rrn {t['rrn'] or '-'}") for t in group]
        for line in table(rows):
            print(f"  {line}")
        print(f"  fix with: posagent duplicates --fix {group[-1]['id']}")
    for group in reply["result"].get("holds") or ():  # a stay held twice (预授权)
        first = group[0]
        print(f"card {first['pan_masked']}, {format_amount(first['amount'], cfg.terminal.currency_exponent)} "
              f"held {len(group)} times (open pre-auths):")
        for t in group:
            print(f"  id {t['id']:>5}  trace {t['trace']:06d}  batch {t['batch']:06d}  {t['state']:<10} "
                  f"rrn {t['rrn'] or '-'}")
        print(f"  release the extra hold with: posagent duplicates --fix {group[-1]['id']}")
    return 0


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as lines, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _chains(args: argparse.Namespace) -> int:
    if args.close is not None:
        if not args.reason:
            raise UsageError("--close needs --reason: what was done instead (e.g. \"customer paid cash\")")
        _, reply = _call(args, "chain_close", {"id": args.close, "reason": args.reason}, password=True)
        if reply.get("ok") and not args.json:
            print(reply["result"]["message"])
            return 0
        return _finish(args, reply)
    _, reply = _call(args, "chains", {})
    if args.json or not reply.get("ok"):
        return _finish(args, reply)
    items = reply["result"]["open"]
    if not items:
        print("no fix is open")
    for c in items:
        print(f"chain {c['id']}  {c['kind']}  trace {c['trace']:06d}  card {c['card'] or '-'}")
        print(f"  {c['standing']}")
    return EXIT_OPEN if items else 0


def _settle(args: argparse.Namespace) -> int:
    _, reply = _call(args, "settle", {"confirm": False, "confirm_open_chains": args.confirm_open_chains})
    outcome = reply.get("outcome") or {}
    if outcome.get("status") != "needs_confirmation":
        return _finish(args, reply)
    if not args.yes:
        if not args.json:
            print(outcome["message"])
        if not _ask("Settle now?"):
            if not args.json:
                print("(re-run with --yes to settle)", file=sys.stderr)
            else:
                print(json.dumps(reply, ensure_ascii=False, indent=2))
            return EXIT_CONFIRM
    _, reply = _call(args, "settle", {"confirm": True, "confirm_open_chains": args.confirm_open_chains}, password=True)
    return _finish(args, reply)


def _status(args: argparse.Namespace) -> int:
    cfg, reply = _call(args, "status", {})
    if args.json or not reply.get("ok"):
        return _finish(args, reply)
    s = reply["result"]
    link = s["link"]
    print(f"link      {link['host']}:{link['port']} {'connected' if link['connected'] else 'idle'}"
          f"{' (TLS)' if link['tls'] else ''}")
    keys = s["keys"]
    kcv = ", ".join(f"{k} {v}" for k, v in keys["check_values"].items()) or "none"
    print(f"keys      {'installed' if keys['installed'] else 'missing — sign on'} ({kcv})")
    print(f"batch     {s['batch']['number']:06d} {s['batch']['state']}, {s['batch']['transactions']} transaction(s)")
    for line in payment_lines(s["batch"].get("totals") or {}, cfg.terminal.currency_exponent):
        print(f"  {line}")
    print(f"reversals {s['reversals']['pending']} pending, {s['reversals']['needs_manual']} need manual handling")
    if s.get("advices", {}).get("pending"):
        print(f"advices   {s['advices']['pending']} waiting for the bank's answer (sent before the next online message)")
    print(f"journal   {s['journal']['path']}: {s['journal']['in_doubt']} in doubt"
          f"{', settlement of batch %06d in progress' % s['journal']['settling'] if s['journal']['settling'] else ''}")
    open_chains = s.get("chains", {}).get("open", [])
    print(f"fixes     {len(open_chains)} open")
    for c in open_chains:
        print(f"  chain {c['id']} trace {c['trace']:06d}: {c['standing']}")
    if s["supervisor_locked_for_s"]:
        print(f"supervisor functions locked for {s['supervisor_locked_for_s']} s")
    return 0


PAYMENT_LABELS = {"card": "card", "wallet": "payment code"}


def payment_lines(by_payment: dict, exponent: int) -> list[str]:
    """A batch's totals per payment type, one line each: sales, refunds, net."""
    money = lambda a: format_amount(a, exponent)  # noqa: E731
    return [f"{PAYMENT_LABELS.get(name, name):<12} sales {p['sales_count']} for {money(p['sales_amount'])}, "
            f"refunds {p['refunds_count']} for {money(p['refunds_amount'])}, net {money(p['net_amount'])}"
            for name, p in by_payment.items()]


def _reversals(args: argparse.Namespace) -> int:
    if args.retry:
        _, reply = _call(args, "reversal_retry", {})
        if reply.get("ok") and not args.json:
            print(reply["result"]["message"])
            return 0 if reply["result"]["status"] == "done" else EXIT_DECLINED
    elif args.handled is not None:
        _, reply = _call(args, "reversal_handled", {"id": args.handled, "note": args.note}, password=True)
    else:
        _, reply = _call(args, "reversals", {})
        if reply.get("ok") and not args.json:
            queue = reply["result"]
            rows = [("pending", r) for r in queue["pending"]] + [("NEEDS MANUAL", r) for r in queue["needs_manual"]]
            if not rows:
                print("reversal queue empty")
            for state, r in rows:
                print(f"id {r['id']:>5}  trace {r['trace']:06d}  reason {r['reason']}  tries {r['tries']}  {state}"
                      f"  {r['last_error'] or ''}")
            if queue["needs_manual"]:
                print("For each NEEDS MANUAL: call the acquirer with the trace number to check whether the card was "
                      "charged; refund if it was, then mark it with `posagent reversals --handled ID --note ...`.")
            return 0
    return _finish(args, reply)


def _receipt(args: argparse.Namespace) -> int:
    _, reply = _call(args, "receipt", {"id": args.id} if args.id is not None else {})
    if args.json or not reply.get("ok"):
        return _finish(args, reply)
    print(reply["result"]["merchant"])
    print(reply["result"]["customer"])
    return 0


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
    if len(first) < 6:
        raise UsageError("a password needs at least 6 characters")
    section = "supervisor" if args.role == "supervisor" else "console"
    print(f"[{section}]\npassword_hash = \"{hash_password(first)}\"")
    return 0
