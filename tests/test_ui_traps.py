"""Traps a cashier fell into on the keypad, each closed: the agent gone while a sale waits, a password typed
where it does not belong, a void without a preview, a menu's tenth key, a question answered before it was
read, an amount refused without saying why, a settlement with no slip.

Driven key by key on the sans-IO machine in both languages at 21×8 and 16×4, and through `posim terminal`
in tmux on the real daemon and acquirer simulator."""

from __future__ import annotations

import time

import pytest

from agent.money import MAX_MINOR_UNITS, format_amount
from agent.ui import Call
from agent.ui.entry import MAX_LENGTH, SUPERVISOR_PASSWORD_DIGITS, keypad_password
from agent.ui.texts import Texts
from tests.agentproc import Agent, write_config
from tests.harness import wait_for
from tests.test_ui_flows import Screen, error, found, outcome, txn
from tests.test_ui_terminal import (PASSWORD, Tmux, answer_yes, daemon, net, receipt_traces,  # noqa: F401
                                    short_dir, terminal_in_tmux)

SIZES = [(21, 8), (16, 4)]
LANGUAGES = ["en", "zh"]
EVERYWHERE = [(w, h, lang) for w, h in SIZES for lang in LANGUAGES]
LOST = {"code": "connection_lost", "message": "no answer from the daemon (Connection reset by peer)"}


def words(language: str, name: str, **values) -> str:
    return Texts(language)(name, **values)


def flat(s: Screen) -> str:
    return "".join(s.text.split())


def has(s: Screen, text: str) -> bool:
    return "".join(text.split()) in flat(s)


# ---------------------------------------------------------------- 1. the agent gone

@pytest.mark.parametrize("width,height,language", EVERYWHERE)
def test_the_agent_gone_while_a_sale_waits_says_the_card_may_be_charged_and_what_to_check(width, height, language):
    s = Screen(width, height, language).keys("1", "12.34", "ENTER")
    assert s.last_call.op == "sale"
    s.reply({"ok": False, "error": LOST})
    assert s.t.frame()[0].startswith(words(language, "error.daemon"))
    where = words(language, "lost.by_amount", amount="12.34")
    assert has(s, words(language, "lost.money", where=where))  # may be charged, do not charge again, status
    assert "Traceback" not in s.text and "Connection reset" not in s.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_agent_gone_during_a_void_points_at_the_trace_and_a_lookup_charges_nothing(language):
    s = Screen(16, 4, language).keys("2", "12", "ENTER").reply(found(txn(trace=12))).keys("ENTER", "2468", "ENTER")
    s.reply({"ok": False, "error": LOST})
    assert has(s, words(language, "lost.money", where=words(language, "lost.by_trace", trace="000012")))
    s.keys("ENTER", "7", "1", "12", "ENTER").reply({"ok": False, "error": LOST})
    assert has(s, words(language, "lost.nothing")) and not has(s, words(language, "lost.money_status"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_agent_that_is_not_running_was_sent_nothing(language):
    s = Screen(21, 8, language).keys("1", "5", "ENTER").reply(error("daemon", "the posagent daemon is not running"))
    assert s.t.frame()[0].startswith(words(language, "error.daemon"))
    assert has(s, words(language, "down.not_sent"))


def test_posim_terminal_says_the_card_may_be_charged_when_the_agent_dies_while_the_bank_holds_the_answer(
        sim_host, tmp_path, terminal_in_tmux):
    agent = Agent(write_config(tmp_path, sim_host.port, response_timeout=30.0), tmp_path)
    agent.start()
    try:
        assert agent.cli("signon").returncode == 0
        sim_host.fault("delay:seconds=30,count=1")  # the bank books the sale, then holds its answer
        tmux = terminal_in_tmux(agent.config, "--card", "debit")
        tmux.wait_for("POSAGENT", "1 Sale")
        tmux.keys("1")
        tmux.wait_for("Amount:")
        tmux.type("1234")
        tmux.keys("Enter")
        tmux.wait_for("SALE", "CNY 1,234.00")  # the amount and its currency while the card is asked for
        wait_for(lambda: sum(sim_host.control(op="stats")["faults"].values()) > 0, 30, "the bank to hold the sale")
        time.sleep(0.3)
        agent.kill()
        shown = tmux.wait_for("AGENT DOWN", "charged")
        text = " ".join(" ".join(line.split("|")[1] for line in shown.splitlines() if line.count("|") >= 2).split())
        assert "The card may have been charged: do not charge again" in text and "check its status" in text
        assert "Traceback" not in shown
        tmux.keys("Down")
        tmux.wait_for("Lookup by", "1234.00")
    finally:
        sim_host.clear_faults()
        agent.stop()


# ---------------------------------------------------------------- 2. passwords

def test_one_rule_for_a_supervisor_password_digits_six_to_twelve():
    assert (min(SUPERVISOR_PASSWORD_DIGITS), max(SUPERVISOR_PASSWORD_DIGITS)) == (6, 12)
    assert keypad_password("246810") and keypad_password("1" * 12)
    assert not keypad_password("24681") and not keypad_password("1" * 13) and not keypad_password("abc123")
    assert not keypad_password("２４６８１０")  # full-width digits are not on the keypad
    assert MAX_LENGTH["password"] == 12


@pytest.mark.parametrize("width,height,language", EVERYWHERE)
def test_the_password_screen_says_digits_only_and_never_shows_one(width, height, language):
    s = Screen(width, height, language).keys("8").reply(outcome("needs_confirmation", "Settle?", receipts=0))
    s.confirm()
    assert s.t.state == "settle.password" and words(language, "hint.digits_only") in s.t.frame()[-1]
    s.keys("123456789012")
    assert s.t.frame()[-1].endswith("*" * 12) and not any("1234" in line for line in s.t.frame())
    s.keys("3")  # a thirteenth digit is refused, and the screen says why
    assert has(s, words(language, "bad.password_long", most=12))
    s.keys("ENTER")
    assert s.last_call == Call("settle", {"confirm": True}, "123456789012")


@pytest.mark.parametrize("width,height,language", EVERYWHERE)
def test_a_payment_code_correction_asks_the_password_before_the_code_and_echoes_neither(width, height, language):
    sale = txn(trace=12, amount=1000, payment="wallet", pan_masked="281234********3456")
    s = Screen(width, height, language).keys("4", "12", "ENTER").reply(found(sale))
    s.keys("25.00", "ENTER")  # keyed straight on the sale's details: more than the 10.00 paid
    assert s.t.state == "correct.password"
    s.keys("246810", "ENTER")
    assert s.t.state == "correct.code"
    s.keys("281234567890123456")
    assert not any(digits in line for line in s.t.frame() for digits in ("2812", "3456", "246810"))
    s.keys("ENTER")
    assert s.last_call == Call("wallet_correct", {"trace": 12, "amount": 2500, "code": "281234567890123456"},
                               "246810")


# ---------------------------------------------------------------- 3. void: preview, then the password

@pytest.mark.parametrize("width,height,language", EVERYWHERE)
def test_a_void_shows_what_it_cancels_before_the_password(width, height, language):
    s = Screen(width, height, language).keys("2", "12", "ENTER")
    assert s.last_call == Call("lookup", {"trace": 12, "limit": 50}) and s.last_call.password is None
    s.reply(found(txn(trace=12, amount=1234500)))
    assert s.t.state == "void.detail"
    for shown in ("12345.00", "622609******0048", "11-23 14:30"):  # amount, card, time
        assert shown in s.text, (shown, s.text)
    s.keys("ENTER")
    assert s.t.state == "void.password"
    s.keys("2468", "ENTER")
    assert s.last_call == Call("void", {"trace": 12}, "2468")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_void_of_a_trace_that_does_not_exist_never_asks_the_password(language):
    s = Screen(16, 4, language).keys("2", "99", "ENTER").reply(found())
    assert s.t.state == "result" and has(s, words(language, "nothing.trace", key="000099"))
    assert [c.op for c in s.calls] == ["lookup"]


# ---------------------------------------------------------------- 4. menus and questions

@pytest.mark.parametrize("width,height,language", EVERYWHERE)
def test_the_tenth_menu_item_shows_the_key_that_opens_it(width, height, language):
    s = Screen(width, height, language)
    assert has(s, f"0 {words(language, 'item.preauth')}") and not has(s, f"10 {words(language, 'item.preauth')}")
    s.keys("0")
    assert s.t.state == "preauth.menu"


@pytest.mark.parametrize("language", LANGUAGES)
def test_at_16x4_enter_pages_through_the_settlement_question_and_answers_it_only_on_its_last_page(language):
    totals = ("Settle batch 000001: sales 12 for 3,456.00, refunds 2 for 120.00, net 3,336.00. By card: sales 10 "
              "for 3,000.00; by payment code: sales 2 for 456.00. After settlement, sales can only be refunded.")
    s = Screen(16, 4, language).keys("8").reply(outcome("needs_confirmation", totals, receipts=0))
    first = s.t.frame()
    pages = int(first[0].split("/")[-1])
    assert pages > 2 and first[-1].strip() == words(language, "hint.more")
    for page in range(2, pages + 1):
        s.keys("ENTER")
        assert s.t.state == "settle.confirm" and s.t.frame()[0].endswith(f"{page}/{pages}")
    assert s.t.frame()[-1].strip() == words(language, "hint.confirm")
    s.keys("ENTER")
    assert s.t.state == "settle.password" and len(s.calls) == 1


# ---------------------------------------------------------------- 5. amounts

@pytest.mark.parametrize("width,height,language", EVERYWHERE)
def test_the_sale_shows_the_amount_with_its_currency_while_the_card_is_asked_for(width, height, language):
    s = Screen(width, height, language).keys("1", "12345", "ENTER")
    where = 0 if width > 16 else 1  # beside the title, or where that is too narrow the first line under it
    assert s.last_call.op == "sale" and "CNY 12,345.00" in s.t.frame()[where]
    s._take(s.t.notify("Insert or tap the card"))
    assert "CNY 12,345.00" in s.t.frame()[where] and "Insert" in " ".join(s.t.frame())


@pytest.mark.parametrize("width,height,language", EVERYWHERE)
def test_an_amount_cannot_take_a_third_decimal_and_a_too_large_one_says_how_large(width, height, language):
    s = Screen(width, height, language).keys("1", "12.34", "5")
    assert s.t.frame()[-1].strip() == "12.34" and has(s, words(language, "bad.decimals", most=2))
    s.keys("CLEAR", "9999999999", "9")
    most = format_amount(MAX_MINOR_UNITS, 2)
    assert s.t.frame()[-1].strip() == "9999999999" and has(s, words(language, "bad.too_large", most=most))
    assert not has(s, words(language, "bad.amount"))
    s.keys("ENTER")
    assert s.last_call == Call("sale", {"amount": 999999999900, "card": None, "confirm_duplicate": False,
                                        "confirm_unusual": False})


# ---------------------------------------------------------------- 6. the settlement slip

@pytest.mark.parametrize("language", LANGUAGES)
def test_settling_on_the_keypad_prints_the_settlement_slip(language):
    s = Screen(16, 4, language).keys("8").reply(outcome("needs_confirmation", "Settle?", receipts=0))
    s.confirm().keys("2468", "ENTER")
    done = outcome("done", "Batch 000001 settled: balanced.", receipts=0)
    done["outcome"]["report"] = "SETTLEMENT SLIP"
    s.reply(done)
    assert s.printed == ["SETTLEMENT SLIP"]


def test_posim_terminal_at_16x4_in_chinese_voids_with_a_preview_and_prints_the_settlement_slip(
        sim_host, daemon, terminal_in_tmux, tmp_path):
    receipts = tmp_path / "receipts.txt"
    tmux = terminal_in_tmux(daemon, "--card", "debit", "--size", "16x4", "--language", "zh", "--receipts",
                            str(receipts))
    tmux.wait_for("收银台", "1 消费")
    tmux.keys("1")
    tmux.wait_for("请输入金额")
    tmux.type("20.005")  # the third decimal is refused on the spot
    tmux.wait_for("最多2位小数", "20.00")
    tmux.keys("Enter")
    tmux.wait_for("交易成功")
    (trace,) = set(receipt_traces(receipts))  # the receipts speak the agent's language (English here)
    assert "MERCHANT NO." in receipts.read_text() and net(sim_host) == 2000
    tmux.keys("Escape")
    tmux.wait_for("1 消费")
    tmux.keys("2")
    tmux.wait_for("原凭证号")
    tmux.type(trace)
    tmux.keys("Enter")
    tmux.wait_for("确认键选择", "20.00")  # the sale it would cancel, before any password
    tmux.keys("Enter")
    tmux.wait_for("主管密码", "仅限数字")
    tmux.type("ab")  # letters: not keypad keys, and the terminal says so
    tmux.wait_for("digits only")
    tmux.type(PASSWORD)
    tmux.keys("Enter")
    tmux.wait_for("交易成功")
    assert net(sim_host) == 0
    tmux.keys("Escape")
    tmux.wait_for("1 消费")
    tmux.keys("8")
    tmux.wait_for("结算", "确认键下一页")
    answer_yes_zh(tmux)
    tmux.wait_for("主管密码")
    tmux.type(PASSWORD)
    tmux.keys("Enter")
    tmux.wait_for("完成")
    assert "SETTLEMENT" in receipts.read_text()


def answer_yes_zh(tmux: Tmux) -> None:
    yes, more = words("zh", "hint.confirm"), words("zh", "hint.more")
    for _ in range(30):
        shown = tmux.screen()
        tmux.keys("Enter")
        if yes in shown:
            return
        assert more in shown, shown
        wait_for(lambda: tmux.screen() != shown, 30, "the next page of the question")
    raise AssertionError(tmux.screen())



@pytest.mark.parametrize("width,height,language", EVERYWHERE)
def test_a_link_without_tls_is_said_plainly_on_the_idle_screen(width, height, language):
    from agent.ui import Terminal
    t = Terminal(width, height, language)
    t.start()
    t.set_link({"link": {"host": "10.0.0.1", "port": 5000, "tls": False}})
    pages = [t.frame()]
    while t.press("DOWN"):  # on a small display the notice runs onto the next page, the menu after it
        pages.append(t.frame())
    joiner = " " if language == "en" else ""  # the first pages' bodies as one text
    said = " ".join(joiner.join(line.strip() for frame in pages[:2] for line in frame[1:-1]).split())
    assert ("No TLS to bank" if language == "en" else "银行链路未加密") in said
    encrypted = Terminal(width, height, language)
    encrypted.start()
    encrypted.set_link({"link": {"tls": True}})
    assert "not encrypted" not in " ".join(encrypted.frame()) and "未加密" not in " ".join(encrypted.frame())
