"""Payment codes on the keypad against the real daemon, `posim host` over TCP and a virtual scanner on a
real socat pty: the screen's own driver (`simulator.terminal.Session`, calls in worker threads, so CANCEL
is pressed while the sale is in flight), and `posim terminal` in tmux.  Each ends on the bank's ledger."""

from __future__ import annotations

import re
import time

import pytest

from simulator.terminal import Session, control_caller
from agent.ui import Terminal
from tests.agentproc import SUPERVISOR_PASSWORD, Agent, write_config
from tests.test_ui_terminal import short_dir, terminal_in_tmux  # noqa: F401 — fixtures used by name
from tests.test_wallet_daemon import issue, net

DEADLINE = 30.0  # long: a cancel that lands must be the cashier's, not the deadline's
WALLET = f"""
[wallet]
query_interval = 0.3
deadline = {DEADLINE}
"""


@pytest.fixture
def scanner_agent(tmp_path, sim_host, pty_pair):
    from simulator.scanner import VirtualScanner

    extra = WALLET + f'\n[scanner]\nport = "{pty_pair.a}"\nscan_timeout = 20\n'
    agent = Agent(write_config(tmp_path, sim_host.port, response_timeout=5.0, extra=extra), tmp_path)
    agent.start()
    device = VirtualScanner(pty_pair.b)
    yield agent, device
    device.close()
    agent.stop()


class Keypad:
    """The cashier's screen on the daemon, driven like `posim terminal` drives it (minus curses)."""

    def __init__(self, agent: Agent, size=(21, 8), language="en"):
        self.session = Session(Terminal(*size, language), control_caller(agent.socket))
        self.session.start()

    def press(self, *keys: str) -> "Keypad":
        for key in keys:
            for k in ([key] if key in ("ENTER", "CANCEL", "F1", "CLEAR") else list(key)):
                self.session.press(k)
                self.session.poll()
        return self

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.session.frame).split())

    def wait(self, predicate, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.session.poll()
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"{what} did not happen; the screen shows {self.session.frame}")

    def wait_text(self, *texts: str, timeout: float = 30.0) -> None:
        self.wait(lambda: all(t in self.text for t in texts), f"{texts} on the screen", timeout)

    def wait_result(self) -> str:
        self.wait(lambda: self.session.terminal.state == "result", "a result")
        return self.session.frame[0].split("  ")[0].strip()


def test_cancel_while_the_customer_confirms_cancels_the_order_and_nothing_is_charged(scanner_agent, sim_host):
    agent, _ = scanner_agent
    keypad = Keypad(agent)
    code = issue(sim_host, "dave")  # never confirms on the phone
    keypad.press("1", "40.00", "F1", code, "ENTER")
    keypad.wait_text("s left", "X=cancel")
    started = time.monotonic()
    keypad.press("CANCEL")
    # the cancel is taken at once; the screen shows it, or the reversal notice that overtook it
    assert "Cancelling the order" in keypad.text or "Cancel noted" in keypad.text, keypad.text
    assert keypad.wait_result() == "CANCELLED"
    assert time.monotonic() - started < DEADLINE / 2  # the cashier's cancel, not the deadline
    assert "cancelled by the cashier" in keypad.text and "nothing charged" in keypad.text
    assert net(sim_host, "dave") == 0
    assert sim_host.ledger()["counts"].get("sale", {}).get("approved", 0) == 0
    status = agent.json("status")["result"]
    assert status["reversals"] == {"pending": 0, "needs_manual": 0} and status["journal"]["in_doubt"] == 0
    # the terminal takes the next payment at once: nothing is left unresolved
    keypad.press("ENTER", "1", "5.00", "F1", issue(sim_host, "alice"), "ENTER")
    assert keypad.wait_result() == "APPROVED" and net(sim_host, "alice") == 500


def test_cancel_pressed_before_the_customer_is_asked_still_cancels_once_the_wait_begins(scanner_agent, sim_host):
    agent, _ = scanner_agent
    keypad = Keypad(agent, size=(16, 4))
    keypad.press("1", "7.00", "F1", issue(sim_host, "dave"), "ENTER", "CANCEL")  # at once, before any answer
    assert keypad.wait_result() == "CANCELLED"
    assert net(sim_host, "dave") == 0


def test_scan_on_the_keypad_confirm_on_the_phone_then_an_undercharge_fixed_with_a_new_scanned_code(
        scanner_agent, sim_host):
    agent, device = scanner_agent
    keypad = Keypad(agent)
    keypad.press("1", "10.00", "F1")
    assert "ENTER=scan" in keypad.text
    keypad.press("ENTER")  # ENTER alone: the agent reads its scanner
    keypad.wait_text("Scan the customer's code")
    time.sleep(0.2)
    device.scan(issue(sim_host, "bob", confirm="1"))
    keypad.wait_text("s left")  # bob confirms on the phone after a second
    assert keypad.wait_result() == "APPROVED"
    assert len(keypad.session.printed) > 0 and net(sim_host, "bob") == 1000
    trace = re.search(r"^VOUCHER NO\.\s+(\d{6})$", "\n".join(keypad.session.printed), re.MULTILINE).group(1)

    keypad.press("ENTER", "4", trace, "ENTER")
    keypad.wait(lambda: keypad.session.terminal.state == "correct.detail", "the sale's details")
    assert "Code" in keypad.text and "281" not in keypad.text.replace("281234", "")
    keypad.press("ENTER", "25.00", "ENTER")
    assert keypad.session.terminal.state == "correct.password"  # the password first, then the customer's code
    keypad.press(SUPERVISOR_PASSWORD, "ENTER")
    assert keypad.session.terminal.state == "correct.code"
    keypad.press("ENTER")
    keypad.wait_text("Scan the customer's code")
    time.sleep(0.2)
    device.scan(issue(sim_host, "bob"))
    assert keypad.wait_result() == "APPROVED"
    assert "collected the difference 15.00" in keypad.text
    assert net(sim_host, "bob") == 2500


def test_posim_terminal_in_tmux_pays_by_code_and_cancels_while_paying(scanner_agent, sim_host, terminal_in_tmux):
    agent, _ = scanner_agent
    tmux = terminal_in_tmux(agent.config, "--size", "16x4")
    tmux.wait_for("POSAGENT", "1 Sale")
    tmux.keys("1")
    tmux.wait_for("Amount:")
    tmux.type("9.90")
    tmux.wait_for("9.90")
    tmux.keys("F1")
    tmux.wait_for("ENTER=scan")
    tmux.type(issue(sim_host, "alice"))
    tmux.keys("Enter")
    tmux.wait_for("APPROVED")
    tmux.keys("Enter")
    tmux.wait_for("1 Sale")
    tmux.keys("1")
    tmux.wait_for("Amount:")
    tmux.type("33")
    tmux.keys("F1")
    tmux.wait_for("ENTER=scan")
    tmux.type(issue(sim_host, "dave"))
    tmux.keys("Enter")
    tmux.wait_for("s left", "X=cancel")
    tmux.keys("Escape")
    tmux.wait_for("CANCELLED")
    assert net(sim_host, "alice") == 990 and net(sim_host, "dave") == 0
