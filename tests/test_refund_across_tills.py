"""S4 across tills: a refund keyed at one till, by the RRN and date on the customer's slip, of a sale made at
another till of the same merchant.  The back office says what the sale still has to refund across the store;
the refund takes at most that and names the sale by RRN + date, so the office counts it too.  When the
office cannot be asked, `[refunds] office_unreachable` refuses or lets the supervisor's refund go unchecked
(journaled `refund.unchecked`); without a back office the refund is refused as before.

First the plan, sans-IO, with the simulator's acquirer and a stand-in office; then the real parts: two
daemons of one merchant and a third of another against one `posim host`, shipping to the collector on a
real PostgreSQL, refunding through the CLI and the control API, checked on the acquirer's ledger."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from agent.engine import effects as fx, operations as ops
from agent.engine.effects import EngineError
from agent.engine.requests import local_mmdd
from agent.journal import JournalError
from tests.enginekit import CASHIER, PROFILE, SUPERVISOR, World


# ---------------------------------------------------------------- the plan, sans-IO

class Till(World):
    """A till of the engine's tests whose back office answers what `office` says (an `OfficeAnswer`)."""

    office: fx.OfficeAnswer | None = None
    asked: list

    def perform(self, effect):
        if isinstance(effect, fx.AskOffice):
            self.asked.append((effect.rrn, effect.date))
            return self.office
        return super().perform(effect)


@pytest.fixture
def tills(tmp_path):
    """Till A (10000001) and till B (10000002): two journals, one acquirer (B uses A's host and ledger)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Till(tmp_path / "a")
    b = Till(tmp_path / "b", profile=replace(PROFILE, terminal_id="10000002"))
    b.ledger.close()
    b.ledger, b.host, b.clock = a.ledger, a.host, a.clock
    a.asked, b.asked = [], []
    yield a, b
    a.journal.close()
    b.journal.close()
    a.ledger.close()


def _sale(till: Till, amount: int):
    outcome = till.run(ops.sale(till.profile, ops.SaleRequest(amount, test_card="debit", confirm_duplicate=True),
                                CASHIER))
    assert outcome.status == "approved", outcome.message
    return outcome.txn


def _refund(till: Till, rrn: str, date: str, amount: int | None, policy: str | None = "refuse", **kw):
    return till.run(ops.refund(till.profile, ops.RefundRequest(rrn=rrn, date=date, amount=amount,
                                                               office_unreachable=policy, **kw), SUPERVISOR))


def test_the_office_says_what_is_left_and_the_refund_takes_at_most_that(tills):
    a, b = tills
    sale = _sale(a, 10000)
    date = local_mmdd(sale.created_at)
    b.office = fx.OfficeAnswer(refundable=7000)
    sent_before = len(b.exchanges)
    with pytest.raises(EngineError) as refused:
        _refund(b, sale.rrn, date, 7001)
    assert refused.value.code == "amount_too_large" and "70.00" in str(refused.value)
    assert len(b.exchanges) == sent_before  # nothing sent
    outcome = _refund(b, sale.rrn, date, 4000)
    assert outcome.status == "approved", outcome.message
    assert "refundable across the store: 30.00" in outcome.message
    assert b.asked == [(sale.rrn, date)] * 2
    # what went to the acquirer: the refund by RRN and date, as for a sale found in the journal
    sent = next(m["body"] for m in b.journal.messages(outcome.txn.id) if m["body"]["mti"] == "0220")
    assert sent["fields"]["37"] == sale.rrn and sent["fields"]["61"] == f"000000000000{date}"
    assert sent["fields"]["3"] == "200000" and sent["fields"]["22"] == "012"
    # the journal names the original by RRN + date (its txn.begin, which the office reads)
    assert outcome.txn.original_id is None and outcome.details["original_rrn"] == sale.rrn
    begin = _begin_event(b, outcome.txn.id)
    assert begin["original"] is None and (begin["original_rrn"], begin["original_date"]) == (sale.rrn, date)
    assert b.ledger.card_net_charged("debit") == 6000  # the bank's ledger: 100.00 charged, 40.00 back


def test_the_same_refund_again_a_moment_later_asks_first(tills):
    a, b = tills
    sale = _sale(a, 5000)
    date = local_mmdd(sale.created_at)
    b.office = fx.OfficeAnswer(refundable=5000)
    assert _refund(b, sale.rrn, date, 2000).status == "approved"
    again = _refund(b, sale.rrn, date, 2000)
    assert again.status == "needs_confirmation" and "--confirm-repeat" in again.message
    assert _refund(b, sale.rrn, date, 2000, confirm_repeat=True).status == "approved"
    assert b.ledger.card_net_charged("debit") == 1000


def test_no_such_sale_at_the_merchant_is_refused_with_its_rrn_and_date(tills):
    _, b = tills
    b.office = fx.OfficeAnswer()
    with pytest.raises(EngineError) as refused:
        _refund(b, "123456789012", "0315", 100)
    assert refused.value.code == "not_found"
    assert str(refused.value) == ("no sale with RRN 123456789012 on 03-15 at this merchant (the back office looked at "
                                  "every till)")
    assert b.exchanges == []


def test_nothing_left_across_the_store_is_refused(tills):
    a, b = tills
    sale = _sale(a, 3000)
    b.office = fx.OfficeAnswer(refundable=0)
    with pytest.raises(EngineError) as refused:
        _refund(b, sale.rrn, local_mmdd(sale.created_at), None)
    assert refused.value.code == "not_refundable" and "nothing is left" in str(refused.value)


def test_without_a_back_office_the_refund_is_refused_as_before(tills):
    a, b = tills
    sale = _sale(a, 3000)
    with pytest.raises(EngineError) as refused:
        _refund(b, sale.rrn, local_mmdd(sale.created_at), 100, policy=None)
    assert refused.value.code == "not_found" and "in this terminal's journal" in str(refused.value)
    assert b.asked == [] and b.exchanges == []


def test_a_sale_in_this_journal_is_refunded_from_it_without_asking(tills):
    a, _ = tills
    sale = _sale(a, 3000)
    outcome = _refund(a, sale.rrn, local_mmdd(sale.created_at), 1000)
    assert outcome.status == "approved" and outcome.txn.original_id == sale.id
    assert a.asked == []


def test_the_office_unreachable_refuses_by_default_and_the_supervisor_setting_goes_ahead_journaled(tills):
    a, b = tills
    sale = _sale(a, 8000)
    date = local_mmdd(sale.created_at)
    b.office = fx.OfficeAnswer(problem="the office at http://office/v1/refundable is unreachable: refused")
    with pytest.raises(EngineError) as refused:
        _refund(b, sale.rrn, date, 1000)
    assert refused.value.code == "office_unreachable" and "unreachable" in str(refused.value)
    assert "\n" not in str(refused.value) and b.exchanges == []
    with pytest.raises(EngineError) as no_amount:  # nothing says what is left: the amount is keyed
        _refund(b, sale.rrn, date, None, policy="supervisor")
    assert no_amount.value.code == "amount_needed"
    outcome = _refund(b, sale.rrn, date, 1000, policy="supervisor")
    assert outcome.status == "approved" and outcome.details["office"] == "unchecked"
    assert "refund.unchecked" in outcome.message
    unchecked = [e for e in _events(b) if e["kind"] == "refund.unchecked"]
    assert len(unchecked) == 1 and unchecked[0]["txn_id"] == outcome.txn.id
    details = unchecked[0]["details"]
    assert (details["rrn"], details["date"], details["amount"]) == (sale.rrn, date, 1000)
    assert b.ledger.card_net_charged("debit") == 7000


def test_the_journal_takes_a_refund_by_reference_only_whole(tmp_path):
    till = World(tmp_path)
    try:
        def begin(**kw):
            return till.journal.begin("refund", amount=100, currency="156", pan=None, entry_mode="012",
                                      operator="s", role="supervisor", request=lambda t, b: {"mti": "0220"}, **kw)
        for bad, why in (({}, "needs the original"), ({"original_rrn": "1234"}, "MMDD"),
                         ({"original_rrn": "12 4", "original_date": "0101"}, "RRN"),
                         ({"original_rrn": "1234", "original_date": "1301"}, "MMDD")):
            with pytest.raises(JournalError, match=why):
                begin(**bad)
        txn = begin(original_rrn="123456789012", original_date="0229")
        assert txn.state == "sending" and txn.original_id is None
        with pytest.raises(JournalError, match="only a refund"):
            till.journal.begin("void", amount=100, currency="156", pan=None, entry_mode="012", operator="s",
                               role="supervisor", request=lambda t, b: {"mti": "0200"}, original_rrn="1",
                               original_date="0101")
    finally:
        till.close()


def _events(till: World) -> list[dict]:
    rows = till.journal.core.conn.execute("SELECT txn_id, kind, details FROM events ORDER BY id").fetchall()
    return [{"txn_id": r[0], "kind": r[1], "details": json.loads(r[2]).get("details", json.loads(r[2]))}
            for r in rows]


def _begin_event(till: World, txn_id: int) -> dict:
    row = till.journal.core.conn.execute("SELECT details FROM events WHERE kind = 'txn.begin' AND txn_id = ?",
                                         (txn_id,)).fetchone()
    return json.loads(row[0])
