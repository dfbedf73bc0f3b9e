"""IC card TC uploads (IC卡交易TC值上送) owed to the acquirer: the card's TC of an approved chip transaction.

A TC owed is journaled in the same commit as the approval it belongs to (`owe`, called by the hot
path's `complete`), so it survives a crash from that moment.  Each try is journaled before it is sent
(`tc_upload_attempt`) and its answer after (`tc_upload_answered` / `tc_upload_failed`); after the
profile's number of tries a TC is left "undelivered" (shown in the status, never sent again by itself).
Nothing here touches the money of the transaction: a TC upload is evidence, not a charge.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from agent.journal.errors import JournalError
from agent.journal.scrub import scrub_text
from agent.journal.store import Store, Writer

#: where a TC upload stands: owed (sent until answered), answered, undelivered (its tries ran out)
TC_STATES = ("owed", "answered", "undelivered")


@dataclass(frozen=True)
class TcUpload:
    """One TC owed to (or delivered to) the acquirer."""

    id: int
    txn_id: int
    icc: bytes  # field 55 of the upload: the TC and the data it covers (never track or PAN data)
    card_sequence: str | None
    state: str
    tries: int
    last_error: str | None
    response_code: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "txn_id": self.txn_id, "state": self.state, "tries": self.tries,
                "last_error": self.last_error, "response_code": self.response_code}


def _upload(row: sqlite3.Row) -> TcUpload:
    return TcUpload(id=row["id"], txn_id=row["txn_id"], icc=bytes.fromhex(row["icc"]),
                    card_sequence=row["card_sequence"], state=row["state"], tries=row["tries"],
                    last_error=row["last_error"], response_code=row["response_code"])


class TcUploads(Store):
    """Rows of `tc_uploads`."""

    def owe(self, w: Writer, txn_id: int, icc: bytes, card_sequence: str | None) -> None:
        """Inside the approval's commit: its TC is owed to the acquirer."""
        if not isinstance(icc, (bytes, bytearray)) or not icc:
            raise JournalError("a TC upload needs the card's field 55", txn_id=txn_id)
        now = self._clock()
        w.insert("tc_uploads", {"txn_id": txn_id, "icc": bytes(icc).hex().upper(), "card_sequence": card_sequence,
                                "state": "owed", "tries": 0, "created_at": now, "updated_at": now})

    def _row(self, upload_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self._conn.execute("SELECT * FROM tc_uploads WHERE id = ?", (upload_id,)).fetchone()
        if row is None:
            raise JournalError(f"no TC upload {upload_id} in the journal")
        return row

    def tc_uploads_owed(self) -> list[TcUpload]:
        """TC uploads not yet answered whose tries have not run out, oldest first."""
        return [_upload(r) for r in self._conn.execute(
            "SELECT * FROM tc_uploads WHERE state = 'owed' ORDER BY id")]

    def tc_upload_of(self, txn_id: int) -> TcUpload | None:
        """The TC upload of one transaction, if it has one."""
        row = self._conn.execute("SELECT * FROM tc_uploads WHERE txn_id = ?", (txn_id,)).fetchone()
        return _upload(row) if row is not None else None

    def tc_upload_counts(self) -> dict[str, int]:
        """How many TC uploads wait (owed) and how many ran out of tries (undelivered)."""
        counts = dict(self._conn.execute(
            "SELECT state, count(*) FROM tc_uploads WHERE state != 'answered' GROUP BY state").fetchall())
        return {"owed": counts.get("owed", 0), "undelivered": counts.get("undelivered", 0)}

    def tc_upload_attempt(self, upload_id: int) -> TcUpload:
        """Commit BEFORE sending a TC upload: one more try."""
        with self._write(f"journal a try of TC upload {upload_id}") as w:
            row = self._row(upload_id)
            if row["state"] != "owed":
                raise JournalError(f"TC upload {upload_id} is {row['state']}, not owed: nothing to send")
            updated = w.update("tc_uploads", upload_id, {"tries": row["tries"] + 1, "updated_at": self._clock()})
            w.record("tc_upload.attempt", row["txn_id"], None, "system", {"upload": upload_id, "try": updated["tries"]})
        return _upload(updated)

    def tc_upload_answered(self, upload_id: int, *, response_code: str) -> TcUpload:
        """The acquirer took the TC (00): nothing more is owed."""
        with self._write(f"record the answer to TC upload {upload_id}") as w:
            row = self._row(upload_id)
            if row["state"] != "owed":
                raise JournalError(f"TC upload {upload_id} is {row['state']}, not owed")
            updated = w.update("tc_uploads", upload_id, {"state": "answered", "response_code": response_code,
                                                         "updated_at": self._clock()})
            w.record("tc_upload.answered", row["txn_id"], None, "system",
                     {"upload": upload_id, "response_code": response_code})
        return _upload(updated)

    def tc_upload_failed(self, upload_id: int, error: str, *, max_tries: int,
                         response_code: str | None = None) -> TcUpload:
        """A try got no answer, or a refusal: still owed, or "undelivered" once `max_tries` tries are spent."""
        if not isinstance(max_tries, int) or max_tries < 1:
            raise JournalError(f"max_tries must be a positive whole number, not {max_tries!r}")
        with self._write(f"record the failure of TC upload {upload_id}") as w:
            row = self._row(upload_id)
            if row["state"] != "owed":
                raise JournalError(f"TC upload {upload_id} is {row['state']}, not owed")
            to_state = "undelivered" if row["tries"] >= max_tries else "owed"
            error = scrub_text(error)[:200]
            updated = w.update("tc_uploads", upload_id, {"state": to_state, "last_error": error,
                                                         "response_code": response_code,
                                                         "updated_at": self._clock()})
            w.record("tc_upload.failed", row["txn_id"], None, "system",
                     {"upload": upload_id, "tries": row["tries"], "state": to_state, "error": error})
        return _upload(updated)
