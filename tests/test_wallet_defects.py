"""Payment-code sales fixed and refused the way a wallet needs, end to end: the CLI and the control API →
the daemon → real TCP → `posim host` with its wallet payers, every outcome checked on the bank's ledger
and in the journal; and the amounts and pre-auth refusals an operator reads on the command line."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.agentproc import SUPERVISOR_PASSWORD, Agent, write_config
from tests.test_wallet_daemon import WALLET, issue, net, pay

#: 60.1 of a payment-code sale (`[wallet] sale_type`, the default the simulated acquirer routes by)
SALE_TYPE = "41"


@pytest.fixture
def agent(tmp_path, sim_host):
    running = Agent(write_config(tmp_path, sim_host.port, extra=WALLET), tmp_path)
    running.start()
    yield running
    running.stop()


def journal_rows(agent, sql: str, *params) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{agent.directory / 'journal.db'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql, params).fetchall()


# ---------------------------------------------------------------- 1. a wrong amount, corrected without a code

def test_an_overcharge_corrected_without_a_code_refunds_the_difference_to_the_wallet(agent, sim_host):
    paid = pay(agent, "100.00", issue(sim_host, "alice"))
    trace = str(paid["txn"]["trace"])
    fixed = agent.json("correct", trace, "--amount", "60.00", password=True)
    assert fixed["ok"], fixed
    outcome = fixed["outcome"]
    assert outcome["status"] == "approved" and outcome["details"]["method"] == "refund", outcome
    assert "Card reader" not in json.dumps(fixed)
    assert net(sim_host, "alice") == 6000
    again = agent.json("correct", trace, "--amount", "60.00", password=True)  # the purchase stands at 60.00
    assert again["ok"] and again["outcome"]["status"] == "done", again
    assert net(sim_host, "alice") == 6000


def test_the_correct_operation_on_the_control_api_refunds_a_wallet_overcharge_too(agent, sim_host):
    paid = pay(agent, "80.00", issue(sim_host, "bob", confirm="0"))  # WeChat Pay, paid at once
    reply = agent.call("correct", {"trace": paid["txn"]["trace"], "amount": 5000}, password=SUPERVISOR_PASSWORD)
    assert reply["ok"] and reply["outcome"]["details"]["method"] == "refund", reply
    assert net(sim_host, "bob") == 5000


def test_an_undercharge_without_a_code_asks_for_the_customers_new_code_not_a_card(agent, sim_host):
    paid = pay(agent, "10.00", issue(sim_host, "alice"))
    trace = f"{paid['txn']['trace']:06d}"
    refused = agent.cli("correct", trace, "--amount", "25.00", password=True)
    assert refused.returncode == 2, refused
    assert "new payment code" in refused.stderr and "--code" in refused.stderr and "--scan" in refused.stderr
    assert "15.00" in refused.stderr and "Card reader" not in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert net(sim_host, "alice") == 1000
    resale = agent.cli("correct", trace, "--amount", "5.00", "--method", "resale", password=True)
    assert resale.returncode == 2 and "new code" in resale.stderr and "Card reader" not in resale.stderr
    assert net(sim_host, "alice") == 1000
    fixed = agent.json("correct", trace, "--amount", "25.00", "--code", issue(sim_host, "alice"), password=True)
    assert fixed["ok"] and fixed["outcome"]["status"] == "approved", fixed
    assert net(sim_host, "alice") == 2500


# ---------------------------------------------------------------- 2. the cancel carries the sale's own 60.1

def test_the_wallet_cancel_carries_the_60_1_its_sale_carried(agent, sim_host):
    done = agent.json("sale", "30.00", "--code", issue(sim_host, "dave"))  # never confirms: cancelled
    assert done["outcome"]["status"] == "reversed", done
    txn_id = done["outcome"]["txn"]["id"]
    sale = json.loads(journal_rows(agent, "SELECT request FROM transactions WHERE id = ?", txn_id)[0]["request"])
    assert sale["subfields"]["60"]["tx_type"] == SALE_TYPE
    cancels = [json.loads(r["body"]) for r in journal_rows(  # each try of the cancel, as it was sent
        agent, "SELECT body FROM messages WHERE txn_id = ? AND reversal_id IS NOT NULL AND direction = 'sent'",
        txn_id)]
    assert cancels, "no cancel journaled"
    for cancel in cancels:
        assert cancel["mti"] in ("0400", "0401")
        assert cancel["fields"]["60"] == sale["fields"]["60"], (cancel, sale)
        assert cancel["fields"]["3"] == sale["fields"]["3"]
    assert net(sim_host, "dave") == 0


# ---------------------------------------------------------------- 3. a reused code is worded for a wallet

def test_a_reused_payment_code_is_declined_in_a_wallets_words(agent, sim_host):
    code = issue(sim_host, "alice")
    pay(agent, "10.00", code)
    again = agent.json("sale", "12.00", "--code", code)
    outcome = again["outcome"]
    assert outcome["status"] == "declined", again
    assert "already used" in outcome["message"] and "fresh code" in outcome["message"]
    assert "another way to pay" in outcome["message"] and "card" not in outcome["message"].lower()
    receipts = json.dumps(outcome.get("receipts", []))
    assert "this card cannot do this" not in receipts
    assert net(sim_host, "alice") == 1000


# ---------------------------------------------------------------- 4. amounts, and a completion in doubt

@pytest.mark.parametrize("words, says", [
    (("preauth", "complete", "1", "99999999999999"), "is too large: the largest a terminal can send is 9999999999.99"),
    (("preauth", "complete", "1", "12.345"), "at most 2 decimals"),
    (("sale", "99999999999999", "--card", "debit"), "is too large"),
    (("sale", "12.345", "--card", "debit"), "at most 2 decimals"),
    (("refund", "--trace", "1", "12.345"), "at most 2 decimals"),
    (("correct", "1", "--amount", "99999999999999"), "is too large"),
    (("preauth", "99999999999999"), "is too large"),
])
def test_an_amount_too_large_or_with_too_many_decimals_is_one_clear_line(agent, words, says):
    refused = agent.cli(*words, password=words[0] != "sale")
    assert refused.returncode == 2, refused
    assert says in refused.stderr, refused.stderr
    assert "not a number" not in refused.stderr and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_completing_a_preauth_whose_completion_is_in_doubt_says_so_and_what_to_check(agent, sim_host):
    held = agent.json("preauth", "200.00", "--card", "debit", password=True)
    assert held["ok"] and held["outcome"]["status"] == "approved", held
    trace = f"{held['outcome']['txn']['trace']:06d}"
    sim_host.fault("drop_response:mti=0200,count=1")
    for mti in ("0400", "0401"):
        sim_host.fault(f"drop_response:mti={mti}")
    lost = agent.json("preauth", "complete", trace, "180.00", password=True)
    assert lost["outcome"]["status"] == "in_doubt", lost
    again = agent.cli("preauth", "complete", trace, "180.00", password=True)
    assert again.returncode != 0
    assert "in doubt" in again.stderr and "being resolved" in again.stderr
    assert "posagent reversals" in again.stderr and "was completed" not in again.stderr
