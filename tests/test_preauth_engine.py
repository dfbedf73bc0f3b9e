"""Pre-authorization (预授权) through the sans-IO engine against the real journal, the real codec and the
simulator's acquirer: every rule, every mistake's fix, and every wire fault at every step — each checked
on the acquirer's ledger (held and charged per card) as well as the journal."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agent.engine import fixes, operations as ops, preauth as pa, preauth_fixes, settlement
from agent.engine.effects import EngineError
from simulator.host.holds import held_amount
from tests.enginekit import (CASHIER, CORRUPT_MAC, DELIVER, LOSE_ANSWER, LOSE_REQUEST, PROFILE, REFUSE, SUPERVISOR,
                             WRONG_AMOUNT, World)

DAY = 86400


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def held(world: World, card: str = "debit") -> int:
    return held_amount(world.ledger, card, datetime.fromtimestamp(world.clock.now, timezone.utc))


def charged(world: World, card: str = "debit") -> int:
    return world.net_charged(card)


def hold(world: World, amount: int, card: str = "debit", **kw):
    return world.run(pa.preauth(PROFILE, pa.PreauthRequest(amount, test_card=card, **kw), SUPERVISOR))


def complete(world: World, trace: int, amount: int):
    return world.run(pa.complete(PROFILE, pa.CompleteRequest(trace, amount), CASHIER))


def void_hold(world: World, trace: int):
    return world.run(pa.preauth_void(PROFILE, pa.HoldRef(trace), SUPERVISOR))


def void_completion(world: World, trace: int):
    return world.run(pa.completion_void(PROFILE, pa.CompletionRef(trace), SUPERVISOR))


def correct(world: World, trace: int, amount: int, card: str = "debit"):
    return world.run(preauth_fixes.correct_any(PROFILE, fixes.CorrectRequest(trace, amount, test_card=card),
                                               SUPERVISOR))


def settle(world: World):
    return world.run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR))


def test_preauth_holds_and_completion_charges_and_releases(world):
    out = hold(world, 200000)
    assert out.status == "approved", out.message
    assert [m for m, _ in world.exchanges] == ["0800", "0100"]
    assert held(world) == 200000 and charged(world) == 0
    done = complete(world, out.txn.trace, 180000)
    assert done.status == "approved", done.message
    assert held(world) == 0 and charged(world) == 180000
    assert world.journal.net_charged() == {out.txn.pan_masked: 180000}
