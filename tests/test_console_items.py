"""The technician's console, the field reports: a comment lost by `config set`, values `config check` let
through and `run` failed on, a master key the bank did not know, a console useless with the daemon down,
and the small ones (banner, void by last 4 digits, tail order, a floor limit in yuan, the lock's end)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from agent import config
from agent.drivers import preflight
from agent.auth import PasswordGate, hash_password
from agent.console.app import RememberingGate
from agent.console import configedit
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.consolefiles import FileStateStore
from agent.console.lineeditor import Echo
from agent.console.session import Session, SessionSettings
from agent.errors import ConfigError, PosagentError, UsageError
from agent.iso8583.crypto import KeyCheckError
from agent.keys.load import MasterKeyFile, check_value
from agent.keys.store import SoftwareKeyStore
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_console_serial import TECH_HASH, TECH_PASSWORD, Console, Person, journal_events, log_in

OLD_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
NEW_KEY = bytes.fromhex("1111111111111111FEDCBA9876543210")


class Down:
    """A control client with no daemon behind it."""

    def call(self, op, args=None, *, password=None):
        raise PosagentError("the posagent daemon is not running")


def table(tmp_path, text: str = "", language: str = "en", client=None) -> CommandTable:
    path = tmp_path / "posagent.toml"
    path.write_text(text + f'\n[journal]\npath = "{tmp_path / "journal.db"}"\n'
                    f'[daemon]\ncontrol_socket = "{tmp_path / "control.sock"}"\n'
                    f'[keys]\ntmk_file = "{tmp_path / "tmk.enc"}"\ndevice_key_file = "{tmp_path / "device.key"}"\n'
                    + (f'[terminal]\nlanguage = "{language}"\n' if language != "en" else ""), encoding="utf-8")
    return CommandTable(ConsoleContext(client=client or Down(), cfg=config.load(path)))


# ---- 1. config set keeps the operator's comments and layout
def test_config_set_keeps_comments_blank_lines_and_order(tmp_path):
    commands = table(tmp_path, '# 二号收银台\n[acquirer]\nhost = "10.1.2.3"   # the bank\n\nresponse_timeout = 30.0\n')
    before = (tmp_path / "posagent.toml").read_text(encoding="utf-8")
    assert "saved acquirer.response_timeout = 4.5" in commands.run("config set acquirer.response_timeout 4.5").text
    after = (tmp_path / "posagent.toml").read_text(encoding="utf-8")
    assert after == before.replace("response_timeout = 30.0", "response_timeout = 4.5")
    commands.run("config set console.idle_timeout_minutes 5")  # a section the file did not have
    text = (tmp_path / "posagent.toml").read_text(encoding="utf-8")
    assert text.startswith("# 二号收银台\n") and 'host = "10.1.2.3"   # the bank' in text
    assert config.load(tmp_path / "posagent.toml").console.idle_timeout_minutes == 5


# ---- 2. what `run` cannot use is refused where it is set, one line each
@pytest.mark.parametrize("section,key,value,said", [
    ("acquirer", "host", "", "acquirer.host: expected a host name or address"),
    ("console", "password_hash", "field-tech-7", "console.password_hash: expected a scrypt hash"),
    ("supervisor", "password_hash", "scrypt$abc", "supervisor.password_hash: expected a scrypt hash"),
])
def test_config_check_refuses_values_run_cannot_use(section, key, value, said):
    with pytest.raises(ConfigError) as refused:
        config.from_mapping({section: {key: value}})
    assert said in str(refused.value) and "\n" not in str(refused.value)
    assert "field-tech-7" not in str(refused.value)  # a password typed there by mistake is never shown


def test_a_merchant_name_wider_than_the_receipt_is_refused_by_config_check_and_config_set(tmp_path):
    wide = config.from_mapping({"terminal": {"merchant_name": "上海市浦东新区张江高科技园区便利店"}})
    [problem] = preflight.setting_problems(wide)
    assert problem.startswith("terminal.merchant_name: 34 columns wide, the receipt (terminal.receipt_width) is 32")
    assert problem in preflight.problems(wide)
    commands = table(tmp_path)
    with pytest.raises(ConfigError, match="34 columns wide"):
        commands.run('config set terminal.merchant_name "上海市浦东新区张江高科技园区便利店"')
    assert "上海" not in (tmp_path / "posagent.toml").read_text(encoding="utf-8")
    zh = table(tmp_path / "zh" if (tmp_path / "zh").mkdir() is None else tmp_path, language="zh")
    with pytest.raises(ConfigError, match="设置值无效：terminal.merchant_name"):
        zh.run('config set terminal.merchant_name "上海市浦东新区张江高科技园区便利店"')


# ---- 3. a master key the bank does not know: the previous one kept, the way back offered
def test_a_rejected_master_key_can_be_put_back_and_status_shows_both(tmp_path):
    commands = table(tmp_path)
    keys = MasterKeyFile(tmp_path / "tmk.enc", tmp_path / "device.key")
    keys.store(OLD_KEY)
    keys.confirm(check_value(OLD_KEY))  # signed on under it: in force, nothing waiting
    assert keys.waiting() is None
    keys.store(NEW_KEY)
    old, new = check_value(OLD_KEY), check_value(NEW_KEY)
    assert keys.waiting() == (old, new)
    assert oct(keys.previous_path.stat().st_mode & 0o777) == "0o600"

    store = SoftwareKeyStore.from_config(commands.ctx.cfg)
    assert store.master_check_value == new
    wrapped_for_old = _working_keys_under(OLD_KEY)
    with pytest.raises(KeyCheckError) as rejected:
        store.install_working_keys(wrapped_for_old, key_mode="003")
    assert f"master key {new}" in str(rejected.value) and "keys restore-previous" in str(rejected.value)

    shown = commands.run("status").text
    assert f"master key in force {old}; waiting {new}" in shown
    assert "daemon is not running" in shown  # and the rest from the journal file (none here: one line)
    audited = []
    commands.ctx.audit = lambda kind, details: audited.append((kind, details))
    said = commands.run("keys restore-previous").text
    assert f"master key {old} is back in force (journaled); {new} is set aside" in said
    assert audited == [("keys_restored", {"check_value": old, "set_aside": new, "by": "technician"})]
    assert keys.waiting() is None and keys.load() == OLD_KEY
    with pytest.raises(UsageError, match="no previous master key is kept"):
        commands.run("keys restore-previous")


def test_a_sign_on_under_the_new_key_puts_it_in_force_and_chinese_status_names_both(tmp_path):
    commands = table(tmp_path, language="zh")
    keys = MasterKeyFile(tmp_path / "tmk.enc", tmp_path / "device.key")
    keys.store(NEW_KEY)  # over the development key
    shown = commands.run("status").text
    assert f"主密钥 当前有效 {check_value(OLD_KEY)}（开发密钥）；待生效 {check_value(NEW_KEY)}" in shown
    store = SoftwareKeyStore.from_config(commands.ctx.cfg)
    store.install_working_keys(_working_keys_under(NEW_KEY), key_mode="003")
    assert keys.waiting() is None and not keys.previous_path.exists()
    assert "主密钥 当前有效" not in commands.run("status").text


def _working_keys_under(tmk: bytes) -> list[tuple[bytes, bytes]]:
    from agent.iso8583.crypto import kcv, wrap_working_key
    clear = [bytes.fromhex("0123456789ABCDEF0123456789ABCDEF"), bytes.fromhex("FEDCBA9876543210FEDCBA9876543210")]
    return [(wrap_working_key(tmk, key), kcv(key)[:4]) for key in clear]


# ---- 5. the small ones
def test_the_first_enter_shows_the_banner():
    session = Session(_Gate(), _NoCommands(), SessionSettings(banner="posagent technician console - terminal T1"))
    shown = session.receive(b"\r", 1.0).decode()  # nobody saw start(): the laptop joined later
    assert "posagent technician console - terminal T1" in shown and shown.endswith("Password: ")


class _Gate:
    def check(self, password):
        return None

    def locked_for(self):
        return 0.0


class _NoCommands:
    def run(self, line):
        raise UsageError("none")


@pytest.mark.parametrize("language,said", [
    ("en", "emv.floor_limit is in minor units (fen): 10000 for 100.00, not '100.00'"),
    ("zh", "emv.floor_limit 以最小货币单位（分）计：100.00 应输入 10000"),
])
def test_a_floor_limit_typed_in_yuan_says_the_number_in_fen(language, said):
    with pytest.raises(UsageError) as refused:  # typed (the supervisor's setting: the console asks the schema)
        configedit.parse_typed("emv", "floor_limit", "100.00", language)
    assert said in str(refused.value)
    assert configedit.parse_typed("emv", "floor_limit", "10000") == 10000
    with pytest.raises(ConfigError, match=r"expected an integer in minor units \(fen\): 10000 for 100.00"):
        config.from_mapping({"emv": {"floor_limit": "100.00"}})  # written in the file: config check


@pytest.mark.parametrize("language,until", [("en", "until {}"), ("zh", "至 {}")])
def test_the_lock_says_the_clock_time_it_ends(tmp_path, language, until):
    now = time.time()
    gate = PasswordGate("technician", hash_password("right-one"), FileStateStore(tmp_path / "auth.json"),
                        clock=lambda: now, max_attempts=1, lockout_minutes=30, source="console")
    commands = table(tmp_path, f'[console]\npassword_hash = "{TECH_HASH}"\n', language=language)
    remembering = RememberingGate(gate, commands.ctx, max_attempts=1, language=language)
    session = Session(remembering, commands, SessionSettings(banner="b", language=language, secret_echo=Echo.NONE))
    session.receive(b"\r", now)
    shown = session.receive(b"wrong-one\r", now).decode()
    assert until.format(time.strftime("%H:%M", time.localtime(now + 30 * 60))) in shown


# ---- 4 and 5 over the serial line: the daemon down, its journal read, the daemon started again
def test_with_the_daemon_down_the_console_reads_the_journal_and_starts_the_daemon(tmp_path, sim_host, pty_pair):
    agent = start_agent(tmp_path, sim_host.port, extra=f'[console]\npassword_hash = "{TECH_HASH}"\n'
                                                       f'may_start_daemon = true\n')
    started_pid = None
    line = Person(pty_pair.b)
    console = None
    try:
        first = agent.call("sale", {"amount": 1234, "card": "debit"})["outcome"]["txn"]
        agent.call("sale", {"amount": 500, "card": "credit"})
        agent.call("void", {"trace": first["trace"]}, password=SUPERVISOR_PASSWORD)
        console = Console(agent.config, pty_pair.a)
        line.expect("Press Enter to log in.")
        log_in(line)
        tail = _rows(line.command("journal tail 5"))
        assert [r[3] for r in tail] == ["void", "sale", "sale"]  # newest first, as journal list
        found = _rows(line.command("journal search last4 0048"))
        assert [r[3] for r in found] == ["void", "sale"]  # the void of that card's sale too

        agent.stop()
        down = line.command("status")
        assert "the daemon is not running: read from the journal file (read-only)" in down
        assert "daemon    NOT RUNNING" in down and "3 transaction(s)" in down
        offline_tail = line.command("journal tail 5")
        assert "not running" in offline_tail and [r[3] for r in _rows(offline_tail)] == ["void", "sale", "sale"]
        assert "****0048" in _rows(offline_tail)[0][-1]  # the void shows its original's card
        assert [r[3] for r in _rows(line.command("journal search last4 0048"))] == ["void", "sale"]

        started = line.command("daemon start")
        started_pid = int(re.search(r"daemon started \(pid (\d+)\)", started)[1])
        assert "reversals 0 pending" in line.command("status")
        assert "already running" in line.command("daemon start")
        assert "console.daemon_started" in journal_events(agent, "console.") or \
            "daemon start from the technician console" in agent.log_text
    finally:
        if console is not None:
            console.stop()
        line.close()
        if started_pid is not None:
            os.kill(started_pid, signal.SIGTERM)
            _wait_gone(started_pid)
        agent.stop()


def test_the_console_starts_nothing_unless_the_installation_allows_it(tmp_path):
    commands = table(tmp_path)
    with pytest.raises(UsageError, match=r"may_start_daemon\] is false|may_start_daemon is false"):
        commands.run("daemon start")
    with pytest.raises(UsageError, match="console.may_start_daemon is an installation setting"):
        commands.run("config set console.may_start_daemon true")
    zh = table(tmp_path, language="zh")
    with pytest.raises(UsageError, match="本安装不允许控制台启动守护进程"):
        zh.run("daemon restart")


def _rows(shown: str) -> list[list[str]]:
    return [row.split() for row in shown.splitlines() if re.match(r"\s*\d+ ", row)]


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
