"""Pre-authorization (预授权) through the sans-IO engine against the real journal, the real codec and the
simulator's acquirer: every rule, every mistake's fix, and every wire fault at every step — each checked
on the acquirer's ledger (held and charged per card) as well as the journal."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agent.engine import fixes, purchases as ops, routes, settlement
from agent.engine.card import sale as card_sale
from agent.engine.preauth import plans as pa
from agent.engine.effects import EngineError
from simulator.host.holds import held_amount
from tests.enginekit import (CASHIER, CORRUPT_MAC, DELIVER, LOSE_ANSWER, LOSE_REQUEST, PROFILE, REFUSE, SUPERVISOR,
                             WRONG_AMOUNT, World)

DAY = 86400


def held(world: World, card: str = "debit") -> int:
    return held_amount(world.ledger, card, datetime.fromtimestamp(world.clock.now, timezone.utc))


def charged(world: World, card: str = "debit") -> int:
    return world.net_charged(card)


def hold(world: World, amount: int, card: str = "debit", **kw):
    return world.run(pa.preauth(PROFILE, pa.PreauthRequest(amount, test_card=card, **kw), SUPERVISOR))


def complete(world: World, trace: int, amount: int):
    return world.run(pa.complete(PROFILE, pa.CompleteRequest(trace, amount), CASHIER))


def void_hold(world: World, trace: int):
    return world.run(pa.preauth_void(PROFILE, pa.HoldRef(trace), SUPERVISOR))


def void_completion(world: World, trace: int):
    return world.run(pa.completion_void(PROFILE, pa.CompletionRef(trace), SUPERVISOR))


def correct(world: World, trace: int, amount: int, card: str = "debit"):
    return world.run(routes.correct_any(PROFILE, fixes.CorrectRequest(trace, amount, test_card=card),
                                               SUPERVISOR))


def settle(world: World):
    return world.run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR))


def test_preauth_holds_and_completion_charges_and_releases(world):
    out = hold(world, 200000)
    assert out.status == "approved", out.message
    assert [m for m, _ in world.exchanges] == ["0800", "0100"]
    assert held(world) == 200000 and charged(world) == 0
    done = complete(world, out.txn.trace, 180000)
    assert done.status == "approved", done.message
    assert held(world) == 0 and charged(world) == 180000
    assert world.journal.net_charged() == {out.txn.pan_masked: 180000}


def test_preauth_above_the_available_funds_is_declined_and_holds_nothing(world):
    out = hold(world, 6000, card="low-balance")
    assert out.status == "declined" and held(world, "low-balance") == 0
    first = hold(world, 4000, card="low-balance")
    assert first.status == "approved" and held(world, "low-balance") == 4000
    # the hold counts against what the card can still pay
    sale = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(2000, test_card="low-balance"), CASHIER))
    assert sale.status == "declined" and charged(world, "low-balance") == 0


def test_completion_within_the_tolerance_is_approved_above_it_refused_before_sending(world):
    out = hold(world, 10000)
    sent = len(world.exchanges)
    with pytest.raises(EngineError) as refused:
        complete(world, out.txn.trace, 11501)
    assert refused.value.code == "amount_too_large" and "115.00" in str(refused.value)
    assert len(world.exchanges) == sent and charged(world) == 0 and held(world) == 10000
    assert complete(world, out.txn.trace, 11500).status == "approved"
    assert charged(world) == 11500 and held(world) == 0


def test_the_host_enforces_the_tolerance_too(world):
    out = hold(world, 10000)
    loose = PROFILE.__class__(**{**PROFILE.__dict__, "preauth_tolerance_percent": 50})
    done = world.run(pa.complete(loose, pa.CompleteRequest(out.txn.trace, 14000), CASHIER))
    assert done.status == "declined" and done.txn.response_code == "13"
    assert charged(world) == 0 and held(world) == 10000


def test_one_completion_per_preauth_the_second_is_refused_with_what_to_do(world):
    out = hold(world, 50000)
    first = complete(world, out.txn.trace, 48000)
    with pytest.raises(EngineError) as refused:
        complete(world, out.txn.trace, 48000)
    message = str(refused.value)
    assert refused.value.code == "already_completed"
    assert f"{first.txn.trace:06d}" in message and "posagent correct" in message
    assert charged(world) == 48000


def test_expired_preauth_cannot_be_completed_and_the_issuer_released_it(world):
    out = hold(world, 30000)
    world.clock.advance(31 * DAY)
    assert held(world) == 0  # the issuer's hold lapsed
    with pytest.raises(EngineError) as refused:
        complete(world, out.txn.trace, 30000)
    assert refused.value.code == "expired" and "30 days" in str(refused.value) and "new sale" in str(refused.value)
    # a terminal configured for longer validity still meets the host's rule
    longer = PROFILE.__class__(**{**PROFILE.__dict__, "preauth_validity_days": 60})
    done = world.run(pa.complete(longer, pa.CompleteRequest(out.txn.trace, 30000), CASHIER))
    assert done.status == "declined" and done.txn.response_code == "12" and charged(world) == 0


def test_preauth_void_releases_the_hold_only_before_completion(world):
    first = hold(world, 20000)
    voided = void_hold(world, first.txn.trace)
    assert voided.status == "approved", voided.message
    assert held(world) == 0 and world.journal.get(first.txn.id).state == "voided"
    with pytest.raises(EngineError) as again:
        void_hold(world, first.txn.trace)
    assert again.value.code == "not_open"
    with pytest.raises(EngineError):
        complete(world, first.txn.trace, 20000)
    second = hold(world, 20000, confirm_duplicate=True)
    done = complete(world, second.txn.trace, 20000)
    with pytest.raises(EngineError) as refused:
        void_hold(world, second.txn.trace)
    assert refused.value.code == "already_completed" and f"{done.txn.trace:06d}" in str(refused.value)
    assert charged(world) == 20000 and held(world) == 0


def test_completion_void_in_the_open_batch_restores_the_hold_and_after_settlement_refund_instead(world):
    out = hold(world, 40000)
    done = complete(world, out.txn.trace, 35000)
    undone = void_completion(world, done.txn.trace)
    assert undone.status == "approved", undone.message
    assert charged(world) == 0 and held(world) == 40000
    again = complete(world, out.txn.trace, 38000)
    assert again.status == "approved" and charged(world) == 38000
    assert settle(world).status == "done"
    with pytest.raises(EngineError) as refused:
        void_completion(world, again.txn.trace)
    assert refused.value.code == "batch_settled" and "posagent refund --trace" in str(refused.value)
    refunded = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=again.txn.trace, amount=3000), SUPERVISOR))
    assert refunded.status == "approved", refunded.message
    assert charged(world) == 35000


def test_settlement_counts_completions_as_debits_and_never_preauths(world):
    a = hold(world, 10000)
    hold(world, 7000)  # stays open: not settled
    b = hold(world, 9000, card="credit")
    void_hold(world, b.txn.trace)
    complete(world, a.txn.trace, 9500)
    world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(1234, test_card="credit"), CASHIER))
    batch = world.journal.open_batch().number
    totals = world.journal.batch_totals(batch)
    assert (totals.debit_amount, totals.debit_count, totals.credit_count) == (9500 + 1234, 2, 0)
    outcome = settle(world)
    assert outcome.status == "done" and "balanced" in outcome.message.lower(), outcome.message
    host_totals = world.ledger.batch_totals(PROFILE.terminal_id, f"{batch:06d}")
    assert (host_totals.debit_amount, host_totals.debit_count) == (9500 + 1234, 2)
    assert held(world) == 7000  # the open hold survives settlement


# ---------------------------------------------------------------- mistakes and their fixes

def test_completion_too_large_in_the_open_batch_is_voided_and_completed_again(world):
    out = hold(world, 100000)
    wrong = complete(world, out.txn.trace, 110000)
    fixed = correct(world, wrong.txn.trace, 95000)
    assert fixed.status == "approved", fixed.message
    assert "voiding the completion" in fixed.message and len(fixed.steps) == 2
    assert charged(world) == 95000 and held(world) == 0
    purchase = {t.kind for t in world.journal.purchase(out.txn.id)}
    assert purchase >= {"preauth", "completion", "completion_void"}


def test_completion_too_large_after_settlement_refunds_the_difference(world):
    out = hold(world, 100000)
    wrong = complete(world, out.txn.trace, 110000)
    settle(world)
    fixed = correct(world, wrong.txn.trace, 95000)
    assert fixed.status == "approved" and "settled" in fixed.message, fixed.message
    assert fixed.txn.kind == "refund" and fixed.txn.amount == 15000
    assert charged(world) == 95000


def test_completion_too_small_within_the_tolerance_is_completed_again(world):
    out = hold(world, 100000)
    wrong = complete(world, out.txn.trace, 10000)
    fixed = correct(world, wrong.txn.trace, 100000)
    assert fixed.status == "approved" and fixed.txn.kind == "completion" and fixed.txn.amount == 100000
    assert charged(world) == 100000 and held(world) == 0


def test_completion_too_small_beyond_the_tolerance_collects_a_linked_sale(world):
    out = hold(world, 100000)
    wrong = complete(world, out.txn.trace, 100000)
    fixed = correct(world, wrong.txn.trace, 130000)
    assert fixed.status == "approved", fixed.message
    assert fixed.txn.kind == "correction" and fixed.txn.amount == 30000 and fixed.txn.original_id == wrong.txn.id
    assert "tolerance" in fixed.message
    assert charged(world) == 130000


def test_completion_too_small_after_settlement_collects_a_linked_sale(world):
    out = hold(world, 100000)
    wrong = complete(world, out.txn.trace, 90000)
    settle(world)
    fixed = correct(world, wrong.txn.trace, 100000)
    assert fixed.txn.kind == "correction" and fixed.txn.amount == 10000 and "settled" in fixed.message
    assert charged(world) == 100000


def test_correct_on_a_sale_trace_still_corrects_the_sale(world):
    sale = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(12000, test_card="debit"), CASHIER))
    fixed = correct(world, sale.txn.trace, 10000)
    assert fixed.status == "approved" and charged(world) == 10000


def test_a_stay_held_twice_is_asked_first_then_listed_and_the_extra_hold_released(world):
    first = hold(world, 80000)
    asked = hold(world, 80000)
    assert asked.status == "needs_confirmation" and f"{first.txn.trace:06d}" in asked.message
    assert held(world) == 80000
    second = hold(world, 80000, confirm_duplicate=True)
    assert held(world) == 160000
    groups = world.journal.suspected_duplicate_holds(window_seconds=PROFILE.duplicate_window_seconds)
    assert [[t.id for t in g] for g in groups] == [[first.txn.id, second.txn.id]]
    fixed = world.run(routes.fix_duplicate_any(PROFILE, fixes.DuplicateFixRequest(second.txn.id), SUPERVISOR))
    assert fixed.status == "approved" and "releasing" in fixed.message
    assert held(world) == 80000
    assert world.journal.suspected_duplicate_holds(window_seconds=PROFILE.duplicate_window_seconds) == []
    with pytest.raises(EngineError) as refused:
        world.run(routes.fix_duplicate_any(PROFILE, fixes.DuplicateFixRequest(first.txn.id), SUPERVISOR))
    assert refused.value.code == "not_duplicate"


def test_forgotten_holds_are_listed_by_age_with_what_is_blocked_and_released(world):
    old = hold(world, 50000)
    world.clock.advance(5 * DAY)
    new = hold(world, 20000, card="credit")
    done_one = hold(world, 1000, card="credit")
    complete(world, done_one.txn.trace, 1000)
    listing = world.run(pa.list_holds(PROFILE))
    holds = listing.details["holds"]
    assert [h["txn"]["id"] for h in holds] == [old.txn.id, new.txn.id]
    assert holds[0]["age_seconds"] > holds[1]["age_seconds"] and listing.details["blocked"] == 70000
    assert "700.00" in listing.message
    released = world.run(pa.release(PROFILE, pa.HoldRef(old.txn.trace), SUPERVISOR))
    assert released.status == "approved" and "Releasing" in released.message
    assert held(world) == 0 and held(world, "credit") == 20000
    assert [h["txn"]["id"] for h in world.run(pa.list_holds(PROFILE)).details["holds"]] == [new.txn.id]


def test_unknown_traces_get_a_specific_refusal(world):
    sale = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(500, test_card="debit"), CASHIER))
    with pytest.raises(EngineError, match="no pre-auth with trace 000999"):
        complete(world, 999, 100)
    with pytest.raises(EngineError, match=f"no pre-auth with trace {sale.txn.trace:06d}"):
        void_hold(world, sale.txn.trace)
    with pytest.raises(EngineError, match="no completion with trace"):
        void_completion(world, sale.txn.trace)


def test_chinese_texts(world):
    zh = PROFILE.__class__(**{**PROFILE.__dict__, "language": "zh"})
    out = world.run(pa.preauth(zh, pa.PreauthRequest(10000, test_card="debit"), SUPERVISOR))
    assert "预授权成功" in out.message
    done = world.run(pa.complete(zh, pa.CompleteRequest(out.txn.trace, 10000), CASHIER))
    assert "预授权完成成功" in done.message


# ---------------------------------------------------------------- every fault at every step

def fail(world: World, mti: str, fates: list[str], *, repeat: str | None = None):
    """The next exchanges of `mti` (and of its repeat MTI, when given: a 0220 sent again is a 0221) meet
    `fates` in order; everything else is delivered."""
    left = list(fates)

    def wire(message):
        if message is not None and message.mti in (mti, repeat) and left:
            return left.pop(0)
        return DELIVER
    world.wire = wire


FATES = [LOSE_REQUEST, LOSE_ANSWER, CORRUPT_MAC, WRONG_AMOUNT, REFUSE]


def _prepare(world: World, step: str):
    """Bring the world to just before `step`; returns the plan that runs it."""
    if step == "preauth":
        return lambda: hold(world, 30000)
    pre = hold(world, 30000)
    if step == "preauth_void":
        return lambda: void_hold(world, pre.txn.trace)
    if step == "completion":
        return lambda: complete(world, pre.txn.trace, 32000)
    done = complete(world, pre.txn.trace, 32000)
    return lambda: void_completion(world, done.txn.trace)


MTI = {"preauth": "0100", "preauth_void": "0100", "completion": "0200", "completion_void": "0200"}


@pytest.mark.parametrize("step", list(MTI))
@pytest.mark.parametrize("fate", FATES)
@pytest.mark.parametrize("reversal_lost", [False, True])
def test_every_fault_at_every_step_leaves_the_ledger_as_before(world, step, fate, reversal_lost):
    run = _prepare(world, step)
    before = (held(world), charged(world))
    fail(world, MTI[step], [fate])
    if reversal_lost:
        world_wire = world.wire

        def wire(message, state={"lost": False}):
            if message is not None and message.mti == "0400" and not state["lost"]:
                state["lost"] = True
                return LOSE_ANSWER
            return world_wire(message)
        world.wire = wire
    outcome = run()
    assert outcome.status == ("in_doubt" if reversal_lost else "reversed"), outcome.message
    if reversal_lost:  # the next operation of any kind sends the reversal first
        listing = world.run(pa.list_holds(PROFILE))
        assert listing.status == "done"
        world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(1, test_card="credit"), CASHIER))
    assert world.journal.pending_reversals() == []
    assert (held(world), charged(world)) == before
    assert world.journal.get(outcome.txn.id).state == "reversed"
    # the journal agrees with the bank on holds and charges
    journal_held = sum(h.blocked for h in world.journal.open_holds(validity_seconds=30 * DAY))
    assert journal_held == held(world)
    assert sum(v for k, v in world.journal.net_charged().items() if k.endswith("0048")) == charged(world)


@pytest.mark.parametrize("step", list(MTI))
def test_after_a_reversed_step_the_same_step_can_be_done_again(world, step):
    run = _prepare(world, step)
    fail(world, MTI[step], [LOSE_ANSWER])
    assert run().status == "reversed"
    world.wire = lambda message: DELIVER
    assert run().status == "approved"


def test_a_crash_between_journal_and_answer_is_reversed_at_recovery(world):
    """The request was journaled and the host moved money, but the outcome never reached the journal."""
    pre = hold(world, 25000)
    plan = pa.complete(PROFILE, pa.CompleteRequest(pre.txn.trace, 25000), CASHIER)
    # drive the plan until the completion is on the wire, then drop it (a SIGKILL)
    result, effect = None, plan.send(None)
    while True:
        if effect.__class__.__name__ == "Exchange" and effect.request.mti == "0200":
            world.exchange(effect.request)
            plan.close()
            break
        result = world.perform(effect)
        effect = plan.send(result)
    assert charged(world) == 25000  # the bank charged; the journal says "sending"
    recovered = world.journal.in_doubt()
    assert [t.kind for t in recovered.unanswered] == ["completion"]
    world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(1, test_card="credit"), CASHIER))  # reversal first
    assert charged(world) == 0 and held(world) == 25000
    again = complete(world, pre.txn.trace, 25000)
    assert again.status == "approved" and charged(world) == 25000


# ---------------------------------------------------------------- the offline completion advice

def advise(world: World, trace: int, amount: int):
    return world.run(pa.complete(PROFILE, pa.CompleteRequest(trace, amount, advice=True), CASHIER))


def test_completion_advice_online_is_charged_at_once_without_a_reversal(world):
    pre = hold(world, 20000)
    out = advise(world, pre.txn.trace, 21000)
    assert out.status == "approved" and out.txn.kind == "completion", out.message
    assert world.exchanges[-1] == ("0220", DELIVER)
    assert charged(world) == 21000 and held(world) == 0
    sent = next(m["body"] for m in world.journal.messages(out.txn.id) if m["direction"] == "sent")
    assert sent["mti"] == "0220" and sent["fields"]["60"].startswith("24")


@pytest.mark.parametrize("fate", FATES)
def test_completion_advice_is_sent_again_until_acknowledged_and_charged_once(world, fate):
    pre = hold(world, 20000)
    fail(world, "0220", [fate, fate], repeat="0221")  # the first try and its repeat both fail
    out = advise(world, pre.txn.trace, 20000)
    assert out.status == "done" and out.details["queued"], out.message
    assert "sent to the bank as soon as" in out.message
    assert world.journal.get(out.txn.id).state == "advice_pending"
    # a second completion of the same pre-auth is refused while the advice is owed
    with pytest.raises(EngineError):
        complete(world, pre.txn.trace, 20000)
    # no reversal is owed; the next online operation is held back until the advice is answered
    assert world.journal.pending_reversals() == []
    with pytest.raises(EngineError) as held_back:
        world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(100, test_card="credit"), CASHIER))
    assert held_back.value.code == "advice_pending"
    sale = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(100, test_card="credit"), CASHIER))
    assert sale.status == "approved"
    assert world.journal.get(out.txn.id).state == "approved"
    assert charged(world) == 20000 and held(world) == 0  # never twice, whatever happened to the tries


def test_an_advice_owed_is_delivered_before_the_settlement_and_counted_in_it(world):
    pre = hold(world, 50000)
    fail(world, "0220", [LOSE_ANSWER])
    advise(world, pre.txn.trace, 45000)
    assert charged(world) == 45000  # the host took it; the answer was lost
    batch = world.journal.open_batch().number
    done = settle(world)
    assert done.status == "done", done.message
    host_totals = world.ledger.batch_totals(PROFILE.terminal_id, f"{batch:06d}")
    assert (host_totals.debit_amount, host_totals.debit_count) == (45000, 1)
    assert world.journal.pending_advices() == []


def test_an_advice_survives_a_crash_and_is_never_reversed(world):
    pre = hold(world, 30000)
    plan = pa.complete(PROFILE, pa.CompleteRequest(pre.txn.trace, 30000, advice=True), CASHIER)
    result, effect = None, plan.send(None)
    while not (effect.__class__.__name__ == "Connect"):  # journaled, then the power goes
        result = world.perform(effect)
        effect = plan.send(result)
    plan.close()
    assert world.journal.in_doubt().clean and charged(world) == 0
    recovered = world.run(settlement.recover(PROFILE))
    assert recovered.status == "done"
    assert charged(world) == 30000 and world.journal.pending_advices() == []


def test_an_advice_above_the_host_tolerance_is_declined_and_the_hold_stays_open(world):
    pre = hold(world, 10000)
    loose = PROFILE.__class__(**{**PROFILE.__dict__, "preauth_tolerance_percent": 50})
    out = world.run(pa.complete(loose, pa.CompleteRequest(pre.txn.trace, 14000, advice=True), CASHIER))
    assert out.status == "declined" and "Nothing was charged" in out.message
    assert charged(world) == 0 and held(world) == 10000
    assert complete(world, pre.txn.trace, 10000).status == "approved"


def test_the_advice_type_is_configuration(world):
    other = PROFILE.__class__(**{**PROFILE.__dict__, "preauth_advice_type": "30"})
    pre = hold(world, 10000)
    out = world.run(pa.complete(other, pa.CompleteRequest(pre.txn.trace, 10000, advice=True), CASHIER))
    sent = next(m["body"] for m in world.journal.messages(out.txn.id) if m["direction"] == "sent")
    assert sent["fields"]["60"].startswith("30") and out.status == "approved"


def test_batch_upload_carries_completions_and_never_preauths(world):
    a = hold(world, 10000)
    b = hold(world, 5000, card="credit")
    complete(world, a.txn.trace, 10000)
    void_hold(world, b.txn.trace)
    batch = world.journal.open_batch().number
    kinds = [t.kind for t in world.journal.upload_pending(batch, ic_only=False)]
    assert kinds == ["completion"]
    # a settlement interrupted after the totals froze resumes at start and settles the completion
    world.journal.begin_settlement(batch)
    outcome = world.run(settlement.recover(PROFILE))
    assert outcome.status == "done"
    assert world.ledger.batch_totals(PROFILE.terminal_id, f"{batch:06d}").debit_amount == 10000
