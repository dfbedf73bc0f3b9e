"""`posim host statement --date YYYYMMDD --out FILE`: write the acquirer's statement for one day.

    posim host statement --db host.db --date 20261203 --out stmt.csv
    posim host statement --db host.db --date 20261203 --out stmt.txt --format unionpay-gbk
    posim host statement ... --debit-rate 0.50 --debit-cap 20.00 --credit-rate 0.60 --credit-cap ""

The statement faults in the ledger file (`posim host fault add statement_...`) are applied; the one
line printed says what was written and, per fault, which line it changed and the finding it causes.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from agent.errors import UsageError
from agent.reconcile.fees import FeeContract
from agent.reconcile.formats import ENCODINGS, FORMATS, check_encoding, get_format

if TYPE_CHECKING:
    from agent.reconcile.statement import StatementLine
    from simulator.testcards import TestCard


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser], default_db: str) -> None:
    p = actions.add_parser("statement", help="write the settlement statement of one day (CSV or a bank's layout)")
    p.add_argument("--db", default=default_db, help=f"ledger SQLite file (default {default_db})")
    p.add_argument("--date", required=True, help="settlement date, YYYYMMDD")
    p.add_argument("--out", required=True, metavar="FILE", help="the statement file to write")
    p.add_argument("--format", default="posim", help=f"statement format: {', '.join(FORMATS)} (default posim)")
    p.add_argument("--encoding", choices=ENCODINGS, help="file encoding (default: the format's)")
    p.add_argument("--merchant", metavar="MID", help="merchant id: the lines of every terminal of this merchant, "
                                                     "one credit (default: the one merchant settled that day)")
    p.add_argument("--cards", help="test cards TOML (card types; default: the packaged cards)")
    p.add_argument("--debit-rate", default="0.50", metavar="PERCENT", help="fee on debit cards (default 0.50)")
    p.add_argument("--debit-cap", default="20.00", metavar="AMOUNT", help='most fee per debit sale ("": none)')
    p.add_argument("--credit-rate", default="0.60", metavar="PERCENT", help="fee on credit cards (default 0.60)")
    p.add_argument("--credit-cap", default="", metavar="AMOUNT", help='most fee per credit sale (default "": none)')
    p.set_defaults(handler=_statement)


def write_statement(db: str | Path, date: str, out: str | Path, *, fmt_name: str = "posim",
                    encoding: str | None = None, merchant: str | None = None,
                    cards: Mapping[str, TestCard] | None = None, contract: FeeContract | None = None) -> dict[str, Any]:
    """Write the statement (faults applied); returns the summary the command prints."""
    from agent.reconcile.fees import DEFAULT_CONTRACT
    from agent.reconcile.render import render_statement
    from simulator.host.statement import build_statement, statement_line
    from simulator.host.statement_faults import StatementFaultStore, apply_faults
    from simulator.testcards import load_cards

    fmt = get_format(fmt_name)
    encoding = check_encoding(encoding, fmt)
    contract = contract or DEFAULT_CONTRACT
    cards = cards if cards is not None else load_cards()
    statement, reversed_rows = build_statement(db, date, cards, contract, merchant=merchant)

    def make_line(row: sqlite3.Row) -> StatementLine:
        card = cards.get(row["card_name"] or "")
        return statement_line(row, date, card.card_type if card else "debit", contract)

    statement, applied = apply_faults(statement, StatementFaultStore(db).rules(), reversed_rows,
                                      make_line=make_line, contract=contract)
    data = render_statement(statement, fmt, encoding=encoding)
    out = Path(out)
    try:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as exc:
        raise UsageError(f"cannot write the statement {out}: {exc.strerror}") from None
    return {"statement": str(out), "format": fmt.name, "encoding": encoding, "date": date,
            "merchant": statement.merchant_id, "lines": len(statement.lines), "credit": statement.credit,
            "terminals": {tid: sum(1 for x in statement.lines if x.terminal_id == tid)
                          for tid in sorted({x.terminal_id for x in statement.lines})},
            "faults_applied": applied}


def _statement(args: argparse.Namespace) -> int:
    from simulator.host.statement import check_date
    from simulator.testcards import load_cards

    try:
        contract = FeeContract.from_text(args.debit_rate, args.debit_cap, args.credit_rate, args.credit_cap)
    except ValueError as exc:
        raise UsageError(f"fee contract: {exc}") from None
    summary = write_statement(Path(os.path.expanduser(args.db)), check_date(args.date), args.out,
                              fmt_name=args.format, encoding=args.encoding, merchant=args.merchant,
                              cards=load_cards(args.cards), contract=contract)
    print(json.dumps(summary, ensure_ascii=False))
    return 0
