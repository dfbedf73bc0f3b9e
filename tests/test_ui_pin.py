"""The customer's online PIN on the cashier keypad: F2 on the sale's amount asks for it; it is shown as
stars, handed over in the sale's call only and never kept."""

from __future__ import annotations

from agent.ui import Call
from tests.test_ui_flows import Screen, outcome


def test_f1_on_the_amount_asks_for_the_pin_and_the_sale_carries_it():
    s = Screen().keys("1", "25", "F2")
    assert s.t.state == "sale.pin" and "PIN" in s.text
    s.keys("2468")
    assert "2468" not in " ".join(s.t.frame()) and "****" in " ".join(s.t.frame())
    s.keys("ENTER")
    assert s.last_call == Call("sale", {"amount": 2500, "card": None, "confirm_duplicate": False,
                                        "confirm_unusual": False, "pin": "2468"})
    assert "2468" not in repr(s.last_call)
    assert s.t._pin is None  # handed over in the call; never kept
    s.reply(outcome())
    assert s.t.state == "result"


def test_enter_on_the_amount_still_sells_without_a_pin():
    s = Screen().keys("1", "25", "ENTER")
    assert "pin" not in s.last_call.args


def test_a_pin_too_short_is_refused_on_the_screen():
    s = Screen().keys("1", "25", "F2", "123", "ENTER")
    assert s.t.state == "sale.pin" and "4 to 12 digits" in s.text and not s.calls
    s.keys("4", "ENTER")
    assert s.last_call.args["pin"] == "1234"


def test_a_confirmed_repeat_asks_for_the_pin_again():
    s = Screen().keys("1", "25", "F2", "2468", "ENTER")
    s.reply(outcome("needs_confirmation", "Same card and amount again?", receipts=0, guard="duplicate"))
    assert s.t.state == "sale.confirm"
    s.keys("ENTER")
    assert s.t.state == "sale.pin" and len(s.calls) == 1
    s.keys("2468", "ENTER")
    assert s.last_call.args["pin"] == "2468" and s.last_call.args["confirm_duplicate"] is True


def test_cancel_on_the_pin_screen_drops_the_pin():
    s = Screen().keys("1", "25", "F2", "24", "CANCEL")
    assert s.t.state == "idle" and not s.calls and s.t._entry == ""


def test_the_chinese_screen_asks_for_the_pin_too():
    s = Screen(language="zh").keys("1", "25", "F2")
    assert "密码" in s.text
