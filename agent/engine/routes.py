"""Which family's fix a trace or an id goes to: `posagent correct TRACE --amount` and `duplicates --fix ID`
cover card sales, pre-auth completions and holds, and payment-code sales with one command each.

- a completion's trace → the pre-auth family's fix (`preauth.fixes.correct_completion`);
- a payment-code sale's trace → the wallet's fix (`wallet.fixes.correct_without_code`: a refund to the
  wallet, never a card read);
- any other trace → the card sale's fix (`fixes.correct`);
- a pre-auth's id → the extra hold released (`preauth.fixes.fix_duplicate_hold`), any other id →
  `fixes.fix_duplicate`.
"""

from __future__ import annotations

from agent.engine import fixes
from agent.engine.common import Gen
from agent.engine.purchases import Operator, newest_by_trace
from agent.engine.port import ask
from agent.engine.preauth.fixes import correct_completion, fix_duplicate_hold
from agent.engine.requests import Profile
from agent.engine.wallet.fixes import correct_without_code, is_wallet_payment


def correct_any(profile: Profile, request: fixes.CorrectRequest, operator: Operator) -> Gen:
    """`correct TRACE --amount`: a completion's trace is fixed here, a payment-code sale's by the wallet's fix,
    a card sale's by `fixes.correct`."""
    newest = yield from newest_by_trace(request.trace)
    if newest is not None and newest.kind == "completion":
        return (yield from correct_completion(profile, newest, request, operator))
    if newest is not None and is_wallet_payment(newest):
        return (yield from correct_without_code(profile, request, operator))
    return (yield from fixes.correct(profile, request, operator))


def fix_duplicate_any(profile: Profile, request: fixes.DuplicateFixRequest, operator: Operator) -> Gen:
    """`duplicates --fix ID`: a pre-auth id releases the extra hold, a sale id goes to `fixes.fix_duplicate`."""
    txn = yield from ask.get(request.txn_id)
    if txn is not None and txn.kind == "preauth":
        return (yield from fix_duplicate_hold(profile, txn, operator))
    return (yield from fixes.fix_duplicate(profile, request, operator))
