"""`posoffice declined` and `posoffice manual`: the sales stored offline that the store must act on — those the
bank declined when they were forwarded, and those never sent to the bank (their sealed card does not open) —
with whether the terminal's supervisor has acknowledged or handled each (`posoffice.offline`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from posoffice.edges import connection, money, print_json, print_table, when
from posoffice.errors import OfficeError

if TYPE_CHECKING:
    import psycopg


def _terminals_asked(conn: psycopg.Connection, args: argparse.Namespace) -> list[str]:
    """The registered terminals `--merchant` and `--terminal` name (every one without them); one line if none."""
    from posoffice import store
    merchant_of = store.merchants_of_terminals(conn)
    if args.terminal is not None and args.terminal not in merchant_of:
        raise OfficeError(f"no terminal {args.terminal} is registered")
    ours = sorted(t for t, m in merchant_of.items() if (args.merchant is None or m == args.merchant)
                  and (args.terminal is None or t == args.terminal))
    if not ours:
        raise OfficeError(f"no terminal of merchant {args.merchant} is registered" if args.merchant else
                          "no terminals registered (posoffice terminal add TID --merchant MID)")
    return ours


def cmd_declined(args: argparse.Namespace) -> int:
    from posoffice import lookups, offline, report

    with connection(args) as conn:
        read = lookups.offline_declined(conn, _terminals_asked(conn, args))
    found = offline.declined(report.transactions(read["events"]), read["declined_at"], read["seen"])
    new = [d for d in found if d.seen is None]
    listed = new if args.new else found
    if args.json:
        print_json({"declined": [d.as_dict() for d in listed], "count": len(found), "not_acknowledged": len(new)})
        return 0
    if not listed:
        print("no sale stored offline was declined by the bank when forwarded" + (
            f" that is not yet acknowledged ({len(found)} acknowledged)" if found else ""))
        return 0
    print(f"{len(listed)} sale(s) stored offline declined by the bank when forwarded ({len(new)} not yet acknowledged "
          "on the terminal):")
    table = [("TERMINAL", "SOLD AT", "TRACE", "CARD", "AMOUNT", "BANK'S ANSWER", "ACKNOWLEDGED")]
    for d in listed:
        t = d.txn
        seen = "no" if d.seen is None else f"{d.seen.operator or d.seen.role or '?'} at {when(d.seen.at)}"
        table.append((t.terminal, when(t.made_at), f"{t.trace:06d}", t.card or "-", money(t.amount),
                      f"{t.response_code or '-'} {d.meaning()}", seen))
    print_table(table)
    print("Each was approved offline by the card and stored; the bank refused it when it was forwarded: the money "
          "was not collected and the merchant bears it — contact the customer for another payment. A supervisor "
          "acknowledges it on the terminal: `posagent offline declined --acknowledge`.")
    return 0


def cmd_manual(args: argparse.Namespace) -> int:
    from posoffice import lookups, offline, report

    with connection(args) as conn:
        read = lookups.offline_never_sent(conn, _terminals_asked(conn, args))
    found = offline.never_sent(report.transactions(read["events"]), read["manual"])
    new = [n for n in found if n.seen is None]
    listed = new if args.new else found
    if args.json:
        print_json({"never_sent": [n.as_dict() for n in listed], "count": len(found), "not_handled": len(new)})
        return 0
    if not listed:
        print("no sale stored offline was set aside as never sent to the bank" + (
            f" that is not yet handled ({len(found)} handled)" if found else ""))
        return 0
    print(f"{len(listed)} sale(s) stored offline never sent to the bank ({len(new)} not yet marked handled on the "
          "terminal):")
    table = [("TERMINAL", "ID", "SOLD AT", "TRACE", "CARD", "AMOUNT", "REASON", "HANDLED")]
    for n in listed:
        t = n.txn
        handled = "no" if n.seen is None else (f"{n.seen.operator or n.seen.role or '?'} at {when(n.seen.at)}"
                                               + (f": {n.seen.note}" if n.seen.note else ""))
        table.append((t.terminal, str(t.txn_id), when(t.made_at), f"{t.trace:06d}", t.card or "-", money(t.amount),
                      n.reason or "unknown", handled))
    print_table(table)
    print("Each was approved offline by the card and stored, but its sealed card does not open, so the bank was never "
          "told and will not pay for it: call the acquirer with the receipt (trace, amount, card) to have it booked, "
          "or ask the customer for another payment; then a supervisor marks it handled on that terminal: "
          "`posagent offline manual --handled ID --note ...`.")
    return 0
