"""`posoffice`: the back office's command line — a thin layer over `store`, `report` and the collector.

Tables for people, `--json` for programs.  Exit status: 0 done; 1 `verify` found a problem; 2 bad input,
configuration or an unreachable database (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from typing import Sequence, TypedDict

from posoffice.arguments import build_parser
from posoffice.cli_offline import cmd_declined, cmd_manual
from posoffice.edges import connection, money, print_json, print_table, when
from posoffice.errors import OfficeError


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


# ----------------------------------------------------------------------------- commands
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from posoffice import db
    from posoffice.collector import create_app

    from posoffice.reconcile_run import zone_named

    dsn = db.resolve_dsn(getattr(args, "dsn", None))
    zone = zone_named(args.tz)
    tls = _tls_files(args.tls_cert, args.tls_key)
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
    scheme = "https" if tls else "http"
    print(f"posoffice: collecting on {scheme}://{host}:{port}/v1/events", flush=True)  # tests read this line
    web = None
    if not args.api_only:
        from pathlib import Path

        from posoffice.web.app import WebSettings
        from posoffice.web.forms import DEFAULT_UPLOAD_LIMIT
        web = WebSettings(zone, Path(args.statements) if args.statements else None,
                          args.upload_limit or DEFAULT_UPLOAD_LIMIT)
        print(f"posoffice: web pages on {scheme}://{host}:{port}/", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(pool, zone=zone, web=web), log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=5, **tls))
    server.run(sockets=[sock])
    return 0


class TlsFiles(TypedDict, total=False):
    """uvicorn.Config's TLS settings (none: plain HTTP)."""

    ssl_certfile: str
    ssl_keyfile: str


def _tls_files(cert: str | None, key: str | None) -> TlsFiles:
    """uvicorn's TLS settings for --tls-cert/--tls-key, loaded once here (agent.tls, as the terminals' side) so
    a bad file is one line before the collector listens."""
    if not cert:
        if key:
            raise OfficeError("--tls-key needs --tls-cert (the certificate the collector serves)")
        return {}
    import ssl

    from agent.tls import reason, server_ssl_context
    try:
        server_ssl_context(cert, key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        what = f"--tls-cert {cert}" + (f" with --tls-key {key}" if key else "")
        raise OfficeError(f"{what}: expected a PEM certificate and its unencrypted private key ({reason(exc)})") \
            from None
    files: TlsFiles = {"ssl_certfile": cert}
    if key:
        files["ssl_keyfile"] = key
    return files


def cmd_terminals(args: argparse.Namespace) -> int:
    from posoffice import store
    with connection(args) as conn:
        rows = store.terminals(conn)
    if args.json:
        print_json(rows)
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
    print_table(table)
    for r in rows:
        if r["secret"] == "revoked":
            print(f"{r['terminal']}: revoked (every login refused; rotate gives it a new secret)")
        elif r["old_secret_until"]:
            print(f"{r['terminal']}: secret rotated; the old one is accepted until the new one's first use or "
                  f"{r['old_secret_until']}")
        if r["retired_through"]:
            print(f"{r['terminal']}: events 1..{r['retired_through']} removed by retention (the chain's anchor)")
    return 0


def cmd_terminal(args: argparse.Namespace) -> int:
    from posoffice import store
    if args.action == "revoke":
        with connection(args) as conn:
            store.revoke(conn, args.terminal)
        print(f"terminal {args.terminal}: every login refused from now on (its events stay; its journal keeps "
              f"what it has not shipped); `posoffice terminal rotate {args.terminal}` gives it a new secret")
        return 0
    if args.action == "rotate":
        with connection(args) as conn:
            rotated = store.rotate_secret(conn, args.terminal, args.grace * 3600)
        print(f"terminal {args.terminal}: new secret")
        print(f"secret: {rotated.secret}")
        print("(shown once: put it in the terminal's [office] secret_file now; the daemon reads the file again by "
              "itself; the office keeps only its hash)")
        if rotated.old_valid_until is None:
            print("the old secret is refused from now on: the terminal ships nothing until it has the new one "
                  "(its events wait in its journal)")
        else:
            print(f"the old secret is accepted until the terminal first logs in with the new one, or until "
                  f"{rotated.old_valid_until.isoformat(timespec='seconds')} at the latest")
        return 0
    with connection(args) as conn:
        secret = store.add_terminal(conn, args.terminal, args.merchant)
    print(f"terminal {args.terminal} registered for merchant {args.merchant}")
    print(f"secret: {secret}")
    print("(shown once: configure it on the terminal now; the office keeps only its hash)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from posoffice import rewalk
    with connection(args) as conn:
        result = rewalk.verify(conn, args.terminal)
    if args.json:
        print_json(result)
    elif result["ok"]:
        retired = f" (walked from the retention anchors: {result['retired']} older events removed)" \
            if result["retired"] else ""
        print(f"ok: {result['events']} events of {result['terminals']} terminal(s) re-hashed, every chain intact"
              f"{retired}")
    else:
        for p in result["problems"]:
            print(f"{p['terminal']} event {p['seq']}: {p['what']}")
        print(f"{len(result['problems'])} problem(s) in {result['events']} events of {result['terminals']} "
              "terminal(s)")
    return 0 if result["ok"] else 1


def cmd_retention(args: argparse.Namespace) -> int:
    from posoffice import retention
    from posoffice.reconcile_run import zone_named

    from pathlib import Path

    zone = zone_named(args.tz)
    cutoff = retention.cutoff_of(args.days)
    if args.archive and not args.apply:
        raise OfficeError("--archive goes with --apply (a dry run removes nothing, so it archives nothing)")
    with connection(args) as conn:
        plans = retention.plan(conn, args.days, zone, cutoff=cutoff)
        if args.apply:
            plans = retention.apply(conn, plans, args.days, cutoff,
                                    archive=Path(args.archive) if args.archive else None)
    total = sum(p.count for p in plans)
    if args.json:
        archived = [str(Path(args.archive) / retention.archive_name(p)) for p in plans if p.count] \
            if args.archive else []
        print_json({"days": args.days, "cutoff": cutoff.isoformat(timespec="seconds"), "applied": args.apply,
                     "events": total, "terminals": [p.as_dict() for p in plans], "archived": archived})
        return 0
    verb = "removed" if args.apply else "would remove"
    print(f"retention: events made before {cutoff.isoformat(sep=' ', timespec='seconds')} ({args.days} days), "
          "of settled batches a reconciliation run covered")
    for p in plans:
        what = f"{verb} events {p.first}..{p.through} ({p.count})" if p.count else (
            "nothing removed" if args.apply else "nothing to remove")
        kept = "" if p.kept_from is None else f"; kept from event {p.kept_from}"
        print(f"  {p.terminal}: {what}{kept}: {p.why}")
    if args.apply:
        print(f"{total} event(s) removed; each chain keeps its anchor (posoffice verify walks from it)")
        for p in plans:
            if args.archive and p.count:
                print(f"archived in {Path(args.archive) / retention.archive_name(p)}")
    else:
        print(f"dry run: {total} event(s) would be removed; --apply removes them")
    return 0


def cmd_day(args: argparse.Namespace) -> int:
    from posoffice import report, store
    with connection(args) as conn:
        totals = {t.terminal: t for t in report.day_totals(store.day_events(conn, args.day, args.tz))}
        everyone = [r["terminal"] for r in store.terminals(conn)]
    days = [totals.get(t) or report.TerminalDay(t) for t in sorted(set(everyone) | set(totals))]
    if args.json:
        print_json({"day": args.day.isoformat(), "tz": args.tz, "terminals": [d.as_json() for d in days]})
        return 0
    table: list[tuple[str, ...]] = [("TERMINAL", "SALES", "REFUNDS", "VOIDS", "NET")]
    for d in days:
        table.append((d.terminal, *(f"{line.count} / {money(line.amount)}" for line in (d.sales, d.refunds, d.voids)),
                      money(d.net)))
    print(f"{args.day.isoformat()} ({args.tz}), count / amount:")
    print_table(table)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from posoffice.reconcile_run import reconcile_statement, render_report

    run = reconcile_statement(args, connection)
    if args.json:
        print_json(run.as_json())
    else:
        print(render_report(run), end="")
    return 0 if run.report.balanced else 1


def cmd_duplicates(args: argparse.Namespace) -> int:
    from posoffice import report, store
    from posoffice.duplicates import find_duplicates

    with connection(args) as conn:
        merchant_of = store.merchants_of_terminals(conn)
        if args.merchant is not None:
            merchant_of = {t: m for t, m in merchant_of.items() if m == args.merchant}
            if not merchant_of:
                raise OfficeError(f"no terminal of merchant {args.merchant} is registered")
        txns = report.transactions_of_rows(store.transaction_rows(conn, sorted(merchant_of)))
    found = find_duplicates(txns, merchant_of, window_s=args.window)
    fixed = [d for d in found if d.fixed(txns)]
    listed = [d for d in found if d not in fixed]
    if args.json:
        print_json({"window_s": args.window, "key": "card (masked card; fingerprint where equal) + amount + window; "
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
        print(f"{n:>3}. merchant {d.merchant_id}, {money(d.first.amount)}, {card}: terminal {d.first.terminal} trace "
              f"{d.first.trace:06d} at {when(d.first.made_at)}, then terminal {d.second.terminal} trace "
              f"{d.second.trace:06d} at {when(d.second.made_at)} ({d.seconds_apart:.0f} s later)")
        action = (f"void trace {fix['trace']:06d} on terminal {fix['terminal']}" if fix["action"] == "void" else
                  f"refund {money(fix['amount'])} against trace {fix['trace']:06d} on terminal {fix['terminal']}")
        print(f"     fix: {action} ({fix['why']})")
        if "already" in fix:
            print("     note: " + ", ".join(
                f"{a['kind']} of {money(a['amount'])} on terminal {a['terminal']} (trace {a['trace']:06d})"
                + ("" if a["names_it"] else ", not naming which charge") for a in fix["already"]))
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    from posoffice import access
    with connection(args) as conn:
        if args.action == "add":
            user = access.add_user(conn, args.name, args.role, _read_password(args.name))
            print(f"user {user.name} added with role {user.role}")
        elif args.action == "unlock":
            access.unlock(conn, args.name)
            print(f"user {args.name} unlocked")
        else:
            rows = access.users(conn)
            if args.json:
                print_json(rows)
            elif not rows:
                print("no users (posoffice user add NAME --role manager)")
            else:
                print_table([("USER", "ROLE", "LOCKED UNTIL")] + [(r["name"], r["role"], r["locked_until"] or "-")
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


COMMANDS = {"retention": cmd_retention, "serve": cmd_serve, "user": cmd_user,
            "terminals": cmd_terminals, "terminal": cmd_terminal, "verify": cmd_verify,
            "day": cmd_day, "reconcile": cmd_reconcile, "duplicates": cmd_duplicates, "declined": cmd_declined,
            "manual": cmd_manual}
