"""Payment-code sales through the sans-IO engine against the real journal, codec, MACs and the
simulator's wallet host — every outcome checked on the acquirer's ledger (per wallet payer)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from agent.engine import purchases as ops, settlement
from agent.engine.wallet import plans as w
from agent.engine.effects import EngineError
from agent.machine import IllegalTransition
from tests.enginekit import CASHIER, DELIVER, LOSE_ANSWER, LOSE_REQUEST, PROFILE, SUPERVISOR, CORRUPT_MAC
from tests.walletkit import SETTINGS, WalletWorld


@pytest.fixture
def world(tmp_path):
    wd = WalletWorld(tmp_path)
    yield wd
    wd.close()


def fail_next(world, fate: str, mti: str, times: int = 1):
    left = {"n": times}

    def wire(message):
        if message is not None and message.mti == mti and left["n"] > 0:
            left["n"] -= 1
            return fate
        return DELIVER
    world.wire = wire


def order_state(world, txn) -> str:
    return world.host.wallet.order(PROFILE.terminal_id, f"{txn.batch:06d}", f"{txn.trace:06d}")["state"]


# ---------------------------------------------------------------- paid, paying, never, late

def test_pay_without_confirmation_is_charged_once(world):
    outcome = world.pay(1000, world.code("alice"))
    assert outcome.status == "approved", outcome.message
    assert [m for m, _ in world.exchanges] == ["0800", "0200"]
    assert outcome.txn.state == "approved" and outcome.txn.rrn and outcome.txn.entry_mode == SETTINGS.entry_mode
    assert world.payer_net("alice") == 1000
    assert "Alipay" in outcome.message and re.search(r"\d{6}\*+\d{4}", outcome.message)


def test_pay_with_confirmation_on_the_phone_queries_until_paid(world):
    outcome = world.pay(2000, world.code("bob", confirm="5"))
    assert outcome.status == "approved", outcome.message
    assert outcome.details["queries"] >= 1
    assert world.payer_net("bob") == 2000
    kinds = [e["kind"] for e in world.journal.events(outcome.txn.id)] if hasattr(world.journal, "events") else []
    if kinds:
        assert "wallet.paying" in kinds and "wallet.query" in kinds


def test_customer_never_confirms_the_order_is_cancelled_and_nothing_charged(world):
    outcome = world.pay(3000, world.code("dave"))
    assert outcome.status == "reversed", outcome.message
    assert "did not confirm within 20 s" in outcome.message
    assert world.payer_net("dave") == 0
    assert order_state(world, outcome.txn) == "cancelled"
    mtis = [m for m, _ in world.exchanges]
    assert mtis[-1] == "0400" and mtis.count("0100") == outcome.details["queries"] >= 5
    assert world.journal.pending_reversals() == []


def test_paid_just_after_the_deadline_the_cancel_reverses_it_net_zero(world):
    outcome = world.pay(3000, world.code("frank"))
    assert outcome.status == "reversed", outcome.message
    assert order_state(world, outcome.txn) == "paid"
    counts = world.ledger.net_report()["counts"]["sale"]
    assert counts["approved"] == 1 and counts["reversed"] == 1
    assert world.payer_net("frank") == 0


def test_payer_who_declines_and_payer_without_money(world):
    declined = world.pay(500, world.code("erin"))
    assert declined.status == "declined" and declined.txn.state == "declined"
    poor = world.pay(5000, world.code("carol"))  # balance 10.00
    assert poor.status == "declined" and "not enough in the wallet" in poor.message.lower()
    assert "card" not in poor.message.lower()  # the cashier is not sent to "try another card"
    assert world.payer_net("erin") == world.payer_net("carol") == 0


def test_a_code_the_bank_does_not_know_asks_for_a_fresh_code_not_another_card(world):
    unknown = world.pay(500, "281234567890123456")  # well-formed Alipay, never issued
    assert unknown.status == "declined" and unknown.txn.response_code == "14"
    assert "fresh code" in unknown.message and "card" not in unknown.message.lower(), unknown.message
    from agent.engine.receipts import render_receipt
    receipt = render_receipt(unknown.txn, merchant_name="SHOP", terminal_id="10000001",
                             merchant_id="123456789012345", width=42)
    assert "Invalid payment code" in receipt and "card number" not in receipt


def test_paying_then_out_of_money_is_declined_after_the_query(world):
    outcome = world.pay(5000, world.code("carol", confirm="4"))
    assert outcome.status == "declined" and outcome.details["queries"] >= 1
    assert world.payer_net("carol") == 0


def test_a_code_pays_once_and_expires_after_60_seconds(world):
    code = world.code("alice")
    assert world.pay(100, code).status == "approved"
    again = world.pay(200, code)
    assert again.status == "declined" and world.payer_net("alice") == 100
    old = world.code("alice")
    world.clock.advance(61)
    expired = world.pay(300, old)
    assert expired.status == "declined" and expired.txn.response_code == "54"
    assert "refresh" in expired.message
    assert world.payer_net("alice") == 100


# ---------------------------------------------------------------- codes checked before anything is sent

@pytest.mark.parametrize("code, words", [
    ("6901234567892", "product barcode (EAN-13)"),
    ("99123456789012345678", "not a payment code"),
    ("2812345678901234567890123456", "starts like Alipay"),
    ("13123456789012345", "starts like WeChat Pay but has 17 digits"),
    ("28a2345678901234567", "character 3 is 'a'"),
    ("", "empty"),
])
def test_a_code_that_is_not_a_payment_code_is_refused_before_anything_is_sent(world, code, words):
    with pytest.raises(EngineError, match=re.escape(words)) as info:
        world.pay(1000, code)
    assert info.value.code == "bad_code"
    assert world.exchanges == [] and world.journal.find(limit=5) == []


def test_scanned_code_is_used_and_a_scan_failure_stops_before_anything_is_sent(world):
    world.scans = [world.code("alice")]
    assert world.pay(700, None).status == "approved"
    with pytest.raises(EngineError, match="no code scanned"):
        world.pay(700, None)
    assert world.payer_net("alice") == 700


# ---------------------------------------------------------------- faults at every step

@pytest.mark.parametrize("fate", [LOSE_ANSWER, LOSE_REQUEST, CORRUPT_MAC])
def test_no_valid_answer_to_the_sale_cancels_it_and_nothing_stays_charged(world, fate):
    world.pay(100, world.code("alice"))  # signed on
    fail_next(world, fate, "0200")
    outcome = world.pay(900, world.code("alice"))
    assert outcome.status == "reversed", outcome.message
    assert world.payer_net("alice") == 100


def test_lost_query_answers_are_asked_again_within_the_deadline(world):
    world.pay(100, world.code("alice"))
    fail_next(world, LOSE_ANSWER, "0100", times=2)
    outcome = world.pay(800, world.code("bob", confirm="4"))
    assert outcome.status == "approved", outcome.message
    assert world.payer_net("bob") == 800


def test_every_query_answer_lost_ends_in_a_cancel_at_the_deadline(world):
    world.pay(100, world.code("alice"))
    fail_next(world, LOSE_ANSWER, "0100", times=100)
    outcome = world.pay(800, world.code("bob", confirm="4"))
    assert outcome.status == "reversed"
    assert world.payer_net("bob") == 0  # confirmed on the host, undone by the cancel


def test_cancel_answer_lost_stays_queued_and_goes_before_the_next_payment(world):
    world.pay(100, world.code("alice"))
    fail_next(world, LOSE_ANSWER, "0400", times=1)
    outcome = world.pay(600, world.code("dave"))
    assert outcome.status == "in_doubt", outcome.message
    assert len(world.journal.pending_reversals()) == 1
    world.wire = lambda message: DELIVER
    nxt = world.pay(200, world.code("alice"))
    assert nxt.status == "approved"
    assert world.journal.pending_reversals() == []
    assert world.payer_net("dave") == 0 and world.payer_net("alice") == 300


def test_cancel_key_while_paying_cancels_safely(world):
    world.cancel_at_wait = 2
    outcome = world.pay(1200, world.code("dave"))
    assert outcome.status == "reversed" and "cancelled by the cashier" in outcome.message
    assert world.payer_net("dave") == 0


def _kill_while_paying(world, code: str, amount: int):
    plan = w.wallet_sale(PROFILE, SETTINGS, w.WalletSaleRequest(amount, code), CASHIER)
    result, queries = None, 0
    while True:  # run until the second query is on the wire, then "lose power"
        effect = plan.send(result)
        if type(effect).__name__ == "Exchange" and effect.request.mti == "0100":
            queries += 1
            if queries == 2:
                plan.close()
                return
        result = world.perform(effect)


def _restart(world):
    resolved = world.run(w.resume_after_restart(PROFILE, SETTINGS))
    outcome = world.run(settlement.recover(PROFILE))
    assert outcome.status == "done", outcome.message
    assert world.journal.in_doubt().clean
    return resolved


def test_killed_while_paying_and_the_customer_confirmed_meanwhile_keeps_the_payment(world):
    world.pay(100, world.code("alice"))
    _kill_while_paying(world, world.code("bob", confirm="8"), 4000)
    world.clock.advance(30)  # the customer confirms while the terminal is down
    [txn_id] = _restart(world)
    assert world.journal.get(txn_id).state == "approved"
    assert world.payer_net("bob") == 4000
    assert world.journal.pending_reversals() == []


@pytest.mark.parametrize("payer", ["dave", "frank"])
def test_killed_while_paying_and_still_unconfirmed_is_cancelled_net_zero(world, payer):
    world.pay(100, world.code("alice"))
    _kill_while_paying(world, world.code(payer), 4000)
    world.clock.advance(30)
    assert _restart(world) == []
    assert world.payer_net(payer) == 0


def test_killed_while_paying_and_the_bank_unreachable_at_start_cancels_later(world):
    world.pay(100, world.code("alice"))
    _kill_while_paying(world, world.code("bob", confirm="8"), 4000)
    world.wire = lambda message: "refuse"
    assert world.run(w.resume_after_restart(PROFILE, SETTINGS)) == []
    assert world.run(settlement.recover(PROFILE)).status == "in_doubt"
    world.wire = lambda message: DELIVER
    world.clock.advance(30)
    assert world.pay(300, world.code("alice")).status == "approved"  # the cancel went first
    assert world.payer_net("bob") == 0 and world.payer_net("alice") == 400


def test_no_second_payment_while_one_is_unresolved(world):
    world.pay(100, world.code("alice"))
    world.wire = lambda message: LOSE_ANSWER if message is not None and message.mti in ("0400", "0401") else DELIVER
    first = world.pay(600, world.code("dave"))
    assert first.status == "in_doubt"
    with pytest.raises(EngineError) as info:
        world.pay(600, world.code("alice"))
    assert info.value.code == "reversal_pending"
    world.wire = lambda message: DELIVER
    assert world.pay(600, world.code("alice")).status == "approved"
    assert world.payer_net("alice") == 700 and world.payer_net("dave") == 0


def test_the_same_sale_request_id_is_never_paid_twice(world):
    first = world.pay(600, world.code("alice"), client_request_id="till-7-sale-42")
    again = world.pay(600, world.code("alice"), client_request_id="till-7-sale-42")
    assert first.status == "approved" and again.status == "repeat" and again.txn.id == first.txn.id
    assert world.payer_net("alice") == 600


def test_duplicate_scan_of_the_same_code_asks_first(world):
    code = world.code("alice")
    assert world.pay(600, code).status == "approved"
    asked = world.pay(600, code)
    assert asked.status == "needs_confirmation" and asked.details["guard"] == "duplicate"
    assert world.payer_net("alice") == 600


# ---------------------------------------------------------------- the same fixes as cards

def test_refund_twice_in_parts_and_never_beyond_the_payment(world):
    paid = world.pay(10000, world.code("alice"))
    settle = world.run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR))
    assert settle.ok, settle.message
    r1 = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=paid.txn.trace, amount=3000), SUPERVISOR))
    r2 = world.run(ops.refund(PROFILE, ops.RefundRequest(rrn=paid.txn.rrn, amount=5000), SUPERVISOR))
    assert r1.status == r2.status == "approved"
    with pytest.raises(EngineError, match="20.00"):
        world.run(ops.refund(PROFILE, ops.RefundRequest(trace=paid.txn.trace, amount=2500), SUPERVISOR))
    assert world.payer_net("alice") == 2000


def test_void_the_same_day(world):
    paid = world.pay(4200, world.code("alice"))
    voided = world.run(ops.void(PROFILE, ops.VoidRequest(paid.txn.trace), SUPERVISOR))
    assert voided.status == "approved", voided.message
    assert world.payer_net("alice") == 0


def test_undercharge_fixed_with_a_second_code_linked_to_the_first(world):
    first = world.pay(1000, world.code("alice"))
    second = world.pay(9000, world.code("alice"), kind="correction", original_id=first.txn.id,
                       purchase_id=first.txn.id)
    assert second.status == "approved" and second.txn.original_id == first.txn.id
    assert world.payer_net("alice") == 10000


def test_settlement_counts_wallet_payments_and_the_bank_agrees(world):
    world.pay(1000, world.code("alice"))
    world.pay(2000, world.code("dave"))  # cancelled: not counted
    outcome = world.run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR))
    assert outcome.ok and world.ledger.settlement(PROFILE.terminal_id, "000001") is not None or outcome.ok


def test_chinese_texts(world):
    zh = replace(PROFILE, language="zh")
    outcome = world.run(w.wallet_sale(zh, SETTINGS, w.WalletSaleRequest(3000, world.code("dave")), CASHIER))
    assert "扫码支付已撤销" in outcome.message


# ---------------------------------------------------------------- the code is a credential

def test_codes_never_reach_the_journal_or_the_host_ledger_in_full(world, tmp_path):
    codes = [world.code("alice"), world.code("bob", confirm="3"), world.code("dave"), world.code("frank")]
    for i, code in enumerate(codes):
        world.pay(100 + i, code)
    world.close()
    for path in tmp_path.glob("*.db*"):
        data = path.read_bytes()
        for code in codes:
            assert code.encode() not in data, f"{path.name} holds a code in full"
            assert bytes.fromhex(code if len(code) % 2 == 0 else code + "0") not in data, path.name
    world.__post_init__()  # reopen for the fixture's close


def test_the_paying_table_refuses_what_it_does_not_name():
    assert w.ORDER.step("paying", "no_answer") is w.OrderState.PAYING
    with pytest.raises(IllegalTransition, match="wallet order: 'paid' is not allowed in state 'approved'"):
        w.ORDER.step("approved", "paid")


def test_receipt_names_the_wallet_and_shows_the_code_masked(world):
    from agent.engine.receipts import render_receipt

    code = world.code("alice")
    paid = world.pay(1234, code)
    text = render_receipt(paid.txn, merchant_name="SHOP", terminal_id="10000001", merchant_id="123456789012345")
    assert "ALIPAY" in text and paid.txn.pan_masked in text and code not in text and "12.34" in text


def test_every_query_is_journaled_before_it_is_sent_and_the_evidence_holds_no_code(world):
    import json
    import sqlite3

    seen = []
    send = world.exchange

    def exchange(request):
        if request.mti == "0100":
            with sqlite3.connect(world.journal_path if hasattr(world, "journal_path") else
                                 world.tmp / "journal.db") as db:
                seen.append(db.execute("SELECT COUNT(*) FROM events WHERE kind = 'wallet.query'").fetchone()[0])
        return send(request)
    world.exchange = exchange
    code = world.code("bob", confirm="7")
    outcome = world.pay(2500, code)
    assert outcome.status == "approved" and seen == list(range(1, len(seen) + 1)) and len(seen) >= 2
    bundle = json.dumps(world.journal.export(purchase_of=outcome.txn.id), ensure_ascii=False)
    assert "wallet.query" in bundle and "wallet.paying" in bundle and code not in bundle


def test_a_query_answer_that_says_nothing_about_the_order_is_never_taken_for_a_decline(world):
    """77 (sign on again) or A0 to a status query: asked again, and at the deadline cancelled — never
    journaled as declined while the bank may have the money."""
    world.pay(100, world.code("alice"))
    send = world.exchange

    def exchange(request):
        result = send(request)
        if request.mti == "0100" and hasattr(result, "message"):
            from agent.engine.effects import Answer as A
            return A(result.message.replace({39: "77"}), None)
        return result
    world.exchange = exchange
    outcome = world.pay(800, world.code("bob", confirm="4"))
    assert outcome.status == "reversed" and world.payer_net("bob") == 0


def test_wallet_correction_speaks_the_terminals_language(world):
    from agent.engine.wallet.fixes import WalletCorrectRequest, wallet_correct
    zh = replace(PROFILE, language="zh")
    first = world.pay(1000, world.code("alice"))
    fixed = world.run(wallet_correct(zh, SETTINGS, WalletCorrectRequest(first.txn.trace, 2500, world.code("alice")),
                                     SUPERVISOR))
    assert fixed.status == "approved" and fixed.message.startswith(f"流水{first.txn.trace:06d}少收") and "15.00" in fixed.message
    with pytest.raises(EngineError, match="无需更正"):  # the purchase stands at 25.00 now, counting the fix
        world.run(wallet_correct(zh, SETTINGS, WalletCorrectRequest(first.txn.trace, 2500, world.code("alice")),
                                 SUPERVISOR))
    assert world.payer_net("alice") == 2500


def test_a_wallet_purchase_corrected_again_counts_what_the_first_correction_charged(world):
    from agent.engine.wallet.fixes import WalletCorrectRequest, wallet_correct
    first = world.pay(1000, world.code("alice"))  # 10.00 keyed for 100.00
    up = world.run(wallet_correct(PROFILE, SETTINGS, WalletCorrectRequest(first.txn.trace, 10000,
                                                                          world.code("alice")), SUPERVISOR))
    assert up.status == "approved" and world.payer_net("alice") == 10000
    more = world.run(wallet_correct(PROFILE, SETTINGS, WalletCorrectRequest(first.txn.trace, 12000,
                                                                            world.code("alice")), SUPERVISOR))
    assert more.status == "approved" and "20.00" in more.message and world.payer_net("alice") == 12000
    down = world.run(wallet_correct(PROFILE, SETTINGS, WalletCorrectRequest(first.txn.trace, 500), SUPERVISOR))
    assert down.status == "approved" and world.payer_net("alice") == 500, down.message


def test_the_host_s_decline_fault_refuses_new_requests_only(world):
    """Found by the power-cut campaign: a `decline` fault armed for a wallet sale met the status query the
    restarted terminal sent, was answered 05 "without processing" and read as the order declined while the
    bank kept it paying.  A status query moves nothing and its answer is the order's state, so the fault
    refuses new financial requests only (a repeated advice is answered from its booking too)."""
    from agent.engine.wallet.messages import wallet_query_request, wallet_sale_request
    now = datetime.fromtimestamp(world.clock.now, timezone.utc)
    paying = world.pay(500, world.code("dave"), settings=replace(SETTINGS, deadline=0.5))
    query = wallet_query_request(PROFILE, SETTINGS, trace=paying.txn.trace + 5, batch=paying.txn.batch,
                                 original=paying.txn)
    sale = wallet_sale_request(PROFILE, SETTINGS, trace=paying.txn.trace + 6, batch=paying.txn.batch, amount=700,
                               code=world.code("alice"))
    assert world.host.decline_applies(sale, now) is True
    assert world.host.decline_applies(query, now) is False
