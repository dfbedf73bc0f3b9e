"""The demo's back-office scene: a throw-away PostgreSQL cluster, the collector, an acquirer simulator of its own
and two tills of one merchant shipping their journals; the day's totals, a charge made on both tills, the bank's
statement reconciled and the office's web pages logged into once.

Apart from `simulator.demo` because it is a world of its own: it starts (and stops) its own processes and
shares with the walk-through only the printing (`Demo.say`) and `--office-open`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.auth import hash_password
from simulator.stack import Host, StackError

if TYPE_CHECKING:
    from simulator.demo import Demo
    from simulator.pgcluster import Collector, PgCluster
    from simulator.stack import Daemon

ROOT = Path(__file__).resolve().parent.parent


OFFICE_MERCHANT = "123456789012345"
OFFICE_TILLS = ("10000001", "10000002")


class OfficeDay:
    """The office scene's world: a throw-away PostgreSQL cluster, the collector, its own acquirer simulator and
    two daemons of one merchant shipping to the collector; `stop` ends all of them and removes their files."""

    def __init__(self, work: Path, demo: Demo):
        self.work = work
        self.demo = demo
        self.cluster: PgCluster | None = None
        self.collector: Collector | None = None
        self.host: Host | None = None
        self.tills: list[Daemon] = []
        self.env: dict[str, str] = {}

    def office(self, *args: str, show: bool = True) -> subprocess.CompletedProcess[str]:
        if show:
            print(f"$ posoffice {' '.join(args)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "posoffice", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=60)
        if show:
            for line in (result.stdout + result.stderr).rstrip().splitlines():
                print(f"  {line}")
        if result.returncode not in (0, 1):
            raise StackError(f"posoffice {args[0]} failed: {(result.stderr or result.stdout).strip()[-300:]}")
        return result

    def run(self) -> None:
        import datetime as dt
        import os

        from agent.office.shipper import backlog
        from simulator.pgcluster import Collector, start_cluster
        from concurrent.futures import ThreadPoolExecutor

        from simulator.stack import CAMPAIGN_PASSWORD, Daemon, Host

        self.work.mkdir(parents=True, exist_ok=True)
        self.cluster = cluster = start_cluster()
        dsn = cluster.new_database()
        self.env = {**os.environ, "POSOFFICE_DSN": dsn}
        self.demo.say(f"PostgreSQL {cluster.bindir.parent.name}: a throw-away cluster (initdb, pg_ctl) in "
                      f"{cluster.root}, on a Unix socket there only")
        self.collector = collector = Collector(dsn)
        self.demo.say(f"the collector: posoffice serve, on {collector.url}")
        secrets = {}
        for tid in OFFICE_TILLS:
            print(f"$ posoffice terminal add {tid} --merchant {OFFICE_MERCHANT}", flush=True)
            added = self.office("terminal", "add", tid, "--merchant", OFFICE_MERCHANT, show=False)
            secret = next((line.split(":", 1)[1].strip() for line in added.stdout.splitlines()
                           if line.startswith("secret:")), None)
            if added.returncode != 0 or not secret:
                raise StackError(f"posoffice terminal add {tid} failed: {added.stderr.strip()[-300:]}")
            path = self.work / f"{tid}.secret"
            path.write_text(secret + "\n", encoding="utf-8")
            path.chmod(0o600)
            secrets[tid] = path
            print("  secret printed once, kept in the till's 0600 [office] secret_file")
        self.host = host = Host.start(self.work)
        self.demo.say(f"two tills of merchant {OFFICE_MERCHANT} ({', '.join(OFFICE_TILLS)}), each shipping its "
                      f"journal to the collector every second ([office] url, secret_file)")
        hashed = hash_password(CAMPAIGN_PASSWORD)
        for tid in OFFICE_TILLS:  # start_terminals' tills, each with its own office secret
            directory = self.work / tid
            directory.mkdir()
            self.tills.append(Daemon(directory, host.port, response_timeout=2.0, reversal_retries=3,
                                     password_hash=hashed,
                                     extra=f'[terminal]\nterminal_id = "{tid}"\nmerchant_id = "{OFFICE_MERCHANT}"\n'
                                           f'[office]\nurl = "{collector.url}"\n'
                                           f'secret_file = "{secrets[tid]}"\ninterval = 1\n'))
        with ThreadPoolExecutor(len(self.tills)) as pool:
            for till in self.tills:
                pool.submit(till.start)
        for till, tid in zip(self.tills, OFFICE_TILLS):
            if not till.alive:
                raise StackError(f"till {tid} did not start; see {till.directory / 'agent.log'}")
        plan = [(0, "sale", 12000, "debit"), (0, "sale", 4550, "credit"), (0, "sale", 8888, "debit"),
                (1, "sale", 8888, "debit"), (1, "sale", 23000, "credit"), (1, "sale", 1990, "debit")]
        last = {}
        for n, op, amount, card in plan:
            reply = self.tills[n].call(op, {"amount": amount, "card": card, "confirm_unusual": True,
                                            "confirm_duplicate": True})
            outcome = reply.get("outcome", {})
            if outcome.get("status") != "approved":
                raise StackError(f"till {OFFICE_TILLS[n]}: the sale of {amount / 100:.2f} was not approved: "
                                 f"{outcome.get('message') or reply.get('error', {}).get('message')}")
            last[n] = outcome["txn"]
            self.demo.say(f"till {OFFICE_TILLS[n]}: sale {amount / 100:>7.2f} on the {card} card, trace "
                          f"{outcome['txn']['trace']:06d}" + ("   (the same card and amount on both tills)"
                                                              if amount == 8888 else ""))
        void = self.tills[1].call("void", {"trace": last[1]["trace"]}, supervisor=True)
        if void.get("outcome", {}).get("status") != "approved":
            raise StackError(f"till {OFFICE_TILLS[1]}: the void was not approved")
        self.demo.say(f"till {OFFICE_TILLS[1]}: void of trace {last[1]['trace']:06d} (19.90)")
        for till, tid in zip(self.tills, OFFICE_TILLS):
            settled = till.call("settle", {"confirm": True}, supervisor=True)
            if not settled.get("outcome", {}).get("ok"):
                raise StackError(f"till {tid}: the settlement failed: {settled.get('outcome', settled)}")
            self.demo.say(f"till {tid}: batch settled")
        deadline = time.monotonic() + 20
        while any(backlog(t.directory / "journal.db")["backlog"] for t in self.tills):
            if time.monotonic() > deadline:
                raise StackError("the tills' journals did not reach the back office within 20 s")
            time.sleep(0.1)
        self.demo.say("both journals are at the back office (backlog 0)")

        date = dt.date.today()
        fault = "statement_sale_missing:count=1,seed=1"
        host.fault(fault)
        self.demo.say(f"the bank's mistake, through the simulator's fault channel: {fault} (a settled sale left out "
                      f"of the credit)")
        statement = self.work / "merchant.csv"
        print(f"$ posim host statement --date {date:%Y%m%d} --merchant {OFFICE_MERCHANT} --out merchant.csv", flush=True)
        done = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "statement", "--db", str(host.db),
                               "--date", f"{date:%Y%m%d}", "--merchant", OFFICE_MERCHANT, "--out", str(statement)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise StackError(f"posim host statement failed: {done.stderr.strip()[-300:]}")
        summary = json.loads(done.stdout)
        print(f"  {summary['lines']} line(s), " + ", ".join(f"terminal {t}: {n}" for t, n in
                                                           sorted(summary["terminals"].items())))
        self.office("terminals")
        self.office("day", f"{date:%Y-%m-%d}")
        self.office("duplicates", "--merchant", OFFICE_MERCHANT)
        print("$ posoffice reconcile merchant.csv", flush=True)
        reconciled = self.office("reconcile", str(statement), show=False)
        for line in (reconciled.stdout + reconciled.stderr).rstrip().splitlines():
            print(f"  {line}")
        self.web_pages(collector.site)

    def web_pages(self, site: str) -> None:
        """A manager user, the pages' address and login, checked by logging in and reading Today once."""
        import http.cookiejar
        import re
        import secrets
        import urllib.parse
        import urllib.request

        password = secrets.token_urlsafe(9)
        print("$ posoffice user add manager --role manager   (password on stdin)", flush=True)
        added = subprocess.run([sys.executable, "-m", "posoffice", "user", "add", "manager", "--role", "manager"],
                               cwd=ROOT, env=self.env, input=password + "\n", capture_output=True, text=True, timeout=60)
        if added.returncode != 0:
            raise StackError(f"posoffice user add failed: {added.stderr.strip()[-300:]}")
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login = opener.open(site + "/login", timeout=10).read().decode()
        token = re.search(r'name="csrf" value="([^"]+)"', login)
        if token is None:
            raise StackError(f"the office's login page at {site}/login has no form to log in with")
        form = urllib.parse.urlencode({"csrf": token.group(1), "name": "manager", "password": password, "next": "/today"})
        today = opener.open(site + "/login", data=form.encode(), timeout=10).read().decode()
        shown = [tid for tid in OFFICE_TILLS if f'data-terminal="{tid}"' in today]
        alerts = today.count('data-alert="')
        self.demo.say(f"the office's web pages: {site}/   log in as manager / {password}")
        self.demo.say(f"(checked: Today lists {len(shown)} terminals and {alerts} alert(s) — the double charge)")
        if self.demo.office_open > 0:
            self.demo.say(f"kept open {self.demo.office_open} s; the office is removed after that")
            time.sleep(self.demo.office_open)
        else:
            self.demo.say("the demo removes this office when it ends; `posim demo --office-open 600` keeps it up "
                          "for ten minutes to look at in a browser")

    def stop(self) -> None:
        """The daemons, the simulator, the collector, then the cluster; each stopped even if another fails."""
        for step in [*(till.stop for till in self.tills),
                     self.host.stop if self.host else None,
                     self.collector.stop if self.collector else None,
                     self.cluster.stop if self.cluster else None]:
            if step is None:
                continue
            try:
                step()
            except Exception as exc:  # noqa: BLE001 — go on stopping the rest
                print(f"    could not stop cleanly: {exc}", flush=True)
        shutil.rmtree(self.work, ignore_errors=True)
