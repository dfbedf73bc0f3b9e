"""The campaign's cashier: what is sent for each step of the plan, and what the cashier remembers of the answers
(the approved sales to void, refund or correct, the open holds, the card or payer of each sale, a settlement
owed, the customers' payment codes).

Apart from `simulator.chaos.runner`, which runs the daemon, the host, the faults and the kills: a step names
an operation in the abstract (a refund of some earlier sale), and turning it into the call a cash register
would make is the cashier's own business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.errors import PosagentError
from simulator.chaos.plan import Step
from simulator.chaos.wallet import PAYERS as WALLET_PAYERS, CodeIssuer
from simulator.stack import Daemon

SUPERVISOR_OPS = frozenset({"void", "refund", "correct", "duplicates_fix", "settle", "preauth", "preauth_release",
                            "wallet_correct"})
#: the campaign settles although fixes are open (they stay open and are checked, never a violation)
SETTLE = {"confirm": True, "confirm_open_fixes": True}
#: one completion in this many (by the step's amount) is sent as an offline advice
ADVICE_EVERY = 3

@dataclass
class _Sales:
    """What the cashier remembers: approved sales (for voids, refunds, corrections) and the last one."""

    open_batch: list[dict[str, Any]] = field(default_factory=list)
    every: list[dict[str, Any]] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)  # approved pre-auths (to complete or release)

    def pick(self, which: list[dict[str, Any]], n: int) -> dict[str, Any]:
        """The `n`-th latest of `which`, round: the cashier asks only of a list that holds something."""
        return which[-1 - n % len(which)]

    def remember(self, txn: dict[str, Any], card: str) -> None:
        entry = {"trace": txn["trace"], "amount": txn["amount"], "card": card}
        self.open_batch.append(entry)
        self.every.append(entry)
        del self.every[:-200]


class Cashier:
    """The cash register's side of a campaign: the request for each step, learnt from each answer."""

    def __init__(self) -> None:
        self.sales = _Sales()
        self.settlement_owed = False  # a settlement stopped half way: the cashier runs settle again next
        self.cards: dict[str, str] = {}  # masked card → test card name (to resume a fix on the same card)
        self.codes: CodeIssuer | None = None  # the customers' payment codes, issued at the host
        self.payer = ""

    def request(self, step: Step, daemon: Daemon) -> tuple[str, dict[str, Any]]:
        sales = self.sales
        if self.settlement_owed:
            return "settle", dict(SETTLE)
        if step.op == "wallet_sale":
            return "wallet_sale", self._wallet_sale(step.amount, step.card)
        sale = {"amount": step.amount, "card": step.card, "confirm_duplicate": True, "confirm_unusual": True}
        if step.op == "sale" or (step.op in ("void",) and not sales.open_batch) or (
                step.op in ("refund", "correct", "duplicate_sale") and not sales.every):
            return "sale", sale
        if step.op == "void":
            return "void", {"trace": sales.pick(sales.open_batch, step.pick)["trace"]}
        if step.op == "refund":
            target = sales.pick(sales.every, step.pick)
            return "refund", {"trace": target["trace"], "amount": 1 + step.amount % target["amount"]}
        if step.op == "correct":
            target = sales.pick(sales.every, step.pick)
            if target["card"] in WALLET_PAYERS:  # too little: the difference with the customer's new code
                code = {"code": self.issuer().issue(target["card"])} if step.amount > target["amount"] else {}
                return "wallet_correct", {"trace": target["trace"], "amount": step.amount, **code}
            return "correct", {"trace": target["trace"], "amount": step.amount, "card": target["card"]}
        if step.op == "duplicate_sale":
            last = sales.every[-1]
            if last["card"] in WALLET_PAYERS:  # the same customer pays the same amount again (a new code)
                return "wallet_sale", self._wallet_sale(last["amount"], last["card"])
            return "sale", {"amount": last["amount"], "card": last["card"], "confirm_duplicate": True,
                            "confirm_unusual": True}
        if step.op == "duplicates_fix":
            return "duplicates_fix", {"id": self._suspected_duplicate(step.pick, daemon)}
        if step.op == "settle":
            return "settle", dict(SETTLE)
        if step.op == "correct_resume":  # finish a fix that an earlier fault or kill left open
            return self._resume(step, sale, daemon)
        if step.op == "preauth" or (step.op in ("complete", "release") and not sales.holds):
            return "preauth", {"amount": step.amount, "card": step.card, "confirm_duplicate": True,
                               "confirm_unusual": True}
        if step.op == "complete":
            held = sales.pick(sales.holds, step.pick)
            advice = {"advice": True} if self.completes_by_advice(step) else {}
            return "preauth_complete", {"trace": held["trace"], "amount": 1 + step.amount % (held["amount"] * 6 // 5),
                                        **advice}
        if step.op == "release":
            return "preauth_release", {"trace": sales.pick(sales.holds, step.pick)["trace"]}
        return "echo", {}

    def completes_by_advice(self, step: Step) -> bool:
        """A third of the completions go as offline advices (预授权完成通知), chosen from the step's own
        amount, so that every seed's plan stays the plan it was."""
        return step.op == "complete" and bool(self.sales.holds) and not self.settlement_owed \
            and step.amount % ADVICE_EVERY == 0

    def _resume(self, step: Step, sale: dict[str, Any], daemon: Daemon) -> tuple[str, dict[str, Any]]:
        try:
            fixes = daemon.call("fixes").get("result", {}).get("open") or []
        except PosagentError:
            fixes = []
        if not fixes:
            return "sale", sale
        fix = fixes[step.pick % len(fixes)]
        if fix["kind"] == "duplicate_fix":
            return "duplicates_fix", {"id": fix["original_id"]}
        card = self.cards.get(fix["card"], step.card)
        if card in WALLET_PAYERS:  # a wallet payment has no card to resume with: a sale instead
            return "sale", sale
        return "correct", {"trace": fix["trace"], "resume": True, "card": card}

    def _wallet_sale(self, amount: int, payer: str) -> dict[str, Any]:
        self.payer = payer  # who pays this one (remembered with the sale, for its correction)
        return {"amount": amount, "code": self.issuer().issue(payer), "confirm_duplicate": True, "confirm_unusual": True}

    def _suspected_duplicate(self, pick: int, daemon: Daemon) -> int:
        try:
            groups = daemon.call("duplicates").get("result", {}).get("groups") or []
        except PosagentError:
            groups = []
        if not groups:
            return 0  # asks for a transaction that does not exist: a clean refusal is expected
        group = groups[pick % len(groups)]
        return group[-1]["id"] if isinstance(group, list) and group else 0

    def issuer(self) -> CodeIssuer:
        """The customers' payment codes (made by `run` before the first step)."""
        if self.codes is None:
            raise PosagentError("a payment code was asked before the campaign started")
        return self.codes

    def learn(self, step: Step, op: str, args: dict[str, Any], reply: dict[str, Any]) -> None:
        """Remember what the answer says: a settlement owed, the sale or hold approved, the batch settled."""
        error: dict[str, Any] = reply.get("error") or {}
        code = error.get("code", "?")
        self.settlement_owed = code == "settlement_incomplete" or (
            code == "JournalError" and "being settled" in error.get("message", ""))
        if not reply.get("ok"):
            return
        outcome = reply["outcome"]
        if op == "settle" and outcome["status"] == "done":
            self.sales.open_batch.clear()
        txn: dict[str, Any] = outcome.get("txn") or {}
        if outcome["status"] == "approved" and txn.get("kind") == "sale":
            card = self.payer if op == "wallet_sale" else args.get("card", step.card)
            self.sales.remember(txn, card)
            if txn.get("pan_masked"):
                self.cards[txn["pan_masked"]] = card
        if outcome["status"] == "approved" and txn.get("kind") == "preauth":
            self.sales.holds.append({"trace": txn["trace"], "amount": txn["amount"], "card": args["card"]})
            del self.sales.holds[:-50]
        if outcome["status"] == "approved" and txn.get("kind") == "completion":
            held = next((h for h in self.sales.holds if h["trace"] == args["trace"]), None)
            if held is not None:  # a completion can be refunded or corrected like a sale
                self.sales.remember(txn, held["card"])
