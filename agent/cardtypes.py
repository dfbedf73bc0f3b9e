"""A card's type — debit or credit — from what the terminal knows of it: a UnionPay chip application's
identifier names its product (A000000333010101 debit, …02 credit, …03 quasi-credit, counted as credit),
otherwise the card number's prefix against `[settlement_fees] credit_bins`.  One rule for the offline
limits (`[offline] card_types`) and for the statement's fees."""

from __future__ import annotations

#: the words `[offline] card_types` takes
CARD_TYPES = ("debit", "credit")
#: UnionPay's registered application provider and its debit/credit application (PIX 0101), then the product
UNIONPAY_APPLICATION = "A0000003330101"
UNIONPAY_PRODUCTS = {"01": "debit", "02": "credit", "03": "credit"}


def card_type(pan: str | None, credit_bins: tuple[str, ...], aid: str | None = None) -> str:
    """"debit" or "credit"; `pan` may be masked (the first six digits are the prefix), `aid` in hex."""
    aid = (aid or "").upper()
    if aid.startswith(UNIONPAY_APPLICATION) and len(aid) >= 16 and aid[14:16] in UNIONPAY_PRODUCTS:
        return UNIONPAY_PRODUCTS[aid[14:16]]
    return "credit" if pan and credit_bins and pan.startswith(credit_bins) else "debit"


def credit_bins(text: str) -> tuple[str, ...]:
    """`[settlement_fees] credit_bins` ("625094, 622155") as its prefixes."""
    return tuple(b.strip() for b in text.split(",") if b.strip())
