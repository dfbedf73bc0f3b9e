"""A void or refund carries no card of its own — it names its original — and still shows the card it
went back to: in `posagent journal list` (table and --json), `journal show`, `journal purchase`, the
receipt and the `journal export` bundle (JSON and text).  The CLI → the daemon → real TCP → `posim host`,
then the journal read by the CLI."""

from __future__ import annotations

import json
import re

import pytest

from tests.agentproc import start_agent

DEBIT = "622609******0048"
CREDIT = "625094******0016"


@pytest.fixture
def journal_with_a_void_and_a_refund(tmp_path, sim_host):
    """A debit sale and its void, a credit sale and a partial refund of it: (agent, {name: txn id})."""
    agent = start_agent(tmp_path, sim_host.port)
    try:
        voided = agent.json("sale", "12.00", "--card", "debit")["outcome"]["txn"]
        refunded = agent.json("sale", "30.00", "--card", "credit")["outcome"]["txn"]
        void = agent.json("void", str(voided["trace"]), password=True)
        assert void["ok"] and void["outcome"]["status"] == "approved", void
        refund = agent.json("refund", "--trace", str(refunded["trace"]), "10.00", password=True)
        assert refund["ok"] and refund["outcome"]["status"] == "approved", refund
        ids = {"sale": voided["id"], "other_sale": refunded["id"], "void": void["outcome"]["txn"]["id"],
               "refund": refund["outcome"]["txn"]["id"]}
        # the rows themselves carry no card: what is shown comes from the original they name
        assert void["outcome"]["txn"]["pan_masked"] is None and refund["outcome"]["txn"]["pan_masked"] is None
        yield agent, ids
    finally:
        agent.stop()


def card_column(table: str) -> dict[int, str]:
    lines = table.splitlines()
    start = lines[0].index("CARD")
    return {int(line.split()[0]): line[start:].split()[0] for line in lines[1:]}


def test_journal_list_show_and_purchase_show_the_original_card(journal_with_a_void_and_a_refund):
    agent, ids = journal_with_a_void_and_a_refund
    listed = agent.cli("journal", "list")
    assert listed.returncode == 0, listed.stderr
    assert card_column(listed.stdout) == {ids["sale"]: DEBIT, ids["void"]: DEBIT, ids["other_sale"]: CREDIT,
                                          ids["refund"]: CREDIT}
    rows = {t["id"]: t for t in agent.json("journal", "list")}
    assert rows[ids["void"]]["card"] == DEBIT and rows[ids["refund"]]["card"] == CREDIT
    assert rows[ids["void"]]["pan_masked"] is None  # the stored row is reported as it is
    assert card_column(agent.cli("journal", "show", str(ids["refund"])).stdout.split("\n\n")[0]) == \
        {ids["refund"]: CREDIT}
    assert agent.json("journal", "show", str(ids["void"]))["transaction"]["card"] == DEBIT
    assert card_column(agent.cli("journal", "purchase", str(ids["sale"])).stdout) == \
        {ids["sale"]: DEBIT, ids["void"]: DEBIT}


def test_receipts_of_a_void_and_a_refund_print_the_original_card(journal_with_a_void_and_a_refund):
    agent, ids = journal_with_a_void_and_a_refund
    for kind, card in (("void", DEBIT), ("refund", CREDIT)):
        printed = agent.cli("receipt", str(ids[kind]))
        assert printed.returncode == 0, printed.stderr
        card_lines = [line for line in printed.stdout.splitlines() if line.startswith("CARD")]
        assert card_lines and all(re.fullmatch(rf"CARD(?: NO\.)?\s+{re.escape(card)}", line) for line in card_lines), \
            printed.stdout


def test_journal_export_shows_the_original_card(journal_with_a_void_and_a_refund):
    agent, ids = journal_with_a_void_and_a_refund
    bundle = json.loads(agent.cli("journal", "export", "--since", "2000-01-01").stdout)
    cards = {t["id"]: t["card"] for t in bundle["transactions"]}
    assert cards == {ids["sale"]: DEBIT, ids["void"]: DEBIT, ids["other_sale"]: CREDIT, ids["refund"]: CREDIT}
    text = agent.cli("journal", "export", "--purchase", str(ids["other_sale"]), "--text").stdout
    blocks = {int(b.split()[0][1:]): b for b in re.split(r"\n(?=#\d+ )", text.split("\nEVENTS")[0]) if b[0] == "#"}
    assert f"card {CREDIT} " in blocks[ids["refund"]] and "card - " not in text
