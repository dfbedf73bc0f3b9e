"""Suspected duplicates across tills, what a sale still has to refund, and the office's view of transactions,
without a database: the events a terminal ships become transactions (`posoffice.report.transactions`); the
same card and amount on two tills of one merchant within the window is listed with its fix, and leaves the
list once a void or refund naming it was approved; older events without a card are keyed on the amount."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from posoffice.duplicates import find_duplicates
from posoffice.refunds import find_sales, mmdd, refundable_of
from posoffice.report import Transaction, transactions

MERCHANTS = {"T1": "M1", "T2": "M1", "T3": "M2"}


def charge(terminal: str, txn_id: int, amount: int, at: float, *, settled: bool = False, kind: str = "sale",
           state: str | None = "approved", card: str | None = None, **known) -> Transaction:
    return Transaction(terminal, txn_id, kind, amount, trace=txn_id + 10, batch=1, state=state, made_at=at,
                       settled_at=at + 3600 if settled else None, card=card, **known)


DEBIT, CREDIT = "622609******0048", "625094******0016"


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
    assert settled["already"] == [{"kind": "refund", "terminal": "T2", "trace": 12, "txn_id": 2, "amount": 5000,
                                   "names_it": False}]  # an older journal's refund: it names no charge


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


# ----------------------------------------------------------------------------- the card, and fixes that name it
def test_the_same_amount_on_two_cards_is_not_a_duplicate_and_one_card_is():
    txns = [charge("T1", 1, 5000, 100.0, card=DEBIT, fingerprint="a" * 64),
            charge("T2", 1, 5000, 110.0, card=CREDIT, fingerprint="b" * 64),
            charge("T2", 2, 5000, 120.0, card=DEBIT, fingerprint="c" * 64)]
    found = find_duplicates(txns, MERCHANTS)
    # each till has its own fingerprint key: the fingerprints differ, the masked card decides
    assert [(d.first.txn_id, d.second.terminal, d.second.txn_id, d.matched_by) for d in found] == [
        (1, "T2", 2, "masked card")]
    shared = [charge("T1", 1, 700, 100.0, card=DEBIT, fingerprint="f" * 64),
              charge("T2", 1, 700, 110.0, card=DEBIT, fingerprint="f" * 64)]
    assert find_duplicates(shared, MERCHANTS)[0].matched_by == "fingerprint"
    older = [charge("T1", 1, 700, 100.0), charge("T2", 1, 700, 110.0, card=DEBIT)]
    assert find_duplicates(older, MERCHANTS)[0].matched_by == "amount"


def test_a_void_or_full_refund_naming_either_charge_takes_the_pair_off_the_list():
    first, second = charge("T1", 1, 5000, 100.0, card=DEBIT), charge("T2", 1, 5000, 110.0, card=DEBIT)
    void = charge("T2", 2, 5000, 200.0, kind="void", original=1)
    [pair] = find_duplicates([first, second, void], MERCHANTS)
    assert pair.fixed([first, second, void])
    fix = pair.fix([first, second, void])
    assert fix["action"] == "none" and "already fixed: void trace 000012 on terminal T2" in fix["why"]
    declined = charge("T2", 2, 5000, 200.0, kind="void", original=1, state="declined")
    assert not pair.fixed([first, second, declined])
    elsewhere = charge("T1", 2, 5000, 200.0, kind="void", original=1)  # T1's own txn 1: the first charge
    assert pair.fixed([first, second, elsewhere])
    part = charge("T2", 3, 2000, 300.0, kind="refund", original=1, settled=True)
    fix = pair.fix([first, second, part])
    assert not pair.fixed([first, second, part])
    assert (fix["action"], fix["amount"]) == ("refund", 3000) and fix["already"][0]["names_it"]


def test_what_is_refundable_counts_refunds_on_every_till_and_ends_with_a_void():
    sale = charge("T1", 1, 10_000, 1_000_000.0, rrn="000000123456")
    date = mmdd(sale.made_at, None)
    here = charge("T1", 2, 3000, 1_000_100.0, kind="refund", original=1)
    there = charge("T2", 7, 2000, 1_000_200.0, kind="refund", original_rrn="000000123456", original_date=date)
    asking = charge("T2", 8, 1000, 1_000_300.0, kind="refund", state=None, original_rrn="000000123456",
                    original_date=date)
    other_day = charge("T2", 9, 4000, 1_000_300.0, kind="refund", original_rrn="000000123456", original_date="0101")
    same_id_other_till = charge("T2", 10, 500, 1_000_300.0, kind="refund", original=1)
    txns = [sale, here, there, asking, other_day, same_id_other_till]
    assert find_sales(txns, "000000123456", date, None) == [sale]
    assert find_sales(txns, "000000123456", "0101" if date != "0101" else "0102", None) == []
    left = refundable_of(sale, txns, None)
    assert (left.refunded, left.under_way, left.refundable) == (5000, 1000, 4000)
    voided = refundable_of(sale, [*txns, charge("T1", 3, 10_000, 1_000_400.0, kind="void", original=1)], None)
    assert voided.refundable == 0 and "voided" in voided.why_none
    in_doubt = refundable_of(dataclasses.replace(sale, state="in_doubt"), txns, None)
    assert in_doubt.refundable == 0 and "in_doubt" in in_doubt.why_none


def test_older_and_newer_events_both_become_transactions():
    events = [("T1", 1, 1, "txn.begin", 100.0, {"kind": "sale", "amount": 1200, "trace": 2, "batch": 1}),
              ("T1", 2, 1, "txn.complete", 101.0, {"state": "approved", "response_code": "00"}),
              ("T1", 3, 2, "txn.begin", 102.0, {"kind": "sale", "amount": 900, "trace": 3, "batch": 1,
                                                 "card": DEBIT, "fingerprint": "ab" * 32, "original": None}),
              ("T1", 4, 2, "txn.complete", 103.0, {"state": "approved", "rrn": "000000000042", "auth_code": "A1B2C3"}),
              ("T1", 5, 3, "txn.begin", 104.0, {"kind": "void", "amount": 900, "trace": 4, "batch": 1,
                                                 "card": DEBIT, "fingerprint": "ab" * 32, "original": 2})]
    old, new, void = transactions(events)
    assert (old.card, old.rrn, old.original) == (None, None, None)
    assert (new.card, new.rrn, new.auth_code, new.original) == (DEBIT, "000000000042", "A1B2C3", None)
    assert void.original == 2 and void.state is None


# ----------------------------------------------------------------------------- a statement, older and newer events
def test_a_sale_missing_from_the_statement_is_named_by_its_rrn_and_charged_at_its_card_s_rate():
    from agent.reconcile.fees import DEFAULT_CONTRACT
    from agent.reconcile.statement import Statement
    from posoffice.reconcile import DEBIT_ESTIMATE, NO_RRN, reconcile_merchant

    new = charge("T1", 1, 100_000, 1_000_000.0, card=CREDIT, rrn="000000777777", settled=True)
    old = charge("T1", 2, 100_000, 1_000_010.0, settled=True)
    settled_on = datetime.fromtimestamp(new.settled_at).strftime("%Y%m%d")
    empty = Statement("M1", "", settled_on, "156", (), 0)
    report = reconcile_merchant(empty, [new, old], MERCHANTS, DEFAULT_CONTRACT, zone=None, credit_bins=("625094",))
    by_txn = {f.discrepancy.txn_id: f for f in report.findings}
    assert by_txn[1].rrn == "000000777777" and by_txn[1].discrepancy.expected_fee == 600  # credit: 0.60 %
    assert NO_RRN not in by_txn[1].discrepancy.detail and DEBIT_ESTIMATE not in by_txn[1].discrepancy.detail
    assert by_txn[2].rrn is None and by_txn[2].discrepancy.expected_fee == 500  # no card known: the debit rate
    assert NO_RRN in by_txn[2].discrepancy.detail and DEBIT_ESTIMATE in by_txn[2].discrepancy.detail
    assert report.unexplained == 0
