"""Settlement while sales stored offline are still owed: the bank is reachable but cannot take their advices
(the host's `advices_refused` fault answers 96, not processed, and books nothing), so the settlement asks; with
the supervisor's confirmation (`confirm_stored`) they move to the next batch, the current one settles without
them, and once the bank takes them they are forwarded exactly once with the next batch's number and settled in
it — across a SIGKILL of the daemon between the move and the settlement too.

End to end with no card reader: swiped named test cards → the daemon → real TCP → `posim host` (its ledger read
back), the journal file read back."""

from __future__ import annotations

import json
import sqlite3

import pytest

from agent.daemon.exits import EXIT_CONFIRM
from simulator.host.ledger import Ledger
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_offline_selling import wait_for
from tests.test_offline_swipe import SETTINGS, sent_mtis, stored, swipe


# -- the journal, fast -------------------------------------------------------------------------------------

def _stored(journal, amount: int):
    return journal.begin("sale", amount=amount, currency="156", pan="6226090000000048", entry_mode="022",
                         operator="01", role="cashier", advice=True,
                         request=lambda trace, batch: {"mti": "0220", "fields": {"60": f"30{batch:06d}000"}})


def test_the_move_opens_the_next_batch_in_the_freezing_commit_and_never_moves_an_advice_the_bank_may_have(tmp_path):
    from agent.journal import Journal
    from agent.journal.errors import JournalError

    journal = Journal.open(tmp_path / "journal.db", fingerprint_key=bytes(range(32)))
    try:
        refused, lost = _stored(journal, 4000), _stored(journal, 2500)
        journal.advice_attempt(refused.id, {"mti": "0220"})
        journal.advice_failed(refused.id, "bank answered 96", not_booked=True)  # the bank said: not processed
        journal.advice_attempt(lost.id, {"mti": "0220"})
        journal.advice_failed(lost.id, "no answer")  # sent, no answer: the bank may have booked it in batch 1
        assert [o["maybe_booked"] for o in journal.stored_owed(1)] == [False, True]
        with pytest.raises(JournalError, match="trace 0000.. went to the bank without an answer"):
            journal.begin_settlement(1, move_stored=True, operator="02", role="supervisor")
        assert journal.open_batch().number == 1 and journal.get_batch(1).state == "open"  # nothing changed

        journal.complete(lost.id, approved=True, response_code="00", rrn="000000000009", auth_code=None,
                         response={"mti": "0230", "39": "00"})  # forwarded after all: it stays in batch 1
        frozen = journal.begin_settlement(1, move_stored=True, operator="02", role="supervisor")
        assert frozen.state == "settling" and frozen.totals.debit_count == 1 and frozen.totals.debit_amount == 2500
        assert journal.get(refused.id).batch == 2 and journal.get_batch(2).state == "open"
        assert journal.moved_out(1) == {"to": 2, "count": 1, "amount": 4000,
                                        "txns": [[refused.id, refused.trace, 4000]]}
        assert journal.begin_settlement(1, move_stored=True).totals == frozen.totals  # again: as it is
        assert journal.finish_settlement(1).state == "settled"
        assert journal.open_batch().number == 2 and journal.moved_out(2) is None
        batches = journal.core.conn.execute("SELECT number, state FROM batches ORDER BY id").fetchall()
        assert [tuple(b) for b in batches] == [(1, "settled"), (2, "open")]  # the move's batch, not a second one
        assert journal.verify().ok
    finally:
        journal.close()


@pytest.fixture
def terminal(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, extra=SETTINGS)
    yield agent
    agent.stop()


def host_rows(sim_host, sql: str, args: tuple = ()) -> list[dict]:
    ledger = Ledger(sim_host.db)
    try:
        return [dict(r) for r in ledger.read(sql, args)]
    finally:
        ledger.close()


def journal_rows(agent, sql: str, args: tuple = ()) -> list[tuple]:
    with sqlite3.connect(f"file:{agent.directory / 'journal.db'}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


def supervisor(agent, **args) -> dict:
    return agent.call("settle", args, password=SUPERVISOR_PASSWORD)


def two_sales_stored_the_bank_cannot_take(agent, sim_host) -> tuple[dict, dict]:
    """One online sale in batch 000001, then two swipes stored while the line is cut; the line comes back but the
    bank answers their advices 96 (not processed) — each tried at least once, nothing booked."""
    assert agent.call("signon")["ok"]
    online = agent.call("sale", {"amount": 1000, "card": "debit", "confirm_duplicate": True})
    assert online["ok"] and online["outcome"]["status"] == "approved", online
    sim_host.fault("advices_refused")
    sim_host.fault("outage:seconds=4")
    assert wait_for(lambda: not agent.call("echo")["ok"] and agent.call("status")["result"]["link"]["state"] == "down")
    first = stored(swipe(agent, 4000), "022")
    second = stored(swipe(agent, 2500, card="credit"), "022")
    # the line is back: the background sender's first advice is answered 96, so the link is up and both stay owed
    assert wait_for(lambda: len(sent_mtis(agent, first["id"])) >= 2
                    and agent.call("status")["result"]["link"]["state"] != "down", 30), agent.call("status")
    assert host_rows(sim_host, "SELECT * FROM txns WHERE mti IN ('0220', '0221')") == []
    return first, second


def assert_host_ledger_is_the_journal(agent, sim_host) -> None:
    """Every approved sale of the journal is booked once by the host, in the same batch, with the same amount."""
    host = sorted((int(r["batch"]), int(r["stan"]), r["amount"]) for r in host_rows(
        sim_host, "SELECT batch, stan, amount FROM txns WHERE kind = 'sale' AND response_code = '00'"))
    journal = sorted(journal_rows(agent, "SELECT batch, trace, amount FROM transactions WHERE kind = 'sale' AND "
                                         "state = 'approved'"))
    assert host == journal, (host, journal)


def test_stored_sales_the_bank_cannot_take_move_to_the_next_batch_with_the_supervisor_s_confirmation(
        terminal, sim_host):
    agent = terminal
    first, second = two_sales_stored_the_bank_cannot_take(agent, sim_host)

    # the cashier may look at the totals, never move stored sales: one line, nothing done
    totals = agent.call("settle", {"confirm": False})
    assert totals["ok"] and totals["outcome"]["status"] == "needs_confirmation", totals
    refused = agent.call("settle", {"confirm_stored": True})
    assert not refused["ok"] and refused["error"]["code"] == "auth", refused
    assert "supervisor" in refused["error"]["message"] and "\n" not in refused["error"]["message"], refused

    # the supervisor's settle: the stored sales cannot go, so it asks — how many, how much, what confirming does
    asked = supervisor(agent, confirm=True)
    assert asked["ok"], asked
    outcome = asked["outcome"]
    assert outcome["status"] == "needs_confirmation" and outcome["details"]["guard"] == "stored_sales", asked
    assert outcome["details"]["stored"] == {"count": 2, "amount": 6500, "traces": [first["trace"], second["trace"]]}
    assert "2 sale(s) stored offline (65.00)" in outcome["message"] and "--confirm-stored" in outcome["message"]
    assert f"the bank did not take the advice of trace {first['trace']:06d}: bank answered 96" in outcome["message"]
    assert "next batch" in outcome["message"] and "\n" not in outcome["message"], outcome["message"]
    cli = agent.cli("settle", "--yes", password=True)  # the command line: not a terminal, so it says how to go on
    assert cli.returncode == EXIT_CONFIRM and "re-run with --confirm-stored" in cli.stderr, cli
    assert agent.call("status")["result"]["batch"]["number"] == 1

    done = supervisor(agent, confirm=True, confirm_stored=True)
    outcome = done["outcome"]
    assert done["ok"] and outcome["status"] == "done", done
    assert outcome["details"]["batch"] == 1 and outcome["details"]["next_batch"] == 2
    assert outcome["details"]["moved"] == {"to": 2, "count": 2, "amount": 6500}
    assert outcome["details"]["totals"]["debit_count"] == 1 and outcome["details"]["totals"]["debit_amount"] == 1000
    assert outcome["details"]["result"] == "balanced", outcome
    assert "moved to batch 000002 and are not in these totals" in outcome["message"], outcome["message"]
    report = outcome["report"]
    assert "STORED OFFLINE, NOT IN TOTALS" in report and "MOVED TO BATCH" in report, report

    # journaled: the event that froze batch 1 names them, the chain holds, they are in batch 2
    (details,) = journal_rows(agent, "SELECT details FROM events WHERE kind = 'settlement.begin'")[0:1]
    moved = json.loads(details[0])["moved"]
    assert moved["to"] == 2 and [t[0] for t in moved["txns"]] == [first["id"], second["id"]], moved
    assert agent.cli("journal", "verify").returncode == 0
    assert journal_rows(agent, "SELECT batch, state FROM transactions WHERE id IN (?, ?)",
                        (first["id"], second["id"])) == [(2, "advice_pending")] * 2
    settled = host_rows(sim_host, "SELECT batch, balanced, terminal_totals FROM settlements")
    assert [(r["batch"], r["balanced"]) for r in settled] == [("000001", 1)], settled

    # settle twice: batch 2 asks again for its stored sales, batch 1 stays settled once
    again = supervisor(agent, confirm=True)
    assert again["outcome"]["status"] == "needs_confirmation" and again["outcome"]["details"]["batch"] == 2, again
    assert len(host_rows(sim_host, "SELECT * FROM settlements")) == 1

    # the bank takes advices again: each forwarded once, with batch 2 in field 60, booked in batch 2
    sim_host.clear_faults()
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0, 30), agent.call("status")
    for txn in (first, second):
        shown = agent.json("journal", "show", str(txn["id"]))
        last = [m for m in shown["messages"] if m["direction"] == "sent"][-1]
        assert last["body"]["fields"]["60"][2:8] == "000002", last
    booked = host_rows(sim_host, "SELECT batch, amount, response_code FROM txns WHERE mti IN ('0220', '0221')")
    assert sorted((r["batch"], r["amount"], r["response_code"]) for r in booked) == [
        ("000002", 2500, "00"), ("000002", 4000, "00")], booked
    final = supervisor(agent, confirm=True)
    outcome = final["outcome"]
    assert final["ok"] and outcome["status"] == "done" and outcome["details"]["batch"] == 2, final
    assert outcome["details"]["totals"]["debit_count"] == 2 and outcome["details"]["totals"]["debit_amount"] == 6500
    assert outcome["details"]["result"] == "balanced" and "moved" not in outcome["details"], outcome
    assert_host_ledger_is_the_journal(agent, sim_host)


def test_a_sigkill_between_the_move_and_the_settlement_keeps_every_sale_once_in_one_batch(terminal, sim_host):
    agent = terminal
    first, second = two_sales_stored_the_bank_cannot_take(agent, sim_host)
    sim_host.fault("delay:seconds=20,mti=0500,count=1")  # the settlement's answer is late: the power goes meanwhile
    settling = agent.cli_in_background("settle", "--yes", "--confirm-stored", password=True)
    try:
        assert wait_for(lambda: agent.call("status")["result"]["journal"]["settling"] == 1, 30), (
            settling.poll(), settling.poll() is not None and settling.communicate())
        agent.kill()
    finally:
        settling.kill()
        settling.communicate()
    moved = journal_rows(agent, "SELECT batch, state FROM transactions WHERE id IN (?, ?)", (first["id"], second["id"]))
    assert moved == [(2, "advice_pending")] * 2, moved  # the move and the freeze are one commit
    assert journal_rows(agent, "SELECT number, state FROM batches ORDER BY id") == [(1, "settling"), (2, "open")]

    sim_host.clear_faults()
    agent.start()  # recovery: the moved sales go first (into batch 2), then batch 1's settlement finishes
    assert wait_for(lambda: (s := agent.call("status")["result"])["journal"]["settling"] is None
                    and s["offline"]["stored"] == 0, 30), agent.call("status")
    assert journal_rows(agent, "SELECT number, state FROM batches ORDER BY id") == [(1, "settled"), (2, "open")]
    assert journal_rows(agent, "SELECT batch, state FROM transactions WHERE id IN (?, ?)",
                        (first["id"], second["id"])) == [(2, "approved")] * 2
    booked = host_rows(sim_host, "SELECT batch, stan, amount FROM txns WHERE mti IN ('0220', '0221')")
    assert sorted((r["batch"], int(r["stan"]), r["amount"]) for r in booked) == [
        ("000002", first["trace"], 4000), ("000002", second["trace"], 2500)], booked
    host_settled = host_rows(sim_host, "SELECT batch, balanced FROM settlements")
    assert [(r["batch"], r["balanced"]) for r in host_settled] == [("000001", 1)], host_settled

    final = supervisor(agent, confirm=True)
    assert final["ok"] and final["outcome"]["details"]["batch"] == 2, final
    assert final["outcome"]["details"]["result"] == "balanced", final
    assert final["outcome"]["details"]["totals"]["debit_amount"] == 6500
    assert agent.cli("journal", "verify").returncode == 0
    assert_host_ledger_is_the_journal(agent, sim_host)


def test_when_the_bank_takes_the_advices_again_the_confirmation_moves_nothing_they_are_forwarded_first(
        terminal, sim_host):
    agent = terminal
    first, second = two_sales_stored_the_bank_cannot_take(agent, sim_host)
    sim_host.clear_faults()
    done = supervisor(agent, confirm=True, confirm_stored=True)  # confirmed, but forwarding works: as without it
    outcome = done["outcome"]
    assert done["ok"] and outcome["status"] == "done" and "moved" not in outcome["details"], done
    assert outcome["details"]["totals"]["debit_count"] == 3 and outcome["details"]["totals"]["debit_amount"] == 7500
    assert "STORED OFFLINE" not in outcome["report"]
    assert journal_rows(agent, "SELECT batch, state FROM transactions WHERE id IN (?, ?)",
                        (first["id"], second["id"])) == [(1, "approved")] * 2
    booked = host_rows(sim_host, "SELECT batch FROM txns WHERE mti IN ('0220', '0221')")
    assert [r["batch"] for r in booked] == ["000001", "000001"], booked
    assert [(r["batch"], r["balanced"]) for r in host_rows(sim_host, "SELECT * FROM settlements")] == [("000001", 1)]
    assert_host_ledger_is_the_journal(agent, sim_host)


def test_a_stored_sale_sent_without_an_answer_never_moves_the_settlement_waits_for_it(terminal, sim_host):
    agent = terminal
    assert agent.call("signon")["ok"]
    assert agent.call("sale", {"amount": 1000, "card": "debit", "confirm_duplicate": True})["ok"]
    sim_host.fault("drop_before:mti=0220,count=1")  # its first advice: the line drops, the terminal cannot know
    sim_host.fault("advices_refused")  # its repeats: 96, not processed
    sim_host.fault("outage:seconds=4")
    assert wait_for(lambda: not agent.call("echo")["ok"] and agent.call("status")["result"]["link"]["state"] == "down")
    sale = stored(swipe(agent, 4000), "022")
    assert wait_for(lambda: "0221" in sent_mtis(agent, sale["id"])
                    and agent.call("status")["result"]["link"]["state"] != "down", 30), (
        sent_mtis(agent, sale["id"]), agent.call("status")["result"]["link"])

    refused = supervisor(agent, confirm=True, confirm_stored=True)
    assert not refused["ok"] and refused["error"]["code"] == "advice_pending", refused
    text = refused["error"]["message"]
    assert f"the advice of trace {sale['trace']:06d} went to the bank without an answer" in text, text
    assert "may have booked it in batch 000001" in text and "\n" not in text, text
    assert journal_rows(agent, "SELECT number, state FROM batches ORDER BY id") == [(1, "open")]
    assert journal_rows(agent, "SELECT batch FROM transactions WHERE id = ?", (sale["id"],)) == [(1,)]

    sim_host.clear_faults()  # forwarded in its own batch, then batch 1 settles with it
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0, 30), agent.call("status")
    done = supervisor(agent, confirm=True)
    assert done["ok"] and done["outcome"]["details"]["totals"]["debit_amount"] == 5000, done
    assert done["outcome"]["details"]["result"] == "balanced" and "moved" not in done["outcome"]["details"]
    assert_host_ledger_is_the_journal(agent, sim_host)
