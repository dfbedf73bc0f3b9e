"""When the terminal goes offline besides a failed link: the supervisor switches it offline by hand
(`posagent offline on|off`, journaled, kept across a restart, nothing sent to the bank meanwhile), and a sale
while the link is down tries the bank first where that is worth it (one connect after a failed connect; after
unanswered requests only once the last one is `retry_seconds` old).

End to end: virtual card → vpcd → pcscd → the daemon → real TCP → `posim host` with its `outage` and
`drop_response` faults, each checked on the host's ledger; the journal read from its file."""

from __future__ import annotations

import sqlite3
import time

import pytest

from agent import config
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext, DaemonRefused
from agent.daemon.linkstate import LinkHealth
from agent.drivers.pcsc import CardReader
from agent.errors import UsageError
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_daemon_emv_terminal import host_codes
from tests.test_offline_selling import (OUTAGE, READER, SETTINGS, chip_sale, offline_terminal,  # noqa: F401
                                        stored_offline, wait_for)


def switch_events(agent) -> list[tuple]:
    with sqlite3.connect(f"file:{agent.directory / 'journal.db'}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT operator, role, json_extract(details, '$.offline') FROM events "
                            "WHERE kind = 'offline.switched' ORDER BY id").fetchall()


def test_the_supervisor_switches_offline_sales_are_stored_nothing_is_sent_until_switched_back(offline_terminal,
                                                                                              sim_host):
    agent = offline_terminal
    assert agent.call("signon")["ok"]
    refused = agent.cli("offline", "on")  # no password given: refused, nothing changed
    assert refused.returncode == 3 and "password" in refused.stderr, refused
    done = agent.cli("offline", "on", password=True)
    assert done.returncode == 0 and "Switched offline" in done.stdout, done
    link = agent.call("status")["result"]["link"]
    assert link["state"] == "down" and link["down_reason"] == "switched offline by the supervisor", link
    assert link["switched"]["role"] == "supervisor"
    assert "switched offline by the supervisor at" in agent.cli("status").stdout

    started = time.monotonic()
    first = stored_offline(chip_sale(agent, 1500))  # at once, no connect tried: the bank never sees it
    assert time.monotonic() - started < 8
    assert "debit" not in sim_host.ledger()["cards"]
    assert refused_with(agent.call("void", {"trace": first["trace"]}, password=SUPERVISOR_PASSWORD),
                        "switched offline by the supervisor")
    assert refused_with(agent.call("echo"), "switched offline by the supervisor")  # nothing at all goes out
    assert agent.call("sale", {"amount": 3001, "confirm_duplicate": True})["outcome"]["details"]["refused"] == \
        "max_amount"  # every limit still applies
    time.sleep(5)  # the background sender (every 2 s here) does not forward while switched
    assert agent.call("status")["result"]["offline"]["stored"] == 1
    assert "debit" not in sim_host.ledger()["cards"]

    agent.stop()  # a restart comes back switched
    agent.start()
    link = agent.call("status")["result"]["link"]
    assert link["state"] == "down" and link["switched"]["role"] == "supervisor", link
    time.sleep(4)
    assert agent.call("status")["result"]["offline"]["stored"] == 1 and "debit" not in sim_host.ledger()["cards"]
    again = agent.cli("offline", "on", password=True)
    assert again.returncode == 0 and "Already switched offline" in again.stdout, again

    back = agent.cli("offline", "off", password=True)
    assert back.returncode == 0 and "Back online" in back.stdout, back
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0), agent.call("status")
    assert host_codes(sim_host, "debit") == ["00"]  # forwarded once switched back
    assert agent.call("status")["result"]["link"]["state"] != "down"
    assert switch_events(agent) == [("supervisor", "supervisor", 1), ("supervisor", "supervisor", 0)]
    nothing = agent.cli("offline", "off", password=True)
    assert nothing.returncode == 0 and "Not switched offline" in nothing.stdout, nothing


def refused_with(reply: dict, words: str) -> bool:
    if reply.get("ok"):
        return False
    assert words in reply["error"]["message"], reply
    return True


def test_the_console_switches_offline_and_back_with_the_supervisor_password(offline_terminal, sim_host):
    agent = offline_terminal
    console = CommandTable(ConsoleContext(client=agent, cfg=config.load(agent.config)))
    asked = console.run("offline on")
    assert asked.ask is not None and asked.ask.secret
    with pytest.raises(DaemonRefused) as wrong:
        asked.ask.then("111111")
    assert "password" in str(wrong.value) and agent.call("status")["result"]["link"]["state"] != "down"
    said = console.run("offline on").ask.then(SUPERVISOR_PASSWORD).text
    assert "Switched offline" in said, said
    status = console.run("status").text
    assert "switched offline by the supervisor" in status, status
    assert "Back online" in console.run("offline off").ask.then(SUPERVISOR_PASSWORD).text
    with pytest.raises(UsageError) as usage:
        console.run("offline sideways")
    assert "usage: offline on|off" in str(usage.value)
    assert switch_events(agent) == [("supervisor", "supervisor", 1), ("supervisor", "supervisor", 0)]


def test_switching_offline_is_refused_in_one_line_when_store_and_forward_is_off(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port)
    try:
        refused = agent.cli("offline", "on", password=True)
        assert refused.returncode == 1, refused
        assert refused.stderr.strip().count("\n") == 0 and "store-and-forward is off ([offline] enabled = false)" \
            in refused.stderr, refused.stderr
        assert agent.call("status")["result"]["link"].get("state") != "down"
        assert agent.cli("offline", "sideways", password=True).returncode == 2
    finally:
        agent.stop()


def test_after_a_refused_connect_the_next_sale_tries_one_connect_and_goes_online(tmp_path, sim_host, pcscd):
    """The line is back before the background sender's next try (60 s away): the sale itself finds it."""
    reader = CardReader(READER, card_timeout=10)
    assert reader.wait_for_removal(10)
    agent = start_agent(tmp_path, sim_host.port, extra=SETTINGS.replace("retry_seconds = 2", "retry_seconds = 60")
                        + f'\n[card_reader]\nreader = "{READER}"\ncard_timeout = 10\n')
    try:
        assert agent.call("signon")["ok"]
        sim_host.fault(OUTAGE)
        started = time.monotonic()
        stored_offline(chip_sale(agent, 1200))  # the connect is refused at once: stored
        assert time.monotonic() - started < 8
        link = agent.call("status")["result"]["link"]
        assert link["state"] == "down" and link["down_reason"].startswith("cannot connect"), link
        stored_offline(chip_sale(agent, 1300))  # still refused: the one connect failed at once, stored again
        sim_host.control(op="clear")
        online = chip_sale(agent, 1400)
        assert online["outcome"]["status"] == "approved" and not online["outcome"]["details"].get("offline"), online
        assert "the acquirer accepts connections again: this sale goes online" in agent.log_text
        # the stored ones went first (before any new online message), each booked once
        assert host_codes(sim_host, "debit") == ["00"] * 3
        assert agent.call("status")["result"]["offline"]["stored"] == 0
    finally:
        agent.stop()
        assert reader.wait_for_removal(10)


def test_after_unanswered_requests_a_sale_is_stored_at_once_until_the_last_is_retry_seconds_old(offline_terminal,
                                                                                                  sim_host):
    agent = offline_terminal
    assert agent.call("signon")["ok"]
    sim_host.fault("drop_response")  # the bank takes the requests and never answers
    lost = chip_sale(agent, 700)
    assert lost["outcome"]["status"] != "approved", lost
    assert "no answer" in agent.call("status")["result"]["link"]["down_reason"]
    started = time.monotonic()
    stored_offline(chip_sale(agent, 800))  # the last unanswered request is fresh: stored, the host not asked
    assert time.monotonic() - started < 8
    # the supervisor's switch holds the background sender: no request goes unanswered while it is on
    assert agent.cli("offline", "on", password=True).returncode == 0
    sim_host.control(op="clear")
    time.sleep(3)  # the last unanswered request is now older than retry_seconds (2)
    assert agent.cli("offline", "off", password=True).returncode == 0
    online = chip_sale(agent, 900)  # one request let through to the bank: answered, online again
    assert online["outcome"]["status"] == "approved" and not online["outcome"]["details"].get("offline"), online
    assert "this sale tries the bank" in agent.log_text or "the bank answered" in agent.log_text
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0
                    and agent.call("status")["result"]["reversals"]["pending"] == 0), agent.call("status")
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 1700  # the lost sale undone, 8.00 + 9.00 booked


def test_what_a_sale_tries_while_the_link_is_down_by_cause_and_age():
    now = [1000.0]
    health = LinkHealth(after_unanswered=2, retry_seconds=60, clock=lambda: now[0])
    assert health.next_try() is None  # up: nothing to try first
    health.cannot_connect("refused")
    assert health.next_try() == "connect"
    health.connected()
    assert not health.down
    health.no_answer("timed out")
    health.no_answer("timed out")
    assert health.down and health.next_try() is None  # a black hole: stored at once
    now[0] += 59.9
    assert health.next_try() is None
    now[0] += 0.1
    assert health.next_try() == "request"
    health.let_one_through()
    assert not health.down
    health.no_answer("timed out")  # that one went unanswered too: down again at once
    assert health.down and health.next_try() is None
    health.switch({"operator": "supervisor", "role": "supervisor", "since": now[0], "reason": "switched"})
    assert health.down_reason == "switched" and health.next_try() is None
    health.answered()  # an answer never ends the supervisor's switch
    assert health.down_reason == "switched"
    health.switch(None)
    assert not health.down


@pytest.mark.parametrize("word", ["on", "off"])
def test_the_switch_is_one_registry_row_reached_by_the_cli_the_console_and_the_keypad(word):
    from agent import registry
    from agent.daemon.cliforms import usage_of

    row = registry.get("offline_switch")
    assert row.role == "supervisor" and not row.money and row.console and row.keypad
    assert usage_of(row) == "posagent offline on|off"
    assert registry.role_for("offline_switch", {"switch": word}) == "supervisor"
