"""The reconciler's rules, sans-IO: hand-made journal facts and statements, one finding at a time."""

from __future__ import annotations

import dataclasses

import pytest

from agent.reconcile.fees import DEFAULT_CONTRACT
from agent.reconcile.reconciler import JournalFact, reconcile
from agent.reconcile.statement import Statement, StatementLine

DAY = "20261203"
TID = "10000001"


def fact(i: int, kind: str = "sale", state: str = "approved", amount: int = 10000, *, settled_on: str | None = DAY,
         pan: str = "622609******0048", batch: int = 1) -> JournalFact:
    return JournalFact(id=i, kind=kind, state=state, amount=amount, trace=i, batch=batch, rrn=f"{i:012d}", date=DAY,
                       pan_masked=pan, settled_on=settled_on)


def line_for(f: JournalFact, *, card_type: str = "debit", **changes) -> StatementLine:
    kind = "sale" if f.kind in ("sale", "correction") else f.kind
    amount = f.amount if kind == "sale" else -f.amount
    fee = DEFAULT_CONTRACT.line_fee(kind, card_type, amount)
    line = StatementLine(DAY, DAY, "101500", TID, f.batch, f.trace, f.rrn, "123456", f.pan_masked or "", card_type,
                         kind, amount, fee, amount - fee)
    line = dataclasses.replace(line, **changes)
    return dataclasses.replace(line, net=line.amount - line.fee)


def run(facts, lines, credit_shift: int = 0):
    statement = Statement("123456789012345", "m", DAY, "CNY", tuple(lines), sum(x.net for x in lines) + credit_shift)
    return reconcile(facts, statement, DEFAULT_CONTRACT, terminal_id=TID, credit_bins=("625094",))


def kinds(report) -> list[tuple[str, int]]:
    return [(d.kind, d.effect) for d in report.discrepancies]


def test_a_clean_day_is_balanced():
    facts = [fact(1), fact(2, "refund", amount=300), fact(3, pan="625094******0016")]
    report = run(facts, [line_for(facts[0]), line_for(facts[1]), line_for(facts[2], card_type="credit")])
    assert report.balanced and report.owed == report.credited == 9950 - 300 + 9940


def test_amount_differs_and_its_effect_includes_the_fee_on_the_wrong_amount():
    f = fact(1)
    report = run([f], [line_for(f, amount=9000, fee=45)])
    assert kinds(report) == [("amount_differs", (9000 - 45) - (10000 - 50))]


def test_matching_falls_back_to_batch_and_trace_when_the_rrn_differs():
    f = fact(1)
    report = run([f], [line_for(f, rrn="ABCDEF123456")])
    assert report.balanced


def test_an_in_doubt_sale_settled_by_the_bank_is_a_finding():
    f = fact(1, state="in_doubt")
    assert kinds(run([f], [line_for(f)])) == [("cancelled_but_settled", 9950)]


def test_a_line_of_another_days_batch():
    f = fact(1, settled_on="20261202")
    report = run([f], [line_for(f)])
    assert kinds(report) == [("other_day", 9950)] and report.owed == 0


def test_unknown_line_of_this_terminal():
    f = fact(1)
    report = run([], [line_for(f)])
    assert kinds(report) == [("not_in_journal", 9950)]


def test_credit_rate_on_a_debit_card_is_a_fee_finding():
    f = fact(1)
    report = run([f], [line_for(f, card_type="credit")])
    assert kinds(report) == [("fee_differs", -10)]


def test_voided_and_refunded_in_the_journal_but_settled_in_full():
    sale, void = fact(1, state="voided"), fact(2, "void", amount=10000)
    sale2, refund = fact(3, state="refunded"), fact(4, "refund", amount=10000)
    report = run([sale, void, sale2, refund], [line_for(sale), line_for(sale2)])
    assert kinds(report) == [("voided_but_settled", 10000 - 50), ("refunded_but_settled", 10000)]
    assert report.explained == report.difference and report.claim_total == -report.difference


def test_total_that_disagrees_and_several_findings_add_up():
    a, b = fact(1), fact(2, amount=55555)
    report = run([a, b], [line_for(a), line_for(a)], credit_shift=-7)
    assert sorted(k for k, _ in kinds(report)) == ["counted_twice", "not_credited", "total_differs"]
    assert report.unexplained == 0 and report.explained == report.difference


@pytest.mark.parametrize("pan, expected", [("625094******0016", "credit"), ("622609******0048", "debit"), (None, "debit")])
def test_card_type_from_the_card_prefix(pan, expected):
    from agent.cardtypes import card_type
    assert card_type(pan, ("625094",)) == expected
    assert card_type(pan, ()) == "debit"


@pytest.mark.parametrize("aid, expected", [("A000000333010101", "debit"), ("A000000333010102", "credit"),
                                           ("A000000333010103", "credit"), ("a000000333010102", "credit")])
def test_a_unionpay_chip_application_names_its_card_type_whatever_the_prefix(aid, expected):
    from agent.cardtypes import card_type
    assert card_type("622609******0048", ("622609",), aid) == expected
    assert card_type("622609******0048", (), aid) == expected


@pytest.mark.parametrize("aid", ["A0000003330101", "A0000000031010", "", None, "A000000333010199"])
def test_any_other_application_falls_back_to_the_card_number_prefix(aid):
    from agent.cardtypes import card_type
    assert card_type("625094******0016", ("625094",), aid) == "credit"
    assert card_type("622609******0048", ("625094",), aid) == "debit"
