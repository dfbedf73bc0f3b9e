"""The rows a reconciliation reads: what PostgreSQL selects from the events equals what the office derives from
the same events in Python (one meaning of a field, whichever side reads it), and the remembered local day
equals the day formatted afresh, across clock changes."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.journal.hashchain import canonical
from posoffice import db, store
from posoffice.report import DayOf, _date, event_row, transactions, transactions_of_rows
from tests.pgcluster import office_dsn, pg_cluster  # noqa: F401

#: details as the journal writes them, and as an older or a damaged one might: wrong types count as absent
ODD_DETAILS = [
    {"kind": "sale", "amount": 1200, "trace": 2, "batch": 1, "card": "622609******0048", "rows": []},
    {"state": "approved", "rrn": " 000000000042 ", "auth_code": "A1B2C3"},
    {"kind": "sale", "amount": True, "trace": 3, "batch": 1},  # a boolean is not an amount
    {"kind": "sale", "amount": 12.5, "trace": 4, "batch": 1},  # nor a fraction
    {"kind": "sale", "amount": "900", "trace": 5, "batch": 1},  # nor a text
    {"kind": "refund", "amount": 10 ** 18, "trace": 6, "batch": 1},  # nor one beyond bigint's reach
    {"kind": "refund", "amount": 300, "trace": 7, "batch": 1, "original": None, "original_rrn": 42,
     "original_date": "1203", "fingerprint": ""},
    {"state": 5, "rrn": ["x"]},
    {"kind": ["sale"], "amount": 1, "trace": 1, "batch": 1},
    {"batch": 1, "next": 2},
    {"kind": "void", "amount": -5, "trace": 8, "batch": 2, "original": 1, "card": "   "},
    {},
]
KINDS = ["txn.begin", "txn.complete", "txn.begin", "txn.begin", "txn.begin", "txn.begin", "txn.begin",
         "txn.complete", "txn.begin", "settlement.finish", "txn.begin", "txn.confirmed"]
TXN_IDS = [1, 1, 3, 4, 5, 6, 7, 7, 9, None, 11, 11]


def test_the_database_selects_the_rows_python_derives_from_the_same_events(office_dsn):
    events = [("T1", seq, txn_id, kind, 1_764_000_000.0 + seq, details)
              for seq, (txn_id, kind, details) in enumerate(zip(TXN_IDS, KINDS, ODD_DETAILS), 1)]
    with db.connect(office_dsn) as conn:
        db.migrate(conn)
        with conn.transaction():
            conn.execute("INSERT INTO terminals (id, merchant_id, credential_hash) VALUES ('T1', 'M1', 'x')")
            for terminal, seq, txn_id, kind, at, details in events:
                conn.execute("INSERT INTO events (terminal, seq, at, kind, txn_id, details_text, details, "
                             "content_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, 'c', 'h')",
                             (terminal, seq, at, kind, txn_id, canonical(details), canonical(details)))
        rows = store.transaction_rows(conn, ["T1"])
    assert rows == [event_row(e) for e in events]
    got = transactions_of_rows(rows)
    assert got == transactions(events)
    assert [(t.txn_id, t.kind, t.amount, t.state) for t in got] == [
        (1, "sale", 1200, "approved"), (7, "refund", 300, None), (11, "void", -5, None)]
    assert (got[0].rrn, got[0].card, got[0].settled_at) == ("000000000042", "622609******0048", events[9][4])
    assert (got[1].original_rrn, got[1].original_date, got[1].fingerprint) == (None, "1203", None)
    assert (got[2].original, got[2].card, got[2].settled_at) == (1, None, None)


ZONES = [None, ZoneInfo("UTC"), ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/London"),
         ZoneInfo("America/Santiago"),  # its clock changes at midnight: some days start at 01:00
         ZoneInfo("Australia/Lord_Howe"),  # a half-hour change
         ZoneInfo("Asia/Kathmandu")]  # +05:45


@settings(max_examples=60, deadline=None)
@given(zone=st.sampled_from(ZONES), start=st.integers(0, 2_000_000_000),
       steps=st.lists(st.integers(0, 4 * 86400), min_size=1, max_size=60), shuffle=st.booleans())
def test_a_remembered_day_is_the_day_formatted_afresh(zone, start, steps, shuffle):
    moments, at = [], float(start)
    for step in steps:
        at += step + 0.5
        moments.append(at)
    if shuffle:
        random.Random(start).shuffle(moments)
    day_of = DayOf(zone)
    assert [day_of(m) for m in moments] == [_date(m, zone) for m in moments]


@pytest.mark.parametrize("zone,around", [
    (ZoneInfo("America/Santiago"), datetime(2024, 9, 8, 4, 0, tzinfo=timezone.utc)),  # 00:00 → 01:00
    (ZoneInfo("America/Santiago"), datetime(2024, 4, 7, 3, 0, tzinfo=timezone.utc)),  # 00:00 → 23:00
    (ZoneInfo("Europe/London"), datetime(2024, 3, 31, 1, 0, tzinfo=timezone.utc)),
])
def test_every_second_around_a_clock_change_at_or_near_midnight_gets_its_own_day(zone, around):
    day_of = DayOf(zone)
    moments = [around.timestamp() + s for s in range(-3 * 3600, 3 * 3600, 7)]
    assert [day_of(m) for m in moments] == [_date(m, zone) for m in moments]
