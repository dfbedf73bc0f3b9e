"""The cashier's dialogs, scenario by scenario, driven key by key with the control API's replies as data.

The machine is sans-IO: every reply below has the shape `agent.daemon.control` sends.
"""

from __future__ import annotations

import time

import pytest

from agent.engine.receipts import display_width
from agent.ui import Call, Print, Show, Terminal, UiError, UiStateError
from agent.ui.table import STATES

NOW = time.mktime((2026, 11, 23, 14, 30, 0, 0, 0, -1))


def txn(id=1, trace=2, amount=12000, kind="sale", state="approved", batch_state="open", created_at=NOW,
        rrn="000000000001", **more):
    return {"id": id, "kind": kind, "state": state, "amount": amount, "currency": "156", "trace": trace, "batch": 1,
            "rrn": rrn, "auth_code": "007919", "response_code": "00", "entry_mode": "022",
            "pan_masked": "622609******0048", "original_id": None, "purchase_id": None, "created_at": created_at,
            "updated_at": created_at, "batch_state": batch_state, **more}


def outcome(status="approved", message="Approved", receipts=1, **details):
    return {"ok": True, "outcome": {"status": status, "message": message, "txn": None, "steps": [],
                                    "details": details, "receipts": [
                                        {"merchant": f"MERCHANT COPY {i}", "customer": f"CUSTOMER COPY {i}"}
                                        for i in range(receipts)]}}


def error(code, message):
    return {"ok": False, "error": {"code": code, "message": message}}


def found(*txns):
    return {"ok": True, "result": {"transactions": list(txns)}}


class Screen:
    """Presses keys on a Terminal and keeps what it showed, called and printed."""

    def __init__(self, width=21, height=8, language="en", **kw):
        self.t = Terminal(width, height, language, **kw)
        self.frames: list[tuple[str, ...]] = []
        self.calls: list[Call] = []
        self.printed: list[str] = []
        self._take(self.t.start())

    def _take(self, actions):
        for a in actions:
            if isinstance(a, Show):
                assert len(a.frame) == self.t.height
                assert all(display_width(line) == self.t.width for line in a.frame), a.frame
                self.frames.append(a.frame)
            elif isinstance(a, Call):
                self.calls.append(a)
            else:
                assert isinstance(a, Print)
                self.printed.append(a.text)
        return actions

    def keys(self, *keys):
        for key in keys:
            for k in ([key] if key == "00" or key.isupper() else list(key)):
                self._take(self.t.press(k))
        return self

    def reply(self, reply):
        self._take(self.t.deliver(reply))
        return self

    def confirm(self):
        """ENTER on a question until it is answered: each ENTER before its last page only pages down."""
        state, pages_seen = self.t.state, 0
        while self.t.state == state:
            assert pages_seen < 20, self.t.frame()
            self.keys("ENTER")
            pages_seen += 1
        return self

    @property
    def text(self) -> str:
        """Everything on every page of the current screen (pages through with DOWN, then back)."""
        pages = [self.t.frame()[:-1]]
        screen = STATES[self.t.state]
        if screen.kind != "list":
            moved = 0
            while self.t.press("DOWN"):
                pages.append(self.t.frame()[1:-1])
                moved += 1
            for _ in range(moved):
                self.t.press("UP")
        return " ".join(" ".join(" ".join(p) for p in pages).split())  # wrapped lines read as one text

    @property
    def last_call(self) -> Call:
        return self.calls[-1]


# ---------------------------------------------------------------- S1: overcharge

def test_s1_sale_of_an_unusual_amount_asks_before_the_card_is_read_then_prints_both_copies():
    s = Screen().keys("1", "12000", "ENTER")
    assert s.last_call == Call("sale", {"amount": 1200000, "card": None, "confirm_duplicate": False,
                                        "confirm_unusual": False})
    s.reply(outcome("needs_confirmation", "12000.00 is unusually large for this terminal (typical sale 100.00). "
                                          "Check the amount; confirm to go on.", receipts=0, guard="unusual_amount"))
    assert s.t.state == "sale.confirm" and "unusually large" in s.text
    s.keys("ENTER")
    assert s.last_call.args["confirm_unusual"] is True and s.last_call.args["amount"] == 1200000
    s.reply(outcome())
    assert s.printed == ["MERCHANT COPY 0", "CUSTOMER COPY 0"]
    assert s.t.state == "result" and s.t.frame()[0].startswith("APPROVED")
    s.keys("ENTER")
    assert s.t.state == "idle"


def test_s1_cashier_finds_the_sale_by_card_last4_and_sees_what_s1_lists():
    s = Screen(21, 8).keys("7", "3", "0048", "ENTER")
    assert s.last_call == Call("lookup", {"last4": "0048", "limit": 50})
    s.reply(found(txn(id=3, trace=4, amount=10000), txn(id=1, trace=2, amount=12000, batch_state="settled")))
    assert s.t.state == "lookup.list"
    assert ">000004" in s.t.frame()[1] and "100.00" in s.t.frame()[1]
    s.keys("DOWN", "ENTER")
    shown = s.text
    for what in ("000002", "120.00", "622609******0048", "007919", "000000000001", "000001 settled",
                 time.strftime("%m-%d %H:%M", time.localtime(NOW))):
        assert what in shown
    s.keys("ENTER")
    assert s.t.state == "lookup.list"


@pytest.mark.parametrize("choice,keys,args", [
    ("1", "123", {"trace": 123}), ("2", "120.00", {"amount": 12000}), ("4", "20261123", {"date": "2026-11-23"})])
def test_lookup_by_trace_amount_and_day_asks_the_agent_the_right_question(choice, keys, args):
    s = Screen().keys("7", choice, keys, "ENTER")
    assert s.last_call == Call("lookup", {**args, "limit": 50})


def test_s1_lookup_by_time_of_day_shows_the_sales_within_half_an_hour():
    day = time.strftime("%Y%m%d", time.localtime(NOW))
    s = Screen().keys("7", "4", day + "1200", "ENTER")
    assert s.last_call == Call("lookup", {"date": time.strftime("%Y-%m-%d", time.localtime(NOW)), "limit": 1000})
    s.reply(found(txn(id=2, trace=3, created_at=NOW + 3 * 3600), txn(id=1, created_at=NOW - 2.5 * 3600 + 60)))
    assert s.t.state == "lookup.detail" and "000002" in s.text  # 12:01 is near 12:00; 17:30 is not
    s = Screen().keys("7", "4", day + "2460", "ENTER")
    assert s.calls == [] and "YYYYMMDDHHMM" in s.text


def test_s1_correct_amount_shows_the_original_then_which_fix_the_agent_chose_and_why():
    s = Screen().keys("4", "2", "ENTER")
    assert s.last_call == Call("lookup", {"trace": 2, "limit": 50})
    s.reply(found(txn(id=2, trace=3, kind="void", amount=12000), txn()))  # the void is not a candidate
    assert s.t.state == "correct.detail" and "120.00" in s.text
    s.keys("ENTER", "100", "ENTER", "4321", "ENTER")
    call = s.last_call
    assert call.op == "correct" and call.args == {"trace": 2, "amount": 10000, "method": "auto", "card": None}
    assert call.password == "4321" and "4321" not in repr(call)
    s.reply(outcome("approved", "Batch open: voided 120.00 and charged the right 100.00. Approved", receipts=2))
    assert len(s.printed) == 4
    assert "voided 120.00 and charged the right 100.00" in s.text


# ---------------------------------------------------------------- S2: charged twice

def test_s2_same_card_same_amount_asks_and_a_confirmed_second_sale_says_so():
    s = Screen(test_card="debit").keys("1", "120", "ENTER")
    assert s.last_call.args["card"] == "debit"
    s.reply(outcome("needs_confirmation", "This card paid 120.00 a moment ago (trace 000002). Charge it again?",
                    receipts=0, guard="duplicate"))
    s.keys("ENTER")
    assert s.last_call.args["confirm_duplicate"] is True and s.last_call.args["confirm_unusual"] is False


def test_s2_a_declined_confirmation_charges_nothing():
    s = Screen().keys("1", "120", "ENTER").reply(outcome("needs_confirmation", "again?", receipts=0, guard="duplicate"))
    s.keys("CANCEL")
    assert s.t.state == "idle" and len(s.calls) == 1


def test_s2_suspected_duplicates_list_and_one_step_fix():
    s = Screen().keys("5")
    assert s.last_call == Call("duplicates", {})
    s.reply({"ok": True, "result": {"groups": [[txn(id=1, trace=2), txn(id=2, trace=3)]]}})
    assert s.t.state == "dups.list" and "1:000003" in s.t.frame()[2] and s.t.frame()[2].startswith(">")
    s.keys("ENTER")
    assert "000003" in s.text
    s.keys("ENTER", "1234", "ENTER")
    assert s.last_call.op == "duplicates_fix" and s.last_call.args == {"id": 2}
    s.reply(outcome("approved", "Duplicate trace 000003: batch open, voiding it. Void approved"))
    assert "voiding it" in s.text


def test_s2_no_duplicates_is_said_plainly():
    s = Screen().keys("5").reply({"ok": True, "result": {"groups": []}})
    assert s.t.state == "result" and "No suspected duplicate" in s.text


def test_s2_an_unknown_outcome_is_shown_as_not_completed_with_the_agents_advice():
    s = Screen().keys("1", "50", "ENTER").reply(outcome(
        "in_doubt", "Sale not completed: no answer from the bank. A reversal is queued and will be sent before the "
                    "next transaction; do not charge again until it is.", receipts=0))
    assert s.t.frame()[0].startswith("IN DOUBT") and "do not charge again" in s.text


# ---------------------------------------------------------------- S3: undercharge

def test_s3_undercharge_correction_carries_the_test_card_for_the_difference():
    s = Screen(test_card="credit").keys("4", "5", "ENTER").reply(found(txn(trace=5, amount=1000)))
    s.keys("ENTER", "100.00", "ENTER", "9", "ENTER")
    assert s.last_call.args == {"trace": 5, "amount": 10000, "method": "auto", "card": "credit"}


# ---------------------------------------------------------------- S4: refund

def test_s4_refund_by_rrn_and_date_defaults_to_everything_refundable():
    other_day = NOW - 86400 * 3
    s = Screen().keys("3", "2", "1", "ENTER")  # RRN 1 → 000000000001
    s.keys(time.strftime("%m%d", time.localtime(NOW)), "ENTER")
    assert s.last_call == Call("lookup", {"rrn": "000000000001", "limit": 50})
    s.reply(found(txn(id=9, created_at=other_day), txn(id=1)))
    assert s.t.state == "refund.detail"  # the other day's sale was filtered out
    s.keys("ENTER")
    assert "all still refundable (120.00)" in s.text and s.t.frame()[-1].endswith("ALL")
    s.keys("ENTER", "1234", "ENTER")
    assert s.last_call.op == "refund"
    assert s.last_call.args == {"rrn": "000000000001", "date": time.strftime("%m%d", time.localtime(NOW)),
                                "amount": None}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_s4_refund_by_rrn_of_a_sale_at_another_till_asks_the_store_office(language):
    """Nothing at this till by that RRN and day: the refund goes on by RRN + date and the agent asks the
    store's back office what is still refundable across its tills (the daemon refuses if it cannot)."""
    day = time.strftime("%m%d", time.localtime(NOW))
    s = Screen(language=language).keys("3", "2", "777", "ENTER", day, "ENTER")
    s.reply(found())
    assert s.t.state == "refund.amount"
    assert ("000000000777" in s.text) and (("office" in s.text) if language == "en" else ("后台" in s.text))
    s.keys("30", "ENTER", "246810", "ENTER")
    assert (s.last_call.op, s.last_call.args) == ("refund", {"rrn": "000000000777", "date": day, "amount": 3000})


def test_s4_partial_refund_by_original_amount():
    s = Screen().keys("3", "3", "120", "ENTER")
    assert s.last_call == Call("lookup", {"amount": 12000, "limit": 50})
    s.reply(found(txn(id=4, trace=7, state="refunded_partially")))
    s.keys("ENTER")
    assert "all still refundable" in s.text and "(120.00)" not in s.text
    s.keys("20", "ENTER", "1234", "ENTER")
    assert s.last_call.args == {"rrn": "000000000001", "date": time.strftime("%m%d", time.localtime(NOW)),
                                "amount": 2000}


def test_s4_refund_by_trace_names_the_trace_and_a_missing_original_is_specific():
    s = Screen().keys("3", "1", "123", "ENTER").reply(found(txn(trace=123, kind="refund")))
    assert s.t.frame()[0].startswith("NOT FOUND")
    assert "No sale with trace 000123 on this terminal." in s.text


def test_s4_a_repeated_refund_is_shown_as_already_done():
    s = Screen().keys("3", "1", "2", "ENTER").reply(found(txn())).keys("ENTER", "ENTER", "1", "ENTER")
    assert s.last_call.args == {"trace": 2, "amount": None}
    s.reply(outcome("repeat", "Not paid twice: the same refund was just made (trace 000004, 120.00, approved).",
                    receipts=0))
    assert s.t.frame()[0].startswith("ALREADY DONE")


def test_wrong_password_offers_to_key_it_again_keeping_the_dialog():
    s = Screen().keys("2", "2", "ENTER").reply(found(txn())).keys("ENTER", "1", "ENTER")
    s.reply(error("auth", "wrong supervisor password (4 attempts left)"))
    assert "4 attempts left" in s.text
    s.keys("ENTER")
    assert s.t.state == "void.password"
    s.keys("1234", "ENTER")
    assert s.last_call == Call("void", {"trace": 2}, "1234")


# ---------------------------------------------------------------- S5: settlement

def test_s5_settlement_shows_totals_first_then_asks_for_the_supervisor():
    s = Screen(16, 4).keys("8")
    assert s.last_call == Call("settle", {"confirm": False})
    s.reply(outcome("needs_confirmation", "Settle batch 000001: sales 2 for 220.00, refunds 0 for 0.00. After "
                                          "settlement, sales of this batch can only be refunded, not voided. "
                                          "Confirm?", receipts=0))
    assert "sales 2 for 220.00" in s.text
    s.confirm()
    assert s.t.state == "settle.password" and len(s.calls) == 1
    s.keys("1", "2", "3", "4")
    assert s.t.frame()[-1].endswith("****") and all("1234" not in line for line in s.t.frame())
    s.keys("ENTER")
    assert s.last_call == Call("settle", {"confirm": True}, "1234")


def test_s5_void_after_settlement_says_why_and_offers_the_refund():
    s = Screen().keys("2", "2", "ENTER").reply(found(txn(batch_state="settled"))).keys("ENTER", "1234", "ENTER")
    s.reply(error("batch_settled", "trace 000002 is in batch 000001, settled 2026-11-23 17:43: a void is no longer "
                                   "possible. Refund it instead: `posagent refund --trace 000002`"))
    shown = s.text
    assert s.t.frame()[0].startswith("SETTLED")
    assert "settled 2026-11-23 17:43" in shown and "posagent refund" not in shown
    assert "ENTER to refund trace 000002" in shown
    s.keys("ENTER")
    assert s.last_call == Call("lookup", {"trace": 2, "limit": 50})
    s.reply(found(txn(batch_state="settled"))).keys("ENTER", "ENTER", "1234", "ENTER")
    assert s.last_call == Call("refund", {"trace": 2, "amount": None}, "1234")


# ---------------------------------------------------------------- reprint, sign-on, errors

def test_reprint_prints_both_copies_of_the_last_transaction():
    s = Screen().keys("F4")
    assert s.last_call == Call("receipt", {})
    s.reply({"ok": True, "result": {"txn": txn(trace=9), "merchant": "M", "customer": "C"}})
    assert s.printed == ["M", "C"] and "trace 000009" in s.text


def test_signon_result_is_shown():
    s = Screen().keys("9", "1")  # Manage, Sign-on
    assert s.last_call == Call("signon", {})
    s.reply(outcome("done", "signed on: batch 000002, keys installed", receipts=0))
    assert "signed on" in s.text


def test_a_daemon_that_is_not_running_is_an_actionable_message():
    s = Screen().keys("1", "5", "ENTER").reply(error(
        "daemon", "the posagent daemon is not running (no control socket at /x); start it with `posagent run`"))
    assert s.t.frame()[0].startswith("AGENT DOWN") and "not running" in s.text


def test_a_malformed_reply_is_reported_not_raised():
    s = Screen().keys("7", "1", "1", "ENTER").reply({"ok": True, "result": {"wrong": 1}})
    assert s.t.state == "result" and "Unexpected answer" in s.text


def test_bad_entries_are_explained_on_the_screen_and_nothing_is_called():
    s = Screen(16, 4).keys("1", "ENTER")
    assert "Not an amount" in s.text
    s.keys("0", "00", ".", "00", "ENTER")
    assert "more than 0" in s.text
    s.keys("CANCEL", "2", "0", "ENTER")
    assert "1 to 6 digits" in s.text and s.calls == []


# ---------------------------------------------------------------- cancel

def test_cancel_during_a_sale_waits_for_the_answer_and_shows_it():
    s = Screen().keys("1", "10", "ENTER", "CANCEL")
    assert s.t.busy and s.t.state == "sale.send" and "waiting" in s.t.frame()[-1]
    assert s.t.press("ENTER") == [] and s.t.press("1") == []
    s.reply(outcome())
    assert s.t.state == "result" and len(s.printed) == 2
    s.keys("CANCEL")
    assert s.t.state == "idle"


def test_cancel_during_a_search_returns_to_idle_when_the_answer_comes():
    s = Screen().keys("7", "1", "2", "ENTER", "CANCEL").reply(found(txn()))
    assert s.t.state == "idle"


def test_progress_from_the_agent_is_shown_while_waiting():
    s = Screen().keys("9", "1")
    s._take(s.t.notify("Signing on…"))
    assert "Signing on…" in s.t.frame()[1]


def test_protocol_misuse_is_refused_precisely():
    s = Screen()
    with pytest.raises(UiStateError, match="no call in flight"):
        s.t.deliver(outcome())
    with pytest.raises(UiError, match="not a keypad key"):
        s.t.press("A")
    with pytest.raises(UiError, match="width"):
        Terminal(8, 4)
    with pytest.raises(UiError, match="language"):
        Terminal(21, 8, "fr")


# ---------------------------------------------------------------- Chinese

def test_chinese_sale_on_a_16x4_screen_fits_double_width_characters():
    s = Screen(16, 4, "zh").keys("1")
    assert s.t.frame()[0].startswith("消费") and "请输入金额" in s.t.frame()[1]
    s.keys("8", "8", "ENTER").reply(outcome("declined", "余额不足", receipts=0))
    assert s.t.frame()[0].startswith("交易拒绝") and "余额不足" in s.text


def test_chinese_detail_screen_keeps_every_line_within_the_grid():
    s = Screen(16, 4, "zh").keys("7", "1", "2", "ENTER").reply(found(txn()))
    assert "622609******0048" in s.text and "授权码" in s.text


def test_scripted_keys_type_digits_and_refuse_what_a_keypad_cannot_type():
    from agent.ui.scripted import press_keys, typed

    assert typed("120.00") == ["1", "2", "0", ".", "0", "0"]
    with pytest.raises(UiError, match="cannot be typed"):
        typed("12a")
    t, frames, calls = Terminal(16, 4), [], []

    def perform(call, notify):
        calls.append(call)
        notify("Connecting…")
        return outcome()

    press_keys(t, ["1", "120.00", "ENTER"], perform, on_show=frames.append)
    assert calls[0].args["amount"] == 12000 and any("Connecting…" in f[1] for f in frames)
    assert t.state == "result"
