"""Wrong amount on a payment-code sale (S3 "scanned the customer and undercharged", S1 overcharged).

Undercharge: a new payment of the difference with a *new* code (a code pays once), linked to the
original in its fix.  Overcharge: a refund of the difference against the original (a void + re-sale
would need the customer's code again).  Never on top of an unknown outcome: that is resolved first.

`correct TRACE --amount` without a code reaches `correct_without_code` (through
`routes.correct_any`, which knows a payment-code sale by `is_wallet_payment`): an overcharge is
refunded to the wallet, an undercharge is refused with what is needed (the customer's new code) —
never a card asked for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from agent.engine import fixes
from agent.engine.common import Gen
from agent.engine.effects import EngineError, Outcome
from agent.engine.purchases import Operator, sale_by_trace
from agent.engine.port import ask
from agent.engine.requests import Profile
from agent.engine.wallet.plans import WalletSaleRequest, wallet_say, wallet_sale
from agent.engine.wallet.messages import WalletSettings
from agent.journal.states import TxnState
from agent.paycodes import wallet_of_masked

#: POS entry mode 03x, read from a barcode: how a payment code is entered, never a card (receipts tell them apart so too)
BARCODE_ENTRY = "03"


def is_wallet_payment(txn: Any) -> bool:
    """A sale paid with a payment code: entered from a barcode and journaled with a wallet's masked code."""
    return (txn.kind in ("sale", "correction") and (txn.entry_mode or "").startswith(BARCODE_ENTRY)
            and bool(txn.pan_masked) and wallet_of_masked(txn.pan_masked) is not None)


@dataclass(frozen=True)
class WalletCorrectRequest:
    trace: int
    right_amount: int
    code: str | None = None  # the customer's new code, for an undercharge; None: scan it

    def __repr__(self) -> str:
        return f"WalletCorrectRequest(trace={self.trace}, right_amount={self.right_amount})"


def wallet_correct(profile: Profile, settings: WalletSettings, request: WalletCorrectRequest, operator: Operator,
                   *, scan_timeout: float = 30.0) -> Gen:
    original = yield from sale_by_trace(profile, request.trace)
    original = yield from fixes.resolve_uncertain(profile, original)
    trace = f"{original.trace:06d}"
    earlier, charged = yield from fixes.purchase_standing(profile, original)  # counting earlier corrections
    if original.state not in (TxnState.APPROVED, TxnState.REFUNDED_PARTIALLY) and not earlier:
        raise EngineError(wallet_say(profile, "not_correctable", trace=trace, state=original.state),
                          code="not_correctable", txn_id=original.id)
    if request.right_amount == charged:
        raise EngineError(wallet_say(profile, "nothing_to_correct", trace=trace,
                               amount=profile.money(charged)),
                          code="usage", txn_id=original.id)
    if request.right_amount < charged:
        outcome = yield from fixes.correct(profile, fixes.CorrectRequest(original.trace, request.right_amount,
                                                                         method="refund"), operator)
        return outcome
    difference = request.right_amount - charged
    outcome = yield from wallet_sale(profile, settings, WalletSaleRequest(
        difference, request.code, confirm_duplicate=True, kind="correction", original_id=original.id,
        purchase_id=original.purchase_id or original.id), operator, scan_timeout=scan_timeout)
    lead = wallet_say(profile, "undercharged", trace=trace, amount=profile.money(difference))
    return Outcome("correct", outcome.status, lead + outcome.message, txn=outcome.txn, steps=outcome.steps,
                   details={**outcome.details, "original_id": original.id, "method": "linked_wallet_payment"})


def correct_without_code(profile: Profile, request: fixes.CorrectRequest, operator: Operator) -> Gen:
    """`correct TRACE --amount` on a payment-code sale, no new code given: too much → the difference refunded
    to the wallet (as `fixes.correct` refunds, fix and all); too little → refused, naming the customer's
    new code as what is needed.  A fix left open, or `--resume`, is finished by `fixes.correct` (its steps
    are refunds: no card)."""
    original = yield from sale_by_trace(profile, request.trace)
    trace = f"{original.trace:06d}"
    fix = yield from ask.open_fix_of(original.id)
    if fix is not None or request.resume or request.right_amount is None or request.right_amount <= 0:
        return (yield from fixes.correct(profile, request, operator))
    original = yield from fixes.resolve_uncertain(profile, original)
    earlier, charged = yield from fixes.purchase_standing(profile, original)
    correctable = earlier or original.state in (TxnState.APPROVED, TxnState.REFUNDED_PARTIALLY)
    if correctable and request.right_amount > charged:
        raise EngineError(wallet_say(profile, "undercharge_needs_code", trace=trace,
                               amount=profile.money(request.right_amount - charged),
                               right=profile.money(request.right_amount)),
                          code="usage", txn_id=original.id)
    if correctable and request.right_amount < charged and request.method == "resale":
        raise EngineError(wallet_say(profile, "resale_needs_code", trace=trace), code="usage", txn_id=original.id)
    return (yield from fixes.correct(profile, dataclasses.replace(request, method="refund"), operator))
