"""The cashier menu as one table: every screen state, and every legal move between them.

A state is a `KeypadState`, "flow.step"; its `Screen` says what kind of dialog it is (menu, amount entry,
password, busy waiting for a reply, ...).  `KEYPAD` (an `agent.machine.Machine`) says where each event
leads; the terminal moves only through `KEYPAD.step`, which refuses anything not listed here
(`IllegalTransition`).  Rules that hold
for every state are added below the table: CANCEL leads to idle from every state that is not waiting
for a reply, and every busy state ends in "result" (or back in idle when the cashier cancelled a
question or a search while it ran: nothing was done).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agent.machine import Machine

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


MENU_ITEMS = ("sale", "void", "refund", "correct", "dups", "reprint", "lookup", "settle", "manage", "preauth")
#: the pre-authorization submenu (预授权): hold, complete, release a hold, void a completion, open holds
PREAUTH_ITEMS = ("pahold", "pacomplete", "parelease", "pacvoid", "paopen", "paadvice")
#: the management submenu (管理): sign on; the supervisor switches the terminal offline by hand, or back
MANAGE_ITEMS = ("signon", "gooffline", "goonline")

class KeypadState(StrEnum):
    """A screen of the cashier menu, "flow.step"; its `Screen` in `STATES` says what kind of dialog it is."""

    IDLE = "idle"
    RESULT = "result"
    SALE_AMOUNT = "sale.amount"
    SALE_PIN = "sale.pin"
    SALE_SEND = "sale.send"
    SALE_CONFIRM = "sale.confirm"
    WALLET_CODE = "wallet.code"
    WALLET_SEND = "wallet.send"
    WALLET_CONFIRM = "wallet.confirm"
    VOID_TRACE = "void.trace"
    VOID_FIND = "void.find"
    VOID_LIST = "void.list"
    VOID_DETAIL = "void.detail"
    VOID_PASSWORD = "void.password"
    VOID_SEND = "void.send"
    REFUND_BY = "refund.by"
    REFUND_TRACE = "refund.trace"
    REFUND_RRN = "refund.rrn"
    REFUND_DATE = "refund.date"
    REFUND_FIND_AMOUNT = "refund.find_amount"
    REFUND_LAST4 = "refund.last4"
    REFUND_FIND = "refund.find"
    REFUND_LIST = "refund.list"
    REFUND_DETAIL = "refund.detail"
    REFUND_AMOUNT = "refund.amount"
    REFUND_PASSWORD = "refund.password"
    REFUND_SEND = "refund.send"
    REFUND_CONFIRM = "refund.confirm"
    CORRECT_TRACE = "correct.trace"
    CORRECT_FIND = "correct.find"
    CORRECT_LIST = "correct.list"
    CORRECT_DETAIL = "correct.detail"
    CORRECT_AMOUNT = "correct.amount"
    CORRECT_PASSWORD = "correct.password"
    CORRECT_CODE = "correct.code"
    CORRECT_SEND = "correct.send"
    DUPS_FIND = "dups.find"
    DUPS_LIST = "dups.list"
    DUPS_DETAIL = "dups.detail"
    DUPS_PASSWORD = "dups.password"
    DUPS_SEND = "dups.send"
    REPRINT_SEND = "reprint.send"
    MANAGE_MENU = "manage.menu"
    SIGNON_SEND = "signon.send"
    GOOFFLINE_PASSWORD = "gooffline.password"
    GOOFFLINE_SEND = "gooffline.send"
    GOONLINE_PASSWORD = "goonline.password"
    GOONLINE_SEND = "goonline.send"
    LOOKUP_BY = "lookup.by"
    LOOKUP_TRACE = "lookup.trace"
    LOOKUP_AMOUNT = "lookup.amount"
    LOOKUP_LAST4 = "lookup.last4"
    LOOKUP_DATE = "lookup.date"
    LOOKUP_FIND = "lookup.find"
    LOOKUP_LIST = "lookup.list"
    LOOKUP_DETAIL = "lookup.detail"
    SETTLE_TOTALS = "settle.totals"
    SETTLE_CONFIRM = "settle.confirm"
    SETTLE_PASSWORD = "settle.password"
    SETTLE_SEND = "settle.send"
    PREAUTH_MENU = "preauth.menu"
    PAHOLD_AMOUNT = "pahold.amount"
    PAHOLD_PASSWORD = "pahold.password"
    PAHOLD_SEND = "pahold.send"
    PAHOLD_CONFIRM = "pahold.confirm"
    PACOMPLETE_TRACE = "pacomplete.trace"
    PACOMPLETE_AMOUNT = "pacomplete.amount"
    PACOMPLETE_PASSWORD = "pacomplete.password"
    PACOMPLETE_SEND = "pacomplete.send"
    PAADVICE_TRACE = "paadvice.trace"
    PAADVICE_AMOUNT = "paadvice.amount"
    PAADVICE_PASSWORD = "paadvice.password"
    PAADVICE_SEND = "paadvice.send"
    PARELEASE_TRACE = "parelease.trace"
    PARELEASE_PASSWORD = "parelease.password"
    PARELEASE_SEND = "parelease.send"
    PACVOID_TRACE = "pacvoid.trace"
    PACVOID_PASSWORD = "pacvoid.password"
    PACVOID_SEND = "pacvoid.send"
    PAOPEN_FIND = "paopen.find"
    PAOPEN_LIST = "paopen.list"
    PAOPEN_DETAIL = "paopen.detail"
    DECLINED_PASSWORD = "declined.password"
    DECLINED_SEND = "declined.send"
    DECLINED_LIST = "declined.list"
    DECLINED_DETAIL = "declined.detail"


K = KeypadState

STATES: dict[KeypadState, Screen] = {
    K.IDLE: Screen(MENU, "menu", options=MENU_ITEMS),
    K.RESULT: Screen(RESULT, ""),
    # sale (S1 prevention, S2 warning: the agent may ask to confirm an unusual amount or a repeat)
    K.SALE_AMOUNT: Screen(AMOUNT, "sale", "prompt.amount", field="amount", by_code=True),
    K.SALE_PIN: Screen(PASSWORD, "sale", "prompt.pin", field="pin"),  # F2 on the amount: online PIN
    K.SALE_SEND: Screen(BUSY, "sale", call="sale", charge=True),
    K.SALE_CONFIRM: Screen(CONFIRM, "sale"),
    # payment code (扫码): F1 on the sale amount, then scan (ENTER alone) or key the customer's code;
    # while the customer confirms on the phone CANCEL cancels the order (a SideCall beside the sale)
    K.WALLET_CODE: Screen(CODE, "wallet", "prompt.code", field="code"),
    K.WALLET_SEND: Screen(BUSY, "wallet", call="wallet_sale", charge=True),
    K.WALLET_CONFIRM: Screen(CONFIRM, "wallet"),
    # void (open batch only; S5: a settled batch offers the refund instead): the sale is looked up and
    # shown (amount, card, time) before the supervisor keys the password
    K.VOID_TRACE: Screen(NUMBER, "void", "prompt.trace", field="trace"),
    K.VOID_FIND: Screen(BUSY, "void", call="lookup"),
    K.VOID_LIST: Screen(LIST, "void"),
    K.VOID_DETAIL: Screen(DETAIL, "void", pick=True),
    K.VOID_PASSWORD: Screen(PASSWORD, "void", "prompt.password"),
    K.VOID_SEND: Screen(BUSY, "void", call="void"),
    # refund (S4): find the original, amount (default: all refundable), supervisor
    K.REFUND_BY: Screen(CHOOSE, "refund", "prompt.choose", options=("trace", "rrn", "amount", "last4")),
    K.REFUND_TRACE: Screen(NUMBER, "refund", "prompt.trace", field="trace"),
    K.REFUND_RRN: Screen(NUMBER, "refund", "prompt.rrn", field="rrn"),
    K.REFUND_DATE: Screen(NUMBER, "refund", "prompt.mmdd", field="mmdd"),
    K.REFUND_FIND_AMOUNT: Screen(AMOUNT, "refund", "prompt.orig_amount", field="find_amount"),
    K.REFUND_LAST4: Screen(NUMBER, "refund", "prompt.last4", field="last4"),
    K.REFUND_FIND: Screen(BUSY, "refund", call="lookup"),
    K.REFUND_LIST: Screen(LIST, "refund"),
    K.REFUND_DETAIL: Screen(DETAIL, "refund", pick=True),
    K.REFUND_AMOUNT: Screen(AMOUNT, "refund", "prompt.refund_amount", field="amount", optional=True),
    K.REFUND_PASSWORD: Screen(PASSWORD, "refund", "prompt.password"),
    K.REFUND_SEND: Screen(BUSY, "refund", call="refund"),
    K.REFUND_CONFIRM: Screen(CONFIRM, "refund"),  # the same refund was just made: again? (supervisor again)
    # correct amount (S1 overcharge, S3 undercharge): the agent picks the fix and says why
    K.CORRECT_TRACE: Screen(NUMBER, "correct", "prompt.trace", field="trace"),
    K.CORRECT_FIND: Screen(BUSY, "correct", call="lookup"),
    K.CORRECT_LIST: Screen(LIST, "correct"),
    K.CORRECT_DETAIL: Screen(DETAIL, "correct", pick=True),
    K.CORRECT_AMOUNT: Screen(AMOUNT, "correct", "prompt.right_amount", field="amount"),
    K.CORRECT_PASSWORD: Screen(PASSWORD, "correct", "prompt.password"),  # before the code: never typed into it
    K.CORRECT_CODE: Screen(CODE, "correct", "prompt.new_code", field="code"),  # a payment-code undercharge
    K.CORRECT_SEND: Screen(BUSY, "correct", call="correct"),
    # suspected duplicates (S2 repair)
    K.DUPS_FIND: Screen(BUSY, "dups", call="duplicates"),
    K.DUPS_LIST: Screen(LIST, "dups"),
    K.DUPS_DETAIL: Screen(DETAIL, "dups", pick=True),
    K.DUPS_PASSWORD: Screen(PASSWORD, "dups", "prompt.password"),
    K.DUPS_SEND: Screen(BUSY, "dups", call="duplicates_fix"),
    # reprint; management (key 9): sign-on, and the supervisor's offline switch (store-and-forward)
    K.REPRINT_SEND: Screen(BUSY, "reprint", call="receipt"),
    K.MANAGE_MENU: Screen(MENU, "manage", options=MANAGE_ITEMS),
    K.SIGNON_SEND: Screen(BUSY, "signon", call="signon"),
    K.GOOFFLINE_PASSWORD: Screen(PASSWORD, "gooffline", "prompt.password"),
    K.GOOFFLINE_SEND: Screen(BUSY, "gooffline", call="offline_switch"),
    K.GOONLINE_PASSWORD: Screen(PASSWORD, "goonline", "prompt.password"),
    K.GOONLINE_SEND: Screen(BUSY, "goonline", call="offline_switch"),
    # lookup (S1: by trace, amount, card last 4, day)
    K.LOOKUP_BY: Screen(CHOOSE, "lookup", "prompt.choose", options=("trace", "amount", "last4", "date")),
    K.LOOKUP_TRACE: Screen(NUMBER, "lookup", "prompt.trace", field="trace"),
    K.LOOKUP_AMOUNT: Screen(AMOUNT, "lookup", "prompt.amount", field="find_amount"),
    K.LOOKUP_LAST4: Screen(NUMBER, "lookup", "prompt.last4", field="last4"),
    K.LOOKUP_DATE: Screen(NUMBER, "lookup", "prompt.day", field="day"),
    K.LOOKUP_FIND: Screen(BUSY, "lookup", call="lookup"),
    K.LOOKUP_LIST: Screen(LIST, "lookup"),
    K.LOOKUP_DETAIL: Screen(DETAIL, "lookup"),
    # settlement (S5): totals first, confirm (open fixes listed and confirmed too), supervisor; stored sales the
    # bank cannot take now are asked about after the password (confirmed: they move to the next batch)
    K.SETTLE_TOTALS: Screen(BUSY, "settle", call="settle_totals"),
    K.SETTLE_CONFIRM: Screen(CONFIRM, "settle"),
    K.SETTLE_PASSWORD: Screen(PASSWORD, "settle", "prompt.password"),
    K.SETTLE_SEND: Screen(BUSY, "settle", call="settle"),
    # pre-authorization (key 0): hold, complete, release, void a completion, open holds by age
    K.PREAUTH_MENU: Screen(MENU, "preauth", options=PREAUTH_ITEMS),
    K.PAHOLD_AMOUNT: Screen(AMOUNT, "pahold", "prompt.amount", field="amount"),
    K.PAHOLD_PASSWORD: Screen(PASSWORD, "pahold", "prompt.password"),
    K.PAHOLD_SEND: Screen(BUSY, "pahold", call="preauth", charge=True),
    K.PAHOLD_CONFIRM: Screen(CONFIRM, "pahold"),
    K.PACOMPLETE_TRACE: Screen(NUMBER, "pacomplete", "prompt.preauth_trace", field="trace"),
    K.PACOMPLETE_AMOUNT: Screen(AMOUNT, "pacomplete", "prompt.complete_amount", field="amount"),
    K.PACOMPLETE_PASSWORD: Screen(PASSWORD, "pacomplete", "prompt.password"),  # where configured (retry offer)
    K.PACOMPLETE_SEND: Screen(BUSY, "pacomplete", call="preauth_complete"),
    # a completion sent as an advice (预授权完成通知): journaled owing a 0220, delivered when the bank answers
    K.PAADVICE_TRACE: Screen(NUMBER, "paadvice", "prompt.preauth_trace", field="trace"),
    K.PAADVICE_AMOUNT: Screen(AMOUNT, "paadvice", "prompt.complete_amount", field="amount"),
    K.PAADVICE_PASSWORD: Screen(PASSWORD, "paadvice", "prompt.password"),  # where configured (retry offer)
    K.PAADVICE_SEND: Screen(BUSY, "paadvice", call="preauth_complete"),
    K.PARELEASE_TRACE: Screen(NUMBER, "parelease", "prompt.preauth_trace", field="trace"),
    K.PARELEASE_PASSWORD: Screen(PASSWORD, "parelease", "prompt.password"),
    K.PARELEASE_SEND: Screen(BUSY, "parelease", call="preauth_release"),
    K.PACVOID_TRACE: Screen(NUMBER, "pacvoid", "prompt.completion_trace", field="trace"),
    K.PACVOID_PASSWORD: Screen(PASSWORD, "pacvoid", "prompt.password"),
    K.PACVOID_SEND: Screen(BUSY, "pacvoid", call="completion_void"),
    K.PAOPEN_FIND: Screen(BUSY, "paopen", call="preauth_list"),
    K.PAOPEN_LIST: Screen(LIST, "paopen"),
    K.PAOPEN_DETAIL: Screen(DETAIL, "paopen"),
    # store-and-forward: the stored sales the bank declined when forwarded (ENTER on the idle screen's
    # banner); the supervisor's password acknowledges them, and they are listed with what to do
    K.DECLINED_PASSWORD: Screen(PASSWORD, "declined", "prompt.password"),
    K.DECLINED_SEND: Screen(BUSY, "declined", call="offline_declined"),
    K.DECLINED_LIST: Screen(LIST, "declined"),
    K.DECLINED_DETAIL: Screen(DETAIL, "declined"),
}

#: a refused supervisor password: ENTER on the result keys it again (the rest of the dialog kept), one
#: event per password screen so that the table says where each leads
RETRY_EVENTS: dict[KeypadState, str] = {
    state: f"retry.{state.split('.')[0]}" for state, screen in STATES.items()
    if screen.kind == PASSWORD and state.endswith(".password")}

#: every event of the cashier menu: a menu item or choice, a key's meaning, the reply to a call
EVENTS: tuple[str, ...] = tuple(dict.fromkeys((
    *MENU_ITEMS, *PREAUTH_ITEMS, *MANAGE_ITEMS, "trace", "rrn", "amount", "last4", "date",
    "enter", "back", "pin", "code", "confirm", "one", "many", "elsewhere", "refund", "declined",
    *RETRY_EVENTS.values(),
    "done", "cancelled", "cancel")))

_MOVES: dict[tuple[KeypadState, str], KeypadState] = {
    (K.IDLE, "sale"): K.SALE_AMOUNT,
    (K.IDLE, "void"): K.VOID_TRACE,
    (K.IDLE, "refund"): K.REFUND_BY,
    (K.IDLE, "correct"): K.CORRECT_TRACE,
    (K.IDLE, "dups"): K.DUPS_FIND,
    (K.IDLE, "reprint"): K.REPRINT_SEND,
    (K.IDLE, "lookup"): K.LOOKUP_BY,
    (K.IDLE, "settle"): K.SETTLE_TOTALS,
    (K.IDLE, "manage"): K.MANAGE_MENU,
    (K.MANAGE_MENU, "signon"): K.SIGNON_SEND,
    (K.MANAGE_MENU, "gooffline"): K.GOOFFLINE_PASSWORD,
    (K.MANAGE_MENU, "goonline"): K.GOONLINE_PASSWORD,
    (K.GOOFFLINE_PASSWORD, "enter"): K.GOOFFLINE_SEND,
    (K.GOONLINE_PASSWORD, "enter"): K.GOONLINE_SEND,
    (K.IDLE, "preauth"): K.PREAUTH_MENU,
    (K.PREAUTH_MENU, "pahold"): K.PAHOLD_AMOUNT,
    (K.PREAUTH_MENU, "pacomplete"): K.PACOMPLETE_TRACE,
    (K.PREAUTH_MENU, "parelease"): K.PARELEASE_TRACE,
    (K.PREAUTH_MENU, "pacvoid"): K.PACVOID_TRACE,
    (K.PREAUTH_MENU, "paopen"): K.PAOPEN_FIND,
    (K.PREAUTH_MENU, "paadvice"): K.PAADVICE_TRACE,
    (K.PAHOLD_AMOUNT, "enter"): K.PAHOLD_PASSWORD,
    (K.PAHOLD_PASSWORD, "enter"): K.PAHOLD_SEND,
    (K.PAHOLD_SEND, "confirm"): K.PAHOLD_CONFIRM,
    (K.PAHOLD_CONFIRM, "enter"): K.PAHOLD_PASSWORD,
    (K.PACOMPLETE_TRACE, "enter"): K.PACOMPLETE_AMOUNT,
    (K.PACOMPLETE_AMOUNT, "enter"): K.PACOMPLETE_SEND,
    (K.PACOMPLETE_PASSWORD, "enter"): K.PACOMPLETE_SEND,
    (K.PAADVICE_TRACE, "enter"): K.PAADVICE_AMOUNT,
    (K.PAADVICE_AMOUNT, "enter"): K.PAADVICE_SEND,
    (K.PAADVICE_PASSWORD, "enter"): K.PAADVICE_SEND,
    (K.PARELEASE_TRACE, "enter"): K.PARELEASE_PASSWORD,
    (K.PARELEASE_PASSWORD, "enter"): K.PARELEASE_SEND,
    (K.PACVOID_TRACE, "enter"): K.PACVOID_PASSWORD,
    (K.PACVOID_PASSWORD, "enter"): K.PACVOID_SEND,
    (K.PAOPEN_FIND, "one"): K.PAOPEN_DETAIL,
    (K.PAOPEN_FIND, "many"): K.PAOPEN_LIST,
    (K.PAOPEN_LIST, "enter"): K.PAOPEN_DETAIL,
    (K.PAOPEN_DETAIL, "back"): K.PAOPEN_LIST,
    (K.PAOPEN_DETAIL, "enter"): K.PAOPEN_LIST,
    (K.SALE_AMOUNT, "enter"): K.SALE_SEND,
    (K.SALE_AMOUNT, "pin"): K.SALE_PIN,
    (K.SALE_PIN, "enter"): K.SALE_SEND,
    (K.SALE_SEND, "confirm"): K.SALE_CONFIRM,
    (K.SALE_CONFIRM, "enter"): K.SALE_SEND,
    (K.SALE_CONFIRM, "pin"): K.SALE_PIN,  # the PIN went with the first call: the customer keys it again
    (K.SALE_AMOUNT, "code"): K.WALLET_CODE,
    (K.WALLET_CODE, "enter"): K.WALLET_SEND,
    (K.WALLET_SEND, "confirm"): K.WALLET_CONFIRM,
    (K.WALLET_CONFIRM, "enter"): K.WALLET_SEND,
    (K.VOID_TRACE, "enter"): K.VOID_FIND,
    (K.VOID_FIND, "one"): K.VOID_DETAIL,
    (K.VOID_FIND, "many"): K.VOID_LIST,
    (K.VOID_LIST, "enter"): K.VOID_DETAIL,
    (K.VOID_DETAIL, "back"): K.VOID_LIST,
    (K.VOID_DETAIL, "enter"): K.VOID_PASSWORD,
    (K.VOID_PASSWORD, "enter"): K.VOID_SEND,
    (K.REFUND_BY, "trace"): K.REFUND_TRACE,
    (K.REFUND_BY, "rrn"): K.REFUND_RRN,
    (K.REFUND_BY, "amount"): K.REFUND_FIND_AMOUNT,
    (K.REFUND_BY, "last4"): K.REFUND_LAST4,
    (K.REFUND_TRACE, "enter"): K.REFUND_FIND,
    (K.REFUND_RRN, "enter"): K.REFUND_DATE,
    (K.REFUND_DATE, "enter"): K.REFUND_FIND,
    (K.REFUND_FIND_AMOUNT, "enter"): K.REFUND_FIND,
    (K.REFUND_LAST4, "enter"): K.REFUND_FIND,
    (K.REFUND_FIND, "one"): K.REFUND_DETAIL,
    (K.REFUND_FIND, "many"): K.REFUND_LIST,
    (K.REFUND_LIST, "enter"): K.REFUND_DETAIL,
    (K.REFUND_DETAIL, "back"): K.REFUND_LIST,
    (K.REFUND_DETAIL, "enter"): K.REFUND_AMOUNT,
    # not sold at this till: the store's back office says what is still refundable (a sale of another till)
    (K.REFUND_FIND, "elsewhere"): K.REFUND_AMOUNT,
    (K.REFUND_AMOUNT, "enter"): K.REFUND_PASSWORD,
    (K.REFUND_PASSWORD, "enter"): K.REFUND_SEND,
    (K.REFUND_SEND, "confirm"): K.REFUND_CONFIRM,
    (K.REFUND_CONFIRM, "enter"): K.REFUND_PASSWORD,
    (K.CORRECT_TRACE, "enter"): K.CORRECT_FIND,
    (K.CORRECT_FIND, "one"): K.CORRECT_DETAIL,
    (K.CORRECT_FIND, "many"): K.CORRECT_LIST,
    (K.CORRECT_LIST, "enter"): K.CORRECT_DETAIL,
    (K.CORRECT_DETAIL, "back"): K.CORRECT_LIST,
    (K.CORRECT_DETAIL, "enter"): K.CORRECT_AMOUNT,
    (K.CORRECT_AMOUNT, "enter"): K.CORRECT_PASSWORD,
    (K.CORRECT_PASSWORD, "enter"): K.CORRECT_SEND,
    (K.CORRECT_PASSWORD, "code"): K.CORRECT_CODE,  # a payment-code sale undercharged: the customer's new code
    (K.CORRECT_CODE, "enter"): K.CORRECT_SEND,
    (K.DUPS_FIND, "one"): K.DUPS_DETAIL,
    (K.DUPS_FIND, "many"): K.DUPS_LIST,
    (K.DUPS_LIST, "enter"): K.DUPS_DETAIL,
    (K.DUPS_DETAIL, "back"): K.DUPS_LIST,
    (K.DUPS_DETAIL, "enter"): K.DUPS_PASSWORD,
    (K.DUPS_PASSWORD, "enter"): K.DUPS_SEND,
    (K.LOOKUP_BY, "trace"): K.LOOKUP_TRACE,
    (K.LOOKUP_BY, "amount"): K.LOOKUP_AMOUNT,
    (K.LOOKUP_BY, "last4"): K.LOOKUP_LAST4,
    (K.LOOKUP_BY, "date"): K.LOOKUP_DATE,
    (K.LOOKUP_TRACE, "enter"): K.LOOKUP_FIND,
    (K.LOOKUP_AMOUNT, "enter"): K.LOOKUP_FIND,
    (K.LOOKUP_LAST4, "enter"): K.LOOKUP_FIND,
    (K.LOOKUP_DATE, "enter"): K.LOOKUP_FIND,
    (K.LOOKUP_FIND, "one"): K.LOOKUP_DETAIL,
    (K.LOOKUP_FIND, "many"): K.LOOKUP_LIST,
    (K.LOOKUP_LIST, "enter"): K.LOOKUP_DETAIL,
    (K.LOOKUP_DETAIL, "back"): K.LOOKUP_LIST,
    (K.LOOKUP_DETAIL, "enter"): K.LOOKUP_LIST,
    (K.SETTLE_TOTALS, "confirm"): K.SETTLE_CONFIRM,
    (K.SETTLE_CONFIRM, "enter"): K.SETTLE_PASSWORD,
    (K.SETTLE_PASSWORD, "enter"): K.SETTLE_SEND,
    (K.SETTLE_SEND, "confirm"): K.SETTLE_CONFIRM,  # stored sales the bank cannot take: move them on?
    (K.IDLE, "declined"): K.DECLINED_PASSWORD,
    (K.DECLINED_PASSWORD, "enter"): K.DECLINED_SEND,
    (K.DECLINED_SEND, "one"): K.DECLINED_DETAIL,
    (K.DECLINED_SEND, "many"): K.DECLINED_LIST,
    (K.DECLINED_LIST, "enter"): K.DECLINED_DETAIL,
    (K.DECLINED_DETAIL, "back"): K.DECLINED_LIST,
    (K.DECLINED_DETAIL, "enter"): K.DECLINED_LIST,
    (K.RESULT, "enter"): K.IDLE,
    (K.RESULT, "refund"): K.REFUND_FIND,  # S5: a void refused because the batch is settled
    **{(K.RESULT, event): state for state, event in RETRY_EVENTS.items()},
}

# rules for every state: CANCEL leaves any screen that waits for the cashier; a busy one ends in the result
# (or back in idle when the cashier cancelled a question or a search while it ran)
for _state, _screen in STATES.items():
    if _screen.kind == BUSY:
        _MOVES[(_state, "done")] = K.RESULT
        _MOVES[(_state, "cancelled")] = K.IDLE
    else:
        _MOVES[(_state, "cancel")] = K.IDLE

KEYPAD: Machine[KeypadState] = Machine("keypad", KeypadState, EVENTS, _MOVES, initial=K.IDLE)


def sibling(state: KeypadState, step: str) -> KeypadState | None:
    """The screen `step` of the same flow as `state` ("void.send", "password" → void.password), if there is one."""
    try:
        return KeypadState(f"{state.split('.')[0]}.{step}")
    except ValueError:
        return None
