"""Selling while the bank cannot be reached (store-and-forward, `[offline] enabled`): chip sales within the
merchant's limits approved with the card (TAC/IAC-default, second GENERATE AC with Y3) and stored, forwarded
as advices exactly once when the link is back — by themselves, without a new sale —, nothing lost to a
SIGKILL, and a forwarded sale the issuer declines listed for the merchant.

End to end: virtual card → vpcd → pcscd → the daemon → real TCP → `posim host` with an outage fault, each
checked on the host's ledger.  The limits at their edges, fast, on a real journal file."""

from __future__ import annotations

import time

import pytest

from agent import config
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.drivers.pcsc import CardReader
from agent.engine.requests import OfflineLimits
from agent.journal import Journal
from agent.journal.errors import OfflineLimitReached
from simulator.card import VirtualCard
from simulator.testcards import load_cards
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_daemon_emv_terminal import host_codes, sent_icc

READER = "Virtual PCD 00 01"  # slot 1: the card-reader tests use slot 0
PORT = 35964
CARDS = load_cards()
KEY = bytes(range(32))
#: [emv] floor_limit high so the TVR is clean (1000.00); then the limits of store-and-forward
SETTINGS = """floor_limit = 100000
[offline]
enabled = true
max_amount = "30.00"
max_total = "100.00"
max_count = 4
retry_seconds = 2
after_unanswered = 2
"""
OUTAGE = "outage:seconds=600"


# -- the limits, at their edges, on a real journal ------------------------------------------------------

LIMITS = OfflineLimits(max_amount=3000, max_total=10000, max_count=4, max_age_seconds=24 * 3600)


def store(journal: Journal, amount: int, limits: OfflineLimits = LIMITS):
    return journal.begin("sale", amount=amount, currency="156", pan="6226090000000048", entry_mode="052",
                         operator="cashier", role="cashier", request=lambda t, b: {"mti": "0220", "fields": {}},
                         advice=True, offline_limits=limits)


def test_every_limit_at_its_edge_the_last_that_fits_and_the_first_that_does_not(tmp_path):
    clock = [1.0e9]
    journal = Journal.open(tmp_path / "j.db", fingerprint_key=KEY, clock=lambda: clock[0])
    try:
        assert journal.offline_refusal(3001, LIMITS) == "max_amount"
        store(journal, 3000)  # the largest sale that fits
        store(journal, 3000)
        store(journal, 3000)
        assert journal.offline_refusal(1001, LIMITS) == "max_total"  # 100.01 in all
        with pytest.raises(OfflineLimitReached) as refused:  # the commit checks again
            store(journal, 1001)
        assert refused.value.reason == "max_total"
        store(journal, 1000)  # exactly 100.00 in all, the 4th: both fit
        assert journal.offline_stored()["count"] == 4 and journal.offline_stored()["amount"] == 10000
        roomy = OfflineLimits(max_amount=3000, max_total=99999, max_count=4, max_age_seconds=24 * 3600)
        with pytest.raises(OfflineLimitReached) as refused:
            store(journal, 1, roomy)  # the 5th
        assert refused.value.reason == "max_count"
        more = OfflineLimits(max_amount=3000, max_total=99999, max_count=10, max_age_seconds=24 * 3600)
        clock[0] += 24 * 3600 - 1  # the oldest is one second short of the age limit: still fits
        assert journal.offline_refusal(1, more) is None
        clock[0] += 1
        assert journal.offline_refusal(1, more) == "max_age"
    finally:
        journal.close()


def test_the_same_card_and_amount_stored_twice_offline_is_a_suspected_duplicate(tmp_path):
    """A stored sale charges the card once it is forwarded: it counts for the duplicate rule like an approved
    one (the guard asks, `duplicates` lists the pair); another card or amount does not."""
    clock = [1.0e9]
    journal = Journal.open(tmp_path / "j.db", fingerprint_key=KEY, clock=lambda: clock[0])
    try:
        first = store(journal, 2000)
        clock[0] += 30
        fingerprint = journal.fingerprint("6226090000000048")
        assert [t.id for t in journal.duplicates_of(fingerprint, 2000, window_seconds=120)] == [first.id]
        assert journal.duplicates_of(fingerprint, 2001, window_seconds=120) == []
        second = store(journal, 2000)
        groups = journal.suspected_duplicates(window_seconds=120)
        assert [[t.id for t in g] for g in groups] == [[first.id, second.id]]
        assert journal.duplicates_of(journal.fingerprint("6226090000000071"), 2000, window_seconds=120) == []
        clock[0] += 121  # out of the window: no longer suspected
        assert journal.duplicates_of(fingerprint, 2000, window_seconds=120) == []
    finally:
        journal.close()


# -- end to end -----------------------------------------------------------------------------------------

@pytest.fixture
def offline_terminal(tmp_path, sim_host, pcscd):
    reader = CardReader(READER, card_timeout=10)
    assert reader.wait_for_removal(10), "slot 1 still holds a card"
    agent = start_agent(tmp_path, sim_host.port,
                        extra=f'{SETTINGS}\n[card_reader]\nreader = "{READER}"\ncard_timeout = 10\n')
    yield agent
    agent.stop()
    assert reader.wait_for_removal(10)


def chip_sale(agent, amount: int, card: str = "debit", *, confirm_duplicate: bool = True) -> dict:
    virtual = VirtualCard(CARDS[card], PORT).start()
    try:
        return agent.call("sale", {"amount": amount, "confirm_duplicate": confirm_duplicate})
    finally:
        virtual.remove()
        assert CardReader(READER, card_timeout=10).wait_for_removal(10)  # the next card is a new insertion


def go_offline(agent, sim_host) -> None:
    """Sign on while the bank answers, then cut the line."""
    assert agent.call("signon")["ok"]
    sim_host.fault(OUTAGE)


def stored_offline(reply: dict) -> dict:
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    details = reply["outcome"]["details"]
    assert details["offline"] and details["arc"] == "Y3" and reply["outcome"]["txn"]["state"] == "advice_pending"
    return reply["outcome"]["txn"]


def refused_for(reply: dict) -> str:
    assert reply["ok"] and reply["outcome"]["status"] == "declined", reply
    return reply["outcome"]["details"]["refused"]


def wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_offline_sales_within_the_limits_are_stored_and_forwarded_once_by_themselves(offline_terminal, sim_host):
    agent = offline_terminal
    go_offline(agent, sim_host)
    first = stored_offline(chip_sale(agent, 3000))  # the per-sale limit: the last that fits
    assert refused_for(agent.call("sale", {"amount": 3001, "confirm_duplicate": True})) == "max_amount"
    icc, fields = sent_icc(agent, first["id"])  # the stored advice: the second GENERATE AC's TC, with Y3
    assert icc["9F27"] == "40" and icc["8A"] == b"Y3".hex().upper() and len(icc["9F26"]) == 16, icc
    assert "35" not in fields and "*" in fields["2"]
    stored_offline(chip_sale(agent, 3000))
    stored_offline(chip_sale(agent, 3000))
    assert refused_for(agent.call("sale", {"amount": 1001, "confirm_duplicate": True})) == "max_total"
    stored_offline(chip_sale(agent, 1000))  # 100.00 in all, the 4th: the last that fits both
    assert refused_for(agent.call("sale", {"amount": 1, "confirm_duplicate": True})) == "max_count"
    assert "debit" not in sim_host.ledger()["cards"]

    status = agent.call("status")["result"]
    assert status["link"]["state"] == "down" and status["offline"]["stored"] == 4, status
    assert status["offline"]["amount"] == 10000
    shown = agent.cli("status").stdout
    assert "down" in shown and "offline   4 stored, 100.00" in shown, shown

    # what needs the bank now is refused, and nothing is queued for it
    paycode = agent.call("wallet_sale", {"amount": 500, "code": "281234567890123456"})
    assert not paycode["ok"] and "payment codes need the network" in paycode["error"]["message"], paycode
    for op, args in (("void", {"trace": first["trace"]}), ("refund", {"trace": first["trace"], "amount": 100}),
                     ("settle", {"confirm": True})):
        reply = agent.call(op, args, password=SUPERVISOR_PASSWORD)
        assert not reply["ok"] and "wait for the link" in reply["error"]["message"], (op, reply)
    status = agent.call("status")["result"]
    assert status["reversals"]["pending"] == 0 and status["advices"]["pending"] == 4

    sim_host.control(op="clear")  # the line is back: the stored sales go out with no new sale
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0), agent.call("status")
    assert host_codes(sim_host, "debit") == ["00"] * 4  # each booked once
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 10000
    found = agent.call("lookup", {"kind": "sale"})["result"]["transactions"]
    assert sorted(t["amount"] for t in found if t["state"] == "approved") == [1000, 3000, 3000, 3000]
    assert agent.call("status")["result"]["link"]["state"] != "down"


def test_a_card_whose_tvr_hits_the_default_codes_is_declined_offline_with_z3(offline_terminal, sim_host):
    agent = offline_terminal
    online = chip_sale(agent, 1500, card="credit")
    assert online["outcome"]["status"] == "approved" and not online["outcome"]["details"].get("offline"), online
    go_offline(agent, sim_host)
    again = chip_sale(agent, 1500, card="credit", confirm_duplicate=False)  # offline too, the cashier confirms first
    assert again["outcome"]["status"] == "needs_confirmation", again
    reply = chip_sale(agent, 1500, card="expired")  # "expired application" is in the card's IAC-default
    assert reply["ok"] and reply["outcome"]["status"] == "declined", reply
    assert reply["outcome"]["details"]["arc"] == "Z3"
    assert agent.call("status")["result"]["offline"]["stored"] == 0
    first = stored_offline(chip_sale(agent, 1800))  # stored twice while offline: a suspected duplicate too
    asked = chip_sale(agent, 1800, confirm_duplicate=False)
    assert asked["outcome"]["status"] == "needs_confirmation" and asked["outcome"]["txn"]["id"] == first["id"], asked
    second = stored_offline(chip_sale(agent, 1800))  # the cashier confirmed
    groups = agent.call("duplicates")["result"]["groups"]
    assert [[t["id"] for t in g] for g in groups] == [[first["id"], second["id"]]], groups


def test_a_sigkill_loses_no_stored_sale_and_a_forwarded_one_the_issuer_declines_is_listed(offline_terminal,
                                                                                           sim_host):
    agent = offline_terminal
    go_offline(agent, sim_host)
    stored_offline(chip_sale(agent, 2500))
    refused = stored_offline(chip_sale(agent, 1200, card="declined"))  # the card approves; its issuer will not
    agent.kill()  # the power goes while both are owed
    sim_host.control(op="clear")
    agent.start()
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0), agent.call("status")
    assert host_codes(sim_host, "debit") == ["00"] and host_codes(sim_host, "declined") == ["05"]
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 2500
    status = agent.call("status")["result"]
    assert status["offline"]["declined"] == 1, status
    listed = agent.json("offline", "declined")["result"]["declined"]
    assert [(t["trace"], t["amount"], t["pan_masked"]) for t in listed] == [
        (refused["trace"], 1200, "622609******0071")]
    shown = agent.cli("offline", "declined").stdout
    assert f"trace {refused['trace']:06d}" in shown and "622609******0071" in shown and "12.00" in shown, shown
    assert "new" in shown and "merchant bears it" in shown, shown
    assert "1 declined by the bank after forwarding (1 not yet seen" in agent.cli("status").stdout
    assert status["offline"]["unseen"] == 1

    # the technician's console: the status line, the list, and the supervisor acknowledging it
    console = CommandTable(ConsoleContext(client=agent, cfg=config.load(agent.config)))
    said = console.run("status").text
    assert "offline   0 stored, 0.00, 1 declined by the bank after forwarding (1 not yet seen" in said, said
    listed = console.run("offline declined").text
    assert f"{refused['trace']:06d}" in listed and "NEW" in listed and "another payment" in listed, listed
    asked = console.run("offline declined ack")
    assert asked.ask is not None and asked.ask.secret
    refused_ack = agent.call("offline_declined", {"acknowledge": True})  # no password: the supervisor's alone
    assert not refused_ack["ok"], refused_ack
    done = asked.ask.then(SUPERVISOR_PASSWORD).text
    assert "1 marked seen" in done and "NEW" not in done, done
    assert agent.call("status")["result"]["offline"]["unseen"] == 0
    assert "new" not in agent.cli("offline", "declined").stdout
    again = agent.cli("offline", "declined", "--acknowledge", password=True)
    assert again.returncode == 0 and "marked seen" not in again.stdout, again  # nothing new to acknowledge


# -- when the link counts as down; what is refused; off by default ---------------------------------------

def test_the_link_is_down_at_once_when_it_cannot_connect_or_after_n_unanswered_and_up_on_an_answer():
    from agent.daemon.linkstate import LinkHealth

    health = LinkHealth(after_unanswered=3)
    health.no_answer("timed out")
    health.no_answer("timed out")
    assert not health.down  # two unanswered: not yet
    health.no_answer("timed out")
    assert health.down and "no answer to the last 3 requests" in health.down_reason
    health.answered()
    assert not health.down and health.unanswered == 0
    health.cannot_connect("the acquirer at 127.0.0.1:1 refused the connection")
    assert health.down and health.down_reason.startswith("cannot connect")


def test_what_needs_the_bank_is_refused_offline_with_its_reason_and_only_when_store_and_forward_is_on():
    from agent import config, registry
    from agent.engine.requests import Profile
    from agent.engine.card.store_forward import refusal

    off = Profile.from_config(config.from_mapping({}))
    assert off.offline is None  # the default: every sale needs the bank, nothing changes
    on = Profile.from_config(config.from_mapping({"offline": {"enabled": True}}))
    assert on.offline == OfflineLimits(max_amount=25000, max_total=200000, max_count=50, max_age_seconds=24 * 3600,
                                      credit_bins=("625094",))  # [settlement_fees] credit_bins tells a credit card
    why = "cannot connect"
    assert "payment codes need the network — ask for a card or cash" in str(
        refusal(on, "wallet_sale", registry.get("wallet_sale").offline, why))
    for op in ("void", "refund", "preauth", "preauth_complete", "settle"):
        assert "wait for the link" in str(refusal(on, op, registry.get(op).offline, why)), op
        assert refusal(off, op, registry.get(op).offline, why) is None
    assert refusal(on, "sale", registry.get("sale").offline, why) is None


def test_bad_offline_settings_are_refused_in_one_line():
    from agent import config
    from agent.errors import PosagentError

    for table in ({"max_count": 0}, {"max_age_hours": 73}, {"entry_modes": "chip,magnetic"}, {"max_amount": "abc"},
                  {"enabled": "yes"}):
        with pytest.raises(PosagentError) as refused:
            config.from_mapping({"offline": table})
        assert "offline." in str(refused.value) and "\n" not in str(refused.value), table


def test_the_outage_fault_is_one_rule_with_its_seconds():
    from simulator.host.faults import FaultPlan, parse_rule

    rule = parse_rule("outage:seconds=12")
    assert rule.kind == "outage" and rule.seconds == 12 and rule.to_text() == "outage:seconds=12"
    plan = FaultPlan([rule])
    assert plan.refusing() == rule and plan.pick("0200") is None  # it acts on the line, not on messages


def test_a_host_that_stops_answering_counts_as_down_after_n_requests_and_is_settled_up_after(offline_terminal,
                                                                                             sim_host):
    agent = offline_terminal
    assert agent.call("signon")["ok"]
    sim_host.fault("drop_response")  # the bank takes the requests and never answers
    lost = chip_sale(agent, 700)  # no answer, nor to its reversal: two in a row, the link is down
    assert lost["ok"] and lost["outcome"]["status"] != "approved", lost
    status = agent.call("status")["result"]
    assert status["link"]["state"] == "down" and "no answer" in status["link"]["down_reason"], status["link"]
    stored_offline(chip_sale(agent, 900))  # the next sale is stored, not sent
    sim_host.control(op="clear")
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0
                    and agent.call("status")["result"]["reversals"]["pending"] == 0), agent.call("status")
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 900  # the lost sale undone, the stored one booked


def test_a_pre_auth_completion_as_an_advice_is_queued_offline_and_a_completion_online_is_refused(offline_terminal,
                                                                                                 sim_host):
    """The hotel's check-out while the line is cut: `preauth complete --advice` is store-and-forward by design
    (journaled, sent when the bank answers), so it goes ahead; the online completion waits for the link."""
    agent = offline_terminal
    held = agent.json("preauth", "300.00", "--card", "credit", password=True)
    assert held["ok"] and held["outcome"]["status"] == "approved", held
    trace = str(held["outcome"]["txn"]["trace"])
    go_offline(agent, sim_host)
    online = agent.json("preauth", "complete", trace, "310.00", password=True)  # finds the line cut
    assert not online["ok"] and "nothing was sent" in online["error"]["message"], online
    online = agent.json("preauth", "complete", trace, "310.00", password=True)  # the link counts as down now
    assert not online["ok"] and "wait for the link" in online["error"]["message"], online
    queued = agent.json("preauth", "complete", trace, "310.00", "--advice", password=True)
    assert queued["ok"] and queued["outcome"]["status"] == "done", queued
    assert queued["outcome"]["details"]["queued"] and queued["outcome"]["txn"]["state"] == "advice_pending", queued
    assert [r for r in host_codes(sim_host, "credit")] == ["00"]  # only the hold so far
    sim_host.control(op="clear")  # the line is back: the background sender delivers it once
    assert wait_for(lambda: agent.call("status")["result"]["advices"]["pending"] == 0), agent.call("status")
    assert host_codes(sim_host, "credit") == ["00", "00"]
    assert sim_host.ledger()["cards"]["credit"]["net_charged"] == 31000
    completion = agent.call("lookup", {"trace": queued["outcome"]["txn"]["trace"]})["result"]["transactions"][0]
    assert completion["state"] == "approved", completion
