"""Suspected duplicates across tills and the office's view of transactions, without a database: the events
a terminal ships become transactions (`posoffice.report.transactions`), and the same amount on two tills
of one merchant within the window is listed with its fix."""

from __future__ import annotations

import pytest

from posoffice.duplicates import find_duplicates
from posoffice.report import Transaction, transactions

MERCHANTS = {"T1": "M1", "T2": "M1", "T3": "M2"}


def charge(terminal: str, txn_id: int, amount: int, at: float, *, settled: bool = False, kind: str = "sale",
           state: str = "approved") -> Transaction:
    return Transaction(terminal, txn_id, kind, amount, trace=txn_id + 10, batch=1, state=state, made_at=at,
                       settled_at=at + 3600 if settled else None)


def test_the_same_amount_on_two_tills_of_one_merchant_within_the_window_is_a_duplicate():
    txns = [charge("T1", 1, 5000, 100.0), charge("T2", 1, 5000, 160.0), charge("T3", 1, 5000, 170.0),
            charge("T1", 2, 5000, 1000.0), charge("T1", 3, 777, 100.0), charge("T2", 2, 777, 900.0)]
    found = find_duplicates(txns, MERCHANTS, window_s=300)
    assert [(d.first.terminal, d.second.terminal, d.first.amount) for d in found] == [("T1", "T2", 5000)]
    assert found[0].seconds_apart == 60.0


def test_the_fix_is_a_void_while_the_batch_is_open_else_a_refund():
    open_pair = find_duplicates([charge("T1", 1, 5000, 100.0), charge("T2", 1, 5000, 110.0)], MERCHANTS)
    assert open_pair[0].fix([])["action"] == "void" and open_pair[0].fix([])["terminal"] == "T2"
    txns = [charge("T1", 1, 5000, 100.0, settled=True), charge("T2", 1, 5000, 110.0, settled=True),
            charge("T2", 2, 5000, 500.0, kind="refund")]
    settled = find_duplicates(txns, MERCHANTS)[0].fix(txns)
    assert settled["action"] == "refund" and settled["amount"] == 5000 and "settled" in settled["why"]
    assert settled["already"] == [{"kind": "refund", "trace": 12, "txn_id": 2}]


def test_declined_reversed_and_non_charges_are_never_duplicates():
    txns = [charge("T1", 1, 5000, 100.0), charge("T2", 1, 5000, 110.0, state="reversed"),
            charge("T2", 2, 5000, 120.0, state="declined"), charge("T2", 3, 5000, 130.0, kind="refund")]
    assert find_duplicates(txns, MERCHANTS) == []
    with pytest.raises(ValueError, match="0 seconds or more"):
        find_duplicates(txns, MERCHANTS, window_s=-1)


def test_transactions_come_from_the_events_with_the_day_their_batch_was_settled():
    events = [("T1", 1, 1, "txn.begin", 100.0, {"kind": "sale", "amount": 1200, "trace": 2, "batch": 1}),
              ("T1", 2, 1, "txn.complete", 101.0, {"state": "approved"}),
              ("T1", 3, 2, "txn.begin", 102.0, {"kind": "sale", "amount": 300, "trace": 3, "batch": 1}),
              ("T1", 4, 2, "txn.fail", 103.0, {"reason": "98"}),
              ("T1", 5, 2, "reversal.done", 104.0, {"reversal": 1}),
              ("T1", 6, 3, "txn.begin", 105.0, {"kind": "preauth", "amount": 900, "trace": 4, "batch": 1}),
              ("T1", 7, None, "settlement.finish", 200.0, {"batch": 1, "next": 2}),
              ("T1", 8, 4, "txn.begin", 300.0, {"kind": "refund", "amount": 100, "trace": 5, "batch": 2}),
              ("T1", 9, 4, "txn.complete", 301.0, {"state": "approved"})]
    got = {t.txn_id: t for t in transactions(events)}
    assert sorted(got) == [1, 2, 4]  # a pre-authorization is never on a statement
    assert (got[1].state, got[1].settled_at, got[1].trace) == ("approved", 200.0, 2)
    assert got[2].state == "reversed" and got[4].settled_at is None
