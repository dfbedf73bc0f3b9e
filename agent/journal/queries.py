"""What the operations ask the journal: find, refundable amount, duplicates, purchases, recovery, verify."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Iterable

from agent.journal.duplicates import CHARGING_KINDS, COUNTING_STATES, earlier_charges, group_duplicates
from agent.journal.errors import JournalError, NotFound
from agent.journal.hashchain import verify_chain
from agent.journal.records import (Recovery, Txn, VerifyResult, batch_from_row, reversal_from_row,
                                   txn_from_row)
from agent.journal.settlement import Batches
from agent.journal.states import CHARGED_SQL, KINDS, UNRESOLVED_SQL, BatchState, ReversalState, TxnState, sql_in
from agent.journal.store import Core, Store
from agent.journal.transactions import TXN_SELECT, Transactions
MAX_FIND = 1000
#: how many links back a transaction without a card of its own looks for one (refund → completion → pre-auth)
MAX_CARD_LINKS = 4
#: the ids of the transactions whose card as `cards_shown` gives it ends in the 4 digits bound first: those with
#: that card, and the voids and refunds (no card of their own) at most the second bound links below one
_SHOWN_WITH_LAST4 = (
    "WITH RECURSIVE shown(id, links) AS ("
    " SELECT id, 0 FROM transactions WHERE substr(pan_masked, -4) = ?"
    " UNION SELECT x.id, shown.links + 1 FROM transactions x JOIN shown ON x.original_id = shown.id"
    "  WHERE x.pan_masked IS NULL AND shown.links < ?)"
    " SELECT id FROM shown")
#: how far back `suspected_duplicates` looks unless told otherwise
DUPLICATE_LOOKBACK_SECONDS = 30 * 86400


class Queries(Store):
    """Read-only questions, each one indexed query."""

    def __init__(self, core: Core, *, txns: Transactions, batches: Batches):
        super().__init__(core)
        self._txns = txns
        self._batches = batches

    def get(self, txn_id: int) -> Txn:
        """One transaction; JournalError when there is none with that id."""
        return txn_from_row(self._txns.row(txn_id))

    def find(self, *, trace: int | None = None, rrn: str | None = None, date: str | dt.date | None = None,
             amount: int | None = None, last4: str | None = None, batch: int | None = None,
             kind: str | None = None, limit: int = 50) -> list[Txn]:
        """Transactions matching every given criterion, newest first.  `date` is a local calendar day;
        `kind` one of the journal's kinds (sale, correction, refund, void, preauth, ...)."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_FIND:
            raise JournalError(f"limit must be from 1 to {MAX_FIND}, not {limit!r}")
        where: list[str] = []
        args: list[object] = []
        if trace is not None:
            where.append("t.trace = ?"); args.append(int(trace))
        if rrn is not None:
            where.append("t.rrn = ?"); args.append(rrn)
        if amount is not None:
            where.append("t.amount = ?"); args.append(int(amount))
        if batch is not None:
            where.append("t.batch = ?"); args.append(int(batch))
        if kind is not None:
            if kind not in KINDS:
                raise JournalError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
            where.append("t.kind = ?"); args.append(kind)
        if last4 is not None:
            if not re.fullmatch(r"[0-9]{4}", str(last4)):
                raise JournalError(f"last 4 digits must be 4 digits, not {last4!r}")
            # the card a row shows (`cards_shown`): its own, or for a void or refund its nearest original's
            where.append(f"t.id IN ({_SHOWN_WITH_LAST4})"); args += [str(last4), MAX_CARD_LINKS]
        if date is not None:
            start, end = _local_day(date)
            where.append("t.created_at >= ? AND t.created_at < ?"); args += [start, end]
        sql = TXN_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t.id DESC LIMIT ?"
        return [txn_from_row(r) for r in self._conn.execute(sql, (*args, limit))]

    def find_request(self, client_request_id: str) -> Txn | None:
        """The transaction journaled for a client request id, if any (for idempotent retries)."""
        row = self._conn.execute(TXN_SELECT + " WHERE t.client_request_id = ?", (client_request_id,)).fetchone()
        return None if row is None else txn_from_row(row)

    def last_transaction(self) -> Txn | None:
        """The newest transaction (for a receipt reprint), or None on an empty journal."""
        row = self._conn.execute(TXN_SELECT + " ORDER BY t.id DESC LIMIT 1").fetchone()
        return None if row is None else txn_from_row(row)

    def batch_size(self, batch_no: int) -> int:
        """How many transactions the newest batch with this number holds (any state)."""
        return int(self._conn.execute("SELECT count(*) FROM transactions WHERE batch_id = ?",
                                      (self._batches.batch_row(batch_no)["id"],)).fetchone()[0])

    def uploaded_count(self, batch_no: int) -> int:
        """How many records of the batch are flagged uploaded (field 48 of the batch-upload end)."""
        return int(self._conn.execute("SELECT count(*) FROM transactions WHERE batch_id = ? AND uploaded = 1",
                                      (self._batches.batch_row(batch_no)["id"],)).fetchone()[0])

    def recent_sale_amounts(self, *, limit: int = 50) -> list[int]:
        """Amounts of the latest approved sales, newest first (for the unusual-amount guard)."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_FIND:
            raise JournalError(f"limit must be from 1 to {MAX_FIND}, not {limit!r}")
        return [r[0] for r in self._conn.execute(
            "SELECT amount FROM transactions WHERE kind IN ('sale', 'correction') AND state IN "
            f"{CHARGED_SQL} ORDER BY id DESC LIMIT ?", (limit,))]

    def recent_refunds(self, original_id: int, *, window_seconds: float) -> list[Txn]:
        """Refunds of `original_id` journaled in the last `window_seconds`, oldest first (repeat guard)."""
        since = self._clock() - window_seconds
        return [txn_from_row(r) for r in self._conn.execute(
            TXN_SELECT + " WHERE t.original_id = ? AND t.kind = 'refund' AND t.created_at >= ? ORDER BY t.id",
            (original_id, since))]

    def net_charged(self) -> dict[str, int]:
        """What each card stands charged according to the journal, per masked PAN (minor units): completed
        sales and corrections not voided or reversed, minus approved refunds.  The bank's ledger must
        say the same — the chaos checker, the demo and the end-to-end tests compare the two."""
        rows = self._conn.execute(
            "SELECT pan, SUM(amount) AS net FROM ("
            " SELECT pan_masked AS pan, amount FROM transactions WHERE kind IN ('sale', 'correction', 'completion')"
            f"  AND state IN {CHARGED_SQL}"
            " UNION ALL"
            " SELECT o.pan_masked, -r.amount FROM transactions r JOIN transactions o ON o.id = r.original_id"
            f"  WHERE r.kind = 'refund' AND r.state = '{TxnState.APPROVED}')"
            " GROUP BY pan HAVING net != 0").fetchall()
        return {row["pan"]: int(row["net"]) for row in rows}

    def corrections_of(self, original_id: int) -> list[Txn]:
        """The sales earlier fixes charged for the same purchase (kind "correction" linked to `original_id`:
        a difference collected, a void's re-sale), oldest first, in any state."""
        return [txn_from_row(r) for r in self._conn.execute(
            TXN_SELECT + " WHERE t.original_id = ? AND t.kind = 'correction' ORDER BY t.id", (original_id,))]

    def refundable_amount(self, sale_id: int) -> int:
        """Original amount minus approved refunds minus refunds still under way (sending / in doubt)."""
        return self._txns.refundable(self._txns.row(sale_id))

    def duplicates_of(self, fingerprint: str, amount: int, *, window_seconds: float,
                      kinds: tuple[str, ...] = CHARGING_KINDS) -> list[Txn]:
        """Sales (or `kinds`) a new one of `amount` on this card would be a suspected duplicate of (journal/duplicates.py)."""
        now = self._clock()
        rows = self._conn.execute(
            TXN_SELECT + " WHERE t.pan_fingerprint = ? AND t.created_at >= ? AND t.amount = ? ORDER BY t.id",
            (fingerprint, now - window_seconds, amount)).fetchall()
        return earlier_charges(map(txn_from_row, rows), fingerprint=fingerprint, amount=amount, at=now,
                               window_seconds=window_seconds, kinds=kinds)

    def suspected_duplicates(self, *, window_seconds: float, lookback_seconds: float = DUPLICATE_LOOKBACK_SECONDS,
                             kinds: tuple[str, ...] = CHARGING_KINDS) -> list[list[Txn]]:
        """Groups of suspected duplicate charges, or holds with `kinds` (journal/duplicates.py holds the rule)."""
        since = self._clock() - lookback_seconds
        states = sql_in(COUNTING_STATES)[1:-1]
        rows = self._conn.execute(
            TXN_SELECT + f" WHERE t.created_at >= ? AND t.pan_fingerprint IS NOT NULL AND "
            f"t.kind IN ({', '.join('?' * len(kinds))}) AND t.state IN ({states})", (since, *kinds)).fetchall()
        return group_duplicates(map(txn_from_row, rows), window_seconds, kinds)

    def purchase(self, txn_id: int) -> list[Txn]:
        """The purchase of any of its transactions: the original and everything linked to it (voids, refunds,
        corrections), oldest first."""
        root = self._txns.row(txn_id)
        seen = {root["id"]}
        while True:  # climb to the first transaction of the purchase
            parent = root["original_id"] or root["purchase_id"]
            if parent is None or parent in seen:
                break
            row = self._conn.execute(TXN_SELECT + " WHERE t.id = ?", (parent,)).fetchone()
            if row is None:  # pruned
                break
            seen.add(parent)
            root = row
        found = {root["id"]: root}
        frontier = [root["id"]]
        while frontier:
            marks = ", ".join("?" * len(frontier))
            children = self._conn.execute(
                TXN_SELECT + f" WHERE t.original_id IN ({marks}) OR t.purchase_id IN ({marks})",
                (*frontier, *frontier)).fetchall()
            frontier = [r["id"] for r in children if r["id"] not in found]
            found.update((r["id"], r) for r in children)
        return [txn_from_row(found[i]) for i in sorted(found)]

    def cards_shown(self, txns: Iterable[Txn]) -> dict[int, str | None]:
        """The masked card to show for each transaction, by id: its own, or — for a void or refund, which
        carries none and names its original instead — the nearest original's (None when none is left)."""
        shown: dict[int, str | None] = {}
        links: dict[int, tuple[str | None, int | None] | None] = {}  # id -> (card, original), read once
        for txn in txns:
            card, original = txn.pan_masked, txn.original_id
            for _ in range(MAX_CARD_LINKS):
                if card is not None or original is None:
                    break
                if original not in links:
                    row = self._conn.execute("SELECT pan_masked, original_id FROM transactions WHERE id = ?",
                                             (original,)).fetchone()
                    links[original] = None if row is None else (row[0], row[1])  # None: pruned
                link = links[original]
                if link is None:
                    break
                card, original = link
            shown[txn.id] = card
        return shown

    def messages(self, txn_id: int) -> list[dict[str, Any]]:
        """The masked messages of a transaction: its request, its answer, then reversal and later ones.  Each one's
        `message_id` is its row in `messages` (0 for the transaction's own request and answer), which with the
        transaction and the direction names it for good (the back office stores each once by them)."""
        row = self._conn.execute("SELECT created_at, updated_at, request, response FROM transactions WHERE id = ?",
                                 (txn_id,)).fetchone()
        if row is None:
            raise NotFound(f"no transaction {txn_id} in the journal", txn_id=txn_id)
        out = []
        if row["request"] is not None:
            out.append({"txn_id": txn_id, "message_id": 0, "direction": "sent", "at": row["created_at"],
                        "reversal_id": None, "body": json.loads(row["request"])})
        if row["response"] is not None:
            out.append({"txn_id": txn_id, "message_id": 0, "direction": "received", "at": row["updated_at"],
                        "reversal_id": None, "body": json.loads(row["response"])})
        out += [{"txn_id": txn_id, "message_id": r["id"], "direction": r["direction"], "at": r["at"],
                 "reversal_id": r["reversal_id"], "body": json.loads(r["body"])}
                for r in self._conn.execute("SELECT * FROM messages WHERE txn_id = ? ORDER BY id", (txn_id,))]
        return out

    def original_reference(self, txn_id: int) -> dict[str, Any]:
        """How a refund of another till's sale names it on its `txn.begin` ({} for any other transaction): the
        sale's RRN and date, and what the back office said of it (`original_card`, `original_trace`,
        `original_terminal`) when it was asked."""
        # newest first: events.txn_id has no index, and a receipt is mostly asked for just after its refund
        row = self._conn.execute("SELECT details FROM events WHERE txn_id = ? AND kind = 'txn.begin' ORDER BY id "
                                 "DESC LIMIT 1", (txn_id,)).fetchone()
        details = json.loads(row[0]) if row is not None else {}
        names = ("original_rrn", "original_date", "original_card", "original_trace", "original_terminal")
        return {name: details[name] for name in names if details.get(name) is not None}

    def in_doubt(self) -> Recovery:
        """What is unresolved after a start: unanswered requests, pending reversals, a settlement underway."""
        txns = [txn_from_row(r) for r in self._conn.execute(
            TXN_SELECT + f" WHERE t.state IN {UNRESOLVED_SQL} ORDER BY t.id")]
        revs = [reversal_from_row(r) for r in self._conn.execute(
            f"SELECT * FROM reversals WHERE state IN {sql_in((ReversalState.PENDING, ReversalState.NEEDS_MANUAL))} "
            "ORDER BY id")]
        settling = self._conn.execute(f"SELECT * FROM batches WHERE state = '{BatchState.SETTLING}'").fetchone()
        return Recovery(
            unanswered=tuple(t for t in txns if t.state == TxnState.SENDING),
            in_doubt=tuple(t for t in txns if t.state == TxnState.IN_DOUBT),
            pending_reversals=tuple(r for r in revs if r.state == ReversalState.PENDING),
            needs_manual=tuple(r for r in revs if r.state == ReversalState.NEEDS_MANUAL),
            settling=batch_from_row(settling) if settling else None)

    def verify(self) -> VerifyResult:
        """SQLite's integrity check, then the hash chain and every row it vouches for."""
        problems = [r[0] for r in self._conn.execute("PRAGMA integrity_check")]
        events = self._conn.execute("SELECT count(*) FROM events").fetchone()[0]
        if problems != ["ok"]:
            return VerifyResult(False, events, None, "SQLite integrity check failed: " + "; ".join(problems[:3]))
        count, broken, why = verify_chain(self._conn)
        return VerifyResult(why is None, count, broken, why)


def _local_day(date: str | dt.date) -> tuple[float, float]:
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise JournalError(f"date must be YYYY-MM-DD, not {date!r}") from None
    start = dt.datetime.combine(date, dt.time()).astimezone()
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time()).astimezone()
    return start.timestamp(), end.timestamp()
