"""The cashier menu as one table: every screen state, and every legal move between them.

A state is "flow.step"; its `Screen` says what kind of dialog it is (menu, amount entry, password,
busy waiting for a reply, ...).  `TRANSITIONS[(state, event)]` names where an event may lead; the
machine moves only through `next_state`, which refuses anything not listed here.  Rules that hold
for every state are added below the table: CANCEL leads to idle from every state that is not waiting
for a reply, and every busy state ends in "result" (or back in idle when the cashier cancelled a
question or a search while it ran: nothing was done).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.ui.actions import UiStateError

# dialog kinds
MENU, CHOOSE, AMOUNT, NUMBER, PASSWORD, CONFIRM, BUSY, LIST, DETAIL, RESULT = (
    "menu", "choose", "amount", "number", "password", "confirm", "busy", "list", "detail", "result")
CODE = "code"  # a wallet payment code: keyed, or ENTER alone to scan it


@dataclass(frozen=True)
class Screen:
    kind: str
    title: str  # text key of the title
    prompt: str = ""  # text key of the prompt (entries)
    field: str = ""  # draft field an entry fills
    call: str = ""  # what a busy state asks the agent (see machine.CALLS)
    options: tuple[str, ...] = ()  # menu and choice events, in key order 1, 2, ...
    optional: bool = False  # an amount entry that may be left empty
    pick: bool = False  # a detail screen whose ENTER chooses the transaction
    charge: bool = False  # a busy screen that charges the customer: the amount and its currency stay in view
    by_code: bool = False  # an amount that F1 sends to payment by wallet code instead of a card (event "code")


MENU_ITEMS = ("sale", "void", "refund", "correct", "dups", "reprint", "lookup", "settle", "signon", "preauth")
#: the pre-authorization submenu (预授权): hold, complete, release a hold, void a completion, open holds
PREAUTH_ITEMS = ("pahold", "pacomplete", "parelease", "pacvoid", "paopen", "paadvice")

STATES: dict[str, Screen] = {
    "idle": Screen(MENU, "menu", options=MENU_ITEMS),
    "result": Screen(RESULT, ""),
    # sale (S1 prevention, S2 warning: the agent may ask to confirm an unusual amount or a repeat)
    "sale.amount": Screen(AMOUNT, "sale", "prompt.amount", field="amount", by_code=True),
    "sale.pin": Screen(PASSWORD, "sale", "prompt.pin", field="pin"),  # F2 on the amount: online PIN
    "sale.send": Screen(BUSY, "sale", call="sale", charge=True),
    "sale.confirm": Screen(CONFIRM, "sale"),
    # payment code (扫码): F1 on the sale amount, then scan (ENTER alone) or key the customer's code;
    # while the customer confirms on the phone CANCEL cancels the order (a SideCall beside the sale)
    "wallet.code": Screen(CODE, "wallet", "prompt.code", field="code"),
    "wallet.send": Screen(BUSY, "wallet", call="wallet_sale", charge=True),
    "wallet.confirm": Screen(CONFIRM, "wallet"),
    # void (open batch only; S5: a settled batch offers the refund instead): the sale is looked up and
    # shown (amount, card, time) before the supervisor keys the password
    "void.trace": Screen(NUMBER, "void", "prompt.trace", field="trace"),
    "void.find": Screen(BUSY, "void", call="lookup"),
    "void.list": Screen(LIST, "void"),
    "void.detail": Screen(DETAIL, "void", pick=True),
    "void.password": Screen(PASSWORD, "void", "prompt.password"),
    "void.send": Screen(BUSY, "void", call="void"),
    # refund (S4): find the original, amount (default: all refundable), supervisor
    "refund.by": Screen(CHOOSE, "refund", "prompt.choose", options=("trace", "rrn", "amount", "last4")),
    "refund.trace": Screen(NUMBER, "refund", "prompt.trace", field="trace"),
    "refund.rrn": Screen(NUMBER, "refund", "prompt.rrn", field="rrn"),
    "refund.date": Screen(NUMBER, "refund", "prompt.mmdd", field="mmdd"),
    "refund.find_amount": Screen(AMOUNT, "refund", "prompt.orig_amount", field="find_amount"),
    "refund.last4": Screen(NUMBER, "refund", "prompt.last4", field="last4"),
    "refund.find": Screen(BUSY, "refund", call="lookup"),
    "refund.list": Screen(LIST, "refund"),
    "refund.detail": Screen(DETAIL, "refund", pick=True),
    "refund.amount": Screen(AMOUNT, "refund", "prompt.refund_amount", field="amount", optional=True),
    "refund.password": Screen(PASSWORD, "refund", "prompt.password"),
    "refund.send": Screen(BUSY, "refund", call="refund"),
    "refund.confirm": Screen(CONFIRM, "refund"),  # the same refund was just made: again? (supervisor again)
    # correct amount (S1 overcharge, S3 undercharge): the agent picks the fix and says why
    "correct.trace": Screen(NUMBER, "correct", "prompt.trace", field="trace"),
    "correct.find": Screen(BUSY, "correct", call="lookup"),
    "correct.list": Screen(LIST, "correct"),
    "correct.detail": Screen(DETAIL, "correct", pick=True),
    "correct.amount": Screen(AMOUNT, "correct", "prompt.right_amount", field="amount"),
    "correct.password": Screen(PASSWORD, "correct", "prompt.password"),  # before the code: never typed into it
    "correct.code": Screen(CODE, "correct", "prompt.new_code", field="code"),  # a payment-code undercharge
    "correct.send": Screen(BUSY, "correct", call="correct"),
    # suspected duplicates (S2 repair)
    "dups.find": Screen(BUSY, "dups", call="duplicates"),
    "dups.list": Screen(LIST, "dups"),
    "dups.detail": Screen(DETAIL, "dups", pick=True),
    "dups.password": Screen(PASSWORD, "dups", "prompt.password"),
    "dups.send": Screen(BUSY, "dups", call="duplicates_fix"),
    # reprint, sign-on
    "reprint.send": Screen(BUSY, "reprint", call="receipt"),
    "signon.send": Screen(BUSY, "signon", call="signon"),
    # lookup (S1: by trace, amount, card last 4, day)
    "lookup.by": Screen(CHOOSE, "lookup", "prompt.choose", options=("trace", "amount", "last4", "date")),
    "lookup.trace": Screen(NUMBER, "lookup", "prompt.trace", field="trace"),
    "lookup.amount": Screen(AMOUNT, "lookup", "prompt.amount", field="find_amount"),
    "lookup.last4": Screen(NUMBER, "lookup", "prompt.last4", field="last4"),
    "lookup.date": Screen(NUMBER, "lookup", "prompt.day", field="day"),
    "lookup.find": Screen(BUSY, "lookup", call="lookup"),
    "lookup.list": Screen(LIST, "lookup"),
    "lookup.detail": Screen(DETAIL, "lookup"),
    # settlement (S5): totals first, confirm (open fixes listed and confirmed too), supervisor
    "settle.totals": Screen(BUSY, "settle", call="settle_totals"),
    "settle.confirm": Screen(CONFIRM, "settle"),
    "settle.password": Screen(PASSWORD, "settle", "prompt.password"),
    "settle.send": Screen(BUSY, "settle", call="settle"),
    # pre-authorization (key 0): hold, complete, release, void a completion, open holds by age
    "preauth.menu": Screen(MENU, "preauth", options=PREAUTH_ITEMS),
    "pahold.amount": Screen(AMOUNT, "pahold", "prompt.amount", field="amount"),
    "pahold.password": Screen(PASSWORD, "pahold", "prompt.password"),
    "pahold.send": Screen(BUSY, "pahold", call="preauth", charge=True),
    "pahold.confirm": Screen(CONFIRM, "pahold"),
    "pacomplete.trace": Screen(NUMBER, "pacomplete", "prompt.preauth_trace", field="trace"),
    "pacomplete.amount": Screen(AMOUNT, "pacomplete", "prompt.complete_amount", field="amount"),
    "pacomplete.password": Screen(PASSWORD, "pacomplete", "prompt.password"),  # where configured (retry offer)
    "pacomplete.send": Screen(BUSY, "pacomplete", call="preauth_complete"),
    # a completion sent as an advice (预授权完成通知): journaled owing a 0220, delivered when the bank answers
    "paadvice.trace": Screen(NUMBER, "paadvice", "prompt.preauth_trace", field="trace"),
    "paadvice.amount": Screen(AMOUNT, "paadvice", "prompt.complete_amount", field="amount"),
    "paadvice.password": Screen(PASSWORD, "paadvice", "prompt.password"),  # where configured (retry offer)
    "paadvice.send": Screen(BUSY, "paadvice", call="preauth_complete"),
    "parelease.trace": Screen(NUMBER, "parelease", "prompt.preauth_trace", field="trace"),
    "parelease.password": Screen(PASSWORD, "parelease", "prompt.password"),
    "parelease.send": Screen(BUSY, "parelease", call="preauth_release"),
    "pacvoid.trace": Screen(NUMBER, "pacvoid", "prompt.completion_trace", field="trace"),
    "pacvoid.password": Screen(PASSWORD, "pacvoid", "prompt.password"),
    "pacvoid.send": Screen(BUSY, "pacvoid", call="completion_void"),
    "paopen.find": Screen(BUSY, "paopen", call="preauth_list"),
    "paopen.list": Screen(LIST, "paopen"),
    "paopen.detail": Screen(DETAIL, "paopen"),
    # store-and-forward: the stored sales the bank declined when forwarded (ENTER on the idle screen's
    # banner); the supervisor's password acknowledges them, and they are listed with what to do
    "declined.password": Screen(PASSWORD, "declined", "prompt.password"),
    "declined.send": Screen(BUSY, "declined", call="offline_declined"),
    "declined.list": Screen(LIST, "declined"),
    "declined.detail": Screen(DETAIL, "declined"),
}

_PASSWORD_STATES = frozenset(s for s, screen in STATES.items() if screen.kind == PASSWORD)

TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {k: frozenset([v]) if isinstance(v, str) else frozenset(v)
                                                      for k, v in {
    **{("idle", item): target for item, target in (
        ("sale", "sale.amount"), ("void", "void.trace"), ("refund", "refund.by"), ("correct", "correct.trace"),
        ("dups", "dups.find"), ("reprint", "reprint.send"), ("lookup", "lookup.by"), ("settle", "settle.totals"),
        ("signon", "signon.send"), ("preauth", "preauth.menu"))},
    **{("preauth.menu", item): f"{item}.{first}" for item, first in (
        ("pahold", "amount"), ("pacomplete", "trace"), ("parelease", "trace"), ("pacvoid", "trace"),
        ("paopen", "find"), ("paadvice", "trace"))},
    ("pahold.amount", "enter"): "pahold.password",
    ("pahold.password", "enter"): "pahold.send",
    ("pahold.send", "confirm"): "pahold.confirm",
    ("pahold.confirm", "enter"): "pahold.password",
    ("pacomplete.trace", "enter"): "pacomplete.amount",
    ("pacomplete.amount", "enter"): "pacomplete.send",
    ("pacomplete.password", "enter"): "pacomplete.send",
    ("paadvice.trace", "enter"): "paadvice.amount",
    ("paadvice.amount", "enter"): "paadvice.send",
    ("paadvice.password", "enter"): "paadvice.send",
    ("parelease.trace", "enter"): "parelease.password",
    ("parelease.password", "enter"): "parelease.send",
    ("pacvoid.trace", "enter"): "pacvoid.password",
    ("pacvoid.password", "enter"): "pacvoid.send",
    ("paopen.find", "one"): "paopen.detail",
    ("paopen.find", "many"): "paopen.list",
    ("paopen.list", "enter"): "paopen.detail",
    ("paopen.detail", "back"): "paopen.list",
    ("paopen.detail", "enter"): "paopen.list",
    ("sale.amount", "enter"): "sale.send",
    ("sale.amount", "pin"): "sale.pin",
    ("sale.pin", "enter"): "sale.send",
    ("sale.send", "confirm"): "sale.confirm",
    ("sale.confirm", "enter"): "sale.send",
    ("sale.confirm", "pin"): "sale.pin",  # the PIN went with the first call: the customer keys it again
    ("sale.amount", "code"): "wallet.code",
    ("wallet.code", "enter"): "wallet.send",
    ("wallet.send", "confirm"): "wallet.confirm",
    ("wallet.confirm", "enter"): "wallet.send",
    ("void.trace", "enter"): "void.find",
    ("void.find", "one"): "void.detail",
    ("void.find", "many"): "void.list",
    ("void.list", "enter"): "void.detail",
    ("void.detail", "back"): "void.list",
    ("void.detail", "enter"): "void.password",
    ("void.password", "enter"): "void.send",
    ("refund.by", "trace"): "refund.trace",
    ("refund.by", "rrn"): "refund.rrn",
    ("refund.by", "amount"): "refund.find_amount",
    ("refund.by", "last4"): "refund.last4",
    ("refund.trace", "enter"): "refund.find",
    ("refund.rrn", "enter"): "refund.date",
    ("refund.date", "enter"): "refund.find",
    ("refund.find_amount", "enter"): "refund.find",
    ("refund.last4", "enter"): "refund.find",
    ("refund.find", "one"): "refund.detail",
    ("refund.find", "many"): "refund.list",
    ("refund.list", "enter"): "refund.detail",
    ("refund.detail", "back"): "refund.list",
    ("refund.detail", "enter"): "refund.amount",
    # not sold at this till: the store's back office says what is still refundable (a sale of another till)
    ("refund.find", "elsewhere"): "refund.amount",
    ("refund.amount", "enter"): "refund.password",
    ("refund.password", "enter"): "refund.send",
    ("refund.send", "confirm"): "refund.confirm",
    ("refund.confirm", "enter"): "refund.password",
    ("correct.trace", "enter"): "correct.find",
    ("correct.find", "one"): "correct.detail",
    ("correct.find", "many"): "correct.list",
    ("correct.list", "enter"): "correct.detail",
    ("correct.detail", "back"): "correct.list",
    ("correct.detail", "enter"): "correct.amount",
    ("correct.amount", "enter"): "correct.password",
    ("correct.password", "enter"): "correct.send",
    ("correct.password", "code"): "correct.code",  # a payment-code sale undercharged: the customer's new code
    ("correct.code", "enter"): "correct.send",
    ("dups.find", "one"): "dups.detail",
    ("dups.find", "many"): "dups.list",
    ("dups.list", "enter"): "dups.detail",
    ("dups.detail", "back"): "dups.list",
    ("dups.detail", "enter"): "dups.password",
    ("dups.password", "enter"): "dups.send",
    ("lookup.by", "trace"): "lookup.trace",
    ("lookup.by", "amount"): "lookup.amount",
    ("lookup.by", "last4"): "lookup.last4",
    ("lookup.by", "date"): "lookup.date",
    ("lookup.trace", "enter"): "lookup.find",
    ("lookup.amount", "enter"): "lookup.find",
    ("lookup.last4", "enter"): "lookup.find",
    ("lookup.date", "enter"): "lookup.find",
    ("lookup.find", "one"): "lookup.detail",
    ("lookup.find", "many"): "lookup.list",
    ("lookup.list", "enter"): "lookup.detail",
    ("lookup.detail", "back"): "lookup.list",
    ("lookup.detail", "enter"): "lookup.list",
    ("settle.totals", "confirm"): "settle.confirm",
    ("settle.confirm", "enter"): "settle.password",
    ("settle.password", "enter"): "settle.send",
    ("idle", "declined"): "declined.password",
    ("declined.password", "enter"): "declined.send",
    ("declined.send", "one"): "declined.detail",
    ("declined.send", "many"): "declined.list",
    ("declined.list", "enter"): "declined.detail",
    ("declined.detail", "back"): "declined.list",
    ("declined.detail", "enter"): "declined.list",
    ("result", "enter"): "idle",
    ("result", "retry"): _PASSWORD_STATES,  # a refused password: key it again, the rest of the dialog kept
    ("result", "refund"): "refund.find",  # S5: a void refused because the batch is settled
}.items()}

# rules for every state
for _state, _screen in STATES.items():
    if _screen.kind == BUSY:
        TRANSITIONS[(_state, "done")] = frozenset(["result"])
        TRANSITIONS[(_state, "cancelled")] = frozenset(["idle"])
    else:
        TRANSITIONS[(_state, "cancel")] = frozenset(["idle"])


def next_state(state: str, event: str, target: str | None = None) -> str:
    """Where `event` leads from `state` (`target` chooses when the table allows several); else refuse."""
    allowed = TRANSITIONS.get((state, event))
    if not allowed:
        raise UiStateError(f"no move from {state!r} on {event!r} in the cashier menu table", state=state, event=event)
    if target is None:
        if len(allowed) != 1:
            raise UiStateError(f"{state!r} on {event!r} needs a target (one of {sorted(allowed)})",
                               state=state, event=event)
        (target,) = allowed
    elif target not in allowed:
        raise UiStateError(f"{state!r} on {event!r} may not lead to {target!r}", state=state, event=event)
    return target
