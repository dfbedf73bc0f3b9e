"""An advice or a reversal the bank did not process is still owed — never taken as the bank's decline.

Found by the chaos campaign with outages and power cuts: a terminal that could not sign on stored a sale;
when the line came back its advice went out before the sign-on, unMAC'd, the bank answered 77 (sign on
again) and the terminal marked the sale "declined after forwarding" — money the merchant would have lost
for nothing.  Now what is owed waits for the sign-on it needs, an answer that says the bank did not process
the message (77, A0, 91, 96, …) leaves it owed, and 77 / A0 make the terminal sign on and send it again.

Sans-IO engine, real journal file, real codec and MACs, the simulator's acquirer in-process (its ledger is
the bank's word)."""

from __future__ import annotations

import pytest

from agent.engine.preauth import plans as pa
from agent.engine.common import echo, sign_on
from agent.engine.responses import NOT_PROCESSED, SIGN_ON_AGAIN, describe
from agent.journal.states import TxnState
from agent.keys.store import SoftwareKeyStore
from tests.enginekit import CASHIER, PROFILE, REFUSE, SUPERVISOR, TMK, World


def bank_forgets_the_terminal(world: World) -> None:
    """The acquirer lost this terminal's working keys (its key store was rebuilt, or it signed it off)."""
    world.ledger.record_signoff(PROFILE.terminal_id)
    world.host.drop_keys(PROFILE.terminal_id)


def held_then_completed_by_advice_while_cut(world: World) -> int:
    """A hotel stay: the hold online, then the check-out's completion as an advice while the line is cut."""
    hold = world.run(pa.preauth(PROFILE, pa.PreauthRequest(50000, test_card="debit"), SUPERVISOR))
    assert hold.status == "approved", hold.message
    world.wire = lambda message: REFUSE
    queued = world.run(pa.complete(PROFILE, pa.CompleteRequest(hold.txn.trace, 52000, advice=True), CASHIER))
    assert queued.status == "done" and queued.txn.state == TxnState.ADVICE_PENDING, queued.message
    world.wire = lambda message: "deliver"
    return queued.txn.id


def test_the_bank_asking_for_a_sign_on_gets_one_and_the_advice_goes_again(tmp_path):
    world = World(tmp_path)
    try:
        advice = held_then_completed_by_advice_while_cut(world)
        bank_forgets_the_terminal(world)  # the terminal still holds keys the bank no longer knows
        assert world.run(echo(PROFILE)).status == "done"  # the background sender's try when the line is back
        assert world.journal.get(advice).state == TxnState.APPROVED
        mtis = [mti for mti, _ in world.exchanges]
        assert mtis[-4:] == ["0220", "0800", "0221", "0820"], mtis  # 77, sign on, the repeat booked, then the echo
        assert world.net_charged("debit") == 52000  # charged once
    finally:
        world.close()


def test_what_is_owed_waits_for_the_sign_on_it_needs(tmp_path):
    world = World(tmp_path)
    try:
        advice = held_then_completed_by_advice_while_cut(world)
        bank_forgets_the_terminal(world)
        (tmp_path / "keys.json").unlink()  # and the terminal lost its working keys too (a new key file)
        world.keystore = SoftwareKeyStore(TMK, tmp_path / "keys.json")
        assert not world.keystore.has_keys
        before = len(world.exchanges)
        assert world.run(echo(PROFILE)).status == "done"
        assert [mti for mti, _ in world.exchanges[before:]] == ["0800", "0220", "0820"]  # the sign-on first
        assert world.journal.get(advice).state == TxnState.APPROVED
        assert world.net_charged("debit") == 52000
    finally:
        world.close()


@pytest.mark.parametrize("code", sorted(NOT_PROCESSED - SIGN_ON_AGAIN))
def test_an_advice_the_bank_could_not_process_stays_owed_and_goes_again_as_a_repeat(tmp_path, code):
    world = World(tmp_path)
    try:
        advice = held_then_completed_by_advice_while_cut(world)
        answer_with, real_handle = world.host.answer, world.host.handle
        # the switch answers before anything is booked
        world.host.handle = lambda msg, now: (answer_with(_request(world, msg, now), code)
                                              if msg.mti == "0220" else real_handle(msg, now))
        with pytest.raises(Exception) as refused:
            world.run(echo(PROFILE))
        assert code in str(refused.value) and describe(code) in str(refused.value)
        txn = world.journal.get(advice)
        assert txn.state == TxnState.ADVICE_PENDING, txn.state  # not declined: the merchant loses nothing
        assert world.net_charged("debit") == 0
        world.host.handle = real_handle  # the bank is well again
        assert world.run(echo(PROFILE)).status == "done"
        assert [mti for mti, _ in world.exchanges][-2:] == ["0221", "0820"]
        assert world.journal.get(advice).state == TxnState.APPROVED and world.net_charged("debit") == 52000
    finally:
        world.close()


def _request(world: World, msg, now):
    from simulator.host.processing import Request
    return Request(msg, msg[41].strip(), msg.get(42) or "", msg.get(11) or "000000", None, now)


def test_a_decline_of_the_stored_sale_itself_is_still_final(tmp_path):
    """The other side of the rule: an issuer's answer (here 51, no funds left on the card) is the bank's word
    on the advice — marked declined, shown to the merchant, never sent again."""
    world = World(tmp_path)
    try:
        advice = held_then_completed_by_advice_while_cut(world)
        answer_with = world.host.answer
        real_handle = world.host.handle
        world.host.handle = lambda msg, now: (answer_with(_request(world, msg, now), "51")
                                              if msg.mti == "0220" else real_handle(msg, now))
        world.run(echo(PROFILE))
        assert world.journal.get(advice).state == TxnState.DECLINED
        assert [mti for mti, _ in world.exchanges].count("0220") == 1
    finally:
        world.close()


def test_a_reversal_the_bank_asks_a_sign_on_for_is_sent_again_after_one(tmp_path):
    """A sale whose answer was lost owes its reversal; the bank meanwhile lost the terminal's keys: 77 to the
    reversal, a sign-on, the reversal again — the sale undone on the bank's ledger, nothing left owed."""
    from agent.engine.card.sale import SaleRequest, sale
    from tests.enginekit import LOSE_ANSWER
    world = World(tmp_path)
    try:
        world.run(sign_on(PROFILE))
        world.run_under(sale(PROFILE, SaleRequest(amount=4200, test_card="debit"), CASHIER),
                        [LOSE_ANSWER, REFUSE])  # the answer lost, the reversal cannot go at once
        assert world.net_charged("debit") == 4200 and len(world.journal.pending_reversals()) == 1
        bank_forgets_the_terminal(world)
        world.wire = lambda message: "deliver"
        assert world.run(echo(PROFILE)).status == "done"
        mtis = [mti for mti, _ in world.exchanges]
        assert mtis[-4:] == ["0401", "0800", "0401", "0820"], mtis  # 77 to the repeat, sign on, again
        assert world.net_charged("debit") == 0 and not world.journal.pending_reversals()
    finally:
        world.close()
