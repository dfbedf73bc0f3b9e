"""The back office sees the sales stored offline (store-and-forward): Today's alert "Sales declined after forwarding"
(the masked card, amount, time of sale, trace, the bank's code and its meaning, acknowledged on the terminal or
not, by whom and when; an acknowledged one for a day after), each terminal's stored sales in its row, each such
sale's state on the Transactions pages, and `posoffice declined`.

A terminal's journal built through the journal's own API (a real SQLite file: online sales, sales stored offline,
forwarded, declined and approved by the bank, one acknowledged two days ago), shipped by the shipper to
`posoffice serve` on a throw-away PostgreSQL; and end to end, a daemon whose chip sales were stored while the line
was cut (virtual card → pcscd → daemon → `posim host`), the issuer declining one when it is forwarded, shipping
by itself to the collector."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from agent.journal import Journal
from agent.office.shipper import ship_once
from posoffice import access, db, offline, store
from posoffice.report import Transaction
from tests.officeweb import Browserless
from tests.pgcluster import ROOT, Collector, pg_cluster  # noqa: F401

KEY = bytes(range(32))
TILL = "40000001"
MERCHANT = "M-OFFLINE"
PASSWORD = "manager-pass-1"
DECLINED_CARD = "6226090000000071"  # its issuer declines (simulator/data/cards.toml)
DEBIT_CARD = "6226090000000048"


def posoffice(*args: str, dsn: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posoffice", *args, "--dsn", dsn], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def stored_sale(journal: Journal, amount: int, pan: str = DEBIT_CARD):
    """A sale the card approved offline, stored as an advice (as `agent.engine.card.offline.approve_offline` journals it)."""
    return journal.begin("sale", amount=amount, currency="156", pan=pan, entry_mode="051", operator="01",
                         role="cashier", advice=True,
                         request=lambda trace, batch: {"mti": "0220", "fields": {"4": f"{amount:012d}"}})


def online_sale(journal: Journal, amount: int, *, approved: bool = True, pan: str = DEBIT_CARD):
    txn = journal.begin("sale", amount=amount, currency="156", pan=pan, entry_mode="051", operator="01",
                        role="cashier", request=lambda trace, batch: {"mti": "0200", "fields": {}})
    return journal.complete(txn.id, approved=approved, response_code="00" if approved else "51",
                            rrn=f"{txn.id:012d}", auth_code="A1" if approved else None, response=None)


def forward(journal: Journal, txn_id: int, code: str | None) -> None:
    """One try to forward a stored sale; `code`: the bank's answer (None: no answer yet)."""
    journal.advice_attempt(txn_id, {"mti": "0220", "fields": {}})
    if code is not None:
        journal.complete(txn_id, approved=code == "00", response_code=code, rrn=f"{txn_id:012d}",
                         auth_code="B2" if code == "00" else None, response=None)


class Till:
    """A terminal's journal on a clock the test sets (the events' times), shipped to the office by the shipper."""

    def __init__(self, path, url: str, secret: str, terminal: str = TILL):
        self.path, self.url, self.secret, self.terminal, self.now = path, url, secret, terminal, time.time()
        self.journal = Journal.open(path, fingerprint_key=KEY, clock=lambda: self.now)

    def ship(self) -> None:
        ship_once(self.path, self.url, self.terminal, self.secret)


def new_office(cluster, terminal: str) -> tuple[str, str, Collector]:
    """A fresh office database with `terminal` and the manager, and a collector serving it: (dsn, the terminal's
    secret, the collector)."""
    dsn = cluster.new_database()
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secret = store.add_terminal(conn, terminal, MERCHANT)
        access.add_user(conn, "manager", "manager", PASSWORD)
    return dsn, secret, Collector(dsn)


@pytest.fixture(scope="module")
def office(pg_cluster, tmp_path_factory):  # noqa: F811
    dsn, secret, collector = new_office(pg_cluster, TILL)
    till = Till(tmp_path_factory.mktemp("till") / "journal.db", collector.url, secret)
    j, sales = till.journal, {}
    try:
        # two days ago: a stored sale declined when forwarded, acknowledged on the terminal the day after
        till.now = time.time() - 3 * 86400
        sales["old"] = stored_sale(j, 990, DECLINED_CARD)
        till.now += 600
        forward(j, sales["old"].id, "05")
        till.now = time.time() - 2 * 86400
        assert [t.id for t in j.acknowledge_offline_declined(operator="supervisor")] == [sales["old"].id]
        # today: online sales (one declined online: no alert), then the line is cut and four sales are stored
        till.now = time.time() - 3600
        sales["online"] = online_sale(j, 1000)
        sales["online_declined"] = online_sale(j, 700, approved=False, pan=DECLINED_CARD)
        sales["declined"] = stored_sale(j, 1200, DECLINED_CARD)
        sales["stored"] = stored_sale(j, 2500)
        sales["waiting"] = stored_sale(j, 800)
        sales["approved"] = stored_sale(j, 450)
        till.now += 60
        forward(j, sales["waiting"].id, None)  # forwarded once, no answer yet: still owed
        till.now += 60
        forward(j, sales["declined"].id, None)
        forward(j, sales["declined"].id, "05")  # the repeat is answered: declined
        forward(j, sales["approved"].id, "00")
        till.ship()
        yield till, collector, dsn, sales
    finally:
        j.close()
        collector.stop()


def manager(collector: Collector, language: str = "en") -> Browserless:
    client = Browserless(collector.site)
    status, _h, _b = client.log_in("manager", PASSWORD)
    assert status == 303
    if language == "zh":
        client.get("/lang/zh")
    return client


def alerts(page: str) -> list[str]:
    return re.findall(r'(<div class="alert declined[^>]*>.*?)</div>\s*</div>', page, re.S)


def test_the_stored_and_declined_states_come_from_the_events_also_of_older_journals():
    def sale(state, forwarded=0, kind="sale"):
        return Transaction("T", 1, kind, 100, 1, 1, state, 0.0, None, forwarded=forwarded)
    assert offline.offline_state(sale("advice_pending")) == offline.STORED
    assert offline.offline_state(sale("advice_pending", 1)) == offline.FORWARDED
    assert offline.offline_state(sale(None, 2)) == offline.FORWARDED  # an older journal: its begin says nothing
    assert offline.offline_state(sale(None)) is None  # a request under way online
    assert offline.offline_state(sale("declined", 1)) == offline.DECLINED
    assert offline.offline_state(sale("declined")) is None  # declined online: the cashier saw it at once
    assert offline.offline_state(sale("approved", 1)) == offline.APPROVED
    assert offline.offline_state(sale("advice_pending", kind="completion")) is None  # an offline completion
    assert offline.is_stored(sale("advice_pending", 1)) and not offline.is_stored(sale("declined", 1))
    refused, online = sale("declined", 1), sale("declined")
    found = offline.declined([refused, online], {("T", 1): 50.0},
                             [("T", 1, 900.0, "02", "supervisor"), ("T", 1, 700.0, "01", "supervisor")])
    assert [(d.txn, d.declined_at, d.seen.operator, d.seen.at) for d in found] == [(refused, 50.0, "01", 700.0)]
    day = offline.ACKNOWLEDGED_SHOWN_S
    assert offline.on_today(found, 700.0 + day - 1) == found  # the first acknowledgement counts, for a day
    assert offline.on_today(found, 700.0 + day) == []
    assert offline.on_today(offline.declined([refused], {}, []), 1e12)[0].seen is None  # not acknowledged: stays


def test_today_lists_the_sale_declined_after_forwarding_and_counts_the_stored_ones(office):
    till, collector, _dsn, sales = office
    page = manager(collector).get("/today")[2].decode()
    found = alerts(page)
    assert len(found) == 1, found  # not the online decline, not the one acknowledged two days ago
    alert, sale = found[0], sales["declined"]
    assert 'data-seen="no"' in alert and f'data-trace="{sale.trace:06d}"' in alert
    assert f"Terminal {TILL}: 12.00 on card 622609******0071" in alert
    assert f"/transactions/{TILL}/{sale.id}" in alert
    sold = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sale.created_at))
    assert f"sold {sold}" in alert
    assert "<code>05</code> Declined by the bank (do not honour)" in alert
    assert "not yet acknowledged on the terminal" in alert and "posagent offline declined --acknowledge" in alert
    assert "Sales declined after forwarding" in page and "merchant bears it" in page
    row = re.search(rf'<tr data-terminal="{TILL}">(.*?)</tr>', page, re.S).group(1)
    assert "2 stored offline, 33.00" in row, row  # 25.00 not forwarded + 8.00 forwarded, no answer yet
    chinese = manager(collector, "zh").get("/today")[2].decode()
    assert "上送后被银行拒绝的脱机交易" in chinese and "不予承兑" in chinese and "终端上尚未确认" in chinese
    assert "脱机已存 2 笔，33.00" in chinese


def test_each_stored_sale_shows_where_it_stands_in_the_search_and_on_its_page(office):
    _till, collector, _dsn, sales = office
    client = manager(collector)
    page = client.get(f"/transactions?terminal={TILL}")[2].decode()
    rows = {int(m[1]): m[2] for m in re.finditer(rf'href="/transactions/{TILL}/(\d+)">(.*?)</tr>', page, re.S)}
    wanted = {"declined": "declined after forwarding", "stored": "stored offline, not forwarded yet",
              "waiting": "stored offline, forwarded, no answer yet", "approved": "approved after forwarding",
              "online": ">approved<", "online_declined": ">declined<", "old": "declined after forwarding"}
    for name, state in wanted.items():
        assert state in rows[sales[name].id], (name, rows[sales[name].id])
    detail = client.get(f"/transactions/{TILL}/{sales['declined'].id}")[2].decode()
    assert "declined after forwarding" in detail and "advice.attempt" in detail
    chinese = manager(collector, "zh").get(f"/transactions?terminal={TILL}")[2].decode()
    assert "上送后被银行拒绝" in chinese and "脱机存储，尚未上送" in chinese


def test_posoffice_declined_lists_every_one_with_its_acknowledgement(office):
    _till, _collector, dsn, sales = office
    listed = json.loads(posoffice("declined", "--json", dsn=dsn).stdout)
    assert listed["count"] == 2 and listed["not_acknowledged"] == 1
    newest, old = listed["declined"]
    assert (newest["txn_id"], newest["trace"], newest["card"], newest["amount"], newest["response_code"],
            newest["forwarded"], newest["acknowledged"]) == (
        sales["declined"].id, sales["declined"].trace, "622609******0071", 1200, "05", 2, None)
    assert newest["meaning"].startswith("Declined by the bank") and newest["declined_at"] > newest["made_at"]
    assert old["txn_id"] == sales["old"].id and old["acknowledged"]["operator"] == "supervisor"
    only_new = json.loads(posoffice("declined", "--new", "--json", "--terminal", TILL, dsn=dsn).stdout)
    assert [d["txn_id"] for d in only_new["declined"]] == [sales["declined"].id]
    text = posoffice("declined", "--merchant", MERCHANT, dsn=dsn).stdout
    assert "2 sale(s) stored offline declined by the bank when forwarded (1 not yet acknowledged" in text, text
    line = next(li for li in text.splitlines() if f"  {sales['declined'].trace:06d}  " in li)
    assert TILL in line and "622609******0071" in line and "12.00" in line and "05 Declined" in line
    assert line.rstrip().endswith("no"), line
    assert "supervisor at " in next(li for li in text.splitlines() if f"  {sales['old'].trace:06d}  " in li)
    for args, said in ((["--terminal", "NOPE"], "no terminal NOPE is registered"),
                       (["--merchant", "NOPE"], "no terminal of merchant NOPE is registered")):
        refused = posoffice("declined", *args, dsn=dsn)
        assert refused.returncode == 2 and refused.stderr == f"posoffice: {said}\n", refused


def test_once_acknowledged_on_the_terminal_it_stays_listed_marked_by_whom_and_when(office):
    till, collector, dsn, sales = office
    till.now = time.time()
    assert [t.id for t in till.journal.acknowledge_offline_declined(operator="supervisor")] == [sales["declined"].id]
    till.ship()
    page = manager(collector).get("/today")[2].decode()
    [alert] = alerts(page)
    seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(till.now))
    assert 'data-seen="yes"' in alert and f"acknowledged on the terminal by supervisor at {seen}" in alert
    assert "posagent offline declined --acknowledge" not in alert and "a day after" in alert
    assert json.loads(posoffice("declined", "--new", "--json", dsn=dsn).stdout)["declined"] == []


def test_a_terminal_the_supervisor_switched_offline_is_an_alert_until_switched_back(office):
    till, collector, _dsn, _sales = office

    def switch(on: bool) -> None:  # as agent/daemon/offswitch.py journals it
        till.now = time.time()
        till.journal.set_state("offline.switched", json.dumps({"operator": "07", "role": "supervisor",
                                                               "since": till.now}) if on else None,
                               operator="07", role="supervisor", event="offline.switched", details={"offline": on})
        till.ship()

    def switched_alert(language: str = "en") -> str | None:
        page = manager(collector, language).get("/today")[2].decode()
        found = re.search(r'<div class="alert switched" data-alert="switched"[^>]*>(.*?)</div>\s*</div>', page, re.S)
        return found.group(1) if found else None

    assert switched_alert() is None
    switch(True)
    alert = switched_alert()
    assert alert is not None and f"Terminal {TILL} switched offline by the supervisor (07)" in alert, alert
    assert time.strftime("%Y-%m-%d %H:%M", time.localtime(till.now)) in alert
    assert "<code>posagent offline off</code>" in alert and "Back online" in alert
    assert "已被主管（07）切换为脱机" in (switched_alert("zh") or "")
    switch(False)
    assert switched_alert() is None


# -- end to end: a daemon's stored sales, forwarded and declined, shipped by the daemon itself ------------------

def test_a_daemon_s_sale_the_issuer_declines_when_forwarded_reaches_the_office_by_itself(tmp_path, sim_host, pcscd,
                                                                                          pg_cluster):  # noqa: F811
    from agent.drivers.pcsc import CardReader
    from tests.agentproc import start_agent
    from tests.test_office_daemon import TERMINAL, _office_config
    from tests.test_offline_selling import READER, SETTINGS, chip_sale, go_offline, stored_offline, wait_for

    dsn, secret, collector = new_office(pg_cluster, TERMINAL)
    reader = CardReader(READER, card_timeout=10)
    assert reader.wait_for_removal(10), "slot 1 still holds a card"
    agent = start_agent(tmp_path, sim_host.port, extra=f'{SETTINGS}\n[card_reader]\nreader = "{READER}"\n'
                        f'card_timeout = 10\n' + _office_config(tmp_path, collector.url, secret))
    try:
        go_offline(agent, sim_host)
        stored_offline(chip_sale(agent, 2500))
        refused = stored_offline(chip_sale(agent, 1200, card="declined"))  # the card approves; its issuer will not
        client = manager(collector)

        def today() -> str:
            return client.get("/today")[2].decode()
        assert wait_for(lambda: "2 stored offline, 37.00" in today(), 30), today()  # shipped while the line is cut
        assert alerts(today()) == []
        sim_host.control(op="clear")  # the line is back: the daemon forwards both, the issuer declines one
        assert wait_for(lambda: len(alerts(today())) == 1, 60), (agent.call("status")["result"], today())
        [alert] = alerts(today())
        assert f'data-trace="{refused["trace"]:06d}"' in alert and "12.00 on card 622609******0071" in alert
        assert "<code>05</code> Declined by the bank" in alert and 'data-seen="no"' in alert
        assert "stored offline" not in re.search(rf'<tr data-terminal="{TERMINAL}">(.*?)</tr>', today(), re.S)[1]
        listed = json.loads(posoffice("declined", "--json", dsn=dsn).stdout)["declined"]
        assert [(d["trace"], d["amount"], d["card"], d["response_code"], d["acknowledged"]) for d in listed] == [
            (refused["trace"], 1200, "622609******0071", "05", None)]
        found = client.get(f"/transactions?terminal={TERMINAL}")[2].decode()
        assert found.count("declined after forwarding") == 1 and "approved after forwarding" in found
        # the supervisor sees it on the terminal: the office shows by whom and when
        seen = agent.cli("offline", "declined", "--acknowledge", password=True)
        assert seen.returncode == 0 and "1 marked seen" in seen.stdout, seen
        assert wait_for(lambda: 'data-seen="yes"' in "".join(alerts(today())), 30), today()
        assert "acknowledged on the terminal by supervisor at" in alerts(today())[0]
        assert json.loads(posoffice("declined", "--new", "--json", dsn=dsn).stdout)["declined"] == []
        verified = posoffice("verify", dsn=dsn)
        assert verified.returncode == 0, verified.stdout
    finally:
        agent.stop()
        collector.stop()
        assert reader.wait_for_removal(10)
