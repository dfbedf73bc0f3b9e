"""Cardholder verification (EMV Book 3 §10.5): walk the card's CVM list, give 9F34 and the TVR bits.

No I/O: the PIN pad is a callable that says whether the cardholder entered a PIN (the PIN itself stays
in the PIN pad and becomes an enciphered PIN block there, never here).  This terminal performs online
enciphered PIN (with a PIN pad), signature and no CVM; offline PIN methods it does not support.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: CVM codes (Book 3 Annex C3), bits 1-6 of a rule's first byte
FAIL_CVM = 0x00
OFFLINE_PLAIN_PIN = 0x01
ONLINE_PIN = 0x02
OFFLINE_PLAIN_PIN_AND_SIGNATURE = 0x03
OFFLINE_ENC_PIN = 0x04
OFFLINE_ENC_PIN_AND_SIGNATURE = 0x05
SIGNATURE = 0x1E
NO_CVM = 0x1F
RECOGNISED = frozenset({FAIL_CVM, OFFLINE_PLAIN_PIN, ONLINE_PIN, OFFLINE_PLAIN_PIN_AND_SIGNATURE, OFFLINE_ENC_PIN,
                        OFFLINE_ENC_PIN_AND_SIGNATURE, SIGNATURE, NO_CVM})
PIN_METHODS = frozenset({OFFLINE_PLAIN_PIN, ONLINE_PIN, OFFLINE_PLAIN_PIN_AND_SIGNATURE, OFFLINE_ENC_PIN,
                         OFFLINE_ENC_PIN_AND_SIGNATURE})
APPLY_NEXT_IF_UNSUCCESSFUL = 0x40

#: CVM result byte 3 (Annex A4)
RESULT_UNKNOWN, RESULT_FAILED, RESULT_SUCCESSFUL = 0x00, 0x01, 0x02

#: TVR byte 3 bits (Annex C5) as (byte index, mask)
TVR_CVM_FAILED = (2, 0x80)
TVR_UNRECOGNISED_CVM = (2, 0x40)
TVR_PIN_PAD_MISSING = (2, 0x10)  # PIN entry required and PIN pad not present or not working
TVR_PIN_NOT_ENTERED = (2, 0x08)  # PIN entry required, PIN pad present, but PIN was not entered
TVR_ONLINE_PIN_ENTERED = (2, 0x04)

#: conditions (Annex C3, byte 2) this terminal can judge; 01/04/05 concern cash and cashback
ALWAYS, UNATTENDED_CASH, NOT_CASH, IF_SUPPORTED, MANUAL_CASH, CASHBACK = 0, 1, 2, 3, 4, 5
UNDER_X, OVER_X, UNDER_Y, OVER_Y = 6, 7, 8, 9


@dataclass(frozen=True)
class CvmOutcome:
    results: bytes  # 9F34: method code, condition, result
    tvr_bits: tuple[tuple[int, int], ...]
    online_pin: bool  # an online PIN was entered: field 52 goes with the request, field 22 ends in 1
    signature: bool  # the receipt needs the cardholder's signature
    performed: bool  # TSI "cardholder verification was performed"


@dataclass(frozen=True)
class Context:
    amount: int  # minor units of the transaction currency
    currency: str  # transaction currency, 3 digits
    pin_pad: bool  # a PIN pad is attached and working
    signature: bool = True  # the terminal can capture a signature (on the receipt)
    cash: bool = False
    cashback: bool = False


def _supported(method: int, ctx: Context) -> bool:
    return (method == NO_CVM or (method == SIGNATURE and ctx.signature) or (method == ONLINE_PIN and ctx.pin_pad)
            or method == FAIL_CVM)


def _condition_met(condition: int, method: int, ctx: Context, x: int, y: int,
                   app_currency: str | None) -> bool | None:
    """Whether the rule applies; None for a condition this terminal does not know (skip the rule)."""
    if condition == ALWAYS:
        return True
    if condition == UNATTENDED_CASH or condition == MANUAL_CASH:
        return ctx.cash
    if condition == NOT_CASH:
        return not ctx.cash and not ctx.cashback
    if condition == IF_SUPPORTED:
        return _supported(method, ctx)
    if condition == CASHBACK:
        return ctx.cashback
    if condition in (UNDER_X, OVER_X, UNDER_Y, OVER_Y):
        if app_currency is None or app_currency != ctx.currency:
            return False  # amounts in another currency cannot be compared: the rule does not apply
        limit = x if condition in (UNDER_X, OVER_X) else y
        return ctx.amount < limit if condition in (UNDER_X, UNDER_Y) else ctx.amount > limit
    return None


def process(cvm_list: bytes | None, ctx: Context, enter_pin: Callable[[], bool],
            *, app_currency: str | None = None) -> CvmOutcome:
    """Book 3 §10.5 over `cvm_list` (tag 8E: amount X, amount Y, then 2-byte rules).

    `enter_pin()` is asked once, when a rule calls for online PIN and the PIN pad works: True when the
    cardholder entered a PIN, False when it was bypassed."""
    if not cvm_list:
        return CvmOutcome(bytes([0x3F, 0x00, 0x00]), (), False, False, False)  # no CVM list: not performed
    if len(cvm_list) < 10 or len(cvm_list) % 2:
        return CvmOutcome(bytes([0x3F, 0x00, RESULT_FAILED]), (TVR_CVM_FAILED,), False, False, True)
    x, y = int.from_bytes(cvm_list[:4], "big"), int.from_bytes(cvm_list[4:8], "big")
    bits: list[tuple[int, int]] = []
    last: tuple[int, int] | None = None
    for i in range(8, len(cvm_list), 2):
        code, condition = cvm_list[i], cvm_list[i + 1]
        method = code & 0x3F
        applies = _condition_met(condition, method, ctx, x, y, app_currency)
        if not applies:
            continue
        last = (code, condition)
        if method not in RECOGNISED:
            bits.append(TVR_UNRECOGNISED_CVM)
        elif method == NO_CVM:
            return CvmOutcome(bytes([code, condition, RESULT_SUCCESSFUL]), tuple(bits), False, False, True)
        elif method == SIGNATURE and ctx.signature:
            return CvmOutcome(bytes([code, condition, RESULT_UNKNOWN]), tuple(bits), False, True, True)
        elif method == ONLINE_PIN and ctx.pin_pad:
            if enter_pin():
                bits.append(TVR_ONLINE_PIN_ENTERED)
                return CvmOutcome(bytes([code, condition, RESULT_UNKNOWN]), tuple(bits), True, False, True)
            bits.append(TVR_PIN_NOT_ENTERED)
        elif method in PIN_METHODS and not ctx.pin_pad:
            bits.append(TVR_PIN_PAD_MISSING)
        if not code & APPLY_NEXT_IF_UNSUCCESSFUL:
            break
    code, condition = last if last is not None else (0x3F, 0x00)
    return CvmOutcome(bytes([code, condition, RESULT_FAILED]), tuple(bits) + (TVR_CVM_FAILED,), False, False, True)
