"""Running balances of the acquirer's ledger: charged, refunded and held, per card and per terminal.

A row of `txns` moves money while it is *live*: approved, not reversed, and not cancelled by a live
row that cancels it (a void cancels its sale).  What a live row moves is one table, `EFFECTS`: the kind
of row → the balance its amount adds to.  The ledger keeps the sums in `balances`, updated in the same
transaction as the row whose liveness changed, so a sale's "how much is left on this card" is one
indexed read however long the ledger is.  `recompute` derives the same sums from the rows alone;
`verify` compares the two (`posim host ledger --verify`).

To add a kind of money movement (a pre-authorisation hold, a wallet payer), add its row to `EFFECTS`
(and to `CANCELS` if, approved, it cancels its original): both the running update and the
recomputation follow the tables.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Mapping

#: a row of `txns` as read (`sqlite3.Row`) or as just inserted (its columns by name)
TxnRow = sqlite3.Row | Mapping[str, Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS balances (
    scope TEXT NOT NULL, key TEXT NOT NULL, charged INTEGER NOT NULL DEFAULT 0,
    refunded INTEGER NOT NULL DEFAULT 0, held INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, key)) WITHOUT ROWID;
"""

#: the balances a live row can move (columns of `balances`)
COLUMNS = ("charged", "refunded", "held")
#: kind of row → the balance its amount adds to while the row is live
#: (a pre-auth's completion charges like a sale; the hold itself depends on the clock — it expires —
#: so it is derived from the open pre-auths, simulator/host/holds.py, not kept running)
EFFECTS: dict[str, str] = {"sale": "charged", "completion": "charged", "refund": "refunded"}
#: kinds that, live, cancel their original (orig_id): the original then moves nothing
CANCELS: frozenset[str] = frozenset({"void", "completion_void"})
#: the scopes a row's money is summed under: scope → the row's column naming it
SCOPES = (("card", "card"), ("terminal", "tid"))
APPROVED = "00"


@dataclass(frozen=True)
class Balance:
    charged: int = 0
    refunded: int = 0
    held: int = 0

    @property
    def net_charged(self) -> int:
        return self.charged - self.refunded


def _cancelled(db: sqlite3.Connection, txn_id: int, *, besides: int | None = None) -> bool:
    """Whether a live row other than `besides` cancels row `txn_id` (indexed by orig_id)."""
    marks = ",".join("?" * len(CANCELS))
    row = db.execute(
        f"SELECT 1 FROM txns WHERE orig_id = ? AND kind IN ({marks}) AND response_code = ? "
        f"AND reversed_at IS NULL AND id IS NOT ?", (txn_id, *sorted(CANCELS), APPROVED, besides)).fetchone()
    return row is not None


def move(db: sqlite3.Connection, row: TxnRow, sign: int) -> None:
    """Add (sign +1) or take away (sign -1) what `row` moves, under each of its scopes."""
    column = EFFECTS.get(row["kind"])
    if column is None or not row["amount"]:
        return
    delta = sign * int(row["amount"])
    params = [value for scope, field in SCOPES if row[field] is not None for value in (scope, row[field], delta)]
    if params:  # every scope in one statement
        rows = ", ".join(["(?, ?, ?)"] * (len(params) // 3))
        db.execute(f"INSERT INTO balances (scope, key, {column}) VALUES {rows} "
                   f"ON CONFLICT(scope, key) DO UPDATE SET {column} = {column} + excluded.{column}", params)


def on_recorded(db: sqlite3.Connection, row: TxnRow) -> None:
    """A new row was inserted (never reversed, never cancelled yet): apply what it changes."""
    if row["response_code"] != APPROVED:
        return
    move(db, row, +1)
    if row["kind"] in CANCELS and row["orig_id"] is not None:
        original = db.execute("SELECT * FROM txns WHERE id = ?", (row["orig_id"],)).fetchone()
        if (original is not None and original["response_code"] == APPROVED and original["reversed_at"] is None
                and not _cancelled(db, original["id"], besides=row["id"])):
            move(db, original, -1)


def on_reversing(db: sqlite3.Connection, row: sqlite3.Row) -> None:
    """Row `row` (not yet reversed) is about to be marked reversed: undo what it moved or cancelled."""
    if row["response_code"] != APPROVED or row["reversed_at"] is not None:
        return
    if not _cancelled(db, row["id"]):
        move(db, row, -1)
    if row["kind"] in CANCELS and row["orig_id"] is not None:
        original = db.execute("SELECT * FROM txns WHERE id = ?", (row["orig_id"],)).fetchone()
        if (original is not None and original["response_code"] == APPROVED and original["reversed_at"] is None
                and not _cancelled(db, original["id"], besides=row["id"])):
            move(db, original, +1)


def stored(db: sqlite3.Connection) -> dict[tuple[str, str], Balance]:
    """The running balances as kept (zero rows left out)."""
    return {(r["scope"], r["key"]): Balance(r["charged"], r["refunded"], r["held"])
            for r in db.execute("SELECT * FROM balances")
            if any(r[c] for c in COLUMNS)}


def recompute(db: sqlite3.Connection) -> dict[tuple[str, str], Balance]:
    """The balances derived from the rows alone, by a full pass (zero rows left out)."""
    rows = db.execute("SELECT id, tid, card, kind, amount, response_code, orig_id, reversed_at FROM txns").fetchall()
    live = {r["id"] for r in rows if r["response_code"] == APPROVED and r["reversed_at"] is None}
    cancelled = {r["orig_id"] for r in rows if r["id"] in live and r["kind"] in CANCELS}
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        column = EFFECTS.get(r["kind"])
        if column is None or r["id"] not in live or r["id"] in cancelled:
            continue
        for scope, field in SCOPES:
            if r[field] is not None:
                entry = sums.setdefault((scope, r[field]), dict.fromkeys(COLUMNS, 0))
                entry[column] += int(r["amount"])
    return {key: Balance(**values) for key, values in sums.items() if any(values.values())}


def rebuild(db: sqlite3.Connection) -> None:
    """Replace the running balances by a recomputation (a ledger written before they existed)."""
    db.execute("DELETE FROM balances")
    db.executemany("INSERT INTO balances (scope, key, charged, refunded, held) VALUES (?, ?, ?, ?, ?)",
                   [(scope, key, b.charged, b.refunded, b.held) for (scope, key), b in recompute(db).items()])


def verify(db: sqlite3.Connection) -> list[str]:
    """One line per balance that differs between the running sums and a recomputation (empty: all match)."""
    kept, derived = stored(db), recompute(db)
    problems = []
    for scope, key in sorted(set(kept) | set(derived)):
        have, want = kept.get((scope, key), Balance()), derived.get((scope, key), Balance())
        if have != want:
            diffs = ", ".join(f"{c} {getattr(have, c)} (rows say {getattr(want, c)})"
                              for c in COLUMNS if getattr(have, c) != getattr(want, c))
            problems.append(f"{scope} {key}: running {diffs}")
    return problems
