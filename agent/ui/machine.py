"""The cashier terminal: keypad keys and control-API replies in, frames, calls and receipts out.

Sans-IO: `press(key)`, `notify(text)` and `deliver(reply)` return a list of actions (`Show`, `Call`,
`Print`); the driver shows, performs and prints them.  Where each key may lead is `agent.ui.table`;
this module says what happens on the way, `agent.ui.replies` what each reply does.  CANCEL returns to
idle from any screen; while a call is in flight it is noted, the reply is awaited and then shown, so no
operation is ever left half done.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from agent.money import MAX_MINOR_UNITS, format_amount
from agent.paycodes import PaymentCodeError, classify, product_barcode
from agent.ui import table
from agent.ui.calls import CANCELLABLE, FIND_FIELDS, call_for, link_state
from agent.ui.actions import (BACKSPACE, CANCEL, CLEAR, DIGITS, DOT, DOUBLE_ZERO, DOWN, ENTER, F1, F2, F3, F4, KEYS, UP,
                              Action, Call, Show, SideCall, UiError, UiStateError)
from agent.ui.entry import MAX_LENGTH, amount_problem, edit_amount, edit_digits, read_amount, read_number
from agent.ui.layout import check_grid, pages
from agent.ui.replies import Replies
from agent.ui.screens import Draft, Result, View, body, render
from agent.ui.table import KEYPAD, RETRY_EVENTS, STATES, KeypadState, Screen
from agent.ui.texts import Texts
from agent.ui.views import error_headline

#: function-key shortcuts on the idle screen
SHORTCUTS = {F1: "sale", F2: "refund", F3: "lookup", F4: "reprint"}
#: on an amount that may be paid by payment code (the sale), this key chooses the code instead of a card
CODE_KEY = F1
PIN_KEY = F2  # on the sale's amount: the customer will key an online PIN
#: what CANCEL sends beside a call it can stop (`CANCELLABLE`; the daemon answers it at once, the sale then
#: cancels the order)
WALLET_CANCEL = SideCall("wallet_cancel", {})


class Terminal(Replies):
    """One cashier screen of `width` × `height` display columns in `language` (en, zh)."""

    def __init__(self, width: int = 21, height: int = 8, language: str = "en", *, exponent: int = 2,
                 test_card: str | None = None, currency: str = "CNY"):
        check_grid(width, height)
        if not (isinstance(exponent, int) and 0 <= exponent <= 3):
            raise UiError(f"currency exponent must be 0 to 3, not {exponent!r}")
        if not (isinstance(currency, str) and currency.isascii() and currency.isalnum() and len(currency) == 3):
            raise UiError(f"currency must be a three-letter code such as CNY (or its three digits), not {currency!r}")
        self.width, self.height, self.exponent, self.test_card = width, height, exponent, test_card
        self.currency = currency.upper()
        self.texts = Texts(language)
        self.state: KeypadState = KeypadState.IDLE
        self.draft = Draft()
        self._entry = ""
        self._notice = ""
        self._page = 0
        self._password: str | None = None
        self._pin: str | None = None  # the customer's online PIN: handed over in the sale's Call, never kept
        self._in_flight: Call | None = None
        self._op = ""  # the operation of the last call (its reply is being read)
        self._cancel_requested = False
        self._progress = ""
        self._stage = ""  # a payment code: "scanning" or the customer "paying"
        self._left: int | None = None  # seconds left of that wait
        self._result: Result | None = None
        self._open_fixes: dict[int, str] = {}  # fix id → trace of its sale, for the idle screen
        self._link_notice = ""  # the acquirer link is not encrypted (TLS off): said on the idle screen
        self._offline: tuple[int, int] | None = None  # the bank cannot be reached: (stored, amount) on every screen
        self._declined = 0  # stored sales the bank declined after forwarding, not yet seen by a supervisor
        self._switched = False  # offline because the supervisor switched it so (the banner says it)
        self._manual = 0  # stored sales the bank was never told of (sealed card does not open): manual handling

    # ------------------------------------------------------------------ the driver's side
    @property
    def busy(self) -> bool:
        """A call is in flight: the driver owes a `deliver`."""
        return self._in_flight is not None

    def start(self) -> list[Action]:
        return [Show(self.frame())]

    def press(self, key: str) -> list[Action]:
        if key not in KEYS:
            raise UiError(f"{key!r} is not a keypad key (known: {', '.join(sorted(KEYS))})")
        if self._in_flight is not None:
            if key == CANCEL and not self._cancel_requested:
                self._cancel_requested = True
                return [Show(self.frame()), *self._cancel_order()]
            return []
        if key == CANCEL:
            return self._go("cancel")
        screen = STATES[self.state]
        handle: Callable[[str, Screen], list[Action]] = getattr(self, f"_key_{screen.kind}")
        return handle(key, screen)

    def set_link(self, status: Any) -> list[Action]:
        """What the agent's `status` says of its acquirer link: without TLS the idle screen says so plainly;
        while the bank cannot be reached (store-and-forward on) every screen says "OFFLINE — n stored, amount";
        stored sales the bank declined after forwarding, not yet seen, are a banner until a supervisor sees them,
        and so are stored sales the bank was never told of, until a supervisor marks them handled."""
        plain, offline, declined, switched, manual = link_state(status)
        self._link_notice = self.texts("idle.tls_off") if plain else ""
        before = (self._offline, self._declined, self._switched, self._manual)
        self._offline, self._declined, self._switched, self._manual = offline, declined, switched, manual
        if (self._offline, self._declined, self._switched, self._manual) != before:  # the banner is on every screen: show the change now
            return [Show(self.frame())]
        return [Show(self.frame())] if self.state == KeypadState.IDLE and self._in_flight is None else []

    def set_open_fixes(self, fixes: Any) -> list[Action]:
        """The agent's open multi-step fixes (the `fixes` answer), shown on the idle screen until done."""
        self._open_fixes = {int(f["id"]): f"{int(f['trace']):06d}" for f in fixes if isinstance(f, Mapping)}
        return [Show(self.frame())] if self.state == KeypadState.IDLE and self._in_flight is None else []

    def notify(self, text: str) -> list[Action]:
        """Progress from the agent while a call runs ("Connecting…"); a `agent.progress.Progress` also names
        the stage of a payment code (scanning, the customer paying on the phone, the seconds left)."""
        if self._in_flight is None:
            return []
        self._progress = str(text)
        stage = getattr(text, "stage", "")
        self._stage = stage if isinstance(stage, str) else ""
        left = getattr(text, "left", None)
        self._left = left if isinstance(left, int) and not isinstance(left, bool) and left >= 0 else None
        # a new wait began although CANCEL was pressed: that cancel reached the agent before the sale
        # did (or was lost), so it is sent again; a cancel the sale saw ends the waits instead
        again = self._cancel_order() if self._cancel_requested and self._stage else []
        return [Show(self.frame()), *again]

    def acknowledge(self, reply: Mapping[str, Any]) -> list[Action]:
        """The reply to a SideCall (the cancel of a payment code); the call in flight still ends it."""
        if self._in_flight is None or not self._cancel_requested:
            return []
        result = reply.get("result") if reply.get("ok") else None
        if isinstance(result, Mapping) and result.get("cancelling"):
            return []
        error = reply.get("error")
        error = error if isinstance(error, Mapping) else {}
        why = str(error.get("message") or error.get("code") or "the agent has no payment-code support")
        self._cancel_requested = False  # not sent: CANCEL may be pressed again
        self._notice = self.texts("cancel.failed", why=why)
        return [Show(self.frame())]

    def _cancel_order(self) -> list[Action]:
        return [WALLET_CANCEL] if self._flight_op() in CANCELLABLE else []

    def _flight_op(self) -> str:
        return getattr(self._in_flight, "op", "")

    def deliver(self, reply: Mapping[str, Any]) -> list[Action]:
        """The reply to the call in flight."""
        if self._in_flight is None:
            raise UiStateError(f"a reply arrived in state {self.state!r} with no call in flight", state=self.state)
        self._op, self._in_flight = self._flight_op(), None
        cancelled, self._cancel_requested, self._progress = self._cancel_requested, False, ""
        self._stage, self._left = "", None
        try:
            return self._on_reply(STATES[self.state].call, reply, cancelled)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            why = f"{type(exc).__name__} {exc}"
            return self._finish(Result(error_headline("internal", self.texts), self.texts("bad_reply", why=why)))

    # ------------------------------------------------------------------ moving through the table
    def _go(self, event: str) -> list[Action]:
        self.state = KEYPAD.step(self.state, event)
        self._entry, self._notice, self._page = "", "", 0
        screen = STATES[self.state]
        if self.state == KeypadState.IDLE:
            self.draft, self._result, self._password, self._pin = Draft(), None, None, None
        if screen.kind == table.BUSY:
            call = call_for(screen.call, self.draft, self.state, password=self._password, pin=self._pin,
                            test_card=self.test_card)
            self._password = self._pin = None  # handed over in the Call; never kept
            self._in_flight = call
            return [Show(self.frame()), call]
        return [Show(self.frame())]

    def _finish(self, result: Result) -> list[Action]:
        self._result = result
        return self._go("done")

    # ------------------------------------------------------------------ keys, per kind of screen
    def _key_menu(self, key: str, screen: Screen) -> list[Action]:
        if self.state == KeypadState.IDLE and key in SHORTCUTS:
            return self._go(SHORTCUTS[key])
        if self.state == KeypadState.IDLE and key == ENTER and self._declined:  # the banner's sales, for the supervisor
            return self._go("declined")
        return self._key_choose(key, screen)

    def _key_choose(self, key: str, screen: Screen) -> list[Action]:
        number = 10 if key == "0" else int(key) if key in DIGITS else 0  # 0 is the tenth item
        if key in DIGITS and 1 <= number <= len(screen.options):
            option = screen.options[number - 1]
            if screen.kind == table.CHOOSE:
                self.draft = replace(self.draft, find_by=option)
            return self._go(option)
        return self._scroll(key)

    def _key_amount(self, key: str, screen: Screen) -> list[Action]:
        by_code = key == CODE_KEY and screen.by_code
        with_pin = key == PIN_KEY and self.state == KeypadState.SALE_AMOUNT  # the customer will key an online PIN
        if key != ENTER and not by_code and not with_pin:
            edited = edit_amount(self._entry, key, self.exponent)
            refused = amount_problem(self._entry, key, self.exponent) if edited == self._entry else ""
            if refused:  # a key that cannot make an amount says why instead of vanishing
                return self._problem(f"bad.{refused}", most=self._most(refused), currency=self.currency)
            return self._edit(edited, key)
        if not self._entry and screen.optional:
            value = None
        else:
            value = read_amount(self._entry, self.exponent)
            if value is None:
                zero = bool(self._entry) and not self._entry.strip("0.")
                return self._problem("bad.zero" if zero else "bad.amount")
        if with_pin:
            self.draft = replace(self.draft, amount=value, with_pin=True)
            return self._go("pin")
        picked = self.draft.picked or {}
        if self.state == KeypadState.CORRECT_AMOUNT and value is not None:  # undercharged by payment code: the customer's new code pays the rest
            new_code = picked.get("payment") == "wallet" and value > int(picked.get("amount") or 0)
            self.draft = replace(self.draft, new_code=new_code)
        return self._store(screen.field, value, "code" if by_code else "enter")

    def _most(self, problem: str) -> str:
        if problem == "too_large":
            return format_amount(MAX_MINOR_UNITS, self.exponent)
        return str(MAX_LENGTH["password"] if problem == "password_long" else self.exponent)

    def _key_number(self, key: str, screen: Screen) -> list[Action]:
        if key != ENTER:
            return self._edit(edit_digits(self._entry, key, MAX_LENGTH[screen.field]), key)
        value = read_number(screen.field, self._entry)
        if value is None:
            return self._problem(f"bad.{screen.field}")
        return self._store(screen.field, value)

    def _key_code(self, key: str, screen: Screen) -> list[Action]:
        """A payment code keyed digit by digit, checked here before anything is sent; ENTER alone scans it."""
        if key != ENTER:
            return self._edit(edit_digits(self._entry, key, MAX_LENGTH["code"]), key)
        if self._entry:
            try:
                classify(self._entry)
            except PaymentCodeError:
                return self._problem("bad.code_product" if product_barcode(self._entry) else "bad.code")
        return self._store(screen.field, self._entry)

    def _key_password(self, key: str, screen: Screen) -> list[Action]:
        if screen.field == "pin":
            return self._key_pin(key)
        if key != ENTER:
            if key in DIGITS and len(self._entry) >= MAX_LENGTH["password"]:
                return self._problem("bad.password_long", most=MAX_LENGTH["password"])
            return self._edit(edit_digits(self._entry, key, MAX_LENGTH["password"]), key)
        if not self._entry:
            return self._problem("bad.password")
        self._password = self._entry
        return self._go("code" if self.state == KeypadState.CORRECT_PASSWORD and self.draft.new_code else "enter")

    def _key_pin(self, key: str) -> list[Action]:
        if key != ENTER:
            return self._edit(edit_digits(self._entry, key, MAX_LENGTH["pin"]), key)
        if not 4 <= len(self._entry) <= MAX_LENGTH["pin"]:
            return self._problem("bad.pin")
        self._pin = self._entry
        return self._go("enter")

    def _key_confirm(self, key: str, screen: Screen) -> list[Action]:
        if key == ENTER and self._page < self._last_page():  # yes only once the whole question was shown
            return self._scroll(DOWN)
        if key == ENTER and self.state == KeypadState.SALE_CONFIRM and self.draft.with_pin:
            return self._go("pin")
        return self._go("enter") if key == ENTER else self._scroll(key)

    def _key_list(self, key: str, screen: Screen) -> list[Action]:
        count = len(self.draft.found)
        if key in (UP, DOWN):
            cursor = max(0, min(count - 1, self.draft.cursor + (1 if key == DOWN else -1)))
            self.draft = replace(self.draft, cursor=cursor)
            return [Show(self.frame())]
        if key == ENTER:
            return self._go("enter")
        return []

    def _key_detail(self, key: str, screen: Screen) -> list[Action]:
        typed = key in DIGITS or key in (DOUBLE_ZERO, DOT)
        amount_next = screen.pick and STATES[KEYPAD.step(self.state, "enter")].kind == table.AMOUNT
        if key == ENTER or typed and amount_next:  # the amount may be keyed straight on the sale's details
            if screen.pick:
                self.draft = replace(self.draft, picked=self.draft.found[self.draft.cursor])
            shown = self._go("enter")
            return self.press(key) if typed else shown
        if key in (BACKSPACE, CLEAR):
            return self._go("back")
        return self._scroll(key)

    def _key_result(self, key: str, screen: Screen) -> list[Action]:
        if key != ENTER:
            return self._scroll(key)
        result = self._result
        if result is not None and result.offer == "retry" and result.retry_state is not None:
            return self._go(RETRY_EVENTS[result.retry_state])
        if result is not None and result.offer == "refund":
            return self._go("refund")
        return self._go("enter")

    # ------------------------------------------------------------------ helpers for keys
    def _edit(self, text: str, key: str) -> list[Action]:
        if key in (UP, DOWN):
            return self._scroll(key)
        self._entry, self._notice = text, ""
        return [Show(self.frame())]

    def _problem(self, text_key: str, **values: Any) -> list[Action]:
        self._notice, self._page = self.texts(text_key, **values), 0
        return [Show(self.frame())]

    def _store(self, field: str, value: Any, event: str = "enter") -> list[Action]:
        changes: dict[str, Any] = {field: value}
        if field in FIND_FIELDS:
            changes["find_by"] = FIND_FIELDS[field]
        self.draft = replace(self.draft, **changes)
        return self._go(event)

    def _scroll(self, key: str) -> list[Action]:
        if key not in (UP, DOWN):
            return []
        last = self._last_page()
        page = max(0, min(last, self._page + (1 if key == DOWN else -1)))
        if page == self._page:
            return []
        self._page = page
        return [Show(self.frame())]

    # ------------------------------------------------------------------ frames
    def frame(self) -> tuple[str, ...]:
        """What the display shows now."""
        return render(self._view(), self.texts)

    def _view(self) -> View:
        return View(self.state, self.width, self.height, self.exponent, self.draft, self._entry, self._notice,
                    self._page, self._in_flight is not None, self._cancel_requested, self._progress,
                    self._result, tuple(self._open_fixes.values()), self._stage, self._left,
                    self._flight_op() in CANCELLABLE, self.currency, self._link_notice, self._offline,
                    self._declined, self._switched, self._manual)

    def _body_lines(self) -> int:
        return len(body(replace(self._view(), waiting=False, cancel_requested=False, progress=""), self.texts))

    def _last_page(self) -> int:
        return pages(self._body_lines(), self._view().rows) - 1
