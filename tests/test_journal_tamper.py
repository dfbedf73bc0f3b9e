"""Tamper evidence: any row changed, added, deleted or reordered behind the journal's back is caught by
`verify`, which names the first broken entry; exported bundles carry a proof anyone can check."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from agent.journal import Journal, verify_bundle
from agent.journal.hashchain import CHAINED_TABLES

KEY = b"test-fingerprint-key-0123456789ab"
PAN = "6226090000000048"


def _build(path) -> None:
    j = Journal.open(path, fingerprint_key=KEY)
    req = lambda trace, batch: {"mti": "0200", "11": f"{trace:06d}"}  # noqa: E731
    sale = j.begin("sale", amount=12000, currency="156", pan=PAN, entry_mode="051", operator="01", role="cashier",
                   request=req)
    j.complete(sale.id, approved=True, response_code="00", rrn="123456789012", auth_code="A1", response={"39": "00"},
               tc_upload=bytes.fromhex("9F2701409F26081122334455667788"), card_sequence="001")  # its TC owed
    refund = j.begin("refund", amount=2000, currency="156", pan=PAN, entry_mode="051", operator="01",
                     role="supervisor", original_id=sale.id, request=req)
    j.complete(refund.id, approved=True, response_code="00", rrn=None, auth_code=None, response={"39": "00"})
    fix = j.plan_fix("correction", sale.id, steps=[{"op": "refund", "amount": 2000}], target=10000,
                     operator="sup", role="supervisor")  # every chained table holds a row to tamper with
    j.end_fix(fix.id, "done", steps=[{"op": "refund", "amount": 2000, "status": "done"}])
    lost = j.begin("sale", amount=500, currency="156", pan=PAN, entry_mode="051", operator="01", role="cashier",
                   request=req)
    rev = j.fail(lost.id, reason="98", error="timeout")
    j.reversal_attempt(rev.id, {"mti": "0400"})
    download = j.params_download_begin(trigger="signon", params_version="00000001", keys_version=None,
                                       key_list=[], aid_list=["A0000003330101"])  # a chip parameter download
    j.params_item(download.id, "aid", "A0000003330101", bytes.fromhex("9F0607A0000003330101"))
    j.params_install(download.id, content={"params_version": "00000001", "keys_version": "00000000", "aids": [],
                                           "keys": []}, digest="00" * 32)
    j.set_state("supervisor.failures", "1")
    j.record_event("operator.note", {"text": "shift change"}, operator="sup", role="supervisor")
    assert j.verify().ok
    j.close()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    path = tmp_path_factory.mktemp("tamper") / "pristine.db"
    _build(path)
    return path


@pytest.fixture
def copy(pristine, tmp_path):
    target = tmp_path / "journal.db"
    shutil.copy(pristine, target)
    return target


def _raw(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


def _verify(path):
    j = Journal.open(path, fingerprint_key=KEY)
    try:
        return j.verify()
    finally:
        j.close()


def test_untouched_journal_verifies(copy):
    result = _verify(copy)
    assert result.ok and result.events >= 8 and result.first_broken is None


def test_changed_amount_is_caught_and_named(copy):
    _raw(copy).execute("UPDATE transactions SET amount = 1200 WHERE id = 1")
    result = _verify(copy)
    assert not result.ok
    assert "transactions row 1 was changed" in result.why and result.first_broken is not None


def test_deleted_transaction_is_caught(copy):
    conn = _raw(copy)
    conn.execute("DELETE FROM reversals WHERE txn_id = 2")
    conn.execute("DELETE FROM transactions WHERE id = 2")
    result = _verify(copy)
    assert not result.ok and "deleted" in result.why


def test_added_row_is_caught(copy):
    _raw(copy).execute("INSERT INTO state (key, value) VALUES ('forged', 'x')")
    result = _verify(copy)
    assert not result.ok and "state row forged was added outside the journal" in result.why


def test_deleted_event_in_the_middle_is_caught(copy):
    _raw(copy).execute("DELETE FROM events WHERE id = 3")
    result = _verify(copy)
    assert not result.ok and result.first_broken == 3 and "missing" in result.why


def test_deleted_newest_events_are_caught_by_the_rows_they_vouched_for(copy):
    # the last two events: an operator note (no rows) and the state change before it
    _raw(copy).execute("DELETE FROM events WHERE id >= (SELECT max(id) - 1 FROM events)")
    result = _verify(copy)
    assert not result.ok and "state row supervisor.failures" in result.why


def test_reordered_events_are_caught(copy):
    conn = _raw(copy)
    a = conn.execute("SELECT at, txn_id, kind, operator, role, details, content_hash, hash FROM events WHERE id = 4").fetchone()
    b = conn.execute("SELECT at, txn_id, kind, operator, role, details, content_hash, hash FROM events WHERE id = 5").fetchone()
    sets = "at = ?, txn_id = ?, kind = ?, operator = ?, role = ?, details = ?, content_hash = ?, hash = ?"
    conn.execute(f"UPDATE events SET {sets} WHERE id = 4", b)
    conn.execute(f"UPDATE events SET {sets} WHERE id = 5", a)
    result = _verify(copy)
    assert not result.ok and result.first_broken == 4


def test_reordered_transactions_are_caught(copy):
    conn = _raw(copy)
    conn.execute("UPDATE transactions SET trace = CASE id WHEN 1 THEN 2 WHEN 2 THEN 1 ELSE trace END")
    assert not _verify(copy).ok


def test_event_rewritten_with_a_fresh_content_hash_still_breaks_the_chain(copy):
    from agent.journal.hashchain import content_hash
    conn = _raw(copy)
    row = conn.execute("SELECT id, at, txn_id, kind, operator, role, details FROM events WHERE id = 2").fetchone()
    details = row[6].replace('"amount":12000', '"amount":1200')
    conn.execute("UPDATE events SET details = ?, content_hash = ? WHERE id = 2",
                 (details, content_hash(row[0], row[1], row[2], row[3], row[4], row[5], details)))
    result = _verify(copy)
    assert not result.ok and result.first_broken == 2 and "chain" in result.why


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_value_in_any_chained_row_is_caught(pristine, tmp_path, data):
    target = tmp_path / f"j{data.draw(st.integers(0, 10 ** 9))}.db"
    shutil.copy(pristine, target)
    conn = _raw(target)
    table = data.draw(st.sampled_from(sorted(CHAINED_TABLES)))
    key_column = CHAINED_TABLES[table]
    keys = [r[0] for r in conn.execute(f"SELECT {key_column} FROM {table}")]
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != key_column]
    key = data.draw(st.sampled_from(keys))
    column = data.draw(st.sampled_from(columns))
    old = conn.execute(f"SELECT {column} FROM {table} WHERE {key_column} = ?", (key,)).fetchone()[0]
    new = data.draw(st.one_of(st.integers(-5, 10 ** 6), st.text(max_size=8), st.none()).filter(lambda v: v != old))
    try:
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key_column} = ?", (new, key))
    except sqlite3.IntegrityError:
        reject()  # a NOT NULL or UNIQUE column: SQLite itself refuses that edit
    finally:
        conn.close()
    assert not _verify(target).ok
    target.unlink()


def test_export_bundle_proof_holds_and_detects_edits(copy):
    j = Journal.open(copy, fingerprint_key=KEY)
    bundle = j.export(purchase_of=1)
    j.close()
    assert verify_bundle(bundle) is None
    assert [t["id"] for t in bundle["transactions"]] == [1, 2]
    bundle["events"][0]["details"]["amount"] = 1
    assert "content does not match" in verify_bundle(bundle)


def test_prune_is_recorded_so_verify_still_passes(tmp_path):
    clock = [1_800_000_000.0]
    j = Journal.open(tmp_path / "j.db", fingerprint_key=KEY, clock=lambda: clock[0])
    req = lambda trace, batch: {"11": trace}  # noqa: E731
    for batch in range(1, 4):
        t = j.begin("sale", amount=100, currency="156", pan=PAN, entry_mode="051", operator="o", role="r", request=req)
        j.complete(t.id, approved=True, response_code="00", rrn=None, auth_code=None, response={"39": "00"})
        j.begin_settlement(batch)
        j.finish_settlement(batch)
        clock[0] += 100 * 86400
    assert j.prune(retention_days=150, max_batches=1) == 1
    assert j.prune(retention_days=150, max_batches=10) == 1  # batch 3 is only 100 days old
    assert [t.batch for t in j.find()] == [3]
    assert j.verify().ok
    j.close()
    conn = _raw(tmp_path / "j.db")
    conn.execute("DELETE FROM transactions WHERE id = 3")  # not pruned: a deletion
    assert not _verify(tmp_path / "j.db").ok
