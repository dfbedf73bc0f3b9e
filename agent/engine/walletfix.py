"""Wrong amount on a payment-code sale (S3 "scanned the customer and undercharged", S1 overcharged).

Undercharge: a new payment of the difference with a *new* code (a code pays once), linked to the
original in its chain.  Overcharge: a refund of the difference against the original (a void + re-sale
would need the customer's code again).  Never on top of an unknown outcome: that is resolved first.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.engine import fixes
from agent.engine.common import Gen
from agent.engine.effects import EngineError, Outcome
from agent.engine.operations import Operator, sale_by_trace
from agent.engine.requests import Profile
from agent.engine.wallet import WalletSaleRequest, _say, wallet_sale
from agent.engine.walletmsgs import WalletSettings
from agent.money import format_amount
from agent.journal.states import TxnState


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
    original = yield from fixes._resolve_uncertain(profile, original)
    trace = f"{original.trace:06d}"
    earlier, charged = yield from fixes.purchase_standing(profile, original)  # counting earlier corrections
    if original.state not in (TxnState.APPROVED, TxnState.REFUNDED_PARTIALLY) and not earlier:
        raise EngineError(_say(profile, "not_correctable", trace=trace, state=original.state),
                          code="not_correctable", txn_id=original.id)
    if request.right_amount == charged:
        raise EngineError(_say(profile, "nothing_to_correct", trace=trace,
                               amount=format_amount(charged, profile.currency_exponent)),
                          code="usage", txn_id=original.id)
    if request.right_amount < charged:
        outcome = yield from fixes.correct(profile, fixes.CorrectRequest(original.trace, request.right_amount,
                                                                         method="refund"), operator)
        return outcome
    difference = request.right_amount - charged
    outcome = yield from wallet_sale(profile, settings, WalletSaleRequest(
        difference, request.code, confirm_duplicate=True, kind="correction", original_id=original.id,
        chain_id=original.chain_id or original.id), operator, scan_timeout=scan_timeout)
    lead = _say(profile, "undercharged", trace=trace, amount=format_amount(difference, profile.currency_exponent))
    return Outcome("correct", outcome.status, lead + outcome.message, txn=outcome.txn, steps=outcome.steps,
                   details={**outcome.details, "original_id": original.id, "method": "linked_wallet_payment"})
