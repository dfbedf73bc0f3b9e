"""The acquirer's own ledger: what the bank believes, in an SQLite file of its own.

Every approved or declined financial request is one row of `txns`; voids and refunds point at their
original; a reversal marks its original `reversed_at` (once: the `reversals` table keeps one row per
original, so a repeated reversal never moves money twice).  Money moved is derived from the rows
(a card's net charge = its approved, unreversed, unvoided sales − its approved, unreversed refunds) and
also kept as running balances (`balances.py`) updated in the same transaction as the row, so every
per-message read is one indexed lookup however long the ledger grows.

Every public method is one transaction of its own — or, inside `group()`, a savepoint of the group's
transaction: the server runs the messages that arrive together in one group and answers them only
after its single commit (group commit).

The ledger keeps no full PAN: cards are known by their test-card name and a masked PAN.  Terminal
working keys are kept only encrypted under the terminal's master key, as they were sent.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from simulator.host import balances

SCHEMA = """
CREATE TABLE IF NOT EXISTS terminals (
    tid TEXT PRIMARY KEY, mid TEXT, current_batch TEXT NOT NULL,
    key_mode TEXT, keys_under_tmk BLOB, signed_on_at TEXT);
CREATE TABLE IF NOT EXISTS txns (
    id INTEGER PRIMARY KEY, tid TEXT NOT NULL, mid TEXT, batch TEXT NOT NULL, stan TEXT NOT NULL,
    mti TEXT NOT NULL, kind TEXT NOT NULL, card TEXT, masked_pan TEXT, amount INTEGER NOT NULL,
    rrn TEXT, auth_code TEXT, local_date TEXT, response_code TEXT NOT NULL, icc INTEGER NOT NULL,
    orig_id INTEGER REFERENCES txns(id), reversed_at TEXT, created_at TEXT NOT NULL,
    UNIQUE (tid, batch, stan));
CREATE INDEX IF NOT EXISTS txns_rrn ON txns(rrn);
CREATE INDEX IF NOT EXISTS txns_orig ON txns(orig_id);
CREATE INDEX IF NOT EXISTS txns_card_kind ON txns(card, kind);  -- what a card holds (open pre-auths)
CREATE TABLE IF NOT EXISTS reversals (
    tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, reason TEXT, txn_id INTEGER,
    received_at TEXT NOT NULL, PRIMARY KEY (tid, batch, stan));
CREATE TABLE IF NOT EXISTS settlements (
    tid TEXT NOT NULL, batch TEXT NOT NULL, terminal_totals TEXT NOT NULL, host_totals TEXT NOT NULL,
    balanced INTEGER NOT NULL, settled_at TEXT NOT NULL, PRIMARY KEY (tid, batch));
CREATE TABLE IF NOT EXISTS uploads (
    tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (tid, batch, stan));
CREATE TABLE IF NOT EXISTS tc_uploads (
    tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, txn_id INTEGER REFERENCES txns(id),
    cryptogram TEXT, response_code TEXT NOT NULL, copies INTEGER NOT NULL, received_at TEXT NOT NULL,
    last_at TEXT NOT NULL, PRIMARY KEY (tid, batch, stan));
CREATE TABLE IF NOT EXISTS upload_ends (
    tid TEXT NOT NULL, batch TEXT NOT NULL, count INTEGER NOT NULL, uploaded INTEGER NOT NULL,
    received_at TEXT NOT NULL);
"""

# a row that counts as money moved: approved, not reversed
_LIVE = "t.response_code = '00' AND t.reversed_at IS NULL"
# a completion (of a pre-auth) is a charge like a sale; holds are kept apart (simulator/host/holds.py)
_VOIDED = ("EXISTS (SELECT 1 FROM txns v WHERE v.orig_id = t.id AND v.kind IN ('void', 'completion_void') "
           "AND v.response_code = '00' AND v.reversed_at IS NULL)")
_NET = (f"SUM(CASE WHEN t.kind IN ('sale', 'completion') AND NOT {_VOIDED} THEN t.amount "
        f"WHEN t.kind = 'refund' THEN -t.amount ELSE 0 END)")

# one statement per new row: its id is the next after the largest, its RRN and (approved) auth code come
# from the id — `f"{id % 10**12:012d}"` and `f"{id * 7919 % 10**6:06d}"`
_INSERT_TXN = (
    "INSERT INTO txns (id, tid, mid, batch, stan, mti, kind, card, masked_pan, amount, rrn, auth_code, local_date, "
    "response_code, icc, orig_id, created_at) "
    "SELECT n, ?, ?, ?, ?, ?, ?, ?, ?, ?, printf('%012d', n % 1000000000000), "
    "CASE WHEN ? = '00' THEN printf('%06d', n * 7919 % 1000000) END, ?, ?, ?, ?, ? "
    "FROM (SELECT COALESCE(MAX(id), 0) + 1 AS n FROM txns) RETURNING id, rrn, auth_code")
_TRACE_STATE = ("SELECT EXISTS (SELECT 1 FROM txns WHERE tid = ? AND batch = ? AND stan = ?), "
                "EXISTS (SELECT 1 FROM settlements WHERE tid = ? AND batch = ?)")


@dataclass(frozen=True)
class Txn:
    id: int
    tid: str
    batch: str
    stan: str
    kind: str
    card: str | None
    amount: int
    rrn: str  # every row booked has one (approved or declined)
    auth_code: str | None
    local_date: str | None
    response_code: str
    orig_id: int | None
    reversed: bool


@dataclass(frozen=True)
class BatchTotals:
    """Approved, unreversed totals of one batch: debits are unvoided sales, credits are refunds."""

    debit_amount: int
    debit_count: int
    credit_amount: int
    credit_count: int


#: `synchronous` settings offered: "normal" survives a crash of the host process (the WAL is in the
#: page cache), "full" also a power cut (one fsync of the WAL per commit, so per group)
SYNC_MODES = ("normal", "full")


class Ledger:
    """One writer connection; every public method is one transaction (committed before it returns),
    or a savepoint of the open `group()`."""

    def __init__(self, path: str | Path = ":memory:", *, sync: str = "normal"):
        if sync not in SYNC_MODES:
            raise ValueError(f"ledger sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={sync.upper()}")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA + balances.SCHEMA)
        with self._tx():
            if self.db.execute("SELECT 1 FROM balances LIMIT 1").fetchone() is None and \
                    self.db.execute("SELECT 1 FROM txns WHERE response_code = '00' LIMIT 1").fetchone():
                balances.rebuild(self.db)  # a ledger written before running balances existed

    def close(self) -> None:
        self.db.close()

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; inside an open group, part of the group's (its `step()` undoes a failure)."""
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def group(self) -> Iterator[None]:
        """One transaction for several messages, committed (durably, as `sync` says) on leaving;
        rolled back, and the error raised, if the body or the commit fails."""
        if self.db.in_transaction:
            raise RuntimeError("a ledger group is already open")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    @contextmanager
    def step(self) -> Iterator[None]:
        """A savepoint inside the open group: one message's writes, undone alone if it fails."""
        if not self.db.in_transaction:
            raise RuntimeError("a ledger step needs an open group")
        self.db.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO step")
            self.db.execute("RELEASE step")
            raise
        self.db.execute("RELEASE step")

    def write(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        with self._tx() as db:
            return db.execute(sql, params)

    # -- terminals -----------------------------------------------------------------------------
    def current_batch(self, tid: str) -> str:
        row = self.db.execute("SELECT current_batch FROM terminals WHERE tid = ?", (tid,)).fetchone()
        return row["current_batch"] if row else "000001"

    def record_signon(self, tid: str, mid: str, key_mode: str, keys_under_tmk: bytes, now: str) -> str:
        batch = self.current_batch(tid)
        self.write(
            "INSERT INTO terminals (tid, mid, current_batch, key_mode, keys_under_tmk, signed_on_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(tid) DO UPDATE SET mid = excluded.mid, "
            "key_mode = excluded.key_mode, keys_under_tmk = excluded.keys_under_tmk, "
            "signed_on_at = excluded.signed_on_at",
            (tid, mid, batch, key_mode, keys_under_tmk, now))
        return batch

    def record_signoff(self, tid: str) -> None:
        self.write("UPDATE terminals SET keys_under_tmk = NULL WHERE tid = ?", (tid,))

    def stored_keys(self, tid: str) -> tuple[str, bytes] | None:
        row = self.db.execute("SELECT key_mode, keys_under_tmk FROM terminals WHERE tid = ?", (tid,)).fetchone()
        if row is None or row["keys_under_tmk"] is None:
            return None
        return row["key_mode"], bytes(row["keys_under_tmk"])

    # -- financial rows ------------------------------------------------------------------------
    def trace_state(self, tid: str, batch: str, stan: str) -> tuple[bool, bool]:
        """(this trace number already has a row in the batch, the batch is settled) — one read."""
        row = self.db.execute(_TRACE_STATE, (tid, batch, stan, tid, batch)).fetchone()
        return bool(row[0]), bool(row[1])

    def stan_used(self, tid: str, batch: str, stan: str) -> bool:
        return self.db.execute("SELECT 1 FROM txns WHERE tid = ? AND batch = ? AND stan = ?",
                                (tid, batch, stan)).fetchone() is not None

    def record_txn(self, *, tid: str, mid: str, batch: str, stan: str, mti: str, kind: str, card: str | None,
                   masked_pan: str | None, amount: int, local_date: str, response_code: str, icc: bool,
                   orig_id: int | None, now: str) -> Txn:
        """Insert one request's outcome (and its running balances); approved rows get an RRN and auth
        code from their row id."""
        with self._tx() as db:
            row_id, rrn, auth = db.execute(_INSERT_TXN, (tid, mid, batch, stan, mti, kind, card, masked_pan, amount,
                                                         response_code, local_date, response_code, int(icc),
                                                         orig_id, now)).fetchall()[0]
            txn = Txn(id=row_id, tid=tid, batch=batch, stan=stan, kind=kind, card=card, amount=amount, rrn=rrn,
                      auth_code=auth, local_date=local_date, response_code=response_code, orig_id=orig_id,
                      reversed=False)
            balances.on_recorded(db, {"id": row_id, "tid": tid, "card": card, "kind": kind, "amount": amount,
                                      "response_code": response_code, "orig_id": orig_id})
        return txn

    def txn(self, txn_id: int) -> Txn | None:
        row = self.db.execute("SELECT * FROM txns WHERE id = ?", (txn_id,)).fetchone()
        return _txn(row) if row else None

    def find_by_trace(self, tid: str, batch: str, stan: str) -> Txn | None:
        row = self.db.execute("SELECT * FROM txns WHERE tid = ? AND batch = ? AND stan = ?",
                               (tid, batch, stan)).fetchone()
        return _txn(row) if row else None

    def find_by_rrn(self, rrn: str) -> Txn | None:
        row = self.db.execute("SELECT * FROM txns WHERE rrn = ? AND kind IN ('sale', 'completion')",
                               (rrn,)).fetchone()
        return _txn(row) if row else None

    def is_voided(self, txn_id: int) -> bool:
        return self.db.execute(
            "SELECT 1 FROM txns WHERE orig_id = ? AND kind IN ('void', 'completion_void') AND response_code = '00' "
            "AND reversed_at IS NULL", (txn_id,)).fetchone() is not None

    def refunded_amount(self, txn_id: int) -> int:
        row = self.db.execute(
            "SELECT COALESCE(SUM(amount), 0) AS total FROM txns WHERE orig_id = ? AND kind = 'refund' "
            "AND response_code = '00' AND reversed_at IS NULL", (txn_id,)).fetchone()
        return int(row["total"])

    def read(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """A read-only query, for the ledger's companions (holds)."""
        return self.db.execute(sql, params).fetchall()

    def card_net_charged(self, card: str) -> int:
        return self.balance("card", card).net_charged

    def balance(self, scope: str, key: str) -> balances.Balance:
        """The running balance of one card or terminal (scope "card" or "terminal")."""
        row = self.db.execute("SELECT charged, refunded, held FROM balances WHERE scope = ? AND key = ?",
                               (scope, key)).fetchone()
        return balances.Balance(*row) if row else balances.Balance()

    def verify_balances(self) -> list[str]:
        """Running balances against a full recomputation from the rows: one line per difference."""
        return balances.verify(self.db)

    # -- reversals -----------------------------------------------------------------------------
    def record_reversal(self, *, tid: str, batch: str, stan: str, reason: str, now: str) -> tuple[bool, Txn | None]:
        """Reverse the original once. Returns (first time?, the original if the host knows it)."""
        with self._tx() as db:
            seen = db.execute("SELECT 1 FROM reversals WHERE tid = ? AND batch = ? AND stan = ?",
                              (tid, batch, stan)).fetchone()
            original = db.execute("SELECT * FROM txns WHERE tid = ? AND batch = ? AND stan = ?",
                                  (tid, batch, stan)).fetchone()
            if seen is None:
                db.execute(
                    "INSERT INTO reversals (tid, batch, stan, reason, txn_id, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (tid, batch, stan, reason, original["id"] if original else None, now))
                if original is not None and original["reversed_at"] is None:
                    balances.on_reversing(db, original)
                    db.execute("UPDATE txns SET reversed_at = ? WHERE id = ?", (now, original["id"]))
        return seen is None, (_txn(original) if original else None)

    def reversal_count(self, tid: str, batch: str, stan: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM reversals WHERE tid = ? AND batch = ? AND stan = ?",
                                    (tid, batch, stan)).fetchone()[0])

    # -- settlement and batch upload -----------------------------------------------------------
    def batch_totals(self, tid: str, batch: str) -> BatchTotals:
        row = self.db.execute(
            f"SELECT COALESCE(SUM(CASE WHEN t.kind IN ('sale', 'completion') AND NOT {_VOIDED} THEN t.amount END), 0) AS da, "
            f"COUNT(CASE WHEN t.kind IN ('sale', 'completion') AND NOT {_VOIDED} THEN 1 END) AS dc, "
            f"COALESCE(SUM(CASE WHEN t.kind = 'refund' THEN t.amount END), 0) AS ca, "
            f"COUNT(CASE WHEN t.kind = 'refund' THEN 1 END) AS cc "
            f"FROM txns t WHERE t.tid = ? AND t.batch = ? AND {_LIVE}", (tid, batch)).fetchone()
        return BatchTotals(int(row["da"]), int(row["dc"]), int(row["ca"]), int(row["cc"]))

    def settlement(self, tid: str, batch: str) -> sqlite3.Row | None:
        rows = self.read("SELECT * FROM settlements WHERE tid = ? AND batch = ?", (tid, batch))
        return rows[0] if rows else None

    def is_settled(self, tid: str, batch: str) -> bool:
        return self.settlement(tid, batch) is not None

    def record_settlement(self, *, tid: str, batch: str, terminal_totals: str, host_totals: str, balanced: bool,
                          now: str) -> None:
        """Close the batch (once) and open the next one for this terminal."""
        next_batch = f"{int(batch) % 999999 + 1:06d}"
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO settlements (tid, batch, terminal_totals, host_totals, balanced, settled_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (tid, batch, terminal_totals, host_totals, int(balanced), now))
            db.execute(
                "INSERT INTO terminals (tid, current_batch) VALUES (?, ?) ON CONFLICT(tid) DO UPDATE "
                "SET current_batch = excluded.current_batch WHERE terminals.current_batch = ?",
                (tid, next_batch, batch))

    def record_upload(self, tid: str, batch: str, stan: str, now: str) -> None:
        self.write("INSERT OR IGNORE INTO uploads (tid, batch, stan, received_at) VALUES (?, ?, ?, ?)",
                    (tid, batch, stan, now))

    def record_upload_end(self, tid: str, batch: str, count: int, now: str) -> int:
        uploaded = self.db.execute("SELECT COUNT(*) FROM uploads WHERE tid = ? AND batch = ?",
                                    (tid, batch)).fetchone()[0]
        self.write("INSERT INTO upload_ends (tid, batch, count, uploaded, received_at) VALUES (?, ?, ?, ?, ?)",
                    (tid, batch, count, uploaded, now))
        return int(uploaded)

    # -- IC card TC uploads (simulator/host/tcs.py) ---------------------------------------------
    def tc_upload(self, tid: str, batch: str, stan: str) -> sqlite3.Row | None:
        rows = self.read("SELECT * FROM tc_uploads WHERE tid = ? AND batch = ? AND stan = ?", (tid, batch, stan))
        return rows[0] if rows else None

    def record_tc(self, *, tid: str, batch: str, stan: str, txn_id: int, cryptogram: str | None,
                  response_code: str, now: str) -> None:
        self.write("INSERT INTO tc_uploads (tid, batch, stan, txn_id, cryptogram, response_code, copies, "
                    "received_at, last_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                    (tid, batch, stan, txn_id, cryptogram, response_code, now, now))

    def record_tc_repeat(self, tid: str, batch: str, stan: str, now: str) -> None:
        self.write("UPDATE tc_uploads SET copies = copies + 1, last_at = ? WHERE tid = ? AND batch = ? AND stan = ?",
                    (now, tid, batch, stan))

    def tc_report(self, tid: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """The TCs received (each with its check's result and how many copies came) and the approved online
        chip transactions whose TC never arrived (`missing`)."""
        where, params = ("AND t.tid = ?", (tid,)) if tid else ("", ())
        received = [{"terminal": r["tid"], "batch": r["batch"], "stan": r["stan"], "kind": r["kind"],
                     "card": r["card"], "amount": r["amount"], "response_code": r["response_code"],
                     "verified": r["response_code"] == "00", "copies": r["copies"], "received_at": r["received_at"]}
                    for r in self.db.execute(
                        "SELECT u.*, t.kind, t.card, t.amount FROM tc_uploads u JOIN txns t ON t.id = u.txn_id "
                        f"WHERE 1 {where} ORDER BY u.received_at, u.tid, u.batch, u.stan", params)]
        missing = [{"terminal": r["tid"], "batch": r["batch"], "stan": r["stan"], "kind": r["kind"],
                    "card": r["card"], "amount": r["amount"], "created_at": r["created_at"]}
                   for r in self.db.execute(
                       "SELECT t.* FROM txns t WHERE t.icc = 1 AND t.mti IN ('0100', '0200') "
                       "AND t.kind IN ('sale', 'preauth') AND t.response_code = '00' AND t.reversed_at IS NULL "
                       "AND NOT EXISTS (SELECT 1 FROM tc_uploads u WHERE u.tid = t.tid AND u.batch = t.batch "
                       f"AND u.stan = t.stan) {where} ORDER BY t.id", params)]
        return {"received": received, "missing": missing}

    # -- reports -------------------------------------------------------------------------------
    def net_report(self, tid: str | None = None) -> dict[str, Any]:
        """Net amount charged per card and per terminal (minor units), plus row counts."""
        where, params = ("AND t.tid = ?", (tid,)) if tid else ("", ())
        cards = {r["card"]: {"masked_pan": r["masked_pan"], "net_charged": int(r["net"])}
                 for r in self.db.execute(
                     f"SELECT t.card, MAX(t.masked_pan) AS masked_pan, {_NET} AS net FROM txns t "
                     f"WHERE {_LIVE} AND t.card IS NOT NULL {where} GROUP BY t.card ORDER BY t.card", params)}
        terminals = {r["tid"]: {"net_charged": int(r["net"])}
                     for r in self.db.execute(
                         f"SELECT t.tid, {_NET} AS net FROM txns t WHERE {_LIVE} {where} "
                         f"GROUP BY t.tid ORDER BY t.tid", params)}
        counts = {r["kind"]: {"approved": int(r["approved"]), "declined": int(r["declined"]),
                              "reversed": int(r["reversed"])}
                  for r in self.db.execute(
                      f"SELECT kind, SUM(response_code = '00') AS approved, SUM(response_code != '00') AS declined, "
                      f"SUM(reversed_at IS NOT NULL) AS reversed FROM txns t WHERE 1 {where} GROUP BY kind", params)}
        settled = [{"terminal": r["tid"], "batch": r["batch"], "balanced": bool(r["balanced"]),
                    "settled_at": r["settled_at"]}
                   for r in self.db.execute(
                       "SELECT * FROM settlements" + (" WHERE tid = ?" if tid else "") + " ORDER BY settled_at",
                       params)]
        return {"cards": cards, "terminals": terminals, "counts": counts, "settlements": settled}


def _txn(row: sqlite3.Row) -> Txn:
    return Txn(id=row["id"], tid=row["tid"], batch=row["batch"], stan=row["stan"], kind=row["kind"],
               card=row["card"], amount=row["amount"], rrn=row["rrn"], auth_code=row["auth_code"],
               local_date=row["local_date"], response_code=row["response_code"], orig_id=row["orig_id"],
               reversed=row["reversed_at"] is not None)
