"""Payment codes on the cashier keypad, through the machine alone: F1 on the sale amount, the code scanned
(ENTER alone) or keyed and checked before anything is sent, the "confirm on the phone" screen on every
supported display, and CANCEL while the customer confirms — a side call beside the sale in flight, sent
again if a new wait shows it did not land, never for a card sale."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from agent.progress import Progress, from_notify
from agent.engine.receipts import display_width
from agent.ui import Call, Print, Show, SideCall, Terminal
from agent.ui.scripted import press_keys

ALIPAY = "281234567890123456"  # Alipay: 28, 18 digits
EAN13 = "6901234567892"
SIZES = [(w, h) for w in range(16, 22) for h in range(4, 9)]
EXAMPLES = int(os.environ.get("UI_FUZZ_EXAMPLES", "300"))


def calls(actions) -> list:
    return [a for a in actions if isinstance(a, (Call, SideCall))]


def keys(t: Terminal, *pressed: str) -> list:
    out = []
    for key in pressed:
        for k in ([key] if key in ("ENTER", "CANCEL", "F1", "F2", "CLEAR", "BACKSPACE", "DOWN", "UP", "00")
                  else list(key)):
            out += t.press(k)
    return out


def to_code_screen(t: Terminal, amount: str = "12.50") -> None:
    keys(t, "CANCEL", "1", amount, "F1")
    assert t.state == "wallet.code"


def fits(t: Terminal, frame) -> None:
    assert len(frame) == t.height and all(display_width(line) == t.width for line in frame), frame


def test_f1_on_the_sale_amount_takes_a_keyed_code_and_sends_one_wallet_sale():
    t = Terminal(21, 8, "en")
    t.start()
    keys(t, "1", "12.50")
    assert "F1: pay by code" in " ".join(t.frame())
    to_code_screen(t)
    assert t.frame()[-1].strip() == "ENTER=scan"
    sent = calls(keys(t, ALIPAY, "ENTER"))
    assert sent == [Call("wallet_sale", {"amount": 1250, "code": ALIPAY, "confirm_duplicate": False})]
    assert t.state == "wallet.send" and t.frame()[-1].strip() == "X=cancel"


def test_enter_alone_asks_the_agent_to_read_its_scanner_and_the_screen_says_scan():
    t = Terminal(16, 4, "en")
    to_code_screen(t, "5")
    (call,) = calls(t.press("ENTER"))
    assert call == Call("wallet_sale", {"amount": 500, "confirm_duplicate": False})
    t.notify(Progress("Scan the customer's payment code", "scanning"))
    assert "Scan the" in " ".join(t.frame())
    (cancel,) = calls(t.press("CANCEL"))  # the scanner stops waiting
    assert cancel == SideCall("wallet_cancel", {})
    t.deliver({"ok": False, "error": {"code": "scan", "message": "scan cancelled"}})
    assert t.frame()[0].startswith("NO SCAN")


@pytest.mark.parametrize("code, why", [(EAN13, "Product barcode"), ("1234567890", "Not a payment code"),
                                       ("62" + "1" * 16, "Not a payment code")])
def test_a_code_that_is_not_a_payment_code_is_refused_on_the_keypad_and_nothing_is_sent(code, why):
    t = Terminal(21, 8, "en")
    to_code_screen(t)
    assert calls(keys(t, code, "ENTER")) == []
    assert t.state == "wallet.code" and why in " ".join(t.frame())
    keys(t, "CLEAR", ALIPAY)  # keyed again: the notice goes
    assert why not in " ".join(t.frame())
    assert calls(t.press("ENTER"))


@pytest.mark.parametrize("width, height", SIZES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_paying_screen_shows_the_countdown_and_the_cancel_key_on_every_display(width, height, language):
    t = Terminal(width, height, language)
    to_code_screen(t)
    keys(t, ALIPAY, "ENTER")
    for frame in (t.frame(), *[a.frame for a in t.notify(Progress("waiting", "paying", 57))
                               if isinstance(a, Show)]):
        fits(t, frame)
    shown = " ".join(t.frame())
    assert ("57 s left" if language == "en" else "剩余57秒") in shown
    assert ("X=cancel" if language == "en" else "取消键撤销") in t.frame()[-1]
    words = " ".join(shown.split()).lower()
    assert ("confirm on" in words and "phone" in words) if language == "en" else "手机上确认" in "".join(
        shown.split()) or "手机确认" in words
    assert "1/" not in t.frame()[0]  # all of it on one page
    t.press("CANCEL")
    fits(t, t.frame())
    assert ("Cancelling" if language == "en" else "正在撤销") in "".join(t.frame())
    t.deliver({"ok": True, "outcome": {"status": "reversed", "message": "cancelled", "receipts": []}})
    assert t.frame()[0].startswith("CANCELLED" if language == "en" else "已撤销")


@pytest.mark.parametrize("width, height", SIZES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_payment_code_screen_fits_every_display(width, height, language):
    t = Terminal(width, height, language)
    frames = []
    for actions in (t.start(), keys(t, "1", "99.99"), t.press("F1"), keys(t, EAN13, "ENTER"), keys(t, "CLEAR"),
                    keys(t, ALIPAY, "ENTER"), t.notify(Progress("scan", "scanning")),
                    t.notify(Progress("w", "paying", 3)), t.press("CANCEL"),
                    t.acknowledge({"ok": False, "error": {"code": "daemon", "message": "agent down"}}),
                    t.deliver({"ok": True, "outcome": {"status": "approved", "message": "Paid 99.99 by Alipay",
                                                       "receipts": [{"merchant": "M", "customer": "C"}]}})):
        frames += [a.frame for a in actions if isinstance(a, Show)]
    assert frames
    for frame in frames:
        fits(t, frame)


def test_cancel_while_paying_is_sent_beside_the_sale_once_and_again_only_if_a_new_wait_shows_it_was_lost():
    t = Terminal(21, 8, "en")
    to_code_screen(t)
    keys(t, ALIPAY, "ENTER")
    t.notify(Progress("Waiting ... (60 s)", "paying", 60))
    assert calls(t.press("CANCEL")) == [SideCall("wallet_cancel", {})]
    assert calls(t.press("CANCEL")) == []  # pressed again: already on its way
    assert calls(t.acknowledge({"ok": True, "result": {"cancelling": True}})) == []
    # a new wait began: that cancel reached the agent before the sale was armed, so it goes again
    assert calls(t.notify(Progress("Waiting ... (57 s)", "paying", 57))) == [SideCall("wallet_cancel", {})]
    assert calls(t.notify("Connecting...")) == []  # no stage: nothing to cancel yet
    prints = [a for a in t.deliver({"ok": True, "outcome": {
        "status": "reversed", "message": "Wallet payment cancelled (cancelled by the cashier): nothing charged",
        "receipts": [{"merchant": "M", "customer": "C"}]}}) if isinstance(a, Print)]
    assert len(prints) == 2 and t.state == "result" and t.frame()[0].startswith("CANCELLED")
    assert "nothing charged" in " ".join(t.frame())
    assert calls(t.acknowledge({"ok": True, "result": {"cancelling": True}})) == []  # late: ignored
    t.press("ENTER")
    assert t.state == "idle" and t.draft.code is None


def test_a_cancel_the_agent_refused_says_so_and_cancel_can_be_pressed_again():
    t = Terminal(21, 8, "en")
    to_code_screen(t)
    keys(t, ALIPAY, "ENTER")
    t.notify(Progress("w", "paying", 40))
    t.press("CANCEL")
    t.acknowledge({"ok": False, "error": {"code": "daemon", "message": "lost the connection"}})
    assert "Cancel not sent: lost the connection" in " ".join(t.frame())
    assert calls(t.press("CANCEL")) == [SideCall("wallet_cancel", {})]


def test_cancel_during_a_card_sale_is_only_noted_the_card_sale_is_waited_for():
    t = Terminal(21, 8, "en", test_card="debit")
    keys(t, "1", "10", "ENTER")
    assert calls(t.press("CANCEL")) == []
    assert calls(t.notify(Progress("x", "paying", 3))) == []


def test_a_paid_answer_wins_over_a_cancel_pressed_too_late():
    t = Terminal(21, 8, "en")
    to_code_screen(t)
    keys(t, ALIPAY, "ENTER")
    t.press("CANCEL")
    t.deliver({"ok": True, "outcome": {"status": "approved", "message": "Paid 12.50 by Alipay", "receipts": []}})
    assert t.frame()[0].startswith("APPROVED")


def test_a_duplicate_scan_asks_first_and_confirming_sends_the_same_code_on_purpose():
    t = Terminal(21, 8, "en")
    to_code_screen(t)
    keys(t, ALIPAY, "ENTER")
    t.deliver({"ok": True, "outcome": {"status": "needs_confirmation", "message": "Same wallet code and amount",
                                       "details": {"guard": "duplicate"}, "receipts": []}})
    assert t.state == "wallet.confirm" and "Same wallet code" in " ".join(t.frame())
    assert calls(t.press("ENTER")) == [Call("wallet_sale", {"amount": 1250, "code": ALIPAY,
                                                            "confirm_duplicate": True})]


def picked_sale(payment: str, amount: int = 1000) -> dict:
    return {"id": 7, "trace": 12, "amount": amount, "kind": "sale", "state": "approved", "batch": 1,
            "batch_state": "open", "created_at": 1.7e9, "rrn": "000000000001", "auth_code": "1",
            "pan_masked": "281234********3456", "payment": payment}


def to_correct_amount(t: Terminal, payment: str) -> None:
    keys(t, "4", "12", "ENTER")
    t.deliver({"ok": True, "result": {"transactions": [picked_sale(payment)]}})
    assert t.state == "correct.detail"
    assert ("Code" if payment == "wallet" else "Card") in " ".join(t.frame())
    t.press("ENTER")


def test_an_undercharged_payment_code_sale_is_corrected_with_the_customers_new_code():
    t = Terminal(21, 8, "en")
    to_correct_amount(t, "wallet")
    keys(t, "100", "ENTER")
    assert t.state == "correct.password"  # the supervisor's password first: never typed into the code field
    keys(t, "2468", "ENTER")
    assert t.state == "correct.code"
    keys(t, EAN13, "ENTER")
    assert t.state == "correct.code" and "Product barcode" in " ".join(t.frame())
    keys(t, "CLEAR", ALIPAY)
    assert ALIPAY[-4:] not in " ".join(t.frame())  # the code is never echoed
    keys(t, "ENTER")
    call = t._in_flight
    assert call == Call("wallet_correct", {"trace": 12, "amount": 10000, "code": ALIPAY}, "2468")
    assert calls(t.press("CANCEL")) == [SideCall("wallet_cancel", {})]  # its payment waits like a sale


def test_an_overcharged_payment_code_sale_is_refunded_the_difference_without_a_code():
    t = Terminal(21, 8, "en")
    to_correct_amount(t, "wallet")
    keys(t, "4", "ENTER", "2468", "ENTER")
    assert t._in_flight == Call("wallet_correct", {"trace": 12, "amount": 400}, "2468")


def test_a_card_sale_is_still_corrected_by_the_card_correction():
    t = Terminal(21, 8, "en", test_card="debit")
    to_correct_amount(t, "card")
    keys(t, "100", "ENTER", "2468", "ENTER")
    assert t._in_flight.op == "correct"


def test_scripted_driver_performs_the_side_call_and_feeds_its_answer_back():
    t = Terminal(21, 8, "en")
    seen: list[str] = []

    def perform(call, notify):
        seen.append(call.op)
        if call.op == "wallet_sale":
            notify(Progress("w", "paying", 9))
            t._cancel_requested = True  # as if CANCEL had been pressed before the sale was armed
            notify(Progress("w", "paying", 6))
            return {"ok": True, "outcome": {"status": "reversed", "message": "cancelled", "receipts": []}}
        return {"ok": True, "result": {"cancelling": True}}

    press_keys(t, ["1", "12.50", "F1", ALIPAY, "ENTER"], perform)
    assert seen == ["wallet_sale", "wallet_cancel"] and t.frame()[0].startswith("CANCELLED")


def test_progress_travels_as_text_with_its_stage():
    p = Progress("Waiting (5 s)", "paying", 5)
    assert p == "Waiting (5 s)" and p.fields() == {"stage": "paying", "left": 5}
    back = from_notify({"notify": "Waiting (5 s)", **p.fields()})
    assert isinstance(back, Progress) and back.stage == "paying" and back.left == 5
    assert type(from_notify({"notify": "x", "stage": "odd"})) is str
    assert from_notify({"notify": "x", "stage": "paying", "left": "7"}).left is None
    with pytest.raises(ValueError):
        Progress("x", "bogus")


events = st.lists(st.one_of(
    st.sampled_from(["CANCEL", "CANCEL", "ENTER", "1", "F1", "DOWN"]).map(lambda k: ("key", k)),
    st.builds(lambda left: ("notify", Progress("w", "paying", left)), st.integers(0, 90)),
    st.just(("notify", Progress("s", "scanning"))), st.just(("notify", "Connecting...")),
    st.sampled_from([{"ok": True, "result": {"cancelling": True}}, {"ok": True, "result": {"cancelling": False}},
                     {"ok": False, "error": {"code": "daemon", "message": "down"}}]).map(lambda r: ("ack", r)),
    st.sampled_from(["approved", "reversed", "declined", "in_doubt"]).map(lambda s: ("reply", s))), max_size=40)


@settings(max_examples=EXAMPLES)
@given(st.sampled_from(SIZES), st.sampled_from(["en", "zh"]), st.booleans(), events)
def test_side_calls_only_cancel_a_payment_code_in_flight_and_the_sale_reply_always_ends_it(size, language, wallet,
                                                                                         plan):
    t = Terminal(*size, language, test_card="debit")
    t.start()
    if wallet:
        to_code_screen(t)
        keys(t, ALIPAY, "ENTER")
    else:
        keys(t, "CANCEL", "1", "12.50", "ENTER")
    pending_cancels = 0
    for kind, value in plan:
        flight = getattr(t._in_flight, "op", None)
        if kind == "key":
            actions = t.press(value)
        elif kind == "notify":
            actions = t.notify(value)
        elif kind == "ack":
            actions = t.acknowledge(value)
        elif t.busy:
            actions = t.deliver({"ok": True, "outcome": {"status": value, "message": value, "receipts": []}})
        else:
            continue
        for action in actions:
            if isinstance(action, Show):
                fits(t, action.frame)
        sides = [a for a in actions if isinstance(a, SideCall)]
        if sides:
            assert flight in ("wallet_sale", "wallet_correct") and sides == [SideCall("wallet_cancel", {})]
            assert t.busy and t._cancel_requested
            pending_cancels += 1
        if not t.busy:
            assert not t._cancel_requested
    if t.busy:
        t.deliver({"ok": True, "outcome": {"status": "reversed", "message": "m", "receipts": []}})
    t.press("CANCEL")
    assert t.state == "idle" and t.draft.code is None


def test_f1_means_payment_code_only_on_the_sale_amount():
    t = Terminal(21, 8, "en", test_card="debit")
    to_correct_amount(t, "card")
    assert "F1" not in " ".join(t.frame())
    keys(t, "100", "F1")
    assert t.state == "correct.amount"  # F1 is no key here: the amount stays, nothing moves
    keys(t, "ENTER")
    assert t.state == "correct.password"


def test_an_unusual_payment_code_amount_confirmed_goes_out_confirmed_once():
    """The agent asks about a large payment-code sale before the code is used; ENTER sends it confirmed
    (the question is not asked again and again)."""
    t = Terminal(21, 8, "en")
    to_code_screen(t, "12345")
    keys(t, ALIPAY, "ENTER")
    t.deliver({"ok": True, "outcome": {"status": "needs_confirmation", "message": "CNY 12,345.00 is unusually large",
                                       "details": {"guard": "unusual_amount"}, "receipts": []}})
    assert t.state == "wallet.confirm"
    assert calls(t.press("ENTER")) == [Call("wallet_sale", {"amount": 1234500, "code": ALIPAY,
                                                            "confirm_duplicate": False, "confirm_unusual": True})]
