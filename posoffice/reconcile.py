"""A merchant's statement against every terminal's journal as the office holds it — sans-IO.

The statement lists the lines of all the merchant's terminals under one credit.  Each terminal the office
knows is reconciled by the terminal's own reconciler (`agent.reconcile.reconciler.reconcile`) on its own
lines, with the transactions the office derived from its events (`posoffice.report.transactions`), so the
findings are the same kinds a terminal's `posagent reconcile` reports.  The office adds two of its own:
a line of a terminal it does not know (or of another merchant's terminal), and a credit total that
differs from the statement's own lines; each finding's `effect` is what it adds to (credited − owed), so
the findings of every terminal add up to the day's difference, to the cent.

Lines are matched as the terminal matches them: by RRN and date where the line and the journal both
have one (`txn.complete` carries the RRN), else by batch and trace.  The card type that sets a fee comes
from the masked card on `txn.begin` (its BIN against the contract's credit BINs), else from the matched
line's masked card.  Events written before the journal carried those are still reconciled: without an
RRN a transaction is matched by batch and trace and a missing line's RRN is not known; without a card a
transaction missing from the statement is estimated at the debit rate.  Both say so in the finding.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import tzinfo
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from agent.reconcile.fees import FeeContract
from agent.reconcile.reconciler import KINDS as TERMINAL_KINDS
from agent.reconcile.reconciler import Discrepancy, JournalFact, Reconciliation, reconcile
from agent.reconcile.statement import Statement, StatementLine
from posoffice.report import DayOf, Transaction

#: the office's own kinds of finding, with their English and Chinese names
OFFICE_KINDS = MappingProxyType({
    "unknown_terminal": ("a line of a terminal the office does not know", "后台未登记终端的交易"),
    "other_merchant": ("a line of another merchant's terminal", "其他商户终端的交易"),
})
#: every kind a merchant reconciliation reports
KINDS = MappingProxyType({**TERMINAL_KINDS, **OFFICE_KINDS})
NO_RRN = "this transaction's events carry no RRN"
DEBIT_ESTIMATE = "fee estimated at the debit rate: this transaction's events carry no card number"


@dataclass(frozen=True)
class Finding:
    """One item of a merchant reconciliation: the terminal's finding, with the terminal, trace and batch."""

    terminal_id: str | None  # None: the statement's total
    discrepancy: Discrepancy
    trace: int | None = None
    batch: int | None = None

    @property
    def kind(self) -> str:
        return self.discrepancy.kind

    @property
    def effect(self) -> int:
        return self.discrepancy.effect

    @property
    def rrn(self) -> str | None:
        d = self.discrepancy
        return d.line.rrn if d.line is not None else d.rrn

    def as_dict(self) -> dict[str, Any]:
        d = self.discrepancy
        return {"kind": d.kind, "what": KINDS[d.kind][0], "what_zh": KINDS[d.kind][1], "terminal_id": self.terminal_id,
                "trace": self.trace, "batch": self.batch, "rrn": self.rrn, "effect": d.effect, "txn_id": d.txn_id,
                "line": d.line.as_dict() if d.line else None, "expected_amount": d.expected_amount,
                "expected_fee": d.expected_fee, "detail": d.detail}


@dataclass(frozen=True)
class MerchantReconciliation:
    merchant_id: str
    settlement_date: str
    statement_lines: int
    credited: int  # the statement's credit, every line included
    terminals: tuple[Reconciliation, ...]  # one per terminal of the merchant the office knows
    findings: tuple[Finding, ...]
    backlog: Mapping[str, int | None] = field(default_factory=dict)  # events a terminal holds that the office does not

    @property
    def owed(self) -> int:
        return sum(r.owed for r in self.terminals)

    @property
    def difference(self) -> int:
        return self.credited - self.owed

    @property
    def explained(self) -> int:
        return sum(f.effect for f in self.findings)

    @property
    def unexplained(self) -> int:
        return self.difference - self.explained

    @property
    def balanced(self) -> bool:
        return not self.findings and self.difference == 0

    @property
    def claim_total(self) -> int:
        """What the acquirer kept that the merchant is owed (negative: the merchant was paid too much)."""
        return -self.difference

    def as_dict(self) -> dict[str, Any]:
        return {"merchant_id": self.merchant_id, "settlement_date": self.settlement_date,
                "statement_lines": self.statement_lines, "owed": self.owed, "credited": self.credited,
                "difference": self.difference, "explained": self.explained, "unexplained": self.unexplained,
                "balanced": self.balanced, "claim_total": self.claim_total,
                "terminals": [{"terminal_id": r.terminal_id, "owed": r.owed, "credited": r.credited,
                               "difference": r.difference, "journal_transactions_expected": r.expected,
                               "statement_lines": r.lines, "backlog": self.backlog.get(r.terminal_id)}
                              for r in self.terminals],
                "findings": [f.as_dict() for f in self.findings]}


def journal_facts(txns: Iterable[Transaction], zone: tzinfo | None) -> list[JournalFact]:
    """The terminal reconciler's facts from the office's transactions (RRN and card None from older events)."""
    made_on, settled_on = DayOf(zone), DayOf(zone)  # two: a terminal's sales and its settlements each come in order
    return [JournalFact(t.txn_id, t.kind, t.state or "sending", t.amount, t.trace, t.batch, t.rrn, made_on(t.made_at),
                        t.card, None if t.settled_at is None else settled_on(t.settled_at)) for t in txns]


def reconcile_merchant(statement: Statement, transactions: Iterable[Transaction], merchant_of: Mapping[str, str],
                       contract: FeeContract, *, zone: tzinfo | None, credit_bins: tuple[str, ...] = (),
                       backlog: Mapping[str, int | None] | None = None) -> MerchantReconciliation:
    """`merchant_of`: terminal id → merchant id of every terminal the office knows; `transactions`: those of the
    statement's merchant's terminals.  Pure: no clock, no database."""
    merchant = statement.merchant_id
    ours = sorted(t for t, m in merchant_of.items() if m == merchant)
    by_terminal: dict[str, list[Transaction]] = {t: [] for t in ours}
    for txn in transactions:
        if txn.terminal in by_terminal:
            by_terminal[txn.terminal].append(txn)
    lines_of: dict[str, list[StatementLine]] = {t: [] for t in ours}
    findings: list[Finding] = []
    for line in statement.lines:
        if line.terminal_id in lines_of:
            lines_of[line.terminal_id].append(line)
        else:
            kind = "other_merchant" if line.terminal_id in merchant_of else "unknown_terminal"
            detail = f"merchant {merchant_of[line.terminal_id]}" if kind == "other_merchant" else ""
            findings.append(Finding(line.terminal_id, Discrepancy(kind, line.net, line=line, detail=detail),
                                    line.trace_no, line.batch_no))
    reports = []
    for terminal in ours:
        facts = _with_cards(journal_facts(by_terminal[terminal], zone), lines_of[terminal])
        own = dataclasses.replace(statement, lines=tuple(lines_of[terminal]),
                                  credit=sum(x.net for x in lines_of[terminal]))
        report = reconcile(facts, own, contract, terminal_id=terminal, credit_bins=credit_bins)
        reports.append(report)
        by_id = {f.id: f for f in facts}
        for d in report.discrepancies:
            fact = by_id.get(d.txn_id) if d.txn_id is not None else None
            if d.line is None and fact is not None:
                notes = ([NO_RRN] if fact.rrn is None else []) + (
                    [DEBIT_ESTIMATE] if fact.pan_masked is None and d.kind == "not_credited" else [])
                d = dataclasses.replace(d, detail="; ".join(x for x in (d.detail, *notes) if x))
            trace = d.line.trace_no if d.line is not None else (fact.trace if fact else None)
            batch = d.line.batch_no if d.line is not None else (fact.batch if fact else None)
            findings.append(Finding(terminal, d, trace, batch))
    if statement.credit != statement.lines_net:
        findings.append(Finding(None, Discrepancy("total_differs", statement.credit - statement.lines_net,
                                                  expected_amount=statement.lines_net)))
    order = {t: i for i, t in enumerate(ours)}
    findings.sort(key=lambda f: (f.terminal_id is None, order.get(f.terminal_id or "", -1), f.terminal_id or "",
                                 f.discrepancy.line.line if f.discrepancy.line else 1 << 30, f.trace or 0))
    return MerchantReconciliation(merchant, statement.settlement_date, len(statement.lines), statement.credit,
                                  tuple(reports), tuple(findings), MappingProxyType(dict(backlog or {})))


def _with_cards(facts: list[JournalFact], lines: list[StatementLine]) -> list[JournalFact]:
    """A fact whose events carry no masked card (an older journal) takes the card of the line it matches (by RRN
    and date, else batch and trace): the card sets its fee's card type."""
    by_rrn: dict[tuple[str, str], str] = {}  # (RRN, date) → masked card
    by_trace: dict[tuple[int, int], str] = {}  # (batch, trace) → masked card
    for line in lines:
        by_rrn.setdefault((line.rrn, line.txn_date), line.card_no)
        by_trace.setdefault((line.batch_no, line.trace_no), line.card_no)

    def card_of(f: JournalFact) -> str | None:
        return (by_rrn.get((f.rrn, f.date)) if f.rrn else None) or by_trace.get((f.batch, f.trace))
    return [f if f.pan_masked else dataclasses.replace(f, pan_masked=card_of(f)) for f in facts]
