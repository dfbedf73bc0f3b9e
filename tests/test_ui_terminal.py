"""`posim terminal` in tmux against a real daemon and the acquirer simulator: keys sent with send-keys,
the screen read with capture-pane, and the acquirer's ledger checked after each merchant scenario."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agent.auth import hash_password
from simulator.terminal import LEGEND, keypad_key, parse_size
from simulator.stack import TEST_CARDS_FILE
from tests.harness import require_tool, stop_process, wait_for

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "2468"
SCREEN_TIMEOUT = 30.0  # generous: the first sale signs on first


class Tmux:
    """One tmux server of our own (its own socket), one 80×24 window running the command."""

    def __init__(self, directory: Path):
        self.socket = directory / "tmux.sock"

    def _run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def start(self, command: str) -> None:
        self._run("new-session", "-d", "-x", "80", "-y", "24", "-s", "posim", command)
        self._run("set-option", "-t", "posim", "remain-on-exit", "on")

    def keys(self, *keys: str) -> None:
        self._run("send-keys", "-t", "posim", *keys)

    def type(self, text: str) -> None:
        self._run("send-keys", "-t", "posim", "-l", text)

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", "posim")

    def wait_for(self, *texts: str, timeout: float = SCREEN_TIMEOUT) -> str:
        try:
            return wait_for(lambda: (lambda s: s if all(t in s for t in texts) else None)(self.screen()),
                            timeout, f"{texts} on the screen")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; the screen shows:\n{self.screen()}") from None

    def exited(self) -> bool:
        return self._run("display-message", "-p", "-t", "posim", "#{pane_dead}").strip() == "1"

    def stop(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def short_dir():
    """Unix socket paths must stay under 108 bytes: sockets live in a short temporary directory."""
    path = Path(tempfile.mkdtemp(prefix="posui-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(sim_host, tmp_path, short_dir):
    config = tmp_path / "posagent.toml"
    config.write_text(f"""
[acquirer]
port = {sim_host.port}
response_timeout = 10.0
[journal]
path = "{tmp_path / 'journal.db'}"
fingerprint_key_file = "{tmp_path / 'fingerprint.key'}"
[daemon]
control_socket = "{short_dir / 'control.sock'}"
log_file = "{tmp_path / 'daemon.log'}"
[supervisor]
password_hash = "{hash_password(PASSWORD)}"
[card_reader]
test_cards = "{TEST_CARDS_FILE}"
""")
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(config), "run"], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("posagent ready"):
        stop_process(proc)
        pytest.fail(f"the daemon did not start: {line!r}; log:\n{(tmp_path / 'daemon.log').read_text()}")
    yield config
    stop_process(proc)
    proc.stdout.close()


@pytest.fixture
def terminal_in_tmux(short_dir):
    require_tool("tmux")
    tmux = Tmux(short_dir)

    def start(config: Path, *options: str) -> Tmux:
        command = " ".join([f"cd {ROOT} &&", "env LANG=C.UTF-8", sys.executable, "-m", "simulator.cli", "terminal",
                            "--config", str(config), *options])
        tmux.start(command)
        return tmux

    yield start
    tmux.stop()


def receipt_traces(path: Path) -> list[str]:
    return re.findall(r"^VOUCHER NO\.\s+(\d{6})$", path.read_text(), re.MULTILINE) if path.exists() else []


def net(sim_host) -> int:
    return sim_host.ledger("10000001")["terminals"]["10000001"]["net_charged"]


def answer_yes(tmux: Tmux) -> None:
    """ENTER on a question: it pages down ("ENTER more") until its last page, where ENTER is yes."""
    for _ in range(20):
        shown = tmux.screen()
        tmux.keys("Enter")
        if "ENTER yes" in shown:
            return
        assert "ENTER more" in shown, shown
        wait_for(lambda: tmux.screen() != shown, SCREEN_TIMEOUT, "the next page of the question")
    raise AssertionError(f"the question never reached its last page:\n{tmux.screen()}")


def test_s1_s5_s4_a_cashier_overcharges_corrects_settles_then_refunds_on_the_keypad(
        sim_host, daemon, terminal_in_tmux, tmp_path):
    receipts = tmp_path / "receipts.txt"
    tmux = terminal_in_tmux(daemon, "--card", "debit", "--receipts", str(receipts))
    tmux.wait_for("POSAGENT", "1 Sale", LEGEND[0])

    # S1: 120.00 keyed for a 100.00 purchase, and charged
    tmux.keys("1")
    tmux.wait_for("Amount:")
    tmux.type("120")
    tmux.keys("Enter")
    tmux.wait_for("APPROVED", "CARDHOLDER COPY")
    (sale_trace,) = set(receipt_traces(receipts))
    assert net(sim_host) == 12000

    # the agent picks the fix (batch open: void + new sale) and says so
    tmux.keys("Escape")
    tmux.wait_for("1 Sale")
    tmux.keys("4")
    tmux.wait_for("Trace no.:")
    tmux.type(sale_trace)
    tmux.keys("Enter")
    tmux.wait_for("ENTER choose", "Amount         120.00", "622609******0048")
    tmux.keys("Down")
    tmux.wait_for("000001 open", "Auth")
    tmux.keys("Enter")
    tmux.wait_for("Right amount:")
    tmux.type("100")
    tmux.keys("Enter")
    tmux.wait_for("Supervisor password:")
    tmux.type(PASSWORD)
    shown = tmux.wait_for("****")
    assert PASSWORD not in shown
    tmux.keys("Enter")
    tmux.wait_for("APPROVED", "Batch open: voided", "the right 100.00.")
    assert net(sim_host) == 10000
    correction_trace = receipt_traces(receipts)[-1]

    # S5: settlement shows the totals first, then asks for the supervisor
    tmux.keys("Enter")
    tmux.wait_for("1 Sale")
    tmux.keys("8")
    tmux.wait_for("Settle batch 000001")
    answer_yes(tmux)
    tmux.wait_for("Supervisor password:", "digits only")
    tmux.type(PASSWORD)
    tmux.keys("Enter")
    tmux.wait_for("DONE", "settled")
    assert "SETTLEMENT" in receipts.read_text()  # the settlement slip, as `posagent settle` prints it

    # a void after settlement is refused with the reason, and the refund is one ENTER away (S4)
    tmux.keys("Enter")
    tmux.wait_for("1 Sale")
    tmux.keys("2")
    tmux.wait_for("Trace no.:")
    tmux.type(correction_trace)
    tmux.keys("Enter")
    tmux.wait_for("ENTER choose", "Amount         100.00")  # what the void would cancel, before the password
    tmux.keys("Enter")
    tmux.wait_for("Supervisor password:")
    tmux.type(PASSWORD)
    tmux.keys("Enter")
    tmux.wait_for("SETTLED", "ENTER refund", "no longer")
    tmux.keys("Enter")
    tmux.wait_for("ENTER choose", "Amount         100.00")
    tmux.keys("Down")
    tmux.wait_for("000001 settled")
    tmux.keys("Enter")
    tmux.wait_for("Refund amount:", "(100.00)")
    tmux.keys("Enter")
    tmux.wait_for("Supervisor password:")
    tmux.type(PASSWORD)
    tmux.keys("Enter")
    tmux.wait_for("APPROVED")
    assert net(sim_host) == 0
    assert receipts.read_text().count("CARDHOLDER COPY") == 4  # sale, void, re-sale, refund

    tmux.keys("Enter")
    tmux.wait_for("1 Sale")
    tmux.keys("q")
    try:
        wait_for(tmux.exited, 10, "posim terminal to exit")
    except TimeoutError:
        raise AssertionError(f"q did not quit; the screen shows:\n{tmux.screen()}") from None


def test_chinese_screen_and_a_stopped_daemon_is_an_actionable_message(terminal_in_tmux, tmp_path, short_dir):
    config = tmp_path / "posagent.toml"
    config.write_text(f'[daemon]\ncontrol_socket = "{short_dir / "nothing.sock"}"\n')
    tmux = terminal_in_tmux(config, "--language", "zh", "--size", "16x4")
    tmux.wait_for("收银台", "1 消费")
    tmux.keys("F4")
    tmux.wait_for("代理未连接", "1/")


def test_keyboard_mapping_and_size_option():
    assert keypad_key("\x1b") == "CANCEL" and keypad_key("\n") == "ENTER" and keypad_key("z") == "00"
    assert keypad_key("c") == "CLEAR" and keypad_key("q") is None
    assert parse_size("16x4") == (16, 4)
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "terminal", "--size", "big"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "21x8" in result.stderr
