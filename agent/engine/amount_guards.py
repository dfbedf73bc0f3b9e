"""The amount guards of every new payment — card sale, payment-code sale, pre-auth — in one place.

Both run before the card or code is read and before anything is sent:
- above the terminal's maximum (`[guards] max_amount`) the payment is refused, naming the maximum and
  where it is set;
- at `unusual_amount_multiple` × the typical ticket or more, the cashier is asked to confirm.  The typical
  ticket is the median of the terminal's latest approved sales once it has `HISTORY_NEEDED` of them, and
  `[guards] typical_amount` until then, so a new terminal asks from its first sale.

A question or a refusal says the amount in full with its currency, and "did you mean 123.45?" when the
amount reads as a plausible ticket keyed without its decimal point (`12345` meant as 123.45).
"""

from __future__ import annotations

from agent.engine.common import Gen
from agent.engine.effects import EngineError, Outcome
from agent.engine.port import ask
from agent.engine.requests import Profile
from agent.engine.texts import say
from agent.money import amount_in_full

#: approved sales the terminal needs before their median replaces the configured typical ticket
HISTORY_NEEDED = 5
#: how many of the latest approved sales the median is taken over
HISTORY_LIMIT = 50


def typical_ticket(recent_amounts: list[int], default: int) -> int:
    """The median of recent approved sales; `default` until there are `HISTORY_NEEDED` of them."""
    if len(recent_amounts) < HISTORY_NEEDED:
        return default
    ordered = sorted(recent_amounts)
    return ordered[len(ordered) // 2]


def is_unusual(profile: Profile, amount: int, typical: int) -> bool:
    return amount >= typical * profile.unusual_amount_multiple


def meant_amount(profile: Profile, amount: int, typical: int) -> int | None:
    """The amount the cashier probably meant when `amount` is whole units keyed without the decimal point
    (12345.00 for 123.45), if that reading is a plausible ticket: neither unusual itself nor less than the
    typical ticket divided by the multiple.  None otherwise."""
    scale = 10 ** profile.currency_exponent
    if scale == 1 or amount % scale:
        return None
    meant = amount // scale
    plausible = typical / profile.unusual_amount_multiple <= meant and not is_unusual(profile, meant, typical)
    return meant if plausible and meant > 0 else None


def check_amount(profile: Profile, operation: str, amount: int, *, confirmed: bool) -> Gen:
    """Refuse an amount above the maximum (an `EngineError`, code "usage": the operator's input, nothing sent);
    return the unusual-amount question (a needs_confirmation `Outcome`) unless `confirmed`; else None."""
    if amount <= profile.max_amount and confirmed:
        return None
    typical = typical_ticket((yield from ask.recent_sale_amounts(limit=HISTORY_LIMIT)), profile.typical_amount)
    meant = meant_amount(profile, amount, typical)
    said = {"amount": _in_full(profile, amount), "meant": _did_you_mean(profile, meant)}
    if amount > profile.max_amount:
        raise EngineError(say(profile.language, "above_maximum", most=_in_full(profile, profile.max_amount), **said),
                          code="usage")
    if not is_unusual(profile, amount, typical):
        return None
    details = {"guard": "unusual_amount", "typical": typical}
    if meant is not None:
        details["meant"] = meant
    return Outcome(operation, "needs_confirmation",
                   say(profile.language, "unusual", typical=_in_full(profile, typical), **said), details=details)


def _did_you_mean(profile: Profile, meant: int | None) -> str:
    if meant is None:
        return ""
    return say(profile.language, "did_you_mean", meant=profile.money(meant))


def _in_full(profile: Profile, amount: int) -> str:
    return amount_in_full(amount, profile.currency_exponent, profile.currency)
