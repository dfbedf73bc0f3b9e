"""The office's check of an arriving batch, its request format and a day's totals — no database, no I/O."""

from __future__ import annotations

import json

import pytest

from agent.journal.hashchain import GENESIS
from posoffice.chain import Cursor, check_batch
from posoffice.errors import WireError
from posoffice.report import day_totals
from posoffice.wire import MAX_BATCH_EVENTS, WireEvent, parse_batch
from tests.pgcluster import synthetic_chain


def wire(events: list[dict]) -> list[WireEvent]:
    return [WireEvent(**e) for e in events]


def held(events: list[dict]) -> dict[int, tuple[str, str]]:
    return {e["seq"]: (e["content_hash"], e["hash"]) for e in events}


CHAIN = synthetic_chain(10)


def test_a_chain_from_genesis_is_appended_and_the_cursor_follows_it():
    verdict = check_batch(Cursor.start(), {}, wire(CHAIN))
    assert verdict.problem is None and len(verdict.appended) == 10 and verdict.repeats == 0
    assert verdict.cursor == Cursor(10, CHAIN[-1]["hash"])


def test_events_the_office_holds_are_repeats_and_the_rest_is_appended():
    verdict = check_batch(Cursor(6, CHAIN[5]["hash"]), held(CHAIN[3:6]), wire(CHAIN[3:]))
    assert verdict.problem is None and verdict.repeats == 3 and [e.seq for e in verdict.appended] == [7, 8, 9, 10]


def test_a_repeat_inside_one_batch_is_a_repeat():
    verdict = check_batch(Cursor.start(), {}, wire(CHAIN[:3] + CHAIN[1:4]))
    assert verdict.problem is None and verdict.repeats == 2 and [e.seq for e in verdict.appended] == [1, 2, 3, 4]


def test_a_gap_is_refused_at_the_first_missing_event():
    verdict = check_batch(Cursor(3, CHAIN[2]["hash"]), {}, wire(CHAIN[5:]))
    assert verdict.problem.what == "gap" and verdict.problem.seq == 6 and "events 4..5 are missing" in \
        verdict.problem.detail
    assert verdict.appended == () and verdict.cursor.seq == 3


def test_a_fork_is_refused_where_the_chains_differ_and_what_came_before_is_kept():
    other = synthetic_chain(10, salt="b")
    verdict = check_batch(Cursor(4, CHAIN[3]["hash"]), held(CHAIN[:4]), wire(CHAIN[2:4] + other[4:]))
    assert verdict.problem.what == "broken_link" and verdict.problem.seq == 5  # its own chain, from event 5 on
    verdict = check_batch(Cursor(4, CHAIN[3]["hash"]), held(CHAIN[:4]), wire(other[2:]))
    assert verdict.problem.what == "fork" and verdict.problem.seq == 3 and verdict.repeats == 0


def test_an_altered_event_is_refused_even_when_it_repeats_one_the_office_holds():
    altered = dict(CHAIN[2], details=CHAIN[2]["details"].replace("\"amount\":200", "\"amount\":1"))
    assert altered["details"] != CHAIN[2]["details"]
    verdict = check_batch(Cursor.start(), {}, wire([*CHAIN[:2], altered]))
    assert verdict.problem.what == "altered" and verdict.problem.seq == 3 and len(verdict.appended) == 2
    repeated = dict(CHAIN[0], operator="99")
    verdict = check_batch(Cursor(2, CHAIN[1]["hash"]), held(CHAIN[:2]), wire([repeated]))
    assert verdict.problem.what == "altered" and verdict.problem.seq == 1


def test_an_event_rehashed_after_a_change_breaks_the_link():
    from agent.journal.hashchain import content_hash
    e = dict(CHAIN[4], operator="99")
    e["content_hash"] = content_hash(e["seq"], e["at"], e["txn_id"], e["kind"], e["operator"], e["role"], e["details"])
    verdict = check_batch(Cursor(4, CHAIN[3]["hash"]), {}, wire([e]))
    assert verdict.problem.what == "broken_link" and verdict.problem.seq == 5


def test_the_chain_starts_at_genesis():
    assert Cursor.start() == Cursor(0, GENESIS)
    verdict = check_batch(Cursor.start(), {}, wire(synthetic_chain(3, start=2)))
    assert verdict.problem.what == "gap" and verdict.problem.seq == 2


# ----------------------------------------------------------------------------- the request format
def body(**changes) -> bytes:
    return json.dumps({"terminal": "T1", "head": 10, "events": CHAIN[:2], **changes}).encode()


def test_a_well_formed_batch_parses():
    batch = parse_batch(body())
    assert batch.terminal == "T1" and batch.head == 10 and [e.seq for e in batch.events] == [1, 2]


@pytest.mark.parametrize("raw, says", [
    (b"{", "not JSON"),
    (body(terminal="T 1"), "terminal"),
    (body(events=[]), "non-empty list"),
    (body(head=-1), "head"),
    (body(extra=1), "unknown field"),
    (body(events=[dict(CHAIN[0], seq=0)]), "seq must be"),
    (body(events=[dict(CHAIN[0], at="now")]), "at must be"),
    (body(events=[dict(CHAIN[0], hash="ABC")]), "64 lowercase hex"),
    (body(events=[dict(CHAIN[0], details="[1]")]), "JSON object"),
    (body(events=[dict(CHAIN[0], details="{\"a\":\"\\u0000\"}")]), "NUL"),
    (body(events=[{k: v for k, v in CHAIN[0].items() if k != "kind"}]), "missing kind"),
])
def test_a_malformed_batch_is_refused_with_the_field_named(raw, says):
    with pytest.raises(WireError, match=says) as refused:
        parse_batch(raw)
    assert refused.value.status == 400


def test_a_batch_over_the_limit_is_refused_before_its_events_are_read():
    with pytest.raises(WireError, match=f"at most {MAX_BATCH_EVENTS}") as refused:
        parse_batch(body(events=[{}] * (MAX_BATCH_EVENTS + 1)))
    assert refused.value.status == 413


# ----------------------------------------------------------------------------- a day's totals
def outcome_events(terminal: str, txn_id: int, kind: str, amount: int, *after: tuple[str, dict]):
    rows = [(terminal, 0, txn_id, "txn.begin", 0.0, {"kind": kind, "amount": amount}),
            (terminal, 0, txn_id, "txn.complete", 0.0, {"state": "approved"})]
    rows += [(terminal, 0, txn_id, k, 0.0, d) for k, d in after]
    return rows


def test_a_day_adds_sales_refunds_and_voids_and_leaves_out_what_was_reversed():
    rows = (outcome_events("T1", 1, "sale", 10000) + outcome_events("T1", 2, "sale", 2500)
            + outcome_events("T1", 3, "void", 2500) + outcome_events("T1", 4, "refund", 3000)
            + outcome_events("T1", 5, "sale", 700, ("txn.fail", {}), ("reversal.done", {}))
            + outcome_events("T1", 6, "preauth", 9999) + outcome_events("T2", 1, "correction", 400))
    t1, t2 = day_totals(rows)
    assert (t1.sales.count, t1.sales.amount, t1.refunds.amount, t1.voids.amount, t1.net) == (2, 12500, 3000, 2500, 7000)
    assert (t2.terminal, t2.sales.count, t2.net) == ("T2", 1, 400)
