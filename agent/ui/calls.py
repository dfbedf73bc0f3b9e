"""The keypad's side of the control API: the call each operation's form makes, and how an answer reads on the
screen (the transactions a lookup or a duplicates query found, the link and offline state of a status, why
nothing was found, what to do when the agent is gone).

Pure functions of the cashier's draft: `agent.ui.machine.Terminal` decides when a call is made and where its
answer leads.
"""

from __future__ import annotations

from typing import Any, Mapping

from agent import registry
from agent.money import format_amount
from agent.ui.actions import Call
from agent.ui.screens import Draft
from agent.ui.table import STATES, KeypadState, sibling
from agent.ui.texts import Texts
from agent.ui.views import SALE_KINDS, mmdd, near

#: how many transactions a lookup asks for; a whole day (a time of day is filtered here) asks the most
LOOKUP_LIMIT = 50
DAY_LIMIT = 1000  # the journal's largest answer
#: a lookup by time of day shows what happened this many minutes either side
TIME_WINDOW_MINUTES = 30
#: the agent is not running (nothing was sent), or it went away while a call waited for its answer
DAEMON_DOWN, CONNECTION_LOST = "daemon", "connection_lost"
#: a search's draft field → the lookup's argument
FIND_FIELDS = {"trace": "trace", "rrn": "rrn", "find_amount": "amount", "last4": "last4", "day": "date"}
#: calls that CANCEL can stop while they run: a payment-code sale waiting for the scan or the customer's phone
CANCELLABLE = registry.cancellable_operations()


def call_for(name: str, d: Draft, state: KeypadState, *, password: str | None, pin: str | None,
             test_card: str | None) -> Call:
    """The call the form of operation `name` makes from what the cashier keyed (`d`); `password` and `pin` are
    handed over in it, never kept."""
    if name == "sale":
        pin_arg = {"pin": pin} if pin else {}
        return Call("sale", {"amount": d.amount, "card": test_card, "confirm_duplicate": d.confirm_duplicate,
                             "confirm_unusual": d.confirm_unusual, **pin_arg})
    if name == "void":  # the sale the preview showed
        return Call("void", {"trace": int((d.picked or {}).get("trace") or d.trace or 0)}, password)
    if name == "lookup":
        field = {v: k for k, v in FIND_FIELDS.items()}[d.find_by]  # lookup argument → draft field
        value = getattr(d, field)
        if field == "day" and len(value) > 10:  # a time of day: the whole day is asked, then filtered here
            return Call("lookup", {"date": value[:10], "limit": DAY_LIMIT})
        return Call("lookup", {d.find_by: value, "limit": LOOKUP_LIMIT})
    picked = d.picked or {}
    if name == "refund":
        if d.find_by == "trace" or not picked.get("rrn"):
            original: dict[str, object] = {"trace": int(picked["trace"])}
        else:
            original = {"rrn": picked["rrn"], "date": picked.get("mmdd") or mmdd(picked)}
        repeat = {"confirm_repeat": True} if d.confirm_repeat else {}
        return Call("refund", {**original, "amount": d.amount, **repeat}, password)
    if name == "wallet_sale":
        code = {"code": d.code} if d.code else {}  # none: the agent reads its scanner
        unusual = {"confirm_unusual": True} if d.confirm_unusual else {}  # the cashier said the amount is right
        return Call("wallet_sale", {"amount": d.amount, **code, "confirm_duplicate": d.confirm_duplicate, **unusual})
    if name == "correct" and picked.get("payment") == "wallet":
        code = {"code": d.code} if d.code else {}
        return Call("wallet_correct", {"trace": int(picked["trace"]), "amount": d.amount, **code}, password)
    if name == "correct":
        return Call("correct", {"trace": int(picked["trace"]), "amount": d.amount, "method": "auto",
                                "card": test_card}, password)
    if name == "duplicates_fix":
        return Call("duplicates_fix", {"id": int(picked["id"])}, password)
    if name == "preauth":
        unusual = {"confirm_unusual": True} if d.confirm_unusual else {}
        return Call("preauth", {"amount": d.amount, "card": test_card,
                                "confirm_duplicate": d.confirm_duplicate, **unusual}, password)
    if name == "preauth_complete":
        advice = {"advice": True} if state == KeypadState.PAADVICE_SEND else {}  # 预授权完成通知
        return Call("preauth_complete", {"trace": d.trace, "amount": d.amount, **advice}, password)
    row = registry.get(name)
    if row is not None and set(row.args) == {"trace"}:  # a hold or a completion named by its trace
        return Call(name, {"trace": d.trace}, password)
    if name == "offline_switch":  # the supervisor switches the terminal offline by hand, or back
        return Call(name, {"switch": "on" if state == KeypadState.GOOFFLINE_SEND else "off"}, password)
    if name == "offline_declined":  # the supervisor sees them: acknowledged (the banner ends)
        return Call("offline_declined", {"acknowledge": True}, password)
    if name == "settle_totals":
        return Call("settle", {"confirm": False})
    if name == "settle":
        fixes = {"confirm_open_fixes": True} if d.confirm_open_fixes else {}
        stored = {"confirm_stored": True} if d.confirm_stored else {}  # they move to the next batch
        return Call("settle", {"confirm": True, **fixes, **stored}, password)
    return Call(name, {})  # duplicates, receipt, signon


def looked_up(result: Mapping[str, Any], d: Draft, state: KeypadState) -> list[Mapping[str, Any]]:
    """The transactions of a lookup's answer the screen shows: sales only when one is picked to fix, the
    asked date of an RRN, and the window around a time of day (the whole day was asked)."""
    found = [t for t in result["transactions"] if isinstance(t, Mapping)]
    detail = sibling(state, "detail")
    if detail is not None and STATES[detail].pick:  # a sale to fix
        found = [t for t in found if t.get("kind") in SALE_KINDS]
    if d.find_by == "rrn" and d.mmdd:
        found = [t for t in found if mmdd(t) == d.mmdd]
    if d.find_by == "date" and d.day and len(d.day) > 10:
        found = [t for t in found if near(t, d.day, TIME_WINDOW_MINUTES)]
    return found


def duplicate_groups(result: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], tuple[int, ...]]:
    """The duplicates answer as one list (the suspected groups, then the holds) and each row's group number."""
    found: list[Mapping[str, Any]] = []
    groups: list[int] = []
    for number, group in enumerate(list(result["groups"]) + list(result.get("holds") or ()), start=1):
        found += list(group)
        groups += [number] * len(group)
    return found, tuple(groups)


def link_state(status: Any) -> tuple[bool, tuple[int, int] | None, int, bool, int]:
    """What the agent's `status` answer says of its acquirer link: (no TLS, (stored, amount) while the bank
    cannot be reached, stored sales declined after forwarding and not yet seen, switched offline by hand,
    stored sales the bank was never told of — their sealed card does not open — waiting for manual handling)."""
    status = status if isinstance(status, Mapping) else {}
    link, offline = status.get("link"), status.get("offline")
    plain = isinstance(link, Mapping) and link.get("tls") is False
    down = isinstance(link, Mapping) and link.get("state") == "down"
    switched = down and bool(link.get("switched"))
    if not isinstance(offline, Mapping):
        return plain, None, 0, switched, 0
    stored = (_count(offline.get("stored")), _count(offline.get("amount"))) if down else None
    return plain, stored, _count(offline.get("unseen")), switched, _count(offline.get("needs_manual"))


def _count(value: Any) -> int:
    """A count or an amount from the agent's status (anything else counts as 0: the screen never crashes)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def agent_gone(code: str, message: str, op: str, d: Draft, t: Texts, exponent: int) -> str:
    """What the cashier does when the agent is gone: nothing was sent; or the answer was lost, and for a
    call that moves money the card may have been charged (the command line's exit status 5 in words)."""
    if code == DAEMON_DOWN:
        return f"{t('down.not_sent')}\n{message}" if message else t("down.not_sent")
    if op not in registry.money_operations():
        return t("lost.nothing")
    trace = (d.picked or {}).get("trace") or d.trace
    if trace:
        where = t("lost.by_trace", trace=f"{int(trace):06d}")
    elif d.amount:
        where = t("lost.by_amount", amount=format_amount(d.amount, exponent))
    else:
        return t("lost.money_status")
    return t("lost.money", where=where)


def nothing_found(call: str | None, d: Draft, t: Texts, exponent: int) -> str:
    """Why a search (`call`) shows nothing, naming what the cashier looked for."""
    if call == "duplicates":
        return t("nothing.dups")
    if call == "preauth_list":
        return t("nothing.holds")
    if call == "offline_declined":
        return t("nothing.declined")
    key = {"trace": f"{d.trace or 0:06d}", "rrn": d.rrn, "last4": d.last4, "date": d.day,
           "amount": format_amount(d.find_amount or 0, exponent)}.get(d.find_by, "")
    date = f"{d.mmdd[:2]}-{d.mmdd[2:]}" if d.mmdd else ""
    return t(f"nothing.{d.find_by}", key=key, date=date)
