"""The journal's exception family: every error says which record, which state, and what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.errors import PosagentError
from agent.machine import IllegalTransition as IllegalTransition  # the journal's refusals are the one kind

if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path

    from agent.journal.records import Txn


class JournalError(PosagentError):
    """The journal refused an operation or cannot be used.

    `txn_id` names the transaction concerned (when there is one); `path` the journal file.  The text
    is written for the person who has to act on it.
    """

    def __init__(self, message: str, *, txn_id: int | None = None, path: str | None = None):
        self.txn_id = txn_id
        self.path = path
        super().__init__(message)


class IllegalRecordTransition(IllegalTransition, JournalError):
    """The refusal of the journal's machines (transaction, reversal, batch, fix): the one `IllegalTransition`,
    and a `JournalError` like every refusal of the journal, naming the transaction when it is one."""

    def __init__(self, machine: str, state: object, event: str, record: object = None):
        super().__init__(machine, state, event, record)
        self.txn_id = record if machine == "transaction" and isinstance(record, int) else None


class DuplicateRequest(JournalError):
    """A client request id that is already journaled: the earlier transaction is `existing`."""

    def __init__(self, client_request_id: str, existing: Txn):
        self.existing = existing
        super().__init__(f"request {client_request_id!r} was already journaled as transaction {existing.id} "
                         f"({existing.kind}, {existing.state}); not sending it twice", txn_id=existing.id)


class StorageError(JournalError):
    """The journal file cannot be written (disk full, read-only, locked, I/O error): no new transactions."""

    exit_status = 1


class NotFound(JournalError):
    """No record with that id or number (an operator typed a wrong one)."""

    exit_status = 2


class OfflineLimitReached(JournalError):
    """A sale would break one of the offline limits (`reason`: max_amount, max_total, max_count, max_age)."""

    exit_status = 1

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"offline limit reached: {reason}")


def storage_error(exc: sqlite3.Error, what: str, path: Path | str) -> StorageError:
    """A SQLite failure worded for the person who has to fix it (the one place that words storage errors)."""
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
