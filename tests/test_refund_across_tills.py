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

import pytest

from agent.engine import effects as fx, purchases as ops
from agent.engine.card import sale as card_sale
from agent.engine.effects import EngineError
from agent.engine.requests import local_mmdd
from agent.journal import JournalError
from agent.engine.receipts import render_receipt
from tests.enginekit import CASHIER, LOSE_ANSWER, PROFILE, SUPERVISOR, World
from tests.pgcluster import pg_cluster  # noqa: F401


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
    outcome = till.run(card_sale.sale(till.profile, card_sale.SaleRequest(amount, test_card="debit", confirm_duplicate=True),
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


def test_the_refund_takes_the_sale_s_masked_card_voucher_and_till_as_the_office_says_them(tills):
    a, b = tills
    sale = _sale(a, 9000)
    date = local_mmdd(sale.created_at)
    b.office = fx.OfficeAnswer(refundable=9000, sale_card=sale.pan_masked, sale_trace=sale.trace,
                               sale_terminal="10000001")
    outcome = _refund(b, sale.rrn, date, 1500)
    assert outcome.status == "approved", outcome.message
    refund = b.journal.get(outcome.txn.id)
    assert refund.pan_masked == sale.pan_masked and "*" in sale.pan_masked and refund.pan_fingerprint is None
    assert b.journal.original_reference(refund.id) == {
        "original_rrn": sale.rrn, "original_date": date, "original_card": sale.pan_masked,
        "original_trace": sale.trace, "original_terminal": "10000001"}
    begin = _begin_event(b, refund.id)
    assert begin["card"] == sale.pan_masked and begin["original_trace"] == sale.trace
    printed = render_receipt(refund, merchant_name="SHOP", terminal_id="10000002", merchant_id="M1", width=32,
                             original_trace=sale.trace, original_terminal="10000001")
    assert sale.pan_masked in printed and f"ORIG VOUCHER {sale.trace:06d}" in printed
    assert "ORIG TERMINAL 10000001" in printed
    # the office unreachable (the supervisor's setting): nothing is known of the sale but its RRN and date
    b.office = fx.OfficeAnswer(problem="the office at http://office/v1/refundable is unreachable: refused")
    unchecked = _refund(b, sale.rrn, date, 1000, policy="supervisor")
    assert b.journal.original_reference(unchecked.txn.id) == {"original_rrn": sale.rrn, "original_date": date}
    assert b.journal.get(unchecked.txn.id).pan_masked is None and a.journal.original_reference(sale.id) == {}


def test_the_journal_refuses_a_card_number_as_what_the_office_said_of_the_sale(tmp_path):
    till = World(tmp_path)
    try:
        def begin(sale):
            return till.journal.begin(
                "refund", amount=100, currency="156", pan=None, entry_mode="012", operator="01", role="supervisor",
                request=lambda trace, batch: {"mti": "0220", "fields": {}}, original_rrn="000000000042",
                original_date="1203", original_sale=sale)
        for sale, expected in (({"card": "6226090000000048"}, "must be masked"), ({"trace": 0}, "1 to 999999"),
                               ({"terminal": "T 1"}, "original's terminal")):
            with pytest.raises(JournalError, match=expected):
                begin(sale)
        with pytest.raises(JournalError, match="goes only with its RRN and date"):
            till.journal.begin("refund", amount=100, currency="156", pan=None, entry_mode="012",
                               operator="01", role="supervisor", original_id=1,
                               request=lambda trace, batch: {"mti": "0220", "fields": {}},
                               original_sale={"card": None})
    finally:
        till.journal.close()
        till.ledger.close()


def test_the_reversal_of_a_refund_of_another_till_s_sale_carries_its_field_61(tills):
    a, b = tills
    sale = _sale(a, 6000)
    date = local_mmdd(sale.created_at)
    b.office = fx.OfficeAnswer(refundable=6000)
    _sale(b, 100)  # signed on: the refund's request is the next exchange
    b.run_under(ops.refund(b.profile, ops.RefundRequest(rrn=sale.rrn, date=date, amount=2500,
                                                        office_unreachable="refuse"), SUPERVISOR), [LOSE_ANSWER])
    _sale(b, 100)  # the next message sends the reversal first
    [refund] = b.journal.find(kind="refund")
    refund = b.journal.get(refund.id)
    [reversal] = [m["body"] for m in b.journal.messages(refund.id) if m["body"]["mti"] in ("0400", "0401")]
    # as the refund went out: zeros for the original's batch and trace, the sale's date
    assert reversal["fields"]["61"] == f"000000000000{date}" and reversal["fields"]["39"] == "98"
    assert refund.state == "reversed" and b.ledger.card_net_charged("debit") == 6200  # nothing refunded


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


# ---------------------------------------------------------------- the real parts: two tills of one merchant, a third of another

MERCHANT, OTHER_MERCHANT = "123456789012345", "987654321098765"
TILL_A, TILL_B, TILL_C = "10000001", "10000002", "10000009"


@pytest.fixture(scope="module")
def store(pg_cluster, tmp_path_factory):
    """The collector, one `posim host`, till A (refuses when the office cannot be asked), till B (the supervisor's
    refund goes ahead unchecked) of one merchant and till C of another, each shipping its journal every second."""
    from concurrent.futures import ThreadPoolExecutor

    from posoffice import db, store as office_store
    from simulator.stack import Host
    from tests.agentproc import Agent, write_config
    from tests.pgcluster import Collector

    root = tmp_path_factory.mktemp("store")
    dsn = pg_cluster.new_database()
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secrets = {tid: office_store.add_terminal(conn, tid, merchant) for tid, merchant in
                   ((TILL_A, MERCHANT), (TILL_B, MERCHANT), (TILL_C, OTHER_MERCHANT))}
    collector = Collector(dsn)
    host = Host.start(root)
    tills = {}
    try:
        for tid, merchant, policy in ((TILL_A, MERCHANT, "refuse"), (TILL_B, MERCHANT, "supervisor"),
                                      (TILL_C, OTHER_MERCHANT, "refuse")):
            directory = root / tid
            directory.mkdir()
            secret_file = directory / "office.secret"
            secret_file.write_text(secrets[tid] + "\n")
            os.chmod(secret_file, 0o600)
            extra = (f'[terminal]\nterminal_id = "{tid}"\nmerchant_id = "{merchant}"\n'
                     f'[office]\nurl = "{collector.url}"\nsecret_file = "{secret_file}"\ninterval = 1\n'
                     + (f'[refunds]\noffice_unreachable = "{policy}"\n' if policy != "refuse" else ""))
            tills[tid] = Agent(write_config(directory, host.port, extra=extra), directory)
        with ThreadPoolExecutor(len(tills)) as pool:
            list(pool.map(lambda till: till.start(), tills.values()))
        yield {"tills": tills, "host": host, "collector": collector}
    finally:
        for till in tills.values():
            till.stop()
        host.stop()
        collector.stop()


def _money_call(till, op: str, args: dict, *, supervisor: bool = False) -> dict:
    from tests.agentproc import SUPERVISOR_PASSWORD
    return till.call(op, args, password=SUPERVISOR_PASSWORD if supervisor else None)


def _sold(till, amount: int, card: str) -> dict:
    reply = _money_call(till, "sale", {"amount": amount, "card": card, "confirm_duplicate": True,
                                       "confirm_unusual": True})
    assert reply["outcome"]["status"] == "approved", reply
    txn = reply["outcome"]["txn"]
    return {**txn, "date": local_mmdd(txn["created_at"])}


def _at_the_office(till) -> None:
    from tests.harness import wait_for
    wait_for(lambda: till.call("status")["result"]["office"]["backlog"] == 0, 20, "the office to hold the journal")


def _host_refunds(host) -> int:
    return host.ledger()["counts"].get("refund", {}).get("approved", 0)


def test_s4_the_rest_of_a_sale_of_till_a_is_refunded_at_till_b_by_rrn_and_date(store):
    a, b = store["tills"][TILL_A], store["tills"][TILL_B]
    host = store["host"]
    sale = _sold(a, 10000, "credit")
    partial = _money_call(a, "refund", {"trace": sale["trace"], "amount": 3000}, supervisor=True)
    assert partial["outcome"]["status"] == "approved", partial
    _at_the_office(a)
    refunds_before = _host_refunds(host)
    # above what is left across the store: refused at till B, one line, exit 1, nothing sent
    above = b.cli("refund", "70.01", "--rrn", sale["rrn"], "--date", sale["date"], password=True)
    assert above.returncode == 1, above
    assert "70.00" in above.stderr + above.stdout and "Traceback" not in above.stderr
    assert len((above.stderr + above.stdout).strip().splitlines()) == 1, above
    assert _host_refunds(host) == refunds_before
    # the rest: approved, and the office counts it at once
    rest = b.cli("refund", "70.00", "--rrn", sale["rrn"], "--date", sale["date"], password=True)
    assert rest.returncode == 0, rest
    assert "refundable across the store: 0.00" in rest.stdout, rest
    again = _money_call(b, "refund", {"rrn": sale["rrn"], "date": sale["date"], "amount": 1}, supervisor=True)
    assert again["error"]["code"] == "not_refundable", again
    # the bank's ledger: the card charged 100.00 and given 30.00 + 70.00 back, by two tills
    assert host.ledger()["cards"]["credit"]["net_charged"] == 0
    assert _host_refunds(host) == refunds_before + 1
    # till B's journal names the sale by RRN + date on the refund's txn.begin, as the office reads it
    with sqlite3.connect(b.directory / "journal.db") as conn:
        kind, original, details = conn.execute(
            "SELECT t.kind, t.original_id, e.details FROM transactions t JOIN events e ON e.txn_id = t.id "
            "AND e.kind = 'txn.begin' WHERE t.kind = 'refund' ORDER BY t.id DESC LIMIT 1").fetchone()
    begin = json.loads(details)
    assert original is None and (begin["original_rrn"], begin["original_date"]) == (sale["rrn"], sale["date"])
    # its receipt names the card (masked, as the office had it from till A) and the original voucher and till
    printed = b.call("receipt", {})["result"]["customer"]
    assert sale["pan_masked"] in printed and f"ORIG VOUCHER {sale['trace']:06d}" in printed, printed
    assert f"ORIG TERMINAL {TILL_A}" in printed, printed
    # till A asks the office too: nothing left
    from agent.office.link import refundable
    secret = (a.directory / "office.secret").read_text().strip()
    assert refundable(store["collector"].url, TILL_A, secret, sale["rrn"], sale["date"]).refundable == 0


def test_a_sale_of_another_merchant_is_not_refunded(store):
    b, c = store["tills"][TILL_B], store["tills"][TILL_C]
    sale = _sold(c, 2500, "debit")
    _at_the_office(c)
    refunds_before = _host_refunds(store["host"])
    refused = b.cli("refund", "25.00", "--rrn", sale["rrn"], "--date", sale["date"], password=True)
    assert refused.returncode == 1, refused
    day = f"{sale['date'][:2]}-{sale['date'][2:]}"
    assert f"no sale with RRN {sale['rrn']} on {day} at this merchant" in refused.stderr + refused.stdout
    assert _host_refunds(store["host"]) == refunds_before


def test_the_office_down_refuses_by_default_and_lets_the_supervisor_setting_through_journaled(store):
    a, b = store["tills"][TILL_A], store["tills"][TILL_B]
    host = store["host"]
    of_a = _sold(a, 5000, "debit")
    of_b = _sold(b, 4000, "debit")
    store["collector"].stop()
    refunds_before = _host_refunds(host)
    # till A refuses: one line saying the office cannot be asked, exit 1, nothing sent
    refused = a.cli("refund", "10.00", "--rrn", of_b["rrn"], "--date", of_b["date"], password=True)
    assert refused.returncode == 1, refused
    said = (refused.stderr + refused.stdout).strip()
    assert "back office cannot be asked" in said and len(said.splitlines()) == 1 and "Traceback" not in said
    assert _host_refunds(host) == refunds_before
    # till B, set to "supervisor": the supervisor's refund goes ahead, and the journal says it was unchecked
    unchecked = _money_call(b, "refund", {"rrn": of_a["rrn"], "date": of_a["date"], "amount": 2000}, supervisor=True)
    assert unchecked["outcome"]["status"] == "approved", unchecked
    assert unchecked["outcome"]["details"]["office"] == "unchecked"
    assert _host_refunds(host) == refunds_before + 1
    with sqlite3.connect(b.directory / "journal.db") as conn:
        txn_id, details = conn.execute("SELECT txn_id, details FROM events WHERE kind = 'refund.unchecked'").fetchone()
    journaled = json.loads(details)["details"]
    assert txn_id == unchecked["outcome"]["txn"]["id"]
    assert (journaled["rrn"], journaled["date"], journaled["amount"]) == (of_a["rrn"], of_a["date"], 2000)
    # the bank's ledger across the store's two tills: every sale less every refund, whichever till gave it
    # (which till a refund of another till's sale is booked under is the acquirer's choice)
    terminals = host.ledger()["terminals"]
    assert terminals[TILL_A]["net_charged"] + terminals[TILL_B]["net_charged"] == \
        (10000 - 3000) + 5000 + (-7000 + 4000 - 2000)
