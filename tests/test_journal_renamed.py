"""A journal written before the rename (schema 5: table `chains`, column `transactions.chain_id`, events
`chain.*` naming the fix under "chain") opens, migrates to schema 6 (`fixes`, `purchase_id`) and keeps
verifying: the rows its old events vouch for, the fix it left open (read, resumed to the end or closed by a
supervisor), an evidence bundle of the purchase, retention and tamper checks across old and new events.

Such a journal is made the way the code before the rename made it: today's code writing the old spellings of
a fix's events and naming the fix's rows "chains" in them (a row's digest hashes that name and the row's values,
which a column's name is not part of), then the schema renamed back to version 5 — checked against a journal
built by migrations 1 to 5 themselves.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from agent.cli import main
from agent.engine import fixes
from agent.engine.card import sale as card_sale
from agent.journal import Journal, integrity, schema, verify_bundle
from agent.journal.export import render_text
from agent.journal.states import FIX_EVENTS, FIX_ID_KEYS
from tests.enginekit import CASHIER, PROFILE, SUPERVISOR, RecordingJournal, World
from tests.test_engine_properties import assert_bank_equals_journal, ledger_net

CARD = "622609******0048"
OLD_EVENTS = {"chain.plan", "chain.step", "chain.done", "chain.closed"}
NEW_EVENTS = {"fix.plan", "fix.step", "fix.done", "fix.closed"}

#: schema 6 back to 5: what `schema._v6` does, undone
TO_SCHEMA_5 = """
ALTER TABLE fixes RENAME TO chains;
DROP INDEX idx_fixes_original;
DROP INDEX idx_fixes_open;
CREATE INDEX idx_chains_original ON chains(original_id);
CREATE INDEX idx_chains_open ON chains(state) WHERE state = 'open';
ALTER TABLE transactions RENAME COLUMN purchase_id TO chain_id;
DROP INDEX idx_transactions_purchase_id;
CREATE INDEX idx_transactions_chain_id ON transactions(chain_id) WHERE chain_id IS NOT NULL;
PRAGMA user_version = 5;
"""


def _shape(path: Path) -> dict[str, object]:
    """Every table's columns (name, type, not null, key) and every index's name, table and columns."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        shape: dict[str, object] = {t: [r[1:] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
                                        "AND name NOT LIKE 'sqlite_%' ORDER BY name"):
            shape[name] = (table, [r[2] for r in conn.execute(f"PRAGMA index_info({name})")])
        shape["user_version"] = conn.execute("PRAGMA user_version").fetchone()[0]
        return shape
    finally:
        conn.close()


def _kinds(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def old_world(tmp_path, monkeypatch):
    """A world whose journal was written before the rename: a sale of 120.00 corrected to 100.00, stopped
    after the void went through and its progress was recorded — the fix left open, owing the new sale."""
    world = World(tmp_path)
    with monkeypatch.context() as before:  # the fix's events as the code before the rename wrote them
        before.setattr("agent.journal.fixes.FIX_EVENTS", {says: (kinds[1],) for says, kinds in FIX_EVENTS.items()})
        before.setattr("agent.journal.fixes.FIX_ID_KEYS", FIX_ID_KEYS[1:])
        # the rows a write vouches for, named by their table as it was called (not by hashchain.PROOF_TAGS)
        before.setattr("agent.journal.store.proof_tag", lambda table: "chains" if table == "fixes" else table)
        first = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(12000, test_card="debit"), CASHIER))
        plan = fixes.correct(PROFILE, fixes.CorrectRequest(first.txn.trace, 10000, test_card="debit"), SUPERVISOR)
        result = None
        while True:
            effect = plan.send(result)
            result = world.perform(effect)
            if getattr(effect, "method", None) == "update_fix":
                break
        plan.close()
    path = tmp_path / "journal.db"
    world.journal.close()
    conn = sqlite3.connect(path)
    conn.executescript(TO_SCHEMA_5)
    conn.close()
    world.original = first.txn
    yield world
    world.close()


def _reopen(world: World) -> Journal:
    world.journal = Journal.open(world.tmp / "journal.db", fingerprint_key=b"k" * 32, clock=world.clock)
    world.port = RecordingJournal(world.journal)
    return world.journal


def test_the_journal_made_before_the_rename_is_a_schema_5_journal_with_the_old_events(old_world, tmp_path):
    fresh = tmp_path / "fresh.db"
    conn = sqlite3.connect(fresh)
    for step in schema.MIGRATIONS[:5]:
        step(sqlite_utils.Database(conn))
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    assert _shape(old_world.tmp / "journal.db") == _shape(fresh)
    kinds = _kinds(old_world.tmp / "journal.db")
    assert {"chain.plan", "chain.step"} <= set(kinds) and not NEW_EVENTS & set(kinds)
    conn = sqlite3.connect(old_world.tmp / "journal.db")
    details = " ".join(r[0] for r in conn.execute("SELECT details FROM events"))
    conn.close()
    assert '["chains",' in details and '["fixes",' not in details


def test_it_migrates_verifies_and_its_open_fix_is_read_and_resumed_to_the_end(old_world, capsys):
    path = old_world.tmp / "journal.db"
    assert main(["journal", "--journal", str(path), "verify"]) != 0  # read-only: never migrates, says so
    assert "schema version 5; open it once with the agent" in capsys.readouterr().err
    journal = _reopen(old_world)
    assert integrity.check_tail(path).ok  # the daemon's check at start
    assert _shape(path)["user_version"] == schema.SCHEMA_VERSION == 6
    assert {"fixes", "idx_fixes_open", "idx_fixes_original", "idx_transactions_purchase_id"} <= set(_shape(path))
    assert "chains" not in _shape(path) and "idx_transactions_chain_id" not in _shape(path)
    assert journal.verify().ok  # every row the old events vouch for, under the table's new name
    [fix] = journal.open_fixes()
    assert fix.kind == "correction" and fix.original_id == old_world.original.id and fix.target == 10000
    assert [(s["op"], s["status"]) for s in fix.steps] == [("void", "done"), ("sale", "owed")]
    assert [t.kind for t in journal.fix_txns(fix.id)] == ["void"]
    outcome = old_world.run(fixes.correct(PROFILE, fixes.CorrectRequest(old_world.original.trace, None,
                                                                        test_card="debit", resume=True), SUPERVISOR))
    assert outcome.status == "approved" and journal.open_fixes() == []
    assert journal.get_fix(fix.id).state == "done"
    assert ledger_net(old_world)[CARD] == 10000
    assert_bank_equals_journal(old_world)
    kinds = set(_kinds(path))
    assert {"chain.plan", "chain.step", "fix.done"} <= kinds  # one fix, both spellings
    assert journal.verify().ok
    purchase = journal.purchase(old_world.original.id)
    assert [t.kind for t in purchase] == ["sale", "void", "correction"]
    assert purchase[-1].purchase_id == old_world.original.id  # the link written as chain_id, read as purchase_id
    bundle = journal.export(purchase_of=old_world.original.id)
    assert verify_bundle(bundle) is None and {"chain.plan", "fix.done"} <= {e["kind"] for e in bundle["events"]}
    assert bundle["format"] == "posagent-evidence/2" and bundle["scope"] == {"purchase_of": old_world.original.id}
    # a bundle exported before the rename (format /1, the link under its old names) still verifies and prints
    before = {**bundle, "format": "posagent-evidence/1", "scope": {"chain_of": old_world.original.id},
              "transactions": [{("chain_id" if k == "purchase_id" else k): v for k, v in t.items()}
                               for t in bundle["transactions"]]}
    assert verify_bundle(before) is None
    assert render_text(before).replace("\"chain_of\"", "\"purchase_of\"") == render_text(bundle)
    assert verify_bundle({**bundle, "format": "posagent-evidence/9"}) == (
        "not a posagent-evidence/2 or posagent-evidence/1 bundle")
    journal.close()
    assert main(["journal", "--journal", str(path), "verify"]) == 0
    assert "journal ok" in capsys.readouterr().out


def test_its_open_fix_is_closed_by_a_supervisor_and_a_row_changed_behind_it_is_still_caught(old_world):
    path = old_world.tmp / "journal.db"
    journal = _reopen(old_world)
    [fix] = journal.open_fixes()
    closed = journal.end_fix(fix.id, "closed", reason="customer paid cash", operator="supervisor",
                             role="supervisor")
    assert closed.state == "closed" and journal.open_fixes() == []
    assert {"chain.plan", "fix.closed"} <= set(_kinds(path)) and journal.verify().ok
    journal.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE fixes SET target = 1 WHERE id = ?", (fix.id,))
    conn.commit()
    conn.close()
    result = _reopen(old_world).verify()
    assert not result.ok and f"fixes row {fix.id} was changed" in result.why


def test_retention_prunes_a_fix_vouched_for_by_old_events_and_the_journal_still_verifies(old_world):
    from agent.engine import settlement
    journal = _reopen(old_world)
    [fix] = journal.open_fixes()
    journal.end_fix(fix.id, "closed", reason="customer paid cash")
    assert old_world.run(settlement.settle(PROFILE, settlement.SettleRequest(True), SUPERVISOR)).status == "done"
    old_world.clock.advance(100 * 86400)
    assert journal.prune(retention_days=30) == 2  # the sale and its void
    assert journal.all_fixes() == [] and journal.verify().ok
