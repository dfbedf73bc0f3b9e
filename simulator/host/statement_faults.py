"""Statement faults: what a bank's statement gets wrong, injected like the host's message faults.

    posim host fault add statement_fee_above_rate:count=2,seed=7

A rule says which mistake, on how many lines (`count`, default 1) and which ones (`seed`).  Rules are
kept in the ledger file (table `statement_faults`), so `posim host statement` applies them whether or
not the host is running; they stay until `posim host fault clear`.  Each mistake touches its own
lines (never a line another rule already changed), and `apply_faults` returns what it did and the
finding the merchant's reconciliation must report for it.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from agent.reconcile.fees import DEBIT_KINDS, FeeContract
from agent.reconcile.statement import Statement, StatementLine
from simulator.host.faults import FaultSpecError

#: kind → (what it does, the reconciliation finding it causes)
STATEMENT_FAULT_KINDS: Mapping[str, tuple[str, str]] = {
    "statement_duplicate_line": ("a sale line is counted twice", "counted_twice"),
    "statement_fee_above_rate": ("a sale's fee is 0.10 % of its amount (at least 0.01) above the contract",
                                 "fee_differs"),
    "statement_deducted_twice": ("a refund or void line is deducted twice", "counted_twice"),
    "statement_reversed_settled": ("a sale the host reversed is settled anyway", "cancelled_but_settled"),
    "statement_sale_missing": ("a settled sale is left out of the credit", "not_credited"),
    # another terminal's line is listed apart by the merchant's reconciliation: no effect on this terminal's claim
    "statement_foreign_line": ("a refund of another terminal (99999901) is deducted", "other_terminal"),
    "statement_rounding": ("a fee is rounded the wrong way: 0.01 more", "fee_differs"),
    "statement_total_mismatch": ("the credit total is 0.01 to 9.99 less than its own lines", "total_differs"),
}
FOREIGN_TERMINAL = "99999901"
_MAX_COUNT = 1000
SCHEMA = "CREATE TABLE IF NOT EXISTS statement_faults (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, " \
         "count INTEGER NOT NULL, seed INTEGER NOT NULL)"


@dataclass(frozen=True)
class StatementFault:
    kind: str
    count: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in STATEMENT_FAULT_KINDS:
            raise FaultSpecError(f"unknown statement fault {self.kind!r} (known: {', '.join(STATEMENT_FAULT_KINDS)})")
        if not 1 <= self.count <= _MAX_COUNT:
            raise FaultSpecError(f"count must be from 1 to {_MAX_COUNT}, got {self.count}")
        if not 0 <= self.seed < 2**63:
            raise FaultSpecError(f"seed must be from 0 to 2**63-1, got {self.seed}")

    def to_text(self) -> str:
        return f"{self.kind}:count={self.count},seed={self.seed}"


def is_statement_fault(spec: str) -> bool:
    return spec.strip().startswith("statement_")


def parse_statement_fault(text: str) -> StatementFault:
    kind, _, rest = text.strip().partition(":")
    options: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        key = {"n": "count"}.get(key, key)
        if not eq:
            raise FaultSpecError(f"fault option {part!r} needs key=value")
        if key not in ("count", "seed"):
            raise FaultSpecError(f"unknown statement fault option {key!r} (known: count, seed)")
        if not (value.isascii() and value.isdigit()):
            raise FaultSpecError(f"fault option {key}: not a number: {value!r}")
        options[key] = int(value)
    return StatementFault(kind, **options)


# -------------------------------------------------------------------------- kept in the ledger file
class StatementFaultStore:
    def __init__(self, ledger_path: str | Path):
        if str(ledger_path) == ":memory:":
            raise FaultSpecError("statement faults need a ledger file (--db), not an in-memory ledger")
        self.path = str(ledger_path)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5)
        conn.execute(SCHEMA)
        return conn

    def add(self, fault: StatementFault) -> None:
        conn = self._connect()
        try:
            conn.execute("INSERT INTO statement_faults (kind, count, seed) VALUES (?, ?, ?)",
                         (fault.kind, fault.count, fault.seed))
        finally:
            conn.close()

    def clear(self, kind: str | None = None) -> int:
        conn = self._connect()
        try:
            if kind is None:
                return conn.execute("DELETE FROM statement_faults").rowcount
            return conn.execute("DELETE FROM statement_faults WHERE kind = ?", (kind,)).rowcount
        finally:
            conn.close()

    def rules(self) -> list[StatementFault]:
        if not Path(self.path).exists():
            return []
        conn = self._connect()
        try:
            return [StatementFault(k, c, s) for k, c, s in
                    conn.execute("SELECT kind, count, seed FROM statement_faults ORDER BY id")]
        finally:
            conn.close()


def control(ledger_path: str | Path, request: Mapping[str, Any]) -> dict[str, Any] | None:
    """The host's control channel for statement faults: the reply, or None when not about them."""
    op = request.get("op")
    if op == "add" and is_statement_fault(str(request.get("rule", ""))):
        fault = parse_statement_fault(str(request["rule"]))
        StatementFaultStore(ledger_path).add(fault)
        return {"ok": True, "rule": fault.to_text()}
    return None


def listing(ledger_path: str | Path) -> list[dict[str, Any]]:
    """The statement fault rules in force, as the control channel lists rules."""
    if str(ledger_path) == ":memory:":
        return []
    return [{"rule": f.to_text(), "remaining": None} for f in StatementFaultStore(ledger_path).rules()]


# -------------------------------------------------------------------------- applying them
def apply_faults(statement: Statement, faults: list[StatementFault], reversed_rows: list[sqlite3.Row], *,
                 make_line: Callable[[sqlite3.Row], StatementLine],
                 contract: FeeContract) -> tuple[Statement, list[dict[str, Any]]]:
    """The statement with each fault applied, and one record per change made: what and the finding due.

    `make_line(row)` turns a reversed ledger row into its statement line.
    """
    lines = list(statement.lines)
    touched: set[int] = set()  # indexes of original lines already changed
    extra: list[StatementLine] = []
    credit_shift = 0
    applied: list[dict[str, Any]] = []

    def pick(rng: random.Random, wanted: Callable[[StatementLine], bool]) -> int | None:
        free = [i for i, x in enumerate(lines) if i not in touched and wanted(x)]
        if not free:
            return None
        i = rng.choice(free)
        touched.add(i)
        return i

    def record(fault: StatementFault, line: StatementLine, effect: int) -> None:
        applied.append({"fault": fault.kind, "finding": STATEMENT_FAULT_KINDS[fault.kind][1], "rrn": line.rrn,
                        "terminal_id": line.terminal_id, "effect": effect})

    for fault in faults:
        rng = random.Random(fault.seed)
        for _ in range(fault.count):
            kind = fault.kind
            if kind in ("statement_duplicate_line", "statement_deducted_twice"):
                i = pick(rng, (lambda x: x.txn_type in DEBIT_KINDS) if kind == "statement_duplicate_line"
                         else (lambda x: x.txn_type not in DEBIT_KINDS))
                if i is None:
                    break
                extra.append(lines[i])
                record(fault, lines[i], lines[i].net)
            elif kind in ("statement_fee_above_rate", "statement_rounding"):
                i = pick(rng, lambda x: x.txn_type in DEBIT_KINDS)
                if i is None:
                    break
                more = 1 if kind == "statement_rounding" else max(1, (lines[i].amount + 500) // 1000)
                fee = lines[i].fee + more
                lines[i] = dataclasses.replace(lines[i], fee=fee, net=lines[i].amount - fee)
                record(fault, lines[i], -more)
            elif kind == "statement_sale_missing":
                i = pick(rng, lambda x: x.txn_type in DEBIT_KINDS)
                if i is None:
                    break
                record(fault, lines[i], -lines[i].net)
                lines[i] = None  # type: ignore[call-overload]
            elif kind == "statement_reversed_settled":
                sales = [r for r in reversed_rows if r["kind"] in DEBIT_KINDS]
                if not sales:
                    break
                row = sales.pop(rng.randrange(len(sales)))
                reversed_rows = [r for r in reversed_rows if r is not row]
                line = make_line(row)
                extra.append(line)
                record(fault, line, line.net)
            elif kind == "statement_foreign_line":
                amount = -rng.randint(100, 50_000)
                line = StatementLine(
                    settlement_date=statement.settlement_date, txn_date=statement.settlement_date,
                    txn_time=f"{rng.randint(8, 20):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}",
                    terminal_id=FOREIGN_TERMINAL, batch_no=rng.randint(1, 999), trace_no=rng.randint(1, 999_999),
                    rrn=f"9{rng.randint(0, 10**11 - 1):011d}", auth_code="", card_no="622609******9999",
                    card_type="debit", txn_type="refund", amount=amount, fee=0, net=amount)
                extra.append(line)
                record(fault, line, 0)  # the statement's credit moves by line.net, this terminal's does not
            elif kind == "statement_total_mismatch":
                shift = -rng.randint(1, 999)
                credit_shift += shift
                applied.append({"fault": kind, "finding": "total_differs", "rrn": None, "terminal_id": None,
                                "effect": shift})
    kept = [x for x in lines if x is not None] + extra
    net = sum(x.net for x in kept)
    return dataclasses.replace(statement, lines=tuple(kept), credit=net + credit_shift), applied
