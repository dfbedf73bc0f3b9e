"""The acquirer's settlement statement: what it credited a merchant for one settlement date.

Read from the ledger (its own read connection: the statement never writes the ledger's tables): every
approved, unreversed sale, void, refund, pre-auth completion and completion void (pre-auths
and their voids hold funds and are never settled; a wallet payment is a sale) in the batches the merchant's terminals settled that day,
each with the fee at the contracted rate (`agent.reconcile.fees`, the same rule the merchant's
contract states), the net, and the day's credit.  A settlement date is the host's calendar day of the
settlement (0500) request.  Statement faults (`statement_faults.py`) are applied on top.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Mapping

from agent.errors import UsageError
from agent.reconcile.fees import DEBIT_KINDS, FeeContract
from agent.reconcile.statement import Statement, StatementLine
from simulator.testcards import TestCard

MERCHANT_NAME = "posim 模拟商户"


def connect_read(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"no ledger at {path} (start `posim host --db {path}` first)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def settled_rows(conn: sqlite3.Connection, date: str, merchant: str | None = None) -> tuple[str, list[sqlite3.Row]]:
    """(merchant, rows) of the financial rows in batches settled on `date` (YYYYMMDD)."""
    day = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    # a void or completion may come without a card number: it is the card of what it voids or completes
    # (a completion void: of the completion's pre-auth, two links up)
    query = ("SELECT t.*, COALESCE(t.masked_pan, o.masked_pan, p.masked_pan) AS card_no, "
             "COALESCE(t.card, o.card, p.card) AS card_name, "
             "s.settled_at FROM txns t JOIN settlements s ON s.tid = t.tid AND s.batch = t.batch "
             "LEFT JOIN txns o ON o.id = t.orig_id LEFT JOIN txns p ON p.id = o.orig_id WHERE substr(s.settled_at, 1, 10) = ? AND t.response_code = '00' AND t.kind IN ('sale', 'void', 'refund', 'completion', 'completion_void')")
    rows = conn.execute(query + " ORDER BY t.id", (day,)).fetchall()
    merchants = sorted({r["mid"] or "" for r in rows})
    if merchant is None:
        if len(merchants) > 1:
            raise UsageError(f"several merchants settled on {date} ({', '.join(merchants)}): pass --merchant")
        if not merchants:
            raise UsageError(f"no batch was settled on {date}: pass --merchant to write an empty statement")
        merchant = merchants[0]
    return merchant, [r for r in rows if (r["mid"] or "") == merchant]


def statement_line(row: sqlite3.Row, date: str, card_type: str, contract: FeeContract, *,
                   amount: int | None = None) -> StatementLine:
    kind = row["kind"]
    signed = amount if amount is not None else (row["amount"] if kind in DEBIT_KINDS else -row["amount"])
    fee = contract.line_fee(kind, card_type, signed)
    made = dt.datetime.fromisoformat(row["created_at"])
    return StatementLine(settlement_date=date, txn_date=made.strftime("%Y%m%d"), txn_time=made.strftime("%H%M%S"),
                         terminal_id=row["tid"], batch_no=int(row["batch"]), trace_no=int(row["stan"]),
                         rrn=row["rrn"], auth_code=row["auth_code"] or "", card_no=row["card_no"] or "",
                         card_type=card_type, txn_type=kind, amount=signed, fee=fee, net=signed - fee)


def build_statement(ledger_path: str | Path, date: str, cards: Mapping[str, TestCard], contract: FeeContract, *,
                    merchant: str | None = None) -> tuple[Statement, list[sqlite3.Row]]:
    """The clean statement of `date` and the ledger rows it could not include (reversed sales)."""
    check_date(date)
    conn = connect_read(ledger_path)
    try:
        merchant, rows = settled_rows(conn, date, merchant)
    finally:
        conn.close()

    def card_type(row: sqlite3.Row) -> str:
        card = cards.get(row["card_name"] or "")
        return card.card_type if card else "debit"

    lines, reversed_rows = [], []
    for row in rows:
        if row["reversed_at"] is not None:
            reversed_rows.append(row)
            continue
        lines.append(statement_line(row, date, card_type(row), contract))
    statement = Statement(merchant_id=merchant, merchant_name=MERCHANT_NAME, settlement_date=date, currency="CNY",
                          lines=tuple(lines), credit=sum(x.net for x in lines))
    return statement, reversed_rows


def check_date(date: str) -> str:
    try:
        dt.datetime.strptime(date, "%Y%m%d")
    except (TypeError, ValueError):
        raise UsageError(f"--date must be a date YYYYMMDD, got {date!r}") from None
    if len(date) != 8:
        raise UsageError(f"--date must be a date YYYYMMDD, got {date!r}")
    return date
