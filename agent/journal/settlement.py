"""Batches and settlement: open -> settling (totals frozen) -> settled, resumable at every step."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Mapping

from agent.journal import offline
from agent.journal.errors import JournalError, NotFound
from agent.journal.paytotals import PaymentTotals, payment_totals
from agent.journal.records import Batch, Totals, Txn, batch_from_row, txn_from_row
from agent.journal.states import BATCH, CHARGED_STATES, QUEUED_REVERSALS_SQL, UNRESOLVED_SQL, BatchState
from agent.journal.store import Core, Store, Writer
from agent.journal.transactions import TXN_SELECT, Transactions

MAX_BATCH = 999_999
#: transaction states that count in the settlement totals (voided and reversed ones do not)
COUNTED_STATES = CHARGED_STATES
#: entry modes read from a chip (contact 05x, contactless 07x): "IC records" for batch upload
IC_ENTRY_PREFIXES = ("05", "07")


class Batches(Store):
    """The `batches` table: the open batch, host-assigned batch numbers, totals and settlement steps."""

    def __init__(self, core: Core, txns: Transactions):
        super().__init__(core)
        self._txns = txns

    def create_first(self, w: Writer) -> sqlite3.Row:
        """A new journal's batch 000001, open."""
        return w.insert("batches", {"number": 1, "state": BATCH.initial, "opened_at": self._clock()})

    def open_batch_ids(self, cache: dict[str, Any]) -> sqlite3.Row:
        """(id, number) of the open batch; a clear error while a settlement holds it."""
        batch: sqlite3.Row | None = cache.get("open_batch")
        if batch is None:
            batch = self._conn.execute(f"SELECT id, number FROM batches WHERE state = '{BatchState.OPEN}'").fetchone()
            if batch is None:
                live = self._conn.execute(
                    f"SELECT number FROM batches WHERE state = '{BatchState.SETTLING}'").fetchone()
                raise JournalError(f"batch {live[0]:06d} is being settled: finish the settlement before new "
                                   "transactions" if live else "no open batch")
            cache["open_batch"] = batch
        return batch

    def open_batch(self) -> Batch:
        """The current batch: the open one, or the one being settled while a settlement is unfinished."""
        row = self._conn.execute(f"SELECT * FROM batches WHERE state != '{BatchState.SETTLED}' ORDER BY id DESC "
                                 "LIMIT 1").fetchone()
        if row is None:
            raise JournalError("the journal has no open batch")
        return batch_from_row(row)

    def get_batch(self, batch_no: int) -> Batch:
        """The newest batch with this number."""
        return batch_from_row(self.batch_row(batch_no))

    def batch_row(self, batch_no: int) -> sqlite3.Row:
        _check_batch_no(batch_no)
        row: sqlite3.Row | None = self._conn.execute("SELECT * FROM batches WHERE number = ? ORDER BY id DESC LIMIT 1",
                                                     (batch_no,)).fetchone()
        if row is None:
            raise NotFound(f"no batch {batch_no:06d} in the journal")
        return row

    def set_batch_number(self, number: int, *, operator: str = "system", role: str = "system") -> Batch:
        """Adopt the batch number the host assigned at sign-on (only while the open batch is empty)."""
        _check_batch_no(number)
        with self._write(f"set the batch number to {number:06d}") as w:
            row = self._conn.execute(f"SELECT * FROM batches WHERE state = '{BatchState.OPEN}'").fetchone()
            if row is None:
                raise JournalError("no open batch: finish the settlement first")
            if row["number"] == number:
                return batch_from_row(row)
            used = self._conn.execute("SELECT count(*) FROM transactions WHERE batch_id = ?", (row["id"],)).fetchone()[0]
            if used:
                raise JournalError(f"batch {row['number']:06d} already holds {used} transaction(s); its number "
                                   f"cannot change to {number:06d} before it is settled")
            updated = w.update("batches", row["id"], {"number": number})
            w.record("batch.number", None, operator, role, {"from": row["number"], "to": number})
        return batch_from_row(updated)

    def batch_totals(self, batch_no: int) -> Totals:
        """Debit (sales, corrections) and credit (refunds) totals of a batch, as field 48 counts them."""
        return self._totals(self.batch_row(batch_no)["id"])

    def _totals(self, batch_id: int) -> Totals:
        sums = {"debit": [0, 0], "credit": [0, 0]}
        marks = ", ".join("?" * len(COUNTED_STATES))
        for kind, count, amount in self._conn.execute(
                f"SELECT kind, count(*), coalesce(sum(amount), 0) FROM transactions WHERE batch_id = ? "
                f"AND kind IN ('sale', 'correction', 'completion', 'refund') AND state IN ({marks}) GROUP BY kind",
                (batch_id, *COUNTED_STATES)):
            side = sums["credit" if kind == "refund" else "debit"]
            side[0] += amount
            side[1] += count
        return Totals(debit_amount=sums["debit"][0], debit_count=sums["debit"][1],
                      credit_amount=sums["credit"][0], credit_count=sums["credit"][1])

    def payment_totals(self, batch_no: int, *, wallet_entry_mode: str) -> PaymentTotals:
        """The batch's totals per payment type (card, payment code); together they are `batch_totals`."""
        return payment_totals(self._conn, self.batch_row(batch_no)["id"], COUNTED_STATES, wallet_entry_mode)

    def stored_owed(self, batch_no: int) -> list[dict[str, Any]]:
        """The advices the batch still owes (sales stored offline, offline completions): id, trace, amount and
        `maybe_booked` (a try went out without a not-processed answer: it can only be forwarded)."""
        return offline.owed_in(self._conn, self.batch_row(batch_no)["id"])

    def moved_out(self, batch_no: int) -> dict[str, Any] | None:
        """What the supervisor moved out of the batch when settling it (`begin_settlement(move_stored=True)`):
        the batch they went to, their count and amount, and [id, trace, amount] each; None when nothing."""
        row = self._conn.execute(
            "SELECT json_extract(details, '$.moved') FROM events WHERE kind = 'settlement.begin' AND "
            "json_extract(details, '$.batch') = ? AND json_extract(details, '$.moved') IS NOT NULL ORDER BY id DESC "
            "LIMIT 1", (batch_no,)).fetchone()
        return json.loads(row[0]) if row is not None else None

    def begin_settlement(self, batch_no: int, *, move_stored: bool = False, operator: str = "system",
                         role: str = "system") -> Batch:
        """Freeze the batch's totals (open -> settling).  Already settling: returned as it is (resume).

        Refused while a transaction of the batch has no outcome or any reversal is still pending: those
        are resolved first, so no transaction is counted in two batches or in none.

        `move_stored` (the supervisor confirmed): the advices the batch still owes — sales stored offline the
        bank could not take now — move to the next batch, opened now, in the same commit, whose event names
        them; they are forwarded later with that batch's number and settled with it.  Refused when one of
        them may already be booked by the bank in this batch (sent without an answer saying otherwise).
        """
        with self._write(f"begin settling batch {batch_no:06d}") as w:
            row = self.batch_row(batch_no)
            if row["state"] == BatchState.SETTLING:
                return batch_from_row(row)
            moved = self._move_owed(w, row) if move_stored else None
            unresolved = self._conn.execute(
                f"SELECT count(*) FROM transactions WHERE batch_id = ? AND state IN {UNRESOLVED_SQL}",
                (row["id"],)).fetchone()[0]
            reversals = self._conn.execute(
                f"SELECT count(*) FROM reversals WHERE state IN {QUEUED_REVERSALS_SQL}").fetchone()[0]
            if unresolved or reversals:
                raise JournalError(f"batch {batch_no:06d} cannot be settled yet: {unresolved} transaction(s) without "
                                   f"an outcome and {reversals} reversal(s) still to send; resolve them first")
            settling = BATCH.step(row["state"], "begin_settlement", batch_no)
            totals = self._totals(row["id"])
            updated = w.update("batches", row["id"], {"state": settling, "settling_at": self._clock(),
                                                      "totals": json.dumps(totals.as_dict(), sort_keys=True)})
            w.record("settlement.begin", None, operator, role, {"batch": batch_no, "totals": totals.as_dict(),
                                                                **({"moved": moved} if moved else {})})
        return batch_from_row(updated)

    def _move_owed(self, w: Writer, row: sqlite3.Row) -> dict[str, Any] | None:
        """Open the next batch and move the advices `row`'s batch owes into it; what moved, or None."""
        owed = offline.owed_in(self._conn, row["id"])
        if not owed:
            return None
        sent = [f"{o['trace']:06d}" for o in owed if o["maybe_booked"]]
        if sent:
            raise JournalError(f"batch {row['number']:06d}: the advice of trace {', '.join(sent)} went to the bank "
                               "without an answer, so the bank may have booked it in this batch; it cannot move to "
                               "the next batch — settle once it is forwarded")
        following = row["number"] % MAX_BATCH + 1
        target = w.insert("batches", {"number": following, "state": BATCH.initial, "opened_at": self._clock()})
        for item in owed:
            w.update("transactions", item["id"], {"batch_id": target["id"], "batch": following})
        return {"to": following, "count": len(owed), "amount": sum(o["amount"] for o in owed),
                "txns": [[o["id"], o["trace"], o["amount"]] for o in owed]}

    def record_settlement_result(self, batch_no: int, *, domestic: str, foreign: str, response: Mapping[str, Any]) -> Batch:
        """Store the host's verdict: '1' balanced, '2' unbalanced (upload every record), '3' error."""
        for name, value in (("domestic", domestic), ("foreign", foreign)):
            if value not in ("1", "2", "3"):
                raise JournalError(f"settlement result ({name}) must be '1', '2' or '3', not {value!r}")
        with self._write(f"record the settlement result of batch {batch_no:06d}") as w:
            row = self.batch_row(batch_no)
            if row["state"] != BatchState.SETTLING:
                raise JournalError(f"batch {batch_no:06d} is {row['state']}, not being settled")
            updated = w.update("batches", row["id"], {"result_domestic": domestic, "result_foreign": foreign})
            self._txns.store_message(w, "received", response, txn_id=None)
            w.record("settlement.result", None, None, "system",
                     {"batch": batch_no, "domestic": domestic, "foreign": foreign})
        return batch_from_row(updated)

    def upload_pending(self, batch_no: int, *, ic_only: bool) -> list[Txn]:
        """Counted records of the batch not yet uploaded (only chip ones when `ic_only`), oldest first."""
        row = self.batch_row(batch_no)
        marks = ", ".join("?" * len(COUNTED_STATES))
        rows = self._conn.execute(
            TXN_SELECT + " "
            f"WHERE t.batch_id = ? AND t.kind IN ('sale', 'correction', 'completion', 'refund') AND t.state IN ({marks}) "
            f"AND t.uploaded = 0 ORDER BY t.id", (row["id"], *COUNTED_STATES)).fetchall()
        txns = [txn_from_row(r) for r in rows]
        if ic_only:
            txns = [t for t in txns if (t.entry_mode or "").startswith(IC_ENTRY_PREFIXES)]
        return txns

    def mark_uploaded(self, txn_id: int) -> None:
        """Flag one record as uploaded, so an interrupted batch upload resumes where it stopped."""
        with self._write(f"mark transaction {txn_id} uploaded") as w:
            row = self._txns.row(txn_id)
            if row["batch_state"] != BatchState.SETTLING:
                raise JournalError(f"transaction {txn_id} is in batch {row['batch']:06d}, which is "
                                   f"{row['batch_state']}, not being settled", txn_id=txn_id)
            if not row["uploaded"]:
                w.update("transactions", txn_id, {"uploaded": 1})
                w.record("settlement.uploaded", txn_id, None, "system", {})

    def finish_settlement(self, batch_no: int, *, operator: str = "system", role: str = "system") -> Batch:
        """settling -> settled, and open the next batch (999999 wraps to 1).  Already settled: no-op."""
        with self._write(f"finish settling batch {batch_no:06d}") as w:
            row = self.batch_row(batch_no)
            if row["state"] == BatchState.SETTLED:
                return batch_from_row(row)
            settled = BATCH.step(row["state"], "finish_settlement", batch_no)
            now = self._clock()
            updated = w.update("batches", row["id"], {"state": settled, "settled_at": now})
            following = batch_no % MAX_BATCH + 1
            opened = self._conn.execute(f"SELECT number FROM batches WHERE state = '{BatchState.OPEN}'").fetchone()
            if opened is not None:  # opened when the batch's stored sales moved into it (begin_settlement)
                following = opened[0]
            else:
                w.insert("batches", {"number": following, "state": BATCH.initial, "opened_at": now})
            w.record("settlement.finish", None, operator, role, {"batch": batch_no, "next": following})
        return batch_from_row(updated)


def _check_batch_no(number: int) -> None:
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_BATCH:
        raise JournalError(f"batch number must be from 1 to {MAX_BATCH}, not {number!r}")
