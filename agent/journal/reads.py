"""The journal's SQLite connection, whose reads report a failing disk as a `StorageError`.

Writes already do (`Core.write` rolls back and says what was refused); a read outside a write — a
lookup, the duplicate check, settlement totals — used to let `sqlite3.DatabaseError` ("disk I/O error",
"database disk image is malformed" when the device returns errors) through, and the daemon answered
"internal error" instead of "storage error; no new transactions".  Found by the power-cut campaign.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from agent.journal.errors import storage_error


class ReportingConnection(sqlite3.Connection):
    path = ""  # set by whoever opens it, for the message

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            # inside a write (or starting one) the writer turns it into the right message and rolls back
            if self.in_transaction or sql.lstrip()[:5].upper() == "BEGIN":
                raise

            raise storage_error(exc, "read the journal", self.path) from None
