"""Cashier screen benchmark: how many keys the common tasks take on the keypad.

    .venv/bin/python -m bench.keypresses

Each task is pressed key by key on the sans-IO machine (21×8, English) from the idle screen back to the
idle screen, every call answered at once by a scripted reply in the control API's shape: a sale of 12.34,
a correction of a 120.00 sale to 100.00, a void, a partial refund of 40.00 (F2, by trace), an undercharged
payment-code sale corrected to 25.00 with the customer's new code keyed, and a settlement (the totals read
to their last page).  A key counts whatever it is (a digit, ENTER, DOWN).  Fewer is better, as long as
nothing the cashier must see or confirm is skipped.  Ends with one JSON line.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from agent.ui import Call, Terminal
from agent.ui.scripted import press_keys

PASSWORD = "2468"
WECHAT_CODE = "134567890123456789"  # a payment code as the customer's phone shows it (18 digits)
CREATED = 1_795_455_800.0


def _txn(amount: int, payment: str = "card") -> dict:
    return {"id": 7, "kind": "sale", "state": "approved", "amount": amount, "currency": "156", "trace": 12,
            "batch": 1, "rrn": "000000000012", "auth_code": "007919", "response_code": "00", "entry_mode": "051",
            "pan_masked": "622609******0048" if payment == "card" else "134567********6789", "payment": payment,
            "created_at": CREATED, "updated_at": CREATED, "batch_state": "open"}


def _outcome(status: str, message: str, **extra: Any) -> dict:
    return {"ok": True, "outcome": {"status": status, "message": message, "txn": None, "steps": [], "details": {},
                                    "receipts": [{"merchant": "M", "customer": "C"}], **extra}}


TOTALS = ("Settle batch 000001? Sales 3 totalling 372.34, refunds 1 totalling 40.00, net 332.34. "
          "By card: sales 2 totalling 132.34, refunds 1 totalling 40.00; by payment code: sales 1 totalling "
          "240.00, refunds 0 totalling 0.00.")


class Replies:
    """The control API's answers, by the call's operation (the sale found is card or payment code)."""

    def __init__(self, payment: str = "card", amount: int = 12000):
        self.sale = _txn(amount, payment)
        self.calls: list[str] = []

    def __call__(self, call: Call, notify) -> Mapping[str, Any]:
        self.calls.append(call.op)
        if call.op == "lookup":
            return {"ok": True, "result": {"transactions": [self.sale]}}
        if call.op == "settle" and not call.args.get("confirm"):
            return {"ok": True, "outcome": {"status": "needs_confirmation", "message": TOTALS, "txn": None,
                                            "steps": [], "details": {"batch": 1, "open_fixes": []}}}
        if call.op == "settle":
            return _outcome("done", "Batch 000001 settled: balanced.", report="SETTLEMENT REPORT")
        return _outcome("approved", f"{call.op} approved")


#: task → (keys from the idle screen back to it, the sale a lookup finds)
TASKS: dict[str, tuple[list[str], Replies]] = {
    "sale": (["1", "12.34", "ENTER", "ENTER"], Replies()),
    "correction": (["4", "12", "ENTER", "100.00", "ENTER", PASSWORD, "ENTER", "ENTER"], Replies()),
    "void": (["2", "12", "ENTER", "ENTER", PASSWORD, "ENTER", "ENTER"], Replies()),
    "partial_refund": (["F2", "1", "12", "ENTER", "40", "ENTER", PASSWORD, "ENTER", "ENTER"], Replies()),
    "wallet_undercharge_fix": (["4", "12", "ENTER", "25.00", "ENTER", PASSWORD, "ENTER", WECHAT_CODE,
                                "ENTER", "ENTER"], Replies("wallet", 1000)),
    "settle": (["8", "DOWN", "ENTER", PASSWORD, "ENTER", "ENTER"], Replies()),
}


def count(keys: list[str]) -> int:
    """Key presses: a typed text is one key per character."""
    return sum(1 if key.isupper() and not key.isdigit() or key == "00" else len(key) for key in keys)


def run(name: str, keys: list[str], replies: Replies) -> int:
    terminal = Terminal(21, 8, "en")
    terminal.start()
    press_keys(terminal, keys, replies)
    if terminal.state != "idle" or not replies.calls:
        raise SystemExit(f"bench.keypresses: {name} did not finish (state {terminal.state!r}, calls {replies.calls})")
    return count(keys)


def main() -> None:
    figures: dict[str, Any] = {"bench": "keypresses"}
    for name, (keys, replies) in TASKS.items():
        figures[name] = run(name, keys, replies)
        print(f"{name}: {figures[name]} keys")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
