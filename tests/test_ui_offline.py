"""The cashier's keypad while the bank cannot be reached (store-and-forward): "OFFLINE — n stored, amount" on
the top line of every screen at every display size in both languages, and the banner of stored sales the bank
declined after forwarding, which the supervisor opens from the idle screen (ENTER, password) — acknowledging
them — and reads with what to do.

Through the sans-IO machine here; through the real daemon and pcscd in `tests/test_ui_offline_daemon.py`."""

from __future__ import annotations

import pytest

from agent.ui import Call
from agent.ui.table import STATES
from agent.ui.texts import Texts
from tests.test_ui_flows import Screen, error, txn

SIZES = [(w, h) for w in range(16, 22) for h in range(4, 9)]
LANGUAGES = ["en", "zh"]
#: keys that lead from idle to each kind of screen a cashier meets (entries, lists, a result)
WALKS = {"idle": (), "sale amount": ("1", "12"), "void trace": ("2",), "refund by": ("3",), "lookup": ("7",),
         "pre-auth menu": ("0",), "password": ("2", "7", "ENTER")}


def status(*, down=True, stored=3, amount=7500, unseen=0, tls=True):
    link = {"host": "127.0.0.1", "port": 5800, "tls": tls, "connected": not down,
            "state": "down" if down else "up", **({"down_reason": "cannot connect"} if down else {})}
    return {"link": link, "offline": {"stored": stored, "amount": amount, "oldest": None, "declined": unseen,
                                      "unseen": unseen, "limits": {}}}


def banner_of(s: Screen) -> str:
    return s.t.frame()[0].rstrip()


def said(s: Screen) -> str:
    """The body of every page of the screen under the banner and the title, read as one text."""
    pages = [s.t.frame()[2:-1]]
    moved = 0
    while s.t.press("DOWN"):
        pages.append(s.t.frame()[2:-1])
        moved += 1
    for _ in range(moved):
        s.t.press("UP")
    return " ".join(" ".join(" ".join(p) for p in pages).split())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("width,height", SIZES)
def test_offline_is_on_the_top_line_of_every_screen_with_what_is_stored(width, height, language):
    for walk, keys in WALKS.items():
        s = Screen(width, height, language)
        s._take(s.t.set_link(status(stored=3, amount=7500)))
        s.keys(*keys)
        if walk == "password":  # a void's trace found: its details, then the password screen
            s.reply({"ok": True, "result": {"transactions": [txn(trace=7)]}}).keys("ENTER")
        top = banner_of(s)
        forms = [Texts(language)(k, count=3, amount="75.00")
                 for k in ("offline.banner", "offline.banner_mid", "offline.banner_short")]
        assert top in forms, (walk, s.t.frame())
        if width >= 21 and language == "en":
            assert top == "OFFLINE — 3 stored, 75.00"[:width] or top == forms[1], s.t.frame()
        assert len(s.t.frame()) == height and s.frames[-1] == s.t.frame()  # Screen checks every line's width


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_banner_goes_once_the_bank_answers_and_comes_back_at_once_on_a_busy_screen(language):
    s = Screen(16, 4, language)
    s.keys("1", "25", "ENTER")  # a sale in flight
    assert isinstance(s.last_call, Call) and s.last_call.op == "sale"
    shown = s.t.set_link(status(stored=1, amount=2500))
    short = Texts(language)("offline.banner_short", count=3, amount="75.00")
    assert shown and shown[0].frame[0].startswith(short[:2])  # shown at once
    s._take(shown)
    s._take(s.t.set_link(status(down=False, stored=0, amount=0)))
    assert not any("OFF" in line or "脱机" in line for line in s.t.frame()), s.t.frame()
    assert STATES[s.t.state].kind == "busy"  # the sale still waits for its answer


def test_the_whole_sale_screen_still_pages_under_the_banner_at_16x4():
    s = Screen(16, 4)
    s._take(s.t.set_link(status()))
    s.keys("1")
    first = s.t.frame()
    assert first[0] == "OFFLINE 3: 75.00" and first[-1].strip() == "0.00", first
    assert "Amount:" in s.text and "F1: pay by code" in s.text  # the prompt pages under the banner


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("width,height", [(16, 4), (21, 8)])
def test_a_declined_stored_sale_is_a_banner_until_the_supervisor_opens_it(width, height, language):
    s = Screen(width, height, language)
    s._take(s.t.set_link(status(down=False, stored=0, amount=0, unseen=2)))
    assert banner_of(s) in (Texts(language)("declined.banner", count=2),
                            Texts(language)("declined.banner_short", count=2))
    assert "".join(Texts(language)("idle.declined", count=2).split())[:8] in "".join(s.text.split())
    s.keys("ENTER")
    assert s.t.state == "declined.password"
    s.keys("123456", "ENTER")
    call = s.last_call
    assert (call.op, call.args, call.password) == ("offline_declined", {"acknowledge": True}, "123456")
    a = txn(id=8, trace=41, amount=1200, state="declined", response_code="51", seen=True)
    b = txn(id=9, trace=42, amount=3300, state="declined", response_code="05", seen=True)
    old = txn(id=3, trace=12, amount=500, state="declined", response_code="05", seen=True)
    s.reply({"ok": True, "result": {"declined": [b, a, old], "acknowledged": [9, 8]}})
    assert s.t.state == "declined.list" and len(s.t.frame()) == height
    s.keys("ENTER")
    assert s.t.state == "declined.detail"
    text = "".join(s.text.split())
    assert "000042" in text and "33.00" in text and "622609******0048" in text, s.text
    todo = Texts(language)("declined.todo")
    assert "".join(todo.split())[:12] in text, s.text
    s.keys("CANCEL")
    assert s.t.state == "idle" and not any("DECLINED" in line or "被拒" in line for line in s.t.frame()), s.t.frame()
    s.keys("ENTER")  # nothing to open any more
    assert s.t.state == "idle"


def test_a_wrong_supervisor_password_offers_to_key_it_again_and_nothing_is_acknowledged():
    s = Screen(21, 8)
    s._take(s.t.set_link(status(down=False, unseen=1)))
    s.keys("ENTER", "111111", "ENTER")
    s.reply(error("auth", "wrong supervisor password (4 tries left)"))
    assert "wrong supervisor password" in s.text
    s.keys("ENTER")
    assert s.t.state == "declined.password"
    assert banner_of(s).startswith("! 1 DECLINED")  # still unseen


def test_idle_enter_without_a_declined_sale_does_nothing_and_bad_status_values_never_crash():
    s = Screen(16, 4)
    s.keys("ENTER")
    assert s.t.state == "idle" and not s.calls
    for bad in (None, {}, {"link": "x", "offline": []}, {"link": {"state": "down"}, "offline": {"stored": -1,
                                                                                               "amount": "7"}}):
        s._take(s.t.set_link(bad))
        assert len(s.t.frame()) == 4


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("width,height", [(16, 4), (21, 8)])
def test_what_needs_the_bank_says_so_under_the_banner_a_payment_code_and_a_void(width, height, language):
    paycode = "the bank cannot be reached (cannot connect): payment codes need the network — ask for a card or cash"
    s = Screen(width, height, language)
    s._take(s.t.set_link(status()))
    s.keys("1", "5", "F1", "281234567890123456", "ENTER")
    assert s.last_call.op == "wallet_sale"
    s.reply(error("offline", paycode))
    assert s.t.state == "result" and Texts(language)("error.offline") in s.t.frame()[1], s.t.frame()
    assert "payment codes need the network — ask for a card or cash" in said(s), said(s)
    assert banner_of(s).startswith(Texts(language)("offline.banner_short", count=3, amount="75.00")[:2])
    s.keys("ENTER", "2", "7", "ENTER").reply({"ok": True, "result": {"transactions": [txn(trace=7)]}})
    s.keys("ENTER", "123456", "ENTER")
    assert s.last_call.op == "void"
    s.reply(error("offline", "the bank cannot be reached (cannot connect): void needs the bank — wait for the link"))
    assert "void needs the bank — wait for the link" in said(s), said(s)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("width,height", [(16, 4), (21, 8)])
def test_a_stored_sale_the_bank_was_never_told_of_is_a_banner_and_says_what_to_do_until_handled(width, height,
                                                                                                 language):
    s = Screen(width, height, language)
    online = status(down=False, stored=0, amount=0)
    s._take(s.t.set_link({**online, "offline": {**online["offline"], "needs_manual": 1,
                                                "needs_manual_amount": 4000}}))
    assert banner_of(s) in (Texts(language)("manual.banner", count=1),
                            Texts(language)("manual.banner_short", count=1))
    assert len(s.t.frame()) == height and all(len(line) <= width for line in s.t.frame())
    todo = "".join(Texts(language)("idle.manual", count=1).split())
    assert todo[:12] in "".join(said(s).split())
    s.keys("ENTER")
    assert s.t.state == "idle" and not s.calls  # a supervisor marks it handled elsewhere, with a note
    s._take(s.t.set_link(online))  # marked handled: the banner goes
    assert banner_of(s) not in (Texts(language)("manual.banner", count=1),
                                Texts(language)("manual.banner_short", count=1))
