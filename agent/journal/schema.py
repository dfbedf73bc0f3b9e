"""Opening the journal file safely, and its versioned schema (applied with sqlite-utils).

A file that is not SQLite, is corrupt, belongs to something else, or has a newer schema than this
code knows is refused *before* anything is written to it.  Migrations run in one BEGIN IMMEDIATE
transaction, so an older journal is either fully migrated or untouched.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from agent.journal.errors import JournalError, StorageError
from agent.journal.reads import ReportingConnection
from agent.journal.states import OPEN_REVERSALS_SQL, UNRESOLVED_SQL, BatchState, FixState

if TYPE_CHECKING:  # loaded by `migrate` only: a journal already at SCHEMA_VERSION opens without it
    import sqlite_utils

SQLITE_MAGIC = b"SQLite format 3\x00"
#: the `PRAGMA application_id` of a posagent journal ("POSJ")
APPLICATION_ID = 0x504F534A


def _v1(db: sqlite_utils.Database) -> None:
    db.table("batches").create({
        "id": int, "number": int, "state": str, "opened_at": float, "settling_at": float,
        "settled_at": float, "totals": str, "result_domestic": str, "result_foreign": str,
    }, pk="id", not_null={"number", "state", "opened_at"})
    db.table("transactions").create({
        "id": int, "kind": str, "state": str, "amount": int, "currency": str, "trace": int,
        "batch_id": int, "batch": int, "rrn": str, "auth_code": str, "response_code": str,
        # `chain_id` is `purchase_id` since _v6
        "entry_mode": str, "pan_masked": str, "pan_fingerprint": str, "original_id": int, "chain_id": int,
        "operator": str, "role": str, "client_request_id": str, "created_at": float, "updated_at": float,
        "uploaded": int, "failure_reason": str, "host_time": str, "request": str, "response": str,
    }, pk="id", foreign_keys=[("batch_id", "batches", "id")],
        not_null={"kind", "state", "amount", "currency", "trace", "batch_id", "batch", "operator", "role",
                  "created_at", "updated_at", "uploaded"})
    db.table("reversals").create({
        "id": int, "txn_id": int, "trace": int, "reason": str, "tries": int, "last_error": str,
        "state": str, "created_at": float, "updated_at": float,
    }, pk="id", foreign_keys=[("txn_id", "transactions", "id")],
        not_null={"txn_id", "trace", "tries", "state", "created_at", "updated_at"})
    db.table("messages").create({
        "id": int, "txn_id": int, "reversal_id": int, "direction": str, "at": float, "body": str,
    }, pk="id", foreign_keys=[("txn_id", "transactions", "id"), ("reversal_id", "reversals", "id")],
        not_null={"direction", "at", "body"})
    db.table("events").create({
        "id": int, "at": float, "txn_id": int, "kind": str, "operator": str, "role": str, "details": str,
        "content_hash": str, "hash": str,
    }, pk="id", not_null={"at", "kind", "details", "content_hash", "hash"})
    db.table("counters").create({"name": str, "value": int}, pk="name", not_null={"value"})
    db.table("state").create({"key": str, "value": str}, pk="key")
    t = db.table("transactions")
    t.create_index(["trace"])
    t.create_index(["created_at"])
    t.create_index(["batch_id", "kind", "state", "amount"])
    db.table("messages").create_index(["txn_id"])
    db.table("reversals").create_index(["txn_id"])
    # partial indexes: rows without the value (most sales) cost no index write on the hot path
    for column in ("rrn", "original_id", "chain_id", "pan_fingerprint"):
        db.execute(f"CREATE INDEX idx_transactions_{column} ON transactions({column}) WHERE {column} IS NOT NULL")
    db.execute("CREATE UNIQUE INDEX idx_transactions_client_request_id ON transactions(client_request_id) "
               "WHERE client_request_id IS NOT NULL")
    # recovery reads only the few unresolved rows, whatever the journal's size
    db.execute(f"CREATE INDEX idx_transactions_unresolved ON transactions(state) WHERE state IN {UNRESOLVED_SQL}")
    db.execute(f"CREATE INDEX idx_reversals_open ON reversals(state) WHERE state IN {OPEN_REVERSALS_SQL}")
    db.execute(f"CREATE INDEX idx_batches_live ON batches(state) WHERE state != '{BatchState.SETTLED}'")


def _v2(db: sqlite_utils.Database) -> None:
    # the table of multi-step fixes (corrections, duplicate repairs), named `chains` until _v6
    db.table("chains").create({
        "id": int, "kind": str, "state": str, "original_id": int, "target": int, "steps": str, "watermark": int,
        "reason": str, "operator": str, "role": str, "created_at": float, "updated_at": float,
    }, pk="id", not_null={"kind", "state", "original_id", "steps", "watermark", "operator", "role", "created_at",
                  "updated_at"})
    db.execute("CREATE INDEX idx_chains_original ON chains(original_id)")
    db.execute(f"CREATE INDEX idx_chains_open ON chains(state) WHERE state = '{FixState.OPEN}'")


def _v3(db: sqlite_utils.Database) -> None:
    # the `tc_uploads` table: IC card TCs owed to the acquirer (one row per approved chip transaction with a TC)
    db.table("tc_uploads").create({
        "id": int, "txn_id": int, "icc": str, "card_sequence": str, "state": str, "tries": int,
        "last_error": str, "response_code": str, "created_at": float, "updated_at": float,
    }, pk="id", foreign_keys=[("txn_id", "transactions", "id")],
        not_null={"txn_id", "icc", "state", "tries", "created_at", "updated_at"})
    db.execute("CREATE UNIQUE INDEX idx_tc_uploads_txn ON tc_uploads(txn_id)")
    db.execute("CREATE INDEX idx_tc_uploads_owed ON tc_uploads(state) WHERE state = 'owed'")


def _v4(db: sqlite_utils.Database) -> None:
    # chip parameter sets and their staged downloads: `param_downloads`, `param_items`, `param_sets`
    db.table("param_downloads").create({
        "id": int, "state": str, "trigger": str, "params_version": str, "keys_version": str, "key_list": str,
        "aid_list": str, "error": str, "started_at": float, "updated_at": float,
    }, pk="id", not_null={"state", "trigger", "key_list", "aid_list", "started_at", "updated_at"})
    db.table("param_items").create({
        "id": int, "download_id": int, "kind": str, "name": str, "tlv": str, "created_at": float,
    }, pk="id", foreign_keys=[("download_id", "param_downloads", "id")],
        not_null={"download_id", "kind", "name", "tlv", "created_at"})
    db.execute("CREATE UNIQUE INDEX idx_param_items_entry ON param_items(download_id, kind, name)")
    db.table("param_sets").create({
        "id": int, "state": str, "params_version": str, "keys_version": str, "digest": str, "content": str,
        "source": str, "download_id": int, "installed_at": float, "replaced_at": float,
    }, pk="id", foreign_keys=[("download_id", "param_downloads", "id")],
        not_null={"state", "params_version", "keys_version", "digest", "content", "source", "installed_at"})
    db.execute("CREATE UNIQUE INDEX idx_param_sets_in_force ON param_sets(state) WHERE state = 'in_force'")


def _v5(db: sqlite_utils.Database) -> None:
    from agent.journal.offline import create_index  # a stored sale declined after forwarding, acknowledged
    create_index(db)


def _v6(db: sqlite_utils.Database) -> None:
    # one name per concept: `chain_id` links a transaction to its purchase (`purchase_id`), and the `chains`
    # table holds multi-step fixes (`fixes`).  Renames only: every value stays, and the proof still names the
    # table's rows as the events that vouch for them did (agent/journal/hashchain.py PROOF_TAGS)
    db.execute("ALTER TABLE transactions RENAME COLUMN chain_id TO purchase_id")
    db.execute("DROP INDEX idx_transactions_chain_id")
    db.execute("CREATE INDEX idx_transactions_purchase_id ON transactions(purchase_id) WHERE purchase_id IS NOT NULL")
    db.execute("ALTER TABLE chains RENAME TO fixes")
    db.execute("DROP INDEX idx_chains_original")
    db.execute("DROP INDEX idx_chains_open")
    db.execute("CREATE INDEX idx_fixes_original ON fixes(original_id)")
    db.execute(f"CREATE INDEX idx_fixes_open ON fixes(state) WHERE state = '{FixState.OPEN}'")


#: migrations in order; MIGRATIONS[n] takes a journal from schema version n to n + 1
MIGRATIONS = (_v1, _v2, _v3, _v4, _v5, _v6)
SCHEMA_VERSION = len(MIGRATIONS)


def check_file(path: Path) -> None:
    """Refuse a file that is not an SQLite database, without writing to it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"journal {path}: cannot read ({exc.strerror})", path=str(path)) from None
    if size == 0:
        return
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StorageError(f"journal {path}: cannot read ({exc.strerror})", path=str(path)) from None
    if head != SQLITE_MAGIC:
        raise JournalError(f"journal {path} is not an SQLite database; refusing to use it and leaving it untouched "
                           "(move it aside or point journal.path elsewhere)", path=str(path))


def inspect_read_only(path: Path) -> int:
    """The schema version of an existing file, read without writing; refuses foreign or corrupt files."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    wal = Path(f"{path}-wal")
    # without a WAL beside it, read the file as immutable: no lock files appear next to a file we may
    # refuse; with one (a journal that was in use), the WAL holds the latest pages and must be read
    options = "mode=ro" if wal.exists() and wal.stat().st_size > 0 else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True)
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path} cannot be opened: {exc}; left untouched", path=str(path)) from None
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} is damaged ({exc}); refusing to use it and leaving it untouched",
                           path=str(path)) from None
    finally:
        conn.close()
    if app_id != APPLICATION_ID and (tables or version):
        raise JournalError(f"{path} is an SQLite database but not a posagent journal; leaving it untouched",
                           path=str(path))
    if version > SCHEMA_VERSION:
        raise JournalError(f"journal {path} has schema version {version}, newer than this posagent knows "
                           f"({SCHEMA_VERSION}); upgrade posagent instead (file left untouched)", path=str(path))
    return version


#: page size of a new journal: every commit appends each page it touched to the WAL, and a journal
#: commit touches ~8 (row, indexes, event, counter) holding a few hundred bytes each, so small pages
#: mean fewer bytes written before each fsync (bench.journal: ~15 % less time per transaction than 4096)
PAGE_SIZE = 1024

#: the writer connection's page cache, in KiB whatever the page size (SQLite's default is 2,000 KiB, which
#: a daemon's journal fills within its first thousand sales and then keeps for good): a sale touches ~17
#: pages, the B-trees' upper pages stay cached, and a page outside it is read back from the kernel's page
#: cache.  The daemon's figures, side by side: docs/benchmarks.md#footprint
CACHE_KIB = 512


def connect(path: Path, busy_timeout_ms: int) -> ReportingConnection:
    """The one writer connection: autocommit (we issue BEGIN IMMEDIATE), WAL, FULL, foreign keys."""
    new = not path.exists() or path.stat().st_size == 0
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout_ms / 1000,
                           check_same_thread=False, factory=ReportingConnection)
    conn.row_factory = sqlite3.Row
    conn.path = str(path)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if new:  # only before the first page is written; an existing journal keeps its page size
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # negative: KiB, not pages
        # synchronous is per connection and not stored in the file: prove it took (domain notes §7)
        if conn.execute("PRAGMA synchronous").fetchone()[0] != 2 or mode.lower() != "wal":
            raise JournalError(f"journal {path}: SQLite refused WAL + synchronous=FULL (got {mode})", path=str(path))
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, from_version: int) -> None:
    """Bring the schema to SCHEMA_VERSION in one transaction (nothing changes if any step fails)."""
    if from_version == SCHEMA_VERSION:
        return
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under the write lock
        for step in MIGRATIONS[version:]:
            step(db)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def ensure_parent(path: Path) -> None:
    if not path.parent.exists():
        os.makedirs(path.parent, mode=0o700, exist_ok=True)
