"""`make demo` / `posim demo`: the merchant walk-through on built-in defaults.

Starts the acquirer simulator, pcscd with a virtual EMV card (when the PC/SC stack is installed), and
the daemon on a temporary journal; then walks the five merchant scenarios with the operator commands a
cashier or supervisor would use, printing what each shows, and the bank's ledger beside the journal;
ends with the back office: two tills of one merchant shipping to a collector on a throw-away PostgreSQL
cluster, the day's totals, a charge made on both tills and the bank's statement reconciled.  Everything
it starts it stops (also when a step fails); nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent import __version__
from agent.auth import hash_password
from simulator.democashier import Cashier
from simulator.demooffice import OfficeDay
from simulator.stack import Child, Host, StackError, start_pcscd, stop_process, write_daemon_config

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "246810"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run the merchant walk-through (simulator + daemon + cashier)")
    demo.add_argument("--no-card", action="store_true", help="skip the chip-card part even if pcscd is there")
    demo.add_argument("--office-open", type=int, default=0, metavar="SECONDS",
                      help="keep the back office (its web pages) up this long at the end before removing it")
    demo.set_defaults(handler=lambda args: Demo(chip=not args.no_card, office_open=args.office_open).run())


class Demo:
    def __init__(self, chip: bool = True, office_open: int = 0):
        self.want_chip = chip
        self.office_open = office_open
        self.children: list[Child] = []
        self.work = Path(tempfile.mkdtemp(prefix="posagent-demo-"))
        self.config = self.work / "posagent.toml"
        self.started = time.monotonic()
        self.reason = "the chip part was not asked for"

    # -- printing ---------------------------------------------------------------------------------
    def title(self, text: str) -> None:
        print(f"\n=== {text}", flush=True)

    def say(self, text: str) -> None:
        print(f"    {text}", flush=True)

    def posagent(self, *args: str, password: bool = False, show: bool = True) -> subprocess.CompletedProcess[str]:
        from agent.masking import mask_digit_runs  # a payment code on the command line is shown masked
        shown = mask_digit_runs(" ".join(args)) + (" --password-stdin   (supervisor password typed)" if password else "")
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

    def outcome(self, *args: str, password: bool = False) -> dict[str, Any]:
        result = self.posagent(*args, "--json", password=password, show=False)
        reply: dict[str, Any] = json.loads(result.stdout)
        text = reply["outcome"]["message"] if reply.get("ok") else reply["error"]["message"]
        print(f"  {text}")
        return reply

    # -- the helpers ------------------------------------------------------------------------------
    def spawn(self, *command: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(list(command), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        self.children.append(proc)
        return proc

    def start_host(self) -> int:
        self.host = Host.start(self.work)
        self.children.append(self.host.proc)
        return self.host.port

    def start_pcscd(self) -> bool:
        """pcscd listing the virtual readers (ours, or the one already running); False: no chip part."""
        if not self.want_chip:
            return False
        try:
            proc = start_pcscd()
        except StackError as exc:
            self.reason = str(exc)
            return False
        if proc is not None:
            self.children.append(proc)
        return True

    def write_config(self, port: int, reader: str) -> None:
        self.scanner_pty = self.start_scanner_pty()
        scanner = f'[scanner]\nport = "{self.scanner_pty}"\nscan_timeout = 10\n' if self.scanner_pty else ""
        self.config = write_daemon_config(self.work, port, response_timeout=2.0, log_level="INFO",
                                          password_hash=hash_password(DEMO_PASSWORD),
                                          extra=f'[card_reader]\nreader = "{reader}"\ncard_timeout = 10\n'
                                                f'[wallet]\nquery_interval = 0.5\n{scanner}')

    def start_scanner_pty(self) -> str | None:
        """A socat pty pair standing in for the counter's barcode scanner; None without socat."""
        binary = shutil.which("socat")
        if binary is None:
            return None
        a, b = self.work / "scannerA", self.work / "scannerB"
        self.children.append(subprocess.Popen([binary, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not (a.exists() and b.exists()) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.scanner_device = str(b)
        return str(a) if a.exists() and b.exists() else None

    def start_daemon(self) -> None:
        proc = self.spawn(sys.executable, "-m", "agent", "--config", str(self.config), "run")
        assert proc.stdout is not None  # a pipe: `spawn` asks for one
        line = proc.stdout.readline()
        if not line.startswith("posagent ready"):
            raise SystemExit(f"the daemon did not start: {line!r}; see {self.work / 'agent.log'}")

    def fault(self, spec: str) -> None:
        self.host.fault(spec)

    def stop_all(self) -> None:
        for proc in reversed(self.children):
            stop_process(proc, timeout=10)
        shutil.rmtree(self.work, ignore_errors=True)

    # -- the walk-through -------------------------------------------------------------------------
    def run(self) -> int:
        print(f"posagent {__version__} demo — acquirer simulator, daemon, temporary journal in {self.work}")
        try:
            chip = self.start_pcscd()
            self.write_config(self.start_host(), "Virtual PCD 00 00")
            self.start_daemon()
            self.walk(chip)
            self.office_scene()
        finally:
            self.stop_all()
        print(f"\nDemo finished in {time.monotonic() - self.started:.1f} s; everything it started is stopped.")
        return 0

    def walk(self, chip: bool) -> None:
        self.title("Start of day (command line): sign-on and link test")
        self.posagent("signon")
        self.posagent("echo")
        cashier = Cashier(self.work / "control.sock")

        self.title("A chip sale on the cashier's keypad: the virtual EMV card read through pcscd")
        if chip:
            from simulator.card import VirtualCard
            from simulator.testcards import load_cards
            card = VirtualCard(load_cards()["credit"], 35963).start()
            try:
                cashier.step("1 Sale, amount 88.00, ENTER (card inserted)", "CANCEL", "1", "88.00", "ENTER",
                             card=None)
            finally:
                card.remove()
        else:
            self.say(f"skipped: {self.reason} (make demo installs pcscd and vsmartcard-vpcd when run as root)")

        self.title("S1 — charged the wrong amount: 120.00 keyed for a 100.00 purchase")
        cashier.step("1 Sale, 120.00, ENTER", "CANCEL", "1", "120.00", "ENTER")
        wrong = cashier.last_trace
        cashier.step(f"4 Correct amount, trace {wrong}, ENTER", "CANCEL", "4", wrong, "ENTER")
        cashier.step("ENTER, right amount 100.00, ENTER, supervisor password, ENTER",
                     "ENTER", "100.00", "ENTER", DEMO_PASSWORD, "ENTER")
        right = cashier.last_trace

        self.title("S2 — charged twice: the cashier pressed sale again")
        cashier.step("1 Sale, 50.00, ENTER", "CANCEL", "1", "50.00", "ENTER", card="credit")
        cashier.step("1 Sale, 50.00 again, ENTER", "CANCEL", "1", "50.00", "ENTER", card="credit")
        cashier.step("ENTER (the customer really buys twice)", *cashier.yes("credit"), card="credit")
        cashier.step("5 Duplicates", "CANCEL", "5")
        cashier.step("ENTER, ENTER, supervisor password, ENTER", "ENTER", "ENTER", DEMO_PASSWORD, "ENTER")
        self.say("and when the bank's answer is lost, the sale is reversed, never re-sent:")
        self.fault("drop_response:mti=0200,count=1")
        cashier.step("1 Sale, 66.00, ENTER (the answer is lost)", "CANCEL", "1", "66.00", "ENTER")

        self.title("S3 — undercharged: 10.00 keyed for a 100.00 purchase")
        cashier.step("1 Sale, 10.00, ENTER", "CANCEL", "1", "10.00", "ENTER", card="credit")
        short = cashier.last_trace
        cashier.step(f"4 Correct amount, trace {short}, ENTER, ENTER, 100.00, ENTER, password, ENTER",
                     "CANCEL", "4", short, "ENTER", "ENTER", "100.00", "ENTER", DEMO_PASSWORD, "ENTER",
                     card="credit")

        self.wallet_scene(cashier)

        self.title("S5 — settled the batch: totals first, then the supervisor")
        cashier.step("8 Settle", "CANCEL", "8")
        cashier.step("ENTER (to the totals' last page, then yes), supervisor password, ENTER",
                     *cashier.yes(), DEMO_PASSWORD, "ENTER")
        cashier.step(f"2 Void, trace {right}, ENTER, the sale shown: ENTER, password, ENTER — after settlement",
                     "CANCEL", "2", right, "ENTER", "ENTER", DEMO_PASSWORD, "ENTER")

        self.title("S4 — refund to a customer, in two parts, after settlement")
        cashier.step("ENTER (take the refund offered), ENTER", "ENTER", "ENTER")
        cashier.step("amount 30.00, ENTER, supervisor password, ENTER", "30.00", "ENTER", DEMO_PASSWORD, "ENTER")
        refund = ("CANCEL", "3", "1", right, "ENTER", "ENTER")
        cashier.step("the same refund again by mistake", *refund, "30.00", "ENTER", DEMO_PASSWORD, "ENTER")
        cashier.step("3 Refund, trace, ENTER alone = the rest", *refund, "ENTER", DEMO_PASSWORD, "ENTER")
        print(f"    receipts printed on the terminal's printer: {cashier.receipts}")

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

    # -- the back office ----------------------------------------------------------------------------
    def office_scene(self) -> None:
        """Two tills of one merchant ship their journals to the back office on a throw-away PostgreSQL; the
        merchant's day there: totals per till, the same charge on both tills, the bank's statement reconciled."""
        from simulator.pgcluster import unavailable

        self.title("Back office — two tills of one merchant, their day reconciled in PostgreSQL")
        reason, hint = unavailable(), "to see it: sudo apt-get install postgresql, or run make demo as root (it " \
                                      "installs the package)"
        if reason is None:
            import importlib.util
            if importlib.util.find_spec("psycopg") is None:
                reason, hint = "the office's Python packages are not installed", "to see it: pip install -e '.[office]'"
        if reason:
            self.say(f"skipped: {reason}")
            self.say(hint)
            return
        office = OfficeDay(self.work / "office", self)
        try:
            office.run()
        except StackError:
            raise
        except Exception as exc:  # noqa: BLE001 — a database or process error, said in one line
            first = str(exc).strip().splitlines()
            raise StackError(f"the back office scene failed: {first[0] if first else type(exc).__name__}") from None
        finally:
            office.stop()

    def wallet_code(self, payer: str, *flags: str) -> str:
        command = [sys.executable, "-m", "simulator.cli", "wallet", "issue", payer, "--db",
                   str(self.work / "host-ledger.db"), *flags]
        print(f"$ posim wallet issue {payer} {' '.join(flags)}".rstrip(), flush=True)
        code = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60).stdout.strip()
        print(f"  {code[:6]}{'*' * (len(code) - 10)}{code[-4:]}   (the customer's one-time code, valid 60 s)")
        return code

    def wallet_scene(self, cashier: "Cashier") -> None:
        """S3 as the seed story tells it, on the keypad: the customer's wallet code scanned, the amount keyed
        short, then the difference collected with a new code."""
        self.title("Payment code — scanned, the customer confirms on the phone; 10.00 keyed for 100.00")
        code = self.wallet_code("bob", "--confirm", "1")
        if self.scanner_pty:
            import threading
            from simulator.scanner import VirtualScanner

            device = VirtualScanner(self.scanner_device)
            log = self.work / "agent.log"
            asked = log.read_text(errors="replace").count("Scan the customer's payment code")

            def scan() -> None:  # the cashier scans once the terminal asks for the code
                deadline = time.monotonic() + 10
                while (log.read_text(errors="replace").count("Scan the customer's payment code") == asked
                       and time.monotonic() < deadline):
                    time.sleep(0.05)
                device.scan(code)
            threading.Thread(target=scan, daemon=True).start()
            self.say("the barcode scanner (a socat pty) sends the code and CR when the terminal asks")
            cashier.step("1 Sale, 10.00, F1 (pay by code), ENTER = scan", "CANCEL", "1", "10.00", "F1", "ENTER",
                         card=None, also="phone")
            device.close()
        else:
            self.say("no socat: the cashier keys the code in instead of scanning it")
            cashier.step("1 Sale, 10.00, F1 (pay by code), the code, ENTER", "CANCEL", "1", "10.00", "F1", code,
                         "ENTER", card=None, also="phone")
        short = cashier.last_reply.get("outcome", {})
        if short.get("status") != "approved" or short.get("operation") not in (None, "wallet_sale"):
            return
        queries = short.get("details", {}).get("queries", 0)
        self.say(f"the bank answered \"paying\" (the customer confirms on the phone): {queries} status "
                 f"queries until paid, each journaled before it was sent")
        trace = cashier.last_trace
        self.say("undercharged by 90.00: the customer shows a new code for the difference, which is keyed in")
        new = self.wallet_code("alice")
        cashier.step(f"4 Correct amount, trace {trace}, ENTER, ENTER, 100.00, ENTER, password, ENTER, "
                     "the new code, ENTER", "CANCEL", "4", trace, "ENTER", "ENTER", "100.00", "ENTER", DEMO_PASSWORD,
                     "ENTER", new, "ENTER", card=None)

    def compare(self, ledger: dict[str, Any]) -> None:
        """The bank's net charge per card beside the journal's completed operations."""
        from agent.journal import Journal

        journal = Journal.open(self.work / "journal.db", fingerprint_key=(self.work / "fingerprint.key").read_bytes())
        try:
            net = journal.net_charged()
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
