"""The host ledger's running balances always equal a full recomputation from its rows, whatever the
sequence of sales, voids, refunds, reversals and repeats from several terminals, in groups or alone,
with requests that fail half-way; and every lookup the host makes per message uses an index."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agent import config
from agent.keys.store import SoftwareKeyStore
from agent.engine.netmgmt import apply_signon_response, build_signon
from simulator.host import balances
from simulator.host.ledger import Ledger
from simulator.host.processing import HostProcessor
from simulator.testcards import load_cards
from tests.simhost import CUP, DEFAULT_TMK, ROOT, refund, reversal, sale, void

NOW = datetime(2026, 11, 23, 10, 30, 0)
CARDS = load_cards()
CARD_NAMES = ("debit", "credit", "low-balance", "declined")


class Terminal:
    def __init__(self, host: HostProcessor, tid: str):
        self.host, self.tid = host, tid
        self.keys = SoftwareKeyStore(DEFAULT_TMK)
        self.stan = 0
        cfg = config.from_mapping({"terminal": {"terminal_id": tid}})
        request = build_signon(cfg, self.next_stan())
        self.batch = apply_signon_response(request, host.handle(request, NOW), self.keys, now=NOW).batch_number

    def next_stan(self) -> int:
        self.stan += 1
        return self.stan

    def send(self, msg):
        return self.host.handle(self.keys.sign(CUP, msg), NOW)


class Boom(Exception):
    pass


def check(ledger: Ledger) -> None:
    assert ledger.verify_balances() == []
    report = ledger.net_report()
    for name, row in report["cards"].items():
        assert ledger.card_net_charged(name) == row["net_charged"]
    for tid, row in report["terminals"].items():
        assert ledger.balance("terminal", tid).net_charged == row["net_charged"]
    for name in CARD_NAMES:
        assert ledger.card_net_charged(name) == report["cards"].get(name, {"net_charged": 0})["net_charged"]


step = st.one_of(
    st.tuples(st.just("sale"), st.integers(0, 2), st.sampled_from(CARD_NAMES), st.integers(1, 4000)),
    st.tuples(st.just("void"), st.integers(0, 2), st.integers(0, 4), st.booleans()),
    st.tuples(st.just("refund"), st.integers(0, 2), st.integers(0, 4), st.integers(1, 4000)),
    st.tuples(st.just("reverse"), st.integers(0, 4)),
    st.tuples(st.just("reverse_sale"), st.integers(0, 4)),  # a sale that may since be voided or refunded
    st.tuples(st.just("repeat"), st.integers(0, 4)),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(step, st.booleans()), max_size=45), groups=st.lists(st.integers(1, 6), max_size=20))
def test_running_balances_equal_a_recomputation_after_any_message_sequence(steps, groups):
    ledger = Ledger(":memory:")
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    terminals = [Terminal(host, f"1000000{n}") for n in range(3)]
    sent: list[tuple[Terminal, object, object]] = []  # (terminal, request, answer) of financial requests
    sales: list[tuple[Terminal, object, object]] = []

    def perform(op, fail: bool):
        kind = op[0]
        if kind == "sale":
            t = terminals[op[1]]
            msg = sale(CARDS[op[2]], op[3], t.next_stan(), tid=t.tid, batch=t.batch)
        elif kind in ("void", "refund") and sales:
            t0, original, answer = sales[-1 - op[2] % len(sales)]  # mostly the latest ones
            if answer.get(37) is None:
                return
            card = next(c for c in CARDS.values() if c.pan == original[2])
            if kind == "void":
                t = t0  # a void is made on the sale's own terminal
                amount = int(original[4]) if op[3] else int(original[4]) + 1
                msg = void(card, amount, t.next_stan(), original, answer, tid=t.tid, batch=t.batch)
            else:
                t = terminals[op[1]]
                msg = refund(card, op[3], t.next_stan(), answer, tid=t.tid, batch=t.batch)
        elif kind == "reverse" and sent:
            t, original, _answer = sent[-1 - op[1] % len(sent)]
            msg = reversal(original)
        elif kind == "reverse_sale" and sales:
            t, original, _answer = sales[-1 - op[1] % len(sales)]
            msg = reversal(original)
        elif kind == "repeat" and sent:
            t, msg, _answer = sent[-1 - op[1] % len(sent)]
        else:
            return
        answer = t.send(msg)
        if fail:
            raise Boom()  # the request's work fails after writing: its step must leave nothing
        if msg.mti in ("0200", "0220") and kind != "repeat":
            sent.append((t, msg, answer))
            if kind == "sale":
                sales.append((t, msg, answer))

    sizes = iter(groups)
    i = 0
    while i < len(steps):
        size = next(sizes, 1)
        chunk, i = steps[i:i + size], i + size
        with ledger.group():
            for op, fail in chunk:
                fail = fail and op[0] != "repeat" and len(chunk) > 1
                try:
                    with ledger.step():
                        perform(op, fail)
                except Boom:
                    pass  # that request left nothing: the check below proves it
        check(ledger)
    ledger.close()


def test_a_voided_sale_whose_void_is_reversed_is_charged_again_and_a_second_void_cancels_it(tmp_path):
    ledger = Ledger(tmp_path / "host.db")
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    t = Terminal(host, "10000001")
    card = CARDS["debit"]
    original = sale(card, 700, t.next_stan(), batch=t.batch)
    answer = t.send(original)
    assert ledger.balance("card", "debit").charged == 700
    first_void = void(card, 700, t.next_stan(), original, answer, batch=t.batch)
    assert t.send(first_void)[39] == "00"
    assert ledger.balance("card", "debit").charged == 0
    assert t.send(reversal(first_void))[39] == "00"
    assert ledger.balance("card", "debit").charged == 700
    assert t.send(reversal(first_void))[39] == "00"  # a repeated reversal moves nothing twice
    assert ledger.balance("card", "debit").charged == 700
    assert t.send(void(card, 700, t.next_stan(), original, answer, batch=t.batch))[39] == "00"
    assert ledger.balance("card", "debit") == balances.Balance()
    r = refund(card, 300, t.next_stan(), answer, batch=t.batch)
    assert t.send(r)[39] == "12"  # voided: nothing to refund
    assert t.send(reversal(original))[39] == "00"  # reversing a voided sale moves nothing more
    assert ledger.balance("card", "debit") == balances.Balance()
    assert ledger.verify_balances() == []
    ledger.close()


def test_a_ledger_written_before_running_balances_gets_them_rebuilt_on_open(tmp_path):
    path = tmp_path / "host.db"
    ledger = Ledger(path)
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    t = Terminal(host, "10000001")
    t.send(sale(CARDS["credit"], 1234, t.next_stan(), batch=t.batch))
    ledger.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE balances")
    db.commit()
    db.close()
    ledger = Ledger(path)
    assert ledger.balance("card", "credit").charged == 1234
    assert ledger.balance("terminal", "10000001").charged == 1234
    assert ledger.verify_balances() == []
    ledger.close()


def test_a_failed_group_keeps_nothing_of_any_of_its_requests(tmp_path):
    ledger = Ledger(tmp_path / "host.db")
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    t = Terminal(host, "10000001")
    with pytest.raises(Boom):
        with ledger.group():
            assert t.send(sale(CARDS["debit"], 100, t.next_stan(), batch=t.batch))[39] == "00"
            raise Boom()
    assert ledger.balance("card", "debit") == balances.Balance()
    assert ledger.net_report()["cards"] == {}
    with pytest.raises(RuntimeError, match="already open"):
        with ledger.group():
            with ledger.group():
                pass
    assert ledger.verify_balances() == []
    ledger.close()


def test_every_per_message_lookup_uses_an_index(tmp_path):
    ledger = Ledger(tmp_path / "host.db")
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    t = Terminal(host, "10000001")
    statements: list[str] = []
    ledger.db.set_trace_callback(statements.append)
    card = CARDS["debit"]
    original = sale(card, 500, t.next_stan(), batch=t.batch)
    answer = t.send(original)
    t.send(original)  # duplicate STAN
    other = sale(card, 900, t.next_stan(), batch=t.batch)
    other_answer = t.send(other)
    t.send(void(card, 500, t.next_stan(), original, answer, batch=t.batch))
    t.send(refund(card, 100, t.next_stan(), other_answer, batch=t.batch))
    t.send(reversal(other))
    ledger.db.set_trace_callback(None)
    probe = sqlite3.connect(tmp_path / "host.db")
    checked = 0
    for sql in {s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT"))}:
        # a VALUES list ("SCAN n CONSTANT ROWS") or a SELECT without FROM ("SCAN CONSTANT ROW") reads no table
        plan = " / ".join(row[3] for row in probe.execute("EXPLAIN QUERY PLAN " + sql)
                          if not row[3].startswith("SCAN CONSTANT ROW") and not row[3].endswith("CONSTANT ROWS"))
        checked += 1
        # a full scan of a table is allowed only for MAX(id) (the rowid b-tree's last entry)
        assert "SCAN" not in plan or "MAX(id)" in sql, f"{sql!r} scans: {plan}"
    assert checked >= 8
    probe.close()
    ledger.close()


def test_posim_host_ledger_verify_passes_then_names_a_tampered_balance(tmp_path):
    path = tmp_path / "host.db"
    ledger = Ledger(path)
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    t = Terminal(host, "10000001")
    t.send(sale(CARDS["credit"], 2500, t.next_stan(), batch=t.batch))
    ledger.close()
    cmd = [sys.executable, "-m", "simulator.cli", "host", "ledger", "--db", str(path), "--verify"]
    ok = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "match" in ok.stdout
    db = sqlite3.connect(path)
    db.execute("UPDATE balances SET charged = charged + 1 WHERE scope = 'card' AND key = 'credit'")
    db.commit()
    db.close()
    bad = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "card credit: running charged 2501 (rows say 2500)" in bad.stdout
    assert "Traceback" not in bad.stderr


def test_posim_host_ledger_verify_json_and_a_file_that_is_not_a_ledger(tmp_path):
    path = tmp_path / "host.db"
    Ledger(path).close()
    cmd = [sys.executable, "-m", "simulator.cli", "host", "ledger", "--db", str(path), "--verify", "--json"]
    ok = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout.strip()) == (0, '{"match": true, "differences": []}')
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not an SQLite file at all" * 40)
    bad = subprocess.run([*cmd[:6], str(junk), "--verify"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert f"{junk} is not a host ledger" in bad.stderr
