"""The back office sees the stored sales never sent to the bank — their sealed card does not open on the terminal, so
the money is not collected unless the store acts: Today's alert "Stored sales never sent to the bank" (the masked
card, amount, time of sale, trace, the terminal's reason, what to do and the supervisor's command) until the
till's supervisor marks it handled, then marked handled by whom and when (with the note) for a day; `posoffice
manual`; and a malformed or partial event shows as unknown, never as an error.

A terminal's journal built through the journal's own API (a real SQLite file), shipped by the shipper to `posoffice
serve` on a throw-away PostgreSQL; the malformed events posted to the collector as a terminal would ship them."""

from __future__ import annotations

import json
import re
import time

import psycopg
import pytest

from posoffice import lookups, offline
from posoffice.report import Transaction
from tests.pgcluster import pg_cluster, post  # noqa: F401
from tests.test_office_offline import DECLINED_CARD, Till, forward, manager, new_office, posoffice, stored_sale
from tests.test_office_web_access import chained

TILL = "40000002"
OTHER = "40000003"
REASON = "the sealed card does not open with this terminal's key"


@pytest.fixture(scope="module")
def office(pg_cluster, tmp_path_factory):  # noqa: F811
    dsn, secret, collector = new_office(pg_cluster, TILL)
    till = Till(tmp_path_factory.mktemp("till") / "journal.db", collector.url, secret, TILL)
    j, sales = till.journal, {}
    try:
        # three days ago: one set aside, handled by the supervisor two days ago (gone from Today, still listed)
        till.now = time.time() - 3 * 86400
        sales["old"] = stored_sale(j, 990)
        j.advice_needs_manual(sales["old"].id, REASON)
        till.now = time.time() - 2 * 86400
        j.advice_handled(sales["old"].id, note="acquirer booked it by phone, ref 4711", operator="supervisor")
        # today: three stored, one set aside, one still stored, one declined when forwarded
        till.now = time.time() - 3600
        sales["unsent"] = stored_sale(j, 4000)
        sales["stored"] = stored_sale(j, 2500)
        sales["declined"] = stored_sale(j, 1200, DECLINED_CARD)
        till.now += 60
        j.advice_needs_manual(sales["unsent"].id, REASON)
        forward(j, sales["declined"].id, "05")
        till.ship()
        yield till, collector, dsn, sales
    finally:
        j.close()
        collector.stop()


def alerts(page: str) -> list[str]:
    return re.findall(r'(<div class="alert never-sent[^>]*>.*?)</div>\s*</div>', page, re.S)


def test_the_sales_never_sent_come_from_their_events_and_a_malformed_one_is_unknown_not_an_error():
    def sale(txn_id, state, kind="sale", terminal="T"):
        return Transaction(terminal, txn_id, kind, 100 * txn_id, txn_id, 1, state, float(txn_id), None)
    txns = [sale(1, "resolved_manually"), sale(2, "advice_needs_manual"), sale(3, "advice_pending"),
            sale(4, "advice_needs_manual", kind="refund"), sale(5, "advice_needs_manual")]
    events = [("T", 1, "advice.needs_manual", 10.0, None, "system", {"error": REASON}),
              ("T", 1, "advice.handled", 30.0, "02", "supervisor", {"note": "paid by cash"}),
              ("T", 1, "advice.handled", 20.0, "01", "supervisor", {"note": "booked by phone"}),
              ("T", 2, "advice.handled", 5.0, "01", "supervisor", {"note": "before it was set aside"}),
              ("T", 2, "advice.needs_manual", 11.0, None, "system", {"error": 42}),  # not a text
              ("T", 3, "advice.handled", 12.0, "01", "supervisor", {}),  # never set aside: not listed
              ("T", 4, "advice.needs_manual", 13.0, None, "system", {"error": REASON}),  # not a sale
              ("T", 5, "advice.needs_manual", 14.0, None, "system", ["not", "an", "object"]),
              ("T", 9, "advice.needs_manual", 15.0, None, "system", {"error": REASON})]  # no such transaction
    found = offline.never_sent(txns, events)
    assert [(n.txn.txn_id, n.reason, n.since) for n in found] == [(5, None, 14.0), (2, None, 11.0), (1, REASON, 10.0)]
    handled = found[2].seen
    assert (handled.operator, handled.at, handled.note) == ("01", 20.0, "booked by phone")  # the first counts
    assert found[0].seen is None and found[1].seen is None  # a handling before it was set aside does not count
    assert found[2].command == 'posagent offline manual --handled 1 --note "what was done"'
    assert offline.on_today(found, 20.0 + offline.ACKNOWLEDGED_SHOWN_S - 1) == found
    assert offline.on_today(found, 20.0 + offline.ACKNOWLEDGED_SHOWN_S) == found[:2]  # a day after: gone
    long = offline.never_sent([sale(2, "advice_needs_manual")],
                              [("T", 2, "advice.needs_manual", 1.0, None, "system", {"error": "x" * 5000})])
    assert len(long[0].reason or "") == offline.SHOWN_CHARS


def test_today_lists_the_sale_never_sent_with_what_to_do_in_both_languages(office):
    _till, collector, _dsn, sales = office
    page = manager(collector).get("/today")[2].decode()
    found = alerts(page)
    assert len(found) == 1, found  # not the one handled two days ago, not the stored one, not the decline
    alert, sale = found[0], sales["unsent"]
    assert 'data-handled="no"' in alert and f'data-trace="{sale.trace:06d}"' in alert
    assert f"Terminal {TILL}: 40.00 on card 622609******0048" in alert
    assert f"/transactions/{TILL}/{sale.id}" in alert
    assert f"sold {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(sale.created_at))}" in alert
    assert REASON.replace("'", "&#39;") in alert and "not yet marked handled on the terminal" in alert
    assert "call the acquirer with the receipt" in alert and "ask the customer for another payment" in alert
    assert f'posagent offline manual --handled {sale.id} --note &#34;what was done&#34;' in alert, alert
    assert f"offline handled {sale.id} NOTE" in alert
    assert "Stored sales never sent to the bank" in page and "the bank was never told of it" in page
    assert len(re.findall(r'<div class="alert declined', page)) == 1  # the decline keeps its own alert
    row = re.search(rf'<tr data-terminal="{TILL}">(.*?)</tr>', page, re.S).group(1)
    assert "1 stored offline, 25.00" in row, row  # the one never sent is not stored money
    chinese = manager(collector, "zh").get("/today")[2].decode()
    [zh] = alerts(chinese)
    assert "从未上送银行的脱机交易" in chinese and "卡 622609******0048 金额 40.00" in zh
    assert "终端上尚未标记为已处理" in zh and "联系收单行补登" in zh and "终端记录的原因" in zh


def test_the_transactions_pages_say_where_each_stands_in_words(office):
    _till, collector, _dsn, sales = office
    page = manager(collector).get(f"/transactions?terminal={TILL}")[2].decode()
    rows = {int(m[1]): m[2] for m in re.finditer(rf'href="/transactions/{TILL}/(\d+)">(.*?)</tr>', page, re.S)}
    assert "never sent to the bank: needs manual handling" in rows[sales["unsent"].id], rows[sales["unsent"].id]
    assert "resolved by hand" in rows[sales["old"].id] and "stored offline, not forwarded yet" in rows[sales["stored"].id]
    chinese = manager(collector, "zh").get(f"/transactions/{TILL}/{sales['unsent'].id}")[2].decode()
    assert "从未上送银行：需人工处理" in chinese and "advice.needs_manual" in chinese


def test_posoffice_manual_lists_every_one_with_its_handling(office):
    _till, _collector, dsn, sales = office
    listed = json.loads(posoffice("manual", "--json", dsn=dsn).stdout)
    assert listed["count"] == 2 and listed["not_handled"] == 1
    newest, old = listed["never_sent"]
    assert (newest["txn_id"], newest["trace"], newest["card"], newest["amount"], newest["reason"], newest["state"],
            newest["handled"]) == (sales["unsent"].id, sales["unsent"].trace, "622609******0048", 4000, REASON,
                                   "advice_needs_manual", None)
    assert newest["since"] > newest["made_at"]
    assert old["txn_id"] == sales["old"].id and old["state"] == "resolved_manually"
    assert (old["handled"]["operator"], old["handled"]["note"]) == ("supervisor", "acquirer booked it by phone, ref 4711")
    only_new = json.loads(posoffice("manual", "--new", "--json", "--terminal", TILL, dsn=dsn).stdout)
    assert [n["txn_id"] for n in only_new["never_sent"]] == [sales["unsent"].id]
    text = posoffice("manual", "--merchant", "M-OFFLINE", dsn=dsn).stdout
    assert "2 sale(s) stored offline never sent to the bank (1 not yet marked handled" in text, text
    line = next(li for li in text.splitlines() if f"  {sales['unsent'].trace:06d}  " in li)
    assert TILL in line and "622609******0048" in line and "40.00" in line and REASON in line
    assert line.rstrip().endswith("no") and f"  {sales['unsent'].id}  " in line, line
    old_line = next(li for li in text.splitlines() if f"  {sales['old'].trace:06d}  " in li)
    assert "supervisor at " in old_line and old_line.endswith("acquirer booked it by phone, ref 4711")
    assert "posagent offline manual --handled ID --note" in text
    for args, said in ((["--terminal", "NOPE"], "no terminal NOPE is registered"),
                       (["--merchant", "NOPE"], "no terminal of merchant NOPE is registered")):
        refused = posoffice("manual", *args, dsn=dsn)
        assert refused.returncode == 2 and refused.stderr == f"posoffice: {said}\n", refused


def test_once_handled_on_the_terminal_it_is_marked_by_whom_and_when_and_leaves_the_new_ones(office):
    till, collector, dsn, sales = office
    till.now = time.time()
    till.journal.advice_handled(sales["unsent"].id, note="customer paid cash", operator="supervisor")
    till.ship()
    page = manager(collector).get("/today")[2].decode()
    [alert] = alerts(page)
    handled = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(till.now))
    assert 'data-handled="yes"' in alert and f"marked handled on the terminal by supervisor at {handled}" in alert
    assert "customer paid cash" in alert and "--handled" not in alert and "a day after" in alert
    assert "已由 supervisor 于" in alerts(manager(collector, "zh").get("/today")[2].decode())[0]
    assert json.loads(posoffice("manual", "--new", "--json", dsn=dsn).stdout)["never_sent"] == []
    assert "no sale stored offline was set aside as never sent to the bank that is not yet handled (2 handled)" in \
        posoffice("manual", "--new", dsn=dsn).stdout


def test_malformed_or_partial_events_shipped_by_a_terminal_show_as_unknown_never_as_an_error(office):
    from posoffice import store
    _till, collector, dsn, _sales = office
    with psycopg.connect(dsn) as conn:
        secret = store.add_terminal(conn, OTHER, "M-OFFLINE")
    sale = {"kind": "sale", "amount": 3300, "trace": 7, "batch": 1, "card": "622609******0048",
            "state": "advice_pending"}
    events = chained([("txn.begin", 1, sale),
                      ("advice.needs_manual", 1, {"error": ["not", "a", "text"]}),  # the reason is not a text
                      ("advice.needs_manual", None, {"error": REASON}),  # no transaction
                      ("advice.needs_manual", 99, {"error": REASON}),  # a transaction the office never had
                      ("advice.handled", 98, {"note": "nothing to handle"}),
                      ("txn.begin", 2, {"kind": "sale", "trace": 8, "batch": 1}),  # partial: no amount
                      ("advice.needs_manual", 2, {})])
    assert post(collector.url, OTHER, secret, {"terminal": OTHER, "head": len(events), "events": events})[0] == 200
    status, _headers, body = manager(collector).get("/today")
    assert status == 200
    mine = [a for a in alerts(body.decode()) if f'data-terminal="{OTHER}"' in a]
    assert len(mine) == 1 and "33.00 on card 622609******0048" in mine[0] and "reason: <q class=\"reason\">unknown" in \
        mine[0], mine
    listed = posoffice("manual", "--terminal", OTHER, "--json", dsn=dsn)
    assert listed.returncode == 0 and listed.stderr == "", listed
    assert [(n["trace"], n["reason"], n["handled"]) for n in json.loads(listed.stdout)["never_sent"]] == [(7, None, None)]
    text = posoffice("manual", "--terminal", OTHER, dsn=dsn)
    assert text.returncode == 0 and "unknown" in text.stdout and text.stderr == "", text


def test_the_alert_s_query_reads_the_partial_index_of_migration_0010(office):
    _till, _collector, dsn, _sales = office
    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        for terminals in (None, [TILL]):
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + lookups.NEVER_SENT_SQL, {"t": terminals}))
            assert "events_offline_manual" in plan, plan
        read = lookups.offline_never_sent(conn, [TILL])
    assert {m[0] for m in read["manual"]} == {TILL}
