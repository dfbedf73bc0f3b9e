"""Rules that hold for every key sequence, every reply and every grid: the machine never crashes, every
frame fits the grid, CANCEL always gets back to idle, a password is never on screen, and the machine only
moves along its table."""

from __future__ import annotations

import os

from hypothesis import given, settings, strategies as st

from agent.engine.receipts import display_width
from agent.ui import KEYS, Call, Print, Show, SideCall, Terminal, UiStateError
from agent.ui.layout import compose, wrap
from agent.ui.table import BUSY, KEYPAD, STATES
from agent.catalogue import LANGUAGES
from agent.ui.texts import HEADLINE_COLUMNS, TEXTS

EXAMPLES = int(os.environ.get("UI_FUZZ_EXAMPLES", "300"))
SECRET = "97531"

keys = st.sampled_from(sorted(KEYS))
words = st.text(st.sampled_from("abc XYZ 0123 交易成功 ，。é\t\n`posagent x`"), max_size=120)
txns = st.fixed_dictionaries({
    "id": st.integers(1, 50), "trace": st.integers(1, 999999), "amount": st.integers(1, 10**12 - 1),
    "kind": st.sampled_from(["sale", "correction", "void", "refund", "weird"]),
    "state": st.sampled_from(["approved", "declined", "voided", "refunded_partially", "in_doubt", "odd"]),
    "batch": st.integers(1, 999999), "batch_state": st.sampled_from(["open", "settled", "x"]),
    "created_at": st.floats(0, 4e9), "rrn": st.one_of(st.none(), st.text("0123456789", min_size=12, max_size=12)),
    "auth_code": st.one_of(st.none(), st.just("007919")), "pan_masked": st.one_of(st.none(), st.just("622609******0048")),
    "payment": st.sampled_from(["card", "wallet", "odd"])})
replies = st.one_of(
    st.builds(lambda status, message, guard, n: {"ok": True, "outcome": {
        "status": status, "message": message, "details": {"guard": guard},
        "receipts": [{"merchant": "M", "customer": "C"}] * n}},
        st.sampled_from(["approved", "declined", "reversed", "in_doubt", "needs_confirmation", "repeat", "done"]),
        words, st.sampled_from([None, "duplicate", "unusual_amount"]), st.integers(0, 2)),
    st.builds(lambda code, message: {"ok": False, "error": {"code": code, "message": message}},
              st.sampled_from(["auth", "usage", "not_found", "batch_settled", "offline", "daemon", "zz"]), words),
    st.builds(lambda ts: {"ok": True, "result": {"transactions": ts}}, st.lists(txns, max_size=4)),
    st.builds(lambda gs: {"ok": True, "result": {"groups": gs}}, st.lists(st.lists(txns, min_size=2, max_size=3),
                                                                          max_size=2)),
    st.builds(lambda t: {"ok": True, "result": {"txn": t, "merchant": "M", "customer": "C"}}, txns),
    st.just({"ok": True, "result": {}}), st.just({"ok": True}), st.just({}))
steps = st.lists(st.one_of(keys.map(lambda k: ("key", k)), replies.map(lambda r: ("reply", r)),
                           words.map(lambda w: ("notify", w))), max_size=60)
grids = st.tuples(st.integers(16, 40), st.integers(4, 10), st.sampled_from(["en", "zh"]))


# a cashier who mostly gets somewhere: digits and ENTER often, CANCEL rarely, and replies that fit the call
guided_keys = st.one_of(st.sampled_from(["1", "2", "3", "0", "1", "ENTER", "ENTER", "ENTER", "DOWN", "4", "5", "6",
                                          "7", "8", "9", "00", "."]),
                        st.sampled_from(sorted(KEYS)))
sale_txns = txns.map(lambda t: {**t, "kind": "sale", "state": "approved"})
plausible = {
    "lookup": st.builds(lambda ts: {"ok": True, "result": {"transactions": ts}}, st.lists(sale_txns, min_size=1,
                                                                                           max_size=3)),
    "duplicates": st.builds(lambda gs: {"ok": True, "result": {"groups": gs}},
                            st.lists(st.lists(sale_txns, min_size=2, max_size=3), min_size=1, max_size=2)),
    "settle_totals": st.just({"ok": True, "outcome": {"status": "needs_confirmation", "message": "Settle? totals",
                                                      "details": {}, "receipts": []}}),
}


def check(terminal: Terminal, actions: list) -> None:
    for action in actions:
        assert isinstance(action, (Show, Call, SideCall, Print))
        if isinstance(action, Show):
            assert len(action.frame) == terminal.height
            for line in action.frame:
                assert display_width(line) == terminal.width, (line, action.frame)
                assert SECRET not in line
        if isinstance(action, (Call, SideCall)):
            assert terminal.busy and STATES[terminal.state].kind == BUSY
        if isinstance(action, SideCall):  # only the cancel of a payment code, only beside one
            assert action.op == "wallet_cancel" and terminal._in_flight.op in ("wallet_sale", "wallet_correct")
    assert terminal.state in STATES
    assert terminal.busy == (STATES[terminal.state].kind == BUSY)


def run(terminal: Terminal, plan) -> None:
    check(terminal, terminal.start())
    for kind, value in plan:
        before = terminal.state
        if kind == "key":
            was_busy = terminal.busy
            check(terminal, terminal.press(value))
            if value == "CANCEL" and not was_busy:
                assert terminal.state == "idle", f"CANCEL in {before} led to {terminal.state}"
        elif kind == "notify":
            check(terminal, terminal.notify(value))
        elif terminal.busy:
            check(terminal, terminal.deliver(value))
            assert not terminal.busy
        else:
            try:
                terminal.deliver(value)
            except UiStateError:
                pass
            else:
                raise AssertionError("a reply with no call in flight was accepted")


@settings(max_examples=EXAMPLES)
@given(grids, steps)
def test_random_keys_and_replies_never_crash_and_every_frame_fits_the_grid(grid, plan):
    run(Terminal(*grid, test_card="debit"), plan)


@settings(max_examples=EXAMPLES)
@given(grids, st.data())
def test_a_cashier_walking_the_menus_reaches_every_screen_and_every_frame_fits(grid, data):
    terminal = Terminal(*grid, test_card="debit")
    check(terminal, terminal.start())
    for _ in range(data.draw(st.integers(1, 80), label="steps")):
        if terminal.busy:
            call = STATES[terminal.state].call
            reply = data.draw(st.one_of(plausible.get(call, replies), plausible.get(call, replies), replies),
                              label=f"reply to {call}")
            check(terminal, terminal.deliver(reply))
        else:
            before = terminal.state
            key = data.draw(guided_keys, label=f"key in {terminal.state}")
            check(terminal, terminal.press(key))
            if key == "CANCEL":
                assert terminal.state == "idle", f"CANCEL in {before} led to {terminal.state}"
        REACHED.add(terminal.state)


REACHED: set[str] = set()


def test_the_walks_above_reached_most_screens():
    """A check on the test itself: the guided walk is not stuck near idle (it runs before this test)."""
    if not REACHED:  # this test run alone
        test_a_cashier_walking_the_menus_reaches_every_screen_and_every_frame_fits()
    assert len(REACHED) >= len(STATES) // 2, sorted(set(STATES) - REACHED)


@settings(max_examples=EXAMPLES // 3)
@given(grids, steps, replies)
def test_cancel_always_gets_back_to_idle_and_a_typed_password_never_shows(grid, plan, reply):
    terminal = Terminal(*grid)
    run(terminal, plan)
    if terminal.state.endswith(".password"):
        check(terminal, [a for k in SECRET for a in terminal.press(k)])
    check(terminal, terminal.press("CANCEL"))
    if terminal.busy:  # a call in flight is waited for, then shown; one more CANCEL leaves it
        check(terminal, terminal.deliver(reply))
        check(terminal, terminal.press("CANCEL"))
    assert terminal.state == "idle" and terminal.draft.picked is None


@settings(max_examples=EXAMPLES)
@given(words, st.integers(16, 40))
def test_wrapped_text_never_exceeds_the_width_and_keeps_every_visible_character(text, width):
    lines = wrap(text, width)
    assert all(display_width(line) <= width for line in lines)
    assert "".join("".join(lines).split()) == "".join("".join(text.replace("\t", " ")).split())


@settings(max_examples=EXAMPLES // 3)
@given(words, st.lists(words, max_size=12), words, grids, st.integers(-3, 10))
def test_composed_frames_are_exactly_the_grid(title, body, footer, grid, page):
    width, height, _ = grid
    frame = compose(title, [line for b in body for line in wrap(b, width)], footer, width, height, page)
    assert len(frame) == height and all(display_width(line) == width for line in frame)


def test_the_table_only_leads_to_known_states_and_every_screen_can_be_left_with_cancel():
    for (state, event), target in KEYPAD.table.items():
        assert state in STATES and target in STATES, (state, event)
    for state, screen in STATES.items():
        if screen.kind == BUSY:
            assert KEYPAD.step(state, "done") == "result" and KEYPAD.step(state, "cancelled") == "idle"
        else:
            assert KEYPAD.step(state, "cancel") == "idle"


def test_every_state_is_reachable_from_idle():
    seen, todo = {"idle"}, ["idle"]
    while todo:
        state = todo.pop()
        for (source, _), target in KEYPAD.table.items():
            if source == state and target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(STATES)


def test_every_title_and_headline_fits_the_smallest_screen_beside_its_page_marker():
    titles = {screen.title for screen in STATES.values() if screen.title}
    for name, pair in TEXTS.items():
        for language, text in zip(LANGUAGES, pair):
            if name in titles or name.startswith(("status.", "error.")):
                assert display_width(text.format(count=99)) <= HEADLINE_COLUMNS, (language, name, text)
