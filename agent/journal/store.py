"""The journal's storage: opening the file, the one write path, events, counters and state.

Every change goes through `_write()`: one ``BEGIN IMMEDIATE`` transaction on the one writer
connection, rows written with ``RETURNING *`` so their digests are known, and exactly one hash-chained
event that vouches for them, all in the same commit.  Any SQLite error rolls back first (a failed
statement otherwise leaves a transaction open) and becomes a `StorageError` saying what was refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from agent.journal import schema
from agent.journal.errors import JournalError, NotFound, StorageError
from agent.journal.reads import ReportingConnection
from agent.journal.hashchain import GENESIS, canonical, content_hash, link, row_digest
from agent.journal.scrub import MAX_MESSAGE_CHARS, scrub_message, scrub_text
from agent.journal.states import check_transition

log = logging.getLogger("posagent.journal")

MAX_TRACE = 999_999
_PAN = re.compile(r"[0-9]{12,24}")  # a PAN, or a wallet payment code (up to 24 digits)
TXN_SELECT = "SELECT t.*, b.state AS batch_state FROM transactions t JOIN batches b ON b.id = t.batch_id"


class _Writer:
    """The rows one write transaction touched; `Journal._write` turns them into one event."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.rows: list[list[Any]] = []
        self.batches_changed = False
        self.cache: dict[str, Any] = {}
        self.event: tuple[str, int | None, str | None, str | None, dict[str, Any]] | None = None

    def insert(self, table: str, values: dict[str, Any]) -> sqlite3.Row:
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        row = self.conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING *",
                                tuple(values.values())).fetchone()
        self._vouch(table, row)
        return row

    def update(self, table: str, key: Any, changes: dict[str, Any]) -> sqlite3.Row:
        key_column = "id" if table not in ("counters", "state") else ("name" if table == "counters" else "key")
        sets = ", ".join(f"{c} = ?" for c in changes)
        row = self.conn.execute(f"UPDATE {table} SET {sets} WHERE {key_column} = ? RETURNING *",
                                (*changes.values(), key)).fetchone()
        if row is None:
            raise JournalError(f"{table} row {key} does not exist")
        begun = self.cache.get("begun")
        if begun is not None and (table == "batches" or (table == "transactions" and begun["id"] == key)):
            del self.cache["begun"]  # the cached row of the last request no longer tells its state
        self._vouch(table, row)
        return row

    def upsert_state(self, key: str, value: str | None) -> None:
        row = self.conn.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                                "SET value = excluded.value RETURNING *", (key, value)).fetchone()
        self._vouch("state", row)

    def _vouch(self, table: str, row: sqlite3.Row) -> None:
        if table == "batches":
            self.batches_changed = True
        self.rows.append([table, row[0], row_digest(table, tuple(row))])

    def record(self, kind: str, txn_id: int | None, operator: str | None, role: str | None,
               details: dict[str, Any]) -> None:
        self.event = (kind, txn_id, operator, role, details)


class JournalStore:
    """Opening, closing, the write path, counters, durable state and operator events."""

    def __init__(self, conn: sqlite3.Connection, path: Path, fingerprint_key: bytes,
                 clock: Callable[[], float], read_only: bool):
        self._conn = conn
        self.path = path
        self._key = fingerprint_key
        self._clock = clock
        self.read_only = read_only
        # values read on every write, valid while no other connection commits (PRAGMA data_version)
        self._cache: dict[str, Any] = {}
        self._data_version: int | None = None
        # journals written before a "sending" row counted as its armed reversal may hold "armed" rows;
        # None until looked up once (no new ones are ever written, so the answer only turns false)
        self._legacy_armed: bool | None = None

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path, *, fingerprint_key: bytes | None, busy_timeout_ms: int = 5000,
             clock: Callable[[], float] = time.time, read_only: bool = False):
        """Open (creating or migrating) the journal at `path`.

        The file is refused, untouched, when it is not SQLite, is damaged, is another application's
        database or has a newer schema.  `read_only` opens an existing journal for queries only (the
        CLI); it never migrates or writes.  Without a `fingerprint_key` (None) the journal serves queries
        and maintenance but refuses anything that needs a card's fingerprint.  A new journal starts with
        batch 000001 open.
        """
        if fingerprint_key is None:  # maintenance and queries: no card can be fingerprinted
            fingerprint_key = b""
        elif not isinstance(fingerprint_key, (bytes, bytearray)) or len(fingerprint_key) < 16:
            raise JournalError("the PAN fingerprint key must be at least 16 bytes (128 bits)")
        path = Path(path)
        schema.check_file(path)
        version = schema.inspect_read_only(path)
        try:
            if read_only:
                if not path.exists():
                    raise JournalError(f"journal {path} does not exist", path=str(path))
                if version != schema.SCHEMA_VERSION:
                    raise JournalError(f"journal {path} has schema version {version}; open it once with the "
                                       f"agent to migrate it", path=str(path))
                # on a read-only filesystem no one can write, and WAL's lock file cannot be made: read as immutable
                wal = Path(f"{path}-wal")
                unchanging = os.statvfs(path).f_flag & os.ST_RDONLY and not (wal.exists() and wal.stat().st_size)
                options = "mode=ro&immutable=1" if unchanging else "mode=ro"
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, isolation_level=None,
                                       timeout=busy_timeout_ms / 1000, check_same_thread=False,
                                       factory=ReportingConnection)
                conn.row_factory = sqlite3.Row
                conn.path = str(path)
            else:
                schema.ensure_parent(path)
                conn = schema.connect(path, busy_timeout_ms)
        except sqlite3.Error as exc:
            raise _storage_error(exc, f"open journal {path}", path) from None
        journal = cls(conn, path, bytes(fingerprint_key), clock, read_only)
        try:
            if not read_only:
                schema.migrate(conn, version)
                journal._initialise()
        except sqlite3.Error as exc:
            conn.close()
            raise _storage_error(exc, f"prepare journal {path}", path) from None
        except BaseException:
            conn.close()
            raise
        log.info("journal %s opened%s (schema %d)", path, " read-only" if read_only else "", schema.SCHEMA_VERSION)
        return journal

    def _initialise(self) -> None:
        if self._conn.execute("SELECT 1 FROM batches LIMIT 1").fetchone():
            return
        with self._write("create the first batch") as w:
            w.insert("counters", {"name": "trace", "value": 0})
            batch = w.insert("batches", {"number": 1, "state": "open", "opened_at": self._clock()})
            w.record("batch.open", None, None, "system", {"batch": batch["number"]})

    def checkpoint(self) -> None:
        """Copy the WAL into the database file now (call when idle, so no sale waits for it)."""
        if self._conn is not None and not self.read_only:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                raise _storage_error(exc, "checkpoint the journal", self.path) from None

    def close(self) -> None:
        """Close the connection (a checkpoint happens; committed data is already durable)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- the write path
    @contextmanager
    def _write(self, what: str) -> Iterator[_Writer]:
        if self.read_only:
            raise JournalError(f"journal {self.path} is open read-only: cannot {what}")
        if self._conn is None:
            raise JournalError("the journal is closed")
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _storage_error(exc, what, self.path) from None
        writer = _Writer(conn)
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                self._cache.clear()
                self._data_version = version
            staged = dict(self._cache)
            self._cache.clear()  # nothing cached survives a failed write
            writer.cache = staged
            yield writer
            if writer.event is not None or writer.rows:
                self._append_event(writer)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            error = _storage_error(exc, what, self.path)
            log.error("%s", error)
            raise error from None
        except BaseException:
            self._rollback()
            raise
        if writer.batches_changed:
            staged.pop("open_batch", None)
            staged.pop("begun", None)
        self._cache = staged

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _append_event(self, writer: _Writer) -> None:
        kind, txn_id, operator, role, details = writer.event or ("rows", None, None, "system", {})
        last = writer.cache.get("head")
        if last is None:
            last = self._conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        event_id, previous = (last[0] + 1, last[1]) if last else (1, GENESIS)
        text = canonical({**details, "rows": writer.rows})
        at = self._clock()
        chash = content_hash(event_id, at, txn_id, kind, operator, role, text)
        ehash = link(previous, chash)
        self._conn.execute("INSERT INTO events (id, at, txn_id, kind, operator, role, details, content_hash, hash) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (event_id, at, txn_id, kind, operator, role, text, chash, ehash))
        writer.cache["head"] = (event_id, ehash)

    # ----------------------------------------------------------------- small helpers
    def fingerprint(self, pan: str) -> str:
        """The keyed HMAC-SHA256 (hex) of a PAN: matches cards without keeping the number."""
        _check_pan(pan)
        if not self._key:
            raise JournalError("this journal was opened without the fingerprint key")
        return hmac.new(self._key, pan.encode("ascii"), hashlib.sha256).hexdigest()

    def _txn_row_for_outcome(self, w: _Writer, txn_id: int) -> Any:
        """The row of the request being answered: the one the last intent commit wrote, unless
        anything changed it since (no statement then), else read."""
        begun = w.cache.get("begun")
        if begun is not None and begun["id"] == txn_id:
            return begun
        return self._txn_row(txn_id)

    def _txn_row(self, txn_id: int) -> sqlite3.Row:
        row = self._conn.execute(TXN_SELECT + " WHERE t.id = ?", (txn_id,)).fetchone()
        if row is None:
            raise NotFound(f"no transaction {txn_id} in the journal", txn_id=txn_id)
        return row

    def _set_txn_state(self, w: _Writer, row: sqlite3.Row, to_state: str, **changes: Any) -> sqlite3.Row:
        check_transition("transaction", row["id"], row["state"], to_state)
        return w.update("transactions", row["id"], {"state": to_state, "updated_at": self._clock(), **changes})

    def _store_message(self, w: _Writer, direction: str, message: Any, *, txn_id: int | None,
                       reversal_id: int | None = None) -> None:
        body = _message_text(message, txn_id)
        w.insert("messages", {"txn_id": txn_id, "reversal_id": reversal_id, "direction": direction,
                              "at": self._clock(), "body": body})

    def _next_trace(self, w: _Writer) -> int:
        # persisted in the same commit as its use: a crash can lose a number, never hand it out twice
        trace = w.update("counters", "trace", {"value": self._peek_trace(w.cache)})["value"]
        w.cache["trace"] = trace
        return trace

    def _peek_trace(self, cache: dict[str, Any]) -> int:
        """The trace number the next commit will take (nothing is written)."""
        last = cache.get("trace")
        if last is None:
            last = cache["trace"] = self._conn.execute("SELECT value FROM counters WHERE name = 'trace'").fetchone()[0]
        return last % MAX_TRACE + 1

    def _open_batch_ids(self, cache: dict[str, Any]) -> sqlite3.Row:
        """(id, number) of the open batch; a clear error while a settlement holds it."""
        batch = cache.get("open_batch")
        if batch is None:
            batch = self._conn.execute("SELECT id, number FROM batches WHERE state = 'open'").fetchone()
            if batch is None:
                live = self._conn.execute("SELECT number FROM batches WHERE state = 'settling'").fetchone()
                raise JournalError(f"batch {live[0]:06d} is being settled: finish the settlement before new "
                                   "transactions" if live else "no open batch")
            cache["open_batch"] = batch
        return batch

    def _next_numbers(self) -> tuple[int, int]:
        """(trace, batch number) the next request will be journaled with, read outside any transaction."""
        if self._conn is None:
            raise JournalError("the journal is closed")
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._cache.clear()
            self._data_version = version
        return self._peek_trace(self._cache), self._open_batch_ids(self._cache)["number"]

    def take_trace(self, purpose: str, *, operator: str = "system", role: str = "system") -> int:
        """Take a trace number for a message that is not a journaled transaction (sign-on, settlement...)."""
        with self._write("take a trace number") as w:
            trace = self._next_trace(w)
            w.record("trace.take", None, operator, role, {"trace": trace, "purpose": purpose})
        return trace

    def get_state(self, key: str) -> str | None:
        """A small durable value for the daemon (e.g. a failure counter); None when never set."""
        row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_state(self, key: str, value: str | None, *, operator: str = "system", role: str = "system") -> None:
        """Set a durable value (journaled and chained like everything else)."""
        if not isinstance(key, str) or not key or len(key) > 100:
            raise JournalError("state key must be a non-empty string of at most 100 characters")
        if value is not None and (not isinstance(value, str) or len(value) > 4096):
            raise JournalError(f"state {key!r}: value must be a string of at most 4096 characters")
        if value is not None:
            value = scrub_text(value, 4096)
        with self._write(f"set {key}") as w:
            w.upsert_state(key, value)
            w.record("state.set", None, operator, role, {"key": key})

    def record_event(self, kind: str, details: dict[str, Any], *, operator: str, role: str,
                     txn_id: int | None = None) -> None:
        """Journal an operator action (lockout, manual handling, confirmation...) in the hash chain."""
        if not isinstance(kind, str) or not re.fullmatch(r"[a-z][a-z0-9_.-]{0,63}", kind):
            raise JournalError(f"event kind {kind!r}: expected lowercase letters, digits, '.', '_' or '-'")
        text = _message_text(details, txn_id)  # scrubbed and size-checked like a message
        with self._write(f"record {kind}") as w:
            w.record(kind, txn_id, operator, role, {"details": json.loads(text)})


def _message_text(message: Any, txn_id: int | None) -> str:
    body = canonical(scrub_message(message))
    if len(body) > MAX_MESSAGE_CHARS:
        raise JournalError(f"message of {len(body)} characters is larger than {MAX_MESSAGE_CHARS}; not stored",
                           txn_id=txn_id)
    return body


def _check_pan(pan: Any) -> None:
    if not isinstance(pan, str) or not _PAN.fullmatch(pan):
        raise JournalError("card number or payment code must be 12 to 24 digits")


def _storage_error(exc: sqlite3.Error, what: str, path: Path | str) -> StorageError:
    code = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if code.startswith("SQLITE_FULL") or "disk is full" in text:
        why = "the disk is full"
    elif code.startswith("SQLITE_READONLY") or "readonly" in text:
        why = "the journal file or its folder is read-only"
    elif code.startswith("SQLITE_BUSY") or "locked" in text:
        why = "another process holds the journal lock"
    elif code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        why = f"the journal file is damaged ({text})"
    elif code.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        why = f"a storage error ({text})"
    else:
        why = text
    return StorageError(f"journal {path}: cannot {what}: {why}; no new transactions until this is fixed",
                        path=str(path))
