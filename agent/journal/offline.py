"""Sales stored offline (store-and-forward): what is stored, whether one more fits the merchant's limits,
and the stored sales the bank declined when they were forwarded — each shown to the merchant until a
supervisor acknowledges it (an `offline.declined_seen` event on the transaction, found by a partial index).

A stored sale whose advice cannot be built — its sealed card does not open (the key was replaced, the sealed
copy damaged) — is "advice_needs_manual": the bank was never told and never will be by this terminal, so it
no longer holds back other messages, is not counted as stored money, and waits for a supervisor to mark it
handled (`NEEDS_MANUAL` says why, `HANDLED` who and what was done; both in the hash chain).

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


#: an advice still owed: a sale stored offline or an offline completion (the engine's `pending_advices`)
_OWED = f"kind IN ('sale', 'completion') AND state = '{TxnState.ADVICE_PENDING}'"
#: an advice try the bank answered without processing it (a not-processed code: nothing was booked)
NOT_BOOKED = "not_booked"


def owed_in(conn: sqlite3.Connection, batch_id: int) -> list[dict[str, Any]]:
    """The advices a batch still owes, oldest first: id, trace, amount, `last_error` (why its last try failed,
    or None) and `maybe_booked` — a try went out that the bank did not answer with a not-processed code, so it
    may already have booked the sale in this batch (such a sale can only be forwarded, never moved)."""
    rows = conn.execute(f"SELECT id, trace, amount FROM transactions WHERE batch_id = ? AND {_OWED} ORDER BY id",
                        (batch_id,)).fetchall()
    ids = [r[0] for r in rows]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    tries = dict(conn.execute(f"SELECT txn_id, count(*) FROM messages WHERE direction = 'sent' AND reversal_id IS "
                              f"NULL AND txn_id IN ({marks}) GROUP BY txn_id", ids).fetchall())
    refused = dict(conn.execute(f"SELECT txn_id, count(*) FROM events WHERE kind = 'advice.failed' AND "
                                f"json_extract(details, '$.details.{NOT_BOOKED}') = 1 AND txn_id IN ({marks}) GROUP BY txn_id",
                                ids).fetchall())
    errors = dict(conn.execute(f"SELECT txn_id, json_extract(details, '$.details.error') FROM events WHERE id IN "
                               f"(SELECT max(id) FROM events WHERE kind = 'advice.failed' AND txn_id IN ({marks}) "
                               "GROUP BY txn_id)", ids).fetchall())
    return [{"id": r[0], "trace": r[1], "amount": r[2], "last_error": errors.get(r[0]),
             "maybe_booked": tries.get(r[0], 0) > refused.get(r[0], 0)} for r in rows]


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


#: the events of a stored sale whose advice cannot be built, and of a supervisor marking it handled
NEEDS_MANUAL = "advice.needs_manual"
HANDLED = "advice.handled"


def needs_manual_select(txn_select: str) -> str:
    """Stored sales needing manual handling, oldest first, each with why (`reason`) and since when (`since`)."""
    why = (f"(SELECT {{}} FROM events e WHERE e.txn_id = t.id AND e.kind = '{NEEDS_MANUAL}' "
           "ORDER BY e.id DESC LIMIT 1)")
    return (txn_select.replace("SELECT t.*", "SELECT t.*, " + why.format("json_extract(e.details, '$.error')")
                               + " AS reason, " + why.format("e.at") + " AS since", 1)
            + f" WHERE t.kind = 'sale' AND t.state = '{TxnState.ADVICE_NEEDS_MANUAL}' ORDER BY t.id")


def needs_manual_total(conn: sqlite3.Connection, batch_id: int | None = None) -> tuple[int, int]:
    """How many stored sales need manual handling and their amount (of one batch, or all)."""
    where = "" if batch_id is None else " AND batch_id = ?"
    count, amount = conn.execute(f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM transactions WHERE kind = 'sale' "
                                 f"AND state = '{TxnState.ADVICE_NEEDS_MANUAL}'{where}",
                                 () if batch_id is None else (batch_id,)).fetchone()
    return count, amount


#: the event that says a supervisor saw a declined-after-forwarding sale (the keypad's banner ends)
SEEN = "offline.declined_seen"
_UNSEEN = f"NOT EXISTS (SELECT 1 FROM events e WHERE e.txn_id = t.id AND e.kind = '{SEEN}')"


def create_index(db: Any) -> None:
    db.execute(f"CREATE INDEX idx_events_offline_seen ON events(txn_id) WHERE kind = '{SEEN}'")


def declined_select(txn_select: str, *, unseen_only: bool = False) -> str:
    unseen = f" AND {_UNSEEN}" if unseen_only else ""
    return txn_select + f" WHERE {_DECLINED}{unseen} ORDER BY t.id DESC"


def seen_ids(conn: sqlite3.Connection, txn_ids: list[int]) -> set[int]:
    """Which of `txn_ids` a supervisor has acknowledged."""
    marks = ", ".join("?" * len(txn_ids))
    return {r[0] for r in conn.execute(f"SELECT txn_id FROM events WHERE kind = '{SEEN}' AND txn_id IN ({marks})",
                                       txn_ids)} if txn_ids else set()
