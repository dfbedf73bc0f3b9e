"""Pre-authorization at the acquirer: holds kept apart from charges, and the host's rules.

A pre-auth (0100, 60.1 = 10) *holds* its amount on the card; a pre-auth void (11) or expiry releases
it; a completion (0200, 60.1 = 20) releases the hold and *charges* (a completion is a charge row like
a sale, so the ledger's net charge and the settlement totals count it); a completion void (21) takes
the charge back and the hold returns, so the pre-auth can be completed again.  A reversal of any of
them undoes it like any other reversal (the row's `reversed_at`).

Holds are derived from the rows, never stored: a card's held amount = its approved, unreversed
pre-auths, not voided, not completed, younger than the validity period.

Host rules: a completion may exceed its pre-auth by at most `tolerance_percent` (13 otherwise), only
one live completion per pre-auth and none after expiry or a void (12), a completion void only in the
open batch (12) and for the completion's amount (64).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.iso8583 import CodecError
from agent.iso8583.subfields import Field61
from simulator.host import codes
from simulator.host.financial import answer_for, authorize_debit, precheck, record
from simulator.host.ledger import Ledger, Txn, _txn

if TYPE_CHECKING:
    from agent.iso8583 import Message
    from simulator.host.processing import HostProcessor, Request


@dataclass(frozen=True)
class HoldRules:
    tolerance_percent: int = 15
    validity_days: int = 30


DEFAULT_RULES = HoldRules()

_LIVE = "response_code = '00' AND reversed_at IS NULL"
_PREAUTH_VOIDED = f"EXISTS (SELECT 1 FROM txns v WHERE v.orig_id = p.id AND v.kind = 'preauth_void' AND v.{_LIVE})"
_COMPLETED = (f"EXISTS (SELECT 1 FROM txns c WHERE c.orig_id = p.id AND c.kind = 'completion' AND c.{_LIVE} "
              f"AND NOT EXISTS (SELECT 1 FROM txns cv WHERE cv.orig_id = c.id AND cv.kind = 'completion_void' "
              f"AND cv.{_LIVE}))")
_OPEN = f"p.kind = 'preauth' AND p.{_LIVE} AND NOT {_PREAUTH_VOIDED} AND NOT {_COMPLETED}"


def rules_of(host: HostProcessor) -> HoldRules:
    return getattr(host, "hold_rules", None) or DEFAULT_RULES


def _cutoff(now: datetime, rules: HoldRules) -> str:
    return (now - timedelta(days=rules.validity_days)).isoformat()


# -- ledger questions ------------------------------------------------------------------------------
def held_amount(ledger: Ledger, card: str, now: datetime, rules: HoldRules = DEFAULT_RULES) -> int:
    """What the card's open, unexpired pre-auths hold (minor units)."""
    row = ledger.read(f"SELECT COALESCE(SUM(p.amount), 0) FROM txns p WHERE p.card = ? AND {_OPEN} "
                      "AND p.created_at > ?", (card, _cutoff(now, rules)))
    return int(row[0][0])


def open_holds(ledger: Ledger, now: datetime, tid: str | None = None,
               rules: HoldRules = DEFAULT_RULES) -> list[dict[str, Any]]:
    """Every open pre-auth (expired ones flagged: the issuer no longer holds them), oldest first."""
    where, params = ("AND p.tid = ?", (tid,)) if tid else ("", ())
    cutoff = _cutoff(now, rules)
    return [{"terminal": r["tid"], "card": r["card"], "masked_pan": r["masked_pan"], "amount": int(r["amount"]),
             "rrn": r["rrn"], "batch": r["batch"], "stan": r["stan"], "held_since": r["created_at"],
             "expired": r["created_at"] <= cutoff}
            for r in ledger.read(f"SELECT * FROM txns p WHERE {_OPEN} {where} ORDER BY p.created_at, p.id", params)]


def hold_report(ledger: Ledger, now: datetime, tid: str | None = None,
                rules: HoldRules = DEFAULT_RULES) -> dict[str, Any]:
    """Per card: what is held now; and the open holds themselves (for `posim host ledger`)."""
    holds = open_holds(ledger, now, tid, rules)
    per_card: dict[str, int] = {}
    for hold in holds:
        if not hold["expired"] and hold["card"]:
            per_card[hold["card"]] = per_card.get(hold["card"], 0) + hold["amount"]
    return {"held": per_card, "holds": holds}


def _is_open(ledger: Ledger, preauth_id: int) -> bool:
    return bool(ledger.read(f"SELECT 1 FROM txns p WHERE p.id = ? AND {_OPEN}", (preauth_id,)))


def _completion_live(ledger: Ledger, completion_id: int) -> bool:
    return bool(ledger.read(
        f"SELECT 1 FROM txns c WHERE c.id = ? AND c.{_LIVE} AND NOT EXISTS (SELECT 1 FROM txns cv WHERE "
        f"cv.orig_id = c.id AND cv.kind = 'completion_void' AND cv.{_LIVE})", (completion_id,)))


def _preauth_by_rrn(ledger: Ledger, rrn: str) -> Txn | None:
    rows = ledger.read("SELECT * FROM txns WHERE rrn = ? AND kind = 'preauth'", (rrn,))
    return _txn(rows[0]) if rows else None


def _created_at(ledger: Ledger, txn_id: int) -> str:
    return str(ledger.read("SELECT created_at FROM txns WHERE id = ?", (txn_id,))[0][0])


def _original_by_trace(host: HostProcessor, req: Request) -> tuple[Txn | None, str | None]:
    try:
        f61 = Field61.parse(req.msg[61])
    except (KeyError, CodecError):
        return None, codes.FORMAT_ERROR
    return host.ledger.find_by_trace(req.tid, f61.orig_batch, f61.orig_trace), None


# -- handlers (rows of processing.ROUTES) ----------------------------------------------------------
def preauth(host: HostProcessor, req: Request) -> Message:
    """A hold: checked like a sale against what the card has left, recorded as a pre-auth."""
    return authorize_debit(host, req, "preauth")


def preauth_void(host: HostProcessor, req: Request) -> Message:
    bad = precheck(host, req)
    if bad:
        return host.answer(req, bad)
    original, bad = _original_by_trace(host, req)
    if bad:
        return host.answer(req, bad)
    card = host.cards.get(original.card) if original and original.card else None
    if original is None or original.kind != "preauth" or (req.msg.get(37) and req.msg[37] != original.rrn):
        code = codes.ORIGINAL_NOT_FOUND
    elif not _is_open(host.ledger, original.id):
        code = codes.INVALID_TRANSACTION  # declined, reversed, already voided or completed
    elif req.amount != original.amount:
        code = codes.ORIGINAL_AMOUNT_WRONG
    else:
        code = codes.APPROVED
    txn = record(host, req, "preauth_void", card, None, req.amount, code, original.id if original else None)
    return answer_for(host, req, txn)


def completion_advice(host: HostProcessor, req: Request) -> Message:
    """The offline completion (0220): the same rules; a repeated advice (same STAN) is answered again
    as it was the first time, never charged twice."""
    earlier = host.ledger.find_by_trace(req.tid, req.batch, req.stan)
    if earlier is not None and earlier.kind == "completion" and earlier.amount == req.amount:
        return answer_for(host, req, earlier)
    return completion(host, req)


def completion(host: HostProcessor, req: Request) -> Message:
    bad = precheck(host, req)
    if bad:
        return host.answer(req, bad)
    rules = rules_of(host)
    amount = req.amount
    rrn, auth = req.msg.get(37), req.msg.get(38)
    try:
        orig_date = Field61.parse(req.msg[61]).orig_date if 61 in req.msg else ""
    except CodecError:
        return host.answer(req, codes.FORMAT_ERROR)
    original = _preauth_by_rrn(host.ledger, rrn) if isinstance(rrn, str) else None
    card = host.cards.get(original.card) if original and original.card else None
    if original is None or auth != original.auth_code or (orig_date.strip("0") and orig_date != original.local_date):
        code = codes.ORIGINAL_NOT_FOUND
    elif not _is_open(host.ledger, original.id):
        code = codes.INVALID_TRANSACTION  # one completion per pre-auth; none after a void
    elif _created_at(host.ledger, original.id) <= _cutoff(req.now, rules):
        code = codes.INVALID_TRANSACTION  # the pre-auth has expired
    elif amount * 100 > original.amount * (100 + rules.tolerance_percent):
        code = codes.INVALID_AMOUNT  # above the tolerance
    elif card is not None and amount > (card.balance - host.ledger.card_net_charged(card.name)
                                        - held_amount(host.ledger, card.name, req.now, rules) + original.amount):
        code = codes.INSUFFICIENT_FUNDS
    else:
        code = codes.APPROVED
    txn = record(host, req, "completion", card, None, amount, code, original.id if original else None)
    return answer_for(host, req, txn)


def completion_void(host: HostProcessor, req: Request) -> Message:
    bad = precheck(host, req)
    if bad:
        return host.answer(req, bad)
    original, bad = _original_by_trace(host, req)
    if bad:
        return host.answer(req, bad)
    card = host.cards.get(original.card) if original and original.card else None
    if original is None or original.kind != "completion" or (req.msg.get(37) and req.msg[37] != original.rrn):
        code = codes.ORIGINAL_NOT_FOUND
    elif (not _completion_live(host.ledger, original.id) or original.batch != req.batch
          or host.ledger.refunded_amount(original.id)):
        code = codes.INVALID_TRANSACTION  # declined, reversed, voided, refunded or in a settled batch
    elif req.amount != original.amount:
        code = codes.ORIGINAL_AMOUNT_WRONG
    else:
        code = codes.APPROVED
    txn = record(host, req, "completion_void", card, None, req.amount, code, original.id if original else None)
    return answer_for(host, req, txn)
