"""`make demo` / `posim demo`: the merchant walk-through on built-in defaults.

Starts the acquirer simulator, pcscd with a virtual EMV card (when the PC/SC stack is installed), and
the daemon on a temporary journal; then walks the five merchant scenarios with the operator commands a
cashier or supervisor would use, printing what each shows; ends with the bank's ledger beside the
journal.  Everything it starts it stops; nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent import __version__
from agent.auth import hash_password

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "246810"
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="run the merchant walk-through (simulator + daemon + cashier)")
    demo.add_argument("--no-card", action="store_true", help="skip the chip-card part even if pcscd is there")
    demo.set_defaults(handler=lambda args: Demo(chip=not args.no_card).run())


class Demo:
    def __init__(self, chip: bool = True):
        self.want_chip = chip
        self.children: list[subprocess.Popen] = []
        self.work = Path(tempfile.mkdtemp(prefix="posagent-demo-"))
        self.config = self.work / "posagent.toml"
        self.started = time.monotonic()

    # -- printing ---------------------------------------------------------------------------------
    def title(self, text: str) -> None:
        print(f"\n=== {text}", flush=True)

    def say(self, text: str) -> None:
        print(f"    {text}", flush=True)

    def posagent(self, *args: str, password: bool = False, show: bool = True) -> subprocess.CompletedProcess:
        shown = " ".join(args) + (" --password-stdin   (supervisor password typed)" if password else "")
        print(f"$ posagent {shown}", flush=True)
        command = [sys.executable, "-m", "agent", "--config", str(self.config), *args]
        if password:
            command.append("--password-stdin")
        result = subprocess.run(command, cwd=ROOT, input=DEMO_PASSWORD + "\n" if password else "",
                                capture_output=True, text=True, timeout=120)
        if show:
            for line in (result.stdout + result.stderr).rstrip().splitlines():
                print(f"  {line}")
        return result

    def outcome(self, *args: str, password: bool = False) -> dict:
        result = self.posagent(*args, "--json", password=password, show=False)
        reply = json.loads(result.stdout)
        text = reply["outcome"]["message"] if reply.get("ok") else reply["error"]["message"]
        print(f"  {text}")
        return reply

    # -- the helpers ------------------------------------------------------------------------------
    def spawn(self, *command: str) -> subprocess.Popen:
        proc = subprocess.Popen(list(command), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        self.children.append(proc)
        return proc

    def start_host(self) -> int:
        proc = self.spawn(sys.executable, "-m", "simulator.cli", "host", "--port", "0", "--control-port", "0",
                          "--db", str(self.work / "host-ledger.db"))
        line = proc.stdout.readline()
        self.host_port = int(line.split()[4].rsplit(":", 1)[1])
        self.control = line.split()[6]
        return self.host_port

    def start_pcscd(self) -> bool:
        binary = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
        if not self.want_chip or binary is None:
            return False
        if not PCSCD_SOCKET.exists() or not any(
                (p / "comm").exists() and (p / "comm").read_text().strip() == "pcscd"
                for p in Path("/proc").iterdir() if p.name.isdigit()):
            self.spawn(binary, "--foreground")
            deadline = time.monotonic() + 10
            while not PCSCD_SOCKET.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return PCSCD_SOCKET.exists()

    def write_config(self, port: int, reader: str) -> None:
        self.config.write_text(f"""
[acquirer]
port = {port}
response_timeout = 2.0
[journal]
path = "{self.work / 'journal.db'}"
fingerprint_key_file = "{self.work / 'fingerprint.key'}"
[daemon]
control_socket = "{self.work / 'control.sock'}"
log_file = "{self.work / 'agent.log'}"
[supervisor]
password_hash = "{hash_password(DEMO_PASSWORD)}"
[card_reader]
reader = "{reader}"
card_timeout = 10
""", encoding="utf-8")

    def start_daemon(self) -> None:
        proc = self.spawn(sys.executable, "-m", "agent", "--config", str(self.config), "run")
        line = proc.stdout.readline()
        if not line.startswith("posagent ready"):
            raise SystemExit(f"the daemon did not start: {line!r}; see {self.work / 'agent.log'}")

    def fault(self, spec: str) -> None:
        subprocess.run([sys.executable, "-m", "simulator.cli", "host", "fault", "add", spec, "--control",
                        self.control], cwd=ROOT, capture_output=True, timeout=30, check=True)

    def stop_all(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout:
                proc.stdout.close()
        shutil.rmtree(self.work, ignore_errors=True)

    # -- the walk-through -------------------------------------------------------------------------
    def run(self) -> int:
        print(f"posagent {__version__} demo — acquirer simulator, daemon, temporary journal in {self.work}")
        try:
            chip = self.start_pcscd()
            self.write_config(self.start_host(), "Virtual PCD 00 00")
            self.start_daemon()
            self.walk(chip)
        finally:
            self.stop_all()
        print(f"\nDemo finished in {time.monotonic() - self.started:.1f} s; everything it started is stopped.")
        return 0

    def walk(self, chip: bool) -> None:
        self.title("Start of day: sign-on and link test")
        self.posagent("signon")
        self.posagent("echo")

        self.title("A chip sale: the virtual EMV card through pcscd")
        if chip:
            from simulator.card import VirtualCard
            from simulator.testcards import load_cards
            card = VirtualCard(load_cards()["credit"], 35963).start()
            try:
                self.posagent("sale", "88.00")
            finally:
                card.remove()
        else:
            self.say("skipped: pcscd / vsmartcard-vpcd not installed (make demo installs them when run as root)")

        self.title("S1 — charged the wrong amount: 120.00 keyed for a 100.00 purchase")
        wrong = self.outcome("sale", "120.00", "--card", "debit")
        right = self.outcome("correct", str(wrong["outcome"]["txn"]["trace"]), "--amount", "100.00", "--card",
                             "debit", password=True)
        self.say(f"(a receipt is printed for each of the {len(right['outcome']['receipts'])} steps)")

        self.title("S2 — charged twice: the cashier pressed sale again")
        self.outcome("sale", "50.00", "--card", "credit")
        self.posagent("sale", "50.00", "--card", "credit")
        second = self.outcome("sale", "50.00", "--card", "credit", "--confirm-duplicate")
        self.posagent("duplicates")
        self.outcome("duplicates", "--fix", str(second["outcome"]["txn"]["id"]), password=True)
        self.say("and when the bank's answer is lost, the sale is reversed, never re-sent:")
        self.fault("drop_response:mti=0200,count=1")
        self.outcome("sale", "66.00", "--card", "debit")

        self.title("S3 — undercharged: 10.00 keyed for a 100.00 purchase")
        short = self.outcome("sale", "10.00", "--card", "credit", "--confirm-duplicate")
        self.outcome("correct", str(short["outcome"]["txn"]["trace"]), "--amount", "100.00", "--card", "credit",
                     password=True)

        self.title("S5 — settled the batch (totals shown, confirmed, supervisor password)")
        self.posagent("settle")
        self.outcome("settle", "--yes", password=True)
        self.say("a void after settlement is refused plainly, and the refund is offered:")
        trace = str(right["outcome"]["txn"]["trace"])
        self.posagent("void", trace, password=True)

        self.title("S4 — refund 100 yuan to a customer, in two parts, after settlement")
        self.outcome("refund", "--trace", trace, "30.00", password=True)
        self.say("the cashier presses refund again by mistake:")
        self.outcome("refund", "--trace", trace, "30.00", password=True)
        self.outcome("refund", "--trace", trace, "99.00", password=True)
        self.outcome("refund", "--trace", trace, password=True)

        self.title("Evidence: the bank's ledger beside the journal")
        ledger_args = [sys.executable, "-m", "simulator.cli", "host", "ledger", "--db", str(self.work / "host-ledger.db")]
        ledger = subprocess.run(ledger_args, cwd=ROOT, capture_output=True, text=True, timeout=60)
        ledger_json = subprocess.run(ledger_args + ["--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        print("bank (acquirer simulator) ledger:")
        for line in ledger.stdout.rstrip().splitlines():
            print(f"  {line}")
        print("terminal journal:")
        self.posagent("journal", "list")
        self.compare(json.loads(ledger_json.stdout))
        self.posagent("journal", "verify")
        self.posagent("status")

    def compare(self, ledger: dict) -> None:
        """The bank's net charge per card beside the journal's completed operations."""
        from agent.journal import Journal

        journal = Journal.open(self.work / "journal.db", fingerprint_key=(self.work / "fingerprint.key").read_bytes())
        try:
            net: dict[str, int] = {}
            for t in journal.find(limit=500):
                if t.kind in ("sale", "correction") and t.state in ("approved", "refunded_partially", "refunded"):
                    net[t.pan_masked] = net.get(t.pan_masked, 0) + t.amount
                elif t.kind == "refund" and t.state == "approved":
                    pan = journal.get(t.original_id).pan_masked
                    net[pan] = net.get(pan, 0) - t.amount
        finally:
            journal.close()
        print("bank vs journal, net charged per card:")
        agree = True
        for card in ledger["cards"].values():
            mine = net.get(card["masked_pan"], 0)
            same = mine == card["net_charged"]
            agree &= same
            print(f"  {card['masked_pan']}  bank {card['net_charged'] / 100:>9.2f}  journal {mine / 100:>9.2f}  "
                  f"{'agree' if same else 'DIFFER'}")
        print(f"  {'the bank and the journal agree to the cent' if agree else 'MISMATCH — see above'}")
