"""`posim host`: run the acquirer simulator; `posim host ledger|fault|stats` talk to it or its ledger.

    posim host --port 5800 --db host.db --fault delay:seconds=40,mti=0200,count=1
    posim host ledger --db host.db --terminal 10000001 --json
    posim host ledger --db host.db --verify          # running balances = a full recomputation?
    posim host tcs --db host.db [--missing] [--json]  # IC card TCs received, and the approved chip sales without one
    posim host fault add drop_after:count=1          # at run time, through the control port
    posim host fault list | posim host fault clear | posim host stats
    posim host params publish --floor-limit 50000 | params rotate --key-file F | params revoke RID/II | params show
    posim host statement --db host.db --date 20261203 --out statement.csv [--format unionpay-gbk]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.settings import SCHEMA
from agent.errors import UsageError
from simulator.host import control

if TYPE_CHECKING:
    from simulator.host.ledger import Ledger
    from simulator.host.server import HostServer

DEFAULT_PORT = 5800
DEFAULT_CONTROL_PORT = 5801
DEFAULT_DB = "~/.posim/host-ledger.db"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    host = sub.add_parser("host", help="run the acquirer host simulator (or query it: ledger, fault, stats)")
    host.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    host.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"terminal port (default {DEFAULT_PORT}; 0: any)")
    host.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT,
                      help=f"control port for run-time faults (default {DEFAULT_CONTROL_PORT}; 0: any)")
    host.add_argument("--db", default=DEFAULT_DB, help=f"ledger SQLite file (default {DEFAULT_DB})")
    host.add_argument("--sync", choices=("normal", "full"), default="normal",
                      help="ledger durability per group commit: normal survives a crash of the host (default), "
                           "full also a power cut (one fsync per group)")
    host.add_argument("--cards", help="test cards TOML (default: the packaged simulator/data/cards.toml)")
    host.add_argument("--dialect", default="cup", help="message dialect (default cup)")
    host.add_argument("--fault", action="append", default=[], metavar="SPEC",
                      help="fault rule in force from the start, e.g. drop_after:count=1 (repeatable)")
    host.add_argument("--tmk", action="append", default=[], metavar="TID=HEX",
                      help="master key of one terminal (others use the agent's default TMK; repeatable)")
    host.add_argument("--tls-cert", help="serve TLS with this certificate (PEM)")
    host.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    host.add_argument("--tls-client-ca", help="require client certificates signed by this CA (PEM)")
    host.set_defaults(handler=_serve)
    actions = host.add_subparsers(dest="host_command", metavar="ACTION")

    ledger = actions.add_parser("ledger", help="net amount charged per card and per terminal")
    ledger.add_argument("--db", default=DEFAULT_DB, help=f"ledger SQLite file (default {DEFAULT_DB})")
    ledger.add_argument("--terminal", metavar="TID", help="only this terminal")
    ledger.add_argument("--json", action="store_true", help="print JSON")
    ledger.add_argument("--verify", action="store_true",
                        help="check the running balances against a full recomputation from the rows (exit 1 if not)")
    ledger.set_defaults(handler=_ledger)

    tcs = actions.add_parser("tcs", help="IC card TCs received (checked against the card's keys) and those missing")
    tcs.add_argument("--db", default=DEFAULT_DB, help=f"ledger SQLite file (default {DEFAULT_DB})")
    tcs.add_argument("--terminal", metavar="TID", help="only this terminal")
    tcs.add_argument("--missing", action="store_true", help="only the approved chip transactions whose TC never came "
                                                            "(exit 1 if any)")
    tcs.add_argument("--json", action="store_true", help="print JSON")
    tcs.set_defaults(handler=_tcs)

    from simulator.host import params_cli, statement_cli
    statement_cli.register(actions, DEFAULT_DB)
    params_cli.register(actions, DEFAULT_CONTROL_PORT)

    fault = actions.add_parser("fault", help="add, list or clear faults of a running simulator")
    fault_actions = fault.add_subparsers(dest="fault_command", metavar="ACTION")
    fault_actions.required = True
    add = fault_actions.add_parser("add", help="add a fault rule, e.g. corrupt_mac:probability=0.5,seed=7")
    add.add_argument("spec")
    clear = fault_actions.add_parser("clear", help="remove every fault rule (or those of one kind)")
    clear.add_argument("kind", nargs="?")
    listing = fault_actions.add_parser("list", help="the rules in force")
    stats = actions.add_parser("stats", help="counters of a running simulator")
    for p in (add, clear, listing, stats):
        p.add_argument("--control", default=f"127.0.0.1:{DEFAULT_CONTROL_PORT}", metavar="HOST:PORT",
                       help=f"the simulator's control port (default 127.0.0.1:{DEFAULT_CONTROL_PORT})")
    add.set_defaults(handler=lambda a: _control(a, {"op": "add", "rule": a.spec}))
    clear.set_defaults(handler=lambda a: _control(a, {"op": "clear", "kind": a.kind}))
    listing.set_defaults(handler=lambda a: _control(a, {"op": "list"}))
    stats.set_defaults(handler=lambda a: _control(a, {"op": "stats"}))


def _control(args: argparse.Namespace, request: dict[str, Any]) -> int:
    answer = control.call(control.parse_address(args.control, DEFAULT_CONTROL_PORT), request)
    answer.pop("ok", None)
    print(json.dumps(answer))
    return 0


def _open_ledger(db: str) -> Ledger:
    from simulator.host.ledger import Ledger

    path = Path(os.path.expanduser(db))
    if not path.exists():
        raise UsageError(f"no ledger at {path} (start `posim host --db {db}` first)")
    try:
        return Ledger(path)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path} is not a host ledger: {exc}") from None


def _tcs(args: argparse.Namespace) -> int:
    ledger = _open_ledger(args.db)
    try:
        report = ledger.tc_report(args.terminal)
    finally:
        ledger.close()
    if args.missing:
        report = {"missing": report["missing"]}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        if not args.missing:
            print(f"TCs received: {len(report['received'])}")
            for tc in report["received"]:
                check = "verified" if tc["verified"] else f"failed ({tc['response_code']})"
                print(f"  {tc['terminal']} batch {tc['batch']} trace {tc['stan']} {tc['kind']:<8} "
                      f"{tc['card'] or '-':<12} {_money(tc['amount']):>12}  {check}"
                      f"{'  x%d' % tc['copies'] if tc['copies'] > 1 else ''}")
        print(f"TCs missing: {len(report['missing'])}")
        for tc in report["missing"]:
            print(f"  {tc['terminal']} batch {tc['batch']} trace {tc['stan']} {tc['kind']:<8} "
                  f"{tc['card'] or '-':<12} {_money(tc['amount']):>12}  approved {tc['created_at'][:19]}")
    return 1 if args.missing and report["missing"] else 0


def _ledger(args: argparse.Namespace) -> int:
    ledger = _open_ledger(args.db)
    try:
        if args.verify:
            return _verify(ledger, args.json)
        from datetime import datetime, timezone
        from simulator.host.holds import hold_report
        report = ledger.net_report(args.terminal)
        report["holds"] = hold_report(ledger, datetime.now(timezone.utc), args.terminal)
    finally:
        ledger.close()
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    print("card              masked PAN            net charged")
    for name, row in report["cards"].items():
        print(f"{name:<17} {row['masked_pan'] or '':<21} {_money(row['net_charged']):>12}")
    print("terminal          net charged")
    for tid, row in report["terminals"].items():
        print(f"{tid:<17} {_money(row['net_charged']):>12}")
    print("card              held (open pre-auths)")
    for name, amount in report["holds"]["held"].items():
        print(f"{name:<17} {_money(amount):>12}")
    for hold in report["holds"]["holds"]:
        print(f"  hold {hold['terminal']} batch {hold['batch']} trace {hold['stan']} {hold['card'] or '-':<12} "
              f"{_money(hold['amount']):>12} since {hold['held_since'][:16]}{'  (expired)' if hold['expired'] else ''}")
    return 0


def _verify(ledger: Ledger, as_json: bool) -> int:
    problems = ledger.verify_balances()
    if as_json:
        print(json.dumps({"match": not problems, "differences": problems}))
    elif problems:
        print(f"running balances differ from a full recomputation in {len(problems)} place(s):")
        for line in problems:
            print(f"  {line}")
    else:
        print("running balances match a full recomputation from the rows")
    return 1 if problems else 0


def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def parse_tmks(items: list[str]) -> dict[str, bytes]:
    tmks: dict[str, bytes] = {}
    for item in items:
        tid, eq, hex_key = item.partition("=")
        try:
            key = bytes.fromhex(hex_key)
        except ValueError:
            key = b""
        if not eq or len(key) not in (8, 16, 24):
            raise UsageError(f"--tmk must be TID=HEX with 16, 32 or 48 hex digits, got {tid}=…")
        tmks[tid] = key
    return tmks


def server_ssl_context(cert: str | None, key: str | None, client_ca: str | None) -> ssl.SSLContext | None:
    if not cert:
        if key or client_ca:
            raise UsageError("--tls-key and --tls-client-ca need --tls-cert")
        return None
    from agent.tls import server_ssl_context as context_of
    try:
        return context_of(cert, key, client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the TLS certificate or key: {exc}") from None


def _serve(args: argparse.Namespace) -> int:
    from agent.iso8583 import get_dialect
    from agent.logsetup import setup_logging
    from simulator.host.faults import FaultPlan, parse_rule
    from simulator.host.ledger import Ledger
    from simulator.host.processing import HostProcessor
    from simulator.host.server import HostServer
    from simulator.testcards import load_cards

    for name, value in (("--port", args.port), ("--control-port", args.control_port)):
        if not 0 <= value <= 65535:
            raise UsageError(f"{name} must be from 0 to 65535, got {value}")
    from simulator.host.statement_faults import StatementFaultStore, is_statement_fault, parse_statement_fault

    plan = FaultPlan([parse_rule(spec) for spec in args.fault if not is_statement_fault(spec)])
    statement_faults = [parse_statement_fault(spec) for spec in args.fault if is_statement_fault(spec)]
    tmks = parse_tmks(args.tmk)
    default_tmk = bytes.fromhex(SCHEMA["keys"]["tmk"].default)
    cards = load_cards(args.cards)
    dialect = get_dialect(args.dialect)
    context = server_ssl_context(args.tls_cert, args.tls_key, args.tls_client_ca)
    db_path = Path(os.path.expanduser(args.db))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    setup_logging("INFO")
    ledger = Ledger(db_path, sync=args.sync)
    for fault in statement_faults:
        StatementFaultStore(db_path).add(fault)
    processor = HostProcessor(ledger, cards, dialect=dialect, tmk_for=lambda tid: tmks.get(tid, default_tmk))
    server = HostServer(processor, plan, bind=args.bind, port=args.port, control_port=args.control_port,
                        ssl_context=context)
    try:
        asyncio.run(_run(server))
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.bind}:{args.port}: {exc.strerror or exc}") from None
    finally:
        ledger.close()
    return 0


async def _run(server: HostServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    # the first line of stdout says where to connect (tests and scripts read it)
    print(f"posim host listening on {server.bind}:{server.port} control {server.bind}:{server.control_port}"
          f"{' tls' if server.ssl_context else ''}", flush=True)
    await stop.wait()
    await server.close()
    print("posim host stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    from simulator.cli import main as posim_main
    return posim_main(["host", *(argv if argv is not None else sys.argv[1:])])
