"""Every cashier-facing line follows `[terminal] language`: the card reader's messages, the fix texts
and the outcome-unknown text come from the one engine table, in English and Chinese."""

from __future__ import annotations

import inspect

import pytest

from agent.daemon.cards import card_text
from agent.emv import card_errors
from agent.engine.texts import say

CARD_ERRORS = [cls for _, cls in inspect.getmembers(card_errors, inspect.isclass)
               if issubclass(cls, card_errors.CardError)]


@pytest.mark.parametrize("cls", CARD_ERRORS, ids=lambda c: c.__name__)
def test_every_card_error_speaks_both_languages(cls):
    exc = cls("detail for the log")
    english, chinese = card_text("en", exc), card_text("zh", exc)
    assert english == cls.message  # the table says what the driver says
    assert chinese != english and any("\u4e00" <= ch <= "\u9fff" for ch in chinese)


def test_a_status_word_is_named_in_both_languages():
    exc = card_errors.UnexpectedStatusWord("x", sw=0x6A82)
    assert "6A82" in card_text("en", exc) and "6A82" in card_text("zh", exc)
    assert card_text("en", exc) == str(exc)


def test_a_fix_left_open_is_told_in_chinese():
    text = say("zh", "fix_action_card", what=say("zh", "fix_owed_sale", amount="10.00"),
               command="posagent correct 000005 --resume")
    assert "尚需收取 10.00" in text and "posagent correct 000005 --resume" in text


def test_the_keypad_idle_screen_lists_open_fixes_until_done():
    from agent.ui import Terminal
    from agent.ui.actions import ENTER

    t = Terminal(21, 8, "en")
    t.start()
    t.set_open_fixes([{"id": 3, "trace": 5}])
    assert any("fix open: 000005" in line for line in t.frame())
    t.press("4")  # Correct amount: the outcome of a fix finishes it
    t._in_flight = object()  # a reply arrives for the call the flow sent
    t.state = "correct.send"
    t.deliver({"ok": True, "outcome": {"status": "approved", "message": "done", "receipts": [],
                                       "details": {"fix": {"id": 3, "state": "done"}}, "txn": {"trace": 9}}})
    t.press(ENTER)
    assert t.state == "idle" and not any("fix open" in line for line in t.frame())
    zh = Terminal(21, 8, "zh")
    zh.set_open_fixes([{"id": 4, "trace": 6}])
    assert any("更正未完成" in line for line in zh.frame())


def test_every_console_command_has_help_in_both_languages():
    from agent.console.commands import COMMANDS
    from agent.console.texts import TEXTS as CONSOLE
    for command in COMMANDS:
        english, chinese = CONSOLE["help." + "_".join(command.words)]
        assert english == command.help and chinese != english


def test_the_console_status_speaks_chinese():
    from agent.console import views
    status = {"link": {"host": "h", "port": 1, "connected": True, "tls": False},
              "keys": {"installed": False, "check_values": {}}, "batch": {"number": 1, "state": "open",
                                                                        "transactions": 2},
              "reversals": {"pending": 1, "needs_manual": 0}, "journal": {"in_doubt": 0, "settling": None},
              "fixes": {"open": []}}
    text = views.status(status, "zh")
    assert "已连接" in text and "缺失：请签到" in text and "1 笔待发送" in text and "0 笔未完成" in text
    assert "connected" not in text


def test_the_console_session_speaks_chinese():
    from agent.console.session import Reply, Session, SessionSettings

    class Gate:
        def check(self, password):
            return None

        def locked_for(self):
            return 0.0

    class Runner:
        def run(self, line):
            return Reply("ok")

    session = Session(Gate(), Runner(), SessionSettings(banner="posagent", language="zh"))
    assert "按回车键登录" in session.start(0.0).decode()
    assert "密码" in session.receive(b"\r", 1.0).decode()
    assert "已登录" in session.receive(b"secret\r", 2.0).decode()

