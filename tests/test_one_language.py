"""A terminal speaks one language: every screen of every keypad flow, the console's `status`, `sign-on` and
`link test` replies and the receipts are in `[terminal] language` — no English line on a Chinese screen,
no Chinese on an English one.

The replies fed to the keypad are the daemon's real texts: the engine run against the test world (approvals,
declines, reversals, refusals, progress lines), the password gate's refusals (wrong password, lockout) and the
link's own connection failure (with the acquirer's address and port).
"""

from __future__ import annotations

import asyncio
import copy
import re
import socket
from dataclasses import replace
from types import SimpleNamespace

import pytest

from agent.auth import AuthError, PasswordGate, hash_password
from agent.console import views
from agent.daemon import plans
from agent.drivers.hostlink import HostLink, LinkError
from agent.engine import common, effects as fx, purchases, settlement
from agent.engine.card import sale as card_sale
from agent.engine.preauth import plans as preauth
from agent.engine.effects import EngineError
from agent.iso8583 import get_dialect
from agent.engine.receipts import LABELS, render_receipt, render_settlement_report
from agent.ui import Call, Print, Show, Terminal
from agent.ui.table import BUSY, STATES
from tests.enginekit import CASHIER, DECLINE, LOSE_ANSWER, SUPERVISOR, World

LANGUAGES = ("en", "zh")
#: values, units, brands and keys a Chinese screen names in Latin letters
ALLOWED = {"CNY", "PIN", "RRN", "TC", "IC", "AID", "AIDs", "ATR", "TLS", "MAC", "Alipay", "WeChat", "UnionPay",
           "QuickPass", "POSAGENT", "OK", "ENTER", "F1", "F2", "F3", "F4", "MMDD", "YYYYMMDD", "HHMM", "TPK", "TAK",
           "TDK", "ZPK", "ZAK", "CUP", "EMV", "PAY", "ALIPAY", "WECHAT", "UNIONPAY"}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
#: a command to type (`posagent status`) and a setting's name ([guards] max_amount) stay as typed
TYPED = re.compile(r"`[^`]*`|\[\w+\] \w+|--[\w-]+|posagent( [\w-]+)*")
WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{3,}(?![A-Za-z0-9])")


def foreign(text: str, language: str, allowed: set[str] = ALLOWED) -> list[str]:
    """The words of `text` that belong to the other language."""
    if language == "en":
        return CJK.findall(text)
    return [word for word in WORD.findall(TYPED.sub(" ", text)) if word not in allowed]


def foreign_lines(lines, language: str, allowed: set[str] = ALLOWED) -> list[str]:
    return [line for line in lines if foreign(line, language, allowed)]


def test_the_check_finds_the_english_lockout_on_a_chinese_screen():
    english = ("wrong supervisor password; supervisor functions are now locked for 30 min on the control socket, "
               "until 14:32")
    assert foreign_lines([english], "zh") and not foreign_lines(["主管密码错误（还可尝试 4 次）"], "zh")
    assert foreign_lines(["交易成功"], "en") and not foreign_lines(["CNY 12.00 ENTER ok `posagent status`"], "zh")


# ---------------------------------------------------------------- the daemon's real texts, per language

class SpeakingWorld(World):
    """The test world with the link's real failure text and the progress lines kept."""

    offline_detail: str = ""
    refuse: bool = False

    def perform(self, effect):
        if isinstance(effect, fx.Notify):
            self.notes.append(str(effect.text))
            return None
        if isinstance(effect, fx.Connect) and self.refuse:
            return fx.NoAnswer("refused", False, self.offline_detail)
        return super().perform(effect)


def refused_link_detail(language: str) -> str:
    """What the link says when nothing listens at the acquirer's address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = HostLink("127.0.0.1", port, dialect=get_dialect("cup"), tpdu=bytes(5), header=bytes(6),
                    connect_timeout=0.3, response_timeout=1.0, language=language)
    try:
        asyncio.run(link.connect())
    except LinkError as exc:
        return str(exc)
    raise AssertionError("something listens on a closed port")


def gate_refusals(tmp_path, language: str) -> list[str]:
    """Wrong password, the lock taken, the lock holding, no password set: as the keypad and console get them."""
    class Store(dict):
        def get_state(self, key):
            return self.get(key)

        def set_state(self, key, value):
            self[key] = value

    said = []
    gate = PasswordGate("supervisor", hash_password("123456"), Store(), clock=lambda: 1_790_000_000.0,
                        max_attempts=2, lockout_minutes=30, source="control", language=language)
    for password in ("000000", "000000", "123456", None):
        with pytest.raises(AuthError) as refused:
            gate.check(password)
        said.append(str(refused.value))
    with pytest.raises(AuthError) as refused:
        PasswordGate("technician", "", Store(), clock=lambda: 0.0, source="console", language=language).check("x")
    return said + [str(refused.value), gate.lock_note()]


def outcome_reply(outcome: fx.Outcome) -> dict:
    return {"ok": True, "outcome": {"status": outcome.status, "message": outcome.message, "details": dict(outcome.details),
                                    "txn": None, "steps": [], "receipts": []}}


def error_reply(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


def daemon_texts(tmp_path, language: str):
    """(replies for outcome calls, the console's sign-on and link test, progress lines, receipts of the sale)."""
    world = SpeakingWorld(tmp_path, profile=replace(World.profile, language=language))
    world.notes = []
    w = world
    replies: list[dict] = []
    sale = w.run(card_sale.sale(w.profile, card_sale.SaleRequest(10000), CASHIER))
    replies.append(outcome_reply(sale))
    replies.append(outcome_reply(w.run(card_sale.sale(w.profile, card_sale.SaleRequest(10000), CASHIER))))  # again?
    w.wire = lambda message: DECLINE if message is not None else "deliver"
    replies.append(outcome_reply(w.run(card_sale.sale(w.profile, card_sale.SaleRequest(2500, confirm_duplicate=True),
                                                       CASHIER))))
    replies.append(outcome_reply(w.run_under(card_sale.sale(w.profile, card_sale.SaleRequest(
        3300, confirm_duplicate=True), CASHIER), ["deliver", LOSE_ANSWER])))  # reversed: nothing charged
    w.wire = lambda message: "deliver"
    replies.append(outcome_reply(w.run(purchases.refund(w.profile, purchases.RefundRequest(
        trace=sale.txn.trace, amount=1000), SUPERVISOR))))
    for plan, code in ((purchases.refund(w.profile, purchases.RefundRequest(trace=sale.txn.trace, amount=10 ** 9),
                                          SUPERVISOR), "amount_too_large"),
                       (purchases.void(w.profile, purchases.VoidRequest(999), SUPERVISOR), "not_found")):
        with pytest.raises(EngineError) as refused:
            w.run(plan)
        replies.append(error_reply(refused.value.code, str(refused.value)))
    second = w.run(card_sale.sale(w.profile, card_sale.SaleRequest(4400, confirm_duplicate=True), CASHIER))
    replies.append(outcome_reply(w.run(purchases.void(w.profile, purchases.VoidRequest(second.txn.trace),
                                                       SUPERVISOR))))
    replies.append(outcome_reply(w.run(preauth.preauth(w.profile, preauth.PreauthRequest(5000), SUPERVISOR))))
    replies.append(outcome_reply(w.run(settlement.settle(w.profile, settlement.SettleRequest(False), SUPERVISOR))))
    settled = w.run(settlement.settle(w.profile, settlement.SettleRequest(True, True), SUPERVISOR))
    replies.append(outcome_reply(settled))
    daemon = SimpleNamespace(profile=w.profile, dialect=SimpleNamespace(param_download=None), journal=w.journal,
                             interpreter=SimpleNamespace(cards=SimpleNamespace(use_params=lambda params: None)))
    plan = plans.signon(daemon, {}, SUPERVISOR)
    signon = w.run(plan)
    echo = w.run(common.echo(w.profile))
    w.offline_detail, w.refuse = refused_link_detail(language), True
    with pytest.raises(EngineError) as offline:
        w.run(card_sale.sale(w.profile, card_sale.SaleRequest(1200), CASHIER))
    w.refuse = False
    replies.append(error_reply(offline.value.code, str(offline.value)))
    replies += [error_reply("auth", text) for text in gate_refusals(tmp_path, language)]
    receipts = [render_receipt(txn, merchant_name="SHOP", terminal_id="10000001", merchant_id="123456789012345",
                               copy=copy_, language=language, original_trace=1 if txn.original_id else None)
                for txn in w.journal.find(limit=50) for copy_ in ("merchant", "customer")]
    receipts.append(render_settlement_report(**{k: settled.details[k] for k in ("batch", "result", "uploaded")},
                                             totals=_totals(settled), next_batch=settled.details["next_batch"],
                                             settled_at=settled.details["settled_at"], merchant_name="SHOP",
                                             terminal_id="10000001", merchant_id="123456789012345",
                                             language=language))
    w.close()
    return replies, [signon.message, echo.message, offline.value.args[0]], world.notes, receipts


def _totals(settled):
    from agent.journal import Totals
    return Totals(**settled.details["totals"])


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    return {language: daemon_texts(tmp_path_factory.mktemp(language), language) for language in LANGUAGES}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_daemons_answers_are_in_the_terminals_language(texts, language):
    replies, console, notes, _ = texts[language]
    said = [r["outcome"]["message"] if r["ok"] else r["error"]["message"] for r in replies] + console + notes
    assert len(said) > 20 and all(said)
    assert [text for text in said if foreign(text, language)] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_lock_and_the_offline_detail_name_their_values(texts, language):
    replies, console, _, _ = texts[language]
    offline = console[-1]
    assert "127.0.0.1:" in offline
    lock = [r["error"]["message"] for r in replies if not r["ok"] and r["error"]["code"] == "auth"]
    assert any(re.search(r"\d\d:\d\d", text) for text in lock)
    if language == "zh":
        assert "主管密码错误" in lock[0] and "无法连接" in offline


# ---------------------------------------------------------------- every screen of every keypad flow

TXN = {"id": 1, "kind": "sale", "state": "approved", "amount": 12000, "currency": "156", "trace": 2, "batch": 1,
       "rrn": "000000000001", "auth_code": "007919", "response_code": "00", "entry_mode": "022",
       "pan_masked": "622609******0048", "original_id": None, "purchase_id": None, "created_at": 1_790_000_000.0,
       "updated_at": 1_790_000_000.0, "batch_state": "open", "payment": "card"}
FOUND = [{"ok": True, "result": {"transactions": [TXN]}},
         {"ok": True, "result": {"transactions": [TXN, {**TXN, "id": 2, "trace": 3, "kind": "refund"}]}},
         {"ok": True, "result": {"transactions": [TXN, {**TXN, "id": 3, "trace": 4, "payment": "wallet",
                                                         "pan_masked": "281234******5678", "entry_mode": "031"}]}},
         {"ok": True, "result": {"transactions": []}}]
GROUPS = [{"ok": True, "result": {"groups": [[TXN, {**TXN, "id": 2, "trace": 3}]]}},
          {"ok": True, "result": {"groups": []}}]
RECEIPT = [{"ok": True, "result": {"txn": TXN, "merchant": "M", "customer": "C"}}]
HOLDS = {"ok": True, "outcome": {"status": "done", "message": "", "receipts": [], "details": {"holds": [
    {"txn": {**TXN, "kind": "preauth"}}]}}}
#: what a cashier types on a screen that waits for an entry or a choice
TYPING = [["1"], ["2"], ["3"], ["4"], ["5"], ["6"], ["7"], ["8"], ["9"], ["0"], ["ENTER"], ["DOWN"], ["F1"], ["F2"],
          ["1", "0", "0", "ENTER"], ["1", "0", "0", "F1"], ["1", "0", "0", "F2"], ["9", "9", "9", "9", "9", "ENTER"], ["1", "2", "3", "4", "5", "6", "ENTER"], ["0", "3", "1", "5", "ENTER"],
          ["2", "0", "2", "6", "1", "1", "2", "3", "ENTER"], ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "1",
                                                               "2", "ENTER"]]


#: store-and-forward: the bank cannot be reached, 2 sales stored, 1 declined after forwarding not yet seen
OFFLINE = {"link": {"tls": True, "state": "down", "down_reason": "cannot connect"},
           "offline": {"stored": 2, "amount": 4500, "declined": 1, "unseen": 1}}
DECLINED = [{"ok": True, "result": {"declined": [{**TXN, "state": "declined", "seen": True}], "acknowledged": [1]}},
            {"ok": True, "result": {"declined": [{**TXN, "state": "declined"}, {**TXN, "id": 2, "trace": 3}],
                                    "acknowledged": []}},
            {"ok": True, "result": {"declined": [], "acknowledged": []}}]


def replies_for(call: str, outcomes: list[dict]) -> list[dict]:
    if call == "lookup":
        return FOUND + outcomes[-8:]
    if call == "duplicates":
        return GROUPS + outcomes[-8:]
    if call == "receipt":
        return RECEIPT + outcomes[-8:]
    if call == "preauth_list":
        return [HOLDS] + outcomes[-8:]
    if call == "offline_declined":
        return DECLINED + outcomes[-8:]
    return outcomes


def frames_of(actions) -> list[tuple[str, ...]]:
    return [a.frame for a in actions if isinstance(a, Show)]


def every_page(t: Terminal) -> list[tuple[str, ...]]:
    pages = [t.frame()]
    if STATES[t.state].kind in ("result", "confirm"):
        for _ in range(12):
            if not t.press("DOWN"):
                break
            pages.append(t.frame())
    return pages


def walk(language: str, outcomes: list[dict], notes: list[str]):
    """Every state the keypad reaches from idle with these keys and replies; every frame it showed."""
    start = Terminal(21, 8, language, test_card="debit")
    frames = frames_of(start.start())
    frames += frames_of(start.set_link(OFFLINE))  # the bank unreachable, a stored sale declined: both banners
    seen, todo = {place(start)}, [start]
    while todo:
        t = todo.pop()
        if t.busy:
            for note in notes[:3]:
                frames += frames_of(t.notify(note))
            for reply in replies_for(STATES[t.state].call, outcomes):
                after = copy.deepcopy(t)
                frames += frames_of(after.deliver(reply))
                frames += every_page(copy.deepcopy(after))
                if place(after) not in seen:
                    seen.add(place(after))
                    todo.append(after)
            continue
        for keys in TYPING:
            after = copy.deepcopy(t)
            for key in keys:
                frames += frames_of(after.press(key))
                if after.busy:
                    break
            if place(after) not in seen:
                seen.add(place(after))
                todo.append(after)
    return {state for state, _ in seen}, frames


def place(t: Terminal) -> tuple[str, str]:
    """A screen, and for a result what ENTER offers there (the password again, a refund instead)."""
    result = getattr(t, "_result", None)
    return t.state, f"{getattr(result, 'offer', '')} {getattr(result, 'retry_state', '')}" if t.state == "result" else ""


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_keypad_screen_speaks_one_language(texts, language):
    replies, _, notes, _ = texts[language]
    seen, frames = walk(language, replies, notes)
    assert len(seen) >= len(STATES) - 3, sorted(set(STATES) - seen)
    wrong = sorted({" | ".join(frame) for frame in frames
                    if foreign(" ".join(line.strip() for line in frame), language)})
    assert wrong == []


def test_a_chinese_keypad_showing_the_english_lockout_would_be_found():
    t = Terminal(21, 8, "zh")
    t.start()
    for key in ("2", "2", "ENTER"):
        t.press(key)
    t.deliver(FOUND[0])
    t.press("ENTER")
    for key in "123456":
        t.press(key)
    t.press("ENTER")
    frames = frames_of(t.deliver(error_reply("auth", "wrong supervisor password; supervisor functions are now locked "
                                                     "for 30 min on the control socket, until 14:32")))
    assert any(foreign(" ".join(frame), "zh") for frame in frames)


# ---------------------------------------------------------------- the console and the receipts

STATUS = {"link": {"host": "10.1.2.3", "port": 5000, "connected": False, "tls": False},
          "keys": {"installed": True, "check_values": {"pin": "1A2B3C", "mac": "4D5E6F"},
                   "master_check_value": "0A1B2C", "master_source": "development key"},
          "batch": {"number": 7, "state": "open", "transactions": 3}, "reversals": {"pending": 1, "needs_manual": 1},
          "advices": {"pending": 1}, "journal": {"in_doubt": 1, "settling": 6, "damaged": None},
          "params": {"version": "1/1", "digest": "3f9a0c12", "source": "download",
                     "staged": {"id": 2, "keys": 3, "aids": 4}},
          "fixes": {"open": [{"id": 1, "trace": 5, "standing": "-"}]}, "supervisor_locked_for_s": 90,
          "uptime_s": 12.0}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_console_status_signon_and_link_test_speak_one_language(texts, language):
    _, console, _, _ = texts[language]
    shown = views.status(STATUS, language).splitlines() + views.journal_status(
        {"batch": STATUS["batch"], "reversals": STATUS["reversals"], "in_doubt": 0, "settling": None,
         "last_transaction_at": 1_790_000_000.0}, language).splitlines()
    shown += [views.outcome({"message": text}) for text in console]
    assert foreign_lines(shown, language) == []


#: a Chinese receipt's labels are bilingual by the CUP layout ("商户编号 MERCHANT NO."): their English half is expected
BILINGUAL = set(WORD.findall(" ".join(chinese for _, chinese in LABELS.values())))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_receipt_speaks_one_language(texts, language):
    _, _, _, receipts = texts[language]
    assert len(receipts) > 10
    lines = [line for receipt in receipts for line in receipt.splitlines()]
    assert foreign_lines(lines, language, ALLOWED | BILINGUAL | {"SHOP"}) == []
