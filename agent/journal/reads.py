"""The journal's SQLite connection, whose reads report a failing disk as a `StorageError`.

Writes already do (`Core.write` rolls back and says what was refused); a read outside a write — a
lookup, the duplicate check, settlement totals — used to let `sqlite3.DatabaseError` ("disk I/O error",
"database disk image is malformed" when the device returns errors) through, and the daemon answered
"internal error" instead of "storage error; no new transactions".  Found by the power-cut campaign.
SQLite reads a page when a row is stepped to, not only when the statement starts: the rows fetched
after the first report the same way (`ReportingCursor`).
"""

from __future__ import annotations

import sqlite3
from typing import Any, NoReturn

from agent.journal.errors import storage_error


class ReportingConnection(sqlite3.Connection):
    path = ""  # set by whoever opens it, for the message

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return self.cursor(ReportingCursor).execute(sql, parameters)
        except sqlite3.Error as exc:
            # inside a write (or starting one) the writer turns it into the right message and rolls back
            if self.in_transaction or sql.lstrip()[:5].upper() == "BEGIN":
                raise
            raise storage_error(exc, "read the journal", self.path) from None


class ReportingCursor(sqlite3.Cursor):
    """A cursor whose later rows report a failing read as the first row does (see the module)."""

    def _report(self, exc: sqlite3.Error) -> NoReturn:
        connection = self.connection
        if connection.in_transaction:  # inside a write: the writer reports it and rolls back
            raise exc
        raise storage_error(exc, "read the journal", getattr(connection, "path", "")) from None

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            self._report(exc)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.Error as exc:
            self._report(exc)

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            self._report(exc)

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            self._report(exc)
