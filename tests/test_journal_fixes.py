"""The journal's fixes: plan, progress, end — one state table, clear refusals, hash-chained, and an
existing journal (schema 1) upgrades in place."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from agent.journal import Journal, JournalError
from agent.journal.errors import IllegalTransition, NotFound
from agent.journal import schema

PAN = "6226090000000048"
KEY = b"k" * 32


def _sale(journal: Journal, amount: int = 1234):
    return journal.begin("sale", amount=amount, currency="156", pan=PAN, entry_mode="022", operator="c",
                         role="cashier", request=lambda trace, batch: {"mti": "0200"})


@pytest.fixture
def journal(tmp_path):
    with Journal.open(tmp_path / "j.db", fingerprint_key=KEY) as j:
        yield j


def test_plan_progress_and_done(journal):
    txn = _sale(journal)
    fix = journal.plan_fix("correction", txn.id, steps=[{"op": "void", "amount": 1234},
                                                           {"op": "sale", "amount": 1000}],
                               target=1000, operator="s", role="supervisor")
    assert fix.state == "open" and journal.open_fix_of(txn.id).id == fix.id
    assert [c.id for c in journal.open_fixes()] == [fix.id]
    fix = journal.update_fix(fix.id, [{"op": "void", "amount": 1234, "status": "done"},
                                      {"op": "sale", "amount": 1000, "status": "owed"}])
    assert fix.steps[0]["status"] == "done"
    done = journal.end_fix(fix.id, "done")
    assert done.state == "done" and journal.open_fixes() == [] and journal.open_fix_of(txn.id) is None
    with pytest.raises(IllegalTransition, match=f"fix {fix.id}: 'close' is not allowed in state 'done'"):
        journal.end_fix(fix.id, "closed", reason="late")
    assert journal.verify().ok


def test_refusals_say_what_is_wrong(journal):
    txn = _sale(journal)
    with pytest.raises(JournalError, match="step 1: op must be one of void, sale, refund"):
        journal.plan_fix("correction", txn.id, steps=[{"op": "charge", "amount": 1}], target=1, operator="s",
                         role="supervisor")
    with pytest.raises(JournalError, match="step 2: amount must be a positive whole number"):
        journal.plan_fix("correction", txn.id, steps=[{"op": "void", "amount": 1}, {"op": "sale", "amount": -5}],
                         target=1, operator="s", role="supervisor")
    with pytest.raises(JournalError, match="1 to 8 steps"):
        journal.plan_fix("correction", txn.id, steps=[], target=1, operator="s", role="supervisor")
    with pytest.raises(NotFound):
        journal.plan_fix("correction", 999, steps=[{"op": "void", "amount": 1}], target=1, operator="s",
                         role="supervisor")
    fix = journal.plan_fix("correction", txn.id, steps=[{"op": "refund", "amount": 234}], target=1000,
                           operator="s", role="supervisor")
    with pytest.raises(JournalError, match=f"already has open fix {fix.id}"):
        journal.plan_fix("correction", txn.id, steps=[{"op": "refund", "amount": 234}], target=1000,
                         operator="s", role="supervisor")
    with pytest.raises(JournalError, match="the plan's steps cannot change"):
        journal.update_fix(fix.id, [{"op": "refund", "amount": 999, "status": "done"}])
    with pytest.raises(JournalError, match="needs a reason"):
        journal.end_fix(fix.id, "closed", reason="  ")
    closed = journal.end_fix(fix.id, "closed", reason="customer paid cash", operator="supervisor",
                             role="supervisor")
    assert closed.reason == "customer paid cash"
    with pytest.raises(NotFound, match="no fix 77"):
        journal.get_fix(77)
    assert journal.verify().ok


def test_a_fix_row_changed_behind_the_journal_breaks_verify(journal, tmp_path):
    txn = _sale(journal)
    fix = journal.plan_fix("correction", txn.id, steps=[{"op": "refund", "amount": 234}], target=1000,
                           operator="s", role="supervisor")
    conn = sqlite3.connect(tmp_path / "j.db")
    conn.execute("UPDATE fixes SET state = 'done' WHERE id = ?", (fix.id,))
    conn.commit()
    conn.close()
    result = journal.verify()
    assert not result.ok and "fixes row" in result.why


def test_a_schema_1_journal_upgrades_in_place(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    schema._v1(sqlite_utils.Database(conn))
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Journal.open(path, fingerprint_key=KEY) as journal:
        txn = _sale(journal)
        fix = journal.plan_fix("duplicate_fix", txn.id, steps=[{"op": "void", "amount": 1234}], target=0,
                               operator="s", role="supervisor")
        assert journal.get_fix(fix.id).kind == "duplicate_fix"
        assert journal.verify().ok
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    check.close()


def test_retention_keeps_an_open_fix_and_prunes_a_finished_one(tmp_path):
    clock = [1_800_000_000.0]
    journal = Journal.open(tmp_path / "r.db", fingerprint_key=KEY, clock=lambda: clock[0])
    try:
        fixes = []
        for batch in (1, 2):
            txn = _sale(journal, 100)
            journal.complete(txn.id, approved=True, response_code="00", rrn=None, auth_code=None,
                             response={"39": "00"})
            fixes.append(journal.plan_fix("correction", txn.id, steps=[{"op": "refund", "amount": 50}],
                                          target=50, operator="s", role="supervisor"))
            journal.begin_settlement(batch)
            journal.finish_settlement(batch)
        journal.end_fix(fixes[0].id, "closed", reason="customer paid cash")
        clock[0] += 100 * 86400
        assert journal.prune(retention_days=30) == 1  # batch 1 only: batch 2's fix is still open
        assert [c.id for c in journal.all_fixes()] == [fixes[1].id]
        assert journal.verify().ok
    finally:
        journal.close()


def test_a_step_may_name_the_transaction_it_applies_to_and_the_plan_keeps_it(journal):
    txn = _sale(journal)
    part = journal.begin("correction", amount=900, currency="156", pan=PAN, entry_mode="022", operator="c",
                         role="cashier", original_id=txn.id, request=lambda trace, batch: {"mti": "0200"})
    journal.complete(part.id, approved=True, response_code="00", rrn="000000000002", auth_code="A1", response=None)
    with pytest.raises(JournalError, match="step 1: of must name a transaction by its id"):
        journal.plan_fix("correction", txn.id, steps=[{"op": "refund", "amount": 5, "of": "x"}], target=1,
                         operator="s", role="supervisor")
    steps = [{"op": "refund", "amount": 900, "of": part.id}, {"op": "refund", "amount": 100, "of": txn.id}]
    fix = journal.plan_fix("correction", txn.id, steps=steps, target=234, operator="s", role="supervisor")
    assert [s.get("of") for s in fix.steps] == [part.id, txn.id]
    with pytest.raises(JournalError, match="cannot change"):  # the part a step returns is the plan's, too
        journal.update_fix(fix.id, [{**steps[0], "of": txn.id, "status": "done"}, {**steps[1], "status": "owed"}])
    refund = journal.begin("refund", amount=100, currency="156", pan=None, entry_mode="012", operator="s",
                           role="supervisor", original_id=part.id, request=lambda trace, batch: {"mti": "0220"})
    assert refund.id in [t.id for t in journal.fix_txns(fix.id)]  # a refund of the part is the fix's
