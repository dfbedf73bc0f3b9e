"""The cashier's pre-authorization dialogs (预授权, key 0 on the idle menu), key by key, in both languages."""

from __future__ import annotations

import pytest

from tests.test_ui_flows import NOW, Screen, error, outcome, txn


def test_hold_asks_the_supervisor_and_a_repeat_hold_is_confirmed_first():
    s = Screen().keys("0")
    assert s.t.state == "preauth.menu" and "Release hold" in s.text and "Open holds" in s.text
    s.keys("1", "2000", "ENTER", "246810", "ENTER")
    call = s.last_call
    assert (call.op, call.args, call.password) == ("preauth", {"amount": 200000, "card": None,
                                                               "confirm_duplicate": False}, "246810")
    s.reply(outcome("needs_confirmation", "This card was held for 2000.00 a moment ago (pre-auth trace 000001). "
                                          "Hold it again?", receipts=0, guard="duplicate"))
    assert s.t.state == "pahold.confirm" and "held for 2000.00" in s.text
    s.keys("ENTER", "246810", "ENTER")
    assert s.last_call.args["confirm_duplicate"] is True and s.last_call.password == "246810"
    s.reply(outcome())
    assert s.printed == ["MERCHANT COPY 0", "CUSTOMER COPY 0"] and s.t.state == "result"


def test_completion_by_pre_auth_trace_and_amount_and_the_ceiling_refusal_is_shown():
    s = Screen().keys("0", "2", "12", "ENTER", "1160", "ENTER")
    assert (s.last_call.op, s.last_call.args) == ("preauth_complete", {"trace": 12, "amount": 116000})
    s.reply(error("amount_too_large", "completion of 1160.00 is more than 15% above the pre-auth of 1000.00 "
                                      "(at most 1150.00): complete 1150.00 and charge the rest as a sale"))
    assert s.t.state == "result" and s.t.frame()[0].startswith("TOO MUCH") and "1150.00" in s.text


def test_completion_where_the_supervisor_is_configured_offers_the_password():
    s = Screen().keys("0", "2", "12", "ENTER", "100", "ENTER")
    s.reply(error("auth", "supervisor password required"))
    s.keys("ENTER")
    assert s.t.state == "pacomplete.password"
    s.keys("246810", "ENTER")
    assert s.last_call.op == "preauth_complete" and s.last_call.password == "246810"


@pytest.mark.parametrize("item, op", [("3", "preauth_release"), ("4", "completion_void")])
def test_release_and_completion_void_by_trace_with_the_supervisor(item, op):
    s = Screen().keys("0", item, "7", "ENTER", "246810", "ENTER")
    assert (s.last_call.op, s.last_call.args, s.last_call.password) == (op, {"trace": 7}, "246810")
    s.reply(outcome())
    assert s.t.state == "result"


def test_open_holds_are_listed_oldest_first_and_each_can_be_opened():
    s = Screen().keys("0", "5")
    assert s.last_call.op == "preauth_list"
    holds = [{"txn": txn(id=1, trace=1, amount=200000, kind="preauth", created_at=NOW - 9 * 86400),
              "blocked": 200000, "expired": False, "age_seconds": 9 * 86400, "completion": None},
             {"txn": txn(id=4, trace=4, amount=50000, kind="preauth"), "blocked": 50000, "expired": False,
              "age_seconds": 60, "completion": None}]
    s.reply(outcome("done", "2 open pre-auth(s), 2500.00 still held on cardholders' cards.", receipts=0,
                    holds=holds))
    assert s.t.state == "paopen.list" and "2000.00" in s.t.frame()[1]
    s.keys("ENTER")
    assert s.t.state == "paopen.detail" and "pre-auth" in s.text


def test_no_open_holds_says_so():
    s = Screen().keys("0", "5").reply(outcome("done", "No open pre-auths", receipts=0, holds=[]))
    assert s.t.state == "result" and "No open pre-auths" in s.text


def test_chinese_labels_on_a_small_screen():
    s = Screen(16, 4, "zh").keys("0")
    assert "预授权" in s.text and "未完成预授权" in s.text
    s.keys("2")
    assert s.t.frame()[0].startswith("预授权完成")


def test_duplicates_lists_held_pairs_beside_double_charges_and_fixes_the_extra_hold():
    s = Screen().keys("5")
    assert s.last_call.op == "duplicates"
    s.reply({"ok": True, "result": {"groups": [], "holds": [
        [txn(id=1, trace=1, amount=80000, kind="preauth"), txn(id=2, trace=2, amount=80000, kind="preauth")]]}})
    assert s.t.state == "dups.list" and "800.00" in s.t.frame()[1]
    s.keys("ENTER", "ENTER", "246810", "ENTER")
    assert (s.last_call.op, s.last_call.args) == ("duplicates_fix", {"id": 2})


@pytest.mark.parametrize("language, labels", [("en", ("AUTH", "AUTH VOID", "AUTH COMPLETE",
                                                       "AUTH COMPLETE VOID")),
                                              ("zh", ("预授权", "预授权撤销", "预授权完成", "预授权完成撤销"))])
@pytest.mark.parametrize("width", [32, 42])
def test_receipts_name_the_family_in_both_languages_and_fit_the_paper(language, labels, width):
    from agent.journal.records import Txn
    from agent.engine.receipts import display_width, render_receipt

    for kind, label in zip(("preauth", "preauth_void", "completion", "completion_void"), labels):
        t = Txn(id=1, kind=kind, state="approved", amount=200000, currency="156", trace=3, batch=1,
                rrn="000000000003", auth_code="023757", response_code="00", entry_mode="012",
                pan_masked="622609******0048", pan_fingerprint=None, original_id=None, purchase_id=None,
                operator="supervisor", role="supervisor", client_request_id=None, created_at=NOW, updated_at=NOW,
                uploaded=False, batch_state="open", failure_reason=None)
        text = render_receipt(t, merchant_name="SHOP", terminal_id="10000001", merchant_id="123456789012345",
                              width=width, language=language, copy="merchant")
        assert label in text
        assert ("-2000.00" in text) == kind.endswith("void")
        assert all(display_width(line) <= width for line in text.splitlines())


def test_a_completion_sent_as_an_advice_is_its_own_menu_item_and_asks_for_the_same_things():
    s = Screen().keys("0", "6", "12", "ENTER", "980", "ENTER")
    assert (s.last_call.op, s.last_call.args) == ("preauth_complete", {"trace": 12, "amount": 98000, "advice": True})
    s.reply(error("auth", "supervisor password required"))
    s.keys("ENTER")
    assert s.t.state == "paadvice.password"
    s.keys("246810", "ENTER")
    assert s.last_call.args["advice"] is True and s.last_call.password == "246810"
    s.reply(outcome())
    assert s.t.state == "result"


def test_an_unusual_hold_confirmed_goes_out_confirmed_once():
    s = Screen().keys("0", "1", "12345", "ENTER", "246810", "ENTER")
    s.reply(outcome("needs_confirmation", "CNY 12,345.00 is unusually large", receipts=0, guard="unusual_amount"))
    assert s.t.state == "pahold.confirm"
    s.keys("ENTER", "246810", "ENTER")
    assert s.last_call.args["confirm_unusual"] is True and s.last_call.args["amount"] == 1234500
