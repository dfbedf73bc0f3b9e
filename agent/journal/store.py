"""The journal's storage core: opening the file, the connection and the one write path.

Every change goes through `Core.write()`: one ``BEGIN IMMEDIATE`` transaction on the one writer
connection, rows written with ``RETURNING *`` so their digests are known, and exactly one hash-chained
event that vouches for them (agent/journal/events.py), all in the same commit.  Any SQLite error rolls
back first (a failed statement otherwise leaves a transaction open) and becomes a `StorageError` saying
what was refused.  The stores (transactions, batches, reversals, counters, events...) each own their
SQL and reach the file only through the core they share (`Store`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

from agent.journal import schema
from agent.journal.errors import JournalError, storage_error
from agent.journal.events import append_event
from agent.journal.hashchain import proof_tag, row_digest
from agent.journal.reads import ReportingConnection

log = logging.getLogger("posagent.journal")

_PAN = re.compile(r"[0-9]{12,24}")  # a PAN, or a wallet payment code (up to 24 digits)


class Writer:
    """The rows one write transaction touched; `Core.write` turns them into one event."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.rows: list[list[Any]] = []
        self.batches_changed = False
        self.cache: dict[str, Any] = {}
        self.event: tuple[str, int | None, str | None, str | None, dict[str, Any]] | None = None

    def insert(self, table: str, values: dict[str, Any]) -> sqlite3.Row:
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        row: sqlite3.Row = self.conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING *",
                                             tuple(values.values())).fetchone()
        self.vouch(table, row)
        return row

    def update(self, table: str, key: Any, changes: dict[str, Any]) -> sqlite3.Row:
        key_column = "id" if table not in ("counters", "state") else ("name" if table == "counters" else "key")
        sets = ", ".join(f"{c} = ?" for c in changes)
        row: sqlite3.Row | None = self.conn.execute(f"UPDATE {table} SET {sets} WHERE {key_column} = ? RETURNING *",
                                                    (*changes.values(), key)).fetchone()
        if row is None:
            raise JournalError(f"{table} row {key} does not exist")
        begun = self.cache.get("begun")
        if begun is not None and (table == "batches" or (table == "transactions" and begun["id"] == key)):
            del self.cache["begun"]  # the cached row of the last request no longer tells its state
        self.vouch(table, row)
        return row

    def upsert_state(self, key: str, value: str | None) -> None:
        row = self.conn.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                                "SET value = excluded.value RETURNING *", (key, value)).fetchone()
        self.vouch("state", row)

    def vouch(self, table: str, row: sqlite3.Row) -> None:
        """Count a row this transaction wrote (by digest) in the event that commits it."""
        if table == "batches":
            self.batches_changed = True
        tag = proof_tag(table)  # a renamed table keeps the name the older events gave it
        self.rows.append([tag, row[0], row_digest(tag, tuple(row))])

    def record(self, kind: str, txn_id: int | None, operator: str | None, role: str | None,
               details: dict[str, Any]) -> None:
        self.event = (kind, txn_id, operator, role, details)


class Core:
    """The connection, the write path and what every store shares (clock, fingerprint key, cache)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, fingerprint_key: bytes,
                 clock: Callable[[], float], read_only: bool):
        self.conn = conn
        self.path = path
        self._key = fingerprint_key
        self.clock = clock
        self.read_only = read_only
        # values read on every write, valid while no other connection commits (PRAGMA data_version)
        self.cache: dict[str, Any] = {}
        self._data_version: int | None = None

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path, *, fingerprint_key: bytes | None, busy_timeout_ms: int = 5000,
             clock: Callable[[], float] = time.time, read_only: bool = False) -> "Core":
        """Open (creating or migrating) the journal file at `path` (see `Journal.open`)."""
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
            raise storage_error(exc, f"open journal {path}", path) from None
        core = cls(conn, path, bytes(fingerprint_key), clock, read_only)
        try:
            if not read_only:
                schema.migrate(conn, version)
        except sqlite3.Error as exc:
            conn.close()
            raise storage_error(exc, f"prepare journal {path}", path) from None
        except BaseException:
            conn.close()
            raise
        return core

    def checkpoint(self) -> None:
        """Copy the WAL into the database file now (call when idle, so no sale waits for it)."""
        if self.conn is not None and not self.read_only:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                raise storage_error(exc, "checkpoint the journal", self.path) from None

    def close(self) -> None:
        """Close the connection (a checkpoint happens; committed data is already durable)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None  # type: ignore[assignment]

    # ----------------------------------------------------------------- the write path
    @contextmanager
    def write(self, what: str) -> Iterator[Writer]:
        if self.read_only:
            raise JournalError(f"journal {self.path} is open read-only: cannot {what}")
        if self.conn is None:
            raise JournalError("the journal is closed")
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise storage_error(exc, what, self.path) from None
        writer = Writer(conn)
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                self.cache.clear()
                self._data_version = version
            staged = dict(self.cache)
            self.cache.clear()  # nothing cached survives a failed write
            writer.cache = staged
            yield writer
            if writer.event is not None or writer.rows:
                append_event(conn, writer, self.clock())
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            error = storage_error(exc, what, self.path)
            log.error("%s", error)
            raise error from None
        except BaseException:
            self._rollback()
            raise
        if writer.batches_changed:
            staged.pop("open_batch", None)
            staged.pop("begun", None)
        self.cache = staged

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def read_cache(self) -> dict[str, Any]:
        """The cache of values read on every write, for a read outside any transaction (emptied when
        another connection committed since)."""
        if self.conn is None:
            raise JournalError("the journal is closed")
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self.cache.clear()
            self._data_version = version
        return self.cache

    def fingerprint(self, pan: str) -> str:
        """The keyed HMAC-SHA256 (hex) of a PAN: matches cards without keeping the number."""
        check_pan(pan)
        if not self._key:
            raise JournalError("this journal was opened without the fingerprint key")
        return hmac.new(self._key, pan.encode("ascii"), hashlib.sha256).hexdigest()


class Store:
    """What each store shares: the core's connection, clock and write path."""

    def __init__(self, core: Core):
        self._core = core

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._core.conn

    def _clock(self) -> float:
        return self._core.clock()

    def _write(self, what: str) -> ContextManager[Writer]:
        return self._core.write(what)


def check_pan(pan: Any) -> None:
    if not isinstance(pan, str) or not _PAN.fullmatch(pan):
        raise JournalError("card number or payment code must be 12 to 24 digits")
