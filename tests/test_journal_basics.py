"""The journal's lifecycle rules on a real SQLite file: intent/outcome, voids, refunds, reversals,
settlement, counters, queries, and the one transition table."""

from __future__ import annotations

import sqlite3

import pytest

from agent.journal import DuplicateRequest, IllegalTransition, Journal, JournalError, NotFound
from agent.journal.states import MACHINES, TRANSACTION

KEY = b"test-fingerprint-key-0123456789ab"
PAN = "6226090000000048"
OTHER_PAN = "6226090000000055"


class Clock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def journal(tmp_path, clock):
    j = Journal.open(tmp_path / "journal.db", fingerprint_key=KEY, clock=clock)
    yield j
    j.close()


def begin(j, kind="sale", amount=10000, pan=PAN, **kw):
    kw.setdefault("operator", "01")
    kw.setdefault("role", "cashier")
    return j.begin(kind, amount=amount, currency="156", pan=pan, entry_mode=kw.pop("entry_mode", "051"),
                   request=lambda trace, batch: {"mti": "0200", "11": f"{trace:06d}", "60.2": f"{batch:06d}"}, **kw)


def approve(j, txn, rrn="000000000001"):
    return j.complete(txn.id, approved=True, response_code="00", rrn=rrn, auth_code="ABC123",
                      response={"mti": "0210", "39": "00"})


def sale(j, amount=10000, pan=PAN, rrn="000000000001", **kw):
    return approve(j, begin(j, "sale", amount, pan, **kw), rrn=rrn)


def test_new_journal_has_batch_1_open_wal_and_full_sync(tmp_path, journal):
    batch = journal.open_batch()
    assert (batch.number, batch.state) == (1, "open")
    assert journal.core.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.core.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert journal.core.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert journal.in_doubt().clean


def test_begin_takes_a_trace_stores_masked_pan_and_arms_a_reversal(journal):
    txn = begin(journal)
    assert (txn.state, txn.trace, txn.batch, txn.amount) == ("sending", 1, 1, 10000)
    assert txn.pan_masked == "622609******0048"
    assert txn.pan_fingerprint == journal.fingerprint(PAN) != journal.fingerprint(OTHER_PAN)
    recovery = journal.in_doubt()
    assert [t.id for t in recovery.unanswered] == [txn.id]
    assert not recovery.pending_reversals  # armed, not owed: the "sending" row is what recovery reverses
    assert journal.fail(txn.id, reason="98", error="no answer").txn_id == txn.id
    assert [r.txn_id for r in journal.in_doubt().pending_reversals] == [txn.id]
    assert journal.messages(txn.id)[0]["body"] == {"mti": "0200", "11": "000001", "60.2": "000001"}


def test_complete_clears_the_armed_reversal(journal):
    txn = approve(journal, begin(journal))
    assert txn.state == "approved" and txn.rrn == "000000000001"
    assert journal.in_doubt().clean
    declined = journal.complete(begin(journal).id, approved=False, response_code="51", rrn=None, auth_code=None,
                                response=None)
    assert declined.state == "declined"
    assert journal.in_doubt().clean


def test_a_request_callback_error_leaves_nothing_behind(journal):
    def broken(trace, batch):
        raise RuntimeError("codec failed")
    with pytest.raises(RuntimeError):
        journal.begin("sale", amount=1, currency="156", pan=None, entry_mode=None, operator="01", role="c",
                      request=broken)
    assert journal.find() == []
    assert begin(journal).trace == 1  # the rolled-back trace was never handed out
    assert journal.verify().ok


def test_traces_wrap_after_999999_and_are_never_repeated_in_a_row(journal):
    journal.core.conn.execute("UPDATE counters SET value = 999998 WHERE name = 'trace'")
    journal.core.cache.clear()
    assert [begin(journal).trace for _ in range(3)] == [999999, 1, 2]


def test_take_trace_for_network_messages_advances_the_same_counter(journal):
    assert journal.take_trace("signon") == 1
    assert begin(journal).trace == 2


def test_fail_makes_the_reversal_pending_then_acknowledged_reverses(journal):
    txn = begin(journal)
    rev = journal.fail(txn.id, reason="98", error="no answer in 30 s")
    assert (rev.state, rev.reason, rev.trace) == ("pending", "98", txn.trace)
    assert journal.get(txn.id).state == "in_doubt"
    assert [r.id for r in journal.pending_reversals()] == [rev.id]
    after = journal.reversal_attempt(rev.id, {"mti": "0400", "39": "98"})
    assert after.tries == 1
    journal.reversal_acknowledged(rev.id, {"mti": "0410", "39": "00"})
    assert journal.get(txn.id).state == "reversed"
    assert journal.pending_reversals() == [] and journal.in_doubt().clean


def test_reversal_retries_run_out_into_manual_handling_never_dropped(journal):
    txn = begin(journal)
    rev = journal.fail(txn.id, reason="A0", error="bad MAC")
    for attempt in range(1, 4):
        journal.reversal_attempt(rev.id, {"mti": "0401"})
        rev = journal.reversal_failed(rev.id, "timeout", max_tries=3)
        assert rev.state == ("needs_manual" if attempt == 3 else "pending")
    assert journal.pending_reversals() == []
    assert [r.id for r in journal.in_doubt().needs_manual] == [rev.id]
    with pytest.raises(JournalError, match="not pending"):
        journal.reversal_attempt(rev.id, {"mti": "0401"})
    journal.reversal_handled(rev.id, note="confirmed with acquirer by phone", operator="sup1")
    assert journal.get(txn.id).state == "resolved_manually"
    assert journal.in_doubt().clean


def test_chip_decline_after_host_approval_reverses_with_reason_06(journal):
    txn = sale(journal)
    rev = journal.fail(txn.id, reason="06", error="card declined after approval")
    assert (rev.state, rev.reason) == ("pending", "06")
    assert journal.get(txn.id).state == "in_doubt"


def test_confirm_in_doubt_cancels_the_reversal(journal):
    txn = begin(journal)
    journal.fail(txn.id, reason="98", error="timeout")
    confirmed = journal.confirm_in_doubt(txn.id, approved=True, response_code="00", rrn="1", auth_code="A")
    assert confirmed.state == "approved"
    assert journal.pending_reversals() == [] and journal.in_doubt().clean


def test_illegal_transitions_name_transaction_and_states(journal):
    txn = journal.complete(begin(journal).id, approved=False, response_code="05", rrn=None, auth_code=None,
                           response=None)
    with pytest.raises(IllegalTransition, match=rf"transaction {txn.id}: 'approve' is not allowed in state 'declined'"):
        approve(journal, txn)
    assert journal.get(txn.id).state == "declined"


def test_transition_table_is_closed_and_terminal_states_have_no_exit():
    for machine in MACHINES:
        for (source, _event), target in machine.table.items():
            assert source in machine.states and target in machine.states, (machine.name, source)
    assert set(TRANSACTION.final_states()) == {"declined", "reversed", "voided", "refunded", "resolved_manually"}
    for state in ("declined", "reversed", "voided", "refunded"):
        with pytest.raises(IllegalTransition, match=f"transaction 1: 'approve' is not allowed in state '{state}'"):
            TRANSACTION.step(state, "approve", 1)


def test_void_marks_the_original_voided_and_excludes_it_from_totals(journal):
    original = sale(journal, 12000)
    sale(journal, 5000)
    void = approve(journal, begin(journal, "void", 12000, original_id=original.id, role="supervisor"))
    assert void.state == "approved" and journal.get(original.id).state == "voided"
    totals = journal.batch_totals(1)
    assert (totals.debit_amount, totals.debit_count, totals.credit_count) == (5000, 1, 0)
    with pytest.raises(JournalError, match="only an approved sale can be voided"):
        begin(journal, "void", 12000, original_id=original.id)


def test_void_must_match_the_amount_and_the_open_batch(journal):
    original = sale(journal, 12000)
    with pytest.raises(JournalError, match="original amount 12000"):
        begin(journal, "void", 2000, original_id=original.id)
    journal.begin_settlement(1)
    journal.finish_settlement(1)
    with pytest.raises(JournalError, match="no longer be voided, refund it instead"):
        begin(journal, "void", 12000, original_id=original.id)


def test_refunds_add_up_and_never_exceed_the_original(journal):
    original = sale(journal, 10000)
    assert journal.refundable_amount(original.id) == 10000
    first = approve(journal, begin(journal, "refund", 3000, original_id=original.id))
    assert journal.get(original.id).state == "refunded_partially"
    pending = begin(journal, "refund", 5000, original_id=original.id)
    assert journal.refundable_amount(original.id) == 2000  # a refund under way counts against it
    with pytest.raises(JournalError, match=r"exceeds what is still refundable .* \(2000\)"):
        begin(journal, "refund", 2001, original_id=original.id)
    journal.complete(pending.id, approved=False, response_code="05", rrn=None, auth_code=None, response=None)
    assert journal.refundable_amount(original.id) == 7000
    approve(journal, begin(journal, "refund", 7000, original_id=original.id))
    assert journal.get(original.id).state == "refunded"
    assert journal.refundable_amount(original.id) == 0
    totals = journal.batch_totals(1)
    assert (totals.debit_amount, totals.credit_amount, totals.credit_count) == (10000, 10000, 2)
    assert first.original_id == original.id


def test_repeated_client_request_is_refused_with_the_first_transaction(journal):
    first = begin(journal, client_request_id="till-7-0001")
    with pytest.raises(DuplicateRequest) as caught:
        begin(journal, client_request_id="till-7-0001")
    assert caught.value.existing.id == first.id
    assert journal.find_request("till-7-0001").id == first.id


def test_find_by_trace_rrn_amount_last4_batch_and_date(journal, clock):
    a = sale(journal, 12000, rrn="111111111111")
    clock.now += 86400
    b = sale(journal, 5000, pan=OTHER_PAN, rrn="222222222222")
    assert [t.id for t in journal.find(trace=a.trace)] == [a.id]
    assert [t.id for t in journal.find(rrn="222222222222")] == [b.id]
    assert [t.id for t in journal.find(amount=12000)] == [a.id]
    assert [t.id for t in journal.find(last4="0055")] == [b.id]
    assert [t.id for t in journal.find(batch=1)] == [b.id, a.id]
    import datetime as dt
    day = dt.datetime.fromtimestamp(clock.now).date().isoformat()
    assert [t.id for t in journal.find(date=day)] == [b.id]
    with pytest.raises(JournalError):
        journal.find(last4="12a4")
    with pytest.raises(NotFound):
        journal.get(999)


def test_duplicates_same_card_same_amount_within_the_window(journal, clock):
    a = sale(journal, 8800)
    clock.now += 30
    b = sale(journal, 8800)
    clock.now += 30
    sale(journal, 8800, pan=OTHER_PAN)
    clock.now += 3600
    late = sale(journal, 8800)
    groups = journal.suspected_duplicates(window_seconds=120)
    assert [[t.id for t in g] for g in groups] == [[a.id, b.id]]
    assert [t.id for t in journal.duplicates_of(journal.fingerprint(PAN), 8800, window_seconds=60)] == [late.id]
    assert journal.duplicates_of(journal.fingerprint(PAN), 8801, window_seconds=99999) == []


def test_a_purchase_links_original_void_refund_and_correction(journal):
    original = sale(journal, 1000)
    difference = sale(journal, 9000, purchase_id=original.id)
    refund = approve(journal, begin(journal, "refund", 500, original_id=difference.id))
    other = sale(journal, 1000)
    for member in (original, difference, refund):
        assert [t.id for t in journal.purchase(member.id)] == [original.id, difference.id, refund.id]
    assert [t.id for t in journal.purchase(other.id)] == [other.id]


def test_settlement_freezes_totals_uploads_resumably_and_opens_the_next_batch(journal):
    sale(journal, 1000, entry_mode="051")
    magstripe = sale(journal, 2000, entry_mode="022")
    in_flight = begin(journal, amount=300)
    with pytest.raises(JournalError, match="cannot be settled yet"):
        journal.begin_settlement(1)
    approve(journal, in_flight)
    settling = journal.begin_settlement(1)
    assert settling.state == "settling" and settling.totals.debit_amount == 3300
    assert journal.begin_settlement(1).state == "settling"  # resuming is harmless
    with pytest.raises(JournalError, match="being settled"):
        begin(journal)
    journal.record_settlement_result(1, domestic="2", foreign="1", response={"mti": "0510"})
    assert len(journal.upload_pending(1, ic_only=True)) == 2
    pending = journal.upload_pending(1, ic_only=False)
    assert [t.id for t in pending][1] == magstripe.id and len(pending) == 3
    journal.mark_uploaded(pending[0].id)
    assert [t.id for t in journal.upload_pending(1, ic_only=False)] == [t.id for t in pending[1:]]
    assert journal.uploaded_count(1) == 1
    settled = journal.finish_settlement(1)
    assert settled.state == "settled" and journal.finish_settlement(1).state == "settled"
    assert journal.open_batch().number == 2 and begin(journal).batch == 2
    assert journal.get(magstripe.id).batch_state == "settled"


def test_batch_number_wraps_and_is_set_by_the_host_only_while_empty(journal):
    journal.set_batch_number(999999)
    journal.begin_settlement(999999)
    journal.finish_settlement(999999)
    assert journal.open_batch().number == 1
    journal.set_batch_number(42)
    sale(journal)
    with pytest.raises(JournalError, match="already holds 1 transaction"):
        journal.set_batch_number(43)
    assert journal.batch_size(42) == 1


def test_state_and_operator_events_are_durable_and_chained(tmp_path, journal):
    assert journal.get_state("supervisor.failures") is None
    journal.set_state("supervisor.failures", "3")
    journal.record_event("operator.lockout", {"who": "supervisor", "minutes": 30}, operator="sup", role="supervisor")
    journal.close()
    again = Journal.open(tmp_path / "journal.db", fingerprint_key=KEY)
    assert again.get_state("supervisor.failures") == "3"
    assert again.verify().ok
    kinds = [r[0] for r in again.core.conn.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds[-2:] == ["state.set", "operator.lockout"]
    again.close()


def test_bad_arguments_are_refused_with_a_reason(journal):
    for kwargs, reason in (({"amount": 0}, "amount"), ({"amount": 10 ** 12}, "amount"), ({"amount": True}, "amount"),
                           ({"currency": "CNY"}, "currency"), ({"pan": "1234"}, "card number"),
                           ({"operator": ""}, "operator")):
        args = {"amount": 100, "currency": "156", "pan": PAN, "entry_mode": "051", "operator": "01", "role": "c"}
        args.update(kwargs)
        with pytest.raises(JournalError, match=reason):
            journal.begin("sale", request=lambda t, b: {}, **args)
    with pytest.raises(JournalError, match="unknown transaction kind"):
        journal.begin("balance", amount=1, currency="156", pan=None, entry_mode=None, operator="o", role="r",
                      request=lambda t, b: {})
    with pytest.raises(JournalError, match="98 .* A0 .* 06"):
        journal.fail(begin(journal).id, reason="99", error="x")
    with pytest.raises(JournalError, match="16 bytes"):
        Journal.open(journal.path, fingerprint_key=b"short")


def test_stored_messages_never_keep_track_pin_or_full_pan(journal):
    txn = journal.begin("sale", amount=100, currency="156", pan=PAN, entry_mode="021", operator="o", role="r",
                        request=lambda t, b: {"2": PAN, "35": PAN + "=25122010000000000", "52": "A1B2C3D4E5F60718",
                                              "55": {"57": PAN + "D2512", "9F6B": PAN + "D25", "9F26": "11AA334455667788"},
                                              "note": f"card {PAN} used"})
    body = journal.messages(txn.id)[0]["body"]
    assert body["35"] == body["52"] == body["55"]["57"] == body["55"]["9F6B"] == "[removed]"
    assert body["2"] == "622609******0048" and body["note"] == "card 622609******0048 used"
    assert body["55"]["9F26"] == "11AA334455667788"


def test_a_second_connection_sees_committed_rows_and_the_cache_follows_other_writers(tmp_path, journal):
    sale(journal)
    other = Journal.open(tmp_path / "journal.db", fingerprint_key=KEY)
    assert other.get(1).state == "approved"
    assert begin(other).trace == 2
    assert begin(journal).trace == 3  # the first connection re-reads what the other one wrote
    other.close()
    assert journal.verify().ok
    assert sqlite3.connect(tmp_path / "journal.db").execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_checkpoint_moves_the_wal_into_the_file_and_keeps_everything(tmp_path, journal):
    for _ in range(5):
        sale(journal)
    journal.checkpoint()
    busy, frames, copied = journal.core.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and frames == copied
    assert len(journal.find()) == 5 and journal.verify().ok


def test_without_the_fingerprint_key_cards_are_refused_but_maintenance_works(tmp_path, journal):
    sale(journal)
    keyless = Journal.open(journal.path, fingerprint_key=None)
    with pytest.raises(JournalError, match="without the fingerprint key"):
        begin(keyless)
    assert keyless.take_trace("echo") == 2 and keyless.verify().ok
    keyless.close()


def test_structured_numeric_fields_are_kept_as_evidence_while_pans_are_masked():
    from agent.journal.scrub import scrub_message
    stored = scrub_message({"mti": "0200", "fields": {"2": "6226090000000048", "42": "123456789012345",
                                                      "60": "2200000100050", "4": "000000012000",
                                                      "48": "0" * 62, "44": "6226090000000048"}})
    fields = stored["fields"]
    assert fields["42"] == "123456789012345" and fields["60"] == "2200000100050" and fields["48"] == "0" * 62
    assert fields["2"] == "622609******0048" and fields["44"] == "622609******0048"


def test_net_charged_counts_completed_sales_minus_approved_refunds(tmp_path):
    from agent.journal import Journal
    j = Journal.open(tmp_path / "j.db", fingerprint_key=b"k" * 32)
    request = lambda trace, batch: {"mti": "0200"}  # noqa: E731
    common = dict(currency="156", entry_mode="022", operator="c", role="cashier", request=request)
    sale = j.begin("sale", amount=10000, pan="6226090000000048", **common)
    j.complete(sale.id, approved=True, response_code="00", rrn="1", auth_code="A", response=None)
    lost = j.begin("sale", amount=500, pan="6226090000000048", **common)
    j.fail(lost.id, reason="98", error="timeout")
    refund = j.begin("refund", amount=2500, pan=None, original_id=sale.id, **common)
    j.complete(refund.id, approved=True, response_code="00", rrn="2", auth_code="B", response=None)
    declined = j.begin("sale", amount=700, pan="6250946000000016", **common)
    j.complete(declined.id, approved=False, response_code="51", rrn=None, auth_code=None, response=None)
    assert j.net_charged() == {"622609******0048": 7500}
    j.close()


def _legacy_armed_row(journal, txn):
    """What journals written before a "sending" row counted as the armed reversal hold: a row per request."""
    now = 1_700_000_000.0
    with journal.core.write("arm a reversal the old way") as w:
        w.insert("reversals", {"txn_id": txn.id, "trace": txn.trace, "tries": 0, "state": "armed",
                               "created_at": now, "updated_at": now})
    journal.reversals.legacy_armed = None  # as when such a journal is opened


def test_an_older_journals_armed_row_is_cleared_by_the_answer(journal):
    txn = begin(journal)
    _legacy_armed_row(journal, txn)
    approve(journal, txn)
    states = [r[0] for r in journal.core.conn.execute("SELECT state FROM reversals WHERE txn_id = ?", (txn.id,))]
    assert states == ["cleared"] and journal.in_doubt().clean and journal.verify().ok


def test_an_older_journals_armed_row_becomes_the_pending_reversal(journal):
    txn = begin(journal)
    _legacy_armed_row(journal, txn)
    rev = journal.fail(txn.id, reason="A0", error="MAC did not verify")
    rows = journal.core.conn.execute("SELECT id, state, reason FROM reversals WHERE txn_id = ?", (txn.id,)).fetchall()
    assert [tuple(r) for r in rows] == [(rev.id, "pending", "A0")]  # the same row, not a second reversal
    assert journal.verify().ok
    with pytest.raises(JournalError, match="reversal"):
        journal.begin_settlement(journal.open_batch().number)


def test_a_new_journal_uses_small_pages_and_an_older_one_keeps_its_own(tmp_path):
    from agent.journal.schema import PAGE_SIZE

    fresh = Journal.open(tmp_path / "new.db", fingerprint_key=KEY)
    try:
        assert fresh.core.conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    finally:
        fresh.close()
    older = tmp_path / "older.db"
    conn = sqlite3.connect(older)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("VACUUM")
    conn.close()
    j = Journal.open(older, fingerprint_key=KEY)
    try:
        approve(j, begin(j))
        assert j.core.conn.execute("PRAGMA page_size").fetchone()[0] == 4096 and j.verify().ok
    finally:
        j.close()
