"""The supervisor's offline switch on the keypad: 9 Manage, then 2 Go offline or 3 Back online, the supervisor's
password, the agent's answer; while switched the top line of every screen says the supervisor did it. Every
display size in both languages (the smallest, 16×4, included); through the real daemon in
`tests/test_ui_offswitch_daemon.py`."""

from __future__ import annotations

import pytest

from agent.ui import Call
from agent.ui.texts import Texts
from tests.test_ui_flows import Screen, error
from tests.test_ui_offline import LANGUAGES, SIZES, WALKS, banner_of, said, status


def switched(stored=2, amount=3000):
    s = status(stored=stored, amount=amount)
    s["link"].update(down_reason="switched offline by the supervisor",
                     switched={"operator": "supervisor", "role": "supervisor", "since": 1.7e9})
    return s


def answer(message: str, offline: bool = True) -> dict:
    return {"ok": True, "result": {"offline": offline, "changed": True, "message": message, "switched": None}}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("width,height", SIZES)
def test_manage_lists_sign_on_and_the_two_switches_and_each_asks_the_supervisor(width, height, language):
    words = Texts(language)
    s = Screen(width, height, language).keys("9")
    assert s.t.state == "manage.menu" and s.t.frame()[0].startswith(words("manage"))
    for item in ("item.signon", "item.gooffline", "item.goonline"):
        assert "".join(words(item).split()) in "".join(s.text.split()), (item, s.t.frame())
    s.keys("2")
    assert s.t.state == "gooffline.password" and s.t.frame()[0].startswith(words("gooffline"))
    s.keys("246810", "ENTER")
    assert s.last_call == Call("offline_switch", {"switch": "on"}, "246810")
    said_on = "Switched offline: sales are stored within the offline limits."
    s.reply(answer(said_on))
    assert s.t.state == "result" and s.t.frame()[0].startswith(words("status.done"))
    assert said_on in s.text
    s.keys("ENTER", "9", "3", "246810", "ENTER")
    assert s.t.state == "goonline.send" and s.t.frame()[0].startswith(words("goonline"))
    assert s.last_call == Call("offline_switch", {"switch": "off"}, "246810")
    s.reply(answer("Back online: the next sale or echo tries the bank.", offline=False))
    assert "Back online" in s.text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("width,height", SIZES)
def test_switched_by_the_supervisor_is_on_the_top_line_of_every_screen(width, height, language):
    forms = [Texts(language)(k, count=2, amount="30.00")
             for k in ("offline.switched", "offline.switched_mid", "offline.switched_short")]
    line_down = [Texts(language)(k, count=2, amount="30.00")
                 for k in ("offline.banner", "offline.banner_mid", "offline.banner_short")]
    for walk, keys in {**WALKS, "manage": ("9",), "switch password": ("9", "2")}.items():
        s = Screen(width, height, language)
        s._take(s.t.set_link(switched()))
        s.keys(*keys)
        if walk == "password":
            continue  # needs a lookup's answer: the void's screens are the other tests'
        top = banner_of(s)
        assert top in forms and top not in line_down, (walk, s.t.frame())
        assert len(s.t.frame()) == height
    s = Screen(width, height, language)
    s._take(s.t.set_link(switched()))
    shown = s.t.set_link(status(stored=2, amount=3000))  # the line itself down now: the banner changes at once
    assert shown and banner_of(s) in line_down


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_wrong_password_offers_to_key_it_again_and_offline_off_in_the_settings_is_said(language):
    s = Screen(16, 4, language).keys("9", "2", "111111", "ENTER")
    s.reply(error("auth", "wrong supervisor password (4 tries left)"))
    assert s.t.frame()[0].startswith(Texts(language)("error.auth"))
    s.keys("ENTER")
    assert s.t.state == "gooffline.password"
    s.keys("246810", "ENTER").reply(error("offline_disabled", "store-and-forward is off ([offline] enabled = "
                                                               "false): the terminal cannot be switched offline"))
    assert s.t.frame()[0].startswith(Texts(language)("error.offline_disabled"))
    assert "cannot be switched offline" in s.text
    s.keys("ENTER")
    assert s.t.state == "idle"


def test_cancel_leaves_the_switch_screens_and_nothing_is_called():
    s = Screen(16, 4).keys("9", "2", "24", "CANCEL")
    assert s.t.state == "idle" and s.calls == []
    s.keys("9", "CANCEL")
    assert s.t.state == "idle" and s.calls == []
    s._take(s.t.set_link(switched()))
    assert said(s)  # the idle menu under the banner still reads
