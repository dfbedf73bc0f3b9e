"""The confirm keys on the keypad: a refund like one just made, settlement while fixes are still open or while
stored sales cannot be forwarded (confirmed: they move to the next batch).

Like the duplicate-sale question, the agent answers needs_confirmation and does nothing; the cashier's
ENTER asks again with the confirm flag (and the supervisor's password again: it is never kept), X ends
the dialog with nothing sent.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from agent.ui import Call
from tests.test_ui_flows import Screen, found, outcome, txn

SIZES = [(16, 4), (20, 4), (21, 8), (16, 8)]
REPEAT = ("Trace 000002 was refunded 50.00 a moment ago (trace 000007, approved). Refund it again?")


def _refund_asked(s):
    s.keys("3", "1", "2", "ENTER").reply(found(txn())).keys("ENTER", "50", "ENTER", "1234", "ENTER")
    assert s.last_call == Call("refund", {"trace": 2, "amount": 5000}, "1234")
    return s.reply(outcome("needs_confirmation", REPEAT, receipts=0, guard="repeat_refund"))


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_repeated_refund_asks_then_sends_confirm_repeat_with_the_password_again(width, height, language):
    s = _refund_asked(Screen(width, height, language))
    assert s.t.state == "refund.confirm" and "again" in s.text and len(s.calls) == 2
    s.confirm()  # ENTER pages down to the question's last page, then answers it
    assert s.t.state == "refund.password" and len(s.calls) == 2  # the password is asked again, nothing sent yet
    s.keys("1234", "ENTER")
    assert s.last_call == Call("refund", {"trace": 2, "amount": 5000, "confirm_repeat": True}, "1234")
    s.reply(outcome("approved", "Refund approved", receipts=1))
    assert s.t.state == "result" and s.printed == ["MERCHANT COPY 0", "CUSTOMER COPY 0"]
    s.keys("ENTER")
    assert s.t.state == "idle" and s.t.draft.confirm_repeat is False  # the next refund asks again


def test_a_declined_repeated_refund_sends_nothing():
    s = _refund_asked(Screen())
    s.keys("CANCEL")
    assert s.t.state == "idle" and len(s.calls) == 2 and s.printed == []


def test_a_wrong_password_after_the_repeat_question_keeps_the_confirmation():
    s = _refund_asked(Screen()).keys("ENTER", "9999", "ENTER")
    s.reply({"ok": False, "error": {"code": "auth", "message": "wrong supervisor password"}})
    s.keys("ENTER", "1234", "ENTER")  # the retry offer leads back to the password
    assert s.last_call == Call("refund", {"trace": 2, "amount": 5000, "confirm_repeat": True}, "1234")


def test_a_repeat_question_answered_while_cancel_was_pressed_sends_nothing():
    s = Screen().keys("3", "1", "2", "ENTER").reply(found(txn())).keys("ENTER", "50", "ENTER", "1234", "ENTER")
    s.keys("CANCEL").reply(outcome("needs_confirmation", REPEAT, receipts=0, guard="repeat_refund"))
    assert s.t.state == "idle" and len(s.calls) == 2


def test_another_question_on_a_refund_does_not_set_confirm_repeat():
    s = Screen().keys("3", "1", "2", "ENTER").reply(found(txn())).keys("ENTER", "ENTER", "1234", "ENTER")
    s.reply(outcome("needs_confirmation", "Go on?", receipts=0, guard="something_else"))
    s.keys("ENTER", "1234", "ENTER")
    assert s.last_call == Call("refund", {"trace": 2, "amount": None}, "1234")


OPEN = [{"id": 3, "trace": 5, "state": "open", "step": "sale"}]


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_settlement_with_open_fixes_lists_them_and_confirms_them(width, height, language):
    s = Screen(width, height, language).keys("8")
    s.reply(outcome("needs_confirmation", "1 correction is not finished: trace 000005. Settle batch 000001: "
                                          "sales 2 for 220.00. Confirm?", receipts=0, open_fixes=OPEN))
    assert s.t.state == "settle.confirm" and "000005" in s.text
    s.confirm().keys("1234", "ENTER")
    assert s.last_call == Call("settle", {"confirm": True, "confirm_open_fixes": True}, "1234")


STORED = ("2 sale(s) stored offline (65.00) cannot be forwarded now (bank answered 96). Wait and settle once they "
          "are forwarded, or confirm (supervisor, --confirm-stored): they move to the next batch.")


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_settlement_with_stored_sales_the_bank_cannot_take_asks_after_the_password_then_moves_them(
        width, height, language):
    s = Screen(width, height, language).keys("8")
    s.reply(outcome("needs_confirmation", "Settle batch 000001: sales 1 for 10.00. Confirm?", receipts=0,
                    open_fixes=[]))
    s.confirm().keys("1234", "ENTER")
    assert s.last_call == Call("settle", {"confirm": True}, "1234")
    s.reply(outcome("needs_confirmation", STORED, receipts=0, guard="stored_sales", batch=1,
                    stored={"count": 2, "amount": 6500, "traces": [4, 5]}))
    assert s.t.state == "settle.confirm" and "65.00" in s.text
    s.confirm().keys("1234", "ENTER")  # the supervisor's password again: it is never kept
    assert s.last_call == Call("settle", {"confirm": True, "confirm_stored": True}, "1234")


def test_settlement_with_stored_sales_declined_sends_nothing_more():
    s = Screen().keys("8").reply(outcome("needs_confirmation", "Settle?", receipts=0, open_fixes=[]))
    s.keys("ENTER", "1234", "ENTER")
    s.reply(outcome("needs_confirmation", STORED, receipts=0, guard="stored_sales"))
    s.keys("CANCEL")
    assert s.t.state == "idle" and len(s.calls) == 2


def test_settlement_without_open_fixes_does_not_confirm_them():
    s = Screen().keys("8").reply(outcome("needs_confirmation", "Settle? ", receipts=0, open_fixes=[]))
    s.keys("ENTER", "1234", "ENTER")
    assert s.last_call == Call("settle", {"confirm": True}, "1234")


def test_settlement_with_open_fixes_declined_sends_nothing():
    s = Screen().keys("8").reply(outcome("needs_confirmation", "open fixes. Settle?", receipts=0, open_fixes=OPEN))
    s.keys("CANCEL")
    assert s.t.state == "idle" and len(s.calls) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["repeat_refund", "other", None]), max_size=4),
       st.lists(st.lists(st.fixed_dictionaries({"id": st.integers(1, 99), "trace": st.integers(1, 999999)}),
                         max_size=2), min_size=1, max_size=3))
def test_flags_sent_are_exactly_those_the_cashier_confirmed(guards, asks):
    """Whatever questions come, a flag goes out only after its own question was confirmed, and idle forgets it."""
    s = Screen(16, 4).keys("3", "1", "2", "ENTER").reply(found(txn())).keys("ENTER", "ENTER", "1234", "ENTER")
    for guard in guards:
        s.reply(outcome("needs_confirmation", "again?", receipts=0, **({"guard": guard} if guard else {})))
        s.keys("ENTER", "1234", "ENTER")
    assert s.last_call.args.get("confirm_repeat", False) is ("repeat_refund" in guards)
    s.reply(outcome("approved", "ok", receipts=0)).keys("ENTER")
    for fixes in asks:  # the totals asked again and again (X each time), then once confirmed
        s.keys("8").reply(outcome("needs_confirmation", "Settle?", receipts=0, open_fixes=fixes)).keys("CANCEL")
    s.keys("8").reply(outcome("needs_confirmation", "Settle?", receipts=0, open_fixes=asks[-1]))
    s.keys("ENTER", "1234", "ENTER")
    assert s.last_call.args.get("confirm_open_fixes", False) is bool(asks[-1])
