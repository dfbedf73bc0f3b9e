"""The journal's values: frozen dataclasses built from rows, handed to the engine and the CLI."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from agent.journal.errors import JournalError

if TYPE_CHECKING:  # rows are read by the stores; the values themselves need no SQLite (the engine imports them)
    import sqlite3


def _scalars(record: Any) -> dict[str, Any]:
    """`asdict` for a record whose fields are all plain values (no copying: it is on every reply)."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


@dataclass(frozen=True)
class Txn:
    """One financial operation.  Money is in minor units; times are seconds since the epoch."""

    id: int
    kind: str
    state: str
    amount: int
    currency: str
    trace: int
    batch: int
    rrn: str | None
    auth_code: str | None
    response_code: str | None
    entry_mode: str | None
    pan_masked: str | None
    pan_fingerprint: str | None
    original_id: int | None
    purchase_id: int | None
    operator: str
    role: str
    client_request_id: str | None
    created_at: float
    updated_at: float
    uploaded: bool
    batch_state: str
    failure_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return _scalars(self)


@dataclass(frozen=True)
class Begun:
    """A journaled request: its transaction ("sending") and the message built for its trace and batch."""

    txn: Txn
    message: Any


@dataclass(frozen=True)
class Reversal:
    """A reversal of transaction `txn_id` (its original trace is `trace`); reason 98 / A0 / 06."""

    id: int
    txn_id: int
    trace: int
    reason: str | None
    tries: int
    last_error: str | None
    state: str
    created_at: float
    updated_at: float

    def as_dict(self) -> dict[str, Any]:
        return _scalars(self)


@dataclass(frozen=True)
class Batch:
    """A settlement batch: open -> settling -> settled.  `totals` is frozen when settlement begins."""

    id: int
    number: int
    state: str
    opened_at: float
    settling_at: float | None
    settled_at: float | None
    totals: "Totals | None"
    result_domestic: str | None
    result_foreign: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Totals:
    """Settlement totals in the shape of field 48: sales are debits, refunds credits (minor units)."""

    debit_amount: int = 0
    debit_count: int = 0
    credit_amount: int = 0
    credit_count: int = 0
    foreign_debit_amount: int = 0
    foreign_debit_count: int = 0
    foreign_credit_amount: int = 0
    foreign_credit_count: int = 0

    def field48(self) -> str:
        """The 62 digits of the settlement request's field 48 (domestic block, then foreign block)."""
        parts = []
        for amount, count, c_amount, c_count in (
                (self.debit_amount, self.debit_count, self.credit_amount, self.credit_count),
                (self.foreign_debit_amount, self.foreign_debit_count,
                 self.foreign_credit_amount, self.foreign_credit_count)):
            for value, width, what in ((amount, 12, "debit amount"), (count, 3, "debit count"),
                                       (c_amount, 12, "credit amount"), (c_count, 3, "credit count")):
                if not 0 <= value < 10 ** width:
                    raise JournalError(f"settlement {what} {value} does not fit field 48 ({width} digits)")
                parts.append(f"{value:0{width}d}")
            parts.append("0")
        return "".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Backlog:
    """What must go out before any other online message: requests without an outcome (reverse them
    first) and the pending reversals, oldest first."""

    unanswered: tuple[Txn, ...]
    pending: tuple[Reversal, ...]


@dataclass(frozen=True)
class Recovery:
    """What the engine must resolve after a start: nothing is silently assumed."""

    unanswered: tuple[Txn, ...]        # state "sending": may have left, no outcome: its reversal is armed (fail())
    in_doubt: tuple[Txn, ...]          # state "in_doubt" (its reversal is pending or needs manual handling)
    pending_reversals: tuple[Reversal, ...]
    needs_manual: tuple[Reversal, ...]
    settling: Batch | None             # a settlement that was started and not finished

    @property
    def clean(self) -> bool:
        return not (self.unanswered or self.in_doubt or self.pending_reversals
                    or self.needs_manual or self.settling)

    def as_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, **asdict(self)}


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `Journal.verify()`: `ok`, else the first broken entry and why."""

    ok: bool
    events: int
    first_broken: int | None = None
    why: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TXN_COLUMNS = tuple(f.name for f in fields(Txn))


_STORED_TXN_COLUMNS = tuple(c for c in TXN_COLUMNS if c not in ("uploaded", "batch_state"))


def txn_from_row(row: sqlite3.Row, batch_state: str | None = None) -> Txn:
    """A Txn from a transactions row; `batch_state` when the row was not joined with its batch."""
    return Txn(**{name: row[name] for name in _STORED_TXN_COLUMNS}, uploaded=bool(row["uploaded"]),
               batch_state=row["batch_state"] if batch_state is None else batch_state)


def reversal_from_row(row: sqlite3.Row) -> Reversal:
    return Reversal(**{f.name: row[f.name] for f in fields(Reversal)})


def batch_from_row(row: sqlite3.Row) -> Batch:
    totals = Totals(**json.loads(row["totals"])) if row["totals"] else None
    return Batch(id=row["id"], number=row["number"], state=row["state"], opened_at=row["opened_at"],
                 settling_at=row["settling_at"], settled_at=row["settled_at"], totals=totals,
                 result_domestic=row["result_domestic"], result_foreign=row["result_foreign"])
