"""Exactly once, whatever breaks: three tills of one merchant ship their journals by themselves to two
collectors on one PostgreSQL while a seeded plan of sales, voids and refunds runs through their control
API, interleaved with faults — a collector SIGKILLed and started again, PostgreSQL restarted, the whole
office down for a while, a till SIGKILLed in the middle of a sale and started again (shipping to the other
collector from then on).  Once the office is back and the backlogs have drained: every event of every till
is in PostgreSQL exactly once and as the journal holds it, every chain verifies (`posoffice verify`), and
the office's day (`posoffice day --json`) says what each till's own `posagent journal totals` says.

The seed is printed (and named in every failure); OFFICE_CAMPAIGN_SEED=N runs another plan."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from agent.auth import hash_password
from agent.journal import Journal
from posoffice import db, store
from simulator.stack import CAMPAIGN_PASSWORD, Daemon, Host, StackError
from tests.harness import wait_for
from tests.pgcluster import ROOT, Collector, pg_cluster  # noqa: F401

SEED = int(os.environ.get("OFFICE_CAMPAIGN_SEED", "20261207"))
MERCHANT = "123456789012345"
TILLS = ["20000001", "20000002", "20000003"]
OPERATIONS = 42  # sales, voids and refunds in the plan, faults besides
FAULT_PAUSE_S = 0.6  # between operations while a fault lasts: 2-5 operations hold it 1.2-3 s
FAULTS = ("kill_collector", "restart_postgres", "office_down", "kill_till")


# ----------------------------------------------------------------------------- the plan
@dataclasses.dataclass(frozen=True)
class Step:
    action: str  # sale, void, refund, or a fault's start / end
    till: int = 0
    value: float = 0.0  # a sale's amount draw, or how long after the request a till is killed


def campaign_plan(rng: random.Random) -> list[Step]:
    """`OPERATIONS` operations on random tills and the four faults in a random order, each lasting 2-5 of the
    operations (the tills go on selling while it lasts); a sale on every till first and last."""
    operations = [Step(rng.choice(("sale", "sale", "sale", "void", "refund")), rng.randrange(len(TILLS)),
                       rng.random()) for _ in range(OPERATIONS)]
    faults = list(FAULTS)
    rng.shuffle(faults)
    share = OPERATIONS // len(faults)
    plan = [Step("sale", t) for t in range(len(TILLS))]
    for index, fault in enumerate(faults):
        part = operations[index * share:None if index == len(faults) - 1 else (index + 1) * share]
        at, length = rng.randrange(0, 3), rng.randint(2, 5)
        target = rng.randrange(len(TILLS) if fault == "kill_till" else 2)
        plan += [*part[:at], Step(f"{fault}:start", target, rng.uniform(0.0, 0.004)), *part[at:at + length],
                 Step(f"{fault}:end", target), *part[at + length:]]
    return plan + [Step("sale", t) for t in range(len(TILLS))]


# ----------------------------------------------------------------------------- the checks
def exactly_once_problems(conn: psycopg.Connection, table: str, heads: dict[str, int]) -> list[str]:
    """What is wrong with `table`'s (terminal, seq) rows against each terminal's journal head: a terminal's
    count, distinct seqs, first and last seq must be head, head, 1, head."""
    rows = {r[0]: r[1:] for r in conn.execute(
        f"SELECT terminal, count(*), count(DISTINCT seq), min(seq), max(seq) FROM {table} GROUP BY terminal")}
    problems = []
    for terminal, head in sorted(heads.items()):
        count, distinct, first, last = rows.get(terminal, (0, 0, None, None))
        if (count, distinct, first, last) != (head, head, 1, head):
            problems.append(f"terminal {terminal}: {count} rows, {distinct} distinct seqs, seq {first}..{last}; "
                            f"its journal holds 1..{head}")
    problems.extend(f"terminal {t}: {r[0]} rows, no such till" for t, r in sorted(rows.items()) if t not in heads)
    return problems


def totals_problems(office_day: dict, journal_totals: dict) -> list[str]:
    """The office's day of one till (sales, refunds and voids as approved; net) against its journal's batch
    totals (debits: sales still charged, so not the voided ones; credits: refunds)."""
    sales, refunds, voids = (office_day[side] for side in ("sales", "refunds", "voids"))
    pairs = {
        "sales count (less voids)": (sales["count"] - voids["count"], journal_totals["debit_count"]),
        "sales amount (less voids)": (sales["amount"] - voids["amount"], journal_totals["debit_amount"]),
        "refunds count": (refunds["count"], journal_totals["credit_count"]),
        "refunds amount": (refunds["amount"], journal_totals["credit_amount"]),
        "net": (office_day["net"], journal_totals["debit_amount"] - journal_totals["credit_amount"]),
    }
    return [f"{name}: office {office} != journal {journal}" for name, (office, journal) in pairs.items()
            if office != journal]


# ----------------------------------------------------------------------------- the parts
def office(dsn: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posoffice", "--dsn", dsn, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def journal_head(path: Path) -> int:
    with Journal.open(path, fingerprint_key=None, read_only=True) as journal:
        return journal.core.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def journal_hashes(path: Path) -> dict[int, str]:
    with Journal.open(path, fingerprint_key=None, read_only=True) as journal:
        return dict(journal.core.conn.execute("SELECT id, hash FROM events").fetchall())


def stored_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT terminal, count(*) FROM events GROUP BY terminal").fetchall())


class Campaign:
    """The tills, the two collectors and the database, and what the plan's steps do to them."""

    def __init__(self, root: Path, cluster, dsn: str, host: Host, rng: random.Random):
        self.root, self.cluster, self.dsn, self.host, self.rng = root, cluster, dsn, host, rng
        self.collectors = [Collector(dsn), Collector(dsn)]
        self.ports = [int(c.url.rsplit(":", 1)[1].split("/")[0]) for c in self.collectors]
        self.tills: list[Daemon] = []
        self.sales: list[list[dict]] = [[] for _ in TILLS]  # approved sales: trace, amount, refunded, voided
        self.amounts = iter(rng.sample(range(1_000, 60_000), 400))
        self.outcomes: dict[str, int] = {}
        self.killed_mid_sale = 0
        self.felt: dict[str, list[str]] = {}  # fault -> the tills whose shipping failed while it lasted
        self.pause = 0.0  # seconds between operations while a fault lasts
        self._restarting: threading.Thread | None = None

    def url(self, collector: int) -> str:
        return f"http://127.0.0.1:{self.ports[collector]}/v1/events"

    def start_tills(self, secrets: dict[str, str]) -> None:
        password_hash = hash_password(CAMPAIGN_PASSWORD)
        for index, tid in enumerate(TILLS):
            directory = self.root / tid
            directory.mkdir()
            secret_file = directory / "office.secret"
            secret_file.write_text(secrets[tid] + "\n")
            os.chmod(secret_file, 0o600)
            extra = (f'[terminal]\nterminal_id = "{tid}"\nmerchant_id = "{MERCHANT}"\n'
                     f'[office]\nurl = "{self.url(index % 2)}"\nsecret_file = "{secret_file}"\ninterval = 1\n')
            self.tills.append(Daemon(directory, self.host.port, response_timeout=1.0, reversal_retries=3,
                                     password_hash=password_hash, extra=extra))
        with ThreadPoolExecutor(len(self.tills)) as pool:
            list(pool.map(lambda d: d.start(), self.tills))

    def journal(self, till: int) -> Path:
        return self.tills[till].directory / "journal.db"

    # -- operations
    def run(self, step: Step) -> None:
        if ":" in step.action:
            fault, phase = step.action.split(":")
            if phase == "end":
                self.felt[fault] = self.shipping_failed()
            getattr(self, f"{fault}_{phase}")(step)
            self.pause = FAULT_PAUSE_S if phase == "start" else 0.0
            return
        time.sleep(self.pause)
        till = step.till
        while not self.tills[till].alive:  # the till killed by a fault: the next one takes the customer
            till = (till + 1) % len(TILLS)
        getattr(self, step.action)(dataclasses.replace(step, till=till))

    def _count(self, what: str, reply: dict | None) -> str:
        status = ((reply or {}).get("outcome") or {}).get("status") or (reply or {}).get("error", {}).get("code")
        self.outcomes[f"{what} {status}"] = self.outcomes.get(f"{what} {status}", 0) + 1
        return status

    def sale(self, step: Step) -> None:
        amount = next(self.amounts)
        card = "debit" if step.value < 0.7 else "credit"
        reply = self.tills[step.till].call("sale", {"amount": amount, "card": card, "confirm_unusual": True,
                                                    "confirm_duplicate": True})
        if self._count("sale", reply) == "approved":
            txn = reply["outcome"]["txn"]
            self.sales[step.till].append({"trace": txn["trace"], "amount": txn["amount"], "refunded": 0,
                                          "voided": False})

    def void(self, step: Step) -> None:
        candidates = [s for s in self.sales[step.till] if not s["voided"] and not s["refunded"]]
        if not candidates:
            return self.sale(step)
        sale = self.rng.choice(candidates)
        reply = self.tills[step.till].call("void", {"trace": sale["trace"]}, supervisor=True)
        if self._count("void", reply) == "approved":
            sale["voided"] = True

    def refund(self, step: Step) -> None:
        candidates = [s for s in self.sales[step.till] if not s["voided"] and s["refunded"] < s["amount"]]
        if not candidates:
            return self.sale(step)
        sale = self.rng.choice(candidates)
        amount = max(1, (sale["amount"] - sale["refunded"]) // self.rng.choice((1, 2, 3)))
        reply = self.tills[step.till].call("refund", {"trace": sale["trace"], "amount": amount}, supervisor=True)
        if self._count("refund", reply) == "approved":
            sale["refunded"] += amount

    # -- faults
    def shipping_failed(self) -> list[str]:
        failed = []
        for tid, till in zip(TILLS, self.tills):
            if till.alive and till.call("status")["result"]["office"]["last_error"]:
                failed.append(tid)
        return failed

    def kill_collector_start(self, step: Step) -> None:
        self.collectors[step.till].kill()

    def kill_collector_end(self, step: Step) -> None:
        self.collectors[step.till] = Collector(self.dsn, port=self.ports[step.till])

    def restart_postgres_start(self, step: Step) -> None:
        """`pg_ctl restart` while the tills go on selling and shipping."""
        self._restarting = threading.Thread(target=self.cluster.restart, daemon=True)
        self._restarting.start()

    def restart_postgres_end(self, step: Step) -> None:
        self._restarting.join(60)
        assert not self._restarting.is_alive(), "PostgreSQL did not restart in 60 s"

    def office_down_start(self, step: Step) -> None:
        for collector in self.collectors:
            collector.kill()

    def office_down_end(self, step: Step) -> None:
        self.collectors = [Collector(self.dsn, port=port) for port in self.ports]

    def kill_till_start(self, step: Step) -> None:
        """SIGKILL in the middle of a sale; started again, it ships to the other collector."""
        till = self.tills[step.till]
        reply = till.call_then_kill("sale", {"amount": next(self.amounts), "card": "debit", "confirm_unusual": True,
                                             "confirm_duplicate": True}, supervisor=False, after=step.value)
        self.killed_mid_sale += reply is None
        self._count("sale (till killed)", reply)

    def kill_till_end(self, step: Step) -> None:
        till = self.tills[step.till]
        text = till.config.read_text(encoding="utf-8")
        now, other = (self.url(0), self.url(1)) if self.url(0) in text else (self.url(1), self.url(0))
        till.config.write_text(text.replace(now, other), encoding="utf-8")
        till.start()

    def stop(self) -> None:
        for till in self.tills:
            till.stop()
        for collector in self.collectors:
            collector.stop()


def test_every_event_of_every_till_is_in_the_office_exactly_once_whatever_breaks(pg_cluster):
    print(f"office campaign seed {SEED} (OFFICE_CAMPAIGN_SEED={SEED} runs it again)")
    rng = random.Random(SEED)
    plan = campaign_plan(rng)
    dsn = pg_cluster.new_database()
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secrets = {tid: store.add_terminal(conn, tid, MERCHANT) for tid in TILLS}
    root = Path(tempfile.mkdtemp(prefix="office-campaign-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    host = Host.start(root)
    campaign = None
    try:
        campaign = Campaign(root, pg_cluster, dsn, host, rng)
        campaign.start_tills(secrets)
        days = {datetime.now(timezone.utc).date()}
        for step in plan:
            try:
                campaign.run(step)
            except (StackError, OSError) as exc:
                raise AssertionError(f"seed {SEED}: step {step} failed: {exc}") from None
        days.add(datetime.now(timezone.utc).date())
        print(f"seed {SEED}: {len(plan)} steps; outcomes {dict(sorted(campaign.outcomes.items()))}; "
              f"a till killed mid-sale: {campaign.killed_mid_sale}; tills whose shipping failed during each fault: "
              f"{campaign.felt}")
        assert campaign.felt["office_down"], f"seed {SEED}: no till noticed the office was down"

        # the office back: every till's backlog drains by itself
        wait_for(lambda: all(stored_counts(dsn).get(t, 0) == journal_head(campaign.journal(i))
                             for i, t in enumerate(TILLS)), 45, f"seed {SEED}: the office to hold every journal",
                 interval=0.2)
        heads = {tid: journal_head(campaign.journal(i)) for i, tid in enumerate(TILLS)}

        # exactly once, and as the journals hold them
        with psycopg.connect(dsn) as conn:
            assert exactly_once_problems(conn, "events", heads) == [], f"seed {SEED}"
            for i, tid in enumerate(TILLS):
                stored = dict(conn.execute("SELECT seq, hash FROM events WHERE terminal = %s", (tid,)).fetchall())
                assert stored == journal_hashes(campaign.journal(i)), f"seed {SEED}: till {tid}'s events differ"
            # the count check catches a planted duplicate and a missing event
            conn.execute("CREATE TEMP TABLE planted AS SELECT terminal, seq FROM events")
            conn.execute("INSERT INTO planted SELECT terminal, seq FROM events WHERE terminal = %s AND seq = 2",
                         (TILLS[1],))
            conn.execute("DELETE FROM planted WHERE terminal = %s AND seq = 3", (TILLS[2],))
            planted = exactly_once_problems(conn, "planted", heads)
            assert [p.split(":")[0] for p in planted] == [f"terminal {TILLS[1]}", f"terminal {TILLS[2]}"], planted
            cursors = dict(conn.execute("SELECT terminal, last_seq FROM cursors").fetchall())
            problems = conn.execute("SELECT terminal, seq, what FROM chain_problems").fetchall()
        assert cursors == heads, f"seed {SEED}"
        assert problems == [], f"seed {SEED}: {problems}"

        verified = office(dsn, "verify", "--json")
        assert verified.returncode == 0, f"seed {SEED}: {verified.stdout} {verified.stderr}"
        assert json.loads(verified.stdout)["events"] == sum(heads.values())

        # the office's day says what each till's journal says
        office_days: dict[str, dict] = {}
        for day in sorted(days):
            shown = office(dsn, "day", day.isoformat(), "--tz", "UTC", "--json")
            assert shown.returncode == 0, shown.stderr
            for line in json.loads(shown.stdout)["terminals"]:
                into = office_days.setdefault(line["terminal"], {s: {"count": 0, "amount": 0}
                                                                 for s in ("sales", "refunds", "voids")} | {"net": 0})
                for side in ("sales", "refunds", "voids"):
                    for figure in ("count", "amount"):
                        into[side][figure] += line[side][figure]
                into["net"] += line["net"]
        for i, tid in enumerate(TILLS):
            totals = subprocess.run([sys.executable, "-m", "agent", "--config", str(campaign.tills[i].config),
                                     "journal", "totals", "--json"], cwd=ROOT, capture_output=True, text=True,
                                    timeout=60)
            assert totals.returncode == 0, totals.stderr
            journal_totals = json.loads(totals.stdout)
            assert totals_problems(office_days[tid], journal_totals) == [], \
                f"seed {SEED}: till {tid}: office {office_days[tid]} journal {journal_totals}"
            assert journal_totals["debit_count"] > 0
        sides = {side: sum(d[side]["count"] for d in office_days.values()) for side in ("sales", "refunds", "voids")}
        assert all(sides.values()), f"seed {SEED}: the plan made no {[s for s, n in sides.items() if not n]}"
        # and the comparison catches a till whose figures differ
        journal_totals["credit_amount"] += 1
        assert [p.split(":")[0] for p in totals_problems(office_days[TILLS[-1]], journal_totals)] == \
            ["refunds amount", "net"]
    finally:
        if campaign is not None:
            campaign.stop()
        host.stop()
