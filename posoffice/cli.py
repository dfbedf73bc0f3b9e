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
    serve.add_argument("--tz", default=None, help="the time zone a sale's date is read in for /v1/refundable "
                                                  "and the web pages (default: this machine's)")
    serve.add_argument("--statements", metavar="DIR", default=None,
                       help="the statements directory the Reconcile page offers files from")
    serve.add_argument("--upload-limit", type=int, default=None, metavar="BYTES",
                       help="the largest statement the Reconcile page takes (default 16 MiB)")
    serve.add_argument("--api-only", action="store_true", help="serve the collector's API without the web pages")

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

    from agent.reconcile.formats import ENCODINGS, FORMATS
    rec = sub.add_parser("reconcile", parents=[common], help="a merchant's statement against every terminal's journal")
    rec.add_argument("file", metavar="FILE", help="the statement file the acquirer sent")
    rec.add_argument("--format", default=None, help=f"statement format: {', '.join(FORMATS)} (default posim)")
    rec.add_argument("--encoding", choices=ENCODINGS, help="file encoding (default: the format's)")
    rec.add_argument("--tz", default=None, help="the terminals' time zone, which dates settlements (default: "
                                                "this machine's)")
    rec.add_argument("--claim", metavar="DIR", help="write the claim letters (zh, en) and claim.json here "
                                                    "(private files: 0600, the directory 0700)")
    rec.add_argument("--force", action="store_true", help="replace the claim files of an earlier run in DIR")
    for name, default, what in (("debit-rate", "0.50", "fee on debit cards, percent"),
                                ("debit-cap", "20.00", 'most fee per debit charge ("": none)'),
                                ("credit-rate", "0.60", "fee on credit cards, percent"),
                                ("credit-cap", "", 'most fee per credit charge ("": none)'),
                                ("credit-bins", "625094", "card number prefixes of credit cards, comma-separated")):
        rec.add_argument(f"--{name}", default=default, help=f"{what} (default {default!r})")
    rec.add_argument("--json", action="store_true")

    user = sub.add_parser("user", help="manage the web pages' users")
    usub = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    uadd = usub.add_parser("add", parents=[common], help="add a user; the password is read from stdin (or asked)")
    uadd.add_argument("name", metavar="NAME")
    uadd.add_argument("--role", required=True, help="manager (reads everything), finance (also reconciles and "
                                                    "claims), admin (users and terminals)")
    ulist = usub.add_parser("list", parents=[common], help="the users, their roles and whether they are locked")
    ulist.add_argument("--json", action="store_true")
    unlock = usub.add_parser("unlock", parents=[common], help="lift a login lockout")
    unlock.add_argument("name", metavar="NAME")

    dup = sub.add_parser("duplicates", parents=[common],
                         help="the same card charged the same amount on two tills of a merchant within a window")
    dup.add_argument("--window", type=_seconds, default=300, metavar="SECONDS",
                     help="at most this many seconds apart (default 300)")
    dup.add_argument("--merchant", metavar="MID", help="only this merchant's terminals")
    dup.add_argument("--json", action="store_true")
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

    from posoffice.reconcile_run import zone_named

    dsn = db.resolve_dsn(getattr(args, "dsn", None))
    zone = zone_named(args.tz)
    with db.connect(dsn) as conn:
        db.migrate(conn)
    try:
        sock = socket.create_server((args.host, args.port), reuse_port=False)
    except OSError as exc:
        raise OfficeError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    # accepted connections inherit it: asyncio sets no TCP_NODELAY on a socket made with proto 0, and without it each
    # answer's body waits for the ACK of its headers (the client's delayed ACK: ~40 ms a keep-alive request)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pool = db.pool(dsn)
    host, port = sock.getsockname()[:2]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"posoffice: collecting on http://{host}:{port}/v1/events", flush=True)  # tests read this line
    web = None
    if not args.api_only:
        from pathlib import Path

        from posoffice.web.app import WebSettings
        from posoffice.web.forms import DEFAULT_UPLOAD_LIMIT
        web = WebSettings(zone, Path(args.statements) if args.statements else None,
                          args.upload_limit or DEFAULT_UPLOAD_LIMIT)
        print(f"posoffice: web pages on http://{host}:{port}/", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(pool, zone=zone, web=web), log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=5))
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


def cmd_reconcile(args) -> int:
    from posoffice.reconcile_run import reconcile_statement, render_report

    run = reconcile_statement(args, _connection)
    if args.json:
        _print_json(run.as_json())
    else:
        print(render_report(run), end="")
    return 0 if run.report.balanced else 1


def cmd_duplicates(args) -> int:
    from posoffice import report, store
    from posoffice.duplicates import find_duplicates

    with _connection(args) as conn:
        merchant_of = store.merchants_of_terminals(conn)
        if args.merchant is not None:
            merchant_of = {t: m for t, m in merchant_of.items() if m == args.merchant}
            if not merchant_of:
                raise OfficeError(f"no terminal of merchant {args.merchant} is registered")
        txns = report.transactions(store.transaction_events(conn, sorted(merchant_of)))
    found = find_duplicates(txns, merchant_of, window_s=args.window)
    fixed = [d for d in found if d.fixed(txns)]
    listed = [d for d in found if d not in fixed]
    if args.json:
        _print_json({"window_s": args.window, "key": "card (masked card; fingerprint where equal) + amount + window; "
                                                     "amount alone for events without a card",
                     "duplicates": [d.as_dict(txns) for d in listed],
                     "already_fixed": [d.as_dict(txns) for d in fixed]})
        return 0
    done = f"; {len(fixed)} more already fixed by a void or refund naming one of the charges" if fixed else ""
    if not listed:
        print(f"no charge on the same card for the same amount on two tills within {args.window:g} s{done}")
        return 0
    print(f"{len(listed)} suspected duplicate(s): the same card and amount on two tills within {args.window:g} s{done}")
    for n, d in enumerate(listed, 1):
        fix = d.fix(txns)
        card = {"masked card": f"card {d.second.card}", "fingerprint": f"card {d.second.card or ''} (fingerprint)",
                "amount": "card unknown (older events: check the receipts)"}[d.matched_by]
        print(f"{n:>3}. merchant {d.merchant_id}, {_money(d.first.amount)}, {card}: terminal {d.first.terminal} trace "
              f"{d.first.trace:06d} at {_time(d.first.made_at)}, then terminal {d.second.terminal} trace "
              f"{d.second.trace:06d} at {_time(d.second.made_at)} ({d.seconds_apart:.0f} s later)")
        action = (f"void trace {fix['trace']:06d} on terminal {fix['terminal']}" if fix["action"] == "void" else
                  f"refund {_money(fix['amount'])} against trace {fix['trace']:06d} on terminal {fix['terminal']}")
        print(f"     fix: {action} ({fix['why']})")
        if "already" in fix:
            print("     note: " + ", ".join(
                f"{a['kind']} of {_money(a['amount'])} on terminal {a['terminal']} (trace {a['trace']:06d})"
                + ("" if a["names_it"] else ", not naming which charge") for a in fix["already"]))
    return 0


def cmd_user(args) -> int:
    from posoffice import access
    with _connection(args) as conn:
        if args.action == "add":
            user = access.add_user(conn, args.name, args.role, _read_password(args.name))
            print(f"user {user.name} added with role {user.role}")
        elif args.action == "unlock":
            access.unlock(conn, args.name)
            print(f"user {args.name} unlocked")
        else:
            rows = access.users(conn)
            if args.json:
                _print_json(rows)
            elif not rows:
                print("no users (posoffice user add NAME --role manager)")
            else:
                _print_table([("USER", "ROLE", "LOCKED UNTIL")] + [(r["name"], r["role"], r["locked_until"] or "-")
                                                                   for r in rows])
    return 0


def _read_password(name: str) -> str:
    """From the terminal (asked twice, not echoed) or one line of stdin (a script, a pipe)."""
    if sys.stdin.isatty():
        import getpass
        first = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != first:
            raise OfficeError("the two passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline()
    if not line:
        raise OfficeError("no password on stdin: give it as one line (or run from a terminal to be asked)")
    return line.rstrip("\r\n")


COMMANDS = {"serve": cmd_serve, "user": cmd_user, "terminals": cmd_terminals, "terminal": cmd_terminal, "verify": cmd_verify,
            "day": cmd_day, "reconcile": cmd_reconcile, "duplicates": cmd_duplicates}


# ----------------------------------------------------------------------------- edges
def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 86400")
    return value


def _time(at: float) -> str:
    from datetime import datetime
    return datetime.fromtimestamp(at).isoformat(sep=" ", timespec="seconds")


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
