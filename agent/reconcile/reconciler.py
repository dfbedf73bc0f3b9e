"""The reconciler, sans-IO: journal facts + a parsed statement + the fee contract → what differs.

Every statement line of this terminal is matched with the journal by RRN and date, else by batch and
trace; lines of other terminals are listed apart and take no part in this terminal's difference or claim.
Each finding is a `Discrepancy` whose `effect` is what it adds to (credited − owed), in minor units, so
the findings add up to the day's difference; whatever they do not explain is reported as such.

What the journal says the acquirer owes for a settlement date: every transaction in the batches the
terminal settled that day — approved sales (also those later voided or refunded: the void or refund
is its own line), approved voids and approved refunds — each at its amount less the contracted fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from agent.cardtypes import card_type
from agent.reconcile.fees import DEBIT_KINDS, FeeContract
from agent.reconcile.statement import Statement, StatementLine
from agent.journal.states import TxnState

#: the kinds of finding, each with its English and Chinese name (the report and the claim letter use them)
KINDS = MappingProxyType({
    "not_in_journal": ("on the statement, not in the journal", "对账单有、终端流水无"),
    "not_credited": ("in the journal, not credited", "终端流水有、未入账"),
    "amount_differs": ("amount differs", "金额不符"),
    "counted_twice": ("counted twice", "重复入账"),
    "cancelled_but_settled": ("reversed or never approved, but settled", "已冲正/未成功仍结算"),
    "voided_but_settled": ("voided, but settled in full", "已撤销仍全额结算"),
    "refunded_but_settled": ("refunded, but settled in full", "已退货仍全额结算"),
    "fee_differs": ("fee differs from the contracted rate", "手续费与合同费率不符"),
    "other_day": ("settled in a batch of another day", "属于其他结算日的批次"),
    "total_differs": ("statement total differs from its own lines", "对账单合计与明细不符"),
})
#: the section of a statement's lines of other terminals (listed apart, never in this terminal's claim)
OTHER_TERMINALS = ("lines of other terminals (not this terminal's transactions; not in this claim)",
                   "其他终端的交易(非本终端交易，不计入本申请)")
#: journal transaction kinds on the debit side of a settlement (a correction is a sale of its own)
SALE_KINDS = ("sale", "correction")
#: states in which an approved sale is still owed on the statement
SETTLED_SALE_STATES = (TxnState.APPROVED, TxnState.VOIDED, TxnState.REFUNDED_PARTIALLY,
                       TxnState.REFUNDED)


@dataclass(frozen=True)
class JournalFact:
    """What the journal knows of one financial transaction."""

    id: int
    kind: str
    state: str
    amount: int
    trace: int
    batch: int
    rrn: str | None
    date: str  # YYYYMMDD, local, when it was made
    pan_masked: str | None
    settled_on: str | None  # YYYYMMDD its batch was settled, None while open

    def expected_line(self) -> str | None:
        """The statement line kind this transaction must appear as, None if it must not appear."""
        if self.kind in SALE_KINDS:
            return "sale" if self.state in SETTLED_SALE_STATES else None
        if self.kind == "completion":  # a pre-auth completion is settled like a sale, under its own name
            return "completion" if self.state in SETTLED_SALE_STATES else None
        if self.kind in ("void", "refund", "completion_void"):
            return self.kind if self.state == TxnState.APPROVED else None
        return None


@dataclass(frozen=True)
class Discrepancy:
    kind: str
    effect: int  # added to (credited − owed)
    txn_id: int | None = None
    line: StatementLine | None = None
    expected_amount: int | None = None
    expected_fee: int | None = None
    detail: str = ""
    rrn: str | None = None  # of the line, else of the journal transaction

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rrn": self.rrn or (self.line.rrn if self.line else None), "what": KINDS[self.kind][0], "what_zh": KINDS[self.kind][1],
                "effect": self.effect, "txn_id": self.txn_id, "line": self.line.as_dict() if self.line else None,
                "expected_amount": self.expected_amount, "expected_fee": self.expected_fee, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Discrepancy":
        line = data.get("line")
        return cls(data["kind"], data["effect"], data.get("txn_id"), StatementLine.from_dict(line) if line else None,
                   data.get("expected_amount"), data.get("expected_fee"), data.get("detail") or "", data.get("rrn"))


@dataclass(frozen=True)
class Reconciliation:
    settlement_date: str
    merchant_id: str
    terminal_id: str
    owed: int  # what the journal and the contract say the acquirer owes
    credited: int  # what the statement says it credited for this terminal: its total less other terminals' lines
    lines: int
    expected: int  # journal transactions expected on the statement
    discrepancies: tuple[Discrepancy, ...]
    other_terminals: tuple[StatementLine, ...] = ()  # lines of other terminals, listed apart

    @property
    def other_terminals_net(self) -> int:
        return sum(line.net for line in self.other_terminals)

    @property
    def statement_credit(self) -> int:
        """The statement's own credit total, every terminal's lines included."""
        return self.credited + self.other_terminals_net

    @property
    def difference(self) -> int:
        return self.credited - self.owed

    @property
    def explained(self) -> int:
        return sum(d.effect for d in self.discrepancies)

    @property
    def unexplained(self) -> int:
        return self.difference - self.explained

    @property
    def balanced(self) -> bool:
        return not self.discrepancies and self.difference == 0

    @property
    def claim_total(self) -> int:
        """What the acquirer kept that the merchant is owed (negative: the merchant was paid too much)."""
        return -self.difference

    def as_dict(self) -> dict[str, Any]:
        return {"settlement_date": self.settlement_date, "merchant_id": self.merchant_id,
                "terminal_id": self.terminal_id, "owed": self.owed, "credited": self.credited,
                "difference": self.difference, "explained": self.explained, "unexplained": self.unexplained,
                "balanced": self.balanced, "claim_total": self.claim_total, "statement_lines": self.lines,
                "journal_transactions_expected": self.expected,
                "discrepancies": [d.as_dict() for d in self.discrepancies],
                "statement_credit": self.statement_credit,
                "other_terminals": {"lines": [line.as_dict() for line in self.other_terminals],
                                    "net": self.other_terminals_net}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Reconciliation":
        """The report back from `as_dict`: what the daemon answered, for the report and the claim letters."""
        return cls(data["settlement_date"], data["merchant_id"], data["terminal_id"], data["owed"], data["credited"],
                   data["statement_lines"], data["journal_transactions_expected"],
                   tuple(Discrepancy.from_dict(d) for d in data["discrepancies"]),
                   tuple(StatementLine.from_dict(x) for x in data["other_terminals"]["lines"]))


def reconcile(facts: Iterable[JournalFact], statement: Statement, contract: FeeContract, *, terminal_id: str,
              credit_bins: tuple[str, ...] = ()) -> Reconciliation:
    """Compare one day's statement with the journal; pure: no clock, no files."""
    date = statement.settlement_date
    facts = list(facts)
    by_rrn = {(f.rrn, f.date): f for f in facts if f.rrn}
    by_trace = {(f.batch, f.trace): f for f in facts}
    expected = [f for f in facts if f.settled_on == date and f.expected_line() is not None]
    expected_ids = {f.id for f in expected}

    def owed_of(fact: JournalFact) -> tuple[int, int]:
        kind = fact.expected_line() or "sale"
        amount = fact.amount if kind in DEBIT_KINDS else -fact.amount
        return amount, contract.line_fee(kind, card_type(fact.pan_masked, credit_bins), amount)

    found: list[Discrepancy] = []
    seen: set[int] = set()
    others = tuple(line for line in statement.lines if line.terminal_id != terminal_id)
    for line in statement.lines:
        if line.terminal_id != terminal_id:
            continue  # another terminal's: listed apart, never part of this terminal's difference
        fact = by_rrn.get((line.rrn, line.txn_date)) or by_trace.get((line.batch_no, line.trace_no))
        if fact is None:
            found.append(Discrepancy("not_in_journal", line.net, line=line))
        elif fact.id in seen:
            found.append(Discrepancy("counted_twice", line.net, fact.id, line))
        else:
            seen.add(fact.id)
            found += _compare(fact, line, expected_ids, owed_of)
    for fact in expected:
        if fact.id not in seen:
            amount, fee = owed_of(fact)
            kind = {"void": "voided_but_settled", "completion_void": "voided_but_settled",
                    "refund": "refunded_but_settled"}.get(fact.kind, "not_credited")
            found.append(Discrepancy(kind, -(amount - fee), fact.id, None, amount, fee, rrn=fact.rrn))
    if statement.credit != statement.lines_net:
        # expected_amount: the credit its own lines add up to
        found.append(Discrepancy("total_differs", statement.credit - statement.lines_net,
                                 line=None, expected_amount=statement.lines_net))
    owed = sum(a - f for a, f in map(owed_of, expected))
    credited = statement.credit - sum(line.net for line in others)
    return Reconciliation(date, statement.merchant_id, terminal_id, owed, credited, len(statement.lines),
                          len(expected), tuple(found), others)


def _compare(fact: JournalFact, line: StatementLine, expected_ids: set[int],
             owed_of: Callable[[JournalFact], tuple[int, int]]) -> list[Discrepancy]:
    if fact.expected_line() is None:
        return [Discrepancy("cancelled_but_settled", line.net, fact.id, line, 0, 0,
                            f"journal state {fact.state}")]
    if fact.id not in expected_ids:
        return [Discrepancy("other_day", line.net, fact.id, line,
                            detail=f"batch {fact.batch:06d} settled on {fact.settled_on or 'no day yet'}")]
    amount, fee = owed_of(fact)
    if line.amount != amount or line.txn_type != fact.expected_line():
        return [Discrepancy("amount_differs", line.net - (amount - fee), fact.id, line, amount, fee)]
    if line.fee != fee:
        return [Discrepancy("fee_differs", fee - line.fee, fact.id, line, amount, fee)]
    return []
