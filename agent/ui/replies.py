"""How the answer to the keypad's call moves the cashier terminal: an outcome's receipts and headline, a
guard's question, what a search found, an error and the retry or refund it offers.

Apart from `agent.ui.machine`, which holds the keys and the screens: this is the other half of the machine,
the replies, written as the base class `Replies` that `agent.ui.machine.Terminal` extends.  The terminal's
state it reads and the moves it makes (`_go`, `_finish`, `frame`) are declared here and defined there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from agent.journal.states import FixState
from agent.ui.actions import Action, Print, Show
from agent.ui.calls import (CANCELLABLE, CONNECTION_LOST, DAEMON_DOWN, agent_gone, duplicate_groups, looked_up,
                            nothing_found)
from agent.ui.screens import Draft, Result
from agent.ui.table import KEYPAD, RETRY_EVENTS, STATES, KeypadState, sibling
from agent.ui.texts import Texts
from agent.ui.views import error_headline, outcome_headline


class Replies:
    """The reply half of `agent.ui.machine.Terminal`."""

    state: KeypadState
    draft: Draft
    texts: Texts
    exponent: int
    _notice: str
    _op: str  # the operation of the last call (its reply is being read)
    _open_fixes: dict[int, str]
    _declined: int

    def _go(self, event: str) -> list[Action]:
        raise NotImplementedError

    def _finish(self, result: Result) -> list[Action]:
        raise NotImplementedError

    def frame(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _on_reply(self, call: str, reply: Mapping[str, Any], cancelled: bool) -> list[Action]:
        if not reply.get("ok"):
            return self._on_error(reply.get("error") or {})
        if "outcome" in reply:
            return self._on_outcome(call, reply["outcome"], cancelled)
        result = reply["result"]
        if call == "receipt":
            prints = [Print(str(result[copy])) for copy in ("merchant", "customer")]
            trace = f"{int(result['txn']['trace']):06d}"
            return prints + self._finish(Result(self.texts("status.done"), self.texts("reprinted", trace=trace)))
        if call == "lookup":
            return self._found(looked_up(result, self.draft, self.state), (), cancelled)
        if call == "offline_switch":  # switched (or already so): the banner follows with the next status
            return self._finish(Result(self.texts("status.done"), str(result["message"])))
        if call == "offline_declined":  # those just acknowledged (all of them if another till saw them first)
            declined = [t for t in result["declined"] if isinstance(t, Mapping)]
            fresh = set(result.get("acknowledged") or ())
            self._declined = 0
            return self._found([t for t in declined if t.get("id") in fresh] or declined, (), cancelled)
        if call == "duplicates":
            return self._found(*duplicate_groups(result), cancelled)
        raise ValueError(f"no result expected for {call}")

    def _on_error(self, error: Mapping[str, Any]) -> list[Action]:
        code, message = str(error.get("code") or "other"), str(error.get("message") or "")
        if code in (DAEMON_DOWN, CONNECTION_LOST):
            return self._finish(Result(error_headline(DAEMON_DOWN, self.texts), agent_gone(code, message, self._op, self.draft, self.texts, self.exponent)))
        result = Result(error_headline(code, self.texts), message)
        password_state = sibling(self.state, "password") if self.state.endswith(".send") else None
        if code == "auth" and password_state in RETRY_EVENTS:
            result = replace(result, offer="retry", retry_state=password_state)
        elif code == "batch_settled" and self.state == KeypadState.VOID_SEND and self.draft.trace is not None:
            self.draft = Draft(find_by="trace", trace=self.draft.trace)
            result = replace(result, offer="refund")
        return self._finish(result)

    def _on_outcome(self, call: str, outcome: Mapping[str, Any], cancelled: bool) -> list[Action]:
        status, message = str(outcome["status"]), str(outcome["message"])
        fix = (outcome.get("details") or {}).get("fix")
        if isinstance(fix, Mapping) and "id" in fix:  # a fix: remember it while it stays open
            if fix.get("state") == FixState.OPEN and isinstance(outcome.get("txn"), Mapping):
                self._open_fixes[int(fix["id"])] = f"{int(outcome['txn']['trace']):06d}"
            else:
                self._open_fixes.pop(int(fix["id"]), None)
        if call == "preauth_list":  # the open holds, oldest first, each a transaction to look at
            return self._found([h["txn"] for h in (outcome.get("details") or {}).get("holds", ())], (), cancelled)
        if status == "needs_confirmation" and KEYPAD.allows(self.state, "confirm"):  # a guard's question
            if cancelled:  # the agent asked before doing anything: nothing to wait for
                return self._go("cancelled")
            details = outcome.get("details") or {}
            guard, d = details.get("guard"), self.draft
            self.draft = replace(d, question=message,
                                 confirm_duplicate=d.confirm_duplicate or guard == "duplicate",
                                 confirm_unusual=d.confirm_unusual or guard == "unusual_amount",
                                 confirm_repeat=d.confirm_repeat or guard == "repeat_refund",
                                 confirm_open_fixes=d.confirm_open_fixes or bool(details.get("open_fixes")),
                                 confirm_stored=d.confirm_stored or guard == "stored_sales")
            return self._go("confirm")
        prints = [Print(str(receipt[copy])) for receipt in outcome.get("receipts") or ()
                  for copy in ("merchant", "customer") if receipt.get(copy)]
        if outcome.get("report"):  # the settlement slip, as the command line prints it
            prints.append(Print(str(outcome["report"])))
        headline = outcome_headline(status, self.texts)
        if status == "reversed" and self._op in CANCELLABLE:  # the order was cancelled: nothing charged
            headline = self.texts("status.cancelled")
        return prints + self._finish(Result(headline, message))

    def _found(self, found: list[Mapping[str, Any]], groups: tuple[int, ...], cancelled: bool) -> list[Action]:
        if cancelled:  # a search only reads: the cashier's cancel simply wins
            return self._go("cancelled")
        d = self.draft
        if not found and KEYPAD.allows(self.state, "elsewhere") and d.find_by == "rrn" and d.rrn and d.mmdd:
            # a sale of another till of the store: the agent asks the back office what is still refundable
            self.draft = replace(d, picked={"rrn": d.rrn, "mmdd": d.mmdd, "elsewhere": True})
            actions = self._go("elsewhere")
            self._notice = self.texts("refund.elsewhere", key=d.rrn)
            return [Show(self.frame())] + [a for a in actions if not isinstance(a, Show)]
        if not found:
            return self._finish(Result(error_headline("not_found", self.texts), nothing_found(STATES[self.state].call, self.draft, self.texts, self.exponent)))
        self.draft = replace(self.draft, found=tuple(found), groups=groups, cursor=len(found) - 1 if groups else 0)
        return self._go("one" if len(found) == 1 else "many")
