"""The merchant scenarios S1–S5 and the reversal rules, driven through the sans-IO engine against the
real journal, the real codec and the simulator's acquirer — checked on the acquirer's ledger."""

from __future__ import annotations

import pytest

from agent.engine import common, fixes, purchases as ops, settlement
from agent.engine.card import sale as card_sale
from agent.engine.effects import EngineError
from tests.enginekit import (CASHIER, CORRUPT_MAC, DELIVER, LOSE_ANSWER, LOSE_REQUEST, PROFILE, REFUSE, SUPERVISOR,
                             WRONG_AMOUNT, World)


def sale(world: World, amount: int, card: str = "debit", **kw):
    return world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(amount, test_card=card, **kw), CASHIER))


def settle(world: World):
    return world.run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR))


def reversal_sent(world: World, txn_id: int) -> dict:
    return next(m["body"] for m in world.journal.messages(txn_id) if m["body"]["mti"] in ("0400", "0401"))


def fail_next(world: World, fate: str, mti: str = "0200", times: int = 1):
    """The next `times` exchanges of `mti` meet `fate`; everything else is delivered."""
    left = {"n": times}

    def wire(message):
        if message is not None and message.mti == mti and left["n"] > 0:
            left["n"] -= 1
            return fate
        return DELIVER
    world.wire = wire


# ---------------------------------------------------------------- sale and the reversal-first rule

def test_sale_signs_on_first_and_is_approved_and_charged_once(world):
    outcome = sale(world, 10000)
    assert outcome.status == "approved", outcome.message
    assert [m for m, _ in world.exchanges] == ["0800", "0200"]
    assert outcome.txn.state == "approved" and outcome.txn.rrn and outcome.txn.auth_code
    assert world.net_charged() == 10000
    assert world.journal.pending_reversals() == []


@pytest.mark.parametrize("fate, reason", [(LOSE_ANSWER, "98"), (LOSE_REQUEST, "98"),
                                          (CORRUPT_MAC, "A0"), (WRONG_AMOUNT, "06")])
def test_sale_without_a_valid_answer_is_reversed_and_nothing_charged(world, fate, reason):
    sale(world, 100)  # signed on, one good sale
    fail_next(world, fate)
    outcome = sale(world, 2500, confirm_duplicate=True)
    assert outcome.status == "reversed", outcome.message
    assert outcome.txn.state == "reversed"
    sent = [m for m, f in world.exchanges]
    assert sent[-1] == "0400"
    assert reversal_sent(world, outcome.txn.id)["fields"]["39"] == reason
    assert world.net_charged() == 100  # the bank agrees: only the good sale


def test_undeliverable_reversal_blocks_the_next_sale_until_sent(world):
    sale(world, 100)
    calls = {"n": 0}

    def wire(message):  # answer lost, then the reversal does not reach the host twice
        calls["n"] += 1
        if message is not None and message.mti == "0200" and calls["n"] < 3:
            return LOSE_ANSWER
        if message is not None and message.mti in ("0400", "0401") and calls["n"] < 6:
            return LOSE_REQUEST
        return DELIVER
    world.wire = wire
    first = sale(world, 700, confirm_duplicate=True)
    assert first.status == "in_doubt"
    assert world.net_charged() == 800  # the bank charged it; the reversal still owes
    with pytest.raises(EngineError, match="reversal of trace"):
        sale(world, 900, confirm_duplicate=True)
    second = sale(world, 900, confirm_duplicate=True)  # the reversal goes first, then the sale
    assert second.status == "approved"
    mtis = [m for m, _ in world.exchanges]
    assert mtis[-2:] == ["0401", "0200"]
    assert world.journal.get(first.txn.id).state == "reversed"
    assert world.net_charged() == 100 + 900


def test_offline_host_means_nothing_journaled_nothing_sent(world):
    sale(world, 100)
    before = world.journal.find(limit=50)
    world.wire = lambda message: REFUSE
    with pytest.raises(EngineError, match="nothing was sent"):
        sale(world, 200, confirm_duplicate=True)
    assert world.journal.find(limit=50) == before


def test_card_removed_after_approval_reverses_with_reason_06(world):
    sale(world, 100)
    world.card_removed_after_approval = True
    outcome = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(300, test_card="debit", confirm_duplicate=True), CASHIER))
    # test cards are swipes: FinishCard still runs, and a chip-removal answer reverses
    assert outcome.status in ("approved", "reversed")
    if outcome.status == "reversed":
        assert reversal_sent(world, outcome.txn.id)["fields"]["39"] == "06"
        assert world.net_charged() == 100


def test_declined_sale_is_journaled_and_charges_nothing(world):
    outcome = sale(world, 100, card="declined")
    assert outcome.status == "declined" and outcome.txn.response_code == "05"
    assert world.net_charged("declined") == 0


def test_insufficient_funds_is_declined_with_the_bank_reason(world):
    outcome = sale(world, 6000, card="low-balance")
    assert outcome.status == "declined" and outcome.txn.response_code == "51"
    assert "Insufficient funds" in outcome.message


# ---------------------------------------------------------------- S1: overcharge

def test_s1_overcharge_open_batch_voids_and_charges_the_right_amount(world):
    wrong = sale(world, 12000)
    outcome = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(wrong.txn.trace, 10000, test_card="debit"),
                                      SUPERVISOR))
    assert outcome.status == "approved", outcome.message
    assert "voided" in outcome.message
    assert world.net_charged() == 10000
    kinds = [t.kind for t in world.journal.purchase(wrong.txn.id)]
    assert "void" in kinds and "correction" in kinds


def test_s1_overcharge_after_settlement_refunds_the_difference(world):
    wrong = sale(world, 12000)
    assert settle(world).status == "done"
    outcome = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(wrong.txn.trace, 10000), SUPERVISOR))
    assert outcome.status == "approved", outcome.message
    assert "refunding the difference" in outcome.message and "settled" in outcome.message
    assert world.net_charged() == 10000


# ---------------------------------------------------------------- S2: charged twice

def test_s2_same_card_same_amount_asks_first_then_repairs(world):
    first = sale(world, 5000)
    again = sale(world, 5000)
    assert again.status == "needs_confirmation" and again.details["guard"] == "duplicate"
    assert world.net_charged() == 5000
    second = sale(world, 5000, confirm_duplicate=True)
    assert second.status == "approved" and world.net_charged() == 10000
    groups = world.journal.suspected_duplicates(window_seconds=PROFILE.duplicate_window_seconds)
    assert [t.id for t in groups[0]] == [first.txn.id, second.txn.id]
    fixed = world.run(fixes.fix_duplicate(PROFILE, fixes.DuplicateFixRequest(second.txn.id), SUPERVISOR))
    assert fixed.status == "approved", fixed.message
    assert world.net_charged() == 5000


# ---------------------------------------------------------------- S3: undercharge

def test_s3_undercharge_collects_the_difference_as_a_linked_sale(world):
    short = sale(world, 1000)
    outcome = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(short.txn.trace, 10000, test_card="debit"),
                                      SUPERVISOR))
    assert outcome.status == "approved", outcome.message
    assert outcome.txn.kind == "correction" and outcome.txn.amount == 9000
    assert outcome.txn.original_id == short.txn.id
    assert world.net_charged() == 10000


def test_s3_never_charges_on_top_of_an_unknown_outcome(world):
    sale(world, 100)
    world.wire = lambda m: (LOSE_ANSWER if m is not None and m.mti == "0200" else
                            LOSE_REQUEST if m is not None and m.mti in ("0400", "0401") else DELIVER)
    unknown = sale(world, 1000, confirm_duplicate=True)
    assert unknown.status == "in_doubt"
    with pytest.raises(EngineError):
        world.run(fixes.correct(PROFILE, fixes.CorrectRequest(unknown.txn.trace, 10000), SUPERVISOR))
    assert world.net_charged() == 1100  # the bank holds it until the reversal lands; no extra charge


# ---------------------------------------------------------------- S4: refunds

def test_s4_partial_refunds_add_up_and_never_exceed_the_original(world):
    original = sale(world, 10000)
    settle(world)
    refund = lambda amount, **kw: world.run(ops.refund(  # noqa: E731
        PROFILE, ops.RefundRequest(trace=original.txn.trace, amount=amount, **kw), SUPERVISOR))
    assert refund(3000).status == "approved"
    assert refund(3000, confirm_repeat=True).status == "approved"
    with pytest.raises(EngineError, match="more than the 40.00 still refundable"):
        refund(5000)
    assert refund(None).status == "approved"  # the rest
    assert world.net_charged() == 0
    with pytest.raises(EngineError, match="fully refunded"):
        refund(100)


def test_s4_a_repeated_refund_is_recognised_and_not_paid_twice(world):
    original = sale(world, 10000)
    first = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=original.txn.trace, amount=2000,
                                                            client_request_id="pos-1"), SUPERVISOR))
    again = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=original.txn.trace, amount=2000,
                                                            client_request_id="pos-1"), SUPERVISOR))
    assert first.status == "approved" and again.status == "repeat"
    same_seconds = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=original.txn.trace, amount=2000),
                                        SUPERVISOR))
    assert same_seconds.status == "needs_confirmation"  # a second identical refund only on purpose
    assert same_seconds.details["guard"] == "repeat_refund" and "--confirm-repeat" in same_seconds.message
    assert world.net_charged() == 8000


def test_s4_missing_original_gets_a_specific_message(world):
    sale(world, 100)
    with pytest.raises(EngineError, match="no sale with trace 000123"):
        world.run(ops.refund(PROFILE, ops.RefundRequest(trace=123), SUPERVISOR))


def test_s4_lost_refund_answer_is_reversed_before_trying_again(world):
    original = sale(world, 10000)
    fail_next(world, LOSE_ANSWER, mti="0220")
    lost = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=original.txn.trace, amount=1000), SUPERVISOR))
    assert lost.status == "reversed"
    assert world.net_charged() == 10000
    again = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=original.txn.trace, amount=1000), SUPERVISOR))
    assert again.status == "approved" and world.net_charged() == 9000


# ---------------------------------------------------------------- S5: settlement

def test_s5_settlement_asks_first_then_void_is_refused_with_the_refund_offered(world):
    original = sale(world, 10000)
    ask = world.run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=False), SUPERVISOR))
    assert ask.status == "needs_confirmation" and "sales 1 for 100.00" in ask.message
    done = settle(world)
    assert done.status == "done" and "balanced" in done.message
    with pytest.raises(EngineError, match=r"settled .*refund --trace") as info:
        world.run(ops.void(PROFILE, ops.VoidRequest(original.txn.trace), SUPERVISOR))
    assert info.value.code == "batch_settled"
    refund = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=original.txn.trace), SUPERVISOR))
    assert refund.status == "approved" and world.net_charged() == 0
    assert world.journal.open_batch().number == done.details["next_batch"]


def test_s5_settlement_interrupted_after_0500_resumes_without_a_second_batch(world):
    sale(world, 10000)
    fail_next(world, LOSE_ANSWER, mti="0320")
    with pytest.raises(EngineError, match="resumes"):
        settle(world)  # totals sent; the upload end was lost
    assert world.journal.in_doubt().settling is not None
    done = settle(world)
    assert done.status == "done"
    batches = {s["batch"] for s in world.ledger.net_report()["settlements"]}
    assert len(batches) == 1


# ---------------------------------------------------------------- recovery after a crash

def test_crash_between_intent_and_outcome_is_reversed_at_start(world):
    sale(world, 100)
    plan = card_sale.sale(PROFILE, card_sale.SaleRequest(4000, test_card="debit", confirm_duplicate=True), CASHIER)
    effect = None
    result = None
    while True:  # run the plan until its request is on the wire, then "lose power"
        effect = plan.send(result)
        if type(effect).__name__ == "Exchange" and effect.request.mti == "0200":
            world.exchange(effect.request)  # the host charges the card
            plan.close()
            break
        result = world.perform(effect)
    assert world.net_charged() == 4100
    outcome = world.run(settlement.recover(PROFILE))
    assert outcome.status == "done", outcome.message
    assert world.net_charged() == 100
    assert world.journal.in_doubt().clean


def test_void_rules_name_the_reason(world):
    declined = sale(world, 100, card="declined")
    with pytest.raises(EngineError, match="declined: nothing was charged"):
        world.run(ops.void(PROFILE, ops.VoidRequest(declined.txn.trace), SUPERVISOR))
    good = sale(world, 100)
    assert world.run(ops.void(PROFILE, ops.VoidRequest(good.txn.trace), SUPERVISOR)).status == "approved"
    with pytest.raises(EngineError, match="already voided"):
        world.run(ops.void(PROFILE, ops.VoidRequest(good.txn.trace), SUPERVISOR))
    with pytest.raises(EngineError, match="no sale with trace 004242"):
        world.run(ops.void(PROFILE, ops.VoidRequest(4242), SUPERVISOR))
    assert world.net_charged() == 0


def test_echo_and_signon(world):
    assert world.run(common.echo(PROFILE)).status == "done"
    result = world.run(common.sign_on(PROFILE))
    assert set(result.key_check_values) >= {"pin", "mac"}


def test_a_chinese_terminal_speaks_chinese_to_the_cashier(world):
    from dataclasses import replace

    zh = replace(PROFILE, language="zh")
    approved = world.run(card_sale.sale(zh, card_sale.SaleRequest(10000, test_card="debit"), CASHIER))
    assert approved.message.startswith("消费成功") and "100.00" in approved.message
    asked = world.run(settlement.settle(zh, settlement.SettleRequest(confirm=False), SUPERVISOR))
    assert "确认结算" in asked.message
    world.run(settlement.settle(zh, settlement.SettleRequest(confirm=True), SUPERVISOR))
    with pytest.raises(EngineError, match="不能再撤销"):
        world.run(ops.void(zh, ops.VoidRequest(approved.txn.trace), SUPERVISOR))
    with pytest.raises(EngineError, match="超过"):
        world.run(ops.refund(zh, ops.RefundRequest(trace=approved.txn.trace, amount=20000), SUPERVISOR))
