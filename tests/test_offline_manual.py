"""A sale stored offline whose sealed card does not open (the sealing key replaced, the sealed copy damaged):
its advice can never be built, so it needs manual handling — it no longer holds back other messages, is not
counted as stored money nor in the settlement totals, is listed with what the merchant must do, and a
supervisor marks it handled (journaled, once).

The journal on a real SQLite file; then end to end: the daemon (`posagent run`) → real TCP → `posim host` with
an outage, swiped sales stored without a card reader, the key file replaced, SIGKILL and restart."""

from __future__ import annotations

import secrets

import pytest

from agent import config
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.drivers.cardseal import CardSealer, binding_of
from agent.engine.requests import offline_sale_message
from agent.engine.requests import CardData, Profile
from agent.iso8583.dump import message_to_json
from agent.journal import Journal
from agent.journal.errors import IllegalRecordTransition, JournalError, NotFound
from agent.journal.states import TRANSACTION, TxnState
from simulator.testcards import load_cards
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_daemon_emv_terminal import host_codes
from tests.test_offline_selling import wait_for
from tests.test_offline_swipe import SETTINGS, cut_line, stored, swipe

CARDS = load_cards()
PROFILE = Profile(terminal_id="10000001", merchant_id="123456789012345")
KEY = bytes(range(32))
PAN, EXPIRY = "6226090000000162", "3012"


def store_sale(journal: Journal, amount: int, key: bytes = KEY):
    """A swiped sale stored offline, its card sealed under `key`."""
    card = CardData(pan=PAN, expiry=EXPIRY, entry_mode="022", track2=f"{PAN}={EXPIRY}1011")
    sealed = CardSealer(key).seal(PAN, EXPIRY, b"", binding=binding_of(amount), track2=card.track2)
    return journal.begin("sale", amount=amount, currency="156", pan=PAN, entry_mode="022", operator="01",
                         role="cashier", advice=True,
                         request=lambda trace, batch: {**message_to_json(offline_sale_message(
                             PROFILE, trace=trace, batch=batch, amount=amount, card=card), masked=True),
                             "sealed_card": sealed})


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path / "journal.db", fingerprint_key=KEY)
    yield j
    j.close()


# -- the state machine and the journal ---------------------------------------------------------------------

def test_the_machine_sends_a_stored_sale_to_manual_handling_and_only_a_person_out_of_it():
    assert TRANSACTION.step(TxnState.ADVICE_PENDING, "give_up") == TxnState.ADVICE_NEEDS_MANUAL
    assert TRANSACTION.events_from(TxnState.ADVICE_NEEDS_MANUAL) == ("resolve",)
    assert TRANSACTION.step(TxnState.ADVICE_NEEDS_MANUAL, "resolve") == TxnState.RESOLVED_MANUALLY
    for state in (TxnState.APPROVED, TxnState.SENDING, TxnState.DECLINED):
        assert not TRANSACTION.allows(state, "give_up")


def test_a_sale_needing_manual_handling_is_out_of_the_queue_the_limits_and_the_totals(journal):
    broken, owed = store_sale(journal, 4000), store_sale(journal, 1500)
    batch = journal.open_batch().number
    assert journal.offline_stored()["count"] == 2
    journal.advice_needs_manual(broken.id, "the sealed card does not open with this terminal's key")

    assert [t.id for t in journal.pending_advices()] == [owed.id]  # the other one is still owed
    assert journal.offline_stored() == {"count": 1, "amount": 1500, "oldest": owed.created_at}
    listed = journal.advices_needing_manual_handling()
    assert [(t["id"], t["state"], t["amount"]) for t in listed] == [(broken.id, "advice_needs_manual", 4000)]
    assert listed[0]["reason"] == "the sealed card does not open with this terminal's key" and listed[0]["since"]
    # the bank was never told: not in the totals it settles, not uploaded, and settlement is not blocked by it
    journal.complete(owed.id, approved=True, response_code="00", rrn="000000000001", auth_code="123456",
                     response={"mti": "0230", "39": "00"})
    assert journal.batch_totals(batch).debit_count == 1 and journal.batch_totals(batch).debit_amount == 1500
    assert journal.begin_settlement(batch).state == "settling"
    assert [t.id for t in journal.upload_pending(batch, ic_only=False)] == [owed.id]
    assert journal.verify().ok
    event = journal.core.conn.execute("SELECT kind, operator, role, details FROM events WHERE txn_id = ? "
                                       "AND kind = 'advice.needs_manual'", (broken.id,)).fetchone()
    assert event["role"] == "system" and "does not open" in event["details"]


def test_marking_it_handled_is_journaled_once_and_every_wrong_target_is_one_line(journal):
    broken = store_sale(journal, 4000)
    with pytest.raises(JournalError, match=r"transaction \d+ is a sale in state advice_pending, not a stored sale "
                                           r"needing manual handling"):
        journal.advice_handled(broken.id, note="too early", operator="supervisor")
    journal.advice_needs_manual(broken.id, "the sealed card does not open with this terminal's key")
    with pytest.raises(JournalError, match="needs a note"):
        journal.advice_handled(broken.id, note="  ", operator="supervisor")

    done = journal.advice_handled(broken.id, note="acquirer booked it by phone, ref 4711", operator="supervisor")
    assert done.state == TxnState.RESOLVED_MANUALLY and journal.advices_needing_manual_handling() == []
    assert "sealed_card" not in journal.advice_record(broken.id)  # never to be forwarded: nothing of the card kept
    event = journal.core.conn.execute("SELECT operator, role, at, details FROM events WHERE txn_id = ? AND "
                                       "kind = 'advice.handled'", (broken.id,)).fetchone()
    assert event["operator"] == "supervisor" and event["at"] and "ref 4711" in event["details"]

    with pytest.raises(JournalError) as twice:
        journal.advice_handled(broken.id, note="again", operator="supervisor")
    assert str(twice.value) == (f"transaction {broken.id} is resolved by hand already, not a stored sale needing "
                                "manual handling (see posagent offline manual)")
    with pytest.raises(NotFound, match="no transaction 999 in the journal"):
        journal.advice_handled(999, note="x", operator="supervisor")
    with pytest.raises(IllegalRecordTransition):  # only a stored sale still owed can be given up
        journal.advice_needs_manual(broken.id, "again")
    assert journal.verify().ok


def test_retention_keeps_its_batch_until_it_is_handled(tmp_path):
    clock = [1_800_000_000.0]
    journal = Journal.open(tmp_path / "r.db", fingerprint_key=KEY, clock=lambda: clock[0])
    try:
        broken = store_sale(journal, 4000)
        journal.advice_needs_manual(broken.id, "the sealed card does not open with this terminal's key")
        journal.begin_settlement(1)
        journal.finish_settlement(1)
        clock[0] += 100 * 86400
        assert journal.prune(retention_days=30) == 0  # its evidence stays while nobody has handled it
        journal.advice_handled(broken.id, note="customer paid cash", operator="supervisor")
        assert journal.prune(retention_days=30) == 1
        assert journal.verify().ok
    finally:
        journal.close()


def test_the_back_office_folds_it_out_of_the_stored_sales_and_then_resolved_by_hand(journal):
    import json

    from posoffice.offline import is_stored
    from posoffice.report import transactions

    def as_office() -> dict:  # the journal's events as the shipper sends them: (terminal, seq, txn_id, kind, at, details)
        rows = [("40000001", r["id"], r["txn_id"], r["kind"], r["at"], json.loads(r["details"]))
                for r in journal.core.conn.execute("SELECT * FROM events ORDER BY id")]
        return {t.txn_id: (t.state, is_stored(t)) for t in transactions(rows)}

    broken, owed = store_sale(journal, 4000), store_sale(journal, 1500)
    journal.advice_needs_manual(broken.id, "the sealed card does not open with this terminal's key")
    assert as_office() == {broken.id: ("advice_needs_manual", False), owed.id: ("advice_pending", True)}
    journal.advice_handled(broken.id, note="customer paid cash", operator="supervisor")
    assert as_office()[broken.id] == ("resolved_manually", False)


# -- end to end: the daemon, the simulator host, the key file replaced -----------------------------------

@pytest.fixture
def terminal(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, extra=SETTINGS)
    yield agent
    agent.stop()


def offline_section(agent) -> dict:
    return agent.call("status")["result"]["offline"]


@pytest.mark.parametrize("console_handles", [False, True], ids=["cli", "console"])
def test_a_stored_sale_whose_key_was_replaced_needs_manual_handling_and_holds_nothing_back(terminal, sim_host,
                                                                                           console_handles):
    agent = terminal
    cut_line(agent, sim_host)
    broken = stored(swipe(agent, 4000), "022")  # sealed under the key the terminal has now
    agent.kill()
    (agent.directory / "fingerprint.key").write_bytes(secrets.token_bytes(32))  # the key file replaced
    agent.start()
    assert wait_for(lambda: not agent.call("echo")["ok"] and agent.call("status")["result"]["link"]["state"] == "down")
    later = stored(swipe(agent, 1500, card="credit"), "022")  # sealed under the new key: it can be forwarded
    sim_host.control(op="clear")  # the line is back

    # the one that cannot be built is set aside; the other is forwarded, and the next sale goes online
    assert wait_for(lambda: offline_section(agent)["stored"] == 0, 40), agent.call("status")
    online = swipe(agent, 1000)
    assert online["ok"] and online["outcome"]["status"] == "approved", online
    assert online["outcome"]["txn"]["state"] == "approved" and not online["outcome"]["details"].get("offline")
    assert host_codes(sim_host, "credit") == ["00"] and host_codes(sim_host, "debit") == ["00"]  # never the broken one
    section = offline_section(agent)
    assert (section["stored"], section["needs_manual"], section["needs_manual_amount"]) == (0, 1, 4000), section
    assert "1 stored sale(s) for 40.00 never reached the bank" in agent.cli("status").stdout

    listing = agent.cli("offline", "manual")
    assert listing.returncode == 0 and f"trace {broken['trace']:06d}" in listing.stdout, listing
    assert "NEEDS MANUAL" in listing.stdout and "does not open" in listing.stdout
    assert "contact the acquirer" in listing.stdout and "another payment" in listing.stdout

    agent.kill()  # a power cut keeps it as it is
    agent.start()
    kept = agent.json("offline", "manual")["result"]["needs_manual"]
    assert [(t["id"], t["amount"], t["state"]) for t in kept] == [(broken["id"], 4000, "advice_needs_manual")], kept

    # settlement is not held back by it, and says it is in neither side's totals (nor uploaded)
    asked = agent.call("settle", {}, password=SUPERVISOR_PASSWORD)
    assert asked["outcome"]["status"] == "needs_confirmation", asked
    assert "1 sale(s) stored offline for 40.00 that the bank was never told of" in asked["outcome"]["message"]
    settled = agent.call("settle", {"confirm": True}, password=SUPERVISOR_PASSWORD)
    assert settled["ok"] and settled["outcome"]["status"] == "done", settled
    totals = settled["outcome"]["details"]["totals"]
    assert (totals["debit_count"], totals["debit_amount"]) == (2, 2500), totals  # the forwarded one and the online one
    assert settled["outcome"]["details"]["result"] == "balanced"  # the bank's totals agree: it never had the sale
    assert "are not in these totals" in settled["outcome"]["message"]
    assert [t["id"] for t in agent.json("offline", "manual")["result"]["needs_manual"]] == [broken["id"]]

    # only a supervisor marks it handled, once; anything else is one line
    no_password = agent.cli("offline", "manual", "--handled", str(broken["id"]), "--note", "booked by phone")
    assert no_password.returncode != 0 and len(no_password.stderr.strip().splitlines()) == 1, no_password
    if console_handles:  # the technician's console: the status line, the list, the supervisor's password hidden
        console = CommandTable(ConsoleContext(client=agent, cfg=config.load(agent.config)))
        said = console.run("status").text
        assert "1 stored sale(s) for 40.00 never reached the bank" in said, said
        listed = console.run("offline manual").text
        assert f"{broken['trace']:06d}" in listed and "NEEDS MANUAL" in listed and "another payment" in listed, listed
        asked = console.run(f"offline handled {broken['id']} acquirer booked it, ref 4711")
        assert asked.ask is not None and asked.ask.secret
        assert "marked handled" in asked.ask.then(SUPERVISOR_PASSWORD).text
    else:
        done = agent.cli("offline", "manual", "--handled", str(broken["id"]), "--note", "acquirer booked it, ref 4711",
                         password=True)
        assert done.returncode == 0 and "marked handled" in done.stdout, done
    for target, says in ((broken["id"], "resolved by hand already"), (online["outcome"]["txn"]["id"], "state approved"),
                         (later["id"], "state approved"), (9999, "no transaction 9999")):
        again = agent.cli("offline", "manual", "--handled", str(target), "--note", "again", password=True)
        lines = again.stderr.strip().splitlines()
        assert again.returncode != 0 and len(lines) == 1 and says in lines[0], again
    assert "no sale stored offline needs manual handling" in agent.cli("offline", "manual").stdout
    assert offline_section(agent)["needs_manual"] == 0
    shown = agent.json("journal", "show", str(broken["id"]))
    assert shown["transaction"]["state"] == "resolved_manually"
    assert agent.cli("journal", "verify").returncode == 0
