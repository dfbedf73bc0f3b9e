"""Sales stored offline (store-and-forward): what is stored, whether one more fits the merchant's limits,
and the stored sales the bank declined when they were forwarded.

A stored sale is an offline-approved sale whose advice the bank has not answered yet ("advice_pending");
the limits are counted inside the commit that stores the next one, so two sales cannot both take the last
place.
"""

from __future__ import annotations

import sqlite3
from typing import Any


from agent.journal.states import TxnState

_STORED = f"kind = 'sale' AND state = '{TxnState.ADVICE_PENDING}'"
#: a stored sale forwarded as an advice (0220, 0221 when repeated) and declined by the bank
_DECLINED = (f"t.kind = 'sale' AND t.state = '{TxnState.DECLINED}' "
             "AND json_extract(t.request, '$.mti') IN ('0220', '0221')")


def stored(conn: sqlite3.Connection) -> dict[str, Any]:
    count, amount, oldest = conn.execute(
        f"SELECT COUNT(*), COALESCE(SUM(amount), 0), MIN(created_at) FROM transactions WHERE {_STORED}").fetchone()
    return {"count": count, "amount": amount, "oldest": oldest}


def offline_refusal(conn: sqlite3.Connection, amount: int, limits: Any, now: float) -> str | None:
    """The first limit a sale of `amount` would break, or None; the oldest stored sale's age counts too."""
    if amount > limits.max_amount:
        return "max_amount"
    held = stored(conn)
    if held["oldest"] is not None and now - held["oldest"] >= limits.max_age_seconds:
        return "max_age"
    if held["count"] + 1 > limits.max_count:
        return "max_count"
    if held["amount"] + amount > limits.max_total:
        return "max_total"
    return None


def declined_select(txn_select: str) -> str:
    return txn_select + f" WHERE {_DECLINED} ORDER BY t.id DESC"
