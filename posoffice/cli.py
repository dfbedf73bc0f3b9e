"""`posoffice`: the back office's command line — a thin layer over `store`, `report` and the collector.

Tables for people, `--json` for programs.  Exit status: 0 done; 1 `verify` found a problem; 2 bad input,
configuration or an unreachable database (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from datetime import date
from typing import Any, Sequence

from posoffice.errors import OfficeError


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument("--dsn", default=argparse.SUPPRESS,
                        help="the office database (libpq connection string or URI); default: $POSOFFICE_DSN")
    parser = Parser(prog="posoffice", parents=[common], description="The merchant's back office: terminals' "
                    "journal events collected and checked in PostgreSQL.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    serve = sub.add_parser("serve", parents=[common], help="run the collector (POST /v1/events)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8740, help="port (default 8740; 0: any free port)")

    listing = sub.add_parser("terminals", parents=[common],
                             help="each terminal: last event, last contact, backlog, chain state")
    listing.add_argument("--json", action="store_true")

    terminal = sub.add_parser("terminal", help="manage terminals")
    tsub = terminal.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = tsub.add_parser("add", parents=[common], help="register a terminal and print its secret (once)")
    add.add_argument("terminal", metavar="TID")
    add.add_argument("--merchant", required=True, metavar="MID")

    verify = sub.add_parser("verify", parents=[common],
                            help="re-walk the stored chains; exit 1 when anything was altered")
    verify.add_argument("terminal", nargs="?", metavar="TERMINAL")
    verify.add_argument("--json", action="store_true")

    day = sub.add_parser("day", parents=[common], help="a day's approved sales, refunds and voids per terminal")
    day.add_argument("day", type=_date, metavar="DATE", help="YYYY-MM-DD")
    day.add_argument("--tz", default="UTC", help="the time zone the day is in (default UTC)")
    day.add_argument("--json", action="store_true")
    return parser




def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except OfficeError as exc:
        print(f"posoffice: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _connection(args):
    from posoffice import db
    conn = db.connect(db.resolve_dsn(getattr(args, "dsn", None)))
    try:
        db.migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


# ----------------------------------------------------------------------------- commands
def cmd_serve(args) -> int:
    import uvicorn

    from posoffice import db
    from posoffice.collector import create_app

    dsn = db.resolve_dsn(getattr(args, "dsn", None))
    with db.connect(dsn) as conn:
        db.migrate(conn)
    try:
        sock = socket.create_server((args.host, args.port), reuse_port=False)
    except OSError as exc:
        raise OfficeError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    pool = db.pool(dsn)
    host, port = sock.getsockname()[:2]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"posoffice: collecting on http://{host}:{port}/v1/events", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(pool), log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
    return 0


def cmd_terminals(args) -> int:
    from posoffice import store
    with _connection(args) as conn:
        rows = store.terminals(conn)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no terminals registered (posoffice terminal add TID --merchant MID)")
        return 0
    table = [("TERMINAL", "MERCHANT", "LAST SEQ", "LAST CONTACT", "BACKLOG", "CHAIN")]
    for r in rows:
        problem = r["first_problem"]
        chain = "ok" if problem is None else f"{problem['what']} at {problem['seq']}" + (
            f" (+{r['problems'] - 1} more)" if r["problems"] > 1 else "")
        table.append((r["terminal"], r["merchant"], str(r["last_seq"]), r["last_contact"] or "never",
                      "unknown" if r["backlog"] is None else str(r["backlog"]), chain))
    _print_table(table)
    return 0


def cmd_terminal(args) -> int:
    from posoffice import store
    with _connection(args) as conn:
        secret = store.add_terminal(conn, args.terminal, args.merchant)
    print(f"terminal {args.terminal} registered for merchant {args.merchant}")
    print(f"secret: {secret}")
    print("(shown once: configure it on the terminal now; the office keeps only its hash)")
    return 0


def cmd_verify(args) -> int:
    from posoffice import store
    with _connection(args) as conn:
        result = store.verify(conn, args.terminal)
    if args.json:
        _print_json(result)
    elif result["ok"]:
        print(f"ok: {result['events']} events of {result['terminals']} terminal(s) re-hashed, every chain intact")
    else:
        for p in result["problems"]:
            print(f"{p['terminal']} event {p['seq']}: {p['what']}")
        print(f"{len(result['problems'])} problem(s) in {result['events']} events of {result['terminals']} "
              "terminal(s)")
    return 0 if result["ok"] else 1


def cmd_day(args) -> int:
    from posoffice import report, store
    with _connection(args) as conn:
        totals = {t.terminal: t for t in report.day_totals(store.day_events(conn, args.day, args.tz))}
        everyone = [r["terminal"] for r in store.terminals(conn)]
    days = [totals.get(t) or report.TerminalDay(t) for t in sorted(set(everyone) | set(totals))]
    if args.json:
        _print_json({"day": args.day.isoformat(), "tz": args.tz, "terminals": [d.as_json() for d in days]})
        return 0
    table = [("TERMINAL", "SALES", "REFUNDS", "VOIDS", "NET")]
    for d in days:
        table.append((d.terminal, *(f"{line.count} / {_money(line.amount)}" for line in (d.sales, d.refunds, d.voids)),
                      _money(d.net)))
    print(f"{args.day.isoformat()} ({args.tz}), count / amount:")
    _print_table(table)
    return 0


COMMANDS = {"serve": cmd_serve, "terminals": cmd_terminals, "terminal": cmd_terminal, "verify": cmd_verify,
            "day": cmd_day}


# ----------------------------------------------------------------------------- edges
def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _money(minor: int) -> str:
    """Minor units as decimal text, two places (the terminals' currencies all have two)."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
