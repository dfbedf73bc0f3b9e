"""A merchant with three tills, end to end: three daemons take a day of payments from one `posim host`,
ship their journals to the office, the host writes the merchant's statement (every till's lines, one
credit), and `posoffice reconcile` names exactly the statement's injected mistakes per terminal, to the
cent, keeps each run in PostgreSQL and writes the claim letters; `posoffice duplicates` finds the same
charge on two tills (by its card) and leaves it off once it is voided; the collector answers what a sale of
one till still has to refund when another till asks.  The day is made once per module."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import io
import json
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.auth import hash_password
from agent.office.link import ShipError, office_endpoint, refundable
from agent.office.shipper import ship_once
from agent.reconcile.fees import DEFAULT_CONTRACT
from agent.reconcile.formats import FORMATS
from agent.cardtypes import card_type
from agent.reconcile.render import render_statement
from posoffice import db, store
from posoffice.cli import main as posoffice_main
from simulator.host.statement import build_statement, statement_line
from simulator.host.statement_faults import STATEMENT_FAULT_KINDS, StatementFault, apply_faults
from simulator.stack import CAMPAIGN_PASSWORD, Host, start_terminals
from simulator.testcards import load_cards
from tests.pgcluster import ROOT, Collector, pg_cluster  # noqa: F401

MERCHANT = "123456789012345"
TILLS = ["10000001", "10000002", "10000003"]
DUPLICATE_SETTLED = 8888  # charged on till 1 then till 2, both batches settled since: a refund fixes it
DUPLICATE_OPEN = 4200  # charged on till 3 then till 1 after the settlement: a void fixes it
CREDIT_BINS = ("625094",)  # posoffice reconcile's default --credit-bins: the test credit card's BIN
LOST_SALE = 6600  # taken by the host, its answer lost: the terminal reverses it
OTHER_CARD = 3100  # the same amount on till 2 and till 3, on two cards: not a duplicate
DUPLICATE_VOIDED = 5100  # charged on till 2 then till 3, and voided on till 3: already fixed


@dataclasses.dataclass
class Shop:
    root: Path
    ledger: Path
    dsn: str
    date: str
    journals: dict[str, Path]
    secrets: dict[str, str]
    refunds: dict[str, dict]  # till -> the partly refunded sale ("rrn", "at", "amount") and "refunded"
    voided: dict[str, dict]  # till -> the voided sale


def office(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posoffice", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def office_in_process(dsn: str, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = posoffice_main(["--dsn", dsn, *args])
    return status, out.getvalue() + err.getvalue()


def day_of_payments(tills, host: Host, rng: random.Random) -> tuple[dict, dict]:
    """Sales on every till (debit and credit cards, amounts unique across tills), a void and a partial refund on
    each, a lost sale on till 1, one charge repeated on another till; then every till settles; then on the next
    batches one charge repeated on another till, one amount on two cards, and a charge repeated and voided.
    Returns, per till, its partly refunded sale and its voided sale."""
    host.fault("drop_after:count=1,mti=0200")
    lost = tills[0].call("sale", {"amount": LOST_SALE, "card": "debit"})
    assert lost["outcome"]["status"] != "approved", lost
    amounts = iter(a for a in rng.sample(range(500, 300_000), 40) if a not in (OTHER_CARD, DUPLICATE_VOIDED))
    refunds, voids = {}, {}
    for till, tid in zip(tills, TILLS):
        sales = []
        for _ in range(rng.randint(3, 5)):
            reply = till.call("sale", {"amount": next(amounts), "card": rng.choice(["debit", "credit"]),
                                       "confirm_unusual": True, "confirm_duplicate": True})
            assert reply["outcome"]["status"] == "approved", reply
            sales.append(reply["outcome"]["txn"])
        voided, refunded = rng.sample(sales, 2)
        assert till.call("void", {"trace": voided["trace"]}, supervisor=True)["outcome"]["status"] == "approved"
        refund = till.call("refund", {"trace": refunded["trace"], "amount": refunded["amount"] // 3}, supervisor=True)
        assert refund["outcome"]["status"] == "approved", refund
        refunds[tid] = {**refunded, "refunded": refunded["amount"] // 3}
        voids[tid] = voided
    for till in tills[:2]:
        assert till.call("sale", {"amount": DUPLICATE_SETTLED, "card": "debit"})["outcome"]["status"] == "approved"
    for till in tills:
        settled = till.call("settle", {"confirm": True}, supervisor=True)
        assert settled["outcome"]["ok"], settled
    for till in (tills[2], tills[0]):  # the next batches, still open
        assert till.call("sale", {"amount": DUPLICATE_OPEN, "card": "credit"})["outcome"]["status"] == "approved"
    for till, card in ((tills[1], "debit"), (tills[2], "credit")):
        assert till.call("sale", {"amount": OTHER_CARD, "card": card})["outcome"]["status"] == "approved"
    for till in (tills[1], tills[2]):
        again = till.call("sale", {"amount": DUPLICATE_VOIDED, "card": "debit"})
        assert again["outcome"]["status"] == "approved", again
    void = tills[2].call("void", {"trace": again["outcome"]["txn"]["trace"]}, supervisor=True)
    assert void["outcome"]["status"] == "approved", void
    return refunds, voids


@pytest.fixture(scope="module")
def shop(pg_cluster, tmp_path_factory) -> Shop:
    root = Path(tempfile.mkdtemp(prefix="office-shop-", dir="/dev/shm")) if Path("/dev/shm").is_dir() else \
        tmp_path_factory.mktemp("shop")
    host = Host.start(root)
    tills = []
    try:
        tills = start_terminals(root, host.port, TILLS, merchant_id=MERCHANT, response_timeout=1.0,
                                password_hash=hash_password(CAMPAIGN_PASSWORD))
        refunds, voids = day_of_payments(tills, host, random.Random(20261203))
    finally:
        for till in tills:
            till.stop()
        host.stop()
    dsn = pg_cluster.new_database()
    secrets = {}
    with db.connect(dsn) as conn:
        db.migrate(conn)
        for tid in TILLS:
            secrets[tid] = store.add_terminal(conn, tid, MERCHANT)
    collector = Collector(dsn)
    try:
        for tid in TILLS:
            ship_once(root / tid / "journal.db", collector.url, tid, secrets[tid])
    finally:
        collector.stop()
    yield Shop(root, host.db, dsn, dt.date.today().strftime("%Y%m%d"), {t: root / t / "journal.db" for t in TILLS},
               secrets, refunds, voids)
    shutil.rmtree(root, ignore_errors=True)


def posim_statement(shop: Shop, out: Path, *extra: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "statement", "--db", str(shop.ledger),
                           "--date", shop.date, "--out", str(out), *extra], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def faulty_statement(shop: Shop, faults: list[StatementFault]):
    """The host's statement of the day with `faults` applied (as `posim host statement` applies them), and the
    clean one."""
    cards = load_cards()
    clean, reversed_rows = build_statement(shop.ledger, shop.date, cards, DEFAULT_CONTRACT, merchant=MERCHANT)

    def make_line(row):
        card = cards.get(row["card_name"] or "")
        return statement_line(row, shop.date, card.card_type if card else "debit", DEFAULT_CONTRACT)

    faulty, applied = apply_faults(clean, faults, reversed_rows, make_line=make_line, contract=DEFAULT_CONTRACT)
    return clean, faulty, applied


def expected_findings(clean, faulty, applied) -> list[tuple]:
    """(kind, terminal, trace, effect) of each finding the office must report for the applied faults."""
    by_rrn = {x.rrn: x for x in (*clean.lines, *faulty.lines)}
    found = []
    for a in applied:
        line = by_rrn.get(a["rrn"])
        if a["finding"] == "total_differs":
            found.append(("total_differs", None, None, a["effect"]))
        elif a["finding"] == "other_terminal":
            found.append(("unknown_terminal", line.terminal_id, line.trace_no, line.net))
        elif a["finding"] == "not_credited":  # the card type from the journal's masked card and the credit BINs
            fee = DEFAULT_CONTRACT.line_fee(line.txn_type, card_type(line.card_no, CREDIT_BINS), line.amount)
            found.append(("not_credited", line.terminal_id, line.trace_no, -(line.amount - fee)))
        else:
            found.append((a["finding"], line.terminal_id, line.trace_no, a["effect"]))
    return sorted(found, key=repr)


# ----------------------------------------------------------------------------- the merchant statement
def test_the_merchant_statement_lists_every_till_under_one_credit_and_the_office_balances_it(shop, tmp_path):
    summary = posim_statement(shop, tmp_path / "clean.csv", "--merchant", MERCHANT)
    assert summary["merchant"] == MERCHANT and sorted(summary["terminals"]) == TILLS
    assert sum(summary["terminals"].values()) == summary["lines"]
    rows = (tmp_path / "clean.csv").read_text().splitlines()
    assert {r.split(",")[3] for r in rows if r[:8].isdigit()} == set(TILLS)  # each line names its terminal
    done = office("reconcile", str(tmp_path / "clean.csv"), "--dsn", shop.dsn)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "balanced to the cent" in done.stdout and all(f"terminal {t}:" in done.stdout for t in TILLS)
    gbk = posim_statement(shop, tmp_path / "clean.txt", "--merchant", MERCHANT, "--format", "unionpay-gbk")
    status, text = office_in_process(shop.dsn, "reconcile", str(tmp_path / "clean.txt"), "--format", "unionpay-gbk",
                                     "--json")
    report = json.loads(text)
    assert status == 0 and report["balanced"] and report["credited"] == report["owed"] == gbk["credit"]
    assert [t["terminal_id"] for t in report["terminals"]] == TILLS


# ----------------------------------------------------------------------------- random faults, exact findings
fault_specs = st.lists(st.builds(StatementFault, st.sampled_from(sorted(STATEMENT_FAULT_KINDS)),
                                 st.integers(1, 2), st.integers(0, 2**16)), min_size=0, max_size=4)


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(faults=fault_specs, fmt=st.sampled_from(sorted(FORMATS)))
def test_random_statement_faults_are_found_exactly_and_add_up_to_the_difference(shop, faults, fmt):
    clean, faulty, applied = faulty_statement(shop, faults)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "statement"
        path.write_bytes(render_statement(faulty, FORMATS[fmt]))
        status, text = office_in_process(shop.dsn, "reconcile", str(path), "--format", fmt, "--json")
    report = json.loads(text)
    assert status == (0 if not applied else 1), text
    got = sorted(((f["kind"], f["terminal_id"], f["trace"], f["effect"]) for f in report["findings"]), key=repr)
    assert got == expected_findings(clean, faulty, applied)
    assert report["unexplained"] == 0 and report["explained"] == report["difference"]
    assert report["credited"] == faulty.credit


# ----------------------------------------------------------------------------- claim letters, runs kept
def test_claim_letters_name_terminal_trace_and_rrn_and_each_run_is_kept(shop, tmp_path):
    faults = [StatementFault("statement_fee_above_rate", 1, 3), StatementFault("statement_sale_missing", 1, 5),
              StatementFault("statement_foreign_line", 1, 7), StatementFault("statement_reversed_settled")]
    clean, faulty, applied = faulty_statement(shop, faults)
    assert len(applied) == 4
    (tmp_path / "faulty.csv").write_bytes(render_statement(faulty, FORMATS["posim"]))
    claims = tmp_path / "claims"
    done = office("reconcile", str(tmp_path / "faulty.csv"), "--claim", str(claims), "--dsn", shop.dsn)
    assert done.returncode == 1, done.stdout + done.stderr
    for name in ("fee differs from the contracted rate", "in the journal, not credited",
                 "a line of a terminal the office does not know", "reversed or never approved, but settled"):
        assert name in done.stdout
    kept = -sum(f[3] for f in expected_findings(clean, faulty, applied))
    assert f"claim: the acquirer kept {kept // 100}.{kept % 100:02d}" in done.stdout
    stem = f"claim-{MERCHANT}-{shop.date}"
    letters = {lang: (claims / f"{stem}-{lang}.txt").read_text() for lang in ("zh", "en")}
    by_rrn = {x.rrn: x for x in (*clean.lines, *faulty.lines)}
    for a in applied:
        if a["rrn"] is None:
            continue
        line = by_rrn[a["rrn"]]
        for lang, letter in letters.items():
            label = {"zh": ("终端号", "凭证号", "参考号"), "en": ("Terminal", "trace", "RRN")}[lang]
            assert f"{label[0]} {line.terminal_id}" in letter and f"{label[1]} {line.trace_no:06d}" in letter
            assert f"{label[2]} {line.rrn}" in letter  # a missing line's too: txn.complete carries the RRN
    assert "申请退款合计" in letters["zh"] and "TOTAL TO REFUND" in letters["en"]
    assert "carry no RRN" not in letters["en"] and "estimated at the debit rate" not in letters["en"]
    for path in claims.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(claims.stat().st_mode) == 0o700
    claim = json.loads((claims / f"{stem}.json").read_text())
    assert claim["claim_total"] == kept and claim["unexplained"] == 0 and claim["run"] > 0
    again = office("reconcile", str(tmp_path / "faulty.csv"), "--claim", str(claims), "--dsn", shop.dsn)
    assert again.returncode == 2 and "already exists; add --force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

    (tmp_path / "bad.csv").write_bytes(b"not a statement\n")
    bad = office("reconcile", str(tmp_path / "bad.csv"), "--dsn", shop.dsn)
    assert bad.returncode == 2 and bad.stderr.startswith("posoffice: statement bad.csv line 1")
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    missing = office("reconcile", str(tmp_path / "none.csv"), "--dsn", shop.dsn)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    with psycopg.connect(shop.dsn) as conn:
        runs = conn.execute("SELECT status, statement, findings, difference, error FROM reconciliations "
                            "WHERE statement IN ('faulty.csv', 'bad.csv') ORDER BY id").fetchall()
    assert [r[:3] for r in runs] == [("differs", "faulty.csv", 4), ("differs", "faulty.csv", 4),
                                     ("refused", "bad.csv", 0)]
    assert runs[0][3] == -kept and "line 1" in runs[2][4]


def test_a_till_the_office_does_not_know_has_its_lines_flagged(shop, pg_cluster, tmp_path):
    dsn = pg_cluster.new_database()
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secrets = {tid: store.add_terminal(conn, tid, MERCHANT) for tid in TILLS[:2]}
    collector = Collector(dsn)
    try:
        for tid, secret in secrets.items():
            copy = tmp_path / tid / "journal.db"  # without the first office's cursor beside it
            copy.parent.mkdir()
            shutil.copy(shop.journals[tid], copy)
            ship_once(copy, collector.url, tid, secret)
    finally:
        collector.stop()
    posim_statement(shop, tmp_path / "clean.csv", "--merchant", MERCHANT)
    status, text = office_in_process(dsn, "reconcile", str(tmp_path / "clean.csv"), "--json")
    report = json.loads(text)
    assert status == 1 and [t["terminal_id"] for t in report["terminals"]] == TILLS[:2]
    flagged = [f for f in report["findings"] if f["kind"] == "unknown_terminal"]
    assert flagged and {f["terminal_id"] for f in flagged} == {TILLS[2]} and len(flagged) == len(report["findings"])
    assert report["difference"] == sum(f["effect"] for f in flagged) and report["unexplained"] == 0


# ----------------------------------------------------------------------------- matched by RRN
def test_lines_are_matched_by_rrn_so_an_acquirer_s_wrong_traces_on_one_till_leave_only_its_real_fault(shop, tmp_path):
    clean, _reversed = build_statement(shop.ledger, shop.date, load_cards(), DEFAULT_CONTRACT, merchant=MERCHANT)
    till = TILLS[1]
    sales = [x for x in clean.lines if x.terminal_id == till and x.txn_type == "sale"]
    assert len(sales) >= 3
    a, b, fee_line = sales[:3]
    # the acquirer printed a's trace on b's line and b's on a's, and charged one fen too much on a third
    wrong = {a.rrn: dataclasses.replace(a, trace_no=b.trace_no), b.rrn: dataclasses.replace(b, trace_no=a.trace_no),
             fee_line.rrn: dataclasses.replace(fee_line, fee=fee_line.fee + 1, net=fee_line.net - 1)}
    faulty = dataclasses.replace(clean, lines=tuple(wrong.get(x.rrn, x) for x in clean.lines), credit=clean.credit - 1)
    (tmp_path / "traces.csv").write_bytes(render_statement(faulty, FORMATS["posim"]))
    status, text = office_in_process(shop.dsn, "reconcile", str(tmp_path / "traces.csv"), "--json")
    report = json.loads(text)
    assert status == 1, text
    assert [(f["kind"], f["terminal_id"], f["rrn"], f["effect"]) for f in report["findings"]] == [
        ("fee_differs", till, fee_line.rrn, -1)]
    assert report["difference"] == -1 and report["unexplained"] == 0
    own = {t["terminal_id"]: t["difference"] for t in report["terminals"]}
    assert own == {TILLS[0]: 0, till: -1, TILLS[2]: 0}


# ----------------------------------------------------------------------------- duplicates across tills
def test_the_same_charge_on_two_tills_is_listed_with_its_fix_by_card_and_dropped_once_voided(shop):
    done = office("duplicates", "--json", "--dsn", shop.dsn)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    pairs = {(d["amount"], d["first"]["terminal"], d["second"]["terminal"]): d for d in answer["duplicates"]}
    # OTHER_CARD: the same amount on till 2 and till 3, but a debit and a credit card
    assert set(pairs) == {(DUPLICATE_SETTLED, TILLS[0], TILLS[1]), (DUPLICATE_OPEN, TILLS[2], TILLS[0])}
    assert {d["matched_by"] for d in answer["duplicates"]} == {"masked card"}
    assert pairs[(DUPLICATE_OPEN, TILLS[2], TILLS[0])]["first"]["card"].startswith("625094")
    settled = pairs[(DUPLICATE_SETTLED, TILLS[0], TILLS[1])]["fix"]
    assert settled["action"] == "refund" and settled["terminal"] == TILLS[1] and settled["amount"] == DUPLICATE_SETTLED
    still_open = pairs[(DUPLICATE_OPEN, TILLS[2], TILLS[0])]["fix"]
    assert still_open["action"] == "void" and still_open["terminal"] == TILLS[0]
    [fixed] = answer["already_fixed"]
    assert (fixed["amount"], fixed["first"]["terminal"], fixed["second"]["terminal"]) == (DUPLICATE_VOIDED, TILLS[1],
                                                                                        TILLS[2])
    assert fixed["fix"]["action"] == "none" and fixed["fix"]["already"][0]["kind"] == "void"
    text = office("duplicates", "--window", "0.001", "--dsn", shop.dsn)
    assert text.returncode == 0 and "no charge on the same card for the same amount on two tills" in text.stdout
    listed = office("duplicates", "--dsn", shop.dsn)
    assert "void trace" in listed.stdout and "refund 88.88 against trace" in listed.stdout
    assert "card 622609******0048" in listed.stdout and "1 more already fixed" in listed.stdout
    bad = office("duplicates", "--window", "-5", "--dsn", shop.dsn)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- a refund keyed at another till
def test_another_till_asks_the_office_what_a_sale_still_has_to_refund(shop, tmp_path):
    with db.connect(shop.dsn) as conn:
        stranger = store.add_terminal(conn, "20000001", "999999999999999")
    collector = Collector(shop.dsn)
    try:
        sale = shop.refunds[TILLS[0]]
        date = dt.datetime.fromtimestamp(sale["created_at"]).strftime("%m%d")
        # the sale and its partial refund were made on till 1; till 2 asks for the rest
        left = refundable(collector.url, TILLS[1], shop.secrets[TILLS[1]], sale["rrn"], date)
        assert left.refundable == sale["amount"] - sale["refunded"] > 0
        # what a refund's receipt names of the sale: its masked card, voucher and till
        assert (left.trace, left.terminal) == (sale["trace"], TILLS[0]) and "******" in left.card
        assert refundable(collector.url, TILLS[0], shop.secrets[TILLS[0]], sale["rrn"], date) == left
        voided = shop.voided[TILLS[2]]
        assert refundable(collector.url, TILLS[1], shop.secrets[TILLS[1]], voided["rrn"],
                          dt.datetime.fromtimestamp(voided["created_at"]).strftime("%m%d")).refundable == 0
        other_day = "0101" if date != "0101" else "0102"
        assert refundable(collector.url, TILLS[1], shop.secrets[TILLS[1]], sale["rrn"], other_day) is None
        # another merchant's terminal is told nothing of this merchant's sales
        assert refundable(collector.url, "20000001", stranger, sale["rrn"], date) is None
        with pytest.raises(ShipError) as refused:
            refundable(collector.url, TILLS[1], "not-the-secret", sale["rrn"], date)
        assert "refused terminal" in str(refused.value) and "\n" not in str(refused.value)
        query = f"{office_endpoint(collector.url, 'refundable')}?rrn={sale['rrn']}&date={date}"
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(query, timeout=10)
        assert anonymous.value.code == 401
        status, answer = get_json(query, TILLS[1], shop.secrets[TILLS[1]])
        assert status == 200 and answer["sale"]["terminal"] == TILLS[0] and answer["refunded"] == sale["refunded"]
        assert get_json(query.replace(f"date={date}", "date=1399"), TILLS[1], shop.secrets[TILLS[1]])[0] == 400
    finally:
        collector.stop()
    with pytest.raises(ShipError) as gone:
        refundable(collector.url, TILLS[1], shop.secrets[TILLS[1]], sale["rrn"], date, timeout=2)
    assert "unreachable" in str(gone.value) and len(str(gone.value).splitlines()) == 1


def get_json(url: str, terminal: str, secret: str) -> tuple[int, dict]:
    token = base64.b64encode(f"{terminal}:{secret}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
