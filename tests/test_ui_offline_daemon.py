"""The cashier's keypad (`posim terminal` in tmux) on the real daemon while the bank cannot be reached: a chip
sale through pcscd is stored and "OFFLINE 1: 12.00" comes onto the 21-column screen by itself; when the line
is back the stored sales are forwarded, the one the issuer declines becomes a banner, and the supervisor
opens it from the idle screen (ENTER, password), reads what to do, and the banner ends — checked on the
host's ledger and the journal (`posagent offline declined` says it was seen)."""

from __future__ import annotations

from agent.drivers.pcsc import CardReader
from simulator.card import VirtualCard
from tests.agentproc import SUPERVISOR_PASSWORD
from tests.test_daemon_emv_terminal import host_codes
from tests.test_offline_selling import CARDS, PORT, READER, go_offline, offline_terminal, wait_for  # noqa: F401
from tests.test_ui_terminal import short_dir, terminal_in_tmux  # noqa: F401


def keypad_chip_sale(tmux, amount: str, card: str) -> None:
    """Sale, the amount, the card in the reader, ENTER: the daemon reads it through pcscd."""
    tmux.keys("1")
    tmux.wait_for("Amount:")
    tmux.type(amount)
    virtual = VirtualCard(CARDS[card], PORT).start()
    try:
        tmux.keys("Enter")
        tmux.wait_for("|APPROVED")  # the screen's result (the printer pane says APPROVED OFFLINE too)
    finally:
        virtual.remove()
        assert CardReader(READER, card_timeout=10).wait_for_removal(10)  # the next card is a new insertion
    tmux.keys("Enter")


def test_a_keypad_sale_while_the_bank_is_down_is_stored_shown_and_a_declined_one_opened_by_the_supervisor(
        offline_terminal, sim_host, terminal_in_tmux):
    agent = offline_terminal
    tmux = terminal_in_tmux(agent.config, "--size", "21x8")
    tmux.wait_for("POSAGENT", "1 Sale")
    go_offline(agent, sim_host)

    keypad_chip_sale(tmux, "12.00", "declined")  # the card approves offline (Y3); its issuer will not
    tmux.wait_for("OFFLINE 1: 12.00", "1 Sale")  # by itself, from the agent's status (21 columns: short)
    keypad_chip_sale(tmux, "25.00", "debit")
    tmux.wait_for("OFFLINE 2: 37.00")
    tmux.keys("2")  # every screen carries it, a void's trace entry too
    tmux.wait_for("OFFLINE 2: 37.00", "Trace no.:")
    tmux.keys("Escape")

    sim_host.control(op="clear")  # the line is back: both go out without a new sale
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0), agent.call("status")
    assert host_codes(sim_host, "declined") == ["05"] and host_codes(sim_host, "debit") == ["00"]
    screen = tmux.wait_for("! 1 DECLINED OFFLINE", "ENTER to see")
    assert "OFFLINE 2:" not in screen, screen  # the bank answers again: the offline banner has gone

    tmux.keys("Enter")
    tmux.wait_for("Supervisor password:")
    tmux.type(SUPERVISOR_PASSWORD)
    tmux.keys("Enter")
    shown = tmux.wait_for("12.00", "622609******0071")
    for _ in range(4):  # the details page on to what the store does
        tmux.keys("Down")
    tmux.wait_for("another payment")
    tmux.keys("Escape")
    tmux.wait_for("1 Sale")
    assert wait_for(lambda: "DECLINED" not in tmux.screen(), 10), tmux.screen()
    listed = agent.json("offline", "declined")["result"]["declined"]
    assert [(t["amount"], t["seen"]) for t in listed] == [(1200, True)], (listed, shown)
    assert agent.call("status")["result"]["offline"]["unseen"] == 0
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 2500
