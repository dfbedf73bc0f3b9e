"""The reconciliation rule, for all days: random operations on the simulator's real acquirer (its
message processing and ledger) through the real engine, journal and codec; random statement faults →
the reconciler reports exactly the injected findings, no more and no fewer, and they add up to the
difference between what the statement credits and what the journal and contract say is owed."""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from agent.engine import fixes, purchases as ops, settlement
from agent.engine.card import sale as card_sale
from agent.engine.preauth import plans as preauth
from agent.engine.effects import EngineError
from agent.reconcile.fees import DEFAULT_CONTRACT
from agent.reconcile.formats import FORMATS
from agent.reconcile.reconciler import reconcile
from agent.reconcile.run import load_facts
from agent.reconcile.render import render_statement
from agent.reconcile.statement import parse_statement
from simulator.host.statement import build_statement, statement_line
from simulator.host.statement_faults import STATEMENT_FAULT_KINDS, StatementFault, apply_faults
from tests.enginekit import CASHIER, DELIVER, LOSE_ANSWER, LOSE_REQUEST, PROFILE, SUPERVISOR, World

CREDIT_BINS = ("625094",)


@pytest.fixture(autouse=True, scope="module")
def utc():
    """The simulated host stamps in UTC; the journal's days are local: make them the same day."""
    was = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if was is None:
        os.environ.pop("TZ")
    else:
        os.environ["TZ"] = was
    time.tzset()


a_sale = st.tuples(st.just("sale"), st.sampled_from(["debit", "credit"]), st.integers(1, 3_000_000),
                  st.sampled_from([DELIVER, DELIVER, DELIVER, LOSE_ANSWER, LOSE_REQUEST]))
operation = st.one_of(
    a_sale, a_sale, a_sale,
    st.tuples(st.just("void"), st.integers(0, 40)),
    st.tuples(st.just("refund"), st.integers(0, 40), st.integers(1, 100)),
    st.tuples(st.just("correct"), st.integers(0, 40), st.integers(1, 99)),
    st.tuples(st.just("settle")),
    # pre-authorization: holds are never on the statement, completions are settled like sales
    st.tuples(st.just("preauth"), st.sampled_from(["debit", "credit"]), st.integers(1, 2_000_000)),
    st.tuples(st.just("complete"), st.integers(0, 40), st.integers(1, 100)),
    st.tuples(st.just("completion_void"), st.integers(0, 40)),
    st.tuples(st.just("release"), st.integers(0, 40)),
)
fault = st.builds(StatementFault, kind=st.sampled_from(list(STATEMENT_FAULT_KINDS)), count=st.integers(1, 2),
                  seed=st.integers(0, 10**6))


def play(world: World, day: list[tuple]) -> None:
    sales, holds, completions = [], [], []
    for step in day:
        fate = step[3] if step[0] == "sale" else DELIVER
        left = {"n": 1}

        def wire(message, fate=fate, left=left):
            if message is not None and message.mti == "0200" and left["n"] > 0:
                left["n"] -= 1
                return fate
            return DELIVER
        world.wire = wire
        try:
            if step[0] == "sale":
                outcome = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(step[2], test_card=step[1]), CASHIER))
                if outcome.txn is not None:
                    sales.append(outcome.txn)
            elif step[0] == "preauth":
                outcome = world.run(preauth.preauth(PROFILE, preauth.PreauthRequest(step[2], test_card=step[1]),
                                                    CASHIER))
                if outcome.txn is not None:
                    holds.append(outcome.txn)
            elif step[0] in ("complete", "release"):
                if holds:
                    held = holds[step[1] % len(holds)]
                    if step[0] == "release":
                        world.run(preauth.release(PROFILE, preauth.HoldRef(held.trace), SUPERVISOR))
                    else:
                        amount = max(1, held.amount * step[2] // 100)
                        outcome = world.run(preauth.complete(PROFILE, preauth.CompleteRequest(held.trace, amount),
                                                             CASHIER))
                        if outcome.txn is not None:
                            completions.append(outcome.txn)
                            sales.append(outcome.txn)  # a completion can be refunded like a sale
            elif step[0] == "completion_void":
                if completions:
                    done = completions[step[1] % len(completions)]
                    world.run(preauth.completion_void(PROFILE, preauth.CompletionRef(done.trace), SUPERVISOR))
            elif step[0] == "settle":
                world.run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR))
            elif sales:
                original = sales[step[1] % len(sales)]
                if step[0] == "void":
                    world.run(ops.void(PROFILE, ops.VoidRequest(original.trace), SUPERVISOR))
                elif step[0] == "refund":
                    amount = max(1, original.amount * step[2] // 100)
                    world.run(ops.refund(PROFILE, ops.RefundRequest(trace=original.trace, amount=amount), SUPERVISOR))
                else:
                    right = max(1, original.amount * step[2] // 100)
                    world.run(fixes.correct(PROFILE, fixes.CorrectRequest(original.trace, right, test_card="debit"),
                                            SUPERVISOR))
        except EngineError:
            pass  # refused by the rules (void after settlement, refund beyond the original...): part of a day
    world.wire = lambda message: DELIVER
    world.run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR))


def findings(report) -> Counter:
    """Each finding, and each line of another terminal (listed apart, no effect on this terminal's claim)."""
    return Counter([(d.kind, d.as_dict()["rrn"], d.effect) for d in report.discrepancies] +
                   [("other_terminal", line.rrn, 0) for line in report.other_terminals])


def injected(applied: list[dict]) -> Counter:
    out = Counter((a["finding"], a["rrn"], a["effect"]) for a in applied if a["finding"] != "total_differs")
    shift = sum(a["effect"] for a in applied if a["finding"] == "total_differs")
    if shift:
        out[("total_differs", None, shift)] += 1
    return out


@settings(max_examples=int(os.environ.get("RECONCILE_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(day=st.lists(operation, min_size=3, max_size=14), faults=st.lists(fault, min_size=0, max_size=6),
       fmt=st.sampled_from(list(FORMATS.values())), data=st.data())
def test_the_reconciler_reports_exactly_the_injected_faults_and_they_add_up(day, faults, fmt, data):
    encoding = data.draw(st.sampled_from(fmt.allowed_encodings))
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            play(world, day)
            date = datetime.fromtimestamp(world.clock.now, timezone.utc).strftime("%Y%m%d")
            clean, reversed_rows = build_statement(world.ledger.path, date, world.cards, DEFAULT_CONTRACT,
                                                   merchant=PROFILE.merchant_id)

            def make_line(row):
                return statement_line(row, date, world.cards[row["card_name"]].card_type, DEFAULT_CONTRACT)

            faulty, applied = apply_faults(clean, faults, reversed_rows, make_line=make_line,
                                           contract=DEFAULT_CONTRACT)
            facts = load_facts(world.journal)
            for kind in sorted({a["fault"] for a in applied}):
                event(f"applied {kind}")
        finally:
            world.close()
    for statement, expected in ((clean, Counter()), (faulty, injected(applied))):
        parsed = parse_statement(render_statement(statement, fmt, encoding=encoding), fmt, encoding=encoding,
                                 expect_date=date)
        report = reconcile(facts, parsed, DEFAULT_CONTRACT, terminal_id=PROFILE.terminal_id,
                           credit_bins=CREDIT_BINS)
        assert findings(report) == expected
        assert report.explained == report.difference and report.unexplained == 0
        assert report.difference == sum(a for _, _, a in expected.elements()) or not expected
        assert report.balanced == (not [k for k in expected if k[0] != "other_terminal"])
        assert report.statement_credit == statement.credit
    assert report.credited - clean.credit == report.difference  # the clean statement is what is owed


RICH_DAY = [("sale", "debit", 12345, DELIVER), ("sale", "credit", 500000, DELIVER), ("sale", "debit", 7777, LOSE_ANSWER),
            ("sale", "debit", 450000, DELIVER), ("void", 3), ("refund", 1, 10), ("settle",),
            ("sale", "credit", 999, DELIVER), ("refund", 0, 50), ("correct", 4, 50),
            ("preauth", "debit", 80000), ("preauth", "credit", 300000), ("preauth", "debit", 5000),
            ("complete", 0, 90), ("complete", 1, 100), ("completion_void", 1), ("release", 2), ("refund", 6, 30)]


@pytest.mark.parametrize("kind", list(STATEMENT_FAULT_KINDS))
def test_each_fault_kind_on_a_full_day_is_found_as_its_own_finding(tmp_path, kind):
    world = World(tmp_path)
    try:
        play(world, RICH_DAY)
        date = datetime.fromtimestamp(world.clock.now, timezone.utc).strftime("%Y%m%d")
        clean, reversed_rows = build_statement(world.ledger.path, date, world.cards, DEFAULT_CONTRACT)
        faulty, applied = apply_faults(
            clean, [StatementFault(kind, count=1, seed=3)], reversed_rows, contract=DEFAULT_CONTRACT,
            make_line=lambda row: statement_line(row, date, world.cards[row["card_name"]].card_type, DEFAULT_CONTRACT))
        facts = load_facts(world.journal)
    finally:
        world.close()
    assert len(applied) == 1 and applied[0]["finding"] == STATEMENT_FAULT_KINDS[kind][1]
    report = reconcile(facts, faulty, DEFAULT_CONTRACT, terminal_id=PROFILE.terminal_id, credit_bins=CREDIT_BINS)
    assert findings(report) == injected(applied)
    assert report.difference == applied[0]["effect"] == faulty.credit - clean.credit - report.other_terminals_net
    assert not reconcile(facts, clean, DEFAULT_CONTRACT, terminal_id=PROFILE.terminal_id,
                         credit_bins=CREDIT_BINS).discrepancies


def test_completions_are_stated_and_holds_are_not(tmp_path):
    world = World(tmp_path)
    try:
        play(world, RICH_DAY)
        date = datetime.fromtimestamp(world.clock.now, timezone.utc).strftime("%Y%m%d")
        clean, _ = build_statement(world.ledger.path, date, world.cards, DEFAULT_CONTRACT)
        facts = load_facts(world.journal)
    finally:
        world.close()
    kinds = Counter(line.txn_type for line in clean.lines)
    assert kinds["completion"] == 2 and kinds["completion_void"] == 1
    assert not {"preauth", "preauth_void"} & set(kinds)
    void = next(x for x in clean.lines if x.txn_type == "completion_void")
    done = next(x for x in clean.lines if x.txn_type == "completion" and x.amount == -void.amount)
    assert void.fee == -done.fee and void.net == -done.net  # the void gives the completion's fee back
    for fmt in FORMATS.values():
        raw = render_statement(clean, fmt, encoding=fmt.allowed_encodings[0])
        if fmt.encoding.lower() == "gbk":
            assert "预授权完成撤销".encode("gbk") in raw
        parsed = parse_statement(raw, fmt, encoding=fmt.allowed_encodings[0], expect_date=date)
        report = reconcile(facts, parsed, DEFAULT_CONTRACT, terminal_id=PROFILE.terminal_id, credit_bins=CREDIT_BINS)
        assert report.balanced, report.discrepancies
    # the journal knows the completions: a statement that drops one is a finding, to the cent
    dropped = next(x for x in clean.lines if x.txn_type == "completion" and x.amount != -void.amount)
    short = type(clean)(**{**clean.__dict__, "lines": tuple(x for x in clean.lines if x is not dropped),
                           "credit": clean.credit - dropped.net})
    report = reconcile(facts, short, DEFAULT_CONTRACT, terminal_id=PROFILE.terminal_id, credit_bins=CREDIT_BINS)
    assert [(d.kind, d.effect) for d in report.discrepancies] == [("not_credited", -dropped.net)]
