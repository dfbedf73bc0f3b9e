"""The real daemon against a malicious acquirer on loopback (a proxy in front of the simulator that turns
hostile on cue): a stalled half frame must not leave the link on a dead connection, and a flood of
unsolicited answers must neither fill the log nor keep the connection."""

from __future__ import annotations

import pytest

from agent.drivers.hostlink import MAX_UNMATCHED
from tests.agentproc import start_agent
from tests.maliciousproxy import MaliciousProxy

pytestmark = pytest.mark.realstack


@pytest.fixture
def proxy(sim_host):
    hostile = MaliciousProxy(sim_host.port)
    yield hostile
    hostile.close()


@pytest.fixture
def agent(tmp_path, proxy):
    running = start_agent(tmp_path, proxy.port, response_timeout=1.0)
    yield running
    running.stop()


def test_a_host_that_stalls_mid_frame_is_dropped_and_the_reversal_and_next_sale_go_on_a_fresh_connection(
        agent, proxy, sim_host):
    assert agent.call("sale", {"amount": 500, "card": "debit"})["outcome"]["status"] == "approved"
    proxy.mode = "stall"  # forwards the sale (money moves), then 2 length bytes of 8,000 and 101 bytes
    stalled = agent.call("sale", {"amount": 700, "card": "debit"})["outcome"]
    assert stalled["status"] in ("reversed", "in_doubt"), stalled
    queue = agent.call("reversals")["result"]
    assert queue["needs_manual"] == []
    if queue["pending"]:
        assert agent.call("reversal_retry")["result"]["status"] == "done"
        assert agent.call("reversals")["result"] == {"pending": [], "needs_manual": []}
    after = agent.call("sale", {"amount": 900, "card": "debit"})["outcome"]
    assert after["status"] == "approved", after
    assert proxy.connections >= 2  # the stalled connection was given up, not written to again
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 500 + 900  # the stalled sale reversed
    assert "dropping the acquirer connection" in agent.log_text


def test_a_flood_of_unsolicited_answers_is_logged_in_a_few_lines_and_the_peer_is_dropped(agent, proxy):
    assert agent.call("sale", {"amount": 500, "card": "debit"})["outcome"]["status"] == "approved"
    before = proxy.connections
    proxy.mode, proxy.flood_count = "flood", MAX_UNMATCHED + 1  # one past the limit: the count decides
    assert agent.call("sale", {"amount": 600, "card": "debit"})["outcome"]["status"] == "approved"
    assert proxy.hung_up.wait(30), "the daemon kept a connection that sent one unmatched answer too many"
    assert agent.call("echo")["ok"]  # the link still serves, on a fresh connection
    assert proxy.connections == before + 1
    log = agent.log_text
    unmatched_lines = [line for line in log.splitlines() if "unmatched answer" in line]
    assert 1 <= len(unmatched_lines) <= 3, unmatched_lines
    assert (f"sent {MAX_UNMATCHED + 1} answers that match no request (at most {MAX_UNMATCHED} on one "
            f"connection); connection dropped") in log
    assert agent.call("sale", {"amount": 800, "card": "debit"})["outcome"]["status"] == "approved"


def test_unmatched_answers_up_to_the_limit_keep_the_connection(agent, proxy):
    assert agent.call("sale", {"amount": 500, "card": "debit"})["outcome"]["status"] == "approved"
    before = proxy.connections
    proxy.mode, proxy.flood_count = "flood", MAX_UNMATCHED
    assert agent.call("sale", {"amount": 600, "card": "debit"})["outcome"]["status"] == "approved"
    # the echo's answer comes after the whole flood on the same connection: read past it, not dropped
    assert agent.call("echo")["ok"]
    assert proxy.connections == before and not proxy.hung_up.is_set()
    assert "connection dropped" not in agent.log_text
