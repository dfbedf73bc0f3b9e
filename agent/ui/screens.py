"""What each kind of screen shows: a pure function from the machine's current view to a frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from agent.money import format_amount
from agent.ui import table
from agent.engine.receipts import display_width
from agent.ui.layout import compose, pad, pages, right, split_ends, wrap
from agent.ui.table import STATES, KeypadState, Screen
from agent.ui.texts import Texts
from agent.ui.views import detail_lines, grouped, list_row, message_lines, shown_amount
from agent.journal.states import TxnState


@dataclass(frozen=True)
class Draft:
    """What the current dialog has collected so far (cleared on return to idle)."""

    find_by: str = ""  # trace, rrn, amount, last4 or date
    trace: int | None = None
    rrn: str | None = None
    mmdd: str | None = None
    find_amount: int | None = None
    last4: str | None = None
    day: str | None = None  # YYYY-MM-DD, or YYYY-MM-DD HH:MM
    amount: int | None = None  # the sale / refund / right amount
    confirm_duplicate: bool = False
    confirm_unusual: bool = False
    with_pin: bool = False  # the customer keys an online PIN for this sale (F1 on the amount screen)
    confirm_repeat: bool = False  # a refund like one just made: the cashier said go on
    confirm_open_fixes: bool = False  # settle although the confirm screen listed open fixes
    confirm_stored: bool = False  # settle although stored sales cannot be forwarded: they move to the next batch
    new_code: bool = False  # a payment-code sale corrected upwards: the customer's new code pays the difference
    question: str = ""  # the agent's question on a confirm screen
    found: tuple[Mapping[str, Any], ...] = ()
    groups: tuple[int, ...] = ()  # duplicate group of each found transaction
    cursor: int = 0
    picked: Mapping[str, Any] | None = None
    code: str | None = field(default=None, repr=False)  # a keyed payment code ("" = scan it); one-time, never shown


@dataclass(frozen=True)
class Result:
    headline: str
    message: str
    offer: str = ""  # "retry" (key the password again) or "refund" (a void refused after settlement)
    retry_state: KeypadState | None = None  # the password screen a "retry" goes back to


@dataclass(frozen=True)
class View:
    """Everything a frame depends on (a snapshot of the machine)."""

    state: KeypadState
    width: int
    height: int
    exponent: int
    draft: Draft
    entry: str  # typed so far (a password is only ever shown as stars)
    notice: str  # why the last entry was not accepted
    page: int
    waiting: bool  # a call is in flight
    cancel_requested: bool
    progress: str
    result: Result | None
    open_fixes: tuple[str, ...] = ()  # traces of sales whose correction stopped halfway (idle screen)
    stage: str = ""  # what the call in flight waits for: "scanning" the code, the customer "paying" on the phone
    left: int | None = None  # seconds the customer has left to confirm
    cancellable: bool = False  # the call in flight is a payment-code sale: CANCEL cancels the order
    currency: str = "CNY"
    link_notice: str = ""  # said on the idle screen: the acquirer link is not encrypted
    #: store-and-forward while the bank cannot be reached: (sales stored, their amount) — a banner on every screen
    offline: tuple[int, int] | None = None
    declined: int = 0  # stored sales the bank declined when forwarded, not yet seen by a supervisor
    switched: bool = False  # offline because the supervisor switched it so by hand
    manual: int = 0  # stored sales the bank was never told of (sealed card does not open): manual handling

    @property
    def banner(self) -> bool:
        return self.offline is not None or self.declined > 0 or self.manual > 0

    @property
    def rows(self) -> int:
        """Body rows of a frame: the grid less the title and footer lines (and the banner's)."""
        return self.height - 2 - (1 if self.banner else 0)


def banner(view: View, t: Texts) -> str:
    """The top line while offline ("OFFLINE — 3 stored, 75.00", shorter where the display is narrow; "OFFLINE BY
    SUPERVISOR — ..." while the supervisor switched it offline), or
    while a declined-after-forwarding sale waits for a supervisor, or a stored sale the bank was never told of;
    the longest form that fits."""
    keys: tuple[str, ...]
    if view.offline is not None:
        count, amount = view.offline
        name = "offline.switched" if view.switched else "offline.banner"  # the supervisor's switch: said so
        keys, values = (name, f"{name}_mid", f"{name}_short"), \
            {"count": count, "amount": format_amount(amount, view.exponent)}
    elif view.declined:
        keys, values = ("declined.banner", "declined.banner_short"), {"count": view.declined}
    else:
        keys, values = ("manual.banner", "manual.banner_short"), {"count": view.manual}
    texts = [t(key, **values) for key in keys]
    return next((text for text in texts if display_width(text) <= view.width), texts[-1])


def render(view: View, t: Texts) -> tuple[str, ...]:
    screen = STATES[view.state]
    if view.waiting:
        hint = "hint.cancelling" if view.cancel_requested else "hint.cancel_order" if view.cancellable else "hint.wait"
        title, footer = t(screen.title), t(hint)
        amount = shown_amount(view.draft.amount, view.exponent, view.currency, view.width) \
            if screen.charge and view.draft.amount else None
        if amount:  # what the customer is charged stays on the top line while the card or code is asked for
            title = split_ends(title, amount, view.width)
    elif screen.kind == table.RESULT:
        result = view.result or Result("", "")
        title = result.headline
        footer = t({"retry": "hint.retry", "refund": "hint.refund"}.get(result.offer, "hint.ok"))
    else:
        title, footer = t(screen.title), _footer(view, screen, t)
    page = view.draft.cursor // view.rows if screen.kind == table.LIST else view.page
    if not view.banner:
        return compose(title, body(view, t), footer, view.width, view.height, page)
    # the banner takes the top line of every screen; the rest is the frame one line shorter
    return (pad(banner(view, t), view.width), *compose(title, body(view, t), footer, view.width, view.height - 1, page))


def _footer(view: View, screen: Screen, t: Texts) -> str:
    if screen.kind == table.CODE:  # a one-time code is never echoed (nor what was typed into it by mistake)
        return right("*" * len(view.entry) or t("entry.scan"), view.width)
    if screen.kind == table.PASSWORD and screen.field != "pin":  # the keypad has digits only
        return split_ends(t("hint.digits_only"), "*" * len(view.entry) or "_", view.width)
    if screen.kind == table.CONFIRM and view.page < pages(len(body(view, t)), view.rows) - 1:
        return t("hint.more")  # ENTER pages down: yes is only asked on the last page
    if screen.kind in (table.AMOUNT, table.NUMBER, table.PASSWORD):
        shown = "*" * len(view.entry) if screen.kind == table.PASSWORD else view.entry
        if not shown and screen.kind == table.AMOUNT:
            shown = t("entry.all") if screen.optional else format_amount(0, view.exponent)
        return right(shown or "_", view.width)
    return t({table.MENU: "hint.menu", table.CHOOSE: "hint.choose", table.CONFIRM: "hint.confirm",
              table.LIST: "hint.list", table.DETAIL: "hint.pick" if screen.pick else "hint.view"}[screen.kind])


def body(view: View, t: Texts) -> list[str]:
    screen, w, d = STATES[view.state], view.width, view.draft
    if view.waiting:
        return _waiting(view, t)
    kind = screen.kind
    if kind in (table.MENU, table.CHOOSE):
        prefix = "item." if kind == table.MENU else "by."
        items = [f"{n % 10} {t(prefix + option)}" for n, option in enumerate(screen.options, 1)]  # 0: the tenth
        head = wrap(t(screen.prompt), w) if kind != table.MENU else \
            wrap(t("idle.open_fixes", count=len(view.open_fixes), traces=" ".join(view.open_fixes)), w) \
            if view.state == KeypadState.IDLE and view.open_fixes else []
        if view.state == KeypadState.IDLE and view.link_notice:
            head = wrap(view.link_notice, w) + head
        if view.state == KeypadState.IDLE and view.declined:  # ENTER opens them (the supervisor acknowledges)
            head = wrap(t("idle.declined", count=view.declined), w) + head
        if view.state == KeypadState.IDLE and view.manual:  # what the merchant must do; a supervisor marks them
            head = wrap(t("idle.manual", count=view.manual), w) + head
        return head + [line for i in items for line in wrap(i, w)]
    if kind in (table.AMOUNT, table.NUMBER, table.PASSWORD, table.CODE):
        lines = (wrap(view.notice, w) if view.notice else []) + wrap(t(screen.prompt), w)
        if screen.by_code:  # the sale: F1 for a payment code instead of a card
            lines += wrap(t("prompt.or_code"), w)
        if view.state == KeypadState.REFUND_AMOUNT and not (d.picked or {}).get("elsewhere"):
            picked = d.picked or {}
            whole = picked.get("state") == TxnState.APPROVED  # nothing refunded yet: all of it is refundable
            lines += wrap(t("prompt.refund_all", amount=format_amount(int(picked.get("amount", 0)), view.exponent))
                          if whole else t("prompt.refund_rest"), w)
        return lines
    if kind == table.CONFIRM:
        return message_lines(d.question, w)
    if kind == table.LIST:
        return [list_row(txn, w, view.exponent, selected=i == d.cursor, group=d.groups[i] if d.groups else None)
                for i, txn in enumerate(d.found)]
    if kind == table.DETAIL:
        lines = detail_lines(d.found[d.cursor], t, w, view.exponent, group=d.groups[d.cursor] if d.groups else None)
        if view.state == KeypadState.DECLINED_DETAIL:  # what the store does about a sale the bank refused after forwarding
            lines += wrap(t("declined.todo"), w)
        return lines
    if kind == table.RESULT:
        result = view.result or Result("", "")
        offer = {"retry": t("offer.retry"), "refund": t("offer.refund", trace=f"{d.trace or 0:06d}")}.get(result.offer)
        return message_lines(result.message, w) + (wrap(offer, w) if offer else [])
    return []


def _waiting(view: View, t: Texts) -> list[str]:
    """A call in flight: the agent's progress, or for a payment code the screen's own words (they fit 16×4)."""
    w = view.width
    notice = wrap(view.notice, w) if view.notice else []  # a cancel that did not reach the agent
    if STATES[view.state].charge and view.draft.amount and \
            not shown_amount(view.draft.amount, view.exponent, view.currency, w):  # too long for the top line
        amount = f"{view.currency} {grouped(view.draft.amount, view.exponent)}"
        if len(amount) > w:
            amount = f"{view.currency} {format_amount(view.draft.amount, view.exponent)}"
        notice = [right(line, w) for line in wrap(amount, w)] + notice
    if view.stage and view.cancel_requested:
        return wrap(t("paying.cancelling"), w)
    if view.stage == "paying":
        head = [t("paying.left", left=view.left)] if view.left is not None else []
        text = wrap(t("paying.wait"), w)
        if len(notice) + len(head) + len(text) > view.rows:
            text = wrap(t("paying.short"), w)
        return notice + head + text
    if view.stage == "scanning":
        return notice + wrap(t("scan.now"), w)
    return notice + wrap(view.progress or t("busy"), w) + (wrap(t("busy.cancel"), w) if view.cancel_requested else [])
