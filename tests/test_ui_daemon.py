"""The cashier machine on the real daemon (control socket, journal, acquirer simulator), driven
synchronously: every Call goes to the daemon and its reply straight back.  Each scenario ends with the
acquirer's ledger, not only with what the screen says."""

from __future__ import annotations

import re

from agent.control_client import ControlClient
from agent.ui import Call, Terminal
from agent.ui.scripted import press_keys
from tests.test_ui_terminal import PASSWORD, daemon, net, short_dir  # noqa: F401 — fixtures used by name


class Cashier:
    def __init__(self, config, test_card="debit", size=(21, 8)):
        socket = re.search(r'control_socket = "([^"]+)"', config.read_text()).group(1)
        self.client = ControlClient(socket)
        self.t = Terminal(*size, "en", test_card=test_card)
        self.printed: list[str] = []
        self.calls: list[Call] = []
        self.notes: list[str] = []

    def perform(self, call: Call, notify) -> dict:
        self.calls.append(call)

        def note(text: str) -> None:
            self.notes.append(text)
            notify(text)

        return self.client.call(call.op, dict(call.args), password=call.password, on_notify=note)

    def keys(self, *keys: str) -> "Cashier":
        press_keys(self.t, keys, self.perform, on_print=self.printed.append)
        return self

    @property
    def text(self) -> str:
        pages = [self.t.frame()]
        while self.t.press("DOWN"):
            pages.append(self.t.frame())
        return " ".join(" ".join(" ".join(p) for p in pages).split())

    def headline(self) -> str:
        return self.t.frame()[0].split("  ")[0].strip()

    def sale(self, amount: str) -> "Cashier":
        return self.keys("CANCEL", "1", amount, "ENTER")


def test_s2_second_charge_is_confirmed_then_repaired_from_the_duplicates_list(sim_host, daemon):
    c = Cashier(daemon).sale("50.00")
    assert c.headline() == "APPROVED" and len(c.printed) == 2  # the daemon signed on at start
    c.sale("50.00")
    assert c.t.state == "sale.confirm" and "This card paid 50.00 a moment ago" in c.text
    c.keys("ENTER")
    assert c.headline() == "APPROVED" and net(sim_host) == 10000
    c.keys("CANCEL", "5")
    assert c.t.state == "dups.list"
    c.keys("ENTER", "ENTER", PASSWORD, "ENTER")
    assert c.headline() == "APPROVED" and "batch open, voiding it" in c.text
    assert net(sim_host) == 5000


def test_s3_undercharge_collects_the_difference_linked_to_the_original(sim_host, daemon):
    c = Cashier(daemon, test_card="credit").sale("10.00")
    trace = re.search(r"^VOUCHER NO\.\s+(\d{6})$", c.printed[-1], re.MULTILINE).group(1)
    c.keys("CANCEL", "4", trace, "ENTER")
    assert c.t.state == "correct.detail" and "10.00" in c.text
    c.keys("ENTER", "100.00", "ENTER", PASSWORD, "ENTER")
    assert c.headline() == "APPROVED" and "Undercharge: collecting the 90.00 difference" in c.text
    assert f"REFERENCE ORIG VOUCHER {trace}" in " ".join(c.printed[-1].split())
    assert net(sim_host) == 10000


def test_s4_refund_by_rrn_and_date_partially_and_a_repeat_is_not_paid_twice(sim_host, daemon):
    c = Cashier(daemon).sale("100.00")
    rrn = re.search(r"^REFER NO\.\s+(\d{12})$", c.printed[-1], re.MULTILINE).group(1)
    date = re.search(r"^DATE/TIME\s+\d{4}-(\d\d)-(\d\d)", c.printed[-1], re.MULTILINE).groups()
    refund = ("CANCEL", "3", "2", rrn, "ENTER", "".join(date), "ENTER", "ENTER", "40", "ENTER", PASSWORD, "ENTER")
    c.keys(*refund)
    assert c.calls[-1].args == {"rrn": rrn, "date": "".join(date), "amount": 4000}
    assert c.headline() == "APPROVED" and "60.00 still refundable" in c.text
    c.keys(*refund)
    assert c.t.state == "refund.confirm" and "Not refunded" in c.text  # a second identical refund only on purpose
    assert net(sim_host) == 6000
    c.keys("ENTER")
    assert c.t.state == "refund.password"  # confirmed: the supervisor's password again, nothing sent yet
    c.keys(PASSWORD, "ENTER")
    assert c.calls[-1].args == {"rrn": rrn, "date": "".join(date), "amount": 4000, "confirm_repeat": True}
    assert c.headline() == "APPROVED" and "20.00 still refundable" in c.text
    assert net(sim_host) == 2000
    c.keys("CANCEL", "3", "1", "999", "ENTER")
    assert c.headline() == "NOT FOUND" and "No sale with trace 000999" in c.text


def test_s1_unusually_large_amount_is_confirmed_before_the_card_is_read(sim_host, daemon):
    c = Cashier(daemon, size=(16, 4))
    for amount in ("10.00", "11.00", "12.00", "13.00", "14.00"):
        c.sale(amount)
        assert c.headline() == "APPROVED"
    c.sale("120.00")
    assert c.t.state == "sale.confirm" and "unusually large" in c.text and net(sim_host) == 6000
    c.keys("CANCEL")
    assert c.t.state == "idle" and net(sim_host) == 6000
    c.keys("7", "2", "12", "ENTER")  # lookup by amount: the 12.00 sale, with everything S1 lists
    assert c.t.state == "lookup.detail" and "622609******0048" in c.text and "000001 open" in c.text


def test_settlement_with_an_open_fix_lists_it_and_settles_once_confirmed(sim_host, daemon):
    c = Cashier(daemon).sale("12.34")
    trace = re.search(r"^VOUCHER NO\.\s+(\d{6})$", c.printed[-1], re.MULTILINE).group(1)
    sim_host.fault("decline:mti=0200,count=1,skip=1")  # the void goes through, the new sale is declined
    c.keys("CANCEL", "4", trace, "ENTER", "ENTER", "10.00", "ENTER", PASSWORD, "ENTER")
    assert c.t.state == "result" and net(sim_host) == 0
    c.keys("CANCEL", "8")
    assert c.t.state == "settle.confirm" and "10.00 still to charge" in c.text
    c.keys("ENTER", PASSWORD, "ENTER")
    assert c.calls[-1].args == {"confirm": True, "confirm_open_fixes": True}
    assert c.headline() == "DONE" and "Batch 000001 settled (balanced)" in c.text, c.text


def test_a_completion_keyed_as_an_advice_is_charged_once_its_advice_is_answered(sim_host, daemon):
    c = Cashier(daemon).keys("CANCEL", "0", "1", "1000.00", "ENTER", PASSWORD, "ENTER")  # hold 1000.00
    assert c.headline() == "APPROVED", c.text
    hold = c.client.call("preauth_list", {})["outcome"]["details"]["holds"][0]["txn"]
    c.keys("CANCEL", "0", "6", str(hold["trace"]), "ENTER", "980.00", "ENTER")  # 预授权完成通知
    assert c.calls[-1].args == {"trace": hold["trace"], "amount": 98000, "advice": True}
    assert c.headline() == "APPROVED", c.text
    assert net(sim_host) == 98000  # the bank answered the advice at once: charged, the hold gone
    assert c.client.call("preauth_list", {})["outcome"]["details"]["holds"] == []
